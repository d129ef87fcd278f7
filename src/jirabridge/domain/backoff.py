"""How long an operation waits before its next attempt when Jira gave no `Retry-After`.

Exponential backoff with *full jitter* (AWS Architecture Blog, "Exponential Backoff And Jitter"): the
wait after attempt n is uniform in [0, min(cap, base · 2^(n-1))]. Full jitter spreads the retries of
many operations that failed together (a Jira outage) over the whole window instead of bunching them at
its edge, which is what keeps a recovering site from being hit by a synchronised wave.

Why not stamina or tenacity: stamina's backoff adds a bounded jitter to the exponential delay
(`initial·2^(n-1) + uniform(0, jitter)`), which does not spread a crowd, and it is private
(`_compute_backoff`). tenacity's `wait_random_exponential` is full jitter but is a callable over a live
`RetryCallState`; our retries are durable (the wait is stored as the operation's `run_after` and
survives a restart), so there is no retry state to hand it. The formula is one line; it lives here.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    base_s: float = 1.0
    cap_s: float = 300.0

    def ceiling(self, attempt: int) -> float:
        """The longest wait after failed attempt number `attempt` (1-based)."""
        exponent = min(max(attempt, 1) - 1, 62)  # 2**62 seconds is already far past any cap
        return min(self.cap_s, self.base_s * 2.0**exponent)

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """A random wait in [0, ceiling(attempt)]."""
        return (rng or random).uniform(0.0, self.ceiling(attempt))


DEFAULT_BACKOFF = Backoff()
