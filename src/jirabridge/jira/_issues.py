"""Issues: create (one, or up to 50 at once), get, bulk fetch, edit, delete, assign, transitions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import Field

from jirabridge.jira._errors import BadRequest
from jirabridge.jira._models import (
    BulkCreateResult,
    BulkFetchResult,
    CreatedIssue,
    Issue,
    JiraModel,
    Transition,
)
from jirabridge.jira._resource import Resource, property_list
from jirabridge.jira._transport import parse

BULK_CREATE_MAX = 50
BULK_FETCH_MAX = 100

Fields = Mapping[str, Any]


def _csv(values: Sequence[str] | None) -> str | None:
    return ",".join(values) if values else None


class IssuesAPI(Resource):
    async def create(
        self,
        fields: Fields,
        *,
        update: Mapping[str, Any] | None = None,
        properties: Mapping[str, Any] | None = None,
    ) -> CreatedIssue:
        """`fields` as Jira takes them: `{"project": {"key": "WEB"}, "issuetype": {"name": "Bug"},
        "summary": ..., "description": <ADF>}`. `properties` are set on the new issue atomically."""
        body: dict[str, Any] = {"fields": dict(fields)}
        if update:
            body["update"] = dict(update)
        if properties:
            body["properties"] = property_list(properties)
        return parse(CreatedIssue, await self._r.request("POST", "/issue", json=body))

    async def create_bulk(self, issues: Sequence[Fields]) -> BulkCreateResult:
        """Up to 50 issues in one call. Jira creates what it can: the result lists the created ones,
        in the order they were asked for, and by position (`failed_element_number`) the refused ones.
        When every one is refused Jira answers 400 with the same list, returned here like any other
        result; a 400 without it (the request itself is wrong) raises `BadRequest`."""
        if not 0 < len(issues) <= BULK_CREATE_MAX:
            raise ValueError(f"create_bulk takes 1 to {BULK_CREATE_MAX} issues, not {len(issues)}")
        body = {"issueUpdates": [{"fields": dict(f)} for f in issues]}
        try:
            answer = await self._r.request("POST", "/issue/bulk", json=body)
        except BadRequest as error:
            refused = _all_refused(error)
            if refused is None:
                raise
            return refused
        return parse(BulkCreateResult, answer)

    async def get(
        self,
        issue: str,
        *,
        fields: Sequence[str] | None = None,
        expand: Sequence[str] | None = None,
        properties: Sequence[str] | None = None,
    ) -> Issue:
        params = {"fields": _csv(fields), "expand": _csv(expand), "properties": _csv(properties)}
        return await self._r.get_model(
            Issue, "/issue/{issue}", path={"issue": issue}, params=params, issue=issue
        )

    async def bulk_fetch(
        self,
        issues: Sequence[str],
        *,
        fields: Sequence[str] | None = None,
        expand: Sequence[str] | None = None,
        properties: Sequence[str] | None = None,
    ) -> BulkFetchResult:
        """Up to 100 issues by id or key; missing or hidden ones are simply absent."""
        if not 0 < len(issues) <= BULK_FETCH_MAX:
            raise ValueError(f"bulk_fetch takes 1 to {BULK_FETCH_MAX} issues, not {len(issues)}")
        body: dict[str, Any] = {"issueIdsOrKeys": list(issues), "fields": list(fields or ["*navigable"])}
        if expand:
            body["expand"] = list(expand)
        if properties:
            body["properties"] = list(properties)
        return parse(BulkFetchResult, await self._r.request("POST", "/issue/bulkfetch", json=body))

    async def edit(
        self,
        issue: str,
        *,
        fields: Fields | None = None,
        update: Mapping[str, Any] | None = None,
        notify_users: bool = True,
    ) -> None:
        body: dict[str, Any] = {}
        if fields:
            body["fields"] = dict(fields)
        if update:
            body["update"] = dict(update)
        params = {"notifyUsers": None if notify_users else "false"}
        await self._r.request(
            "PUT", "/issue/{issue}", path={"issue": issue}, params=params, json=body, issue=issue
        )

    async def delete(self, issue: str, *, delete_subtasks: bool = False) -> None:
        params = {"deleteSubtasks": "true" if delete_subtasks else None}
        await self._r.request("DELETE", "/issue/{issue}", path={"issue": issue}, params=params, issue=issue)

    async def assign(self, issue: str, account_id: str | None) -> None:
        """Assign to `account_id`; None unassigns, "-1" means the project's default assignee."""
        await self._r.request(
            "PUT",
            "/issue/{issue}/assignee",
            path={"issue": issue},
            json={"accountId": account_id},
            issue=issue,
        )

    async def transitions(self, issue: str, *, with_fields: bool = False) -> list[Transition]:
        """The transitions available now. Jira answers an empty list (not an error) to a caller
        without permission to transition."""
        params = {"expand": "transitions.fields" if with_fields else None}
        response = await self._r.request(
            "GET", "/issue/{issue}/transitions", path={"issue": issue}, params=params, issue=issue
        )
        return parse(_Transitions, response).transitions

    async def transition(
        self,
        issue: str,
        transition_id: str,
        *,
        fields: Fields | None = None,
        update: Mapping[str, Any] | None = None,
    ) -> None:
        body: dict[str, Any] = {"transition": {"id": str(transition_id)}}
        if fields:
            body["fields"] = dict(fields)
        if update:
            body["update"] = dict(update)
        await self._r.request(
            "POST", "/issue/{issue}/transitions", path={"issue": issue}, json=body, issue=issue
        )


class _Transitions(JiraModel):
    transitions: list[Transition] = Field(default_factory=list)


def _all_refused(error: BadRequest) -> BulkCreateResult | None:
    """The per-issue errors of a bulk create Jira refused entirely, when its answer lists them."""
    try:
        body = error.response.json() if error.response is not None else None
    except ValueError:
        return None
    if not isinstance(body, dict) or not isinstance(body.get("errors"), list) or not body["errors"]:
        return None
    try:
        return BulkCreateResult.model_validate(body)
    except ValueError:
        return None
