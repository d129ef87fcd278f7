"""The per-site pacer: a token bucket, near-limit slowing, and pauses scoped by the 429's reason."""

from __future__ import annotations

import asyncio

import httpx
import pytest

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


async def test_the_bucket_lets_a_burst_through_then_spaces_calls_at_the_rate() -> None:
    clock = FakeClock()
    pacer = SitePacer(rate=10, burst=2, clock=clock)
    for _ in range(2):
        await pacer.acquire()
    assert clock.slept == []
    start = clock.now
    for _ in range(10):
        await pacer.acquire()
    assert clock.now - start == pytest.approx(1.0)  # ten more at 10/s take one second


async def test_a_sliding_second_never_sees_more_than_burst_plus_rate() -> None:
    clock = FakeClock()
    pacer = SitePacer(rate=50, clock=clock)
    times = []
    for _ in range(300):
        await pacer.acquire()
        times.append(clock.now)
    worst = max(sum(1 for t in times if s <= t < s + 1.0) for s in times)
    assert worst <= 50 + pacer.burst


async def test_near_limit_slows_the_site_down() -> None:
    clock = FakeClock()
    pacer = SitePacer(rate=10, burst=1, near_limit_factor=0.5, slow_s=5, clock=clock)
    await pacer.acquire()
    pacer.observe(answer(200, X_RateLimit_NearLimit="true"))
    assert pacer.current_rate() == 5
    start = clock.now
    for _ in range(5):
        await pacer.acquire()
    assert clock.now - start == pytest.approx(1.0)  # 5 calls at 5/s
    clock.now += 10
    assert pacer.current_rate() == 10


async def test_near_limit_stops_bursts_but_keeps_the_configured_rate() -> None:
    # A pacer set under the site's limit is always "near" it: it must keep its rate there (halving it
    # capped a busy site at ~60 % of its limit) and only stop bursting, so the window never overflows.
    clock = FakeClock()
    pacer = SitePacer(rate=10, burst=5, slow_s=5, clock=clock)
    clock.now += 10  # idle: a full burst is banked
    pacer.observe(answer(200, X_RateLimit_NearLimit="true"))
    assert pacer.current_rate() == 10
    start = clock.now
    for _ in range(5):
        await pacer.acquire()
    assert clock.now - start == pytest.approx(0.4)  # one now, then one every 0.1 s: no burst
    clock.now += 10  # the warning is over: bursts are allowed again
    start = clock.now
    for _ in range(5):
        await pacer.acquire()
    assert clock.now == start


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
    pacer = SitePacer(rate=20, burst=1, clock=clock)
    start = clock.now
    await asyncio.gather(*(pacer.acquire() for _ in range(21)))
    assert clock.now - start == pytest.approx(1.0)
    assert pacer.stats.acquired == 21


def test_a_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        SitePacer(rate=0)
