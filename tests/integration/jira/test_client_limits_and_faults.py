"""The emulator's rate limiter and fault injection, as the client and its pacer see them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

import httpx
import pytest

from integration.jira.jira_client_support import MakeClient, OAuthSession, post_control, task
from jirabridge.jira import (
    Action,
    ConnectionFailed,
    JiraClient,
    JiraError,
    RateLimited,
    ServerError,
    SitePacer,
    maybe_applied,
)


class EmulatorClock:
    """The pacer's clock: sleeping moves the emulator's clock instead of waiting."""

    def __init__(self, control: httpx.AsyncClient) -> None:
        self.control = control
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await post_control(self.control, "/_emulator/clock", {"advance_s": seconds})


P = ParamSpec("P")
T = TypeVar("T")


async def until_through(call: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """Call again while the error says the same call may succeed later (at most 6 tries), as the
    worker does over its attempts: the waiting is the pacer's, on the emulator's clock."""
    for _ in range(5):
        try:
            return await call(*args, **kwargs)
        except JiraError as error:
            if error.action is not Action.RETRY:
                raise
    return await call(*args, **kwargs)


async def rejections(control: httpx.AsyncClient) -> int:
    return sum((await control.get("/_emulator/rate-limits")).json()["rejections"].values())


async def test_a_429_carries_what_jira_said(client: JiraClient, control: httpx.AsyncClient) -> None:
    await post_control(control, "/_emulator/rate-limits", {"sites": {"acme": {"requests_per_s": 3}}})
    for _ in range(3):
        await client.myself()
    with pytest.raises(RateLimited) as caught:
        await client.myself()
    assert caught.value.action is Action.RETRY
    assert caught.value.retry_after is not None and caught.value.retry_after >= 1
    assert caught.value.reason == "jira-burst-based"


async def test_the_pacer_honours_the_429_and_every_call_gets_through(
    make_client: MakeClient, control: httpx.AsyncClient
) -> None:
    await post_control(control, "/_emulator/rate-limits", {"sites": {"acme": {"requests_per_s": 5}}})
    pacer = SitePacer(rate=100, clock=EmulatorClock(control))  # set too fast on purpose
    async with make_client(pacer=pacer) as jira:
        for _ in range(20):
            await until_through(jira.myself)
    refused = await rejections(control)
    assert refused == pacer.stats.rate_limited
    assert 1 <= refused <= 4  # one refusal per window at most: the pause is honoured, not hammered


async def test_a_pacer_told_the_limit_is_never_refused(
    make_client: MakeClient, control: httpx.AsyncClient
) -> None:
    await post_control(control, "/_emulator/rate-limits", {"sites": {"acme": {"requests_per_s": 5}}})
    pacer = SitePacer(rate=5, clock=EmulatorClock(control))
    async with make_client(pacer=pacer) as jira:
        for _ in range(20):
            await jira.myself()
    assert await rejections(control) == 0 and pacer.stats.rate_limited == 0


async def test_a_per_issue_429_holds_back_only_that_issue(
    make_client: MakeClient, control: httpx.AsyncClient
) -> None:
    limits = {"per_issue_write": {"windows": [{"limit": 2, "seconds": 10}]}}
    await post_control(control, "/_emulator/rate-limits", {"sites": {"acme": limits}})
    pacer = SitePacer(rate=100, clock=EmulatorClock(control))
    async with make_client(pacer=pacer) as jira:
        busy = (await jira.issues.create(task())).key
        calm = (await jira.issues.create(task())).key
        await jira.comments.add(busy, "one")
        await jira.comments.add(busy, "two")
        with pytest.raises(RateLimited) as caught:
            await jira.comments.add(busy, "three")
        assert caught.value.reason == "jira-per-issue-on-write"
        endpoint = "POST /issue/{issue}/comment"
        assert pacer.blocked_for(endpoint, busy) >= 1
        assert pacer.blocked_for(endpoint, calm) == 0
        await jira.comments.add(calm, "not held back")
        await until_through(jira.comments.add, busy, "three, after the pause")
        assert len(await jira.comments.list(busy)) == 3


async def test_a_pacer_told_the_per_issue_windows_writes_to_one_issue_unrefused(
    make_client: MakeClient, control: httpx.AsyncClient
) -> None:
    limits = {"per_issue_write": {"windows": [{"limit": 2, "seconds": 10}, {"limit": 5, "seconds": 60}]}}
    await post_control(control, "/_emulator/rate-limits", {"sites": {"acme": limits}})
    pacer = SitePacer(rate=100, issue_writes=[(2, 10.0), (5, 60.0)], clock=EmulatorClock(control))
    async with make_client(pacer=pacer) as jira:
        busy = (await jira.issues.create(task())).key
        for n in range(12):
            await jira.comments.add(busy, f"note {n}")
        assert len(await jira.comments.list(busy)) == 12
    assert await rejections(control) == 0 and pacer.stats.rate_limited == 0
    assert pacer.stats.issue_paced > 0


async def test_an_oauth_app_spreads_its_hourly_points_and_is_never_refused(
    oauth: OAuthSession, control: httpx.AsyncClient
) -> None:
    # 60 points an hour; the work below costs about 150 (a read costs a point per object it returns),
    # so it spans hours: the pacer reads Jira's quota headers and spreads each hour's points.
    limits = {"oauth_quota": {"tenant_points_per_hour": 60}}
    await post_control(control, "/_emulator/rate-limits", {"sites": {"acme": limits}})
    pacer = SitePacer(rate=50, clock=EmulatorClock(control))
    jira, _ = await oauth.connect(pacer=pacer)
    async with jira:
        keys = [(await jira.issues.create(task(summary=f"Task {n}"))).key for n in range(3)]
        for n in range(45):
            await jira.comments.add(keys[n % 3], f"note {n}")
            await jira.issues.get(keys[n % 3])
        for key in keys:
            assert len(await jira.comments.list(key)) == 15
    assert await rejections(control) == 0 and pacer.stats.rate_limited == 0
    assert pacer.stats.quota_paced + pacer.stats.quota_waits > 0


async def test_server_errors_are_retryable_and_pass_once_jira_recovers(
    client: JiraClient, control: httpx.AsyncClient
) -> None:
    rule = {"kind": "error", "status": 503, "count": 2, "path": "/rest/api/3/myself$"}
    await post_control(control, "/_emulator/faults", {"rules": [rule]})
    with pytest.raises(ServerError) as caught:
        await client.myself()
    assert caught.value.action is Action.RETRY
    assert (await until_through(client.myself)).email_address == "admin@acme.test"


async def test_a_503_with_retry_after_pauses_the_site(
    make_client: MakeClient, control: httpx.AsyncClient
) -> None:
    rule = {"kind": "error", "status": 503, "count": 1, "retry_after_s": 5, "path": "/myself$"}
    await post_control(control, "/_emulator/faults", {"rules": [rule]})
    pacer = SitePacer(rate=100, clock=EmulatorClock(control))
    async with make_client(pacer=pacer) as jira:
        with pytest.raises(ServerError) as caught:
            await jira.myself()
    assert caught.value.retry_after == 5
    assert pacer.blocked_for("POST /issue") == 5


async def test_a_lost_answer_to_a_create_is_flagged_and_the_issue_can_be_found(
    client: JiraClient, control: httpx.AsyncClient
) -> None:
    rule = {"kind": "lost_answer", "method": "POST", "count": 1, "hang_s": 0, "path": "/rest/api/3/issue$"}
    await post_control(control, "/_emulator/faults", {"rules": [rule]})
    with pytest.raises(ServerError) as caught:
        await client.issues.create(task(labels=["jb-op-7"]))
    assert maybe_applied(caught.value)
    assert caught.value.action is Action.RETRY
    # Check before retrying: the marker label finds the issue that was created after all.
    found = [i.key async for i in client.search.issues("labels = jb-op-7")]
    assert len(found) == 1


async def test_a_dropped_connection_is_a_retryable_connection_failure(
    client: JiraClient, control: httpx.AsyncClient
) -> None:
    rule = {"kind": "drop", "count": 1, "path": "/myself$"}
    await post_control(control, "/_emulator/faults", {"rules": [rule]})
    with pytest.raises(ConnectionFailed) as caught:
        await client.myself()
    assert caught.value.action is Action.RETRY and not maybe_applied(caught.value)
