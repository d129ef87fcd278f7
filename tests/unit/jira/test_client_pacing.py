"""The per-site pacer: a sliding window under the site's limit, and pauses scoped by the 429's reason."""

from __future__ import annotations

import asyncio
import bisect
import itertools
import math

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jirabridge.jira import Action, SitePacer, SitePaused


class FakeClock:
    """Time moves only when someone sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def answer(status: int, **headers: str) -> httpx.Response:
    return httpx.Response(status, headers={k.replace("_", "-"): v for k, v in headers.items()})


async def turns_of(pacer: SitePacer, clock: FakeClock, gaps: list[float]) -> list[float]:
    """The moments calls get their turns when they ask `gaps` apart (one caller at a time)."""
    times = []
    for gap in gaps:
        clock.now += gap
        await pacer.acquire()
        times.append(clock.now)
    return times


def most_in_a_window(times: list[float], seconds: float) -> int:
    ordered = sorted(times)
    return max(bisect.bisect_left(ordered, t + seconds) - i for i, t in enumerate(ordered))


@settings(max_examples=60, deadline=None)
@given(
    gaps=st.lists(st.floats(min_value=0, max_value=0.1), min_size=1, max_size=300),
    lags=st.lists(st.floats(min_value=0, max_value=0.06), min_size=300, max_size=300),
)
def test_jira_never_sees_more_than_the_rate_in_a_second(gaps: list[float], lags: list[float]) -> None:
    # Whatever the callers do, and however late (up to the guard) each call reaches Jira after its
    # turn, no second on Jira's side holds more calls than the site's limit.
    clock = FakeClock()
    pacer = SitePacer(rate=50, guard_s=0.06, clock=clock)
    turns = asyncio.run(turns_of(pacer, clock, gaps))
    assert most_in_a_window(turns, 1.06) <= 50
    arrivals = [t + lag for t, lag in zip(turns, lags, strict=False)]
    assert most_in_a_window(arrivals, 1.0) <= 50


async def test_a_busy_site_gets_its_rate_less_the_guard() -> None:
    clock = FakeClock()
    pacer = SitePacer(rate=50, guard_s=0.06, clock=clock)
    start = clock.now
    await asyncio.gather(*(pacer.acquire() for _ in range(50 * 10)))
    # 500 calls: 50 in each window of 1.06 s, spread over its first half (turns are spaced at twice
    # the rate); the last one 9 windows and 49 spacings after the first.
    assert clock.now - start == pytest.approx(9 * 1.06 + 49 * pacer.spacing_s)
    assert pacer.spacing_s == pytest.approx(1.06 / 100)
    assert pacer.stats.acquired == 500


async def test_turns_nobody_took_are_used_later_in_the_window() -> None:
    # A token bucket loses what it cannot bank; the window lets a busy moment make up for a quiet one.
    clock = FakeClock()
    pacer = SitePacer(rate=10, guard_s=0, clock=clock)
    for _ in range(2):
        await pacer.acquire()
    clock.now += 0.5  # nobody called for half a second
    start = clock.now
    for _ in range(8):
        await pacer.acquire()
    # The other 8 of this second's 10 go at once, only spaced at twice the rate.
    assert clock.now - start == pytest.approx(7 * 0.05)
    await pacer.acquire()  # the eleventh waits for the first to leave the window
    assert clock.now == pytest.approx(1000.0 + 1.0)


async def test_turns_are_spaced_even_in_a_burst() -> None:
    clock = FakeClock()
    pacer = SitePacer(rate=20, guard_s=0, clock=clock)
    turns = await turns_of(pacer, clock, [0.0] * 5)
    assert [round(b - a, 6) for a, b in itertools.pairwise(turns)] == [0.025] * 4


async def test_a_rate_under_one_a_second_still_lets_calls_through() -> None:
    clock = FakeClock()
    pacer = SitePacer(rate=0.5, guard_s=0, clock=clock)
    start = clock.now
    for _ in range(3):
        await pacer.acquire()
    assert clock.now - start == pytest.approx(4.0)


async def test_a_burst_429_lowers_the_allowance_once_then_it_comes_back() -> None:
    # Other clients use the site too: back off by a tenth, once per window (the calls already sent
    # are refused as well); the longer it stays quiet, the faster the allowance comes back.
    clock = FakeClock()
    pacer = SitePacer(rate=50, clock=clock)
    refused = answer(429, Retry_After="1", RateLimit_Reason="jira-burst-based")
    pacer.observe(refused, "POST /issue/{issue}/comment", "WEB-1")
    pacer.observe(refused, "POST /issue/{issue}/comment", "WEB-2")
    assert pacer.allowance == 45
    clock.now += 1
    assert pacer.allowance == 46
    clock.now += 1
    assert pacer.allowance == 49  # a lone 429 costs about two seconds
    pacer.observe(refused, "POST /issue/{issue}/comment", "WEB-3")
    assert pacer.allowance == 44  # 49.0 less a tenth
    clock.now += 60
    assert pacer.allowance == 50


async def test_429s_that_keep_coming_keep_lowering_the_allowance() -> None:
    # Someone else uses the budget all the time: each window's 429 costs more than the quiet gives back.
    clock = FakeClock()
    pacer = SitePacer(rate=50, clock=clock)
    refused = answer(429, Retry_After="1", RateLimit_Reason="jira-burst-based")
    seen = []
    for n in range(6):
        pacer.observe(refused, "POST /issue/{issue}/comment", f"WEB-{n}")
        seen.append(pacer.allowance)
        clock.now += 1.1
    assert seen == sorted(seen, reverse=True) and seen[-1] <= 35


@pytest.mark.parametrize("reason", ["jira-per-issue-on-write", "jira-quota-tenant-based"])
async def test_per_issue_and_quota_429s_leave_the_allowance_alone(reason: str) -> None:
    clock = FakeClock()
    pacer = SitePacer(rate=50, clock=clock)
    pacer.observe(
        answer(429, Retry_After="1", RateLimit_Reason=reason), "POST /issue/{issue}/comment", "WEB-1"
    )
    assert pacer.allowance == 50


async def test_near_limit_is_counted_and_changes_nothing() -> None:
    clock = FakeClock()
    pacer = SitePacer(rate=10, guard_s=0, clock=clock)
    pacer.observe(answer(200, X_RateLimit_NearLimit="true"))
    start = clock.now
    for _ in range(10):
        await pacer.acquire()
    assert clock.now - start == pytest.approx(9 * 0.05)
    assert pacer.stats.near_limit == 1


async def test_calls_that_waited_for_a_connection_leave_spaced_not_in_a_clump() -> None:
    # Ten calls got their turns over a second, then all waited for a connection that came free at
    # once: on the wire they are spaced again, and no second sees more than the limit.
    clock = FakeClock()
    pacer = SitePacer(rate=10, guard_s=0, clock=clock)
    wire = pacer.on_the_wire()
    for _ in range(10):
        await pacer.acquire()
    for _ in range(10):  # the second window's turns, written late and all at once
        await pacer.acquire()
    written = []
    for _ in range(20):
        await wire("http11.send_request_headers.started", {})
        written.append(clock.now)
    assert most_in_a_window(written, 1.0) <= 10
    assert min(b - a for a, b in itertools.pairwise(written)) >= pacer.spacing_s - 1e-9


class StallingClock:
    """Sleepers wake when the time they asked for has come, all of them at once after a stall
    (`stall`: the event loop was held up, e.g. by the machine's other processes)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleepers.append((self.now + seconds, woken))
        await woken

    async def run(self, *, stall_from: float, stall_s: float, until: float) -> None:
        """Let time pass up to `until`, waking sleepers in order; from `stall_from`, nobody wakes for
        `stall_s` seconds, then every sleeper due meanwhile wakes at the same moment."""
        stalled = False
        while self._sleepers or self.now < until:
            await asyncio.sleep(0)  # let woken tasks run and maybe sleep again
            if not self._sleepers:
                break
            due = min(at for at, _ in self._sleepers)
            if not stalled and due >= stall_from:
                stalled, self.now = True, max(self.now, stall_from + stall_s)
            self.now = max(self.now, due)
            ready = [s for s in self._sleepers if s[0] <= self.now]
            self._sleepers = [s for s in self._sleepers if s[0] > self.now]
            for _, woken in ready:
                woken.set_result(None)


async def test_calls_that_woke_late_leave_spaced_on_the_wire_not_all_at_once() -> None:
    # Five calls reach the wire together; while they wait for their spacing the event loop stalls for
    # 0.3 s. Reserved turns would all have passed by then and the four waiting would leave at once,
    # in one clump Jira would count in one instant. Each looks again when it wakes: they leave spaced.
    clock = StallingClock()
    pacer = SitePacer(rate=5, guard_s=0, clock=clock)
    wire = pacer.on_the_wire()
    written: list[float] = []

    async def write() -> None:
        await wire("http11.send_request_headers.started", {})
        written.append(clock.now)

    calls = asyncio.gather(*(write() for _ in range(5)))
    await clock.run(stall_from=1000.05, stall_s=0.3, until=1002)
    await calls
    assert written[0] == 1000.0
    assert written[1] == pytest.approx(1000.35)  # woke after the stall
    gaps = [b - a for a, b in itertools.pairwise(written)]
    assert min(gaps) >= pacer.spacing_s - 1e-9


@pytest.mark.parametrize("rate", [5, 50])
async def test_after_a_hand_over_both_owners_together_stay_within_the_sites_limit(rate: int) -> None:
    # A site changes hands (site leases): its old owner called it up to the moment it let it go, and
    # Jira still counts those calls for a second. The new owner's pacer, told of the hand-over, waits
    # for them to leave the window: the two processes' calls together never exceed the limit.
    clock = FakeClock()
    old = SitePacer(rate=rate, guard_s=0.06, clock=clock)
    new = SitePacer(rate=rate, guard_s=0.06, clock=clock)
    before = await turns_of(old, clock, [0.0] * (3 * rate))  # the old owner, busy to the end
    handed_at = clock.now
    new.handed_over(handed_at)
    after = await turns_of(new, clock, [0.0] * (3 * rate))  # the new owner, busy from the start
    assert most_in_a_window([*before, *after], 1.06) <= rate
    assert after[0] >= handed_at + new.window_s - 1e-9
    # Then the new owner has the whole rate again: its next window holds `rate` calls.
    assert most_in_a_window(after, 1.06) == rate


async def test_without_a_hand_over_a_fresh_pacer_calls_at_once() -> None:
    # The wait after a hand-over is the hand-over's: a site nobody else was calling starts at once.
    clock = FakeClock()
    pacer = SitePacer(rate=5, guard_s=0.06, clock=clock)
    start = clock.now
    await pacer.acquire()
    assert clock.now == start


async def test_on_the_wire_acts_only_when_the_request_is_written() -> None:
    clock = FakeClock()
    pacer = SitePacer(rate=1, guard_s=0, clock=clock)
    wire = pacer.on_the_wire()
    await wire("http11.send_request_headers.started", {})
    for event in ("connection.connect_tcp.started", "http11.send_request_headers.complete"):
        await wire(event, {})
    assert clock.slept == []  # only the write of a request is counted
    await wire("http2.send_request_headers.started", {})
    assert clock.slept == [pytest.approx(1.0)]


async def test_a_burst_429_pauses_only_that_endpoint() -> None:
    clock = FakeClock()
    pacer = SitePacer(rate=1000, clock=clock)
    refused = answer(429, Retry_After="3", RateLimit_Reason="jira-burst-based")
    pacer.observe(refused, "GET /issue/{issue}", "WEB-1")
    assert pacer.blocked_for("GET /issue/{issue}") == 3
    assert pacer.blocked_for("POST /issue/{issue}/comment", "WEB-1") == 0
    await pacer.acquire("GET /issue/{issue}")
    assert clock.slept[0] == 3


async def test_a_per_issue_429_pauses_only_writes_to_that_issue() -> None:
    clock = FakeClock()
    pacer = SitePacer(rate=1000, clock=clock)
    refused = answer(429, Retry_After="2", RateLimit_Reason="jira-per-issue-on-write")
    pacer.observe(refused, "POST /issue/{issue}/comment", "WEB-1")
    assert pacer.blocked_for("POST /issue/{issue}/comment", "WEB-1") == 2
    assert pacer.blocked_for("POST /issue/{issue}/comment", "WEB-2") == 0


@pytest.mark.parametrize("reason", ["jira-quota-tenant-based", "jira-quota-global-based"])
async def test_a_quota_429_pauses_the_whole_site(reason: str) -> None:
    clock = FakeClock()
    pacer = SitePacer(rate=1000, clock=clock)
    pacer.observe(answer(429, Retry_After="30", RateLimit_Reason=reason), "GET /myself", None)
    assert pacer.blocked_for("POST /issue", "WEB-9") == 30
    assert pacer.stats.site_pauses == 1 and pacer.stats.reasons == {reason: 1}


async def test_a_429_without_retry_after_still_pauses() -> None:
    clock = FakeClock()
    pacer = SitePacer(rate=1000, clock=clock)
    pacer.observe(answer(429), "GET /myself", None)
    assert pacer.blocked_for("GET /myself") == 1.0


async def test_a_503_with_retry_after_pauses_the_site() -> None:
    clock = FakeClock()
    pacer = SitePacer(rate=1000, clock=clock)
    pacer.observe(answer(503, Retry_After="4"), "GET /myself", None)
    assert pacer.blocked_for("POST /issue") == 4


async def test_concurrent_callers_share_the_rate() -> None:
    clock = FakeClock()
    pacer = SitePacer(rate=20, guard_s=0, clock=clock)
    start = clock.now
    await asyncio.gather(*(pacer.acquire() for _ in range(21)))
    assert clock.now - start == pytest.approx(1.0)  # the 21st waits for the first to leave the window
    assert pacer.stats.acquired == 21


def test_a_rate_must_be_positive_and_the_guard_not_negative() -> None:
    with pytest.raises(ValueError, match="positive"):
        SitePacer(rate=0)
    with pytest.raises(ValueError, match="negative"):
        SitePacer(rate=10, guard_s=-0.1)


# --- writes to one issue ----------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    calls=st.lists(
        st.tuples(st.floats(min_value=0, max_value=0.2), st.sampled_from(["WEB-1", "WEB-2", None])),
        min_size=1,
        max_size=400,
    )
)
def test_writes_to_one_issue_stay_under_jiras_per_issue_windows(
    calls: list[tuple[float, str | None]],
) -> None:
    # Jira allows 20 writes to one issue in 2 s and 100 in 30 s; the pacer keeps each issue under
    # both before Jira has to say so. Reads (no issue) are not held back by them.
    clock = FakeClock()
    pacer = SitePacer(rate=1000, guard_s=0.06, clock=clock)

    async def run() -> dict[str | None, list[float]]:
        sent: dict[str | None, list[float]] = {}
        for gap, issue in calls:
            clock.now += gap
            await pacer.acquire("PUT /issue/{issue}" if issue else "GET /myself", issue)
            sent.setdefault(issue, []).append(clock.now)
        return sent

    for issue, times in asyncio.run(run()).items():
        if issue is not None:
            assert most_in_a_window(times, 2.0) <= 20
            assert most_in_a_window(times, 30.0) <= 100


