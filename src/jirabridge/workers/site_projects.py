"""`site.projects`: list a connected site's projects (service/site_projects.py says why).

Jira's list is what the site's account can browse, which is what a time entry's worklog needs. After
a listing, entries that failed because their key's project was not on their site are looked at again:
a project created in Jira since the last listing lets them sync.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from jirabridge.domain.operations import ListSiteProjects
from jirabridge.domain.outcomes import Done, Handler, Job, Outcome
from jirabridge.service import time_entries
from jirabridge.service.db import run_db
from jirabridge.service.unit_of_work import UnitOfWork
from jirabridge.workers import jira_common as common
from jirabridge.workers import registry

if TYPE_CHECKING:
    from jirabridge.bootstrap import Container

log = logging.getLogger("jirabridge.worker.projects")


class ListProjects:
    def __init__(self, container: Container) -> None:
        self.container = container
        self.pool = common.pool_for(container)

    async def __call__(self, job: Job) -> Outcome:
        site_id = job.operation_as(ListSiteProjects).site_id
        try:
            async with self.pool.client(site_id, workspace_id=job.workspace_id) as client:
                keys = sorted({p.key for p in await client.projects.list()})
        except common.CALL_ERRORS as error:
            return common.classify(error)

        def save(uow: UnitOfWork) -> int:
            site = uow.sites.get(site_id)
            if site is None or site.status != "connected":
                return 0  # disconnected meanwhile
            now = self.container.clock.now()
            site.project_keys, site.projects_listed_at = keys, now
            waiting = uow.time_entries.not_on_site(job.workspace_id, site_id, time_entries.NOT_ON_SITE)
            for entry in waiting:
                time_entries.settle(uow, entry, now, source="jirabridge")
            uow.commit()
            return len(waiting)

        looked_again = await run_db(self.container, save)
        log.info(
            "site.projects.listed site=%s projects=%d entries_looked_again=%d",
            site_id,
            len(keys),
            looked_again,
        )
        return Done({"projects": len(keys)})


def make_handler(container: Container) -> Handler:
    return ListProjects(container)


registry.register(ListSiteProjects, make_handler)
