"""Tracing: one trace from the API request through the outbox and the worker to the Jira call, with
the SDK's in-memory exporter (jirabridge/telemetry.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from jirabridge import bootstrap, telemetry
from jirabridge.bootstrap import Container, build
from jirabridge.config import Settings
from jirabridge.workers.callbacks import make_deliver_handler
from jirabridge.workers.runner import SqlQueue, Worker, WorkerOptions
from support.dns import FakeResolver
from support.host import Host, connect_host


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def container(
    settings: Settings, emulator: FastAPI, resolver: FakeResolver, exporter: InMemorySpanExporter
) -> Iterator[Container]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    transport = httpx.ASGITransport(app=emulator)
    built = build(settings, jira_transport=transport, resolver=resolver, tracer_provider=provider)
    yield built
    built.close()


async def host_endpoint(request: Request) -> Response:
    return Response(status_code=204)


@pytest.fixture
async def worker(container: Container) -> AsyncIterator[Worker]:
    handlers = bootstrap.handlers(container)
    # Host callbacks go to an in-process host, through the same traced client.
    receiver = Starlette(routes=[Route("/jira-events", host_endpoint, methods=["POST"])])
    handlers["callback.deliver"] = make_deliver_handler(
        container, transport=httpx.ASGITransport(app=receiver)
    )
    running = Worker(
        SqlQueue(container.sessions),
        handlers,
        container.clock,
        WorkerOptions(poll_s=0.05),
        tracer_provider=container.tracer_provider,
    )
    task = asyncio.create_task(running.run())
    yield running
    running.stop()
    await task


def _one(spans: list[ReadableSpan], what: str, test: object) -> ReadableSpan:
    found = [s for s in spans if test(s)]  # type: ignore[operator]
    assert len(found) == 1, (what, [(s.name, s.kind) for s in spans])
    return found[0]


async def test_a_request_its_operation_and_the_jira_call_share_one_trace(
    api: httpx.AsyncClient,
    worker: Worker,
    emulator: FastAPI,
    container: Container,
    exporter: InMemorySpanExporter,
) -> None:
    host = await connect_host(api, emulator, container, Host)
    callback = {"url": "https://host.test/jira-events", "secret": "whsec-test-0123456789abcdef"}
    assert (await host.call("PUT", "/api/v1/settings", {"callback": callback})).status_code == 200
    await host.project("WEB", default_issue_type="Task")
    answer = await host.call("PUT", "/api/v1/items/error/e-1", {"title": "e-1", "status": "Open"})
    assert answer.status_code in (200, 201), answer.text
    answer = await host.call("POST", "/api/v1/items/error/e-1/tickets", {})
    assert answer.status_code in (201, 202), answer.text
    await host.settle()
    # The operation's span ends just after its outcome is recorded, which is what settle() waits for.
    for _ in range(100):
        spans = list(exporter.get_finished_spans())
        names = {s.name for s in spans}
        if {"outbox issue.create", "outbox callback.deliver"} <= names:
            break
        await asyncio.sleep(0.05)

    server = _one(
        spans,
        "the request's server span",
        lambda s: s.kind == SpanKind.SERVER and "tickets" in str((s.attributes or {}).get("http.route", "")),
    )
    operation = _one(spans, "the worker's span", lambda s: s.name == "outbox issue.create")
    create = _one(
        spans,
        "the Jira call's client span",
        lambda s: (
            s.kind == SpanKind.CLIENT
            and s.parent is not None
            and s.parent.span_id == operation.context.span_id
            and str((s.attributes or {}).get("url.full", (s.attributes or {}).get("http.url", ""))).endswith(
                "/rest/api/3/issue"
            )
        ),
    )
    assert server.context.trace_id == operation.context.trace_id == create.context.trace_id
    assert operation.parent is not None and operation.parent.span_id == server.context.span_id
    assert operation.kind == SpanKind.CONSUMER
    assert (operation.attributes or {})["jirabridge.operation.kind"] == "issue.create"
    # The host callbacks of the events this led to (the request's, and the created link's, recorded
    # by the worker) are in the same trace, each with its POST under it.
    in_trace = {server.context.span_id, operation.context.span_id}
    tickets_callbacks = [
        s
        for s in spans
        if s.name == "outbox callback.deliver" and s.parent is not None and s.parent.span_id in in_trace
    ]
    assert tickets_callbacks
    posts = [
        s
        for s in spans
        if s.kind == SpanKind.CLIENT
        and s.parent is not None
        and s.parent.span_id in {c.context.span_id for c in tickets_callbacks}
    ]
    assert posts and all(s.context.trace_id == server.context.trace_id for s in posts)
    # Periodic work no request queued starts a trace of its own.
    listings = [s for s in spans if s.name == "outbox site.projects"]
    assert listings and all(s.parent is None for s in listings)


def test_tracing_is_off_unless_configured() -> None:
    assert not telemetry.tracing_wanted({})
    assert telemetry.tracing_wanted({"JIRABRIDGE_TRACING": "otlp"})
    assert telemetry.tracing_wanted({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert not telemetry.tracing_wanted(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "JIRABRIDGE_TRACING": "off"}
    )
    assert telemetry.current_traceparent() is None  # no span: nothing stored on operations
