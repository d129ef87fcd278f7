"""The outbox worker: claim due operations, run them concurrently, record each outcome.

One asyncio loop per process. Each turn claims at most as many operations as it has free slots
(`concurrency`), in a short transaction of its own, and starts one task per operation. Handlers run
outside any database transaction; each outcome is recorded as soon as its handler returns, together
with the others that finished meanwhile (one transaction for several, each atomic with its own writes:
`_record_with_others`, outbox.record_many). A background task extends the leases of the running
operations, so a slow handler keeps its operation while a killed worker's operations are claimed again
once their lease expires.

With site leases (`leases`, as `jirabridge worker` runs: workers/leasing.py, storage/leases.py) that
task is the heartbeat: every `heartbeat_s` one transaction renews the worker's sites, takes and
releases sites as workers come and go, and extends the running operations' leases. The sites it takes
are handed to the Jira pool (`sites_acquired`), whose pacers hold their first calls for one window
while the previous owner's last calls leave Jira's. The worker claims only its sites' operations (and
those of no site); a claim and a heartbeat never run at once, so a
site is released only when no operation of it runs here. On a stop it claims nothing more, lets the
others take the sites it runs nothing of, and once its operations are recorded gives up every site.

- A handler that raises is a `Retry` with reason `handler_error` (logged with the operation id and the
  exception's type only: messages can carry tokens or personal data). One that runs longer than
  `job_timeout_s` is a `Retry` with reason `timeout`. An operation of a kind with no handler fails
  for good with reason `unknown_kind`; one whose payload does not hold what its kind needs (the
  handler could not read its operation) with reason `invalid_operation`.
- An idle worker claims at once when new work is queued (`nudges`: on PostgreSQL, a notification from
  the transaction that queued it, storage/outbox_nudges.py), and otherwise every `poll_s`. A busy
  worker claims in batches (below), except for new work of a site it is not serving (the
  notification names the sites): that is claimed as soon as a slot is free (`_announced`).
- SIGTERM or SIGINT: stop claiming, let the running operations finish and record them, exit. A second
  signal cancels what is still running; those operations are claimed again when their lease expires.
- `once`: drain what is due now (including operations that become due because the one before them on
  the same issue finished) and return.
- Every `prune_every_s` (10 minutes) a worker deletes operations that finished successfully longer
  ago than the configured keeping time (`outbox.prune_done`), so the table does not grow forever.
- Claims are batched: while operations run, the worker claims again only once a quarter of its slots
  (at least one) are free, not after every finished operation. A claim is a write transaction; with
  one per operation they were a good part of a busy worker's database time (bench/outbound.py).

The database calls are synchronous SQLAlchemy, run in threads so they never block the handlers.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import math
import os
import secrets
import signal
import socket
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol, TypeVar, runtime_checkable

from jirabridge import __version__, logs, telemetry
from jirabridge.clock import Clock
from jirabridge.domain.backoff import DEFAULT_BACKOFF, Backoff
from jirabridge.domain.outcomes import Done, Fail, Handler, Job, Outcome, Retry, UnreadableOperation
from jirabridge.service.core.unit_of_work import JoinedUnitOfWork, UnitOfWork, WouldWait
from jirabridge.storage import outbox
from jirabridge.storage.db import Sessions, keeping_rows, not_waiting
from jirabridge.storage.leases import LeaseTimes, SqlLeases
from jirabridge.storage.outbox_nudges import Announced, outbox_nudges_for
from jirabridge.workers.leasing import Leases, SiteGauges
from jirabridge.workers.metrics import WorkerMetrics
from jirabridge.workers.steps import Step

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

    from jirabridge.bootstrap import Container
    from jirabridge.workers.registry import Registry

log = logging.getLogger("jirabridge.worker")
T = TypeVar("T")

GC_YOUNG_THRESHOLD = 20_000  # see `calm_garbage_collector`
# Operations in flight for `jirabridge worker`: at 250 ms per Jira call a site paced at 50/s keeps
# about 13 in calls, and the rest wait for their turn or their database work; with 32 the pacer had
# no call waiting for its turn often enough to lose 5 % of the site's budget (docs/performance.md).
DEFAULT_CONCURRENCY = 40
BACKLOG_EVERY_BEATS = 5  # per-site queue depth and lag gauges: read every 5th heartbeat (~15 s)
# `jirabridge worker` runs at most about this many seconds of a site's pacing at once (`site_cap`).
SITE_CAP_S = 1.0
RECORD_BATCH = 50  # at most this many outcomes recorded in one transaction (see `Worker._record`)
# An outcome waits up to `WorkerOptions.record_wait_s` for others to share its record's transaction
# only while at least this many other operations run (a quiet worker records at once).
RECORD_WAIT_WHEN_RUNNING = 4
# New work for a site with fewer operations running here than this is claimed at once, not at the next
# batched claim: that site is not draining a backlog here (see `Worker._announced`).
PROMPT_BELOW_RUNNING = 2


# A step's reading for its job, in the claim's transaction; its writing, in the record's (steps.py).
Prepare = Callable[[UnitOfWork, Job], Job]
Apply = Callable[[UnitOfWork], None]
# Reads a claimed job's site in the claim's transaction (`JiraPool.prime`), so its Jira client opens none.
PrimeSite = Callable[[UnitOfWork, str], None]
# Reads the connection of the host user a step acts as (site, user) in the claim's transaction
# (`JiraPool.prime_user`), so its client as that user opens none either.
PrimeUser = Callable[[UnitOfWork, str, str], None]


class Nudges(Protocol):
    async def listen(self, wake: Callable[[Announced], None]) -> None:
        """Call `wake` whenever new work may be due, with the sites it is for (None in the set: of no
        site) or None when they are not known; runs until cancelled."""
        ...


class Queue(Protocol):
    """What the worker needs from the outbox (the SQL one below; tests use a fake)."""

    def claim(
        self,
        *,
        worker_id: str,
        now: datetime,
        limit: int,
        lease_s: float,
        sites: Collection[str] | None = None,
        in_flight: Mapping[str, int] | None = None,
        site_cap: int | None = None,
        prepare: Prepare | None = None,
    ) -> list[Job]: ...

    def record(
        self, job: Job, outcome: Outcome, now: datetime, *, worker_id: str, apply: Apply | None = None
    ) -> str | None: ...

    def extend(
        self, *, worker_id: str, op_ids: Collection[str], now: datetime, lease_s: float
    ) -> set[str]: ...

    def prune(self, *, now: datetime) -> int: ...


@dataclass(frozen=True)
class Finished:
    """An attempt's outcome waiting to be recorded with others (`BatchQueue.record_many`)."""

    job: Job
    outcome: Outcome
    now: datetime
    apply: Apply | None = None


