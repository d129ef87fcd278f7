"""Workspace settings: read, replace, and the callback secret (sealed with the secret box, never shown).

Stored in `workspaces.settings` as the document of `domain.settings.to_document`, plus
`callback.secret_sealed` (Fernet ciphertext of `{"secret": …}`) when a callback secret is set.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from jirabridge.domain.settings import (
    SettingsInvalid,
    WorkspaceSettings,
    callback_url_problem,
    from_document,
    parse_settings,
    to_document,
)
from jirabridge.errors import FieldError, Invalid, NotFound, Unavailable
from jirabridge.secrets_box import SecretBox, SecretKeyError
from jirabridge.service.core.outbound import OutboundGuard, refuse
from jirabridge.service.core.unit_of_work import UnitOfWork
from jirabridge.storage.tables import Workspace

_SEALED = "secret_sealed"


def _workspace(uow: UnitOfWork, workspace_id: str) -> Workspace:
    workspace = uow.workspaces.get(workspace_id)
    if workspace is None:
        raise NotFound(f"workspace {workspace_id} does not exist")
    return workspace


def _sealed_secret(stored: dict[str, Any] | None) -> str | None:
    callback = (stored or {}).get("callback")
    sealed = callback.get(_SEALED) if isinstance(callback, dict) else None
    return sealed if isinstance(sealed, str) and sealed else None


def load(uow: UnitOfWork, workspace_id: str) -> WorkspaceSettings:
    """The workspace's settings, defaults filled in (for the services that act on them)."""
    stored = uow.workspaces.settings(workspace_id)
    if stored is None:
        raise NotFound(f"workspace {workspace_id} does not exist")
    return from_document(stored)


def view(workspace: Workspace) -> dict[str, Any]:
    """What `GET /api/v1/settings` shows: the document with defaults, and never the secret."""
    stored = workspace.settings or {}
    document = to_document(from_document(stored))
    if document["host_name"] is None:
        document["host_name"] = workspace.name
    document["callback"]["secret_set"] = _sealed_secret(stored) is not None
    return document


def get_settings(uow: UnitOfWork, workspace_id: str) -> dict[str, Any]:
    return view(_workspace(uow, workspace_id))


def put_settings(
    uow: UnitOfWork,
    secrets: Callable[[], SecretBox],
    workspace_id: str,
    document: object,
    *,
    outbound: OutboundGuard,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Replace the settings (see domain/settings.py for what a missing field means). `secrets` gives
    the secret box; it is asked for only when a callback secret is to be sealed. `outbound` refuses
    a callback URL the service must not call (a 422 naming `callback.url`). `now` (the container's
    clock) is when the change happens. Looks the callback's host up in DNS: call it off the event
    loop."""
    _refuse_callback_url(outbound, document)
    workspace = _workspace(uow, workspace_id)
    worklogs_were_on = from_document(workspace.settings or {}).worklogs.enabled
    sealed = _sealed_secret(workspace.settings)
    try:
        update = parse_settings(document, has_secret=sealed is not None)
    except SettingsInvalid as exc:
        errors = [FieldError(p.field, p.message) for p in exc.problems]
        raise Invalid(str(exc), errors=errors) from None
    stored = to_document(update.settings)
    if update.settings.callback_url is None:
        sealed = None  # the callback is off: its secret goes with it
    elif update.new_callback_secret is not None:
        try:
            sealed = secrets().seal({"secret": update.new_callback_secret})
        except SecretKeyError:
            raise Unavailable(
                "JIRABRIDGE_SECRET_KEY is not set: a callback secret cannot be stored"
            ) from None
    if sealed is not None:
        stored["callback"][_SEALED] = sealed
    workspace.settings = stored
    if update.settings.worklogs.enabled and not worklogs_were_on:
        from jirabridge.service.worklogs import time_entries  # it reads settings through this module

        time_entries.worklog_sync_switched_on(uow, now or datetime.now(UTC), workspace_id)
    uow.commit()
    return view(workspace)


def _refuse_callback_url(outbound: OutboundGuard, document: object) -> None:
    """The outbound check of a well-formed callback URL, before the database is touched (a DNS
    look-up may take a while); a malformed one is left to `parse_settings` to report."""
    callback = document.get("callback") if isinstance(document, dict) else None
    url = callback.get("url") if isinstance(callback, dict) else None
    if isinstance(url, str) and callback_url_problem(url) is None:
        refuse(outbound, "callback.url", url)


def callback_target(uow: UnitOfWork, box: SecretBox, workspace_id: str) -> tuple[str, str] | None:
    """The callback URL and its secret in clear (for the delivering worker only), or None when the
    workspace has no callback now."""
    workspace = uow.workspaces.get(workspace_id)
    if workspace is None:
        return None
    url = from_document(workspace.settings or {}).callback_url
    sealed = _sealed_secret(workspace.settings)
    if url is None or sealed is None:
        return None
    secret = box.open(sealed).get("secret")
    return (url, secret) if isinstance(secret, str) else None
