"""What projects each connected site has, for choosing a time entry's site by its issue key.

The worker lists a site's projects (`site.projects`, workers/site_projects.py) when it connects and
then every 6 hours (a `projects:{site}` schedule), into `Site.project_keys`. The host's own project
settings and the site's default project count too, so a site is known even before its first listing.
No Jira call is made while a request is handled: a request reads what the worker stored.

`site.projects` is a step (workers/steps.py): the handler lists the projects and touches no storage;
`apply` records the listing on the site (`SiteProjectsListed`) in the transaction that completes the
operation, and looks again at the time entries that failed because their key's project was not on
their site: a project created in Jira since the last listing lets them sync.
"""

from __future__ import annotations

import logging
from datetime import datetime

from jirabridge.domain.operations import ListSiteProjects
from jirabridge.domain.outcomes import Done, Job, Outcome, SiteProjectsListed
from jirabridge.domain.site_choice import SiteProjects
from jirabridge.service.core.unit_of_work import UnitOfWork
from jirabridge.storage import schedules
from jirabridge.storage.tables import Site

EVERY_S = 6 * 3600.0

log = logging.getLogger("jirabridge.worker.projects")


def schedule_key(site_id: str) -> str:
    return ListSiteProjects(site_id).schedule_key()


def follow_site(uow: UnitOfWork, now: datetime, site: Site) -> None:
    """The site's projects are listed now and every 6 hours (caller commits)."""
    if site.status != "connected":
        return
    schedules.ensure(
        uow.session, ListSiteProjects(site.id), workspace_id=site.workspace_id, every_s=EVERY_S, now=now
    )


def forget_site(uow: UnitOfWork, site_id: str) -> None:
    schedules.remove(uow.session, schedule_key(site_id))


def connected_sites(uow: UnitOfWork, workspace_id: str, now: datetime | None) -> list[SiteProjects]:
    """Every connected site of the workspace with the projects known on it. A site never listed
    (connected before listing existed) gets its listing scheduled, given `now`."""
    sites = uow.sites.connected(workspace_id)
    configured = uow.projects.keys_by_site(workspace_id)
    found: list[SiteProjects] = []
    for site in sites:
        if (
            now is not None
            and site.project_keys is None
            and not schedules.exists(uow.session, schedule_key(site.id))
        ):
            follow_site(uow, now, site)
        found.append(_projects(site, configured.get(site.id, set())))
    return found


def site_projects(uow: UnitOfWork, site: Site) -> SiteProjects:
    return _projects(site, uow.projects.keys_on_site(site.workspace_id, site.id))


def _projects(site: Site, configured: set[str]) -> SiteProjects:
    has = set(configured)
    if site.default_project:
        has.add(site.default_project)
    has.update(site.project_keys or ())
    # Only a listing from Jira says what a site lacks; settings alone say what it has.
    return SiteProjects(site.id, site.url, frozenset(has), listed=site.project_keys is not None)


def load(uow: UnitOfWork, job: Job) -> None:
    """The handler needs nothing but the operation's site: Jira's list is the answer."""
    return None


def apply(uow: UnitOfWork, job: Job, outcome: Outcome, now: datetime) -> None:
    from jirabridge.service.worklogs import time_entries  # it chooses sites through this module

    match outcome:
        case Done(value=SiteProjectsListed(keys=keys)):
            site_id = job.operation_as(ListSiteProjects).site_id
            site = uow.sites.get(site_id)
            if site is None or site.status != "connected":
                return  # disconnected meanwhile
            site.project_keys, site.projects_listed_at = list(keys), now
            waiting = uow.time_entries.not_on_site(job.workspace_id, site_id, time_entries.NOT_ON_SITE)
            for entry in waiting:
                time_entries.settle(uow, entry, now, source="jirabridge")
            log.info(
                "site.projects.listed site=%s projects=%d entries_looked_again=%d",
                site_id,
                len(keys),
                len(waiting),
            )
        case _:
            pass
