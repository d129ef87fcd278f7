"""`Idempotency-Key` for POSTs (SPEC section 2): the same key and request answer the same response
again without doing the work twice; the same key with another request is a 409.

The key is claimed with a placeholder row before the work starts (its primary key makes a second,
concurrent request with that key fail at once with 409 "in progress" instead of doing the work
again); the answer replaces the placeholder; a request that fails with an error frees the key.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

from jirabridge.errors import Conflict
from jirabridge.service.db import run_db
from jirabridge.service.ports import Services
from jirabridge.service.unit_of_work import ConstraintViolated, UnitOfWork
from jirabridge.storage.tables import IdempotencyKey

IN_PROGRESS = 0


def request_hash(method: str, path: str, body: Any) -> str:
    canonical = json.dumps({"method": method, "path": path, "body": body}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def once(
    services: Services,
    workspace_id: str,
    key: str | None,
    fingerprint: str,
    work: Callable[[], Awaitable[tuple[int, dict[str, Any]]]],
) -> tuple[int, dict[str, Any]]:
    """Run `work` (which answers a status and a JSON body) at most once per workspace and key."""
    if key is None:
        return await work()

    def claim(uow: UnitOfWork) -> tuple[int, dict[str, Any]] | None:
        stored = uow.idempotency_keys.get(workspace_id, key)
        if stored is not None:
            if stored.request_hash != fingerprint:
                raise Conflict(f"Idempotency-Key {key!r} was used with a different request")
            if stored.status_code == IN_PROGRESS:
                raise Conflict(f"a request with Idempotency-Key {key!r} is still in progress")
            return stored.status_code, dict(stored.body)
        uow.idempotency_keys.add(
            IdempotencyKey(
                workspace_id=workspace_id,
                key=key,
                request_hash=fingerprint,
                status_code=IN_PROGRESS,
                body={},
                created_at=services.clock.now(),
            )
        )
        try:
            uow.commit()
        except ConstraintViolated:
            raise Conflict(f"a request with Idempotency-Key {key!r} is still in progress") from None
        return None

    replay = await run_db(services, claim)
    if replay is not None:
        return replay
    try:
        status, body = await work()
    except BaseException:
        await run_db(services, lambda uow: _forget(uow, workspace_id, key))
        raise

    def store(uow: UnitOfWork) -> None:
        row = uow.idempotency_keys.get(workspace_id, key)
        if row is not None:
            row.status_code, row.body = status, body
            uow.commit()

    await run_db(services, store)
    return status, body


def _forget(uow: UnitOfWork, workspace_id: str, key: str) -> None:
    uow.idempotency_keys.forget(workspace_id, key)
    uow.commit()
