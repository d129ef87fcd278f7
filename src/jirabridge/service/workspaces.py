"""Workspaces and API keys."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from jirabridge.clock import Clock
from jirabridge.domain.access import Principal, Role
from jirabridge.errors import NotFound
from jirabridge.ids import new_id, new_secret
from jirabridge.service.unit_of_work import UnitOfWork
from jirabridge.storage.tables import ApiKey, Workspace

KEY_PREFIX = "jb_"


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


def authenticate_key(uow: UnitOfWork, key: str) -> Principal | None:
    if not key.startswith(KEY_PREFIX):
        return None
    record = uow.api_keys.by_hash(hash_key(key))
    if record is None or record.revoked_at is not None:
        return None
    return Principal(
        workspace_id=record.workspace_id, role=Role(record.role), user_id=record.user_id, key_id=record.id
    )
