"""The retry policy: exponential backoff with jitter that honours Jira's `Retry-After`.

The worker asks `decide(error, attempt)` and records the outcome itself (retry after N seconds, or
failed for good), so retries survive a restart. Simple callers use `await policy.run(fn, ...)`, which
retries in place with stamina. Neither retries a create whose answer was lost (`maybe_applied`)
unless told to: that needs a look in Jira first, or it may be created twice.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

import stamina

from jirabridge.jira._errors import Action, JiraError, maybe_applied

P = ParamSpec("P")
T = TypeVar("T")


@dataclass(frozen=True)
class Decision:
    action: Action
    delay_s: float = 0.0  # for RETRY: wait this long first
    verify_first: bool = False  # for RETRY: the failed write may have been applied
    reason: str = ""


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 8
    wait_initial: float = 0.5
    wait_max: float = 60.0
    wait_jitter: float = 1.0
    wait_exp_base: float = 2.0
    timeout: float | None = 300.0  # `run` stops retrying after this many seconds in total
    max_retry_after: float = 3600.0  # a longer Retry-After is not waited out in place
    retry_unsafe: bool = False  # `run` only: also resend a POST whose answer was lost

    def backoff(self, attempt: int, rng: random.Random | None = None) -> float:
        """The wait after failed attempt number `attempt` (1-based), with jitter."""
        base = min(self.wait_max, self.wait_initial * self.wait_exp_base ** max(0, attempt - 1))
        return base + (rng or random).uniform(0, self.wait_jitter)

    def decide(self, error: BaseException, attempt: int) -> Decision:
        """What to do after attempt number `attempt` failed with `error`."""
        if not isinstance(error, JiraError):
            return Decision(Action.GIVE_UP, reason=type(error).__name__)
        if error.action is not Action.RETRY:
            return Decision(error.action, reason=type(error).__name__)
        if attempt >= self.attempts:
            return Decision(Action.GIVE_UP, reason=f"{type(error).__name__} after {attempt} attempts")
        delay = error.retry_after if error.retry_after is not None else self.backoff(attempt)
        return Decision(Action.RETRY, delay, maybe_applied(error), type(error).__name__)

    def _hook(self, error: Exception) -> bool | float:
        """stamina's `on`: False stops, True backs off exponentially, a float waits that long."""
        if not isinstance(error, JiraError) or error.action is not Action.RETRY:
            return False
        if maybe_applied(error) and not self.retry_unsafe:
            return False
        if error.retry_after is not None:
            return float(error.retry_after) if error.retry_after <= self.max_retry_after else False
        return True

    async def run(self, fn: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Call `fn` and retry it by this policy; the last error propagates."""
        async for attempt in stamina.retry_context(
            on=self._hook,
            attempts=self.attempts,
            timeout=self.timeout,
            wait_initial=self.wait_initial,
            wait_max=self.wait_max,
            wait_jitter=self.wait_jitter,
            wait_exp_base=self.wait_exp_base,
        ):
            with attempt:
                return await fn(*args, **kwargs)
        raise AssertionError("unreachable")  # stamina re-raises the last error