@runtime_checkable
class BatchQueue(Protocol):
    """A queue that records several outcomes in one transaction (the SQL one; see `Worker._record`)."""

    def record_many(self, finished: Sequence[Finished], *, worker_id: str) -> list[outbox.Recorded]: ...


@dataclass(frozen=True)
class SqlQueue:
    sessions: Sessions
    max_attempts: int = outbox.MAX_ATTEMPTS
    backoff: Backoff = DEFAULT_BACKOFF
    keep_done: timedelta = outbox.DONE_KEPT

    @functools.cached_property
    def at_once(self) -> SqlQueue | None:
        """This queue with transactions that raise `WouldWait` rather than wait for the write lock
        (storage/db.py `NO_WAIT`), for the worker to run on its event loop's own thread, on SQLite;
        None on PostgreSQL (`Worker._in_db`)."""
        sessions = not_waiting(self.sessions)
        return None if sessions is None else replace(self, sessions=sessions)

    @functools.cached_property
    def _batch_sessions(self) -> Sessions:
        """For the claim and the record: the steps' loads and applies of a batch read the same site,
        project and workspace rows; kept, each is read once per transaction, not once per operation."""
        return keeping_rows(self.sessions)

    def claim(
        self,
        *,
        worker_id: str,
        now: datetime,
        limit: int,
        lease_s: float,
        sites: Collection[str] | None = None,
        in_flight: Mapping[str, int] | None = None,
        site_cap: int | None = None,
        prepare: Prepare | None = None,
    ) -> list[Job]:
        return outbox.claim(
            self._batch_sessions,
            worker_id=worker_id,
            now=now,
            limit=limit,
            lease_s=lease_s,
            max_attempts=self.max_attempts,
            sites=sites,
            in_flight=in_flight,
            site_cap=site_cap,
            prepare=(lambda session, job: prepare(JoinedUnitOfWork(session), job)) if prepare else None,
        )

    def record(
        self, job: Job, outcome: Outcome, now: datetime, *, worker_id: str, apply: Apply | None = None
    ) -> str | None:
        return outbox.record(
            self._batch_sessions,
            job,
            outcome,
            now,
            worker_id=worker_id,
            max_attempts=self.max_attempts,
            backoff=self.backoff,
            apply=_joined(apply),
        )

    def record_many(self, finished: Sequence[Finished], *, worker_id: str) -> list[outbox.Recorded]:
        return outbox.record_many(
            self._batch_sessions,
            [outbox.Finished(f.job, f.outcome, f.now, _joined(f.apply)) for f in finished],
            worker_id=worker_id,
            max_attempts=self.max_attempts,
            backoff=self.backoff,
        )

    def extend(self, *, worker_id: str, op_ids: Collection[str], now: datetime, lease_s: float) -> set[str]:
        return outbox.extend_leases(
            self.sessions, worker_id=worker_id, op_ids=op_ids, now=now, lease_s=lease_s
        )

    def prune(self, *, now: datetime) -> int:
        return outbox.prune_done(self.sessions, now=now, kept=self.keep_done)


