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

    def serve(self, port: int, host: str = "0.0.0.0") -> None:
        """Serve /metrics on `port` from a daemon thread (it ends with the process)."""
        start_http_server(port, addr=host, registry=self.registry)