async def test_a_busy_issue_holds_back_only_its_own_writes() -> None:
    clock = FakeClock()
    pacer = SitePacer(rate=1000, guard_s=0, clock=clock)
    start = clock.now
    for _ in range(20):
        await pacer.acquire("PUT /issue/{issue}", "WEB-1")
    assert pacer.stats.issue_paced == 0
    before = clock.now
    await pacer.acquire("PUT /issue/{issue}", "WEB-2")  # another issue goes on
    await pacer.acquire("GET /issue/{issue}")  # and so do reads
    assert clock.now - before < 0.01
    await pacer.acquire("PUT /issue/{issue}", "WEB-1")  # the 21st write waits for the first to age out
    assert clock.now == pytest.approx(start + 2.0)
    assert pacer.stats.issue_paced == 1


async def test_the_hundredth_write_in_thirty_seconds_waits() -> None:
    clock = FakeClock()
    pacer = SitePacer(rate=1000, guard_s=0, issue_writes=[(20, 2.0), (100, 30.0)], clock=clock)
    start = clock.now
    for _ in range(101):
        await pacer.acquire("POST /issue/{issue}/comment", "WEB-1")
    # 20 every 2 s reaches 100 writes at 8 s; the 101st waits until the first leaves the 30 s window.
    assert clock.now == pytest.approx(start + 30.0)


