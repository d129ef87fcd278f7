"""Worklogs: list, add, get, update and delete on an issue, with Jira's `adjustEstimate` arithmetic on
the remaining estimate, and the `/worklog/updated`, `/worklog/deleted` and `/worklog/list` feeds.

Jira's own wording is kept: worklog validation and permission failures answer 400 (not 403), with
"Worklog must not be null." after the reason, because that is what Jira Cloud sends (its REST layer
goes on to create a worklog that failed validation). Durations are whole minutes: `timeSpentSeconds`
is cut to minutes, so anything under 60 seconds is "zero".
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request, Response

from jira_emulator import render
from jira_emulator.adf import rich_text_in
from jira_emulator.context import Ctx, caller
from jira_emulator.errors import JiraError
from jira_emulator.mutations import publish, record_change, touch
from jira_emulator.routes.issues import visible_issue
from jira_emulator.state import Account, ChangeItem, DeletedWorklog, Issue, Project, Site, Worklog

router = APIRouter()

_NULL_WORKLOG = "Worklog must not be null."
_NOT_EDITABLE = "You can not edit the issue as it is in a non-editable workflow state."
_BAD_STARTED = "Invalid date format. Please enter the date in the format \"yyyy-MM-dd'T'HH:mm:ss.SSSZ\"."
_UNITS = {"w": 5 * 8 * 3600, "d": 8 * 3600, "h": 3600, "m": 60, "": 60}  # a bare number is minutes
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([wdhm]?)")
_STARTED = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}[+-]\d{4}")
FEED_PAGE = 1000  # Jira's page size for /worklog/updated and /worklog/deleted, and the /worklog/list cap
FEED_QUIET_S = 60  # the feeds leave out changes made in the minute before the request, as Jira does


def parse_duration(text: str) -> int | None:
    """Jira's duration text (`1w 2d 3h 4m`, `1.5h`, `90` = minutes) in seconds, cut to whole minutes;
    None when it is not a duration."""
    text = text.strip().lower()
    if not text:
        return None
    seconds = 0.0
    position = 0
    for match in _DURATION_PART.finditer(text):
        if text[position : match.start()].strip():
            return None
        seconds += float(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    if text[position:].strip() or position == 0:
        return None
    return int(seconds) // 60 * 60


def parse_started(value: Any) -> datetime:
    if not isinstance(value, str) or not _STARTED.fullmatch(value):
        raise JiraError(400, errors={"started": _BAD_STARTED})
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z")


async def read_object(request: Request) -> dict[str, Any]:
    """The JSON object body, or Jira's 400. Read before any state is touched (the only await)."""
    raw = await request.body()
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        raise JiraError(400, "Unexpected character in the request body: it is not valid JSON.") from None
    if not isinstance(body, dict):
        raise JiraError(400, "Can not deserialize the request body: a JSON object is expected.")
    return body


def _time_spent(body: dict[str, Any], required: bool) -> int | None:
    """Seconds from `timeSpentSeconds` (which wins) or `timeSpent`; raises Jira's field errors."""
    seconds = body.get("timeSpentSeconds")
    text = body.get("timeSpent")
    if seconds is None and text is None:
        if required:
            raise JiraError(
                400, _NULL_WORKLOG, errors={"timeLogged": "You must indicate the time spent working."}
            )
        return None
    if seconds is not None:
        # Jira's JSON reader coerces "3600" and 3600.0 to a number (the `jira` client sends a string).
        if isinstance(seconds, str) and seconds.strip().isdigit():
            seconds = int(seconds)
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
            raise JiraError(400, _NULL_WORKLOG, errors={"timeLogged": "Invalid time duration entered."})
        spent: int | None = int(seconds) // 60 * 60
    else:
        spent = parse_duration(text) if isinstance(text, str) else None
        if spent is None:
            raise JiraError(400, _NULL_WORKLOG, errors={"timeLogged": "Invalid time duration entered."})
    if spent == 0:
        raise JiraError(400, _NULL_WORKLOG, errors={"timeLogged": "Time Spent can not be zero."})
    return spent


def _amount(value: str | None, field: str, missing: str, invalid: str, *, null_worklog: bool) -> int:
    prefix = (_NULL_WORKLOG,) if null_worklog else ()
    if not value:
        raise JiraError(400, *prefix, errors={field: missing})
    seconds = parse_duration(value)
    if seconds is None:
        raise JiraError(400, *prefix, errors={field: invalid})
    return seconds


def _new_estimate(value: str | None, *, null_worklog: bool = True) -> int:
    return _amount(
        value,
        "newEstimate",
        "You must supply a valid new estimate.",
        "Invalid new estimate entered.",
        null_worklog=null_worklog,
    )


