"""An in-memory outbox implementing the worker's `Queue`: claim order, ordering keys and leases."""

from __future__ import annotations

import itertools
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from jirabridge.domain.operations import Unknown
from jirabridge.domain.outcomes import Done, Fail, Job, Outcome, Retry

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class FixedClock:
    def __init__(self, now: datetime = T0) -> None:
        self.moment = now

    def now(self) -> datetime:
        return self.moment


@dataclass
class Row:
    id: str
    kind: str
    key: str
    payload: dict[str, Any]
    status: str = "pending"
    attempts: int = 0
    owner: str | None = None
    run_after: datetime = T0
    outcomes: list[Outcome] = field(default_factory=list)
    error: str | None = None  # a payload this release cannot read: why
    site_id: str | None = None


class FakeQueue:
    def __init__(self) -> None:
        self.rows: list[Row] = []
        self.claims = 0
        self._ids = itertools.count(1)
        self.lose_leases = False
        self.prunes = 0
        self.uow: Any = None  # what a step's load and apply get (runner tests of steps set one)

    def add(self, kind: str, key: str | None = None, *, site_id: str | None = None, **payload: Any) -> str:
        op_id = f"op_{next(self._ids)}"
        self.rows.append(Row(op_id, kind, key or op_id, payload, site_id=site_id))
        return op_id

    def row(self, op_id: str) -> Row:
        return next(r for r in self.rows if r.id == op_id)

    def claim(
        self,
        *,
        worker_id: str,
        now: datetime,
        limit: int,
        lease_s: float,
        sites: Any = None,
        in_flight: Any = None,
        site_cap: Any = None,
        prepare: Any = None,
    ) -> list[Job]:
        self.claims += 1
        jobs: list[Job] = []
        blocked: set[str] = set()
        for row in self.rows:
            first_of_key = row.key not in blocked
            if row.status in ("pending", "running"):
                blocked.add(row.key)
            if len(jobs) < limit and first_of_key and row.status == "pending" and row.run_after <= now:
                row.status, row.owner, row.attempts = "running", worker_id, row.attempts + 1
                op = Unknown(
                    row.kind, dict(row.payload), ordering=row.key, error=row.error
                )  # the tests' own kinds
                jobs.append(Job(row.id, "ws_a", row.site_id, row.kind, op, row.attempts, None))
        return [prepare(self.uow, job) for job in jobs] if prepare else jobs

    def record(
        self, job: Job, outcome: Outcome, now: datetime, *, worker_id: str, apply: Any = None
    ) -> str | None:
        row = self.row(job.id)
        if self.lose_leases or row.owner != worker_id:
            return None
        if apply is not None:
            apply(self.uow)
        row.outcomes.append(outcome)
        row.owner = None
        match outcome:
            case Done():
                row.status = "done"
            case Fail():
                row.status = "failed"
            case Retry(after_s=after_s):
                row.status = "pending"
                row.run_after = now + timedelta(seconds=after_s if after_s is not None else 3600)
        return row.status

    def extend(self, *, worker_id: str, op_ids: Collection[str], now: datetime, lease_s: float) -> set[str]:
        return {i for i in op_ids if self.row(i).owner == worker_id}

    def prune(self, *, now: datetime) -> int:
        self.prunes += 1
        return 0


class BatchFakeQueue(FakeQueue):
    """`FakeQueue` that also records several outcomes at once (`BatchQueue`), noting each batch's size;
    `fail_batches`: a batch raises as a whole (the database), as `record_many` does."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[int] = []
        self.fail_batches = False

    def record_many(self, finished: Any, *, worker_id: str) -> list[Any]:
        from jirabridge.storage.outbox import Recorded

        self.batches.append(len(finished))
        if self.fail_batches:
            raise RuntimeError("the database went away")
        return [
            Recorded(self.record(f.job, f.outcome, f.now, worker_id=worker_id, apply=f.apply), f.outcome)
            for f in finished
        ]
