"""Entity properties on issues, comments and worklogs: list keys, get, set (201 created / 200 updated)
and delete. A value is any non-empty JSON value of at most 32 768 bytes; the key at most 255 characters.

Setting or deleting an issue property publishes `issue_property_set` / `issue_property_deleted` but, as
in Jira, neither moves the issue's `updated` nor writes a changelog entry.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request, Response

from jira_emulator.context import Ctx, caller, require
from jira_emulator.errors import JiraError
from jira_emulator.mutations import publish
from jira_emulator.routes.issues import visible_issue
from jira_emulator.state import Account, Comment, Issue, Project, Worklog

router = APIRouter()

VALUE_MAX_BYTES = 32768
KEY_MAX = 255


def _key_ok(key: str) -> None:
    if len(key) > KEY_MAX:
        raise JiraError(400, f"The property key cannot be longer than {KEY_MAX} characters.")


async def _value(request: Request) -> Any:
    """The request body as a JSON value (the only await of a PUT: read before any state)."""
    raw = await request.body()
    if not raw.strip():
        raise JiraError(400, "The property value cannot be empty.")
    if len(raw) > VALUE_MAX_BYTES:
        raise JiraError(400, f"The property value cannot be longer than {VALUE_MAX_BYTES} bytes.")
    try:
        return json.loads(raw)
    except ValueError:
        raise JiraError(400, "The property value must be valid JSON.") from None


def _missing(key: str) -> JiraError:
    return JiraError(404, f"The property with key '{key}' does not exist.")


def _keys(ctx: Ctx, base: str, properties: dict[str, Any]) -> dict[str, Any]:
    return {"keys": [{"self": ctx.rest(f"{base}/{k}"), "key": k} for k in properties]}


def _get(properties: dict[str, Any], key: str) -> dict[str, Any]:
    if key not in properties:
        raise _missing(key)
    return {"key": key, "value": properties[key]}


def _set(properties: dict[str, Any], key: str, value: Any) -> Response:
    created = key not in properties
    properties[key] = value
    return Response(status_code=201 if created else 200)


# --- Issue properties --------------------------------------------------------------------------------


@router.get("/issue/{issue_ref}/properties")
async def issue_property_keys(request: Request, issue_ref: str) -> dict[str, Any]:
    ctx, me = caller(request)
    issue, _ = visible_issue(ctx, me, issue_ref)
    return _keys(ctx, f"/issue/{issue.key}/properties", issue.properties)


@router.get("/issue/{issue_ref}/properties/{key}")
async def get_issue_property(request: Request, issue_ref: str, key: str) -> dict[str, Any]:
    ctx, me = caller(request)
    issue, _ = visible_issue(ctx, me, issue_ref)
    return _get(issue.properties, key)


@router.put("/issue/{issue_ref}/properties/{key}")
async def set_issue_property(request: Request, issue_ref: str, key: str) -> Response:
    ctx, me = caller(request)
    value = await _value(request)
    issue, project = visible_issue(ctx, me, issue_ref)
    require(project, me, "EDIT_ISSUES", "You do not have permission to edit issues in this project.")
    _key_ok(key)
    response = _set(issue.properties, key, value)
    publish(ctx, "issue_property_set", issue, me, property_key=key)
    return response


@router.delete("/issue/{issue_ref}/properties/{key}", status_code=204)
async def delete_issue_property(request: Request, issue_ref: str, key: str) -> Response:
    ctx, me = caller(request)
    issue, project = visible_issue(ctx, me, issue_ref)
    require(project, me, "EDIT_ISSUES", "You do not have permission to edit issues in this project.")
    if key not in issue.properties:
        raise _missing(key)
    del issue.properties[key]
    publish(ctx, "issue_property_deleted", issue, me, property_key=key)
    return Response(status_code=204)


# --- Comment properties ------------------------------------------------------------------------------


def _comment(ctx: Ctx, me: Account, comment_id: str) -> tuple[Issue, Project, Comment]:
    """The comment by id anywhere on the site, if the caller may browse its issue's project."""
    for issue in ctx.site.issues.values():
        for comment in issue.comments:
            if comment.id == comment_id:
                project = ctx.site.projects[issue.project_key]
                if project.has_permission(me.account_id, "BROWSE_PROJECTS"):
                    return issue, project, comment
    raise JiraError(404, f"Can not find a comment for the id: {comment_id}.")


