"""Issues: create (one and bulk), get, edit, delete, assignee, transitions and changelog."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from jira_emulator import render
from jira_emulator.adf import rich_text_in
from jira_emulator.context import Ctx, caller, require
from jira_emulator.errors import JiraError, not_found_issue
from jira_emulator.fields_in import FieldInput, apply_values
from jira_emulator.mutations import add_comment, publish, record_change
from jira_emulator.state import Account, ChangeItem, DeletedWorklog, Issue, IssueTypeDef, Project

router = APIRouter()

BULK_CREATE_MAX = 50  # Jira Cloud's per-call maximum for POST /issue/bulk


def visible_issue(ctx: Ctx, me: Account, ref: str) -> tuple[Issue, Project]:
    """The issue by id or key (moved keys included), or Jira's 404 when it is missing or hidden."""
    issue = ctx.site.issue_by_ref(ref)
    if issue is None:
        raise not_found_issue()
    project = ctx.site.projects[issue.project_key]
    if not project.has_permission(me.account_id, "BROWSE_PROJECTS"):
        raise not_found_issue()
    return issue, project


def _body(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise JiraError(400, "Can not deserialize the request body: a JSON object is expected.")
    return raw


def _resolve_project(ctx: Ctx, me: Account, value: Any) -> Project:
    ref = (value.get("key") or value.get("id")) if isinstance(value, dict) else None
    project = None
    if ref:
        project = ctx.site.projects.get(str(ref)) or next(
            (p for p in ctx.site.projects.values() if p.id == str(ref)), None
        )
    if project is None or not project.has_permission(me.account_id, "BROWSE_PROJECTS"):
        raise JiraError(400, errors={"project": "Specify a valid project ID or key"})
    return project


def _resolve_issue_type(project: Project, value: Any) -> IssueTypeDef:
    ref = (value.get("id") or value.get("name")) if isinstance(value, dict) else None
    issue_type = project.issue_type(str(ref)) if ref else None
    if issue_type is None:
        raise JiraError(400, errors={"issuetype": "Specify an issue type"})
    return issue_type


def create_one(ctx: Ctx, me: Account, body: dict[str, Any]) -> Issue:
    fields = body.get("fields")
    if not isinstance(fields, dict):
        raise JiraError(400, errors={"project": "Specify a valid project ID or key"})
    project = _resolve_project(ctx, me, fields.get("project"))
    require(project, me, "CREATE_ISSUES", "You do not have permission to create issues in this project.")
    issue_type = _resolve_issue_type(project, fields.get("issuetype"))
    screen = {"summary", "reporter", *issue_type.required_fields, *issue_type.optional_fields}
    form = FieldInput(ctx, ctx.site, project)
    form.read(fields, allowed=screen)
    form.require(["summary", *issue_type.required_fields])
    form.raise_errors()
    now = ctx.state.now()
    key = f"{project.key}-{project.next_number}"
    project.next_number += 1
    issue = Issue(
        id=ctx.site.next_id(),
        key=key,
        project_key=project.key,
        issue_type_id=issue_type.id,
        summary=form.values["summary"],
        status=project.workflow.initial_status,
        reporter=form.values.get("reporter") or me.account_id,
        creator=me.account_id,
        created=now,
        updated=now,
        priority=ctx.site.default_priority,
        status_category_changed=now,
    )
    apply_values(ctx, issue, {k: v for k, v in form.values.items() if k not in ("summary", "reporter")})
    for prop in body.get("properties") or []:
        if isinstance(prop, dict) and "key" in prop:
            issue.properties[str(prop["key"])] = prop.get("value")
    ctx.site.issues[issue.id] = issue
    ctx.site.keys[key] = issue.id
    publish(ctx, "jira:issue_created", issue, me, event_type="issue_created")
    return issue


def created_json(ctx: Ctx, issue: Issue) -> dict[str, Any]:
    return {"id": issue.id, "key": issue.key, "self": ctx.rest(f"/issue/{issue.id}")}


@router.post("/issue", status_code=201)
async def create_issue(request: Request) -> dict[str, Any]:
    ctx, me = caller(request)
    issue = create_one(ctx, me, _body(await request.json()))
    return created_json(ctx, issue)


@router.post("/issue/bulk", status_code=201)
async def create_issues(request: Request) -> Response:
    ctx, me = caller(request)
    updates = _body(await request.json()).get("issueUpdates")
    if not isinstance(updates, list) or not updates:
        raise JiraError(400, "Issue updates must be a non-empty list.")
    if len(updates) > BULK_CREATE_MAX:
        raise JiraError(400, f"The number of issues to create must not exceed {BULK_CREATE_MAX}.")
    created: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    for number, update in enumerate(updates):
        try:
            created.append(created_json(ctx, create_one(ctx, me, _body(update))))
        except JiraError as exc:
            errors.append({"status": exc.status, "elementErrors": exc.body(), "failedElementNumber": number})
    # Jira answers 201 when something was created, 400 when every element failed.
    status = 201 if created else 400
    return JSONResponse({"issues": created, "errors": errors}, status_code=status)


def transitions_json(
    ctx: Ctx, me: Account, issue: Issue, project: Project, with_fields: bool
) -> list[dict[str, Any]]:
    if not project.has_permission(me.account_id, "TRANSITION_ISSUES"):
        return []  # Jira answers an empty list, not an error, without the permission
    out = []
    for t in project.workflow.available_from(issue.status):
        entry: dict[str, Any] = {
            "id": t.id,
            "name": t.name,
            "to": render.status_json(ctx, ctx.site.statuses[t.to]),
            "hasScreen": bool(t.screen),
            "isGlobal": not t.from_statuses,
            "isInitial": False,
            "isAvailable": True,
            "isConditional": False,
            "isLooped": False,
        }
        if with_fields:
            entry["fields"] = {
                fid: render.field_meta_json(ctx, ctx.site.fields[fid], fid in t.required_fields)
                for fid in t.screen
            }
        out.append(entry)
    return out


@router.get("/issue/{issue_ref}")
async def get_issue(
    request: Request,
    issue_ref: str,
    fields: list[str] | None = Query(default=None),
    expand: str | None = None,
    properties: list[str] | None = Query(default=None),
) -> dict[str, Any]:
    ctx, me = caller(request)
    issue, project = visible_issue(ctx, me, issue_ref)
    expands = {e.strip() for e in (expand or "").split(",") if e.strip()}
    body = render.issue_json(
        ctx,
        ctx.site,
        issue,
        fields=fields,
        expand=expands,
        transitions=transitions_json(ctx, me, issue, project, "transitions.fields" in expands)
        if "transitions" in expands or "transitions.fields" in expands
        else None,
    )
    if "transitions.fields" in expands:
        body["transitions"] = transitions_json(ctx, me, issue, project, True)
    wanted_props = [k for entry in properties or [] for k in entry.split(",") if k]
    if wanted_props:
        body["properties"] = {k: issue.properties[k] for k in wanted_props if k in issue.properties}
    return body


def _edit_values(ctx: Ctx, me: Account, issue: Issue, project: Project, body: dict[str, Any]) -> FieldInput:
    """Fold `fields` and the `update` verbs (set/add/remove) into one set of new values."""
    issue_type = next(it for it in project.issue_types if it.id == issue.issue_type_id)
    screen = {"summary", "reporter", *issue_type.required_fields, *issue_type.optional_fields}
    form = FieldInput(ctx, ctx.site, project)
    fields = body.get("fields") or {}
    if not isinstance(fields, dict):
        raise JiraError(400, "Can not deserialize the request body: fields must be an object.")
    if "status" in fields:
        form.errors["status"] = (
            "Field 'status' cannot be set. It is not on the appropriate screen, or unknown."
        )
    form.read({k: v for k, v in fields.items() if k != "status"}, allowed=screen)
    for field_id, operations in (body.get("update") or {}).items():
        if field_id == "labels" and isinstance(operations, list):
            labels = list(form.values.get("labels", issue.labels))
            for op in operations:
                if not isinstance(op, dict):
                    continue
                if "add" in op and op["add"] not in labels:
                    labels.append(op["add"])
                if "remove" in op and op["remove"] in labels:
                    labels.remove(op["remove"])
                if "set" in op:
                    labels = list(op["set"])
            form.read({"labels": labels}, allowed=screen)
        elif (
            isinstance(operations, list)
            and operations
            and isinstance(operations[0], dict)
            and "set" in operations[0]
        ):
            form.read({field_id: operations[0]["set"]}, allowed=screen)
        else:
            form.errors[field_id] = (
                f"Field '{field_id}' cannot be set. It is not on the appropriate screen, or unknown."
            )
    form.require([f for f in ("summary", *issue_type.required_fields) if f in form.values])
    return form


@router.put("/issue/{issue_ref}")
async def edit_issue(request: Request, issue_ref: str, returnIssue: bool = False) -> Response:
    ctx, me = caller(request)
    issue, project = visible_issue(ctx, me, issue_ref)
    require(project, me, "EDIT_ISSUES", "You do not have permission to edit issues in this project.")
    form = _edit_values(ctx, me, issue, project, _body(await request.json()))
    if "assignee" in form.values and not project.has_permission(me.account_id, "ASSIGN_ISSUES"):
        form.errors["assignee"] = "You do not have permission to assign issues."
    form.raise_errors()
    items = apply_values(ctx, issue, form.values)
    record_change(ctx, issue, me, items)
    if returnIssue:
        return JSONResponse(render.issue_json(ctx, ctx.site, issue))
    return Response(status_code=204)


@router.delete("/issue/{issue_ref}", status_code=204)
async def delete_issue(request: Request, issue_ref: str) -> Response:
    ctx, me = caller(request)
    issue, project = visible_issue(ctx, me, issue_ref)
    require(project, me, "DELETE_ISSUES", "You do not have permission to delete issues in this project.")
    del ctx.site.issues[issue.id]
    # Jira's /worklog/deleted feed includes the worklogs of a deleted issue.
    now = ctx.state.now()
    ctx.site.deleted_worklogs.extend(DeletedWorklog(w.id, now) for w in issue.worklogs)
    for key in [k for k, v in ctx.site.keys.items() if v == issue.id]:
        del ctx.site.keys[key]
    publish(ctx, "jira:issue_deleted", issue, me, event_type="issue_deleted")
    return Response(status_code=204)


@router.put("/issue/{issue_ref}/assignee", status_code=204)
async def assign_issue(request: Request, issue_ref: str) -> Response:
    ctx, me = caller(request)
    issue, project = visible_issue(ctx, me, issue_ref)
    require(project, me, "ASSIGN_ISSUES", "You do not have permission to assign issues.")
    body = _body(await request.json())
    account_id = body.get("accountId")
    if account_id == "-1":  # Jira's "assign to the default assignee": the project lead here
        account_id = project.lead
    if account_id is not None and (
        account_id not in ctx.state.accounts or not project.has_permission(account_id, "ASSIGNABLE_USER")
    ):
        raise JiraError(400, errors={"assignee": f"User '{account_id}' cannot be assigned issues."})
    items = apply_values(ctx, issue, {"assignee": account_id})
    record_change(ctx, issue, me, items, event_type="issue_assigned")
    return Response(status_code=204)


@router.get("/issue/{issue_ref}/transitions")
async def get_transitions(
    request: Request,
    issue_ref: str,
    expand: str | None = None,
    transitionId: str | None = None,
) -> dict[str, Any]:
    ctx, me = caller(request)
    issue, project = visible_issue(ctx, me, issue_ref)
    listed = transitions_json(ctx, me, issue, project, "transitions.fields" in (expand or ""))
    if transitionId is not None:
        listed = [t for t in listed if t["id"] == transitionId]
    return {"expand": "transitions", "transitions": listed}


@router.post("/issue/{issue_ref}/transitions", status_code=204)
async def do_transition(request: Request, issue_ref: str) -> Response:
    ctx, me = caller(request)
    issue, project = visible_issue(ctx, me, issue_ref)
    require(project, me, "TRANSITION_ISSUES", "You do not have permission to transition this issue.")
    body = _body(await request.json())
    wanted = body.get("transition")
    transition_id = (
        str(wanted.get("id")) if isinstance(wanted, dict) and wanted.get("id") is not None else None
    )
    transition = next(
        (t for t in project.workflow.available_from(issue.status) if t.id == transition_id), None
    )
    if transition is None:
        raise JiraError(400, f"Transition id '{transition_id}' is not valid for this issue.")
    form = FieldInput(ctx, ctx.site, project)
    fields = body.get("fields") or {}
    update = body.get("update") or {}
    if not isinstance(fields, dict) or not isinstance(update, dict):
        raise JiraError(400, "Can not deserialize the request body: fields and update must be objects.")
    screen = set(transition.screen)  # Jira refuses any field the transition screen does not show
    comments = _transition_comments(ctx, form, update, screen)
    both = sorted(set(fields) & set(update))
    for field_id in both:
        form.errors[field_id] = f"Field '{field_id}' cannot be set in both 'fields' and 'update'."
    sets = {
        k: ops[0]["set"] for k, ops in update.items() if k != "comment" and k not in both and _one_set(ops)
    }
    for field_id in set(update) - {"comment", *both, *sets}:
        form.errors[field_id] = (
            f"Field '{field_id}' cannot be set. It is not on the appropriate screen, or unknown."
        )
    # A comment is only ever added through `update`, never set through `fields`.
    form.read({k: v for k, v in fields.items() if k not in both} | sets, allowed=screen - {"comment"})
    form.require([f for f in transition.required_fields if f != "comment"])
    if "comment" in transition.required_fields and not comments and "comment" not in form.errors:
        form.errors["comment"] = "Comment is required."
    if comments:
        require(project, me, "ADD_COMMENTS", "You do not have the permission to comment on this issue.")
    form.raise_errors()
    resolution = form.values.pop("resolution", None)
    items = apply_values(ctx, issue, form.values)
    items += _move(ctx, issue, transition.to, resolution)
    record_change(ctx, issue, me, items)
    for comment_body in comments:
        add_comment(ctx, issue, me, comment_body)
    return Response(status_code=204)


def _one_set(ops: Any) -> bool:
    return isinstance(ops, list) and len(ops) == 1 and isinstance(ops[0], dict) and set(ops[0]) == {"set"}


def _transition_comments(
    ctx: Ctx, form: FieldInput, update: dict[str, Any], screen: set[str]
) -> list[dict[str, Any]]:
    """The bodies of `update.comment: [{"add": {"body": …}}]`; errors go to the form."""
    ops = update.get("comment")
    if ops is None:
        return []
    if "comment" not in screen:
        form.errors["comment"] = (
            "Field 'comment' cannot be set. It is not on the appropriate screen, or unknown."
        )
        return []
    bodies: list[dict[str, Any]] = []
    for op in ops if isinstance(ops, list) else [ops]:
        added = op.get("add") if isinstance(op, dict) else None
        try:
            body = rich_text_in(added.get("body"), ctx.api_version) if isinstance(added, dict) else None
        except ValueError as exc:
            form.errors["comment"] = str(exc)
            return []
        if body is None or not body.get("content"):
            form.errors["comment"] = "Comment body can not be empty!"
            return []
        bodies.append(body)
    return bodies


def _move(ctx: Ctx, issue: Issue, to: str, resolution: Any) -> list[ChangeItem]:
    old = ctx.site.statuses[issue.status]
    new = ctx.site.statuses[to]
    items = [ChangeItem("status", "status", "jira", old.id, old.name, new.id, new.name)]
    now = ctx.state.now()
    issue.status = to
    if old.category != new.category:
        issue.status_category_changed = now
    new_resolution = None
    if new.category == "done":
        # Given on the transition screen, else set as the usual post function of a done transition does.
        given = resolution if isinstance(resolution, str) else None
        new_resolution = given or ("Won't Do" if to == "Won't Do" else "Done")
    if new_resolution != issue.resolution:
        items.append(
            ChangeItem("resolution", "resolution", "jira", None, issue.resolution, None, new_resolution)
        )
        issue.resolution = new_resolution
        issue.resolution_date = now if new_resolution else None
    return items


@router.get("/issue/{issue_ref}/changelog")
async def get_changelog(
    request: Request, issue_ref: str, startAt: int = 0, maxResults: int = 100
) -> dict[str, Any]:
    ctx, me = caller(request)
    issue, _ = visible_issue(ctx, me, issue_ref)
    histories = issue.changelog[startAt : startAt + maxResults]
    return {
        "self": ctx.rest(f"/issue/{issue.key}/changelog?maxResults={maxResults}&startAt={startAt}"),
        "maxResults": maxResults,
        "startAt": startAt,
        "total": len(issue.changelog),
        "isLast": startAt + maxResults >= len(issue.changelog),
        "values": [render.changelog_json(ctx, h) for h in histories],
    }