def _adjustment(value: str | None, *, null_worklog: bool = True) -> int:
    return _amount(
        value,
        "adjustmentAmount",
        "You must supply a valid amount of time to adjust the estimate by.",
        "Invalid time entered for adjusting the estimate.",
        null_worklog=null_worklog,
    )


def _check_mode(mode: str, allowed: tuple[str, ...]) -> None:
    if mode not in allowed:
        raise JiraError(
            400, f"Invalid value for adjustEstimate: '{mode}'. Valid values are: {', '.join(allowed)}."
        )


def _check_editable(ctx: Ctx, issue: Issue) -> None:
    status = ctx.site.statuses.get(issue.status)
    if status is not None and not status.editable:
        raise JiraError(400, _NOT_EDITABLE, _NULL_WORKLOG)


def _may(
    project: Project, me: Account, worklog: Worklog, own: str, every: str, verb: str, *more: str
) -> None:
    """Edit/delete permission on a worklog: the `…_ALL_…` grant, or the `…_OWN_…` one for your own."""
    if not project.may_change(me.account_id, worklog.author, own, every):
        raise JiraError(
            400, f"{me.display_name}, you do not have permission to {verb} the specified worklog.", *more
        )


def _find(issue: Issue, worklog_id: str) -> Worklog:
    for worklog in issue.worklogs:
        if worklog.id == worklog_id:
            return worklog
    raise JiraError(404, f"Cannot find worklog with id: {worklog_id}.")


def _comment(ctx: Ctx, body: dict[str, Any]) -> dict[str, Any] | None:
    try:
        return rich_text_in(body.get("comment"), ctx.api_version)
    except ValueError as exc:
        raise JiraError(400, _NULL_WORKLOG, errors={"comment": str(exc)}) from None


def _properties_in(body: dict[str, Any]) -> dict[str, Any]:
    raw = body.get("properties") or []
    if not isinstance(raw, list) or not all(
        isinstance(p, dict) and isinstance(p.get("key"), str) for p in raw
    ):
        raise JiraError(400, "Worklog properties must be a list of objects with a key and a value.")
    return {p["key"]: p.get("value") for p in raw}


def worklog_out(ctx: Ctx, issue: Issue, worklog: Worklog, expand: str | None = None) -> dict[str, Any]:
    body = render.worklog_json(ctx, issue, worklog)
    if worklog.visibility is not None:
        body["visibility"] = worklog.visibility
    if expand and "properties" in expand.split(","):
        body["properties"] = [{"key": k, "value": v} for k, v in worklog.properties.items()]
    return body


def _seconds_text(seconds: int | None) -> str | None:
    return None if not seconds else str(seconds)


def _record_time(
    ctx: Ctx, issue: Issue, me: Account, spent_before: int, remaining_before: int | None
) -> None:
    """The changelog Jira writes for a worklog change: `timeestimate` then `timespent`, in seconds."""
    items = []
    if issue.remaining_estimate_seconds != remaining_before:
        before, after = remaining_before, issue.remaining_estimate_seconds
        items.append(
            ChangeItem(
                "timeestimate",
                "timeestimate",
                "jira",
                _seconds_text(before),
                _seconds_text(before),
                _seconds_text(after),
                _seconds_text(after),
            )
        )
    spent_after = issue.time_spent_seconds
    if spent_after != spent_before:
        items.append(
            ChangeItem(
                "timespent",
                "timespent",
                "jira",
                _seconds_text(spent_before),
                _seconds_text(spent_before),
                _seconds_text(spent_after),
                _seconds_text(spent_after),
            )
        )
    if record_change(ctx, issue, me, items, publish_event=False) is None:
        touch(ctx, issue)


@router.get("/issue/{issue_ref}/worklog")
async def list_worklogs(
    request: Request,
    issue_ref: str,
    startAt: int = 0,
    maxResults: int = 5000,
    startedAfter: int | None = None,
    startedBefore: int | None = None,
    expand: str | None = None,
) -> dict[str, Any]:
    ctx, me = caller(request)
    issue, _ = visible_issue(ctx, me, issue_ref)
    matching = [
        w
        for w in sorted(issue.worklogs, key=lambda w: w.created)
        if (startedAfter is None or _ms(w.started) >= startedAfter)
        and (startedBefore is None or _ms(w.started) < startedBefore)
    ]
    page = matching[max(startAt, 0) : max(startAt, 0) + max(maxResults, 0)]
    return {
        "startAt": startAt,
        "maxResults": maxResults,
        "total": len(matching),
        "worklogs": [worklog_out(ctx, issue, w, expand) for w in page],
    }


