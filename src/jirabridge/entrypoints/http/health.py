"""Liveness, readiness and Prometheus metrics: `GET /healthz`, `/readyz`, `/metrics`. No credentials.

- `/healthz` answers while the process serves requests; it touches nothing else.
- `/readyz` answers 200 once the database is reachable, at the newest migration and its stored
  secrets can be read with JIRABRIDGE_SECRET_KEY (service/core/secrets.py), 503 (a problem body saying
  which) otherwise; a load balancer sends traffic only to ready instances. Its body also shows the
  host callback backlog (`callbacks`, storage/callbacks.py): reported, never a reason to be unready.
- `/metrics` reads the outbox and the feed at scrape time into a registry of this app's own (not
  prometheus-client's global one: tests build many apps in one process). The worker serves its own
  counters (operations by kind and outcome, retries) on `jirabridge worker --metrics-port`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from jirabridge.bootstrap import Container
from jirabridge.domain.site_webhooks import WebhookStatus
from jirabridge.entrypoints.http.problems import problem
from jirabridge.service.core.secrets import key_problem
from jirabridge.storage import callbacks, events, leases, migrate, outbox
from jirabridge.storage.db import ping

log = logging.getLogger("jirabridge.health")

router = APIRouter(tags=["health"])


def _container(request: Request) -> Container:
    built: Container = request.app.state.container
    return built


@router.get("/healthz", summary="Liveness")
async def healthz() -> dict[str, str]:
    """Answers 200 while the process runs. No credentials."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "Not ready (problem+json)"}}, summary="Readiness")
def readyz(request: Request) -> Any:
    """200 when the database answers and its schema is current; 503 (problem+json) otherwise. No
    credentials."""
    engine = _container(request).engine
    try:
        ping(engine)
    except Exception as error:  # the URL may carry a password: log the type only
        log.warning("readyz.database_unreachable error=%s", type(error).__name__)
        return problem(503, "unavailable", "Service unavailable", "the database cannot be reached")
    try:
        current = migrate.is_current(engine)
    except Exception as error:
        log.warning("readyz.migration_check_failed error=%s", type(error).__name__)
        current = False
    if not current:
        return problem(
            503,
            "unavailable",
            "Service unavailable",
            "the database is not at the newest migration: run `jirabridge migrate`",
        )
    container = _container(request)
    keys = container.settings.secret_key.get_secret_value() if container.settings.secret_key else None
    with container.uow() as uow:
        wrong_key = key_problem(uow, keys)
    if wrong_key is not None:
        log.warning("readyz.secret_key_mismatch")
        return problem(503, "unavailable", "Service unavailable", wrong_key)
    with container.uow() as uow:
        backlog = callbacks.backlog(uow.session, container.clock.now())
    checks = {
        "database": "ok",
        "migrations": "current",
        "secret_key": "ok",
        "webhooks": _webhooks_check(container),
        "callbacks": _callbacks_check(backlog),
    }
    return JSONResponse({"status": "ready", "checks": checks, "callbacks": backlog.as_json()})


def _callbacks_check(backlog: callbacks.Backlog) -> str:
    """Host callback endpoints that are failing: their deliveries wait (docs/callbacks.md)."""
    if not backlog.endpoints_failing:
        return "ok"
    return (
        f"backing_off: {backlog.endpoints_failing} workspace callback endpoint(s) failing; "
        f"{backlog.waiting} delivery(ies) waiting, the oldest for {backlog.oldest_s:.0f} s"
    )


def _webhooks_check(container: Container) -> str:
    """Sites whose webhook Jira refused: inbound sync gets nothing but polls there until a person acts.
    Reported, not a reason to be unready (the service itself works)."""
    with container.uow() as uow:
        count = uow.sites.count_connected_with_webhook(WebhookStatus.NOT_REGISTERED.value)
    if not count:
        return "ok"
    return (
        f"not_registered: {count} connected site(s) without a webhook; GET /api/v1/sites shows each "
        "site's webhook.action"
    )


def _gauge(name: str, documentation: str, label: str, counts: Iterable[tuple[str, int]]) -> GaugeMetricFamily:
    gauge = GaugeMetricFamily(name, documentation, labels=[label])
    for value, count in sorted(counts):
        gauge.add_metric([value], count)
    return gauge


