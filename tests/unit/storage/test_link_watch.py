"""A request waiting for its ticket stops when the host gives up on it, even when the wake and the
cancellation arrive together (no database: the waiter alone)."""

from __future__ import annotations

import asyncio

import pytest

from jirabridge.storage.link_watch import ListenWait, PgLinkWatch


def _waiter(fallback_poll_s: float = 1.0) -> ListenWait:
    # Never started: the waiter only reads whether the watch listens and its fallback interval.
    watch = PgLinkWatch("postgresql://nobody@127.0.0.1:1/none", fallback_poll_s=fallback_poll_s)
    return ListenWait(watch, "lk_1")


async def test_a_cancelled_wait_stops_even_when_it_was_woken_in_the_same_turn() -> None:
    waiter = _waiter()
    deadline = asyncio.get_running_loop().time() + 30
    wait = asyncio.create_task(waiter.wait(deadline))
    await asyncio.sleep(0)  # the wait is under way
    waiter.woken.set()  # the link settled ...
    wait.cancel()  # ... and the host hung up, in the same turn of the loop
    with pytest.raises(asyncio.CancelledError):
        await wait


async def test_a_woken_wait_says_look_now() -> None:
    waiter = _waiter()
    wait = asyncio.create_task(waiter.wait(asyncio.get_running_loop().time() + 30))
    await asyncio.sleep(0)
    waiter.woken.set()
    assert await asyncio.wait_for(wait, 5) is True
    assert not waiter.woken.is_set()  # ready for the next notification


async def test_at_the_deadline_the_wait_ends_without_a_wake() -> None:
    waiter = _waiter(fallback_poll_s=3600.0)  # not listening, but no poll before the deadline
    started = asyncio.get_running_loop().time()
    assert await waiter.wait(started + 0.05) is False
    assert asyncio.get_running_loop().time() - started < 5