def _joined(apply: Apply | None) -> outbox.Apply | None:
    """A step's `apply` on the outbox's session (the transaction that records its operation)."""
    if apply is None:
        return None
    return lambda session: apply(JoinedUnitOfWork(session))


@dataclass(frozen=True)
class WorkerOptions:
    concurrency: int = 8  # `jirabridge worker` runs DEFAULT_CONCURRENCY
    # An operation's lease: extended while its handler runs (at each site-lease heartbeat, or every
    # lease_s / 3 without site leases), so a killed worker's operations run again soon after.
    lease_s: float = 12.0
    poll_s: float = 1.0  # how often an idle worker looks for due work
    job_timeout_s: float = 300.0
    once: bool = False
    prune_every_s: float = 600.0  # how often finished operations past their keeping time are deleted
    # Group commit: while the worker is busy, an outcome waits up to this long for others to be
    # recorded in the same transaction (`Worker._recorder_loop`). 0: each batch is written at once.
    record_wait_s: float = 0.0
    # At most this many operations of one site run at once here (`outbox.claim`'s `site_cap`); None:
    # no cap. `jirabridge worker` sets about a second of the site's pacing.
    site_cap: int | None = None


def site_cap(rate_per_site: float) -> int:
    """How many operations of one site are worth running at once: what its pacing sends in about
    `SITE_CAP_S` (a Jira call's answer, the record's wait and the next claim, with room), at least 4.
    More would wait for their turn in slots the other sites need."""
    return max(4, math.ceil(rate_per_site * SITE_CAP_S))


