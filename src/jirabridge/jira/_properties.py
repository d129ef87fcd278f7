"""Entity properties of issues, comments and worklogs: `client.properties.issue("WEB-1").set(k, v)`."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from jirabridge.jira._models import JiraModel, Property
from jirabridge.jira._resource import Resource
from jirabridge.jira._transport import Requester, parse


class _Keys(JiraModel):
    keys: list[Property] = Field(default_factory=list)


class EntityProperties:
    """The properties of one entity; `base` is its path, e.g. `/issue/{issue}`."""

    def __init__(self, requester: Requester, base: str, path: dict[str, str], issue: str | None) -> None:
        self._r = requester
        self._base = base
        self._path = path
        self._issue = issue

    async def keys(self) -> list[str]:
        response = await self._r.request("GET", self._base + "/properties", path=self._path)
        return [p.key for p in parse(_Keys, response).keys]

    async def get(self, key: str) -> Property:
        """The property, or `NotFound`."""
        return await self._r.get_model(
            Property, self._base + "/properties/{key}", path={**self._path, "key": key}
        )

    async def set(self, key: str, value: Any) -> bool:
        """Set (create or replace); True when it was created."""
        response = await self._r.request(
            "PUT",
            self._base + "/properties/{key}",
            path={**self._path, "key": key},
            json=value,
            issue=self._issue,
        )
        return response.status_code == 201

    async def delete(self, key: str) -> None:
        await self._r.request(
            "DELETE", self._base + "/properties/{key}", path={**self._path, "key": key}, issue=self._issue
        )


class PropertiesAPI(Resource):
    def issue(self, issue: str) -> EntityProperties:
        return EntityProperties(self._r, "/issue/{issue}", {"issue": issue}, issue)

    def comment(self, comment_id: str) -> EntityProperties:
        return EntityProperties(self._r, "/comment/{comment}", {"comment": comment_id}, None)

    def worklog(self, issue: str, worklog_id: str) -> EntityProperties:
        return EntityProperties(
            self._r, "/issue/{issue}/worklog/{worklog}", {"issue": issue, "worklog": worklog_id}, issue
        )