async def test_issues_idle_for_the_longest_window_are_forgotten() -> None:
    clock = FakeClock()
    pacer = SitePacer(rate=1000, guard_s=0, clock=clock)
    for n in range(2000):
        clock.now += 1.0  # one write to a new issue every second
        await pacer.acquire("PUT /issue/{issue}", f"WEB-{n}")
    # Only issues written in the last 30 s constrain anything; memory stays bounded, not 2000.
    assert pacer.issues_remembered <= 256
    # A forgotten issue's next write is not held back.
    await pacer.acquire("PUT /issue/{issue}", "WEB-0")
    assert pacer.stats.issue_paced == 0


def test_per_issue_windows_must_be_sensible() -> None:
    with pytest.raises(ValueError, match="issue_writes"):
        SitePacer(rate=10, issue_writes=[(0, 2.0)])


# --- the hourly points quota ----------------------------------------------------------------------------


def quota_answer(left: int, reset_in: float) -> httpx.Response:
    return answer(200, Beta_RateLimit=f'"tenant-app-quota";r={left};t={math.ceil(reset_in)}')


class QuotaJira:
    """Jira's hourly points bucket, on the fake clock: every call costs `cost` points."""

    def __init__(self, clock: FakeClock, points: int, reset_in: float, cost: int) -> None:
        self.clock, self.points, self.cost = clock, points, cost
        self.left, self.reset_at = points, clock.now + reset_in
        self.refused = 0
        self.per_hour: list[int] = [0]

    def call(self) -> httpx.Response:
        if self.clock.now >= self.reset_at:
            self.left, self.reset_at = self.points, self.reset_at + 3600
            self.per_hour.append(0)
        if self.left < self.cost:
            self.refused += 1
            retry = str(math.ceil(self.reset_at - self.clock.now))
            return answer(429, Retry_After=retry, RateLimit_Reason="jira-quota-tenant-based")
        self.left -= self.cost
        self.per_hour[-1] += 1
        return quota_answer(self.left, self.reset_at - self.clock.now)


