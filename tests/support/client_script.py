"""A service stand-in for `jirabridge.client`'s unit tests: an `httpx.MockTransport` answering from a script,
recording every request it saw."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx

from jirabridge.client import Retries

BASE = "http://jirabridge.test"
# No waiting between attempts in unit tests (the backoff itself is stamina's).
NO_WAIT = Retries(attempts=4, wait_initial=0, wait_max=0, wait_jitter=0)


Answer = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


class Script:
    """Answers requests in order from `answers` (the last one repeats); records the requests."""

    def __init__(self) -> None:
        self.answers: list[Answer] = []
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers[min(len(self.requests), len(self.answers)) - 1]
        if isinstance(answer, Exception):
            raise answer
        if callable(answer):
            return answer(request)
        return answer

    def then(
        self, *answers: httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]
    ) -> Script:
        self.answers.extend(answers)
        return self

    def bodies(self) -> list[Any]:
        return [json.loads(r.content) if r.content else None for r in self.requests]


def ok(body: Any = None, status: int = 200, **headers: str) -> httpx.Response:
    if body is None:
        return httpx.Response(status, headers=headers)
    return httpx.Response(status, json=body, headers=headers)


def problem(status: int, **fields: Any) -> httpx.Response:
    headers = {k.replace("_", "-"): v for k, v in fields.pop("headers", {}).items()}
    body = {
        "type": "https://jirabridge.dev/problems/x",
        "title": "T",
        "status": status,
        "detail": "D",
    } | fields
    return httpx.Response(status, json=body, headers={"Content-Type": "application/problem+json", **headers})


ITEM = {"type": "error", "id": "e-1", "title": "Boom", "links": []}
LINK = {"issue_key": "WEB-1", "site": "st_1", "sync_state": "synced", "jira_status": "To Do"}
