"""`site.projects`: list a connected site's projects (service/sites/site_projects.py says why).

Jira's list is what the site's account can browse, which is what a time entry's worklog needs.

A step (`workers/steps.py`): this handler lists the projects and touches no storage; it returns the
keys (`SiteProjectsListed`) and `service/site_projects.apply` records them on the site, in the
transaction that completes the operation, and looks again at the entries that failed because their
key's project was not on their site: a project created in Jira since the last listing lets them sync.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jirabridge.domain.operations import ListSiteProjects
from jirabridge.domain.outcomes import Done, Job, Outcome, SiteProjectsListed
from jirabridge.service.sites import site_projects
from jirabridge.workers import jira_common as common
from jirabridge.workers.steps import Step

if TYPE_CHECKING:
    from jirabridge.adapters.jira_pool import JiraPool
    from jirabridge.bootstrap import Container


class ListProjects:
    def __init__(self, pool: JiraPool) -> None:
        self.pool = pool

    async def __call__(self, job: Job, context: None) -> Outcome:
        site_id = job.operation_as(ListSiteProjects).site_id
        try:
            async with self.pool.client(site_id, workspace_id=job.workspace_id) as client:
                keys = sorted({p.key for p in await client.projects.list()})
        except common.CALL_ERRORS as error:
            return common.classify(error)
        return Done({"projects": len(keys)}, value=SiteProjectsListed(tuple(keys)))


def make_handler(container: Container, pool: JiraPool) -> Step[None]:
    return Step(load=site_projects.load, run=ListProjects(pool), apply=site_projects.apply)
