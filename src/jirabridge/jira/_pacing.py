"""Per-site pacing: stay under Jira's limits instead of bouncing off them.

One `SitePacer` per Jira site, shared by every client (and every user connection) calling that site:

- `rate` is the site's limit, calls per second; the pacer hands out turns so that any `1 + guard_s`
  seconds hold at most `rate` of them (a sliding window). Jira counts calls as they arrive, a little
  later and less evenly than their turns (the caller's event loop, the network, Jira's front end); a
  second on Jira's side then holds calls whose turns lie within `1 + guard_s` seconds as long as
  that spread stays under `guard_s`, so Jira never sees more than `rate` in a second. A busy site
  gets `rate / (1 + guard_s)` calls per second: 47.2 of 50. Unlike a token bucket, a turn nobody
  took (no call was waiting for a moment) can still be used later in the window;
- a call takes its turn before it asks for a connection (so a site's queue holds none), and is
  checked again against a second window of the same size when its request has its connection and
  is about to be written (`on_the_wire`, an httpx `trace` extension): calls that waited for a
  connection, or for a stalled event loop, used to reach Jira in clumps;
- turns at least `spacing_s` apart (half the average spacing), so the window fills evenly instead of
  in one burst that Jira would spread out on arrival;
- a 429 pauses what its `RateLimit-Reason` names, for `Retry-After` seconds: the quota reasons
  (`jira-quota-global-based`, `jira-quota-tenant-based`) pause every call to the site, the per-issue
  reason (`jira-per-issue-on-write`) only writes to that issue, the burst reason (or none) only that
  endpoint (method + path template);
- a burst 429 also lowers the window's allowance by a tenth (other clients, or another worker
  process, are using the site's budget too), at most once per window. The allowance comes back
  faster the longer the site stays quiet (`EASE` × t² / 2 calls after t seconds without a cut): a
  lone 429 — calls that reached Jira bunched — costs about two seconds at 90 %, while 429s that
  keep coming (someone else is using the budget) keep lowering it until they stop;
- a 503 with `Retry-After` pauses the site: Jira itself is overloaded.

`X-RateLimit-NearLimit` is counted, not acted on: the window already keeps the site under its limit,
and a pacer using its budget is always near it.

The clock is injectable so tests run without sleeping.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from jirabridge.jira._errors import retry_after_seconds

QUOTA_REASONS = frozenset({"jira-quota-global-based", "jira-quota-tenant-based"})
PER_ISSUE_REASON = "jira-per-issue-on-write"
DEFAULT_PAUSE_S = 1.0  # a 429 without Retry-After still gets a pause
# How much later than their turns calls may reach Jira, and how unevenly, without a second on Jira's
# side holding more than `rate` of them (see the module docstring; docs/performance.md).
DEFAULT_GUARD_S = 0.06
TIGHTEN_BY = 0.1  # a burst 429 lowers the window's allowance by this share
EASE = 2.0  # calls/s², see the module docstring


Trace = Callable[[str, Mapping[str, Any]], Awaitable[None]]


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
    checked_on_the_wire: int = 0
    waited_s: float = 0.0
    rate_limited: int = 0
    site_pauses: int = 0
    near_limit: int = 0
    reasons: dict[str, int] = field(default_factory=dict)


@dataclass
class _Window:
    """Turns such that any `seconds` hold at most `allowance` of them, at least `spacing` apart."""

    seconds: float
    spacing: float
    size: int  # the largest allowance: older turns no longer matter
    turns: deque[float] = field(default_factory=deque)  # oldest first, non-decreasing

    def next_turn(self, now: float, allowance: int) -> float:
        """Take the next free turn. Synchronous, so atomic on the event loop: concurrent callers get
        their turns in order."""
        turns = self.turns
        at = now
        if turns:
            at = max(at, turns[-1] + self.spacing)
            if len(turns) >= allowance:
                # The window ending at this turn may hold `allowance - 1` others.
                at = max(at, turns[-allowance] + self.seconds)
        turns.append(at)
        while len(turns) > self.size:
            turns.popleft()
        return at


class SitePacer:
    """Call `await acquire(endpoint, issue)` before each request (and give it `on_the_wire()` as its
    trace extension when the transport is httpx's own) and `observe(...)` after it. The client does
    this when it is given a pacer."""

    def __init__(
        self,
        rate: float = 50.0,
        *,
        guard_s: float = DEFAULT_GUARD_S,
        clock: Clock | None = None,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        if guard_s < 0:
            raise ValueError("guard_s must not be negative")
        self.rate = rate
        self.window_s = 1.0 + guard_s
        # A rate under 1/s still lets one call through per window, stretched to keep the rate.
        self.limit = max(1, math.floor(rate))
        if rate < 1:
            self.window_s /= rate
        self.spacing_s = self.window_s / self.limit / 2
        self.clock: Clock = clock or SystemClock()
        self.stats = PacerStats()
        self._cut_to = float(self.limit)  # the allowance right after the last burst 429
        self._tightened_at = -math.inf
        # Turns before a connection is taken, and again when the request is written on it.
        self._ahead = _Window(self.window_s, self.spacing_s, self.limit)
        self._wire = _Window(self.window_s, self.spacing_s, self.limit)
        self._site_until = 0.0
        self._endpoint_until: dict[str, float] = {}
        self._issue_until: dict[str, float] = {}

    @property
    def allowance(self) -> int:
        """Calls the window currently admits (`rate`, less after burst 429s)."""
        return max(1, math.floor(self._eased(self.clock.monotonic())))

    # --- before a request -------------------------------------------------------------------------

    async def acquire(self, endpoint: str | None = None, issue: str | None = None) -> None:
        """Wait for any pause that covers this call, then for a turn."""
        await self._wait_pauses(endpoint, issue)
        await self._take(self._ahead)
        self.stats.acquired += 1
        await self._wait_pauses(endpoint, issue)  # a 429 may have come while it waited for its turn

    def on_the_wire(self) -> Trace:
        """An httpx `trace` extension for a call that has its turn: when the request has its
        connection and is about to be written, it waits if the writes of the last window are already
        `allowance`. Calls that waited for a connection, or for a stalled event loop, would otherwise
        leave together; they now leave spaced and never overflow Jira's window."""

        async def trace(event: str, info: Mapping[str, Any]) -> None:
            if event.endswith(".send_request_headers.started"):
                await self._take(self._wire)
                self.stats.checked_on_the_wire += 1

        return trace

    async def _take(self, window: _Window) -> None:
        now = self.clock.monotonic()
        wait = window.next_turn(now, self.allowance) - now
        if wait > 0:
            self.stats.waited_s += wait
            await self.clock.sleep(wait)

    def blocked_for(self, endpoint: str | None = None, issue: str | None = None) -> float:
        """Seconds until a call to this endpoint/issue is no longer paused (0: not paused)."""
        now = self.clock.monotonic()
        until = max(
            self._site_until,
            self._endpoint_until.get(endpoint, 0.0) if endpoint else 0.0,
            self._issue_until.get(issue, 0.0) if issue else 0.0,
        )
        return max(0.0, until - now)

    async def _wait_pauses(self, endpoint: str | None = None, issue: str | None = None) -> None:
        while (wait := self.blocked_for(endpoint, issue)) > 0:
            self.stats.waited_s += wait
            await self.clock.sleep(wait)

    # --- after a response ---------------------------------------------------------------------------

    def observe(
        self, response: httpx.Response, endpoint: str | None = None, issue: str | None = None
    ) -> None:
        headers = response.headers
        if headers.get("X-RateLimit-NearLimit", "").strip().lower() == "true":
            self.stats.near_limit += 1
        status = response.status_code
        if status == 429:
            self.stats.rate_limited += 1
            reason = headers.get("RateLimit-Reason", "").strip()
            self.stats.reasons[reason or "none"] = self.stats.reasons.get(reason or "none", 0) + 1
            pause = retry_after_seconds(headers)
            self.pause(pause if pause is not None else DEFAULT_PAUSE_S, reason, endpoint, issue)
            if reason not in QUOTA_REASONS and reason != PER_ISSUE_REASON:
                self._tighten()
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

    def _tighten(self) -> None:
        """Once per window: the calls already sent when the first 429 came are refused as well, and
        they are no news."""
        now = self.clock.monotonic()
        if now < self._tightened_at + self.window_s:
            return
        self._cut_to = max(1.0, self._eased(now) * (1 - TIGHTEN_BY))
        self._tightened_at = now

    def _eased(self, now: float) -> float:
        """The allowance now: the last cut, given back faster the longer it has been quiet."""
        quiet = now - self._tightened_at
        return min(float(self.limit), self._cut_to + EASE * quiet * quiet / 2)

    def _prune(self) -> None:
        # Keep memory flat: pauses that have passed are forgotten.
        now = self.clock.monotonic()
        for table in (self._endpoint_until, self._issue_until):
            if len(table) > 256:
                for key in [k for k, v in table.items() if v <= now]:
                    del table[key]
