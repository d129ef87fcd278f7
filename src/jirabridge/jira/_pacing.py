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
  connection, or for a stalled event loop, used to reach Jira in clumps. That second window counts
  a call when it actually leaves, not when it was due: calls due together that woke late leave
  spaced, rather than all at once;
- `handed_over()`: the process has just been given the site by another (site leases); the other's
  calls of the last window are counted as a full window, so the two together stay under `rate`;
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
- a 503 with `Retry-After` pauses the site: Jira itself is overloaded;
- writes to one issue are paced under Jira's per-issue windows (20 per 2 s and 100 per 30 s, each
  stretched by `guard_s`), in the order they ask, before they take a site turn; an issue written to
  in neither window is forgotten, so memory follows the issues being written, not all issues ever;
- the hourly points quota of OAuth apps: when an answer carries Jira's `Beta-RateLimit` header
  (`r` points left, `t` seconds until the hour resets; never required), the pacer estimates the points
  a call costs (points spent since the hour's first report, per answer) and, when the site's rate
  would spend the rest before the hour ends, lets calls through at the rate that spreads it over the
  time left (a small share of it may go at once: a token bucket). Out of points (a few calls' worth
  are kept for calls already on their way), the site waits for the hour instead of running into the
  429 that would pause it anyway.
- `max_wait_s` (None: no bound): a call that would wait longer than this for a pause or for the
  quota raises `SitePaused` (nothing is sent) instead of sleeping, so a worker gives the job's slot
  to another site's work and runs it again when the pause ends.

`X-RateLimit-NearLimit` is counted, not acted on: the window already keeps the site under its limit,
and a pacer using its budget is always near it.

The clock is injectable so tests run without sleeping.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from jirabridge.jira._errors import SitePaused, retry_after_seconds

QUOTA_REASONS = frozenset({"jira-quota-global-based", "jira-quota-tenant-based"})
PER_ISSUE_REASON = "jira-per-issue-on-write"
DEFAULT_PAUSE_S = 1.0  # a 429 without Retry-After still gets a pause
# How much later than their turns calls may reach Jira, and how unevenly, without a second on Jira's
# side holding more than `rate` of them (see the module docstring; docs/performance.md).
DEFAULT_GUARD_S = 0.06
TIGHTEN_BY = 0.1  # a burst 429 lowers the window's allowance by this share
EASE = 2.0  # calls/s², see the module docstring
# Jira's per-issue write limits: (writes, seconds).
ISSUE_WRITE_WINDOWS: tuple[tuple[int, float], ...] = ((20, 2.0), (100, 30.0))
QUOTA_RESERVE_CALLS = 3  # points kept back, in calls, for calls already on their way
QUOTA_BURST_SHARE = 0.05  # the share of the calls left this hour that may go at once
_FORGET_FROM = 256  # issues remembered before idle ones are forgotten


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
    issue_paced: int = 0  # writes that waited for their issue's windows
    quota_paced: int = 0  # calls that waited to spread the hourly points quota
    quota_waits: int = 0  # times the site waited for the quota's hour to reset


@dataclass
class _Quota:
    """The hourly points quota as Jira last reported it."""

    left: float  # points left (the lowest report this hour: answers may arrive out of order)
    reset_at: float  # monotonic
    first: float  # points left at the hour's first report
    reports: int = 0  # reports since the first
    credit: float = 0.0  # calls that may go now (a token bucket)
    credit_at: float = 0.0

    def cost(self) -> float:
        """Points a call costs, on average, this hour (other processes' use of the quota included)."""
        return max(1.0, (self.first - self.left) / self.reports) if self.reports else 1.0


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
        at = self.earliest(now, allowance)
        self.record(at)
        return at

    def earliest(self, now: float, allowance: int) -> float:
        """The next free turn, not taken."""
        turns = self.turns
        at = now
        if turns:
            at = max(at, turns[-1] + self.spacing)
            if len(turns) >= allowance:
                # The window ending at this turn may hold `allowance - 1` others.
                at = max(at, turns[-allowance] + self.seconds)
        return at

    def record(self, at: float) -> None:
        turns = self.turns
        turns.append(max(at, turns[-1]) if turns else at)
        while len(turns) > self.size:
            turns.popleft()

    def fill(self, at: float) -> None:
        """As if the whole window's allowance had been used at `at`."""
        for _ in range(self.size):
            self.record(at)


class SitePacer:
    """Call `await acquire(endpoint, issue)` before each request (and give it `on_the_wire()` as its
    trace extension when the transport is httpx's own) and `observe(...)` after it. The client does
    this when it is given a pacer."""

    def __init__(
        self,
        rate: float = 50.0,
        *,
        guard_s: float = DEFAULT_GUARD_S,
        issue_writes: Sequence[tuple[int, float]] = ISSUE_WRITE_WINDOWS,
        clock: Clock | None = None,
        max_wait_s: float | None = None,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        if guard_s < 0:
            raise ValueError("guard_s must not be negative")
        if any(limit < 1 or seconds <= 0 for limit, seconds in issue_writes):
            raise ValueError("issue_writes must be (writes >= 1, seconds > 0) pairs")
        if max_wait_s is not None and max_wait_s < 0:
            raise ValueError("max_wait_s must not be negative")
        self.rate = rate
        self.max_wait_s = max_wait_s
        self.guard_s = guard_s
        self.issue_windows = [(limit, seconds + guard_s) for limit, seconds in issue_writes]
        self._issue_memory_s = max((s for _, s in self.issue_windows), default=0.0)
        self._issue_turns: dict[str, deque[float]] = {}
        self._forget_at = _FORGET_FROM
        self._quota: _Quota | None = None
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
        """Wait for any pause that covers this call, then for a turn. `issue`: the issue a write goes
        to (None for reads: Jira limits writes to one issue only). `SitePaused` when a pause or the
        quota would hold it longer than `max_wait_s`."""
        await self._wait_pauses(endpoint, issue)
        if issue is not None and self.issue_windows:
            await self._take_issue_turn(issue)
        await self._take_quota_turn()
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
                await self._leave_on_the_wire()
                self.stats.checked_on_the_wire += 1

        return trace

    async def _leave_on_the_wire(self) -> None:
        """Wait until the request may be written, then count it at the moment it is. Unlike a turn
        taken ahead, nothing is reserved: calls that were due together but woke late (the event loop
        stalled: the machine's other processes, a long callback) would all leave at once on their
        reserved turns; each checks the window again when it wakes, so they leave spaced."""
        window = self._wire
        while (wait := window.earliest(now := self.clock.monotonic(), self.allowance) - now) > 0:
            self.stats.waited_s += wait
            await self.clock.sleep(wait)
        window.record(now)

    def handed_over(self, at: float | None = None) -> None:
        """This process has just been given the site (a site lease, storage/leases.py): until `at`
        (monotonic, default now) another process was calling it, whose calls Jira still counts for a
        window. Counted as the window's whole allowance used at `at`, the first calls here wait one
        window, and the two processes' calls together never exceed the site's limit."""
        at = self.clock.monotonic() if at is None else at
        self._ahead.fill(at)
        self._wire.fill(at)

    async def _take(self, window: _Window) -> None:
        now = self.clock.monotonic()
        wait = window.next_turn(now, self.allowance) - now
        if wait > 0:
            self.stats.waited_s += wait
            await self.clock.sleep(wait)

    async def _take_issue_turn(self, issue: str) -> None:
        now = self.clock.monotonic()
        turns = self._issue_turns.get(issue)
        if turns is None:
            if len(self._issue_turns) >= self._forget_at:
                self._forget_idle_issues(now)
            depth = max(limit for limit, _ in self.issue_windows)
            turns = self._issue_turns[issue] = deque(maxlen=depth)
        at = max(now, turns[-1]) if turns else now  # one issue's writes keep their order
        for limit, seconds in self.issue_windows:
            if len(turns) >= limit:
                at = max(at, turns[-limit] + seconds)
        turns.append(at)
        if at > now:
            self.stats.issue_paced += 1
            self.stats.waited_s += at - now
            await self.clock.sleep(at - now)

    def _forget_idle_issues(self, now: float) -> None:
        """Issues with no write in the longest window no longer constrain anything."""
        idle = [k for k, turns in self._issue_turns.items() if turns[-1] <= now - self._issue_memory_s]
        for key in idle:
            del self._issue_turns[key]
        self._forget_at = max(_FORGET_FROM, 2 * len(self._issue_turns))

    @property
    def issues_remembered(self) -> int:
        return len(self._issue_turns)

    async def _take_quota_turn(self) -> None:
        """Spread what is left of the hourly points quota over what is left of the hour."""
        while (quota := self._quota) is not None:
            now = self.clock.monotonic()
            if now >= quota.reset_at:
                self._quota = None  # a new hour: paced by the site's rate until Jira reports again
                return
            cost = quota.cost()
            calls = (quota.left - QUOTA_RESERVE_CALLS * cost) / cost
            if calls < 1:
                self._bound_wait(quota.reset_at - now, site_wide=True)
                self.stats.quota_waits += 1
                self.stats.waited_s += quota.reset_at - now
                await self.clock.sleep(quota.reset_at - now)
                continue
            rate = calls / (quota.reset_at - now)
            cap = max(1.0, calls * QUOTA_BURST_SHARE)
            if rate >= self.rate:  # the site's own rate spends less than the hour holds
                quota.credit, quota.credit_at = cap, now
                return
            quota.credit = min(cap, quota.credit + (now - quota.credit_at) * rate) - 1
            quota.credit_at = now
            if quota.credit < 0:
                wait = -quota.credit / rate
                if self.max_wait_s is not None and wait > self.max_wait_s:
                    quota.credit += 1  # the call is not made now
                    raise SitePaused(wait, site_wide=True)
                self.stats.quota_paced += 1
                self.stats.waited_s += wait
                await self.clock.sleep(wait)
            return

    def blocked_for(self, endpoint: str | None = None, issue: str | None = None) -> float:
        """Seconds until a call to this endpoint/issue is no longer paused (0: not paused)."""
        now = self.clock.monotonic()
        until = max(
            self._site_until,
            self._endpoint_until.get(endpoint, 0.0) if endpoint else 0.0,
            self._issue_until.get(issue, 0.0) if issue else 0.0,
        )
        return max(0.0, until - now)

    def _bound_wait(self, seconds: float, *, site_wide: bool) -> None:
        if self.max_wait_s is not None and seconds > self.max_wait_s:
            raise SitePaused(seconds, site_wide=site_wide)

    async def _wait_pauses(self, endpoint: str | None = None, issue: str | None = None) -> None:
        while (wait := self.blocked_for(endpoint, issue)) > 0:
            self._bound_wait(wait, site_wide=self._site_until - self.clock.monotonic() >= wait)
            self.stats.waited_s += wait
            await self.clock.sleep(wait)

    # --- after a response ---------------------------------------------------------------------------

    def observe(
        self, response: httpx.Response, endpoint: str | None = None, issue: str | None = None
    ) -> None:
        headers = response.headers
        if headers.get("X-RateLimit-NearLimit", "").strip().lower() == "true":
            self.stats.near_limit += 1
        if (quota := quota_state(headers.get("Beta-RateLimit", ""))) is not None:
            self._observe_quota(*quota)
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

    def _observe_quota(self, left: float, reset_in: float) -> None:
        now = self.clock.monotonic()
        reset_at = now + reset_in
        quota = self._quota
        # `t` is whole seconds, so the reset moment it gives moves by up to a second; a later hour
        # moves it by about an hour.
        if quota is None or now >= quota.reset_at or reset_at > quota.reset_at + 60:
            self._quota = _Quota(left, reset_at, first=left, credit=1.0, credit_at=now)
            return
        quota.reports += 1
        quota.left = min(quota.left, left)

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


def quota_state(value: str) -> tuple[float, float] | None:
    """(points left, seconds until reset) of the tightest quota in a `Beta-RateLimit` header, e.g.
    `"tenant-app-quota";r=17842;t=2107` (a list of such items); None when absent or unreadable."""
    tightest: tuple[float, float] | None = None
    for item in value.split(","):
        params = dict(part.strip().partition("=")[::2] for part in item.split(";")[1:])
        try:
            left, reset_in = float(params["r"]), float(params["t"])
        except (KeyError, ValueError):
            continue
        if not (left >= 0 and 0 <= reset_in <= 86_400):
            continue
        if tightest is None or left < tightest[0]:
            tightest = (left, reset_in)
    return tightest
