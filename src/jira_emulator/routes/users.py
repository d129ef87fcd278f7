"""Users: by accountId, search, assignable search and bulk."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request

from jira_emulator import render
from jira_emulator.context import Ctx, caller
from jira_emulator.errors import JiraError
from jira_emulator.state import Account

router = APIRouter()


def _members(ctx: Ctx) -> list[Account]:
    return [ctx.state.accounts[a] for a in sorted(ctx.site.members) if a in ctx.state.accounts]


def _matches(account: Account, query: str) -> bool:
    """Jira Cloud matches the start of the display name's words, the start of the email when it is
    visible, or the whole accountId exactly (Atlassian's description names only the first two, but
    Cloud answers the account for its exact id, and the PyPI `jira` client's `assign_issue` relies on
    it: it searches `query=<accountId>` and picks the exact id from the answer)."""
    if query == account.account_id:
        return True
    q = query.lower()
    words = account.display_name.lower().split()
    return (
        any(w.startswith(q) for w in words)
        or account.display_name.lower().startswith(q)
        or (account.email_visible and account.email.lower().startswith(q))
    )


@router.get("/user")
async def get_user(request: Request, accountId: str) -> dict[str, Any] | None:
    ctx, me = caller(request)
    account = ctx.state.accounts.get(accountId)
    if account is None or accountId not in ctx.site.members:
        raise JiraError(404, "Specified user does not exist or you do not have required permissions")
    return render.user_json(ctx, account, viewer=me)


@router.get("/user/search")
async def search_users(
    request: Request,
    query: str | None = None,
    accountId: str | None = None,
    startAt: int = 0,
    maxResults: int = 50,
) -> list[dict[str, Any] | None]:
    ctx, me = caller(request)
    if query is None and accountId is None:
        raise JiraError(400, "One of 'query' or 'accountId' parameters must be provided.")
    found = [
        a
        for a in _members(ctx)
        if (accountId is None or a.account_id == accountId) and (query is None or _matches(a, query))
    ]
    return [render.user_json(ctx, a, viewer=me) for a in found[startAt : startAt + maxResults]]


@router.get("/user/assignable/search")
async def assignable_users(
    request: Request,
    project: str | None = None,
    issueKey: str | None = None,
    query: str | None = None,
    accountId: str | None = None,
    maxResults: int = 50,
) -> list[dict[str, Any] | None]:
    ctx, me = caller(request)
    target = None
    if issueKey:
        issue = ctx.site.issue_by_ref(issueKey)
        target = ctx.site.projects.get(issue.project_key) if issue else None
    elif project:
        target = ctx.site.projects.get(project) or next(
            (p for p in ctx.site.projects.values() if p.id == project), None
        )
    if target is None:
        raise JiraError(404, "No project or issue could be found.")
    found = [
        a
        for a in _members(ctx)
        if target.has_permission(a.account_id, "ASSIGNABLE_USER")
        and (accountId is None or a.account_id == accountId)
        and (query is None or _matches(a, query))
    ]
    return [render.user_json(ctx, a, viewer=me) for a in found[:maxResults]]


@router.get("/user/bulk")
async def bulk_users(
    request: Request,
    accountId: list[str] = Query(default=[]),
    startAt: int = 0,
    maxResults: int = 10,
) -> dict[str, Any]:
    ctx, me = caller(request)
    found = [ctx.state.accounts[a] for a in accountId if a in ctx.state.accounts and a in ctx.site.members]
    page = found[startAt : startAt + maxResults]
    return {
        "self": ctx.rest("/user/bulk"),
        "maxResults": maxResults,
        "startAt": startAt,
        "total": len(found),
        "isLast": startAt + maxResults >= len(found),
        "values": [render.user_json(ctx, a, viewer=me) for a in page],
    }