def default_worker_id() -> str:
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass
class Worker:
    queue: Queue
    handlers: Mapping[str, Handler]
    clock: Clock
    options: WorkerOptions = field(default_factory=WorkerOptions)
    metrics: WorkerMetrics = field(default_factory=WorkerMetrics)
    worker_id: str = field(default_factory=default_worker_id)
    # Tracing (jirabridge/telemetry.py): each operation runs in a span; None: off.
    tracer_provider: TracerProvider | None = None
    # Site leases (workers/leasing.py): claim only the sites this worker owns. None: every site.
    leases: Leases | None = None
    # Wakes the worker when new work is queued (storage/outbox_nudges.py, PostgreSQL). None: it polls.
    nudges: Nudges | None = None
    # Called with each claimed job's site in the claim's transaction (the Jira pool's `prime`).
    prime_site: PrimeSite | None = None
    # Called with the site and host user a step's job calls Jira as (`Step.acts_as`), in the claim.
    prime_user: PrimeUser | None = None
    # Called with the sites a heartbeat took from another worker, or took first (the Jira pool's
    # `handed_over`: their first calls wait for the previous owner's last ones to leave Jira's window).
    sites_acquired: Callable[[frozenset[str]], None] | None = None

    def __post_init__(self) -> None:
        self._running: dict[str, asyncio.Task[None]] = {}
        self._sites_of: dict[str, str] = {}  # running operation id -> its site
        self._active_sites: frozenset[str] = frozenset()
        self._held_sites: frozenset[str] = frozenset()
        self._site_gauges = SiteGauges(self.metrics)
        self._beats = 0
        # A claim and a heartbeat never overlap: the heartbeat releases a site only when no operation
        # of it runs, which it can tell only if no claim is adding one at the same time.
        self._db_turn = asyncio.Lock()
        self._finished = 0  # jobs ended so far (see `_loop`)
        self._stopping = False
        self._wakeup: asyncio.Event | None = None
        self._prompt = False  # work was announced that should not wait for a batch of free slots
        # Outcomes waiting for the recorder, and the recorder task (see `_record`).
        self._to_record: list[tuple[Finished, asyncio.Future[outbox.Recorded]]] = []
        self._recorder: asyncio.Task[None] | None = None

    # -- control ---------------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop claiming; `run` returns once the running operations are recorded."""
        if not self._stopping:
            log.info("outbox.worker.stopping worker=%s running=%d", self.worker_id, len(self._running))
        self._stopping = True
        if self._wakeup is not None:
            self._wakeup.set()

    def _on_signal(self) -> None:
        if self._stopping:
            log.warning("outbox.worker.cancelling worker=%s running=%d", self.worker_id, len(self._running))
            for task in self._running.values():
                task.cancel()
        self.stop()

    async def run_until_signalled(self) -> None:
        """`run`, stopping gracefully on SIGTERM or SIGINT."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_signal)
        try:
            await self.run()
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)

    # -- the loop --------------------------------------------------------------------------------

    async def run(self) -> None:
        self._wakeup = asyncio.Event()
        log.info(
            "outbox.worker.started worker=%s concurrency=%d kinds=%s",
            self.worker_id,
            self.options.concurrency,
            ",".join(sorted(self.handlers)) or "-",
        )
        if self.leases is not None:
            await self._beat()  # take this worker's sites before its first claim
        background = [asyncio.create_task(self._heartbeat()), asyncio.create_task(self._prune())]
        if self.nudges is not None:
            background.append(asyncio.create_task(self.nudges.listen(self._announced)))
        try:
            await self._loop(self._wakeup)
            if self._running:
                await asyncio.gather(*self._running.values(), return_exceptions=True)
        finally:
            for task in background:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await self._leave()
        log.info("outbox.worker.stopped worker=%s", self.worker_id)

    async def _loop(self, wakeup: asyncio.Event) -> None:
        batch = max(1, self.options.concurrency // 4)
        while not self._stopping:
            free = self.options.concurrency - len(self._running)
            # A job that finishes while the claim runs may have unblocked work the claim could not see
            # yet (the next operation on its issue): `--once` must not stop on that claim's answer.
            finished_before = self._finished
            worth_claiming = free >= batch or (free > 0 and (not self._running or self._prompt))
            if worth_claiming:
                self._prompt = False  # this claim sees what was announced so far
            claimed = await self._claim(free) if worth_claiming else []
            for job in claimed:
                self._running[job.id] = asyncio.create_task(self._run_one(job, wakeup))
            drained = not self._running and not claimed and self._finished == finished_before
            if self.options.once and drained:
                return
            if self._stopping:
                return
            # A full batch may leave more due work, and while slots are too few to claim, running jobs
            # will free more: wait for a finished job only. Otherwise wait for one, a stop, or the poll.
            full = claimed and len(claimed) == free
            timeout = None if full or (self._running and not worth_claiming) else self.options.poll_s
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await wakeup.wait()
            wakeup.clear()

    def _announced(self, sites: Announced) -> None:
        """New work was queued (a nudge). While this worker's slots are taken by a site draining a
        backlog, it claims only once a batch of them is free; work for a site it is not serving (or
        of no site, or for sites not named) is claimed as soon as one slot is free, so that site's
        change waits for its own pacing, not for the backlog's slots to come free in numbers."""
        if sites is None or any(self._serves_little(site) for site in sites):
            self._prompt = True
        if self._wakeup is not None:
            self._wakeup.set()

    def _serves_little(self, site: str | None) -> bool:
        if site is None:
            return True
        if self.leases is not None and site not in self._active_sites:
            return False  # another worker's: not claimed here
        return sum(1 for running in self._sites_of.values() if running == site) < PROMPT_BELOW_RUNNING

    async def _claim(self, limit: int) -> list[Job]:
        async with self._db_turn:
            try:
                jobs = await self._in_db(functools.partial(self._claim_now, limit=limit))
            except Exception as error:  # the database is away: log, and try again at the next poll
                log.warning("outbox.claim.failed worker=%s error=%s", self.worker_id, type(error).__name__)
                return []
            for job in jobs:
                if job.site_id is not None:
                    self._sites_of[job.id] = job.site_id
        if jobs:
            self.metrics.claimed.inc(len(jobs))
        return jobs

    async def _in_db(self, work: Callable[[Queue], T]) -> T:
        """The worker's claims and records: on SQLite on the event loop's own thread when the
        database can be had at once, else on a thread (service/core/db.py says why)."""
        at_once: Queue | None = getattr(self.queue, "at_once", None)
        if at_once is not None:
            try:
                return work(at_once)
            except WouldWait:
                pass  # another thread or process is writing: wait for it on a thread
        return await asyncio.to_thread(work, self.queue)

    def _claim_now(self, queue: Queue, limit: int) -> list[Job]:
        return queue.claim(
            worker_id=self.worker_id,
            now=self.clock.now(),
            limit=limit,
            lease_s=self.options.lease_s,
            sites=None if self.leases is None else self._active_sites,  # None: every site
            in_flight=Counter(self._sites_of.values()),
            site_cap=self.options.site_cap,
            prepare=self._prepare,
        )

    def _prepare(self, uow: UnitOfWork, job: Job) -> Job:
        """A step's `load`, in the claim's transaction; a plain handler's job as it is. The job's site
        is read there too (`prime_site`), and the connection of the user it calls Jira as
        (`prime_user`), so calling Jira for it costs no transaction of its own."""
        if self.prime_site is not None and job.site_id is not None:
            self.prime_site(uow, job.site_id)
        step = self.handlers.get(job.kind)
        if isinstance(step, Step) and not job.unreadable:
            context = step.load(uow, job)
            who = step.acts_as(context) if step.acts_as is not None else None
            if self.prime_user is not None and who is not None:
                self.prime_user(uow, *who)
            return replace(job, context=context)
        return job

    async def _run_one(self, job: Job, wakeup: asyncio.Event) -> None:
        self.metrics.running.inc()
        try:
            with logs.bound(**_log_fields(job)), telemetry.operation_span(self.tracer_provider, job):
                outcome = await self._outcome(job)
                await self._record(job, outcome)
        finally:
            self.metrics.running.dec()
            self._running.pop(job.id, None)
            self._sites_of.pop(job.id, None)
            self._finished += 1
            wakeup.set()

    async def _outcome(self, job: Job) -> Outcome:
        handler = self.handlers.get(job.kind)
        if handler is None:
            return Fail("unknown_kind", f"no handler for operations of kind {job.kind!r}")
        try:
            async with asyncio.timeout(self.options.job_timeout_s):
                return await handler(job)
        except UnreadableOperation as error:  # retrying cannot make the payload whole
            return Fail("invalid_operation", str(error))
        except TimeoutError:
            log.warning("outbox.job.timeout op=%s kind=%s", job.id, job.kind)
            return Retry("timeout", f"the handler ran longer than {self.options.job_timeout_s:g} s")
        except Exception as error:
            # Only the type: an exception's message may carry a token, a URL with one, or personal data.
            log.warning("outbox.job.error op=%s kind=%s error=%s", job.id, job.kind, type(error).__name__)
            return Retry("handler_error", type(error).__name__)

    async def _record(self, job: Job, outcome: Outcome) -> None:
        step = self.handlers.get(job.kind)
        now = self.clock.now()
        apply: Apply | None = None
        if isinstance(step, Step) and not job.unreadable:
            apply = lambda uow: step.apply(uow, job, outcome, now)  # noqa: E731
        try:
            if isinstance(self.queue, BatchQueue):
                recorded = await self._record_with_others(Finished(job, outcome, now, apply))
            else:
                finished = Finished(job, outcome, now, apply)
                recorded = await self._in_db(functools.partial(self._record_alone, finished=finished))
        except Exception as error:  # its lease expires and another attempt runs it again
            log.error(
                "outbox.job.record_failed op=%s kind=%s error=%s", job.id, job.kind, type(error).__name__
            )
            return
        status, outcome = recorded.status, recorded.outcome
        if recorded.apply_error is not None:
            log.warning(
                "outbox.job.apply_failed op=%s kind=%s error=%s", job.id, job.kind, recorded.apply_error
            )
        if status is None:
            self.metrics.operations.labels(job.kind, "lost_lease").inc()
            log.warning("outbox.job.lost_lease op=%s kind=%s attempt=%d", job.id, job.kind, job.attempts)
            return
        if status == outbox.PENDING:
            assert isinstance(outcome, Retry)
            self.metrics.operations.labels(job.kind, "retry").inc()
            self.metrics.retries.labels(job.kind, outcome.reason).inc()
            log.info(
                "outbox.job.retry op=%s kind=%s attempt=%d reason=%s",
                job.id,
                job.kind,
                job.attempts,
                outcome.reason,
            )
        elif status == outbox.FAILED:
            reason = outcome.reason if isinstance(outcome, Fail) else outbox.MAX_ATTEMPTS_REASON
            self.metrics.operations.labels(job.kind, "failed").inc()
            log.warning(
                "outbox.job.failed op=%s kind=%s attempt=%d reason=%s", job.id, job.kind, job.attempts, reason
            )
        else:
            assert isinstance(outcome, Done)
            self.metrics.operations.labels(job.kind, "done").inc()
            log.info("outbox.job.done op=%s kind=%s attempt=%d", job.id, job.kind, job.attempts)

    def _record_alone(self, queue: Queue, finished: Finished) -> outbox.Recorded:
        """One outcome in a transaction of its own."""
        job, outcome, now = finished.job, finished.outcome, finished.now
        try:
            status = queue.record(job, outcome, now, worker_id=self.worker_id, apply=finished.apply)
        except WouldWait:
            raise  # nothing ran: `_in_db` runs it again on a thread
        except Exception as error:
            if finished.apply is None:
                raise
            # Applying the outcome failed (a bug, or the database): its writes rolled back with the
            # record. A retry is recorded instead; the next attempt runs the step again.
            retry = Retry("apply_error", type(error).__name__)
            status = queue.record(job, retry, now, worker_id=self.worker_id)
            return outbox.Recorded(status, retry, type(error).__name__)
        return outbox.Recorded(status, outcome)

    async def _record_with_others(self, finished: Finished) -> outbox.Recorded:
        """Outcomes are recorded by one task, several to a transaction: those that finish while a
        record is being written go together in the next (group commit). A lone outcome is written at
        once; a busy worker writes one transaction for many operations instead of one each, which was
        a large share of its CPU (the commit, the connection's check-out and check-in, the hop to a
        database thread: docs/performance.md)."""
        done: asyncio.Future[outbox.Recorded] = asyncio.get_running_loop().create_future()
        self._to_record.append((finished, done))
        if self._recorder is None or self._recorder.done():
            self._recorder = asyncio.create_task(self._recorder_loop())
        # Shielded: a job cancelled by a second signal still learns nothing, but its outcome, once
        # handed over, is written with the others.
        return await asyncio.shield(done)

    async def _recorder_loop(self) -> None:
        while self._to_record:
            if self._busy_enough_to_wait():
                # Jira has the change already; only its record waits, so that one transaction (one
                # commit, one hop to a database thread, one read of each site and workspace row the
                # applies share) serves several outcomes (docs/performance.md).
                await asyncio.sleep(self.options.record_wait_s)
            batch, self._to_record = self._to_record[:RECORD_BATCH], self._to_record[RECORD_BATCH:]
            finished = [f for f, _ in batch]
            try:
                if len(batch) == 1:
                    results = [await self._in_db(functools.partial(self._record_alone, finished=finished[0]))]
                else:
                    results = await self._in_db(functools.partial(self._record_many, finished=finished))
            except Exception as error:
                # The batch's transaction failed as a whole (the database, or a failure event that
                # could not be written): each outcome on its own, so one cannot hold back the others.
                log.warning(
                    "outbox.record_batch.failed worker=%s size=%d error=%s",
                    self.worker_id,
                    len(batch),
                    type(error).__name__,
                )
                for one, done in batch:
                    try:
                        alone_recorded = functools.partial(self._record_alone, finished=one)
                        done.set_result(await self._in_db(alone_recorded))
                    except Exception as alone:
                        done.set_exception(alone)
                continue
            for (_, done), result in zip(batch, results, strict=True):
                if not done.done():
                    done.set_result(result)

    def _record_many(self, queue: Queue, finished: list[Finished]) -> list[outbox.Recorded]:
        assert isinstance(queue, BatchQueue)
        return queue.record_many(finished, worker_id=self.worker_id)

    def _busy_enough_to_wait(self) -> bool:
        if self.options.record_wait_s <= 0 or self._stopping or len(self._to_record) >= RECORD_BATCH:
            return False
        return len(self._running) - len(self._to_record) >= RECORD_WAIT_WHEN_RUNNING

    async def _prune(self) -> None:
        """Now and then, delete operations that finished long ago (outbox.prune_done)."""
        while True:
            await asyncio.sleep(self.options.prune_every_s)
            try:
                pruned = await asyncio.to_thread(self.queue.prune, now=self.clock.now())
            except Exception as error:
                log.warning("outbox.prune.failed worker=%s error=%s", self.worker_id, type(error).__name__)
                continue
            if pruned:
                log.info("outbox.pruned worker=%s operations=%d", self.worker_id, pruned)

    async def _heartbeat(self) -> None:
        """Keep the running operations' leases (and, with site leases, this worker's sites)."""
        while True:
            if self.leases is not None:
                # Often enough for the sites' leases and for the operations' (a short `lease_s`).
                await asyncio.sleep(min(self.leases.times.heartbeat_s, self.options.lease_s / 3))
                await self._beat()
                continue
            await asyncio.sleep(self.options.lease_s / 3)
            ids = list(self._running)
            if not ids:
                continue
            try:
                held = await asyncio.to_thread(
                    self.queue.extend,
                    worker_id=self.worker_id,
                    op_ids=ids,
                    now=self.clock.now(),
                    lease_s=self.options.lease_s,
                )
            except Exception as error:
                log.warning(
                    "outbox.lease.extend_failed worker=%s error=%s", self.worker_id, type(error).__name__
                )
                continue
            self._warn_lost(ids, held)

    def _warn_lost(self, ids: list[str], held: Collection[str]) -> None:
        for op_id in sorted(set(ids) - set(held)):
            if op_id in self._running:
                log.warning("outbox.lease.lost op=%s worker=%s", op_id, self.worker_id)

    async def _beat(self) -> None:
        """One site-lease heartbeat (storage/leases.py): renew, take and release sites, and extend the
        running operations' leases, in one transaction."""
        assert self.leases is not None
        leases = self.leases
        async with self._db_turn:
            ids = list(self._running)
            beating = asyncio.ensure_future(
                asyncio.to_thread(
                    leases.beat,
                    worker_id=self.worker_id,
                    now=self.clock.now(),
                    busy_sites=set(self._sites_of.values()),
                    running_ops=ids,
                    op_lease_s=self.options.lease_s,
                    stopping=self._stopping,
                )
            )
            try:
                beat = await asyncio.shield(beating)
            except asyncio.CancelledError:
                # Stopping: the heartbeat's transaction ends before `_leave` may run (it waits for the
                # lock), or this heartbeat could write the worker's row back after `_leave` deleted it.
                with contextlib.suppress(Exception):
                    await beating
                raise
            except Exception as error:  # the database is away: the claim checks the leases it holds
                self.metrics.heartbeat_failures.inc()
                log.warning(
                    "outbox.heartbeat.failed worker=%s error=%s", self.worker_id, type(error).__name__
                )
                return
            self._active_sites = frozenset() if self._stopping else beat.active
            self._held_sites = beat.held
            if beat.acquired and self.sites_acquired is not None:
                self.sites_acquired(beat.acquired)  # before any claim of their operations
        self._warn_lost(ids, beat.extended)
        self.metrics.sites_owned.set(len(beat.held))
        self.metrics.site_leases_acquired.inc(len(beat.acquired))
        self.metrics.site_leases_released.inc(len(beat.released))
        if beat.acquired or beat.released:
            log.info(
                "outbox.sites.moved worker=%s acquired=%d released=%d owned=%d workers=%d",
                self.worker_id,
                len(beat.acquired),
                len(beat.released),
                len(beat.held),
                beat.live_workers,
            )
            if beat.acquired and self._wakeup is not None:
                self._wakeup.set()  # new sites may have due work: claim now, not at the next poll
        self._beats += 1
        if self._beats % BACKLOG_EVERY_BEATS == 1:
            await self._show_backlogs(beat.held)

    async def _show_backlogs(self, owned: frozenset[str]) -> None:
        assert self.leases is not None
        try:
            backlogs = await asyncio.to_thread(self.leases.backlogs, owned, self.clock.now())
        except Exception as error:
            log.warning("outbox.backlog.failed worker=%s error=%s", self.worker_id, type(error).__name__)
            return
        self._site_gauges.show(owned, backlogs)

    async def _leave(self) -> None:
        """Stopped: give up every site at once, so the other workers need not wait for an expiry."""
        if self.leases is None:
            return
        try:
            async with self._db_turn:
                await asyncio.to_thread(self.leases.leave, self.worker_id)
        except Exception as error:  # the leases expire by themselves
            log.warning("outbox.leave.failed worker=%s error=%s", self.worker_id, type(error).__name__)
            return
        self.metrics.site_leases_released.inc(len(self._held_sites))
        self.metrics.sites_owned.set(0)
        self._site_gauges.show((), {})
        log.info("outbox.worker.left worker=%s", self.worker_id)


