"""Tracing with OpenTelemetry: off unless configured, then one trace from an API request through the
outbox and the worker to the Jira call (and the host callback it leads to).

On when `JIRABRIDGE_TRACING=otlp`, or when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (and
`JIRABRIDGE_TRACING` is not `off`): spans go to the OTLP/HTTP endpoint the standard `OTEL_EXPORTER_OTLP_*`
variables name (default `http://localhost:4318`), with `service.name` `jirabridge-serve` or
`jirabridge-worker` (`OTEL_SERVICE_NAME` overrides).

- the HTTP API: a server span per request (opentelemetry-instrumentation-fastapi);
- the database: a span per statement (opentelemetry-instrumentation-sqlalchemy; it declares
  SQLAlchemy < 2.1, so it is told to skip that check, which makes it import SQLAlchemy's asyncio
  module: greenlet is a dependency for that);
- the outbox: `outbox.enqueue` stores the current span's W3C `traceparent` on the operation, and the
  worker runs the operation inside a span `outbox <kind>` whose parent is that request span;
- Jira and callback calls: a client span per request (opentelemetry-instrumentation-httpx), child of
  the operation's span.

Everything takes the `TracerProvider` from the container (None: tracing off, nothing is instrumented),
so tests can give one with an in-memory exporter.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from opentelemetry import propagate, trace

if TYPE_CHECKING:
    import httpx
    from fastapi import FastAPI
    from opentelemetry.sdk.trace import TracerProvider

    from jirabridge.domain.outcomes import Job
    from jirabridge.storage.db import Engine

TRACING_ENV = "JIRABRIDGE_TRACING"
ENDPOINT_ENV = "OTEL_EXPORTER_OTLP_ENDPOINT"


def tracing_wanted(environ: dict[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    chosen = env.get(TRACING_ENV, "").strip().lower()
    if chosen == "off":
        return False
    return chosen == "otlp" or bool(env.get(ENDPOINT_ENV, "").strip())


def provider_from_env(service_name: str) -> TracerProvider | None:
    """An OTLP/HTTP exporting provider when tracing is configured, else None."""
    if not tracing_wanted():
        return None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    name = os.environ.get("OTEL_SERVICE_NAME") or service_name
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider


def instrument_app(app: FastAPI, provider: TracerProvider | None) -> None:
    if provider is None:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(app, tracer_provider=provider, excluded_urls="healthz,readyz,metrics")


def instrument_engine(engine: Engine, provider: TracerProvider | None) -> None:
    if provider is None:
        return
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    # One instrumentor per process (it is a singleton); a second container's engine is not traced.
    SQLAlchemyInstrumentor().instrument(engine=engine, tracer_provider=provider, skip_dep_check=True)


def instrument_http(client: httpx.AsyncClient, provider: TracerProvider | None) -> None:
    if provider is None:
        return
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    HTTPXClientInstrumentor.instrument_client(client, tracer_provider=provider)


def current_traceparent() -> str | None:
    """The W3C `traceparent` of the current span (a request's, when one is traced), else None."""
    if not trace.get_current_span().get_span_context().is_valid:
        return None
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent")


@contextmanager
def operation_span(provider: TracerProvider | None, job: Job) -> Iterator[Any]:
    """The span an outbox operation runs in, a child of the request that queued it when it has one."""
    if provider is None:
        yield None
        return
    parent = propagate.extract({"traceparent": job.traceparent}) if job.traceparent else None
    tracer = provider.get_tracer("jirabridge.worker")
    attributes: dict[str, str | int] = {
        "jirabridge.operation.id": job.id,
        "jirabridge.operation.kind": job.kind,
        "jirabridge.operation.attempt": job.attempts,
        "jirabridge.workspace": job.workspace_id,
        "jirabridge.site": job.site_id or "",
    }
    with tracer.start_as_current_span(
        f"outbox {job.kind}", context=parent, kind=trace.SpanKind.CONSUMER, attributes=attributes
    ) as span:
        yield span
