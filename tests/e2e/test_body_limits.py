"""Body limits against `jirabridge serve` over loopback: a chunked body (no Content-Length, so nothing
can be refused up front) is refused with 413 the moment it crosses the endpoint's limit, and the
server stops reading it. A 64 MiB body sent to Jira's webhook receiver leaves the server's memory
where it was."""

from __future__ import annotations

import json
import selectors
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bench._stack import Stack, StackOptions, Tenant, bench_seed

from jirabridge.entrypoints.http.limits import MAX_BODY
from jirabridge.entrypoints.http.webhooks import MAX_BODY as WEBHOOK_MAX_BODY

pytestmark = pytest.mark.e2e

MiB = 1024 * 1024
PIECE = 64 * 1024


def rss_bytes(pid: int) -> int:
    """The resident memory of a process (VmRSS in /proc/PID/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for process {pid}")


def send_chunked(
    port: int, method: str, path: str, headers: dict[str, str], start: bytes, total: int
) -> dict[str, Any]:
    """Sends `start` and then `x`s, `total` bytes in all, with `Transfer-Encoding: chunked`, reading the
    answer while sending (a server refusing the body answers and closes before it is all sent).
    Returns the status, headers, body and how many bytes went out."""
    head = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Transfer-Encoding: chunked"]
    head += [f"{name}: {value}" for name, value in headers.items()]
    outgoing = bytearray(("\r\n".join(head) + "\r\n\r\n").encode())
    filler = b"%x\r\n%s\r\n" % (PIECE, b"x" * PIECE)
    outgoing += b"%x\r\n%s\r\n" % (len(start), start)
    sent_body, answer = len(start), bytearray()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.setblocking(False)
        with selectors.DefaultSelector() as selector:
            selector.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE)
            deadline = time.monotonic() + 60
            sending = True
            while time.monotonic() < deadline and not _complete(answer):
                for _, events in selector.select(timeout=1):
                    if events & selectors.EVENT_READ:
                        try:
                            data = sock.recv(65536)
                        except ConnectionResetError:
                            data = b""
                        if not data:
                            return _parsed(answer, sent_body)
                        answer += data
                    if sending and events & selectors.EVENT_WRITE:
                        if not outgoing:
                            if sent_body >= total:
                                outgoing += b"0\r\n\r\n"
                                sending = False
                            else:
                                outgoing += filler
                                sent_body += PIECE
                        try:
                            del outgoing[: sock.send(outgoing)]
                        except (BrokenPipeError, ConnectionResetError):
                            sending = False
                if not sending:
                    selector.modify(sock, selectors.EVENT_READ)
    return _parsed(answer, sent_body)


def _complete(answer: bytes) -> bool:
    head, found, body = bytes(answer).partition(b"\r\n\r\n")
    if not found:
        return False
    length = next(
        (
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        ),
        None,
    )
    return length is not None and len(body) >= length


def _parsed(answer: bytes, sent: int) -> dict[str, Any]:
    head, _, body = bytes(answer).partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0].startswith("HTTP/1.1 "), f"no answer: {bytes(answer)[:200]!r}"
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    return {"status": int(lines[0].split()[1]), "headers": headers, "body": body, "sent": sent}


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Stack, Tenant, str]]:
    with Stack(StackOptions(latency_ms=0, rate_limit=1000)) as stack:
        stack.start_emulator(bench_seed(["bench"]))
        stack.start_service()
        tenant = stack.seed_tenant(["bench"])
        with stack.api() as api:
            hook = api.post(f"/api/v1/sites/{tenant.sites['bench']}/webhook-secret", headers=tenant.headers)
            assert hook.status_code == 200, hook.text
        yield stack, tenant, "/webhooks/jira/" + hook.json()["url"].rsplit("/", 1)[1]


def test_a_64_mib_chunked_webhook_body_is_refused_without_the_server_holding_it(
    served: tuple[Stack, Tenant, str],
) -> None:
    stack, _, path = served
    service = next(p for p in stack.processes if p.name == "service")
    start = b'{"webhookEvent": "jira:issue_updated", "pad": "'
    # A forged signature: the size is refused first, as the body streams in, before it is checked.
    signed = {"X-Hub-Signature": "sha256=" + "0" * 64, "Content-Type": "application/json"}
    # Once just over the limit first: what any refused body costs (up to the limit) is paid here.
    warm = send_chunked(stack.service_port, "POST", path, signed, start, WEBHOOK_MAX_BODY + MiB)
    assert warm["status"] == 413
    before = rss_bytes(service.pid)
    answer = send_chunked(stack.service_port, "POST", path, signed, start, 64 * MiB)
    grown = rss_bytes(service.pid) - before
    print(f"server memory: {before / MiB:.1f} MiB before, grew by {grown / MiB:.2f} MiB")
    assert answer["status"] == 413
    assert answer["headers"]["content-type"] == "application/problem+json"
    assert answer["headers"]["connection"] == "close"
    assert json.loads(answer["body"])["errors"] == [
        {"field": "body", "message": f"larger than {WEBHOOK_MAX_BODY} bytes"}
    ]
    assert answer["sent"] < 64 * MiB  # answered (and stopped reading) long before the end
    assert grown < WEBHOOK_MAX_BODY, f"the server grew by {grown / MiB:.1f} MiB"


def test_a_chunked_api_body_over_the_limit_answers_413_problem_json(
    served: tuple[Stack, Tenant, str],
) -> None:
    stack, tenant, _ = served
    headers = {**tenant.headers, "Content-Type": "application/json"}
    answer = send_chunked(
        stack.service_port, "PUT", "/api/v1/items/error/e-1", headers, b'{"title": "', 4 * MiB
    )
    assert answer["status"] == 413
    assert answer["headers"]["content-type"] == "application/problem+json"
    assert json.loads(answer["body"])["errors"] == [
        {"field": "body", "message": f"larger than {MAX_BODY} bytes"}
    ]
    with stack.api() as api:
        assert api.get("/api/v1/items/error/e-1", headers=tenant.headers).status_code == 404