def _log_fields(job: Job) -> dict[str, str | None]:
    """What the operation is about, on every log line it leads to (jirabridge/logs.py)."""
    item = job.item
    item_ref = f"{item[0]}/{item[1]}" if item else None
    site = job.site_id or job.operation.row_site_id()
    return {
        "workspace": job.workspace_id,
        "site": site,
        "item": item_ref,
        "issue": job.issue_key,
        "operation": job.id,
        "kind": job.kind,
    }


def run_worker(
    container: Container,
    options: WorkerOptions,
    *,
    metrics_port: int | None = None,
    max_attempts: int = outbox.MAX_ATTEMPTS,
    lease_times: LeaseTimes | None = None,
    registry: Registry | None = None,
) -> None:
    """`jirabridge worker`: every handler of `registry` (default: the built-in kinds), until a signal
    (or, with `once`, drained). It holds site leases (storage/leases.py): it calls only the Jira sites
    it owns, so any number of workers on one database share each site's budget without splitting it
    by hand."""
    from jirabridge.workers.handlers import builtin_registry

    metrics = WorkerMetrics()
    pool = container.jira_pool
    pool.on_status.append(lambda status: metrics.jira_calls.labels(status=str(status)).inc())
    if metrics_port is not None:
        metrics.serve(metrics_port)
    worker = Worker(
        SqlQueue(
            container.sessions,
            max_attempts=max_attempts,
            keep_done=timedelta(days=container.settings.keep_done_operations_days),
        ),
        (registry or builtin_registry()).build(container, pool),
        container.clock,
        options,
        metrics,
        tracer_provider=container.tracer_provider,
        leases=SqlLeases(
            container.sessions,
            lease_times or LeaseTimes(),
            sole=container.engine.dialect.name == "sqlite",
            version=__version__,
        ),
        nudges=outbox_nudges_for(container.settings.database_url, container.settings.listen_url()),
        prime_site=pool.prime,
        prime_user=pool.prime_user,
        sites_acquired=pool.handed_over,
    )
    calm_garbage_collector()
    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        runner.run(worker.run_until_signalled())


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop (libuv) for `jirabridge worker`, where it is installed (not on Windows);
    None: asyncio's own. A busy worker hands thousands of callbacks, timers, socket reads and thread
    results a second to its loop, and asyncio's pure-Python loop spent about a seventh of the worker's
    CPU on that alone (docs/performance.md)."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def calm_garbage_collector() -> None:
    """Fewer, shorter pauses of Python's cyclic garbage collector in a long-running worker.

    A full collection walks every tracked object and held the event loop for 70-100 ms every 7-9 s
    in a busy worker (bench/outbound.py): calls the pacer had spaced then left together, and Jira
    counted more than its limit in a second. What exists once the worker is built (modules, SQLAlchemy
    and pydantic machinery) lives as long as the process, so it is frozen out of collections; and the
    youngest generation is collected after 20,000 new objects instead of 700 (the interpreter's
    default), so far fewer collections run at all. Reference counting still frees everything that
    is not in a cycle at once."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
