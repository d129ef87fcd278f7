"""What a form needs to know from Jira: a site's projects, a project's issue types, statuses and
priorities, an issue type's create screen, and users to assign. Read while the person waits (never in
a transaction), cached per process like the rest of the metadata (service/sites/metadata.py)."""

from __future__ import annotations

from jirabridge.errors import JirabridgeError
from jirabridge.service.core.db import read_db
from jirabridge.service.core.ports import ConnectFailed, JiraAccount, ProjectMeta, ProjectRef, Services
from jirabridge.service.sites import metadata
from jirabridge.service.sites.metadata import CreateScreen
from jirabridge.service.sites.sites import connected_site, site_access
from jirabridge.storage.tables import Site

_PROJECTS = "#projects"  # the cache key's second part for a site's project list (no project is "#…")


async def _site(services: Services, workspace_id: str, site_id: str | None) -> Site:
    return await read_db(services, lambda uow: connected_site(uow, workspace_id, site_id))


async def projects(services: Services, workspace_id: str, site_id: str | None) -> list[ProjectRef]:
    site = await _site(services, workspace_id, site_id)
    key = (site.id, _PROJECTS)
    cached = services.metadata_cache.get(key, services.clock.now())
    if isinstance(cached, list):
        return cached
    found = await metadata.ask_jira(
        site, "", lambda: services.connector.list_projects(site_access(services, site))
    )
    found.sort(key=lambda p: p.key)
    services.metadata_cache.put(key, found, services.clock.now())
    return found


async def project(services: Services, workspace_id: str, site_id: str | None, key: str) -> ProjectMeta:
    site = await _site(services, workspace_id, site_id)
    return await metadata.project_meta(services, site, key)


async def create_screen(
    services: Services, workspace_id: str, site_id: str | None, key: str, issue_type: str
) -> CreateScreen:
    site = await _site(services, workspace_id, site_id)
    return await metadata.create_fields(services, site, key, issue_type)


async def assignable_users(
    services: Services, workspace_id: str, site_id: str | None, key: str, query: str
) -> list[JiraAccount]:
    site = await _site(services, workspace_id, site_id)
    return await metadata.ask_jira(
        site, key, lambda: services.connector.assignable_users(site_access(services, site), key, query)
    )


async def summaries(services: Services, workspace_id: str, keys: dict[str, list[str]]) -> dict[str, str]:
    """The summaries of issues by key, per site id (`{site: [keys]}`). Best effort: a site that cannot
    answer now leaves its keys out (a page shows them without a summary rather than fail)."""
    found: dict[str, str] = {}
    for site_id, site_keys in keys.items():
        try:
            site = await _site(services, workspace_id, site_id)
            found.update(await services.connector.summaries(site_access(services, site), site_keys))
        except (ConnectFailed, JirabridgeError):
            continue
    return found
