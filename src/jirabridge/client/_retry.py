"""When a call is sent again: only calls that are safe to repeat, only for failures that may pass.

Safe to repeat: GET, PUT and DELETE (the same request twice leaves the state of once), and the POSTs
the service deduplicates by `Idempotency-Key` (creating a ticket, linking, commenting), which the
client always sends with one key per logical call. Everything else (connecting a site, issuing a key,
a PATCH) is sent once: its answer may have been lost after the service acted on it.

Worth repeating: no answer (a connection error or a timeout), 429 (after `Retry-After`), and 502,
503, 504 (a proxy or the service restarting). Any other answer will be the same next time.

The loop is stamina's (already the Jira client's): bounded attempts and total time, exponential
backoff with jitter, and its `on` hook returning a float honours `Retry-After`. httpx's own transport
retries were not enough: they cover connection errors only, not 429 or 503.
"""

from __future__ import annotations

from dataclasses import dataclass

from jirabridge.client._errors import APIError, TransportError

RETRY_STATUSES = frozenset({429, 502, 503, 504})


@dataclass(frozen=True)
class Retries:
    """The retry policy of a client; `Retries(attempts=1)` sends every call once."""

    attempts: int = 4  # in all, the first included
    wait_initial: float = 0.5
    wait_max: float = 10.0
    wait_jitter: float = 0.5
    timeout: float = 60.0  # no new attempt after this many seconds in total
    max_retry_after: float = 60.0  # a longer `Retry-After` is not waited out: the error is raised

    def wait_for(self, error: Exception) -> bool | float:
        """stamina's `on` hook: False raises `error`, True backs off, a float waits that many seconds."""
        if isinstance(error, TransportError):
            return error.retryable
        if not isinstance(error, APIError) or error.status not in RETRY_STATUSES:
            return False
        if error.retry_after is not None:
            return error.retry_after if error.retry_after <= self.max_retry_after else False
        return True
