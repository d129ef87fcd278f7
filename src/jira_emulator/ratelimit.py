"""Rate limiting as Jira Cloud applies it (off by default; configured per site through the control API
or `jira-emulator serve --rate-limit N`).

Limits, each answering 429 with Jira's headers and a `RateLimit-Reason` naming it:

- burst (`jira-burst-based`): requests per second per site x endpoint template x method;
- per-issue writes (`jira-per-issue-on-write`): writes to one issue, e.g. 20 per 2 s and 100 per 30 s;
- the hourly points quota of OAuth 2.0 apps (`jira-quota-tenant-based` per app and site,
  `jira-quota-global-based` per app across sites); API-token traffic is not subject to it, as in Jira.
  A call is weighed as Jira documents it: a base cost, plus a cost per object a read returns (a
  search by the issues it returns), a write only the base cost, and a bulk create by the issues it
  creates (the emulator's assumption). Answers carry `Beta-RateLimit-Policy` and `Beta-RateLimit`;
  the points a read costs are known only once it has been answered, so those answers are buffered;
- a plain per-site limit of N requests per second across all endpoints (for the benchmarks), reported
  as `jira-burst-based` since it is a per-second limit.

Time comes from the emulator's clock, so a test can advance it instead of sleeping.
"""

from __future__ import annotations

