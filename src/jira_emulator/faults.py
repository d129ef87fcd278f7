"""Fault injection: rules scripted through `/_emulator/faults` that make chosen calls slow, fail, hang,
lose their answer or drop the connection, plus a global latency on every REST call.

A rule matches on site, method and a path regex (searched in the path after the site prefix is
stripped, e.g. `/rest/api/3/issue/[^/]+/comment$`), fires with a probability drawn from a seeded RNG
(reproducible runs) and/or for a remaining count, optionally only after letting a number of matching
calls through (`after`). Kinds:

- `latency`: wait `latency_ms`, then answer normally (several latency rules add up);
- `error`: answer `status` (500, 502, 503...) with Jira's error body; nothing is applied;
- `timeout`: nothing is applied; hang `hang_s`, then 504 (a real client has given up by then);
- `lost_answer`: the request runs fully, so the change IS applied, then the answer is thrown away and
  the call behaves like `timeout`;
- `drop`: the connection is closed with no answer; nothing is applied. Under `jira-emulator serve` the
  socket really closes; in process (httpx.ASGITransport) the client gets `httpx.RemoteProtocolError`,
  which is what httpx raises for a closed connection.

The first non-latency rule that fires decides the outcome. The control API itself is never faulted.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jira_emulator.state import Site

FaultKind = Literal["latency", "error", "timeout", "lost_answer", "drop"]
DROP_EXTENSION = "jira_emulator.drop"  # scope["extensions"] key: a callable that closes the socket
_MAX_HITS_KEPT = 1000
_DEFAULT_MESSAGES = {
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
    504: "Gateway timeout",
}


class FaultRuleIn(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    kind: FaultKind
    site: str | None = None
    method: str | None = None
    path: str = ".*"
    probability: float = Field(default=1.0, ge=0.0, le=1.0)
    count: int | None = Field(default=None, ge=0)  # remaining hits; null: unlimited
    # Matching calls let through untouched before the rule fires: the second page of a search, say.
    after: int = Field(default=0, ge=0)
    latency_ms: int = Field(default=0, ge=0)
    status: int = Field(default=503, ge=400, le=599)
    message: str | None = None
    retry_after_s: int | None = Field(default=None, ge=0)
    hang_s: float = Field(default=30.0, ge=0.0)

    @field_validator("path")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        return value


class FaultsUpdate(BaseModel):
    """`POST /_emulator/faults`: rules are appended; `latency_ms` and `seed` replace when given."""

    model_config = ConfigDict(strict=True, extra="forbid")

    rules: list[FaultRuleIn] = Field(default_factory=list)
    latency_ms: int | None = Field(default=None, ge=0)
    seed: int | None = None


@dataclass
class FaultRule:
    id: int
    spec: FaultRuleIn
    pattern: re.Pattern[str]
    remaining: int | None
    hits: int = 0
    passed: int = 0  # matching calls let through so far (`after`)

    def matches(self, site: str | None, method: str, path: str) -> bool:
        s = self.spec
        if s.site is not None and s.site != site:
            return False
        if s.method is not None and s.method.upper() != method:
            return False
        return self.pattern.search(path) is not None and self.remaining != 0

    def describe(self) -> dict[str, Any]:
        return {"id": self.id, **self.spec.model_dump(), "remaining": self.remaining, "hits": self.hits}


@dataclass
class FaultHit:
    rule_id: int
    kind: FaultKind
    site: str | None
    method: str
    path: str
    applied_status: int | None = None  # lost_answer: the status the client never saw


class FaultTable:
    """The rules, the global latency and a log of hits. `pick` is synchronous (atomic on the loop)."""

    def __init__(self, *, seed: int = 0) -> None:
        self.baseline_latency_ms = 0
        self.baseline_seed = seed
        self.latency_ms = 0
        self.rules: list[FaultRule] = []
        self.hits: list[FaultHit] = []
        self.rng = random.Random(seed)
        self._next_id = 1

    def set_baseline(self, *, latency_ms: int) -> None:
        self.baseline_latency_ms = latency_ms
        self.latency_ms = latency_ms

    def update(self, change: FaultsUpdate) -> list[FaultRule]:
        if change.latency_ms is not None:
            self.latency_ms = change.latency_ms
        if change.seed is not None:
            self.rng.seed(change.seed)
        added = [self.add(spec) for spec in change.rules]
        return added

    def add(self, spec: FaultRuleIn) -> FaultRule:
        rule = FaultRule(self._next_id, spec, re.compile(spec.path), spec.count)
        self._next_id += 1
        self.rules.append(rule)
        return rule

    def remove(self, rule_id: int) -> bool:
        before = len(self.rules)
        self.rules = [r for r in self.rules if r.id != rule_id]
        return len(self.rules) != before

    def clear(self) -> None:
        """Remove every rule and the hit log; back to the baseline latency and seed."""
        self.rules = []
        self.hits = []
        self.latency_ms = self.baseline_latency_ms
        self.rng.seed(self.baseline_seed)

    def describe(self) -> dict[str, Any]:
        return {
            "latency_ms": self.latency_ms,
            "rules": [r.describe() for r in self.rules],
            "hits": [h.__dict__ for h in self.hits],
        }

    def pick(
        self, site: str | None, method: str, path: str
    ) -> tuple[float, FaultRule | None, FaultHit | None]:
        """(seconds of latency to add, the rule deciding the outcome or None, its hit record)."""
        delay_ms = self.latency_ms if path.startswith("/rest/") else 0
        for rule in self.rules:
            if not rule.matches(site, method, path):
                continue
            if rule.passed < rule.spec.after:
                rule.passed += 1
                continue
            # Draw only for probabilistic rules so adding a sure rule does not shift the sequence.
            if rule.spec.probability < 1.0 and self.rng.random() >= rule.spec.probability:
                continue
            if rule.remaining is not None:
                rule.remaining -= 1
            rule.hits += 1
            hit = FaultHit(rule.id, rule.spec.kind, site, method, path)
            self._record(hit)
            if rule.spec.kind == "latency":
                delay_ms += rule.spec.latency_ms
                continue
            return delay_ms / 1000, rule, hit
        return delay_ms / 1000, None, None

    def _record(self, hit: FaultHit) -> None:
        self.hits.append(hit)
        if len(self.hits) > _MAX_HITS_KEPT:
            del self.hits[: len(self.hits) - _MAX_HITS_KEPT]


class FaultMiddleware:
    """Pure ASGI middleware, innermost of the emulator's own: after site routing and rate limits."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_emulator"):
            await self.app(scope, receive, send)
            return
        table: FaultTable = scope["app"].state.faults
        site: Site | None = scope.get("state", {}).get("site")
        delay, rule, hit = table.pick(site.name if site else None, scope["method"], scope["path"])
        if delay > 0:
            await asyncio.sleep(delay)
        if rule is None or hit is None:
            await self.app(scope, receive, send)
            return
        spec = rule.spec
        if spec.kind == "error":
            headers = {"retry-after": str(spec.retry_after_s)} if spec.retry_after_s is not None else {}
            await _send_error(send, spec.status, spec.message, headers)
        elif spec.kind == "timeout":
            await asyncio.sleep(spec.hang_s)
            await _send_error(send, 504, spec.message, {})
        elif spec.kind == "lost_answer":
            hit.applied_status = await _run_and_discard(self.app, scope, receive)
            await asyncio.sleep(spec.hang_s)
            await _send_error(send, 504, spec.message, {})
        elif spec.kind == "drop":
            await _drop(scope)


