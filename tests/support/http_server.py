"""Reading requests in the small HTTP/1.1 servers tests start on loopback (a Jira, a host's
endpoint): one request at a time off a kept-alive connection."""

from __future__ import annotations

import asyncio


async def read_request(reader: asyncio.StreamReader) -> str | None:
    """The next request, head and body (by its Content-Length) as text; None when the client closed
    the connection."""
    try:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
    except asyncio.IncompleteReadError:
        return None
    fields = (line.partition(":") for line in head.split("\r\n")[1:])
    length = next((int(value) for name, _, value in fields if name.strip().lower() == "content-length"), 0)
    return head + (await reader.readexactly(length)).decode()
