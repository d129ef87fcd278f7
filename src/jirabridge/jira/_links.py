"""Remote links ("web links" on an issue), upserted by `globalId` so a retry never adds a second."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jirabridge.jira._models import RemoteLink, RemoteLinkRef
from jirabridge.jira._resource import Resource
from jirabridge.jira._transport import parse


class RemoteLinksAPI(Resource):
    async def upsert(
        self,
        issue: str,
        *,
        global_id: str,
        url: str,
        title: str,
        summary: str | None = None,
        icon_url: str | None = None,
        relationship: str | None = None,
        application: Mapping[str, Any] | None = None,
    ) -> RemoteLinkRef:
        """Create the link, or replace the one with this `global_id`."""
        obj: dict[str, Any] = {"url": url, "title": title}
        if summary is not None:
            obj["summary"] = summary
        if icon_url is not None:
            obj["icon"] = {"url16x16": icon_url, "title": title}
        body: dict[str, Any] = {"globalId": global_id, "object": obj}
        if relationship is not None:
            body["relationship"] = relationship
        if application is not None:
            body["application"] = dict(application)
        response = await self._r.request(
            "POST", "/issue/{issue}/remotelink", path={"issue": issue}, json=body, issue=issue
        )
        return parse(RemoteLinkRef, response)

    async def list(self, issue: str) -> list[RemoteLink]:
        return await self._r.get_list(RemoteLink, "/issue/{issue}/remotelink", path={"issue": issue})

    async def get(self, issue: str, *, global_id: str) -> RemoteLink:
        return await self._r.get_model(
            RemoteLink, "/issue/{issue}/remotelink", path={"issue": issue}, params={"globalId": global_id}
        )

    async def delete(self, issue: str, link_id: int) -> None:
        await self._r.request(
            "DELETE",
            "/issue/{issue}/remotelink/{link}",
            path={"issue": issue, "link": link_id},
            issue=issue,
        )

    async def delete_by_global_id(self, issue: str, global_id: str) -> None:
        await self._r.request(
            "DELETE",
            "/issue/{issue}/remotelink",
            path={"issue": issue},
            params={"globalId": global_id},
            issue=issue,
        )
