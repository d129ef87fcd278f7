"""CPU per HTTP call of the HTTP stack itself, over loopback: httpx on httpcore (what the worker's Jira
client runs on, pooled like `JiraPool`) against aiohttp, on the same server in the same run.

A small server in a separate process (its CPU is not counted) answers every POST like Jira's
"add comment" (201 and a JSON comment) after `--latency-ms`, over HTTP/1.1 keep-alive. Each client
posts a JSON body and parses the JSON answer, `--concurrency` calls at a time through a pool of
`--connections`; the figure is this process's CPU time per call (`time.process_time`). The clients
take turns, `--repeat` rounds, and the median of each is printed. With the `httpx-aiohttp` package
installed, httpx's API over aiohttp's transport is measured too.

    python -m bench.http_stack_cpu                      # 3,000 calls each, 12 at a time, 20 ms
    python -m bench.http_stack_cpu --calls 5000 --repeat 5 --connections 32
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable

import aiohttp
import httpx
import uvloop

BODY = (
    b'{"id":"10001","self":"https://acme.atlassian.net/rest/api/3/issue/10001/comment/10001",'
    b'"body":{"type":"doc","version":1,"content":[]},'
    b'"created":"2026-12-06T10:00:00.000+0000","updated":"2026-12-06T10:00:00.000+0000"}'
)
ANSWER = (
    b"HTTP/1.1 201 Created\r\nContent-Type: application/json;charset=UTF-8\r\n"
    b"Content-Length: %d\r\n\r\n" % len(BODY)
) + BODY
PAYLOAD = {
    "body": {
        "type": "doc",
        "version": 1,
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": "A comment"}]}],
    }
}
HEADERS = {"Authorization": "Basic YmVuY2hAZXhhbXBsZS5jb206dG9rZW4=", "User-Agent": "jirabridge"}
WARM_UP = 100

Post = Callable[[], Awaitable[None]]


async def _serve(latency_s: float) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                await reader.readexactly(length)
                await asyncio.sleep(latency_s)
                writer.write(ANSWER)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


async def _measure(post: Post, calls: int, concurrency: int) -> float:
    gate = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with gate:
            await post()

    await asyncio.gather(*(one() for _ in range(WARM_UP)))
    started = time.process_time()
    await asyncio.gather(*(one() for _ in range(calls)))
    return (time.process_time() - started) / calls


async def _with_httpx(url: str, calls: int, concurrency: int, connections: int) -> float:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(limits=limits, follow_redirects=False) as client:

        async def post() -> None:
            (await client.post(url, json=PAYLOAD, headers=HEADERS)).json()

        return await _measure(post, calls, concurrency)


async def _with_aiohttp(url: str, calls: int, concurrency: int, connections: int) -> float:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections)) as session:

        async def post() -> None:
            async with session.post(url, json=PAYLOAD, headers=HEADERS) as answer:
                await answer.json()

        return await _measure(post, calls, concurrency)


async def _with_httpx_over_aiohttp(url: str, calls: int, concurrency: int, connections: int) -> float:
    import httpx_aiohttp  # type: ignore[import-not-found]  # optional: measured when installed

    def session() -> aiohttp.ClientSession:
        return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections))

    async with httpx.AsyncClient(transport=httpx_aiohttp.AiohttpTransport(client=session)) as client:

        async def post() -> None:
            (await client.post(url, json=PAYLOAD, headers=HEADERS)).json()

        return await _measure(post, calls, concurrency)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=12)
    parser.add_argument("--connections", type=int, default=32, help="the pool (the worker's default: 32)")
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        uvloop.run(_serve(args.latency_ms / 1000))
        return
    clients = {
        "httpx on httpcore (the worker's stack)": _with_httpx,
        "aiohttp": _with_aiohttp,
    }
    if importlib.util.find_spec("httpx_aiohttp") is not None:
        clients["httpx over aiohttp's transport"] = _with_httpx_over_aiohttp
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.http_stack_cpu", "--serve", "--latency-ms", str(args.latency_ms)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        url = f"http://127.0.0.1:{int(server.stdout.readline())}/rest/api/3/issue/WEB-1/comment"
        runs: dict[str, list[float]] = {name: [] for name in clients}
        for _ in range(args.repeat):
            for name, measure in clients.items():
                runs[name].append(uvloop.run(measure(url, args.calls, args.concurrency, args.connections)))
    finally:
        server.terminate()
        server.wait()
    print(
        f"CPU per call over loopback, {args.calls} calls x {args.repeat} rounds, {args.concurrency} at a "
        f"time, pool of {args.connections}, {args.latency_ms:g} ms per answer (median, then each round)"
    )
    for name, figures in runs.items():
        shown = ", ".join(f"{1e6 * f:.0f}" for f in figures)
        print(f"  {name:40} {1e6 * statistics.median(figures):6.0f} us   ({shown})")


if __name__ == "__main__":
    main()
