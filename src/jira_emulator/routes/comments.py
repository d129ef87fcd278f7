"""Comments on issues: list, add, read, edit, delete, and the bulk list by id."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from jira_emulator import mutations, render
from jira_emulator.adf import rich_text_in
from jira_emulator.context import Ctx, caller, require
from jira_emulator.errors import JiraError
from jira_emulator.mutations import publish, touch
from jira_emulator.routes.issues import visible_issue
from jira_emulator.state import Account, Comment, Issue, Project

router = APIRouter()


def _read_body(ctx: Ctx, raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise JiraError(400, "Can not deserialize the request body: a JSON object is expected.")
    try:
        body = rich_text_in(raw.get("body"), ctx.api_version)
    except ValueError as exc:
        raise JiraError(400, errors={"comment": str(exc)}) from None
    if body is None or not body.get("content"):
        raise JiraError(400, errors={"comment": "Comment body can not be empty!"})
    return {"body": body, "visibility": raw.get("visibility"), "properties": raw.get("properties") or []}


def _json(ctx: Ctx, request: Request, issue: Issue, comment: Comment) -> dict[str, Any]:
    """A comment, with its properties when `expand=properties` asks for them (as Jira does)."""
    body = render.comment_json(ctx, issue, comment)
    if "properties" in request.query_params.get("expand", "").split(","):
        body["properties"] = [{"key": k, "value": v} for k, v in comment.properties.items()]
    return body


def _find(issue: Issue, comment_id: str) -> Comment:
    comment = next((c for c in issue.comments if c.id == comment_id), None)
    if comment is None:
        raise JiraError(404, f"Can not find a comment for the id: {comment_id}.")
    return comment


def _may_change(project: Project, me: Account, comment: Comment, own: str, every: str) -> None:
    if not project.may_change(me.account_id, comment.author, own, every):
        raise JiraError(403, "You do not have the permission to edit or delete this comment.")


@router.get("/issue/{issue_ref}/comment")
async def list_comments(
    request: Request,
    issue_ref: str,
    startAt: int = 0,
    maxResults: int = 5000,
    orderBy: str | None = None,
) -> dict[str, Any]:
    ctx, me = caller(request)
    issue, _ = visible_issue(ctx, me, issue_ref)
    comments = sorted(issue.comments, key=lambda c: c.created, reverse=(orderBy or "").startswith("-"))
    page = comments[startAt : startAt + maxResults]
    return {
        "startAt": startAt,
        "maxResults": maxResults,
        "total": len(comments),
        "comments": [_json(ctx, request, issue, c) for c in page],
    }


@router.post("/issue/{issue_ref}/comment", status_code=201)
async def add_comment(request: Request, issue_ref: str) -> dict[str, Any]:
    ctx, me = caller(request)
    issue, project = visible_issue(ctx, me, issue_ref)
    require(project, me, "ADD_COMMENTS", "You do not have the permission to comment on this issue.")
    data = _read_body(ctx, await request.json())
    properties = {
        str(p["key"]): p.get("value") for p in data["properties"] if isinstance(p, dict) and "key" in p
    }
    comment = mutations.add_comment(
        ctx, issue, me, data["body"], visibility=data["visibility"], properties=properties
    )
    return _json(ctx, request, issue, comment)


@router.get("/issue/{issue_ref}/comment/{comment_id}")
async def get_comment(request: Request, issue_ref: str, comment_id: str) -> dict[str, Any]:
    ctx, me = caller(request)
    issue, _ = visible_issue(ctx, me, issue_ref)
    return _json(ctx, request, issue, _find(issue, comment_id))


@router.put("/issue/{issue_ref}/comment/{comment_id}")
async def edit_comment(request: Request, issue_ref: str, comment_id: str) -> dict[str, Any]:
    ctx, me = caller(request)
    issue, project = visible_issue(ctx, me, issue_ref)
    comment = _find(issue, comment_id)
    _may_change(project, me, comment, "EDIT_OWN_COMMENTS", "EDIT_ALL_COMMENTS")
    data = _read_body(ctx, await request.json())
    comment.body = data["body"]
    if data["visibility"] is not None:
        comment.visibility = data["visibility"]
    comment.updated = ctx.state.now()
    comment.update_author = me.account_id
    touch(ctx, issue)
    publish(ctx, "comment_updated", issue, me, event_type="issue_comment_edited", comment=comment)
    return _json(ctx, request, issue, comment)


@router.delete("/issue/{issue_ref}/comment/{comment_id}", status_code=204)
async def delete_comment(request: Request, issue_ref: str, comment_id: str) -> Response:
    ctx, me = caller(request)
    issue, project = visible_issue(ctx, me, issue_ref)
    comment = _find(issue, comment_id)
    _may_change(project, me, comment, "DELETE_OWN_COMMENTS", "DELETE_ALL_COMMENTS")
    issue.comments.remove(comment)
    touch(ctx, issue)
    publish(ctx, "comment_deleted", issue, me, event_type="issue_comment_deleted", comment=comment)
    return Response(status_code=204)


@router.post("/comment/list")
async def comments_by_id(request: Request) -> dict[str, Any]:
    ctx, me = caller(request)
    raw = await request.json()
    ids = raw.get("ids") if isinstance(raw, dict) else None
    if not isinstance(ids, list) or len(ids) > 1000:
        raise JiraError(400, "Provide up to 1000 comment ids in 'ids'.")
    wanted = {str(i) for i in ids}
    found: list[dict[str, Any]] = []
    for issue in ctx.site.issues.values():
        if not ctx.site.projects[issue.project_key].has_permission(me.account_id, "BROWSE_PROJECTS"):
            continue
        found.extend(_json(ctx, request, issue, c) for c in issue.comments if c.id in wanted)
    return {"startAt": 0, "maxResults": 1000, "total": len(found), "isLast": True, "values": found}
