"""Who and what is on the site: users, projects, issue types, create metadata, priorities, statuses
and fields. These change rarely; callers may cache them."""

from __future__ import annotations

import builtins
from collections.abc import Sequence

from pydantic import Field

from jirabridge.jira._models import (
    CreateMetaField,
    FieldDefinition,
    IssueType,
    JiraModel,
    Priority,
    Project,
    Resolution,
    Status,
    User,
)
from jirabridge.jira._resource import Resource


class _ProjectPage(JiraModel):
    values: list[Project] = Field(default_factory=list)
    is_last: bool = True


class _IssueTypePage(JiraModel):
    issue_types: list[IssueType] = Field(default_factory=list)
    total: int = 0


class _FieldPage(JiraModel):
    fields: list[CreateMetaField] = Field(default_factory=list)
    total: int = 0


class IssueTypeStatuses(JiraModel):
    """`/project/{key}/statuses`: the statuses each issue type of a project can have."""

    id: str
    name: str
    statuses: list[Status] = Field(default_factory=list)


class UsersAPI(Resource):
    async def get(self, account_id: str) -> User:
        return await self._r.get_model(User, "/user", params={"accountId": account_id})

    async def search(self, query: str, *, max_results: int = 50) -> list[User]:
        """Users whose name (or visible email) starts with `query`."""
        return await self._r.get_list(
            User, "/user/search", params={"query": query, "maxResults": max_results}
        )

    async def assignable(
        self, *, project: str | None = None, issue: str | None = None, query: str | None = None
    ) -> list[User]:
        params = {"project": project, "issueKey": issue, "query": query}
        return await self._r.get_list(User, "/user/assignable/search", params=params)


class ProjectsAPI(Resource):
    async def get(self, project: str) -> Project:
        """By key or id, with its issue types."""
        return await self._r.get_model(
            Project, "/project/{project}", path={"project": project}, params={"expand": "issueTypes"}
        )

    async def list(self, *, page_size: int = 50) -> list[Project]:
        found: list[Project] = []
        while True:
            params = {"startAt": len(found), "maxResults": page_size, "expand": "issueTypes"}
            page = await self._r.get_model(_ProjectPage, "/project/search", params=params)
            found.extend(page.values)
            if page.is_last or not page.values:
                return found

    async def statuses(self, project: str) -> builtins.list[IssueTypeStatuses]:
        return await self._r.get_list(
            IssueTypeStatuses, "/project/{project}/statuses", path={"project": project}
        )


class MetadataAPI(Resource):
    async def priorities(self) -> builtins.list[Priority]:
        return await self._r.get_list(Priority, "/priority")

    async def statuses(self) -> builtins.list[Status]:
        return await self._r.get_list(Status, "/status")

    async def fields(self) -> builtins.list[FieldDefinition]:
        return await self._r.get_list(FieldDefinition, "/field")

    async def resolutions(self) -> builtins.list[Resolution]:
        return await self._r.get_list(Resolution, "/resolution")

    async def create_issue_types(self, project: str) -> builtins.list[IssueType]:
        """The issue types the caller may create in `project` (empty without permission)."""
        found: builtins.list[IssueType] = []
        while True:
            page = await self._r.get_model(
                _IssueTypePage,
                "/issue/createmeta/{project}/issuetypes",
                path={"project": project},
                params={"startAt": len(found), "maxResults": 50},
            )
            found.extend(page.issue_types)
            if not page.issue_types or len(found) >= page.total:
                return found

    async def create_fields(self, project: str, issue_type_id: str) -> builtins.list[CreateMetaField]:
        """The create screen of an issue type: which fields exist, which are required, and the
        allowed values where Jira lists them."""
        found: builtins.list[CreateMetaField] = []
        while True:
            page = await self._r.get_model(
                _FieldPage,
                "/issue/createmeta/{project}/issuetypes/{type}",
                path={"project": project, "type": issue_type_id},
                params={"startAt": len(found), "maxResults": 50},
            )
            found.extend(page.fields)
            if not page.fields or len(found) >= page.total:
                return found

    async def required_fields(self, project: str, issue_type_id: str) -> Sequence[str]:
        return [f.field_id for f in await self.create_fields(project, issue_type_id) if f.required]