@router.post("/issue/{issue_ref}/worklog", status_code=201)
async def add_worklog(
    request: Request,
    issue_ref: str,
    adjustEstimate: str = "auto",
    newEstimate: str | None = None,
    reduceBy: str | None = None,
    notifyUsers: bool = True,  # accepted; the emulator sends no e-mail
    expand: str | None = None,
) -> dict[str, Any]:
    ctx, me = caller(request)
    body = await read_object(request)
    issue, project = visible_issue(ctx, me, issue_ref)
    _check_mode(adjustEstimate, ("auto", "leave", "new", "manual"))
    _check_editable(ctx, issue)
    if not project.has_permission(me.account_id, "WORK_ON_ISSUES"):
        raise JiraError(
            400,
            f"{me.display_name}, you do not have the permission to associate a worklog to this issue.",
            _NULL_WORKLOG,
        )
    spent = _time_spent(body, required=True) or 0  # never 0: required=True raises instead
    started = parse_started(body["started"]) if body.get("started") is not None else ctx.state.now()
    comment = _comment(ctx, body)
    properties = _properties_in(body)
    remaining = issue.remaining_estimate_seconds
    if adjustEstimate == "auto":
        remaining = max(0, (remaining or 0) - spent)
    elif adjustEstimate == "new":
        remaining = _new_estimate(newEstimate)
    elif adjustEstimate == "manual":
        remaining = max(0, (remaining or 0) - _adjustment(reduceBy))
    # Everything is validated: from here on the change is applied in one go.
    now = ctx.state.now()
    worklog = Worklog(
        id=ctx.site.next_id(),
        issue_id=issue.id,
        author=me.account_id,
        update_author=me.account_id,
        comment=comment,
        started=started,
        time_spent_seconds=spent,
        created=now,
        updated=now,
        properties=properties,
        visibility=body.get("visibility") if isinstance(body.get("visibility"), dict) else None,
    )
    spent_before, remaining_before = issue.time_spent_seconds, issue.remaining_estimate_seconds
    issue.worklogs.append(worklog)
    issue.remaining_estimate_seconds = remaining
    _record_time(ctx, issue, me, spent_before, remaining_before)
    publish(ctx, "worklog_created", issue, me, event_type="issue_work_logged", worklog=worklog)
    return worklog_out(ctx, issue, worklog, expand)


@router.get("/issue/{issue_ref}/worklog/{worklog_id}")
async def get_worklog(
    request: Request, issue_ref: str, worklog_id: str, expand: str | None = None
) -> dict[str, Any]:
    ctx, me = caller(request)
    issue, _ = visible_issue(ctx, me, issue_ref)
    return worklog_out(ctx, issue, _find(issue, worklog_id), expand)


@router.put("/issue/{issue_ref}/worklog/{worklog_id}")
async def update_worklog(
    request: Request,
    issue_ref: str,
    worklog_id: str,
    adjustEstimate: str = "auto",
    newEstimate: str | None = None,
    notifyUsers: bool = True,  # accepted; the emulator sends no e-mail
    expand: str | None = None,
) -> dict[str, Any]:
    ctx, me = caller(request)
    body = await read_object(request)
    issue, project = visible_issue(ctx, me, issue_ref)
    worklog = _find(issue, worklog_id)
    _check_mode(adjustEstimate, ("auto", "leave", "new"))
    _check_editable(ctx, issue)
    _may(project, me, worklog, "EDIT_OWN_WORKLOGS", "EDIT_ALL_WORKLOGS", "edit", _NULL_WORKLOG)
    spent = _time_spent(body, required=False) or worklog.time_spent_seconds
    started = parse_started(body["started"]) if body.get("started") is not None else worklog.started
    comment = _comment(ctx, body) if "comment" in body else worklog.comment
    properties = {**worklog.properties, **_properties_in(body)}
    remaining = issue.remaining_estimate_seconds
    if adjustEstimate == "auto":
        remaining = max(0, (remaining or 0) - (spent - worklog.time_spent_seconds))
    elif adjustEstimate == "new":
        remaining = _new_estimate(newEstimate)
    spent_before, remaining_before = issue.time_spent_seconds, issue.remaining_estimate_seconds
    worklog.time_spent_seconds = spent
    worklog.started = started
    worklog.comment = comment
    worklog.properties = properties
    if isinstance(body.get("visibility"), dict):
        worklog.visibility = body["visibility"]
    worklog.update_author = me.account_id
    worklog.updated = ctx.state.now()
    issue.remaining_estimate_seconds = remaining
    _record_time(ctx, issue, me, spent_before, remaining_before)
    publish(ctx, "worklog_updated", issue, me, event_type="issue_worklog_updated", worklog=worklog)
    return worklog_out(ctx, issue, worklog, expand)


