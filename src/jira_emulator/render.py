"""JSON representations in Jira Cloud's shapes (checked against Atlassian's OpenAPI in the contract
tests). v3 bodies carry ADF for rich text, v2 bodies plain strings."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from jira_emulator.adf import rich_text_out
from jira_emulator.context import Ctx
from jira_emulator.state import (
    STATUS_CATEGORIES,
    Account,
    ChangeHistory,
    Comment,
    FieldDef,
    Issue,
    IssueTypeDef,
    Priority,
    Project,
    Site,
    StatusDef,
    Worklog,
)

JIRA_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.{ms:03d}%z"


def jira_time(moment: datetime | None) -> str | None:
    """Jira's timestamp format, `2024-01-15T10:30:00.000+0000`."""
    if moment is None:
        return None
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}" + moment.strftime("%z")


def format_duration(seconds: int) -> str:
    """Jira's duration text with its default 8-hour day and 5-day week: `1w 2d 3h 4m`."""
    parts = []
    for unit, size in (("w", 5 * 8 * 3600), ("d", 8 * 3600), ("h", 3600), ("m", 60)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return " ".join(parts) or "0m"


def avatar_urls(kind: str, ident: str) -> dict[str, str]:
    base = f"https://avatar.example/{kind}/{ident}"
    return {f"{n}x{n}": f"{base}?s={n}" for n in (48, 24, 16, 32)}


def user_json(ctx: Ctx, account: Account | None, *, viewer: Account | None = None) -> dict[str, Any] | None:
    if account is None:
        return None
    body: dict[str, Any] = {
        "self": ctx.rest(f"/user?accountId={account.account_id}"),
        "accountId": account.account_id,
        "accountType": "atlassian",
        "avatarUrls": avatar_urls("user", account.account_id),
        "displayName": account.display_name,
        "active": account.active,
        "timeZone": account.time_zone,
    }
    if account.email_visible or (viewer is not None and viewer.account_id == account.account_id):
        body["emailAddress"] = account.email
    return body


def user_ref(ctx: Ctx, account_id: str | None) -> dict[str, Any] | None:
    if account_id is None:
        return None
    return user_json(ctx, ctx.state.accounts.get(account_id))


def status_category_json(ctx: Ctx, key: str) -> dict[str, Any]:
    ident, name, color = STATUS_CATEGORIES[key]
    return {
        "self": ctx.rest(f"/statuscategory/{ident}"),
        "id": ident,
        "key": key,
        "colorName": color,
        "name": name,
    }


def status_json(ctx: Ctx, status: StatusDef) -> dict[str, Any]:
    return {
        "self": ctx.rest(f"/status/{status.id}"),
        "description": "",
        "iconUrl": ctx.url("/images/icons/statuses/generic.png"),
        "name": status.name,
        "id": status.id,
        "statusCategory": status_category_json(ctx, status.category),
    }


def priority_json(ctx: Ctx, priority: Priority) -> dict[str, Any]:
    return {
        "self": ctx.rest(f"/priority/{priority.id}"),
        "statusColor": priority.status_color,
        "description": priority.name,
        "iconUrl": ctx.url(f"/images/icons/priorities/{priority.name.lower()}.svg"),
        "name": priority.name,
        "id": priority.id,
    }


def issue_type_json(ctx: Ctx, it: IssueTypeDef, project: Project | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "self": ctx.rest(f"/issuetype/{it.id}"),
        "id": it.id,
        "description": f"A {it.name.lower()}.",
        "iconUrl": ctx.url(f"/images/icons/issuetypes/{it.name.lower()}.svg"),
        "name": it.name,
        "subtask": it.subtask,
        "hierarchyLevel": it.hierarchy_level,
        "avatarId": 10300,
    }
    if project is not None:
        body["scope"] = {"type": "PROJECT", "project": {"id": project.id}}
    return body


def project_json(ctx: Ctx, project: Project, *, expand: Iterable[str] = ()) -> dict[str, Any]:
    body: dict[str, Any] = {
        "self": ctx.rest(f"/project/{project.id}"),
        "id": project.id,
        "key": project.key,
        "name": project.name,
        "avatarUrls": avatar_urls("project", project.id),
        "projectTypeKey": project.project_type_key,
        "simplified": False,
        "style": "classic",
        "isPrivate": False,
        "properties": {},
    }
    expand = set(expand)
    if "issueTypes" in expand or "*" in expand:
        body["issueTypes"] = [issue_type_json(ctx, it) for it in project.issue_types]
    if "lead" in expand or "*" in expand:
        body["lead"] = user_ref(ctx, project.lead)
    return body


def project_ref_json(ctx: Ctx, project: Project) -> dict[str, Any]:
    """The project as an issue's `fields.project` shows it: Atlassian's `ProjectDetails`, no more."""
    return {
        "self": ctx.rest(f"/project/{project.id}"),
        "id": project.id,
        "key": project.key,
        "name": project.name,
        "projectTypeKey": project.project_type_key,
        "simplified": False,
        "avatarUrls": avatar_urls("project", project.id),
    }


def _field_schema(f: FieldDef) -> dict[str, Any]:
    """A field's `schema`, as Jira gives it in the field list and on create and transition screens."""
    schema: dict[str, Any] = {"type": f.schema_type}
    if f.items:
        schema["items"] = f.items
    if f.custom:
        schema["custom"] = f.custom_type
        schema["customId"] = int(f.id.removeprefix("customfield_"))
    else:
        schema["system"] = f.id
    return schema


def field_json(ctx: Ctx, f: FieldDef) -> dict[str, Any]:
    schema = _field_schema(f)
    return {
        "id": f.id,
        "key": f.id,
        "name": f.name,
        "custom": f.custom,
        "orderable": f.orderable,
        "navigable": f.navigable,
        "searchable": f.searchable,
        "clauseNames": [f"cf[{f.id.removeprefix('customfield_')}]", f.name] if f.custom else [f.id],
        "schema": schema,
    }


def custom_value_out(ctx: Ctx, f: FieldDef, value: Any) -> Any:
    if value is None:
        return None
    if f.schema_type == "option":
        index = (f.allowed_values or []).index(value) if value in (f.allowed_values or []) else 0
        option_id = str(10000 + index)
        return {"self": ctx.rest(f"/customFieldOption/{option_id}"), "value": value, "id": option_id}
    if f.schema_type == "user":
        return user_ref(ctx, value)
    return value


def timetracking_json(issue: Issue) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if issue.original_estimate_seconds is not None:
        body["originalEstimate"] = format_duration(issue.original_estimate_seconds)
        body["originalEstimateSeconds"] = issue.original_estimate_seconds
    if issue.remaining_estimate_seconds is not None:
        body["remainingEstimate"] = format_duration(issue.remaining_estimate_seconds)
        body["remainingEstimateSeconds"] = issue.remaining_estimate_seconds
    spent = issue.time_spent_seconds
    if spent:
        body["timeSpent"] = format_duration(spent)
        body["timeSpentSeconds"] = spent
    return body


def comment_json(ctx: Ctx, issue: Issue, comment: Comment) -> dict[str, Any]:
    body: dict[str, Any] = {
        "self": ctx.rest(f"/issue/{issue.id}/comment/{comment.id}"),
        "id": comment.id,
        "author": user_ref(ctx, comment.author),
        "body": rich_text_out(comment.body, ctx.api_version),
        "updateAuthor": user_ref(ctx, comment.update_author),
        "created": jira_time(comment.created),
        "updated": jira_time(comment.updated),
        "jsdPublic": True,
    }
    if comment.visibility:
        body["visibility"] = comment.visibility
    return body


def worklog_json(ctx: Ctx, issue: Issue, worklog: Worklog) -> dict[str, Any]:
    body: dict[str, Any] = {
        "self": ctx.rest(f"/issue/{issue.id}/worklog/{worklog.id}"),
        "author": user_ref(ctx, worklog.author),
        "updateAuthor": user_ref(ctx, worklog.update_author),
        "created": jira_time(worklog.created),
        "updated": jira_time(worklog.updated),
        "started": jira_time(worklog.started),
        "timeSpent": format_duration(worklog.time_spent_seconds),
        "timeSpentSeconds": worklog.time_spent_seconds,
        "id": worklog.id,
        "issueId": issue.id,
    }
    if worklog.comment is not None:
        body["comment"] = rich_text_out(worklog.comment, ctx.api_version)
    return body


def changelog_json(ctx: Ctx, history: ChangeHistory) -> dict[str, Any]:
    return {
        "id": history.id,
        "author": user_ref(ctx, history.author),
        "created": jira_time(history.created),
        "items": [
            {
                "field": item.field,
                "fieldtype": item.fieldtype,
                "fieldId": item.field_id,
                "from": item.from_value,
                "fromString": item.from_string,
                "to": item.to_value,
                "toString": item.to_string,
            }
            for item in history.items
        ],
    }


def resolution_id(ctx: Ctx, name: str) -> str:
    names = ctx.site.resolutions
    return str(10000 + (names.index(name) if name in names else len(names)))


def resolution_json(ctx: Ctx, name: str) -> dict[str, Any]:
    ident = resolution_id(ctx, name)
    return {"self": ctx.rest(f"/resolution/{ident}"), "id": ident, "description": name, "name": name}


def field_meta_json(ctx: Ctx, f: FieldDef, required: bool, *, create_meta: bool = False) -> dict[str, Any]:
    """A field of a create screen (`create_meta`: Jira's FieldCreateMetadata, with `fieldId`) or of a
    transition screen (FieldMetadata, without it): type, operations and the values it allows."""
    schema = _field_schema(f)
    if f.id == "comment":
        operations = ["add", "edit", "remove"]
    elif f.schema_type == "array":
        operations = ["add", "set", "remove"]
    else:
        operations = ["set"]
    body: dict[str, Any] = {"required": required, "schema": schema, "name": f.name, "key": f.id}
    if create_meta:
        body["fieldId"] = f.id
    body["hasDefaultValue"] = f.id == "priority"
    body["operations"] = operations
    if f.id == "priority":
        body["allowedValues"] = [priority_json(ctx, p) for p in ctx.site.priorities]
        default = ctx.site.priority_by_ref(ctx.site.default_priority or "")
        if default:
            body["defaultValue"] = priority_json(ctx, default)
    elif f.id == "resolution":
        body["allowedValues"] = [resolution_json(ctx, name) for name in ctx.site.resolutions]
    elif f.allowed_values is not None:
        body["allowedValues"] = [
            {"self": ctx.rest(f"/customFieldOption/{10000 + i}"), "value": v, "id": str(10000 + i)}
            for i, v in enumerate(f.allowed_values)
        ]
    return body


def issue_fields(ctx: Ctx, site: Site, issue: Issue) -> dict[str, Any]:
    """Every field of an issue, rendered. `fields=` selection happens in `select_fields`."""
    project = site.projects[issue.project_key]
    issue_type = next(it for it in project.issue_types if it.id == issue.issue_type_id)
    status = site.statuses[issue.status]
    priority = site.priority_by_ref(issue.priority) if issue.priority else None
    spent = issue.time_spent_seconds
    fields: dict[str, Any] = {
        "summary": issue.summary,
        "description": rich_text_out(issue.description, ctx.api_version),
        "issuetype": issue_type_json(ctx, issue_type),
        "project": project_ref_json(ctx, project),
        "status": status_json(ctx, status),
        "statusCategory": status_category_json(ctx, status.category),
        "priority": priority_json(ctx, priority) if priority else None,
        "labels": list(issue.labels),
        "assignee": user_ref(ctx, issue.assignee),
        "reporter": user_ref(ctx, issue.reporter),
        "creator": user_ref(ctx, issue.creator),
        "created": jira_time(issue.created),
        "updated": jira_time(issue.updated),
        "resolution": resolution_json(ctx, issue.resolution) if issue.resolution else None,
        "resolutiondate": jira_time(issue.resolution_date),
        "statuscategorychangedate": jira_time(issue.status_category_changed),
        "timetracking": timetracking_json(issue),
        "timeoriginalestimate": issue.original_estimate_seconds,
        "timeestimate": issue.remaining_estimate_seconds,
        "timespent": spent or None,
        "comment": {
            "comments": [comment_json(ctx, issue, c) for c in issue.comments],
            "self": ctx.rest(f"/issue/{issue.id}/comment"),
            "maxResults": len(issue.comments),
            "total": len(issue.comments),
            "startAt": 0,
        },
        "worklog": {
            "startAt": 0,
            "maxResults": 20,
            "total": len(issue.worklogs),
            "worklogs": [worklog_json(ctx, issue, w) for w in issue.worklogs[:20]],
        },
    }
    for field_id, f in site.fields.items():
        if f.custom:
            fields[field_id] = custom_value_out(ctx, f, issue.custom.get(field_id))
    return fields


def field_selector(requested: list[str] | None, *, default: str) -> Callable[[str, FieldDef | None], bool]:
    """Jira's `fields` parameter: `*all`, `*navigable`, names, and `-name` exclusions, comma separated
    or repeated. Unknown names are ignored, as Jira does."""
    names: list[str] = []
    for entry in requested or [default]:
        names.extend(n.strip() for n in entry.split(",") if n.strip())
    include = {n for n in names if not n.startswith("-")}
    exclude = {n[1:] for n in names if n.startswith("-")}
    if not include:
        include = {default}

    def wanted(field_id: str, definition: FieldDef | None) -> bool:
        if field_id in exclude:
            return False
        if "*all" in include or field_id in include:
            return True
        if "*navigable" in include:
            return definition is None or definition.navigable
        return False

    return wanted


def issue_json(
    ctx: Ctx,
    site: Site,
    issue: Issue,
    *,
    fields: list[str] | None = None,
    default_fields: str = "*all",
    expand: Iterable[str] = (),
    transitions: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    wanted = field_selector(fields, default=default_fields)
    all_fields = issue_fields(ctx, site, issue)
    body: dict[str, Any] = {
        "expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
        "id": issue.id,
        "self": ctx.rest(f"/issue/{issue.id}"),
        "key": issue.key,
        "fields": {k: v for k, v in all_fields.items() if wanted(k, site.fields.get(k))},
    }
    expand = set(expand)
    if "changelog" in expand:
        histories = [changelog_json(ctx, h) for h in issue.changelog]
        body["changelog"] = {
            "startAt": 0,
            "maxResults": len(histories),
            "total": len(histories),
            "histories": histories,
        }
    if "transitions" in expand and transitions is not None:
        body["transitions"] = transitions
    if "names" in expand:
        body["names"] = {k: site.fields[k].name for k in body["fields"] if k in site.fields}
    return body