import json
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
QUOTA_WINDOW_S = 3600
# Reads Jira answers on POST (a JQL query or a list of ids in the body): weighed as reads.
_READ_POSTS = re.compile(r"/(search(/jql|/approximate-count)?|issue/bulkfetch|worklog/list|comment/list)$")
_BULK_WRITES = re.compile(r"/issue/bulk$")
# Where a list answer keeps its objects; an answer naming one entity is one object.
_COLLECTIONS = ("issues", "values", "comments", "worklogs", "transitions", "issueTypes", "fields")
_QUOTA_POLICY: dict[str, str] = {
    "jira-quota-tenant-based": "tenant-app-quota",
    "jira-quota-global-based": "global-app-quota",  # Jira's name for it is not documented
}
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
    # Jira: every call starts at a base cost of 1 point, a read adds points for each object involved,
    # a write is charged the base cost only. Jira does not publish a weight per object type: 1 here.
    read_points: int = Field(default=1, ge=0)
    object_points: int = Field(default=1, ge=0)
    write_points: int = Field(default=1, ge=0)
    # The emulator's assumption: a bulk create costs what its creates would cost one by one.
    bulk_points_per_item: int = Field(default=1, ge=0)


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
    """Jira's quotas are hourly buckets of points; a fixed window aligned to the clock hour. A call is
    admitted while its base cost fits; what its answer adds is charged afterwards (`charge`), so the
    bucket may end an hour a little over its limit, as Jira's does."""

    limit: int
    cost: int  # the base cost of the call being checked
    hour: int = -1
    used: int = 0

    def _roll(self, now: float) -> int:
        hour = int(now // QUOTA_WINDOW_S)
        if hour != self.hour:
            self.hour, self.used = hour, 0
        return hour

    def check(self, now: float, reason: Reason) -> Verdict:
        hour = self._roll(now)
        admitted = self.used + self.cost <= self.limit
        remaining = self.limit - self.used - (self.cost if admitted else 0)
        return Verdict(reason, self.limit, max(remaining, 0), (hour + 1) * float(QUOTA_WINDOW_S), admitted)

    def commit(self, now: float) -> None:
        self.used += self.cost

    def charge(self, now: float, points: int, reason: Reason) -> Verdict:
        hour = self._roll(now)
        self.used += points
        reset_at = (hour + 1) * float(QUOTA_WINDOW_S)
        return Verdict(reason, self.limit, max(self.limit - self.used, 0), reset_at, True)


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
        meters.extend(self._quota_meters(info))
        return meters

    def weighs_points(self, info: RequestInfo) -> bool:
        """Whether the call is charged to an app's points quota (OAuth traffic with a quota set)."""
        return info.oauth_client is not None and self.config_for(info.site).oauth_quota is not None

    def _quota_meters(self, info: RequestInfo) -> list[tuple[Reason, _HourlyPoints]]:
        q = self.config_for(info.site).oauth_quota
        if q is None or info.oauth_client is None:
            return []
        cost = q.read_points if is_read(info) else q.write_points
        tenant = ("tenant", info.oauth_client, info.site)
        meters: list[tuple[Reason, _HourlyPoints]] = [
            ("jira-quota-tenant-based", self._hourly(tenant, q.tenant_points_per_hour, cost))
        ]
        if q.global_points_per_hour is not None:
            glob = ("global", info.oauth_client)
            meters.append(("jira-quota-global-based", self._hourly(glob, q.global_points_per_hour, cost)))
        return meters

    def settle(self, info: RequestInfo, objects: int, now: float) -> list[Verdict]:
        """Charge what an admitted call's answer adds to its base cost (`objects`: what a read
        returned, or what a bulk create created) and answer the quotas' state after it."""
        q = self.config_for(info.site).oauth_quota
        if q is None:
            return []
        if is_read(info):
            extra = q.object_points * objects
        elif _BULK_WRITES.search(info.template):
            extra = max(q.bulk_points_per_item * objects - q.write_points, 0)
        else:
            extra = 0
        return [bucket.charge(now, extra, reason) for reason, bucket in self._quota_meters(info)]

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


def is_read(info: RequestInfo) -> bool:
    return info.method not in _WRITE_METHODS or _READ_POSTS.search(info.template) is not None


def count_objects(body: Any) -> int:
    """The objects an answer holds, as Jira's points count them: a list's items, a page's items (the
    issues of a search), or one for an answer that is one entity."""
    if isinstance(body, list):
        return len(body)
    if not isinstance(body, dict):
        return 0
    if not any(k in body for k in ("id", "key", "accountId")):
        for key in _COLLECTIONS:
            items = body.get(key)
            if isinstance(items, list):
                return len(items)
    return 1


def quota_headers(verdicts: list[Verdict], now: float) -> list[tuple[bytes, bytes]]:
    """Jira's quota headers (beta, as Atlassian sends them in 2026): the policy (`q` points per `w`
    seconds) and the state (`r` points remaining, `t` seconds until the hour resets)."""
    quotas = [v for v in verdicts if v.reason in _QUOTA_POLICY]
    if not quotas:
        return []
    policy = ", ".join(f'"{_QUOTA_POLICY[v.reason]}";q={v.limit};w={QUOTA_WINDOW_S}' for v in quotas)
    state = ", ".join(
        f'"{_QUOTA_POLICY[v.reason]}";r={v.remaining};t={max(0, math.ceil(v.reset_at - now))}' for v in quotas
    )
    headers = [(b"beta-ratelimit-policy", policy.encode()), (b"beta-ratelimit", state.encode())]
    tightest = min(quotas, key=lambda v: v.remaining / v.limit)
    if tightest.remaining < NEAR_LIMIT_FRACTION * tightest.limit:
        headers.append((b"x-beta-ratelimit-nearlimit", b"true"))
    refused = [v for v in quotas if not v.admitted]
    if refused:
        headers.append((b"x-beta-ratelimit-reason", refused[0].reason.encode()))
    return headers


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
        info = _request_info(scope, site)
        refused, verdicts = limiter.admit(info, now)
        if refused is not None:
            await _send_429(send, refused, now, quota_headers(verdicts, now))
            return
        if limiter.weighs_points(info):
            await self._weighed(scope, receive, send, limiter, info, verdicts)
            return
        extra = usage_headers(verdicts)

        async def send_with_usage(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_usage)

    async def _weighed(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        limiter: RateLimiter,
        info: RequestInfo,
        verdicts: list[Verdict],
    ) -> None:
        """A call charged to the points quota: its answer is held until it is weighed, so that its
        headers can say what remains after it."""
        start: Message | None = None
        chunks: list[bytes] = []

        async def hold(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            else:
                await send(message)

        await self.app(scope, receive, hold)
        if start is None:
            return
        body = b"".join(chunks)
        objects = 0
        if 200 <= start["status"] < 300 and body and (is_read(info) or _BULK_WRITES.search(info.template)):
            try:
                objects = count_objects(json.loads(body))
            except ValueError:
                objects = 0
        now = scope["app"].state.emulator.clock.now().timestamp()
        quotas = limiter.settle(info, objects, now)
        others = [v for v in verdicts if v.reason not in _QUOTA_POLICY]
        extra = [*usage_headers([*others, *quotas]), *quota_headers(quotas, now)]
        await send({**start, "headers": [*start.get("headers", []), *extra]})
        await send({"type": "http.response.body", "body": body})


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


async def _send_429(send: Send, verdict: Verdict, now: float, extra: list[tuple[bytes, bytes]]) -> None:
    body = b'{"errorMessages":["Rate limit exceeded."],"errors":{}}'
    headers = [
        (b"content-type", b"application/json;charset=UTF-8"),
        (b"content-length", str(len(body)).encode()),
        *refusal_headers(verdict, now),
        *extra,
    ]
    await send({"type": "http.response.start", "status": 429, "headers": headers})
    await send({"type": "http.response.body", "body": body})
