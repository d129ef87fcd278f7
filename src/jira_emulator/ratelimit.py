"""Rate limiting as Jira Cloud applies it (off by default; configured per site through the control API
or `jira-emulator serve --rate-limit N`).

Limits, each answering 429 with Jira's headers and a `RateLimit-Reason` naming it:

- burst (`jira-burst-based`): requests per second per site x endpoint template x method;
- per-issue writes (`jira-per-issue-on-write`): writes to one issue, e.g. 20 per 2 s and 100 per 30 s;
- the hourly points quota of OAuth 2.0 apps (`jira-quota-tenant-based` per app and site,
  `jira-quota-global-based` per app across sites); API-token traffic is not subject to it, as in Jira;
- a plain per-site limit of N requests per second across all endpoints (for the benchmarks), reported
  as `jira-burst-based` since it is a per-second limit.

Time comes from the emulator's clock, so a test can advance it instead of sleeping.
"""

from __future__ import annotations

import math
import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from starlette.routing import BaseRoute, compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jira_emulator.state import Site

Reason = Literal[
    "jira-burst-based", "jira-per-issue-on-write", "jira-quota-tenant-based", "jira-quota-global-based"
]
NEAR_LIMIT_FRACTION = 0.2
_WRITE_METHODS = frozenset({"POST", "PUT", "DELETE", "PATCH"})
# The path parameter that names the issue, whatever a route calls it: `/issue/{issueIdOrKey}/...`.
_ISSUE_PARAM = re.compile(r"/issue/\{(\w+)")


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class BurstLimit(_Strict):
    get_post_per_s: int = Field(default=100, gt=0)
    put_delete_per_s: int = Field(default=50, gt=0)
    window_s: float = Field(default=1.0, gt=0)


class WriteWindow(_Strict):
    limit: int = Field(gt=0)
    seconds: float = Field(gt=0)


def _default_windows() -> list[WriteWindow]:
    return [WriteWindow(limit=20, seconds=2.0), WriteWindow(limit=100, seconds=30.0)]


class PerIssueWriteLimit(_Strict):
    windows: list[WriteWindow] = Field(default_factory=_default_windows, min_length=1)


class OAuthQuota(_Strict):
    tenant_points_per_hour: int = Field(default=65_000, gt=0)
    global_points_per_hour: int | None = Field(default=None, gt=0)
    # Jira weighs a call by the objects it touches; the emulator charges a flat cost per call.
    read_points: int = Field(default=1, ge=0)
    write_points: int = Field(default=1, ge=0)


class RateLimitConfig(_Strict):
    """The limits of one site; a limit left out (null) is off."""

    burst: BurstLimit | None = None
    per_issue_write: PerIssueWriteLimit | None = None
    oauth_quota: OAuthQuota | None = None
    requests_per_s: int | None = Field(default=None, gt=0)

    def active(self) -> bool:
        return any(
            x is not None for x in (self.burst, self.per_issue_write, self.oauth_quota, self.requests_per_s)
        )


class RateLimitUpdate(_Strict):
    """`POST /_emulator/rate-limits`: replace the default for every site and/or per-site overrides
    (an override of null removes it, so the site falls back to the default)."""

    default: RateLimitConfig | None = None
    sites: dict[str, RateLimitConfig | None] = Field(default_factory=dict)


@dataclass
class Verdict:
    """One limit's answer to one request."""

    reason: Reason
    limit: int
    remaining: int  # after this request, if admitted
    reset_at: float  # epoch seconds when capacity comes back
    admitted: bool


@dataclass
class RequestInfo:
    site: str
    method: str
    template: str  # the route's path template, e.g. /rest/api/3/issue/{issueIdOrKey}
    issue: str | None  # the issue written to (its id when known)
    oauth_client: str | None  # the OAuth app calling through the gateway


@dataclass
class _Sliding:
    """A sliding-window log: exact, and small since windows are short."""

    limit: int
    seconds: float
    times: deque[float] = field(default_factory=deque)

    def check(self, now: float, reason: Reason) -> Verdict:
        while self.times and self.times[0] <= now - self.seconds:
            self.times.popleft()
        used = len(self.times)
        admitted = used < self.limit
        reset_at = (self.times[0] + self.seconds) if self.times else now + self.seconds
        return Verdict(reason, self.limit, max(self.limit - used - 1, 0), reset_at, admitted)

    def commit(self, now: float) -> None:
        self.times.append(now)


