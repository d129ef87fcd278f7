"""Project metadata and create screens, read from Jira while the host waits, cached in the process.

Settings validation and ticket creation both need a project's issue types, workflow statuses,
priorities and the create screen of an issue type. These change rarely, so each answer is kept per
site and project for `METADATA_TTL`; saving or deleting project settings drops the project's entries
(`invalidate`), so a host that has just added a status in Jira can use it at once by saving again.
The cache is per process: a worker or another API process sees a change after the TTL at the latest.

Jira is never called inside a transaction here: callers pass a `Site` already read.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from jirabridge.errors import Invalid, JirabridgeError
from jirabridge.service.core.ports import (
    ConnectFailed,
    FieldMeta,
    IssueTypeMeta,
    ProjectMeta,
    Services,
    SiteFields,
)
from jirabridge.service.sites.sites import site_access
from jirabridge.storage.tables import Site

METADATA_TTL = timedelta(minutes=5)
MAX_ENTRIES = 2000  # a bound, not a tuning knob: beyond it the oldest entries go first

T = TypeVar("T")


class JiraUnavailable(JirabridgeError):
    """Jira could not answer a read the request needs (502): nothing was written."""

    status, slug, title = 502, "jira_unavailable", "Jira unavailable"


@dataclass(frozen=True)
class CreateScreen:
    """The create screen of one issue type of a project."""

    project: str
    issue_type_id: str
    issue_type_name: str
    fields: tuple[FieldMeta, ...]

    @property
    def required(self) -> list[FieldMeta]:
        return [f for f in self.fields if f.required]

    def has(self, field_id: str) -> bool:
        return any(f.field_id == field_id for f in self.fields)

    def field(self, field_id: str) -> FieldMeta | None:
        return next((f for f in self.fields if f.field_id == field_id), None)


_Key = tuple[str, ...]  # (site id, PROJECT) or (site id, PROJECT, issue type id)


class MetadataCache:
    """Answers per site and project with an expiry; lives on the container (one per process)."""

    def __init__(self, ttl: timedelta = METADATA_TTL) -> None:
        self.ttl = ttl
        self._entries: dict[_Key, tuple[datetime, object]] = {}

    def get(self, key: _Key, now: datetime) -> object | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, value = entry
        if now >= expires:
            self._entries.pop(key, None)
            return None
        return value

    def put(self, key: _Key, value: object, now: datetime) -> None:
        if len(self._entries) >= MAX_ENTRIES:
            oldest = min(self._entries, key=lambda k: self._entries[k][0])
            self._entries.pop(oldest, None)
        self._entries[key] = (now + self.ttl, value)

    def invalidate(self, site_id: str, project: str | None = None) -> None:
        """Forget a project's answers (all of the site's without `project`)."""
        prefix = (site_id,) if project is None else (site_id, project.upper())
        for key in [k for k in self._entries if k[: len(prefix)] == prefix]:
            self._entries.pop(key, None)


def invalidate(services: Services, site_id: str, project: str | None = None) -> None:
    services.metadata_cache.invalidate(site_id, project)


async def project_meta(services: Services, site: Site, project: str) -> ProjectMeta:
    """Issue types, workflow statuses and priorities of `project` on `site`.

    Raises Invalid (422, field `project`) when the project does not exist or the connection cannot
    see it, JiraUnavailable (502) when Jira cannot answer."""
    key = (site.id, project.upper())
    cached = services.metadata_cache.get(key, services.clock.now())
    if isinstance(cached, ProjectMeta):
        return cached
    meta = await ask_jira(
        site, project, lambda: services.connector.project_meta(site_access(services, site), project)
    )
    services.metadata_cache.put(key, meta, services.clock.now())
    return meta


async def create_fields(
    services: Services,
    site: Site,
    project: str,
    issue_type_name_or_id: str,
    *,
    field: str = "issue_type",
) -> CreateScreen:
    """The create screen of an issue type of `project`, named by name (case-insensitive) or id.

    Raises Invalid naming `field` when the project has no such issue type (or the connection may not
    create it), JiraUnavailable (502) when Jira cannot answer."""
    meta = await project_meta(services, site, project)
    issue_type = _issue_type(meta, issue_type_name_or_id, field)
    key = (site.id, meta.key.upper(), issue_type.id)
    cached = services.metadata_cache.get(key, services.clock.now())
    if isinstance(cached, tuple):
        fields: tuple[FieldMeta, ...] = cached
    else:
        fields = tuple(
            await ask_jira(
                site,
                meta.key,
                lambda: services.connector.create_fields(
                    site_access(services, site), meta.key, issue_type.id
                ),
                field=field,
                issue_type=issue_type.name,
            )
        )
        services.metadata_cache.put(key, fields, services.clock.now())
    return CreateScreen(meta.key, issue_type.id, issue_type.name, fields)


def _issue_type(meta: ProjectMeta, issue_type_name_or_id: str, field: str) -> IssueTypeMeta:
    issue_type = meta.issue_type(issue_type_name_or_id)
    if issue_type is None:
        offered = ", ".join(t.name for t in meta.issue_types) or "none"
        raise Invalid.field(
            field,
            f"issue type {issue_type_name_or_id!r} is not an issue type of {meta.key} (its types: {offered})",
        )
    return issue_type


def cached_create_fields(
    services: Services, site: Site, project: str, issue_type_name_or_id: str, *, field: str = "issue_type"
) -> CreateScreen | None:
    """`create_fields` from this process's cache alone, without awaiting (so inside a transaction):
    None when an answer it needs is not cached (or expired)."""
    now = services.clock.now()
    meta = services.metadata_cache.get((site.id, project.upper()), now)
    if not isinstance(meta, ProjectMeta):
        return None
    issue_type = _issue_type(meta, issue_type_name_or_id, field)
    fields = services.metadata_cache.get((site.id, meta.key.upper(), issue_type.id), now)
    if not isinstance(fields, tuple):
        return None
    return CreateScreen(meta.key, issue_type.id, issue_type.name, fields)


async def site_fields(services: Services, site: Site, project: str) -> SiteFields:
    """The site's fields and resolutions, read afresh (only settings with `transition_fields` need
    them). JiraUnavailable (502) when Jira cannot answer."""
    return await ask_jira(site, project, lambda: services.connector.site_fields(site_access(services, site)))


async def ask_jira(
    site: Site,
    project: str,
    call: Callable[[], Awaitable[T]],
    *,
    field: str = "issue_type",
    issue_type: str | None = None,
) -> T:
    try:
        return await call()
    except ConnectFailed as failed:
        if failed.code == "project_not_found":
            raise Invalid.field(
                "project",
                f"project {project} does not exist on {site.url}, or the connection cannot see it",
            ) from None
        if failed.code == "issue_type_not_found":
            raise Invalid.field(
                field,
                f"issues of type {issue_type or '?'} cannot be created in {project} "
                "with the site's connection",
            ) from None
        raise JiraUnavailable(
            f"Jira could not be asked about project {project} on {site.url}: {failed.code}: {failed.message}"
        ) from None
