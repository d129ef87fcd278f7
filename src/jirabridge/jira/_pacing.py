"""Per-site pacing: stay under Jira's limits instead of bouncing off them.

One `SitePacer` per Jira site, shared by every client (and every user connection) calling that site:

- a token bucket at `rate` requests per second with a small `burst`, so a sliding one-second window
  on Jira's side never sees more than `burst + rate` calls;
- `X-RateLimit-NearLimit: true` (Jira: under 20 % of the budget left) stops bursts for `slow_s` (or
  until `X-RateLimit-Reset`, when that is sooner): calls go strictly one every 1/rate seconds, so the
  window never sees more than the rate; and slows to `near_limit_factor` of the rate (default 1: a
  pacer set under the site's limit, as it should be, is *always* near it — halving there, as this
  did first, capped a busy site at about 60 % of its limit; bench/outbound.py);
- a 429 pauses what its `RateLimit-Reason` names, for `Retry-After` seconds: the quota reasons
  (`jira-quota-global-based`, `jira-quota-tenant-based`) pause every call to the site, the per-issue
  reason (`jira-per-issue-on-write`) only writes to that issue, the burst reason (or none) only that
  endpoint (method + path template);
- a 503 with `Retry-After` pauses the site: Jira itself is overloaded.

The clock is injectable so tests run without sleeping.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

import httpx

from jirabridge.jira._errors import parse_reset, retry_after_seconds

QUOTA_REASONS = frozenset({"jira-quota-global-based", "jira-quota-tenant-based"})
PER_ISSUE_REASON = "jira-per-issue-on-write"
DEFAULT_PAUSE_S = 1.0  # a 429 without Retry-After still gets a pause


class Clock(Protocol):
    def monotonic(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


@dataclass
class PacerStats:
    acquired: int = 0
    waited_s: float = 0.0
    rate_limited: int = 0
    site_pauses: int = 0
    near_limit: int = 0
    reasons: dict[str, int] = field(default_factory=dict)


class SitePacer:
    """Call `await acquire(endpoint, issue)` before each request and `observe(...)` after it. The
    client does both when it is given a pacer."""

    def __init__(
        self,
        rate: float = 50.0,
        *,
        burst: float | None = None,
        near_limit_factor: float = 1.0,
        slow_s: float = 1.0,
        clock: Clock | None = None,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, rate / 10)
        self.near_limit_factor = near_limit_factor
        self.slow_s = slow_s
        self.clock: Clock = clock or SystemClock()
        self.stats = PacerStats()
        self._tokens = self.burst
        self._last = self.clock.monotonic()
        self._site_until = 0.0
        self._slow_until = 0.0
        self._endpoint_until: dict[str, float] = {}
        self._issue_until: dict[str, float] = {}

    # --- before a request -------------------------------------------------------------------------

    async def acquire(self, endpoint: str | None = None, issue: str | None = None) -> None:
        """Wait for any pause that covers this call, then for a token."""
        await self._wait_pauses(endpoint, issue)
        wait = self._reserve()
        if wait > 0:
            self.stats.waited_s += wait
            await self.clock.sleep(wait)
            # A 429 may have arrived while we waited for our turn.
            await self._wait_pauses(endpoint, issue)
        self.stats.acquired += 1

    def blocked_for(self, endpoint: str | None = None, issue: str | None = None) -> float:
        """Seconds until a call to this endpoint/issue is no longer paused (0: not paused)."""
        now = self.clock.monotonic()
        until = max(
            self._site_until,
            self._endpoint_until.get(endpoint, 0.0) if endpoint else 0.0,
            self._issue_until.get(issue, 0.0) if issue else 0.0,
        )
        return max(0.0, until - now)

    def current_rate(self) -> float:
        slowed = self.clock.monotonic() < self._slow_until
        return self.rate * (self.near_limit_factor if slowed else 1.0)

    async def _wait_pauses(self, endpoint: str | None, issue: str | None) -> None:
        while (wait := self.blocked_for(endpoint, issue)) > 0:
            self.stats.waited_s += wait
            await self.clock.sleep(wait)

    def _reserve(self) -> float:
        """Take a token now, going into debt if none is left; answer how long the debt takes to
        clear. Synchronous, so atomic on the event loop: concurrent callers queue up in order."""
        now = self.clock.monotonic()
        rate = self.current_rate()
        # Near the limit, no burst: at most one token banked (the call about to go).
        ceiling = 1.0 if now < self._slow_until else self.burst
        self._tokens = min(ceiling, self._tokens + (now - self._last) * rate)
        self._last = now
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / rate

    # --- after a response ---------------------------------------------------------------------------

    def observe(
        self, response: httpx.Response, endpoint: str | None = None, issue: str | None = None
    ) -> None:
        headers = response.headers
        now = self.clock.monotonic()
        if headers.get("X-RateLimit-NearLimit", "").strip().lower() == "true":
            self.stats.near_limit += 1
            self._slow_until = max(self._slow_until, now + self._seconds_to_reset(headers))
        status = response.status_code
        if status == 429:
            self.stats.rate_limited += 1
            reason = headers.get("RateLimit-Reason", "").strip()
            self.stats.reasons[reason or "none"] = self.stats.reasons.get(reason or "none", 0) + 1
            pause = retry_after_seconds(headers)
            self.pause(pause if pause is not None else DEFAULT_PAUSE_S, reason, endpoint, issue)
        elif status == 503 and (pause := retry_after_seconds(headers)) is not None:
            self.pause(pause, "jira-quota-global-based", endpoint, issue)

    def pause(
        self, seconds: float, reason: str = "", endpoint: str | None = None, issue: str | None = None
    ) -> None:
        """Pause what `reason` names for `seconds` (see the module docstring)."""
        until = self.clock.monotonic() + seconds
        self._prune()
        if reason in QUOTA_REASONS or (endpoint is None and issue is None):
            self.stats.site_pauses += 1
            self._site_until = max(self._site_until, until)
        elif reason == PER_ISSUE_REASON and issue is not None:
            self._issue_until[issue] = max(self._issue_until.get(issue, 0.0), until)
        elif endpoint is not None:
            self._endpoint_until[endpoint] = max(self._endpoint_until.get(endpoint, 0.0), until)
        else:
            assert issue is not None
            self._issue_until[issue] = max(self._issue_until.get(issue, 0.0), until)

    def _seconds_to_reset(self, headers: httpx.Headers) -> float:
        """How long to stay slow: `slow_s`, or less when the limit resets sooner. (The reset has
        minute precision, so a later reset is no reason to crawl for up to a minute.)"""
        reset = parse_reset(headers.get("X-RateLimit-Reset"))
        if reset is None:
            return self.slow_s
        return max(0.0, min(self.slow_s, (reset - datetime.now(UTC)).total_seconds()))

    def _prune(self) -> None:
        # Keep memory flat: pauses that have passed are forgotten.
        now = self.clock.monotonic()
        for table in (self._endpoint_until, self._issue_until):
            if len(table) > 256:
                for key in [k for k, v in table.items() if v <= now]:
                    del table[key]
