"""Worklogs: add, update and delete with `adjustEstimate`, get and list, and the site-wide change
feeds (`/worklog/updated`, `/worklog/deleted`, `/worklog/list`) used to reconcile.

The author of a worklog is always the caller, so a worklog "as user U" needs a client authenticated
as U. Jira refuses less than 60 seconds (400).
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from jirabridge.jira._adf import Node, from_text
from jirabridge.jira._models import Worklog, WorklogChange, WorklogChanges, WorklogPage
from jirabridge.jira._resource import Resource, property_list
from jirabridge.jira._transport import parse, parse_list

AdjustEstimate = Literal["auto", "leave", "new", "manual"]
LIST_MAX = 1000


def jira_datetime(moment: datetime) -> str:
    """Jira's `started` format, `2021-01-17T12:34:00.000+0000`; the time must carry its zone."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("worklog times must be timezone-aware")
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}" + moment.strftime("%z")


def _estimate_params(
    adjust: AdjustEstimate, new_estimate: str | None, amount_name: str, amount: str | None
) -> dict[str, str | None]:
    if adjust == "new" and not new_estimate:
        raise ValueError("adjust_estimate='new' needs new_estimate (e.g. '2h')")
    if adjust == "manual" and not amount:
        raise ValueError(f"adjust_estimate='manual' needs {amount_name}")
    return {"adjustEstimate": adjust, "newEstimate": new_estimate, amount_name: amount}


class WorklogsAPI(Resource):
    async def add(
        self,
        issue: str,
        *,
        started: datetime,
        time_spent_seconds: int,
        comment: Node | str | None = None,
        adjust_estimate: AdjustEstimate = "auto",
        new_estimate: str | None = None,
        reduce_by: str | None = None,
        properties: Mapping[str, Any] | None = None,
        notify_users: bool = False,
    ) -> Worklog:
        body = _body(started, time_spent_seconds, comment, properties)
        params = {
            **_estimate_params(adjust_estimate, new_estimate, "reduceBy", reduce_by),
            "notifyUsers": str(notify_users).lower(),
            "expand": "properties",
        }
        response = await self._r.request(
            "POST", "/issue/{issue}/worklog", path={"issue": issue}, params=params, json=body, issue=issue
        )
        return parse(Worklog, response)

    async def update(
        self,
        issue: str,
        worklog_id: str,
        *,
        started: datetime | None = None,
        time_spent_seconds: int | None = None,
        comment: Node | str | None = None,
        adjust_estimate: Literal["auto", "leave", "new"] = "auto",
        new_estimate: str | None = None,
        properties: Mapping[str, Any] | None = None,
        notify_users: bool = False,
    ) -> Worklog:
        body = _body(started, time_spent_seconds, comment, properties)
        params = {
            **_estimate_params(adjust_estimate, new_estimate, "reduceBy", None),
            "notifyUsers": str(notify_users).lower(),
            "expand": "properties",
        }
        response = await self._r.request(
            "PUT",
            "/issue/{issue}/worklog/{worklog}",
            path={"issue": issue, "worklog": worklog_id},
            params=params,
            json=body,
            issue=issue,
        )
        return parse(Worklog, response)

    async def delete(
        self,
        issue: str,
        worklog_id: str,
        *,
        adjust_estimate: AdjustEstimate = "auto",
        new_estimate: str | None = None,
        increase_by: str | None = None,
        notify_users: bool = False,
    ) -> None:
        params = {
            **_estimate_params(adjust_estimate, new_estimate, "increaseBy", increase_by),
            "notifyUsers": str(notify_users).lower(),
        }
        await self._r.request(
            "DELETE",
            "/issue/{issue}/worklog/{worklog}",
            path={"issue": issue, "worklog": worklog_id},
            params=params,
            issue=issue,
        )

    async def get(self, issue: str, worklog_id: str) -> Worklog:
        return await self._r.get_model(
            Worklog,
            "/issue/{issue}/worklog/{worklog}",
            path={"issue": issue, "worklog": worklog_id},
            params={"expand": "properties"},
        )

    async def list(self, issue: str, *, page_size: int = 1000) -> list[Worklog]:
        found: list[Worklog] = []
        while True:
            params = {"startAt": len(found), "maxResults": page_size, "expand": "properties"}
            page = await self._r.get_model(
                WorklogPage, "/issue/{issue}/worklog", path={"issue": issue}, params=params
            )
            found.extend(page.worklogs)
            if not page.worklogs or len(found) >= page.total:
                return found

    async def updated_page(self, since_ms: int, *, with_properties: bool = False) -> WorklogChanges:
        params = {"since": since_ms, "expand": "properties" if with_properties else None}
        return await self._r.get_model(WorklogChanges, "/worklog/updated", params=params)

    async def deleted_page(self, since_ms: int) -> WorklogChanges:
        return await self._r.get_model(WorklogChanges, "/worklog/deleted", params={"since": since_ms})

    async def updated_since(
        self, since_ms: int, *, with_properties: bool = False
    ) -> AsyncIterator[WorklogChange]:
        """Every change since `since_ms` (epoch ms), following the feed's pages. Jira leaves out the
        last minute, so keep the highest `updated_time` seen as the next watermark."""
        while True:
            page = await self.updated_page(since_ms, with_properties=with_properties)
            for change in page.values:
                yield change
            if page.last_page or page.until <= since_ms:
                return
            since_ms = page.until

    async def deleted_since(self, since_ms: int) -> AsyncIterator[WorklogChange]:
        while True:
            page = await self.deleted_page(since_ms)
            for change in page.values:
                yield change
            if page.last_page or page.until <= since_ms:
                return
            since_ms = page.until

    async def by_ids(self, ids: Sequence[int], *, with_properties: bool = False) -> builtins.list[Worklog]:
        """The worklogs with these ids, in calls of up to 1000."""
        found: builtins.list[Worklog] = []
        params = {"expand": "properties" if with_properties else None}
        for start in range(0, len(ids), LIST_MAX):
            chunk = [int(i) for i in ids[start : start + LIST_MAX]]
            response = await self._r.request("POST", "/worklog/list", params=params, json={"ids": chunk})
            found.extend(parse_list(Worklog, response))
        return found


def _body(
    started: datetime | None,
    seconds: int | None,
    comment: Node | str | None,
    properties: Mapping[str, Any] | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if started is not None:
        body["started"] = jira_datetime(started)
    if seconds is not None:
        body["timeSpentSeconds"] = int(seconds)
    if comment is not None:
        body["comment"] = from_text(comment) if isinstance(comment, str) else comment
    if properties:
        body["properties"] = property_list(properties)
    return body
