"""The worker's side of the site leases (storage/leases.py): what the runner calls, as a port (the SQL
one is `jirabridge.storage.leases.SqlLeases`), and the per-site gauges.

`jirabridge worker` always runs with leases, on PostgreSQL and SQLite alike (on SQLite there is one
worker, which then holds every site). In-process workers (tests, the demo) run without: they claim for
every site.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from jirabridge.storage.leases import Beat, LeaseTimes, SiteBacklog
from jirabridge.workers.metrics import WorkerMetrics


class Leases(Protocol):
    """What the worker needs of the leases (the SQL one below; tests may use a fake)."""

    times: LeaseTimes

    def beat(
        self,
        *,
        worker_id: str,
        now: datetime,
        busy_sites: Collection[str],
        running_ops: Collection[str],
        op_lease_s: float,
        stopping: bool,
    ) -> Beat: ...

    def leave(self, worker_id: str) -> None: ...

    def backlogs(self, sites: Collection[str], now: datetime) -> dict[str, SiteBacklog]: ...


@dataclass
class SiteGauges:
    """Per-site queue depth and lag gauges, for the sites this worker owns only: a thousand sites
    spread over N workers give each worker's scrape its own share, and a site that moves away leaves
    no stale series behind."""

    metrics: WorkerMetrics
    shown: set[str] = field(default_factory=set)

    def show(self, owned: Collection[str], backlogs: dict[str, SiteBacklog]) -> None:
        for site in self.shown - set(owned):
            self.metrics.site_queue_depth.remove(site)
            self.metrics.site_lag.remove(site)
        for site in owned:
            backlog = backlogs.get(site, SiteBacklog(0, 0.0))
            self.metrics.site_queue_depth.labels(site).set(backlog.due)
            self.metrics.site_lag.labels(site).set(backlog.oldest_due_s)
        self.shown = set(owned)
