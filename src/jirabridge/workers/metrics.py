"""The worker's Prometheus metrics, in a registry of its own (served by `--metrics-port`).

A registry per worker rather than prometheus-client's global one: tests build many workers in one
process, and the HTTP app keeps its own metrics apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server


@dataclass
class WorkerMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.operations = Counter(
            "jirabridge_worker_operations",
            "Attempts at outbox operations, by kind and outcome (done, retry, failed, lost_lease).",
            ["kind", "outcome"],
            registry=self.registry,
        )
        self.retries = Counter(
            "jirabridge_worker_retries",
            "Attempts that will be retried later, by kind and reason.",
            ["kind", "reason"],
            registry=self.registry,
        )
        self.running = Gauge(
            "jirabridge_worker_running_jobs", "Operations running in this worker now.", registry=self.registry
        )
        self.jira_calls = Counter(
            "jirabridge_worker_jira_calls",
            "Answers from Jira to this worker's calls, by HTTP status.",
            ["status"],
            registry=self.registry,
        )
        self.claimed = Counter(
            "jirabridge_worker_claimed_operations",
            "Operations claimed from the outbox.",
            registry=self.registry,
        )

        self.sites_owned = Gauge(
            "jirabridge_worker_sites_owned",
            "Jira sites whose lease this worker holds: it alone calls them (storage/leases.py).",
            registry=self.registry,
        )
        self.site_leases_acquired = Counter(
            "jirabridge_worker_site_leases_acquired",
            "Site leases this worker took (at start, from a dead or leaving worker, or in a rebalance).",
            registry=self.registry,
        )
        self.site_leases_released = Counter(
            "jirabridge_worker_site_leases_released",
            "Site leases this worker gave up or lost (a rebalance, or leases it could not renew).",
            registry=self.registry,
        )
        self.heartbeat_failures = Counter(
            "jirabridge_worker_heartbeat_failures",
            "Lease heartbeats that failed (the database did not answer); leases expire after a few.",
            registry=self.registry,
        )
        self.site_queue_depth = Gauge(
            "jirabridge_worker_site_queue_depth",
            "Due pending operations of each site this worker owns.",
            ["site"],
            registry=self.registry,
        )
        self.site_lag = Gauge(
            "jirabridge_worker_site_lag_seconds",
            "How long the oldest due operation of each site this worker owns has waited.",
            ["site"],
            registry=self.registry,
        )

    def serve(self, port: int, host: str = "0.0.0.0") -> None:
        """Serve /metrics on `port` from a daemon thread (it ends with the process)."""
        start_http_server(port, addr=host, registry=self.registry)
