"""Backoff waits and the handler registry."""

from __future__ import annotations

import random
from typing import cast

import pytest

from jirabridge.bootstrap import Container
from jirabridge.domain.backoff import Backoff
from jirabridge.domain.outcomes import Done, Handler, Job, Outcome
from jirabridge.workers.registry import Registry


def test_backoff_grows_exponentially_up_to_its_cap() -> None:
    backoff = Backoff(base_s=1.0, cap_s=300.0)
    assert [backoff.ceiling(n) for n in (1, 2, 3, 4, 9, 10, 1000)] == [1, 2, 4, 8, 256, 300, 300]


def test_backoff_spreads_waits_over_the_whole_window() -> None:
    backoff = Backoff(base_s=1.0, cap_s=300.0)
    rng = random.Random(7)
    waits = [backoff.delay(6, rng) for _ in range(200)]
    assert all(0.0 <= w <= 32.0 for w in waits)
    # Full jitter: both ends of [0, 32] are used, so operations that failed together spread out.
    assert min(waits) < 4.0 and max(waits) > 28.0


async def _handler(job: Job) -> Outcome:
    return Done()


def test_registry_builds_each_handler_from_the_container() -> None:
    registry = Registry()
    seen: list[object] = []

    def factory(container: Container) -> Handler:
        seen.append(container)
        return _handler

    registry.register("callback.deliver", factory)
    container = cast(Container, object())
    assert registry.build(container) == {"callback.deliver": _handler}
    assert seen == [container]
    assert registry.kinds() == ["callback.deliver"]


def test_a_kind_has_exactly_one_handler() -> None:
    registry = Registry()
    registry.register("jira.comment", lambda c: _handler)
    with pytest.raises(ValueError, match="already registered"):
        registry.register("jira.comment", lambda c: _handler)
