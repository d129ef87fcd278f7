"""CPU per Jira call in `jirabridge.jira`'s client path, without a network or a server: a `JiraClient`
on a client configured like the worker's (`JiraPool`: one `httpx.AsyncClient`, the Jira host guard,
the status counter hook, no redirects) posts comments to an in-process transport that answers as Jira
Cloud does, `Set-Cookie` headers (a session, an XSRF token) included. What is measured is our client,
httpx's client layer and the guard; httpcore, h11 and sockets are not on this path (see
`bench.outbound` for the whole worker).

    python -m bench.jira_client_cpu                     # 5,000 calls after 300 to warm up
    python -m bench.jira_client_cpu --calls 20000 --repeat 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from typing import Any

import httpx

from jirabridge import jira
from jirabridge.adapters.jira_http import host_guard
from jirabridge.config import Settings

SITE = "https://acme.atlassian.net"
ANSWER = json.dumps(
    {
        "id": "10001",
        "self": f"{SITE}/rest/api/3/issue/10001/comment/10001",
        "author": {"accountId": "5b10a2844c20165700ede21g", "displayName": "Mia Krystof", "active": True},
        "body": {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": []}]},
        "created": "2026-12-06T03:00:00.000+0000",
        "updated": "2026-12-06T03:00:00.000+0000",
    }
).encode()
HEADERS = [
    ("Content-Type", "application/json;charset=UTF-8"),
    ("Set-Cookie", "atlassian.xsrf.token=d3f1c0de|a1b2c3|lin; path=/; SameSite=None; Secure"),
    ("Set-Cookie", "JSESSIONID=0123456789ABCDEF0123456789ABCDEF; Path=/; Secure; HttpOnly"),
]


def _answer(request: httpx.Request) -> httpx.Response:
    return httpx.Response(201, headers=HEADERS, content=ANSWER)


async def _client_like_the_workers() -> httpx.AsyncClient:
    async def count(response: httpx.Response) -> None:
        return None

    settings = Settings()  # *.atlassian.net is allowed by default
    options: dict[str, Any] = {
        "transport": httpx.MockTransport(_answer),
        "event_hooks": {"request": [host_guard(settings)], "response": [count]},
        "follow_redirects": False,
        "headers": {"User-Agent": "jirabridge"},
    }
    # So that the same file measures the code before each of these existed.
    if hasattr(jira, "CookielessClient"):
        client: httpx.AsyncClient = jira.CookielessClient(**options)
        return client
    if hasattr(jira, "NoCookieJar"):
        options["cookies"] = jira.NoCookieJar()
    return httpx.AsyncClient(**options)


async def _measure(calls: int, warm_up: int) -> float:
    http = await _client_like_the_workers()
    auth = jira.BasicTokenAuth("bench@example.com", "token")
    body = jira.adf.from_text("A comment from the benchmark")
    async with http:
        client = jira.JiraClient(SITE, auth, http=http)
        for _ in range(warm_up):
            await client.comments.add("WEB-1", body)
        started = time.process_time()
        for _ in range(calls):
            await client.comments.add("WEB-1", body)
        return (time.process_time() - started) / calls


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--warm-up", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    runs = [asyncio.run(_measure(args.calls, args.warm_up)) for _ in range(args.repeat)]
    shown = ", ".join(f"{1e6 * r:.0f}" for r in runs)
    print(f"CPU per call: median {1e6 * statistics.median(runs):.0f} us (runs: {shown} us)")


if __name__ == "__main__":
    main()
