"""Comments: add, edit, delete, get and list, with entity properties (jirabridge marks the comments it
writes with a property so a lost answer never makes a second comment)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jirabridge.jira._adf import Node, from_text
from jirabridge.jira._models import Comment, CommentPage
from jirabridge.jira._resource import Resource, property_list
from jirabridge.jira._transport import parse

Body = Node | str  # ADF, or plain text turned into ADF with `from_text`


def adf_body(body: Body) -> Node:
    return from_text(body) if isinstance(body, str) else body


class CommentsAPI(Resource):
    async def add(
        self,
        issue: str,
        body: Body,
        *,
        properties: Mapping[str, Any] | None = None,
        visibility: Mapping[str, str] | None = None,
    ) -> Comment:
        payload: dict[str, Any] = {"body": adf_body(body)}
        if properties:
            payload["properties"] = property_list(properties)
        if visibility:
            payload["visibility"] = dict(visibility)
        response = await self._r.request(
            "POST",
            "/issue/{issue}/comment",
            path={"issue": issue},
            params={"expand": "properties"},
            json=payload,
            issue=issue,
        )
        return parse(Comment, response)

    async def edit(self, issue: str, comment_id: str, body: Body) -> Comment:
        response = await self._r.request(
            "PUT",
            "/issue/{issue}/comment/{comment}",
            path={"issue": issue, "comment": comment_id},
            json={"body": adf_body(body)},
            issue=issue,
        )
        return parse(Comment, response)

    async def delete(self, issue: str, comment_id: str) -> None:
        await self._r.request(
            "DELETE",
            "/issue/{issue}/comment/{comment}",
            path={"issue": issue, "comment": comment_id},
            issue=issue,
        )

    async def get(self, issue: str, comment_id: str) -> Comment:
        return await self._r.get_model(
            Comment,
            "/issue/{issue}/comment/{comment}",
            path={"issue": issue, "comment": comment_id},
            params={"expand": "properties"},
        )

    async def list(self, issue: str, *, page_size: int = 100) -> list[Comment]:
        """Every comment of the issue, oldest first, with properties."""
        found: list[Comment] = []
        while True:
            params = {"startAt": len(found), "maxResults": page_size, "expand": "properties"}
            page = await self._r.get_model(
                CommentPage, "/issue/{issue}/comment", path={"issue": issue}, params=params
            )
            found.extend(page.comments)
            if not page.comments or len(found) >= page.total:
                return found