async def test_the_hourly_quota_is_spread_over_the_hour_instead_of_running_into_a_429() -> None:
    # 1000 points an hour at 2 points a call: 500 calls. A pacer at 50 calls/s would spend them in
    # 10 s and then sit out a 429 for the rest of the hour; it spreads them instead.
    clock = FakeClock()
    jira = QuotaJira(clock, points=1000, reset_in=600, cost=2)
    pacer = SitePacer(rate=50, clock=clock)
    while len(jira.per_hour) < 4:
        await pacer.acquire("GET /issue/{issue}")
        pacer.observe(jira.call(), "GET /issue/{issue}")
    assert jira.refused == 0 and pacer.stats.rate_limited == 0
    assert pacer.stats.quota_paced > 0
    # Each full hour still gets nearly all of its points' worth of calls (a few are kept in reserve).
    assert all(calls >= 490 for calls in jira.per_hour[1:3])


async def test_a_quota_far_from_running_out_does_not_slow_the_site() -> None:
    clock = FakeClock()
    pacer = SitePacer(rate=10, guard_s=0, clock=clock)
    pacer.observe(quota_answer(64_000, 3000), "GET /myself")
    start = clock.now
    for _ in range(10):
        await pacer.acquire("GET /myself")
    assert clock.now - start == pytest.approx(9 * 0.05)  # only the site's own spacing
    assert pacer.stats.quota_paced == 0


