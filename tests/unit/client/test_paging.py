"""The event feed, page by page: the iterators follow `next` until a page comes back empty."""

from __future__ import annotations

import httpx

from jirabridge import client as jb
from support.client_script import Script

EVENTS = [
    {"id": f"ev_{n}", "type": "item.status_changed", "at": "2026-11-23T10:30:00Z", "data": {}}
    for n in range(5)
]


def feed(request: httpx.Request) -> httpx.Response:
    """A feed of EVENTS whose cursor is the position; an empty page answers the same cursor."""
    after = int(request.url.params.get("after") or 0)
    limit = int(request.url.params.get("limit") or 100)
    page = EVENTS[after : after + limit]
    return httpx.Response(200, json={"events": page, "next": str(after + len(page))})


def test_iter_events_follows_next_to_the_end(client: jb.Client, script: Script) -> None:
    script.then(feed)
    assert [e.id for e in client.iter_events(limit=2)] == [e["id"] for e in EVENTS]
    asked = [(r.url.params.get("after"), r.url.params.get("limit")) for r in script.requests]
    assert asked == [(None, "2"), ("2", "2"), ("4", "2"), ("5", "2")]


def test_pages_carry_the_cursor_to_resume_from(client: jb.Client, script: Script) -> None:
    script.then(feed)
    pages = list(client.iter_event_pages("1", limit=3))
    assert [[e.id for e in p.events] for p in pages] == [["ev_1", "ev_2", "ev_3"], ["ev_4"]]
    assert pages[-1].next == "5"
    assert list(client.iter_events(pages[-1].next)) == []  # nothing new: one request, no page


async def test_the_async_iterators_page_the_same(async_client: jb.AsyncClient, script: Script) -> None:
    script.then(feed)
    async with async_client:
        seen = [e.id async for e in async_client.iter_events(limit=4)]
        pages = [p.next async for p in async_client.iter_event_pages(limit=4)]
    assert seen == [e["id"] for e in EVENTS]
    assert pages == ["4", "5"]
