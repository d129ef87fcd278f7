"""Remote issue links: list (or one by `globalId`), create-or-update by `globalId`, update, delete.

Jira records adding or removing a remote link in the issue's changelog (field `RemoteIssueLink`,
"This issue links to …"), which also moves `updated`; webhooks see it as `jira:issue_updated`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from jira_emulator.context import Ctx, caller, require
from jira_emulator.errors import JiraError
from jira_emulator.mutations import record_change
from jira_emulator.routes.issues import visible_issue
from jira_emulator.routes.worklogs import read_object
from jira_emulator.state import Account, ChangeItem, Issue, Project, RemoteLink

router = APIRouter()

_NO_LINK_PERMISSION = "You do not have permission to link issues in this project."
GLOBAL_ID_MAX = 255


def _link_json(ctx: Ctx, issue: Issue, link: RemoteLink) -> dict[str, Any]:
    body: dict[str, Any] = {"id": link.id, "self": ctx.rest(f"/issue/{issue.key}/remotelink/{link.id}")}
    if link.global_id is not None:
        body["globalId"] = link.global_id
    if link.application is not None:
        body["application"] = link.application
    if link.relationship is not None:
        body["relationship"] = link.relationship
    body["object"] = link.object
    return body


def _validated(body: dict[str, Any]) -> tuple[str | None, dict[str, Any], dict[str, Any] | None, str | None]:
    """(globalId, object, application, relationship) from a RemoteIssueLinkRequest, or Jira's 400."""
    obj = body.get("object")
    errors: dict[str, str] = {}
    if not isinstance(obj, dict):
        obj = {}
    if not isinstance(obj.get("title"), str) or not obj["title"].strip():
        errors["title"] = "'title' is required."
    if not isinstance(obj.get("url"), str) or not obj["url"].strip():
        errors["url"] = "'url' is required."
    global_id = body.get("globalId")
    if global_id is not None and (not isinstance(global_id, str) or len(global_id) > GLOBAL_ID_MAX):
        errors["globalId"] = f"The global ID must be a string of at most {GLOBAL_ID_MAX} characters."
    if errors:
        raise JiraError(400, errors=errors)
    application = body.get("application") if isinstance(body.get("application"), dict) else None
    relationship = body.get("relationship") if isinstance(body.get("relationship"), str) else None
    return global_id or None, dict(obj), application, relationship


def _find(issue: Issue, link_id: str) -> RemoteLink:
    if not link_id.isdigit():
        raise JiraError(400, f"Invalid remote link id: '{link_id}'.")
    for link in issue.remote_links:
        if link.id == int(link_id):
            return link
    raise JiraError(404, f"No remote link with id '{link_id}' exists on issue {issue.key}.")


def _change(link: RemoteLink, *, added: bool) -> ChangeItem:
    text = f'This issue links to "{link.object.get("title", "")}"'
    ident = str(link.id)
    if added:
        return ChangeItem("RemoteIssueLink", "RemoteIssueLink", "jira", None, None, ident, text)
    return ChangeItem("RemoteIssueLink", "RemoteIssueLink", "jira", ident, text, None, None)


def _may_link(project: Project, me: Account) -> None:
    require(project, me, "LINK_ISSUES", _NO_LINK_PERMISSION)


@router.get("/issue/{issue_ref}/remotelink")
async def list_links(request: Request, issue_ref: str, globalId: str | None = None) -> Any:
    ctx, me = caller(request)
    issue, _ = visible_issue(ctx, me, issue_ref)
    if globalId is not None:
        for link in issue.remote_links:
            if link.global_id == globalId:
                return _link_json(ctx, issue, link)
        raise JiraError(404, f"No remote link with global id '{globalId}' exists on issue {issue.key}.")
    return [_link_json(ctx, issue, link) for link in issue.remote_links]


@router.post("/issue/{issue_ref}/remotelink")
async def upsert_link(request: Request, issue_ref: str) -> JSONResponse:
    ctx, me = caller(request)
    body = await read_object(request)
    issue, project = visible_issue(ctx, me, issue_ref)
    _may_link(project, me)
    global_id, obj, application, relationship = _validated(body)
    existing = next((lk for lk in issue.remote_links if global_id and lk.global_id == global_id), None)
    if existing is not None:
        # Jira replaces the whole link: fields missing from the request become null.
        existing.object, existing.application, existing.relationship = obj, application, relationship
        ident = {"id": existing.id, "self": ctx.rest(f"/issue/{issue.key}/remotelink/{existing.id}")}
        return JSONResponse(ident, status_code=200)
    link = RemoteLink(int(ctx.site.next_id()), global_id, obj, application, relationship)
    issue.remote_links.append(link)
    record_change(ctx, issue, me, [_change(link, added=True)])
    return JSONResponse(
        {"id": link.id, "self": ctx.rest(f"/issue/{issue.key}/remotelink/{link.id}")}, status_code=201
    )


@router.delete("/issue/{issue_ref}/remotelink", status_code=204)
async def delete_link_by_global_id(request: Request, issue_ref: str, globalId: str | None = None) -> Response:
    ctx, me = caller(request)
    issue, project = visible_issue(ctx, me, issue_ref)
    _may_link(project, me)
    if not globalId:
        raise JiraError(400, "The global ID of the remote link to delete is required.")
    link = next((lk for lk in issue.remote_links if lk.global_id == globalId), None)
    if link is None:
        raise JiraError(404, f"No remote link with global id '{globalId}' exists on issue {issue.key}.")
    issue.remote_links.remove(link)
    record_change(ctx, issue, me, [_change(link, added=False)])
    return Response(status_code=204)


@router.get("/issue/{issue_ref}/remotelink/{link_id}")
async def get_link(request: Request, issue_ref: str, link_id: str) -> dict[str, Any]:
    ctx, me = caller(request)
    issue, _ = visible_issue(ctx, me, issue_ref)
    return _link_json(ctx, issue, _find(issue, link_id))


@router.put("/issue/{issue_ref}/remotelink/{link_id}", status_code=204)
async def update_link(request: Request, issue_ref: str, link_id: str) -> Response:
    ctx, me = caller(request)
    body = await read_object(request)
    issue, project = visible_issue(ctx, me, issue_ref)
    _may_link(project, me)
    link = _find(issue, link_id)
    global_id, obj, application, relationship = _validated(body)
    clash = next((lk for lk in issue.remote_links if global_id and lk.global_id == global_id), link)
    if clash is not link:
        raise JiraError(
            400, errors={"globalId": f"A remote link with global id '{global_id}' already exists."}
        )
    link.global_id, link.object, link.application, link.relationship = (
        global_id,
        obj,
        application,
        relationship,
    )
    return Response(status_code=204)


@router.delete("/issue/{issue_ref}/remotelink/{link_id}", status_code=204)
async def delete_link(request: Request, issue_ref: str, link_id: str) -> Response:
    ctx, me = caller(request)
    issue, project = visible_issue(ctx, me, issue_ref)
    require(project, me, "EDIT_ISSUES", "You do not have permission to edit issues in this project.")
    _may_link(project, me)
    link = _find(issue, link_id)
    issue.remote_links.remove(link)
    record_change(ctx, issue, me, [_change(link, added=False)])
    return Response(status_code=204)