async def test_a_spent_quota_waits_for_the_hour_without_calling() -> None:
    clock = FakeClock()
    pacer = SitePacer(rate=10, clock=clock)
    pacer.observe(quota_answer(1, 120), "GET /myself")
    start = clock.now
    await pacer.acquire("GET /myself")
    assert clock.now - start == pytest.approx(120, abs=1)
    assert pacer.stats.quota_waits == 1
    await pacer.acquire("GET /myself")  # a new hour: no report yet, so only the site's rate applies
    assert pacer.stats.quota_waits == 1


async def test_a_pause_longer_than_the_caller_waits_raises_instead_of_sleeping() -> None:
    clock = FakeClock()
    pacer = SitePacer(rate=10, clock=clock, max_wait_s=5)
    pacer.observe(answer(429, Retry_After="600", RateLimit_Reason="jira-quota-tenant-based"), "GET /myself")
    with pytest.raises(SitePaused) as paused:
        await pacer.acquire("POST /issue", "WEB-1")
    assert (paused.value.retry_after, paused.value.site_wide) == (600, True)
    assert paused.value.action is Action.RETRY
    assert clock.slept == []  # nothing was held: the caller's slot goes to other work
    clock.now += 600
    await pacer.acquire("POST /issue", "WEB-1")  # the pause is over: the call goes


