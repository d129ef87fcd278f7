"""The control API, `/_emulator/...`: reset with a seed, inspect the state, script faults and rate
limits, move the clock, set a site's index lag, and add/expire/revoke API tokens. No auth: it is a test
fixture, never exposed like Jira's own API. Documented with its JSON in docs/emulator.md."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from fastapi import APIRouter, FastAPI, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from jira_emulator.adf import adf_to_text
from jira_emulator.errors import JiraError
from jira_emulator.faults import FaultsUpdate, FaultTable
from jira_emulator.ratelimit import RateLimitConfig, RateLimiter, RateLimitUpdate
from jira_emulator.seed import Seed, build_state, default_seed
from jira_emulator.state import Account, ApiToken, EmulatorState, Issue, Site, expires_in

router = APIRouter(prefix="/_emulator", tags=["emulator control"])

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Baseline:
    """What `jira-emulator serve` was started with; a reset returns to it."""

    latency_ms: int = 0
    rate_limit_per_s: int | None = None
    index_lag_s: float | None = None


def configure_baseline(app: FastAPI, baseline: Baseline) -> None:
    app.state.baseline = baseline
    app.state.faults.set_baseline(latency_ms=baseline.latency_ms)
    limits = RateLimitUpdate()
    if baseline.rate_limit_per_s is not None:
        limits = RateLimitUpdate(default=RateLimitConfig(requests_per_s=baseline.rate_limit_per_s))
    app.state.rate_limits.set_baseline(limits)
    _apply_index_lag(app.state.emulator, baseline)


def _baseline(app: FastAPI) -> Baseline:
    found = getattr(app.state, "baseline", None)
    return found if isinstance(found, Baseline) else Baseline()


def _apply_index_lag(state: EmulatorState, baseline: Baseline) -> None:
    # The command-line lag fills in for sites whose seed does not set one.
    if baseline.index_lag_s is not None:
        for site in state.sites.values():
            if site.index_lag_s == 0:
                site.index_lag_s = baseline.index_lag_s


async def _parse(request: Request, model: type[M]) -> M:
    """Strict JSON validation; a bad body answers 400 naming each offending field."""
    raw = await request.body()
    try:
        return model.model_validate_json(raw or b"{}")
    except ValidationError as exc:
        errors = {".".join(str(p) for p in e["loc"]) or "body": e["msg"] for e in exc.errors()}
        raise JiraError(400, errors=errors) from None


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class ClockAdvance(_Strict):
    advance_s: float = Field(ge=0)


class IndexLag(_Strict):
    seconds: float = Field(ge=0)


class TokenChange(_Strict):
    action: Literal["add", "expire", "revoke"]
    token: str = Field(min_length=1)
    # For "add": when the token expires (an absolute time, or seconds from now); neither: never.
    expires_at: AwareDatetime | None = None
    expires_in_s: float | None = Field(default=None, gt=0)


# --- reset and state ---------------------------------------------------------------------------


@router.post("/reset")
async def reset(request: Request) -> dict[str, Any]:
    raw = await request.body()
    seed = default_seed()
    if raw.strip():
        seed = await _parse(request, Seed)
    try:
        state = build_state(seed)
    except (KeyError, ValueError) as exc:
        # A seed that names an unknown user, project or issue type.
        raise JiraError(400, f"The seed is inconsistent: {exc}") from None
    app: FastAPI = request.app
    _apply_index_lag(state, _baseline(app))
    app.state.emulator = state
    app.state.faults.clear()
    app.state.rate_limits.reset()
    return {"sites": sorted(state.sites), "accounts": len(state.accounts)}


@router.get("/state")
async def dump_state(request: Request) -> dict[str, Any]:
    state: EmulatorState = request.app.state.emulator
    return {
        "now": state.now().isoformat(),
        "clock_offset_s": state.clock.offset.total_seconds(),
        "accounts": [_account(state, a) for a in state.accounts.values()],
        "oauth_apps": [{"client_id": a.client_id, "name": a.name} for a in state.oauth_apps.values()],
        "sites": {name: _site(state, site) for name, site in state.sites.items()},
        "deliveries": [d.__dict__ for d in state.deliveries],
    }


def _account(state: EmulatorState, a: Account) -> dict[str, Any]:
    # Token values are never shown, only how many are usable.
    now = state.now()
    return {
        "account_id": a.account_id,
        "email": a.email,
        "display_name": a.display_name,
        "active": a.active,
        "api_tokens": {
            "valid": sum(
                1 for t in a.api_tokens if not t.revoked and (t.expires_at is None or t.expires_at > now)
            ),
            "expired": sum(1 for t in a.api_tokens if not t.revoked and t.expires_at and t.expires_at <= now),
            "revoked": sum(1 for t in a.api_tokens if t.revoked),
        },
    }


def _site(state: EmulatorState, site: Site) -> dict[str, Any]:
    emails = {a.account_id: a.email for a in state.accounts.values()}
    return {
        "cloud_id": site.cloud_id,
        "index_lag_s": site.index_lag_s,
        "members": sorted(emails.get(m, m) for m in site.members),
        "projects": [
            {
                "id": p.id,
                "key": p.key,
                "name": p.name,
                "lead": emails.get(p.lead, p.lead),
                "issue_types": [it.name for it in p.issue_types],
                "statuses": sorted({t.to for t in p.workflow.transitions} | {p.workflow.initial_status}),
            }
            for p in site.projects.values()
        ],
        "issues": [_issue(site, i, emails) for i in site.issues.values()],
        "webhooks": [
            {
                "id": w.id,
                "kind": w.kind,
                "url": w.url,
                "events": w.events,
                "jql_filter": w.jql_filter,
                "client_id": w.client_id,
                "expires_at": w.expires_at.isoformat() if w.expires_at else None,
                "enabled": w.enabled,
            }
            for w in site.webhooks.values()
        ],
    }


def _issue(site: Site, i: Issue, emails: dict[str, str]) -> dict[str, Any]:
    def who(account_id: str | None) -> str | None:
        return emails.get(account_id, account_id) if account_id else None

    project = site.projects.get(i.project_key)
    issue_type = project.issue_type(i.issue_type_id) if project else None
    priority = site.priority_by_ref(i.priority) if i.priority else None
    return {
        "id": i.id,
        "key": i.key,
        "project": i.project_key,
        "issue_type": issue_type.name if issue_type else i.issue_type_id,
        "summary": i.summary,
        "description": adf_to_text(i.description) if i.description else None,
        "status": i.status,
        "resolution": i.resolution,
        "priority": priority.name if priority else None,
        "labels": list(i.labels),
        "assignee": who(i.assignee),
        "reporter": who(i.reporter),
        "created": i.created.isoformat(),
        "updated": i.updated.isoformat(),
        "original_estimate_seconds": i.original_estimate_seconds,
        "remaining_estimate_seconds": i.remaining_estimate_seconds,
        "time_spent_seconds": i.time_spent_seconds,
        "custom": i.custom,
        "comments": [
            {
                "id": c.id,
                "author": who(c.author),
                "body": adf_to_text(c.body),
                "created": c.created.isoformat(),
            }
            for c in i.comments
        ],
        "worklogs": [
            {
                "id": w.id,
                "author": who(w.author),
                "time_spent_seconds": w.time_spent_seconds,
                "started": w.started.isoformat(),
                "comment": adf_to_text(w.comment) if w.comment else None,
            }
            for w in i.worklogs
        ],
        "remote_links": [
            {"id": r.id, "global_id": r.global_id, "object": r.object, "relationship": r.relationship}
            for r in i.remote_links
        ],
        "properties": i.properties,
        "changelog": [
            {
                "id": h.id,
                "author": who(h.author),
                "created": h.created.isoformat(),
                "items": [
                    {"field": it.field_id or it.field, "from": it.from_string, "to": it.to_string}
                    for it in h.items
                ],
            }
            for h in i.changelog
        ],
    }


# --- faults and rate limits ----------------------------------------------------------------------


@router.post("/faults")
async def add_faults(request: Request) -> dict[str, Any]:
    change = await _parse(request, FaultsUpdate)
    table: FaultTable = request.app.state.faults
    added = table.update(change)
    return {**table.describe(), "added": [r.id for r in added]}


@router.get("/faults")
async def get_faults(request: Request) -> dict[str, Any]:
    table: FaultTable = request.app.state.faults
    return table.describe()


@router.delete("/faults")
async def clear_faults(request: Request) -> dict[str, Any]:
    table: FaultTable = request.app.state.faults
    table.clear()
    return table.describe()


@router.delete("/faults/{rule_id}")
async def delete_fault(request: Request, rule_id: int) -> dict[str, Any]:
    table: FaultTable = request.app.state.faults
    if not table.remove(rule_id):
        raise JiraError(404, f"No fault rule {rule_id}.")
    return table.describe()


@router.post("/rate-limits")
async def set_rate_limits(request: Request) -> dict[str, Any]:
    change = await _parse(request, RateLimitUpdate)
    limiter: RateLimiter = request.app.state.rate_limits
    limiter.update(change)
    return limiter.describe()


@router.get("/rate-limits")
async def get_rate_limits(request: Request) -> dict[str, Any]:
    limiter: RateLimiter = request.app.state.rate_limits
    return limiter.describe()


# --- clock, index lag, tokens ----------------------------------------------------------------------


@router.post("/clock")
async def advance_clock(request: Request) -> dict[str, Any]:
    body = await _parse(request, ClockAdvance)
    state: EmulatorState = request.app.state.emulator
    state.clock.advance(body.advance_s)
    return {"now": state.now().isoformat(), "clock_offset_s": state.clock.offset.total_seconds()}


@router.post("/sites/{site}/index-lag")
async def set_index_lag(request: Request, site: str) -> dict[str, Any]:
    body = await _parse(request, IndexLag)
    found = request.app.state.emulator.sites.get(site)
    if found is None:
        raise JiraError(404, f"No site named '{site}'.")
    found.index_lag_s = body.seconds
    return {"site": site, "index_lag_s": found.index_lag_s}


@router.post("/accounts/{email}/api-tokens")
async def change_api_token(request: Request, email: str) -> dict[str, Any]:
    body = await _parse(request, TokenChange)
    state: EmulatorState = request.app.state.emulator
    account = state.account_by_email(email)
    if account is None:
        raise JiraError(404, f"No account with email '{email}'.")
    existing = next((t for t in account.api_tokens if t.token == body.token), None)
    if body.action == "add":
        if existing is not None:
            raise JiraError(409, errors={"token": "This account already has that token."})
        expires_at = body.expires_at
        if body.expires_in_s is not None:
            expires_at = expires_in(state, body.expires_in_s)
        account.api_tokens.append(ApiToken(body.token, expires_at))
    elif existing is None:
        raise JiraError(404, errors={"token": "This account has no such token."})
    elif body.action == "expire":
        existing.expires_at = state.now()
    else:
        existing.revoked = True
    return _account(state, account)