class StorageCollector(Collector):
    """Reads the queue and the feed at each scrape; a database error reports `jirabridge_database_up 0`."""

    def __init__(self, container: Container) -> None:
        self._container = container

    def describe(self) -> Iterable[Metric]:
        # The names, without touching the database (registering calls this).
        return [
            GaugeMetricFamily("jirabridge_database_up", ""),
            GaugeMetricFamily("jirabridge_outbox_operations", "", labels=["status"]),
            GaugeMetricFamily("jirabridge_outbox_periodic_operations", "", labels=["status"]),
            GaugeMetricFamily("jirabridge_outbox_failed_operations", "", labels=["reason"]),
            GaugeMetricFamily("jirabridge_site_webhooks", "", labels=["status"]),
            GaugeMetricFamily("jirabridge_outbox_oldest_due_seconds", ""),
            CounterMetricFamily("jirabridge_events", ""),
            GaugeMetricFamily("jirabridge_callback_backlog", "", labels=["state"]),
            GaugeMetricFamily("jirabridge_callback_oldest_waiting_seconds", ""),
            GaugeMetricFamily("jirabridge_callback_endpoints_failing", ""),
            GaugeMetricFamily("jirabridge_workers_alive", ""),
            GaugeMetricFamily("jirabridge_sites_without_worker", ""),
        ]

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("jirabridge_database_up", "1 when the database answered this scrape.")
        try:
            with self._container.uow() as uow:
                depth = outbox.queue_depth(uow.session)
                periodic = outbox.queue_depth(uow.session, periodic=True)
                lag_s = outbox.oldest_due_s(uow.session, self._container.clock.now())
                by_reason = uow.operations.failed_by_reason()
                recorded = events.last_seq(uow.session)
                webhooks = uow.sites.connected_by_webhook_status()
                backlog = callbacks.backlog(uow.session, self._container.clock.now())
                owners = leases.ownership(uow.session, self._container.clock.now())
        except Exception as error:
            log.warning("metrics.database_unreachable error=%s", type(error).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield _gauge(
            "jirabridge_outbox_operations",
            "Outbox operations by status (queue depth), periodic rounds left out.",
            "status",
            depth.items(),
        )
        yield _gauge(
            "jirabridge_outbox_periodic_operations",
            "Rounds of periodic work (polls, worklog drift checks, webhook refreshes) by status.",
            "status",
            periodic.items(),
        )
        yield _gauge(
            "jirabridge_outbox_failed_operations",
            "Operations that failed for good (GET /api/v1/sync/failures), by reason.",
            "reason",
            ((r or "unknown", int(c)) for r, c in by_reason),
        )
        yield GaugeMetricFamily(
            "jirabridge_outbox_oldest_due_seconds",
            "How long the longest-waiting due operation has waited for a worker (0: none waits).",
            value=lag_s,
        )
        yield CounterMetricFamily("jirabridge_events", "Events recorded in the feed.", value=recorded)
        yield _gauge(
            "jirabridge_site_webhooks",
            "Connected sites by where their webhook stands (registered, not_registered, pending, not_needed)",
            "status",
            ((s or "unknown", int(c)) for s, c in webhooks),
        )
        yield from _callback_metrics(backlog)
        yield GaugeMetricFamily(
            "jirabridge_workers_alive",
            "`jirabridge worker` processes whose heartbeat is recent (site leases, docs/operations.md).",
            value=owners.workers_alive,
        )
        yield GaugeMetricFamily(
            "jirabridge_sites_without_worker",
            "Jira sites no live worker holds the lease of: their operations wait until one does.",
            value=owners.sites_without_worker,
        )


def _callback_metrics(backlog: callbacks.Backlog) -> Iterator[Metric]:
    queued = backlog.waiting - backlog.retrying - backlog.held
    yield _gauge(
        "jirabridge_callback_backlog",
        "Host callback deliveries not made yet: queued (due or being sent), retrying (failed, waiting "
        "for their next attempt), held (waiting while their endpoint backs off, not tried yet).",
        "state",
        [("queued", queued), ("retrying", backlog.retrying), ("held", backlog.held)],
    )
    yield GaugeMetricFamily(
        "jirabridge_callback_oldest_waiting_seconds",
        "How long the oldest callback delivery not made yet has been waiting (0 when none).",
        value=backlog.oldest_s,
    )
    yield GaugeMetricFamily(
        "jirabridge_callback_endpoints_failing",
        "Workspaces whose callback endpoint is failing and backing off, with deliveries waiting for it.",
        value=backlog.endpoints_failing,
    )


@router.get("/metrics", response_class=Response, summary="Prometheus metrics")
def metrics(request: Request) -> Response:
    """The outbox by status, failures by reason, events and webhook deliveries, in Prometheus' text format.
    No credentials."""
    registry: CollectorRegistry = request.app.state.metrics_registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def install(app: FastAPI, container: Container) -> None:
    """Add the routes and this app's metrics registry."""
    registry = CollectorRegistry()
    registry.register(StorageCollector(container))
    app.state.metrics_registry = registry
    app.include_router(router)
