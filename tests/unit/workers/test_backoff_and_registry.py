"""Backoff waits and the handler registry."""

from __future__ import annotations

import random
from pathlib import Path
from typing import cast

import pytest

from jirabridge.adapters.jira_pool import JiraPool
from jirabridge.bootstrap import Container, build, handlers
from jirabridge.config import Settings
from jirabridge.domain import operations
from jirabridge.domain.backoff import Backoff
from jirabridge.domain.outcomes import Done, Handler, Job, Outcome
from jirabridge.workers.handlers import builtin_registry
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


def test_registry_builds_each_handler_from_the_container_and_the_pool() -> None:
    registry = Registry()
    seen: list[object] = []

    def factory(container: Container, pool: JiraPool) -> Handler:
        seen.extend([container, pool])
        return _handler

    registry.register("callback.deliver", factory)
    container, pool = cast(Container, object()), cast(JiraPool, object())
    assert registry.build(container, pool) == {"callback.deliver": _handler}
    assert seen == [container, pool]
    assert registry.kinds() == ["callback.deliver"]


def test_a_kind_has_exactly_one_handler() -> None:
    registry = Registry()
    registry.register("jira.comment", lambda c, p: _handler)
    with pytest.raises(ValueError, match="already registered"):
        registry.register("jira.comment", lambda c, p: _handler)


def test_the_builtin_registry_runs_every_declared_operation_and_registries_are_separate() -> None:
    builtin = builtin_registry()
    assert builtin.kinds() == sorted(op.KIND for op in operations.OPERATIONS)
    # A registry is a plain object: a kind added to one (a test's own) is not in the next one built.
    builtin.register("e2e.effect", lambda c, p: _handler)
    assert "e2e.effect" not in builtin_registry().kinds()


def test_a_worker_without_a_secret_key_builds_every_handler(tmp_path: Path) -> None:
    """`jirabridge worker` starts without JIRABRIDGE_SECRET_KEY (it warns); a handler opens the secret
    box when a job needs it, not when it is built."""
    container = build(Settings(database_url=f"sqlite:///{tmp_path / 'jb.db'}", secret_key=None))
    try:
        assert sorted(handlers(container)) == sorted(op.KIND for op in operations.OPERATIONS)
    finally:
        container.close()