def _may_edit_comment(project: Project, me: Account, comment: Comment) -> None:
    if not project.may_change(me.account_id, comment.author, "EDIT_OWN_COMMENTS", "EDIT_ALL_COMMENTS"):
        raise JiraError(403, "You do not have the permission to edit or delete this comment.")


@router.get("/comment/{comment_id}/properties")
async def comment_property_keys(request: Request, comment_id: str) -> dict[str, Any]:
    ctx, me = caller(request)
    _, _, comment = _comment(ctx, me, comment_id)
    return _keys(ctx, f"/comment/{comment.id}/properties", comment.properties)


@router.get("/comment/{comment_id}/properties/{key}")
async def get_comment_property(request: Request, comment_id: str, key: str) -> dict[str, Any]:
    ctx, me = caller(request)
    _, _, comment = _comment(ctx, me, comment_id)
    return _get(comment.properties, key)


@router.put("/comment/{comment_id}/properties/{key}")
async def set_comment_property(request: Request, comment_id: str, key: str) -> Response:
    ctx, me = caller(request)
    value = await _value(request)
    _, project, comment = _comment(ctx, me, comment_id)
    _may_edit_comment(project, me, comment)
    _key_ok(key)
    return _set(comment.properties, key, value)


@router.delete("/comment/{comment_id}/properties/{key}", status_code=204)
async def delete_comment_property(request: Request, comment_id: str, key: str) -> Response:
    ctx, me = caller(request)
    _, project, comment = _comment(ctx, me, comment_id)
    _may_edit_comment(project, me, comment)
    if key not in comment.properties:
        raise _missing(key)
    del comment.properties[key]
    return Response(status_code=204)


# --- Worklog properties ------------------------------------------------------------------------------


def _worklog(ctx: Ctx, me: Account, issue_ref: str, worklog_id: str) -> tuple[Issue, Project, Worklog]:
    issue, project = visible_issue(ctx, me, issue_ref)
    for worklog in issue.worklogs:
        if worklog.id == worklog_id:
            return issue, project, worklog
    raise JiraError(404, f"Cannot find worklog with id: {worklog_id}.")


def _may_edit_worklog(project: Project, me: Account, worklog: Worklog) -> None:
    if not project.may_change(me.account_id, worklog.author, "EDIT_OWN_WORKLOGS", "EDIT_ALL_WORKLOGS"):
        raise JiraError(403, f"{me.display_name}, you do not have permission to edit the specified worklog.")


@router.get("/issue/{issue_ref}/worklog/{worklog_id}/properties")
async def worklog_property_keys(request: Request, issue_ref: str, worklog_id: str) -> dict[str, Any]:
    ctx, me = caller(request)
    issue, _, worklog = _worklog(ctx, me, issue_ref, worklog_id)
    return _keys(ctx, f"/issue/{issue.key}/worklog/{worklog.id}/properties", worklog.properties)


@router.get("/issue/{issue_ref}/worklog/{worklog_id}/properties/{key}")
async def get_worklog_property(request: Request, issue_ref: str, worklog_id: str, key: str) -> dict[str, Any]:
    ctx, me = caller(request)
    _, _, worklog = _worklog(ctx, me, issue_ref, worklog_id)
    return _get(worklog.properties, key)


@router.put("/issue/{issue_ref}/worklog/{worklog_id}/properties/{key}")
async def set_worklog_property(request: Request, issue_ref: str, worklog_id: str, key: str) -> Response:
    ctx, me = caller(request)
    value = await _value(request)
    _, project, worklog = _worklog(ctx, me, issue_ref, worklog_id)
    _may_edit_worklog(project, me, worklog)
    _key_ok(key)
    return _set(worklog.properties, key, value)


@router.delete("/issue/{issue_ref}/worklog/{worklog_id}/properties/{key}", status_code=204)
async def delete_worklog_property(request: Request, issue_ref: str, worklog_id: str, key: str) -> Response:
    ctx, me = caller(request)
    _, project, worklog = _worklog(ctx, me, issue_ref, worklog_id)
    _may_edit_worklog(project, me, worklog)
    if key not in worklog.properties:
        raise _missing(key)
    del worklog.properties[key]
    return Response(status_code=204)
