"""`Idempotency-Key` for POSTs (SPEC section 2): the same key and request answer the same response
again without doing the work twice; the same key with another request is a 409.

The key is checked and stored in the request's own transaction, next to the rows its work writes:
its answer is stored with them (or, for a ticket that waits for the worker, a placeholder "in
progress" that the answer replaces after the wait). The key's primary key decides a race between
two requests with one key: the second commit fails (on PostgreSQL, once the first commits; on
SQLite, writers take turns and the second finds the key at its check), its work is rolled back with
it, and it answers what the first one stored, or 409 while the first is still in progress. A request
that fails with an error rolls its key back too, so a corrected request may use it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from jirabridge.errors import Conflict
from jirabridge.service.core.db import read_db, run_db
from jirabridge.service.core.ports import Services
from jirabridge.service.core.unit_of_work import ConstraintViolated, UnitOfWork

IN_PROGRESS = 0

Answer = tuple[int, dict[str, Any]]  # an HTTP status and its JSON body
T = TypeVar("T")


def request_hash(method: str, path: str, body: Any) -> str:
    canonical = json.dumps({"method": method, "path": path, "body": body}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


class Replay(Exception):
    """An earlier request with the same key and the same request finished: its answer, to send again."""

    def __init__(self, answer: Answer) -> None:
        super().__init__("replayed")
        self.answer = answer


@dataclass(frozen=True)
class Claim:
    """A request's `Idempotency-Key` in its workspace, and the fingerprint of the request."""

    workspace_id: str
    key: str
    fingerprint: str

    def check(self, uow: UnitOfWork) -> None:
        """Nothing when the key is new; else Replay with the stored answer, or Conflict (the key was
        used with another request, or its request is still in progress)."""
        stored = uow.idempotency_keys.stored(self.workspace_id, self.key)
        if stored is None:
            return
        if stored.request_hash != self.fingerprint:
            raise Conflict(f"Idempotency-Key {self.key!r} was used with a different request")
        if stored.status_code == IN_PROGRESS:
            raise Conflict(f"a request with Idempotency-Key {self.key!r} is still in progress")
        raise Replay((stored.status_code, dict(stored.body)))

    def record(self, uow: UnitOfWork, now: datetime, answer: Answer | None) -> None:
        """Store the key in the caller's transaction, with its answer (None: in progress, see `finish`)."""
        status, body = answer if answer is not None else (IN_PROGRESS, {})
        uow.idempotency_keys.record(
            self.workspace_id,
            self.key,
            request_hash=self.fingerprint,
            status_code=status,
            body=body,
            created_at=now,
        )


async def committed(services: Services, claim: Claim | None, work: Callable[[UnitOfWork], T]) -> T:
    """`run_db(work)`, where `work` records `claim` and commits. When storing the key loses the race to
    another request with the same key, raises Replay with that request's answer, or Conflict."""
    try:
        return await run_db(services, work)
    except ConstraintViolated:
        if claim is None:
            raise
        await read_db(services, claim.check)  # raises, unless the key is free
        raise


async def finish(services: Services, claim: Claim, answer: Answer) -> None:
    """Store the answer of a key recorded in progress."""

    def store(uow: UnitOfWork) -> None:
        row = uow.idempotency_keys.get(claim.workspace_id, claim.key)
        if row is not None:
            row.status_code, row.body = answer
            uow.commit()

    await run_db(services, store)


async def once(services: Services, claim: Claim | None, work: Callable[[UnitOfWork], Answer]) -> Answer:
    """Run `work` (which answers and does not commit) at most once per workspace and key, in one
    transaction that checks the key first and stores it with the answer."""

    def run(uow: UnitOfWork) -> Answer:
        if claim is not None:
            claim.check(uow)
        answer = work(uow)
        if claim is not None:
            claim.record(uow, services.clock.now(), answer)
        uow.commit()
        return answer

    try:
        return await committed(services, claim, run)
    except Replay as replay:
        return replay.answer
