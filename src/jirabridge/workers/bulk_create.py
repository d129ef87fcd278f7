"""New issues that are due together go to Jira in one bulk call.

Every call counts against a site's rate limit, and a host pushing many tickets at once (or a rule
auto-creating a batch) queues many `issue.create` operations. `BulkCreates` holds a first attempt
for at most `WINDOW_S` and sends the creates of one site gathered by then — up to 50, Jira's limit —
with one `POST /rest/api/3/issue/bulk`; a create that is alone still goes by `POST /issue`.

Each operation keeps its own outcome. Jira creates what it can and names the positions it refused, so
a refused create fails with its own field errors while the others go on. When the call itself fails
(5xx, timeout, a lost answer), every operation in it gets that error and retries on its own; a retry
searches for its marker label before creating (jira_create.py), so an issue the failed call did
create is adopted, never made twice. Before the call, `create_sent_at` is written on every operation
in it in one transaction (`service.tickets.create_sync.sent_notes`: the index-lag grace of a retry starts
there). This module touches no storage itself.

Jira lists the created issues in the order they were asked for; jirabridge relies on it (each issue
also carries its operation's marker label, so a mix-up could be found by search, but not cheaply). An
answer listing fewer issues than it created leaves the unmatched operations to a retry, which finds
their issues by marker.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from jirabridge import jira
from jirabridge.clock import Clock
from jirabridge.domain.outcomes import Fail, Job, Outcome, Retry
from jirabridge.service.tickets.create_sync import NoteSent

if TYPE_CHECKING:
    from jirabridge.adapters.jira_pool import JiraPool

WINDOW_S = 0.05  # the longest a create waits for others; small beside a Jira call (~250 ms)

Answer = jira.CreatedIssue | Outcome  # the new issue, or what Jira's refusal of this create means


@dataclass
class _Waiting:
    job: Job
    fields: Mapping[str, Any]
    answer: asyncio.Future[Answer]


@dataclass
class _Batch:
    workspace_id: str
    site_id: str
    waiting: list[_Waiting] = field(default_factory=list)
    closed: bool = False


class BulkCreates:
    def __init__(self, pool: JiraPool, clock: Clock, note_sent: NoteSent, window_s: float = WINDOW_S) -> None:
        self.pool = pool
        self.clock = clock
        self.note_sent = note_sent  # the service's (service/tickets/create_sync.py)
        self.window_s = window_s
        self._open: dict[tuple[str, str], _Batch] = {}
        self._sending: set[asyncio.Task[None]] = set()

    async def create(self, job: Job, site_id: str, fields: Mapping[str, Any]) -> Answer:
        """Create one issue, in company when others are due at the same moment. Raises what the call
        raised (a `jira.JiraError`, `SiteUnavailable`, ...) when it failed as a whole."""
        loop = asyncio.get_running_loop()
        key = (job.workspace_id, site_id)
        batch = self._open.get(key)
        if batch is None:
            batch = self._open[key] = _Batch(job.workspace_id, site_id)
            loop.call_later(self.window_s, self._close, key, batch)
        waiting = _Waiting(job, fields, loop.create_future())
        batch.waiting.append(waiting)
        if len(batch.waiting) >= jira.BULK_CREATE_MAX:
            self._close(key, batch)
        return await waiting.answer

    def _close(self, key: tuple[str, str], batch: _Batch) -> None:
        if batch.closed:
            return
        batch.closed = True
        if self._open.get(key) is batch:
            del self._open[key]
        task = asyncio.get_running_loop().create_task(self._send(batch))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, batch: _Batch) -> None:
        waiting = [w for w in batch.waiting if not w.answer.done()]  # a cancelled job is not sent
        if not waiting:
            return
        try:
            answers = await self._call(batch, waiting)
        except Exception as error:
            for w in waiting:
                if not w.answer.done():
                    w.answer.set_exception(error)
            return
        for w, answer in zip(waiting, answers, strict=True):
            if not w.answer.done():
                w.answer.set_result(answer)

    async def _call(self, batch: _Batch, waiting: list[_Waiting]) -> list[Answer]:
        await self.note_sent([w.job.id for w in waiting], self.clock.now())
        async with self.pool.client(batch.site_id, workspace_id=batch.workspace_id) as client:
            if len(waiting) == 1:
                return [await client.issues.create(waiting[0].fields)]
            result = await client.issues.create_bulk([w.fields for w in waiting])
        return answers_by_position(result, len(waiting))


def answers_by_position(result: jira.BulkCreateResult, asked: int) -> list[Answer]:
    """Each position's answer: its new issue (listed in order, refused positions left out) or the
    outcome of Jira's refusal."""
    refused = {e.failed_element_number: e for e in result.errors}
    created = iter(result.issues)
    answers: list[Answer] = []
    for position in range(asked):
        error = refused.get(position)
        if error is not None:
            answers.append(refusal_outcome(error))
            continue
        issue = next(created, None)
        answers.append(
            issue
            if issue is not None
            else Retry("create_unconfirmed", "Jira's bulk answer did not list this issue; looking for it")
        )
    return answers


def refusal_outcome(error: jira.BulkCreateRefusal) -> Outcome:
    """What Jira's refusal of one create in a bulk call means, as `jira_common.classify` would say it
    for the same answer to a single create."""
    status = error.status or 400
    body = error.element_errors
    messages = [str(m) for m in body.get("errorMessages") or []]
    fields = body.get("errors") or {}
    parts = [*messages, *(f"{k}: {v}" for k, v in fields.items())] if isinstance(fields, dict) else messages
    detail = f"Jira answered {status}: " + "; ".join(parts) if parts else f"Jira answered {status}"
    if status == 429:
        return Retry("rate_limited", detail)
    if status >= 500:
        return Retry("jira_unavailable", detail)
    reasons = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 409: "conflict"}
    return Fail(reasons.get(status, "jira_rejected"), detail)
