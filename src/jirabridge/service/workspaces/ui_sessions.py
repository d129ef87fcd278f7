"""Sessions of the embeddable pages: issue a one-time link, open it once, resolve a session.

The link (`/ui/start/<link token>`) is what a host's backend hands its front end; opening it turns it
into a session whose token lives in the path of every page (`/ui/s/<session token>/…`). Both tokens
are stored hashed; the rules (who may grant which role, where a session may return) are in
domain/ui_sessions.py.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from jirabridge.domain.access import Principal, Role
from jirabridge.domain.ui_sessions import (
    LINK_TTL,
    SESSION_TTL,
    Scope,
    may_grant,
    may_open,
    return_url_allowed,
)
from jirabridge.errors import Forbidden, Invalid, NotFound, Unauthorized
from jirabridge.ids import new_id, new_secret
from jirabridge.service.core.unit_of_work import UnitOfWork
from jirabridge.service.workspaces import settings as workspace_settings
from jirabridge.storage.tables import UiSession


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _aware(moment: datetime) -> datetime:
    # SQLite gives back naive datetimes; every time stored here is UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Issued:
    link_token: str
    expires_at: datetime


@dataclass(frozen=True)
class PageSession:
    """An open session: who the pages act as, and what they show."""

    id: str
    principal: Principal
    scope: Scope
    csrf_token: str
    return_url: str | None
    expires_at: datetime

    @property
    def workspace_id(self) -> str:
        assert self.principal.workspace_id is not None
        return self.principal.workspace_id


def issue(
    uow: UnitOfWork,
    now: datetime,
    caller: Principal,
    workspace_id: str,
    *,
    user_id: str,
    role: Role,
    scope: Scope,
    return_url: str | None,
) -> Issued:
    """A one-time link for `user_id` with `role` in `workspace_id`; checks the caller may grant it."""
    if not caller.is_service and caller.workspace_id != workspace_id:
        raise Forbidden("an API key issues sessions of its own workspace only")
    if not may_grant(caller, role):
        raise Forbidden(f"a {caller.role} key cannot open a {role} session; an admin key can")
    if not may_open(role, scope):
        raise Invalid.field("scope", f"the settings pages are for admins and managers, not a {role} session")
    if not uow.workspaces.exists(workspace_id):
        raise NotFound(f"workspace {workspace_id} does not exist")
    if (
        scope.item_type is not None
        and uow.items.get(workspace_id, scope.item_type, scope.item_id or "") is None
    ):
        raise NotFound(f"item {scope.item_type}/{scope.item_id} does not exist; PUT it first")
    if return_url is not None:
        allowed = workspace_settings.load(uow, workspace_id).ui_allowed_origins
        if not return_url_allowed(return_url, allowed):
            raise Invalid.field(
                "return_url",
                "must be on an origin the workspace allows (settings ui.allowed_origins: "
                + (", ".join(allowed) or "none yet")
                + ")",
            )
    token = new_secret("jbl_")
    expires = now + LINK_TTL
    uow.ui_sessions.add(
        UiSession(
            id=new_id("uis"),
            workspace_id=workspace_id,
            user_id=user_id,
            role=role.value,
            scope=_scope_row(scope),
            return_url=return_url,
            link_hash=_hash(token),
            link_expires_at=expires,
            csrf_token=new_secret(),
            created_at=now,
        )
    )
    uow.commit()
    return Issued(token, expires)


def link_url(public_url: str, link_token: str) -> str:
    return f"{public_url.rstrip('/')}/ui/start/{link_token}"


def _scope_row(scope: Scope) -> dict[str, str]:
    if scope.is_account:
        return {"page": "account"}
    document = scope.to_document()
    return document if isinstance(document, dict) else {}


def open_link(uow: UnitOfWork, now: datetime, link_token: str) -> tuple[str, PageSession]:
    """Turn a one-time link into a session: its token and the session. A link opens once."""
    row = uow.ui_sessions.by_link_for_update(_hash(link_token))
    if row is None or row.session_hash is not None:
        raise Unauthorized("this link is not valid or was already used; ask the app for a new one")
    if _aware(row.link_expires_at) <= now:
        raise Unauthorized("this link has expired; ask the app for a new one")
    token = new_secret("jbs_")
    row.session_hash = _hash(token)
    row.session_expires_at = now + SESSION_TTL
    uow.commit()
    return token, _session(row)


def resolve(uow: UnitOfWork, now: datetime, session_token: str) -> PageSession:
    row = uow.ui_sessions.by_session(_hash(session_token))
    if row is None or row.session_expires_at is None:
        raise Unauthorized("this page session is not valid; open the page again from the app")
    if _aware(row.session_expires_at) <= now:
        raise Unauthorized("this page session has expired; open the page again from the app")
    return _session(row)


def _session(row: UiSession) -> PageSession:
    assert row.session_expires_at is not None
    principal = Principal(workspace_id=row.workspace_id, role=Role(row.role), user_id=row.user_id)
    return PageSession(
        row.id,
        principal,
        Scope.from_document(row.scope or "settings"),
        row.csrf_token,
        row.return_url,
        _aware(row.session_expires_at),
    )
