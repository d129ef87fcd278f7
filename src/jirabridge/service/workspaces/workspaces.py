"""Workspaces and API keys."""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from jirabridge.clock import Clock
from jirabridge.domain.access import Principal, Role
from jirabridge.errors import NotFound
from jirabridge.ids import new_id, new_secret
from jirabridge.service.core.unit_of_work import UnitOfWork
from jirabridge.storage.tables import ApiKey, Workspace

KEY_PREFIX = "jb_"
MAX_CACHED_KEYS = 10_000


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_workspace(uow: UnitOfWork, clock: Clock, name: str) -> Workspace:
    workspace = Workspace(id=new_id("ws"), name=name, settings={}, created_at=clock.now())
    uow.workspaces.add(workspace)
    uow.commit()
    return workspace


def get_workspace(uow: UnitOfWork, workspace_id: str) -> Workspace:
    workspace = uow.workspaces.get(workspace_id)
    if workspace is None:
        raise NotFound(f"workspace {workspace_id} does not exist")
    return workspace


@dataclass(frozen=True)
class IssuedKey:
    record: ApiKey
    key: str  # shown once, never stored


def issue_api_key(
    uow: UnitOfWork, clock: Clock, workspace_id: str, *, role: Role, name: str, user_id: str | None
) -> IssuedKey:
    get_workspace(uow, workspace_id)
    key = new_secret(KEY_PREFIX)
    record = ApiKey(
        id=new_id("key"),
        workspace_id=workspace_id,
        name=name,
        role=role.value,
        user_id=user_id,
        key_hash=hash_key(key),
        created_at=clock.now(),
    )
    uow.api_keys.add(record)
    uow.commit()
    return IssuedKey(record, key)


def list_api_keys(uow: UnitOfWork, workspace_id: str) -> list[ApiKey]:
    get_workspace(uow, workspace_id)
    return uow.api_keys.of_workspace(workspace_id)


def revoke_api_key(uow: UnitOfWork, clock: Clock, workspace_id: str, key_id: str) -> None:
    record = uow.api_keys.get(key_id)
    if record is None or record.workspace_id != workspace_id:
        raise NotFound(f"API key {key_id} does not exist")
    if record.revoked_at is None:
        record.revoked_at = clock.now()
    uow.commit()


class KeyCache:
    """API keys this process verified, for a bounded time (`JIRABRIDGE_API_KEY_CACHE_S`): a request
    with a known key then needs no transaction of its own to say who is calling. A key revoked through
    this process is forgotten at once; one revoked through another serve process stops working here
    when its entry expires, at most `ttl` later. Entries are keyed by the key's hash (the key itself is
    never kept); only keys that were valid are cached, so a wrong key is looked up every time.

    One per process, on the container; requests read it from the event loop and from the threads of
    the database work, hence the lock."""

    def __init__(self, ttl: timedelta) -> None:
        self.ttl = ttl
        self._entries: dict[str, tuple[datetime, Principal]] = {}
        self._lock = threading.Lock()
        # Counts revocations: a lookup that started before one may have read the key as valid, and
        # must not cache what it read (see `put`).
        self.generation = 0

    def get(self, key: str, now: datetime) -> Principal | None:
        if self.ttl <= timedelta(0):
            return None
        digest = hash_key(key)
        with self._lock:
            entry = self._entries.get(digest)
            if entry is None:
                return None
            if now >= entry[0]:
                del self._entries[digest]
                return None
            return entry[1]

    def put(self, key: str, who: Principal, now: datetime, generation: int) -> None:
        """Cache what a lookup that started at `generation` found, unless a key was revoked since."""
        if self.ttl <= timedelta(0):
            return
        with self._lock:
            if generation != self.generation:
                return
            if len(self._entries) >= MAX_CACHED_KEYS:
                self._entries.clear()  # rare (that many live keys in one process): start again
            self._entries[hash_key(key)] = (now + self.ttl, who)

    def forget(self, key_id: str) -> None:
        """The key with this id must not be accepted from the cache any more (it was revoked)."""
        with self._lock:
            self.generation += 1
            for digest in [d for d, (_, who) in self._entries.items() if who.key_id == key_id]:
                del self._entries[digest]


def authenticate_key(uow: UnitOfWork, key: str) -> Principal | None:
    if not key.startswith(KEY_PREFIX):
        return None
    record = uow.api_keys.by_hash(hash_key(key))
    if record is None or record.revoked_at is not None:
        return None
    return Principal(
        workspace_id=record.workspace_id, role=Role(record.role), user_id=record.user_id, key_id=record.id
    )