@router.delete("/issue/{issue_ref}/worklog/{worklog_id}", status_code=204)
async def delete_worklog(
    request: Request,
    issue_ref: str,
    worklog_id: str,
    adjustEstimate: str = "auto",
    newEstimate: str | None = None,
    increaseBy: str | None = None,
    notifyUsers: bool = True,  # accepted; the emulator sends no e-mail
) -> Response:
    ctx, me = caller(request)
    issue, project = visible_issue(ctx, me, issue_ref)
    worklog = _find(issue, worklog_id)
    _check_mode(adjustEstimate, ("auto", "leave", "new", "manual"))
    _check_editable(ctx, issue)
    _may(project, me, worklog, "DELETE_OWN_WORKLOGS", "DELETE_ALL_WORKLOGS", "delete")
    remaining = issue.remaining_estimate_seconds
    if adjustEstimate == "auto":
        remaining = (remaining or 0) + worklog.time_spent_seconds
    elif adjustEstimate == "new":
        remaining = _new_estimate(newEstimate, null_worklog=False)
    elif adjustEstimate == "manual":
        remaining = (remaining or 0) + _adjustment(increaseBy, null_worklog=False)
    spent_before, remaining_before = issue.time_spent_seconds, issue.remaining_estimate_seconds
    issue.worklogs.remove(worklog)
    issue.remaining_estimate_seconds = remaining
    ctx.site.deleted_worklogs.append(DeletedWorklog(worklog.id, ctx.state.now()))
    _record_time(ctx, issue, me, spent_before, remaining_before)
    publish(ctx, "worklog_deleted", issue, me, event_type="issue_worklog_deleted", worklog=worklog)
    return Response(status_code=204)


# --- Feeds across the site ---------------------------------------------------------------------------


# (epoch ms of the change, worklog id, its properties when expanded)
Change = tuple[int, str, list[dict[str, Any]]]


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _browsable(site: Site, me: Account) -> list[tuple[Issue, Worklog]]:
    return [
        (issue, w)
        for issue in site.issues.values()
        if site.projects[issue.project_key].has_permission(me.account_id, "BROWSE_PROJECTS")
        for w in issue.worklogs
    ]


def _feed(
    ctx: Ctx, path: str, since: int, changes: list[tuple[int, str, list[dict[str, Any]]]]
) -> dict[str, Any]:
    """One page of a change feed: oldest first, at most 1000, nothing from the last minute."""
    quiet = _ms(ctx.state.now() - timedelta(seconds=FEED_QUIET_S))
    due = sorted((c for c in changes if since <= c[0] < quiet), key=lambda c: (c[0], int(c[1])))
    page = due[:FEED_PAGE]
    until = page[-1][0] if page else since
    return {
        "values": [{"worklogId": int(wid), "updatedTime": t, "properties": props} for t, wid, props in page],
        "since": since,
        "until": until,
        "self": ctx.rest(f"{path}?since={since}"),
        "nextPage": ctx.rest(f"{path}?since={until}"),
        "lastPage": len(due) <= FEED_PAGE,
    }


@router.get("/worklog/updated")
async def updated_worklogs(request: Request, since: int = 0, expand: str | None = None) -> dict[str, Any]:
    ctx, me = caller(request)
    with_props = bool(expand and "properties" in expand.split(","))
    changes: list[Change] = [
        (
            _ms(w.updated),
            w.id,
            [{"key": k, "value": v} for k, v in w.properties.items()] if with_props else [],
        )
        for _, w in _browsable(ctx.site, me)
    ]
    return _feed(ctx, "/worklog/updated", since, changes)


@router.get("/worklog/deleted")
async def deleted_worklogs(request: Request, since: int = 0) -> dict[str, Any]:
    ctx, _ = caller(request)
    changes: list[Change] = [(_ms(d.deleted_at), d.worklog_id, []) for d in ctx.site.deleted_worklogs]
    return _feed(ctx, "/worklog/deleted", since, changes)


@router.post("/worklog/list")
async def worklogs_by_id(request: Request, expand: str | None = None) -> list[dict[str, Any]]:
    ctx, me = caller(request)
    body = await read_object(request)
    ids = body.get("ids")
    if not isinstance(ids, list) or not ids:
        raise JiraError(400, "The request must contain a non-empty list of worklog IDs.")
    if len(ids) > FEED_PAGE:
        raise JiraError(400, f"The number of worklog IDs must not exceed {FEED_PAGE}.")
    wanted = {str(i) for i in ids if isinstance(i, int | str) and not isinstance(i, bool)}
    return [worklog_out(ctx, issue, w, expand) for issue, w in _browsable(ctx.site, me) if w.id in wanted]
