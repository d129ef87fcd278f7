"""A step: one kind of operation as three parts, so that handlers decide and the service applies.

    load(uow, job) -> context      the service reads what the handler needs, in the claim's transaction
    run(job, context) -> Outcome   the handler talks to Jira (or a host) and touches no storage
    apply(uow, job, outcome, now)  the service writes what the outcome means, in the transaction that
                                   completes the operation in the outbox

An operation then costs two transactions (its share of a claim, and its record), and every rule
about what a result means to a link, an item or an entry lives in the service's `apply`, where a
test can drive it with made-up outcomes and no Jira. A `load` that raises (a bug) makes the attempt
a `Retry` with reason `handler_error`; an `apply` that raises rolls back its writes with the record,
and the attempt is recorded as a `Retry` with reason `apply_error` instead. A job whose payload this
release cannot read is neither loaded nor applied: it fails for good with `invalid_operation`.
A `load` may also write what must be stored before the handler's call (`worklog.sync`'s create
marker): it commits with the claim, before the handler runs. `acts_as(context)` names the host user
whose own Jira identity the handler will call as, `(site_id, user_id)`, or None: the worker reads
that user's connection in the claim too (`JiraPool.prime_user`), so the call opens no transaction.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from jirabridge.domain.outcomes import Job, Outcome, Retry, UnreadableOperation
from jirabridge.service.core.unit_of_work import UnitOfWork
from jirabridge.storage.outbox import PrepareFailed

C = TypeVar("C")


@dataclass(frozen=True)
class Step(Generic[C]):
    load: Callable[[UnitOfWork, Job], C]
    run: Callable[[Job, C], Awaitable[Outcome]]
    apply: Callable[[UnitOfWork, Job, Outcome, datetime], None]
    acts_as: Callable[[C], tuple[str, str] | None] | None = None

    async def __call__(self, job: Job) -> Outcome:
        if job.unreadable:  # neither loaded nor applied: retrying cannot make the payload whole
            raise UnreadableOperation(job.unreadable)
        context: Any = job.context
        if isinstance(context, PrepareFailed):
            return Retry("handler_error", f"reading the operation's context failed: {context.error}")
        return await self.run(job, context)