async def _run_and_discard(app: ASGIApp, scope: Scope, receive: Receive) -> int | None:
    status: list[int] = []

    async def swallow(message: Message) -> None:
        if message["type"] == "http.response.start":
            status.append(int(message["status"]))

    await app(scope, receive, swallow)
    return status[0] if status else None


async def _send_error(send: Send, status: int, message: str | None, extra: dict[str, str]) -> None:
    text = message or _DEFAULT_MESSAGES.get(status, "Request failed")
    body = json.dumps({"errorMessages": [text], "errors": {}}).encode()
    headers = [
        (b"content-type", b"application/json;charset=UTF-8"),
        (b"content-length", str(len(body)).encode()),
        *((k.encode(), v.encode()) for k, v in extra.items()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _drop(scope: Scope) -> None:
    drop: Callable[[], None] | None = (scope.get("extensions") or {}).get(DROP_EXTENSION)
    if drop is None:
        # No socket to close (in process): raise what httpx raises when the server hangs up.
        raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
    drop()


def with_drop_support(app: ASGIApp) -> ASGIApp:
    """Wrap the emulator for uvicorn so `drop` faults can close the socket without any answer.

    ASGI has no "abort" message; uvicorn's h11 protocol passes its per-request cycle's bound `send`,
    whose `transport` we close. Marking the cycle disconnected stops uvicorn from answering 500."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        cycle = getattr(send, "__self__", None)
        transport = getattr(cycle, "transport", None)
        if scope["type"] == "http" and transport is not None:

            def drop() -> None:
                transport.close()
                cycle.disconnected = True  # type: ignore[union-attr]

            scope = {**scope, "extensions": {**(scope.get("extensions") or {}), DROP_EXTENSION: drop}}
        await app(scope, receive, send)

    return wrapped