@dataclass
class _HourlyPoints:
    """Jira's quotas are hourly buckets of points; a fixed window aligned to the clock hour."""

    limit: int
    cost: int
    hour: int = -1
    used: int = 0

    def check(self, now: float, reason: Reason) -> Verdict:
        hour = int(now // 3600)
        if hour != self.hour:
            self.hour, self.used = hour, 0
        admitted = self.used + self.cost <= self.limit
        remaining = self.limit - self.used - (self.cost if admitted else 0)
        return Verdict(reason, self.limit, max(remaining, 0), (hour + 1) * 3600.0, admitted)

    def commit(self, now: float) -> None:
        self.used += self.cost


class RateLimiter:
    """Holds the configuration (a baseline from the command line, runtime changes from the control
    API) and the counters. Checks and commits are synchronous, so they are atomic on the event loop."""

    def __init__(self) -> None:
        self.baseline = RateLimitUpdate()
        self.default = RateLimitConfig()
        self.sites: dict[str, RateLimitConfig] = {}
        self._windows: dict[tuple[str, ...], _Sliding] = {}
        self._points: dict[tuple[str, ...], _HourlyPoints] = {}
        self.rejections: dict[str, int] = {}
        self.routes: list[tuple[re.Pattern[str], str, set[str] | None]] | None = None  # built on first use

    def set_baseline(self, baseline: RateLimitUpdate) -> None:
        self.baseline = baseline
        self.reset()

    def reset(self) -> None:
        """Back to the baseline configuration, with fresh counters."""
        self.default = RateLimitConfig()
        self.sites = {}
        self.update(self.baseline)

    def update(self, change: RateLimitUpdate) -> None:
        if change.default is not None:
            self.default = change.default
        for name, config in change.sites.items():
            if config is None:
                self.sites.pop(name, None)
            else:
                self.sites[name] = config
        self._windows.clear()
        self._points.clear()
        self.rejections.clear()

    def config_for(self, site: str) -> RateLimitConfig:
        return self.sites.get(site, self.default)

    def describe(self) -> dict[str, Any]:
        return {
            "default": self.default.model_dump(),
            "sites": {name: c.model_dump() for name, c in self.sites.items()},
            "rejections": dict(self.rejections),
        }

    def admit(self, info: RequestInfo, now: float) -> tuple[Verdict | None, list[Verdict]]:
        """(the verdict that refuses the request or None, every verdict). Counts only admitted
        requests: a refused call does not use up capacity."""
        meters = self._meters(info)
        verdicts = [meter.check(now, reason) for reason, meter in meters]
        refused = [v for v in verdicts if not v.admitted]
        if refused:
            worst = max(refused, key=lambda v: v.reset_at)
            self.rejections[worst.reason] = self.rejections.get(worst.reason, 0) + 1
            return worst, verdicts
        for _, meter in meters:
            meter.commit(now)
        return None, verdicts

    def _meters(self, info: RequestInfo) -> list[tuple[Reason, _Sliding | _HourlyPoints]]:
        config = self.config_for(info.site)
        meters: list[tuple[Reason, _Sliding | _HourlyPoints]] = []
        if config.requests_per_s is not None:
            meters.append(("jira-burst-based", self._window(("site", info.site), config.requests_per_s, 1.0)))
        if config.burst is not None:
            b = config.burst
            per_s = b.put_delete_per_s if info.method in ("PUT", "DELETE") else b.get_post_per_s
            key = ("burst", info.site, info.method, info.template)
            meters.append(("jira-burst-based", self._window(key, math.ceil(per_s * b.window_s), b.window_s)))
        if config.per_issue_write is not None and info.issue is not None and info.method in _WRITE_METHODS:
            for w in config.per_issue_write.windows:
                key = ("issue", info.site, info.issue, str(w.seconds))
                meters.append(("jira-per-issue-on-write", self._window(key, w.limit, w.seconds)))
        if config.oauth_quota is not None and info.oauth_client is not None:
            q = config.oauth_quota
            cost = q.write_points if info.method in _WRITE_METHODS else q.read_points
            tenant = ("tenant", info.oauth_client, info.site)
            meters.append(("jira-quota-tenant-based", self._hourly(tenant, q.tenant_points_per_hour, cost)))
            if q.global_points_per_hour is not None:
                glob = ("global", info.oauth_client)
                meters.append(("jira-quota-global-based", self._hourly(glob, q.global_points_per_hour, cost)))
        return meters

    def _window(self, key: tuple[str, ...], limit: int, seconds: float) -> _Sliding:
        window = self._windows.get(key)
        if window is None or window.limit != limit or window.seconds != seconds:
            window = self._windows[key] = _Sliding(limit, seconds)
        return window

    def _hourly(self, key: tuple[str, ...], limit: int, cost: int) -> _HourlyPoints:
        bucket = self._points.get(key)
        if bucket is None:
            bucket = self._points[key] = _HourlyPoints(limit, cost)
        bucket.limit, bucket.cost = limit, cost
        return bucket


def reset_header(moment: float) -> str:
    """Atlassian documents `X-RateLimit-Reset` as ISO 8601 in the form `yyyy-MM-ddTHH:mmZ`."""
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%MZ")


def refusal_headers(verdict: Verdict, now: float) -> list[tuple[bytes, bytes]]:
    retry_after = max(1, math.ceil(verdict.reset_at - now))
    pairs = {
        "retry-after": str(retry_after),
        "x-ratelimit-limit": str(verdict.limit),
        "x-ratelimit-remaining": "0",
        "x-ratelimit-reset": reset_header(now + retry_after),
        "x-ratelimit-nearlimit": "true",
        "ratelimit-reason": verdict.reason,
    }
    return [(k.encode(), v.encode()) for k, v in pairs.items()]


def usage_headers(verdicts: list[Verdict]) -> list[tuple[bytes, bytes]]:
    """On an admitted call: the tightest limit's numbers, and the near-limit warning under 20 %."""
    if not verdicts:
        return []
    tightest = min(verdicts, key=lambda v: v.remaining / v.limit)
    headers = [
        (b"x-ratelimit-limit", str(tightest.limit).encode()),
        (b"x-ratelimit-remaining", str(tightest.remaining).encode()),
    ]
    if tightest.remaining < NEAR_LIMIT_FRACTION * tightest.limit:
        headers.append((b"x-ratelimit-nearlimit", b"true"))
    return headers


class RateLimitMiddleware:
    """Pure ASGI middleware inside site routing: `scope["state"]["site"]` is already set."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        site: Site | None = scope.get("state", {}).get("site")
        if scope["type"] != "http" or site is None or not scope["path"].startswith("/rest/"):
            await self.app(scope, receive, send)
            return
        app_state = scope["app"].state
        limiter: RateLimiter = app_state.rate_limits
        if not limiter.config_for(site.name).active():
            await self.app(scope, receive, send)
            return
        now = app_state.emulator.clock.now().timestamp()
        refused, verdicts = limiter.admit(_request_info(scope, site), now)
        if refused is not None:
            await _send_429(send, refused, now)
            return
        extra = usage_headers(verdicts)

        async def send_with_usage(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_usage)


def _request_info(scope: Scope, site: Site) -> RequestInfo:
    template, params = _route_template(scope)
    named = _ISSUE_PARAM.search(template)
    ref = str(params[named.group(1)]) if named and named.group(1) in params else None
    issue: str | None = None
    if ref is not None:
        found = site.issue_by_ref(ref)
        issue = found.id if found is not None else ref.upper()
    client: str | None = None
    if scope["state"].get("gateway"):
        client = _oauth_client(scope)
    return RequestInfo(site.name, scope["method"], template, issue, client)


def _route_template(scope: Scope) -> tuple[str, dict[str, Any]]:
    """The endpoint as Jira counts it: the route template, not the concrete path."""
    limiter: RateLimiter = scope["app"].state.rate_limits
    if limiter.routes is None:
        limiter.routes = list(_route_table(scope["app"].router.routes))
    path, method = scope["path"], scope["method"]
    partial: tuple[str, dict[str, Any]] | None = None
    for regex, template, methods in limiter.routes:
        found = regex.match(path)
        if found is None:
            continue
        if methods is None or method in methods:
            return template, found.groupdict()
        partial = partial or (template, found.groupdict())
    return partial or (path, {})


def _route_table(routes: list[BaseRoute]) -> Iterator[tuple[re.Pattern[str], str, set[str] | None]]:
    """Every route's full template, in matching order. FastAPI 0.16x nests included routers
    (`effective_route_contexts`); older versions and plain Starlette routes have `path` directly."""
    for route in routes:
        contexts = getattr(route, "effective_route_contexts", None)
        entries = [(c.path, c.methods) for c in contexts()] if callable(contexts) else []
        if not callable(contexts) and isinstance(getattr(route, "path", None), str):
            entries = [(getattr(route, "path"), getattr(route, "methods", None))]  # noqa: B009
        for template, methods in entries:
            if template:
                regex, _, _ = compile_path(template)
                yield regex, template, methods


def _oauth_client(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name.lower() == b"authorization":
            scheme, _, token = value.decode(errors="replace").partition(" ")
            if scheme.lower() == "bearer":
                found = scope["app"].state.emulator.access_tokens.get(token.strip())
                return found.client_id if found is not None else None
    return None


async def _send_429(send: Send, verdict: Verdict, now: float) -> None:
    body = b'{"errorMessages":["Rate limit exceeded."],"errors":{}}'
    headers = [
        (b"content-type", b"application/json;charset=UTF-8"),
        (b"content-length", str(len(body)).encode()),
        *refusal_headers(verdict, now),
    ]
    await send({"type": "http.response.start", "status": 429, "headers": headers})
    await send({"type": "http.response.body", "body": body})
