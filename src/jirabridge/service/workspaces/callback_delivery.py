"""`callback.deliver`, the service's side: what one delivery needs, and what its answer means to the
workspace's endpoint (docs/callbacks.md).

A step (workers/steps.py). `loader` reads, in the claim's transaction, the event's body and the
workspace's callback URL and secret as they are now (so a changed URL or secret applies to what is
still queued), and whether the endpoint is backing off (`Target`; None when the callback was switched
off or the event is gone). The handler (workers/callbacks.py) posts it without touching storage.
`apply` writes, in the transaction that records the attempt:

- a delivery to be retried (`Retry`): the endpoint backs off (`storage.callbacks.endpoint_failed`),
  holding the workspace's other deliveries back but for one probe; the delivery itself waits for its
  own backoff, never less than the endpoint's;
- an answer that is not retried (`CallbackAnswered`: 2xx; or `CALLBACK_REJECTED`) while the endpoint
  was backing off: its backoff ends and the held deliveries are due at once
  (`storage.callbacks.endpoint_answered`). A delivery refused before it was sent is no answer.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from jirabridge.domain.operations import DeliverCallback
from jirabridge.domain.outcomes import CallbackAnswered, Done, Fail, Job, Outcome, Retry
from jirabridge.secrets_box import SecretBox
from jirabridge.service.core.unit_of_work import UnitOfWork
from jirabridge.service.workspaces import events as event_views
from jirabridge.service.workspaces import settings as workspace_settings
from jirabridge.storage import callbacks as endpoints
from jirabridge.storage import events

log = logging.getLogger("jirabridge.callbacks")

CALLBACK_REJECTED = "callback_rejected"  # the host answered, and not in a way that is retried


@dataclass(frozen=True)
class Target:
    """What one delivery needs, read when it runs."""

    url: str
    secret: str = field(repr=False)
    body: bytes
    endpoint_failing: bool  # the workspace's endpoint is backing off (storage/callbacks.py)


def body_of(event: dict[str, Any]) -> bytes:
    """The delivery's body: the event's JSON, exactly as the feed shows it."""
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()


def loader(box: SecretBox) -> Callable[[UnitOfWork, Job], Target | None]:
    """The `load` of `callback.deliver`, opening the callback secret with `box`."""

    def load(uow: UnitOfWork, job: Job) -> Target | None:
        event_id = job.operation_as(DeliverCallback).event_id
        event = events.get_event(uow.session, event_id)
        if event is None or event.workspace_id != job.workspace_id:
            return None
        target = workspace_settings.callback_target(uow, box, job.workspace_id)
        if target is None:
            return None
        failing = endpoints.is_failing(uow.session, job.workspace_id)
        return Target(target[0], target[1], body_of(event_views.render(event)), failing)

    return load


def apply(uow: UnitOfWork, job: Job, outcome: Outcome, now: datetime) -> None:
    match outcome:
        case Retry(reason=reason, after_s=after_s):
            wait_s = endpoints.endpoint_failed(
                uow.session,
                workspace_id=job.workspace_id,
                op_id=job.id,
                reason=reason,
                now=now,
                retry_after_s=after_s,
            )
            log.info("callback.endpoint_backoff op=%s wait_s=%.1f reason=%s", job.id, wait_s, reason)
        case Done(value=CallbackAnswered()):
            _answered(uow, job, now)
        case Fail(reason=reason) if reason == CALLBACK_REJECTED:
            _answered(uow, job, now)  # a refusal of this event is an answer too
        case _:
            pass


def _answered(uow: UnitOfWork, job: Job, now: datetime) -> None:
    """The host answered: an endpoint that was backing off works again."""
    target = job.context
    if isinstance(target, Target) and target.endpoint_failing:
        endpoints.endpoint_answered(uow.session, workspace_id=job.workspace_id, now=now)
