"""Keeping a site's webhook in step (see domain/dynamic_webhooks.py and domain/site_webhooks.py).

Each connected site has a schedule `webhooks:{site}` every 12 hours: `webhooks.sync` (workers/
jira_webhooks.py) for an OAuth site's dynamic webhook (enough to refresh the 30-day webhooks well
before they expire), `webhooks.admin_sync` (workers/jira_admin_webhooks.py) for an API-token site's
admin webhook. It is created when the site connects, made due at once whenever the site's project
settings change (so a project that gains inbound sync gets deliveries within seconds) or its webhook
secret is rotated, and removed on disconnect, when an admin webhook jirabridge registered is deleted
(`webhooks.admin_remove`).
"""

from __future__ import annotations

from datetime import datetime

from jirabridge.domain.inbound import project_sync
from jirabridge.domain.operations import (
    RemoveAdminWebhooks,
    SyncAdminWebhooks,
    SyncDynamicWebhooks,
    webhooks_schedule_key,
)
from jirabridge.service.core.unit_of_work import UnitOfWork
from jirabridge.storage import outbox, schedules
from jirabridge.storage.tables import Site

EVERY_S = 12 * 3600.0


def schedule_key(site_id: str) -> str:
    return webhooks_schedule_key(site_id)


def follow_site(uow: UnitOfWork, now: datetime, site: Site) -> None:
    """A connected site syncs its webhook now and then twice a day (caller commits). Call it when the
    site connects, when its project settings change and when its webhook secret is rotated."""
    if site.status != "connected":
        return
    key = schedule_key(site.id)
    refresh = SyncDynamicWebhooks(site.id) if site.auth_type == "oauth" else SyncAdminWebhooks(site.id)
    schedules.ensure(uow.session, refresh, workspace_id=site.workspace_id, every_s=EVERY_S, now=now)
    uow.flush()
    schedules.run_now(uow.session, workspace_id=site.workspace_id, key_prefix=key, now=now)


def follow_site_id(uow: UnitOfWork, now: datetime, site_id: str) -> None:
    site = uow.sites.get(site_id)
    if site is not None:
        follow_site(uow, now, site)


def forget_site(uow: UnitOfWork, now: datetime, site: Site) -> bool:
    """Stop syncing the site's webhook; an admin webhook jirabridge registered is deleted by the worker
    (`webhooks.admin_remove`). True when that deletion is queued: the site's credentials must then
    stay until it has run (its step deletes them: `service.sites.webhook_sync.apply_removal`)."""
    schedules.remove_prefix(uow.session, schedule_key(site.id))
    if site.auth_type != "api_token" or not site.webhook_ids or site.credentials is None:
        return False
    remove = RemoveAdminWebhooks(site.id, tuple(site.webhook_ids))
    outbox.enqueue(uow.session, remove, workspace_id=site.workspace_id, now=now)
    return True


def inbound_projects(uow: UnitOfWork, workspace_id: str, site_id: str) -> list[str]:
    """The site's projects whose settings take any change from Jira (status, assignee or comments)."""
    rows = uow.projects.on_site(workspace_id, site_id)
    return sorted(row.project_key for row in rows if project_sync(dict(row.settings or {})).any_inbound)