async def test_a_long_endpoint_pause_raises_for_that_endpoint_only_and_a_short_one_is_waited_out() -> None:
    clock = FakeClock()
    pacer = SitePacer(rate=10, clock=clock, max_wait_s=5)
    pacer.observe(answer(429, Retry_After="30"), "POST /issue/{issue}/comment")
    with pytest.raises(SitePaused) as paused:
        await pacer.acquire("POST /issue/{issue}/comment", "WEB-1")
    assert (paused.value.retry_after, paused.value.site_wide) == (30, False)
    await pacer.acquire("GET /myself")
    assert clock.slept == []
    pacer.observe(answer(429, Retry_After="3"), "GET /myself")
    await pacer.acquire("GET /myself")
    assert sum(clock.slept) == pytest.approx(3)


async def test_a_spent_quota_raises_when_the_hour_is_longer_than_the_caller_waits() -> None:
    clock = FakeClock()
    pacer = SitePacer(rate=10, clock=clock, max_wait_s=5)
    pacer.observe(quota_answer(1, 120), "GET /myself")
    with pytest.raises(SitePaused) as paused:
        await pacer.acquire("GET /myself")
    assert paused.value.retry_after == pytest.approx(120, abs=1) and paused.value.site_wide
    assert clock.slept == [] and pacer.stats.quota_waits == 0


def test_max_wait_must_not_be_negative() -> None:
    with pytest.raises(ValueError, match="max_wait_s"):
        SitePacer(rate=10, max_wait_s=-1)


@pytest.mark.parametrize(
    ("header", "state"),
    [
        ('"tenant-app-quota";r=17842;t=2107', (17842.0, 2107.0)),
        ('"tenant-app-quota";r=90;t=60, "global-app-quota";r=5;t=60', (5.0, 60.0)),
        ('"tenant-app-quota"; r=3; t=9', (3.0, 9.0)),
        ("", None),
        ('"tenant-app-quota";q=100;w=3600', None),
        ('"tenant-app-quota";r=abc;t=1', None),
        ('"tenant-app-quota";r=-1;t=1', None),
    ],
)
def test_the_quota_header_is_read_when_present(header: str, state: tuple[float, float] | None) -> None:
    from jirabridge.jira._pacing import quota_state

    assert quota_state(header) == state
