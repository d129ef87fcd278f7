"""The per-site pacer: a sliding window under the site's limit, and pauses scoped by the 429's reason."""

from __future__ import annotations

import asyncio
import bisect
import itertools

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jirabridge.jira import SitePacer


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
