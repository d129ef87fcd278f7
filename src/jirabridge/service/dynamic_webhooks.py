"""Keeping an OAuth site's dynamic webhooks in step (see domain/dynamic_webhooks.py).

Each connected OAuth site has a schedule `webhooks:{site}` running `webhooks.sync` (workers/
jira_webhooks.py) every 12 hours: enough to refresh the 30-day webhooks well before they expire. It is
created when the site connects, made due at once whenever the site's project settings change (so a
project that gains inbound sync gets deliveries within seconds), and removed on disconnect.
API-token sites use an admin webhook an administrator sets up by hand (docs/inbound.md).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from jirabridge.domain.inbound import project_sync
from jirabridge.service.unit_of_work import UnitOfWork
from jirabridge.storage import schedules
from jirabridge.storage.tables import ProjectSettings, Site

SYNC_KIND = "webhooks.sync"
EVERY_S = 12 * 3600.0


def schedule_key(site_id: str) -> str:
    return f"webhooks:{site_id}"


def follow_site(uow: UnitOfWork, now: datetime, site: Site) -> None:
    """An OAuth site that is connected syncs its webhooks now and then twice a day (caller commits).
    Call it when the site connects and when its project settings change."""
    if site.auth_type != "oauth" or site.status != "connected":
        return
    key = schedule_key(site.id)
    schedules.ensure(
        uow.session,
        key=key,
        workspace_id=site.workspace_id,
        kind=SYNC_KIND,
        payload={"site_id": site.id},
        every_s=EVERY_S,
        now=now,
        site_id=site.id,
    )
    uow.session.flush()
    schedules.run_now(uow.session, workspace_id=site.workspace_id, key_prefix=key, now=now)


def follow_site_id(uow: UnitOfWork, now: datetime, site_id: str) -> None:
    site = uow.session.get(Site, site_id)
    if site is not None:
        follow_site(uow, now, site)


def forget_site(uow: UnitOfWork, site_id: str) -> None:
    schedules.remove_prefix(uow.session, schedule_key(site_id))


def inbound_projects(uow: UnitOfWork, workspace_id: str, site_id: str) -> list[str]:
    """The site's projects whose settings take any change from Jira (status, assignee or comments)."""
    rows = uow.session.scalars(
        select(ProjectSettings).where(
            ProjectSettings.workspace_id == workspace_id, ProjectSettings.site_id == site_id
        )
    )
    return sorted(row.project_key for row in rows if project_sync(dict(row.settings or {})).any_inbound)
