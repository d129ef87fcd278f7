"""Issue search: `/search/jql` (GET and POST, paged by `nextPageToken`), `/search/approximate-count`,
`/issue/bulkfetch`, and the retired classic `/search`, which answers 410 as Jira Cloud does.

Search reads the eventually consistent index (search_index.py); bulk fetch reads issues directly.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, StrictBool, StrictInt, StrictStr

from jira_emulator import render, search_index
from jira_emulator.context import Ctx, caller
from jira_emulator.errors import JiraError
from jira_emulator.jql import JqlError, JqlQuery, compile_jql
from jira_emulator.state import Account, Issue, Project

router = APIRouter()

DEFAULT_PAGE = 50
MAX_PAGE_IDS_ONLY = 5000  # Jira's cap when only `id` or `key` is asked for
MAX_PAGE_WITH_FIELDS = 100  # and when issues carry fields
MAX_RECONCILE = 50
MAX_BULK_FETCH = 100
MAX_PROPERTIES = 5
REMOVED = (
    "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. "
    "A full migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046"
)
UNBOUNDED = "Unbounded JQL queries are not allowed here. Please add a search restriction to your query."


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SearchBody(_Body):
    jql: StrictStr | None = None
    nextPageToken: StrictStr | None = None  # noqa: N815 (Jira's JSON names)
    maxResults: StrictInt | None = None  # noqa: N815
    fields: list[StrictStr] | None = None
    expand: StrictStr | None = None
    properties: list[StrictStr] | None = None
    fieldsByKeys: StrictBool | None = None  # noqa: N815
    failFast: StrictBool | None = None  # noqa: N815
    reconcileIssues: list[StrictInt] | None = None  # noqa: N815


class CountBody(_Body):
    jql: StrictStr | None = None


class BulkFetchBody(_Body):
    issueIdsOrKeys: list[StrictStr]  # noqa: N815
    fields: list[StrictStr] | None = None
    expand: list[StrictStr] | None = None
    properties: list[StrictStr] | None = None
    fieldsByKeys: StrictBool | None = None  # noqa: N815


@router.get("/search/jql")
async def search_get(request: Request) -> dict[str, Any]:
    ctx, me = caller(request)
    params = request.query_params
    body = SearchBody(
        jql=params.get("jql"),
        nextPageToken=params.get("nextPageToken"),
        maxResults=_int_param(params.get("maxResults"), "maxResults"),
        fields=params.getlist("fields") or None,
        expand=params.get("expand"),
        properties=params.getlist("properties") or None,
        reconcileIssues=[
            _int_param(v, "reconcileIssues") or 0 for v in _split(params.getlist("reconcileIssues"))
        ],
    )
    return search(ctx, me, body)


@router.post("/search/jql")
async def search_post(request: Request, body: SearchBody) -> dict[str, Any]:
    ctx, me = caller(request)
    return search(ctx, me, body)


@router.post("/search/approximate-count")
async def approximate_count(request: Request, body: CountBody) -> dict[str, Any]:
    ctx, me = caller(request)
    query = _compile(ctx, me, body.jql or "")
    return {"count": len(_matching(ctx, me, query, set()))}


@router.post("/issue/bulkfetch")
async def bulk_fetch(request: Request, body: BulkFetchBody) -> dict[str, Any]:
    ctx, me = caller(request)
    refs = body.issueIdsOrKeys
    if not refs or len(refs) > MAX_BULK_FETCH:
        raise JiraError(400, f"The number of issue IDs or keys must be between 1 and {MAX_BULK_FETCH}.")
    properties = _properties(body.properties)
    found: dict[str, Issue] = {}
    for ref in refs:
        issue = ctx.site.issue_by_ref(ref.strip())
        # Missing issues and issues the caller may not browse are left out, not reported (as in Jira).
        if issue is not None and _browsable(ctx.site.projects[issue.project_key], me):
            found[issue.id] = issue
    ordered = sorted(found.values(), key=lambda i: int(i.id) if i.id.isdigit() else 0)
    expand = set(body.expand or [])
    issues = [_render(ctx, i, body.fields, "*navigable", expand, properties) for i in ordered]
    return {"expand": "schema,names", "issues": issues, "issueErrors": []}


@router.get("/search")
@router.post("/search")
async def classic_search_removed(request: Request) -> JSONResponse:
    caller(request)
    return JSONResponse({"errorMessages": [REMOVED], "errors": {}}, status_code=410)


def search(ctx: Ctx, me: Account, body: SearchBody) -> dict[str, Any]:
    jql = body.jql or ""
    query = _compile(ctx, me, jql)
    reconcile = [str(i) for i in body.reconcileIssues or []]
    if len(reconcile) > MAX_RECONCILE:
        raise JiraError(400, f"The reconcileIssues parameter accepts at most {MAX_RECONCILE} issue ids.")
    properties = _properties(body.properties)
    requested = set(_split(body.fields or []))
    ids_only = requested <= {"id"}  # Jira answers bare `{"id": ...}` objects
    cap = MAX_PAGE_IDS_ONLY if requested <= {"id", "key"} else MAX_PAGE_WITH_FIELDS
    size = min(max(body.maxResults if body.maxResults is not None else DEFAULT_PAGE, 1), cap)
    start = _decode_token(body.nextPageToken, jql)
    hits = query.sort(ctx.site, _matching(ctx, me, query, set(reconcile)), accounts=ctx.state.accounts)
    page = hits[start : start + size]
    expand = {e.strip() for e in (body.expand or "").split(",") if e.strip()}
    if ids_only:
        issues = [{"id": i.id} for i in page]
    else:
        issues = [_render(ctx, i, body.fields, "id", expand, properties) for i in page]
    result: dict[str, Any] = {"issues": issues}
    if start + size < len(hits):
        result["nextPageToken"] = _encode_token(start + size, jql)
    result["isLast"] = start + size >= len(hits)
    if "names" in expand:
        result["names"] = {
            k: ctx.site.fields[k].name for i in issues for k in i.get("fields", {}) if k in ctx.site.fields
        }
    if "schema" in expand:
        result["schema"] = {
            k: render.field_json(ctx, ctx.site.fields[k])["schema"]
            for i in issues
            for k in i.get("fields", {})
            if k in ctx.site.fields
        }
    return result


def _compile(ctx: Ctx, me: Account, jql: str) -> JqlQuery:
    try:
        query = compile_jql(jql, site=ctx.site)
        query.validate(ctx.site, accounts=ctx.state.accounts, can_browse=lambda p: _browsable(p, me))
    except JqlError as error:
        raise JiraError(400, error.message) from None
    if not query.bounded:
        raise JiraError(400, UNBOUNDED)
    return query


def _matching(ctx: Ctx, me: Account, query: JqlQuery, reconcile: set[str]) -> list[Issue]:
    now = ctx.state.now()
    matches = query.matcher(ctx.site, now=now, current_user=me.account_id, accounts=ctx.state.accounts)
    return [
        issue
        for issue in search_index.searchable(ctx.site, now, reconcile)
        if issue.project_key in ctx.site.projects
        and _browsable(ctx.site.projects[issue.project_key], me)
        and matches(issue)
    ]


def _browsable(project: Project, me: Account) -> bool:
    return project.has_permission(me.account_id, "BROWSE_PROJECTS")


def _render(
    ctx: Ctx, issue: Issue, fields: list[str] | None, default: str, expand: set[str], properties: list[str]
) -> dict[str, Any]:
    body = render.issue_json(ctx, ctx.site, issue, fields=fields, default_fields=default, expand=expand)
    if properties:
        body["properties"] = {k: issue.properties[k] for k in properties if k in issue.properties}
    return body


def _split(values: list[str]) -> list[str]:
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def _properties(requested: list[str] | None) -> list[str]:
    keys = _split(requested or [])
    if len(keys) > MAX_PROPERTIES:
        raise JiraError(400, f"A maximum of {MAX_PROPERTIES} issue property keys can be specified.")
    return keys


def _int_param(raw: str | None, name: str) -> int | None:
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise JiraError(400, f"The value '{raw}' of the parameter '{name}' is not a valid number.") from None


def _jql_digest(jql: str) -> str:
    return hashlib.sha256(jql.encode()).hexdigest()[:12]


def _encode_token(offset: int, jql: str) -> str:
    raw = json.dumps({"o": offset, "q": _jql_digest(jql)}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_token(token: str | None, jql: str) -> int:
    """The offset a token stands for; a token from another query, or garbage, is refused."""
    if not token:
        return 0
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        offset = data["o"]
        valid = isinstance(offset, int) and offset >= 0 and data.get("q") == _jql_digest(jql)
    except (binascii.Error, ValueError, TypeError, KeyError):
        valid = False
    if not valid:
        raise JiraError(400, "The nextPageToken is invalid or does not belong to this query.")
    return int(offset)
