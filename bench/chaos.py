"""The chaos run: mixed operations while Jira fails and the worker is killed, then an audit of Jira.

    python -m bench.chaos                               # 5,000 operations, 5 kills
    python -m bench.chaos --operations 300 --kills 2    # what tests/e2e/test_chaos.py runs

While a host pushes creates, status changes and comments (and worklogs, once time entries exist)
through the API, the emulator answers 10 % of calls with a 5xx, 5 % with a 429, and lets 3 % time out
(a third of those after applying the change: the answer is lost). A worker process runs them and is
killed with SIGKILL at random moments, `--kills` times, and restarted at once.

At the end the expected Jira state is computed from what the host pushed and compared with the
emulator's (`GET /_emulator/state`):
- duplicates: an item with more than one issue, a comment or worklog that appears more than once;
- missing: an item without an issue, a comment or worklog not in Jira, a remote link missing;
- wrong values: an issue in another status than the item's last status maps to, a link in jirabridge
  pointing at another issue than the one in Jira.
All must be zero; the exit status is 1 otherwise. Recovery: for each kill, the time until every
operation the killed worker held was finished by its successor.
"""

from __future__ import annotations

import argparse
import random
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bench._stack import (
    STATUS_MAP,
    Proc,
    Stack,
    StackOptions,
    Tenant,
    bench_seed,
    insert_linked_items,
    machine,
    seeded_issues,
    task_type_id,
)
from bench._workload import (
    ITEM_TYPE,
    Change,
    Pushed,
    connect_worklog_user,
    default_mix,
    parse_mix,
    plan,
    push,
)
from jirabridge.workers.runner import DEFAULT_CONCURRENCY

SITE = "bench"


def fault_rules(seed: int) -> dict[str, Any]:
    """10 % 5xx, 5 % 429, 2 % timeouts and 1 % lost answers, as shares of every call. A rule only sees
    the calls the ones before it let through, hence the divisions."""
    paths = "^/rest/"
    rules = [
        {"kind": "error", "status": 500, "path": paths, "probability": 0.04},
        {"kind": "error", "status": 502, "path": paths, "probability": 0.03 / 0.96},
        {"kind": "error", "status": 503, "path": paths, "probability": 0.03 / 0.93},
        {"kind": "error", "status": 429, "path": paths, "probability": 0.05 / 0.90, "retry_after_s": 1},
        {"kind": "timeout", "path": paths, "probability": 0.02 / 0.85, "hang_s": 3},
        {"kind": "lost_answer", "path": paths, "probability": 0.01 / 0.83, "hang_s": 3},
    ]
    return {"seed": seed, "rules": rules}


@dataclass
class Kill:
    at: float
    held: list[str]
    owner: str  # the killed worker's lease owner pattern
    taken_over_at: float | None = None  # no held operation is still leased to the dead worker
    recovered_at: float | None = None  # every held operation finished (retries after faults included)

    @property
    def takeover_s(self) -> float | None:
        return None if self.taken_over_at is None else self.taken_over_at - self.at

    @property
    def recovery_s(self) -> float | None:
        return None if self.recovered_at is None else self.recovered_at - self.at


@dataclass
class Audit:
    duplicates: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.duplicates or self.missing or self.wrong)


@dataclass
class ChaosResult:
    operations: int
    by_kind: Counter[str]
    kills: list[Kill]
    audit: Audit
    seconds: float
    refused: int
    failed_operations: float
    fault_hits: Counter[str]
    periodic_failed: int = 0  # pollers and drift checks that gave up (they run again on schedule)

    @property
    def clean(self) -> bool:
        return self.audit.clean and self.refused == 0


@dataclass
class ChaosOptions:
    operations: int = 5000
    kills: int = 5
    seed: int = 11
    latency_ms: int = 50
    rate_limit: int = 50
    concurrency: int = DEFAULT_CONCURRENCY  # as `jirabridge worker`
    database_url: str | None = None
    mix: dict[str, float] | None = None
    kill_gap_s: tuple[float, float] = (2.0, 12.0)  # between a restart and the next kill
    timeout_s: float = 1800.0
    keep: bool = False


def run_chaos(options: ChaosOptions) -> ChaosResult:
    rng = random.Random(options.seed)
    stack_options = StackOptions(
        latency_ms=options.latency_ms,
        rate_limit=options.rate_limit,
        concurrency=options.concurrency,
        database_url=options.database_url,
        lease_s=3.0,  # a killed worker's operations are taken over 3 s after it stopped renewing them
        poll_s=0.1,
        jira_timeout_s=2.0,  # the faults hang for 3 s: the worker times out first
        create_verify_grace_s=2.0,
        keep=options.keep,
    )
    base_count = max(20, options.operations // 10)
    with Stack(stack_options) as stack:
        stack.start_emulator(bench_seed([SITE], issues=base_count, index_lag_s=0.5))
        stack.start_service()
        mix = options.mix or default_mix(stack)
        tenant = stack.seed_tenant([SITE])
        if "worklog" in mix:
            connect_worklog_user(stack, tenant)
        issues = seeded_issues(stack.emulator_state(), SITE)
        ids = insert_linked_items(
            stack.database_url,
            tenant.workspace_id,
            tenant.sites[SITE],
            issues,
            issue_type_id=task_type_id(stack, SITE),
        )
        base = {SITE: [(item, key) for item, (key, _) in zip(ids, issues, strict=True)]}
        work = plan(options.operations, mix, base, rng, one_status_each=False)

        stack.emulator("POST", "/_emulator/faults", fault_rules(options.seed))
        started = time.monotonic()
        worker = stack.start_worker()
        pushed: list[Pushed] = []
        pusher = threading.Thread(target=lambda: pushed.append(_push_with_retries(stack, tenant, work)))
        pusher.start()
        kills: list[Kill] = []
        next_kill = time.monotonic() + rng.uniform(*options.kill_gap_s)
        deadline = started + options.timeout_s
        while True:
            now = time.monotonic()
            if now > deadline:
                raise TimeoutError(f"the chaos run did not finish within {options.timeout_s:g} s")
            _note_recoveries(stack, kills)
            busy = _busy(stack)
            if len(kills) < options.kills and now >= next_kill and busy:
                held = _held_by(stack, worker)
                worker.popen.send_signal(signal.SIGKILL)
                worker.popen.wait()
                kills.append(Kill(time.monotonic(), held, f"%:{worker.pid}:%"))
                worker = stack.start_worker(wait=False)
                next_kill = time.monotonic() + rng.uniform(*options.kill_gap_s)
            if not pusher.is_alive() and not busy:
                break
            time.sleep(0.1)
        pusher.join()
        seconds = time.monotonic() - started
        _note_recoveries(stack, kills)
        hits: Counter[str] = Counter()
        for rule in stack.emulator("GET", "/_emulator/faults")["rules"]:  # the hit log keeps 1,000
            label = str(rule["status"]) if rule["kind"] == "error" else rule["kind"]
            hits[label] += int(rule["hits"])
        stack.emulator("DELETE", "/_emulator/faults")
        failed, periodic_failed = stack.failed()
        worker.stop()
        done = pushed[0]
        audit = audit_jira(stack, tenant, base[SITE], done.changes)
        by_kind = Counter(change.kind for change in done.changes)
        return ChaosResult(
            len(done.changes),
            by_kind,
            kills,
            audit,
            seconds,
            len(done.refused),
            failed,
            hits,
            periodic_failed,
        )


def _push_with_retries(stack: Stack, tenant: Tenant, changes: Sequence[Change]) -> Pushed:
    """A host retries what the API could not do because Jira was away (502 from a read the request
    needed); the Idempotency-Key headers make the retries safe."""
    result = Pushed()
    todo = list(changes)
    for _ in range(8):
        if not todo:
            break
        got = push(stack, tenant, todo, concurrency=4)
        result.changes.extend(got.changes)
        result.seconds += got.seconds
        retry = [change for change, status, _ in got.refused if status >= 500]
        result.refused = [r for r in got.refused if r[1] < 500]
        todo = sorted(retry, key=lambda c: c.n)
        time.sleep(0.5)
    result.refused.extend((c, 502, "still refused after retries") for c in todo)
    # Pushed in plan order per item only within one pass; a retried status change comes later than
    # the ones after it, so the expected order is the order the API accepted them in.
    return result


def _db(stack: Stack) -> Any:
    from jirabridge.storage.db import make_engine

    return make_engine(stack.database_url)


def _busy(stack: Stack) -> bool:
    return stack.outstanding() > 0


def _held_by(stack: Stack, worker: Proc) -> list[str]:
    from sqlalchemy import select

    from jirabridge.storage.tables import Operation

    engine = _db(stack)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(Operation.id).where(
                    Operation.status == "running", Operation.lease_owner.like(f"%:{worker.pid}:%")
                )
            )
            return [row.id for row in rows]
    finally:
        engine.dispose()


def _note_recoveries(stack: Stack, kills: list[Kill]) -> None:
    open_kills = [k for k in kills if k.recovered_at is None]
    if not open_kills:
        return
    from sqlalchemy import select

    from jirabridge.storage.tables import Operation

    engine = _db(stack)
    try:
        with engine.connect() as connection:
            for kill in open_kills:
                held = Operation.id.in_(kill.held)
                if kill.taken_over_at is None:
                    stuck = connection.execute(
                        select(Operation.id).where(
                            held, Operation.status == "running", Operation.lease_owner.like(kill.owner)
                        )
                    ).first()
                    if stuck is None:
                        kill.taken_over_at = time.monotonic()
                unfinished = connection.execute(
                    select(Operation.id).where(held, Operation.status.in_(("pending", "running")))
                ).first()
                if unfinished is None:
                    kill.recovered_at = time.monotonic()
    finally:
        engine.dispose()


# -- the audit ---------------------------------------------------------------------------------------


def audit_jira(
    stack: Stack, tenant: Tenant, base: Sequence[tuple[str, str]], changes: Sequence[Change]
) -> Audit:
    audit = Audit()
    issues = stack.emulator_state()["sites"][SITE]["issues"]
    by_key = {i["key"]: i for i in issues}
    by_summary: dict[str, list[dict[str, Any]]] = {}
    for issue in issues:
        by_summary.setdefault(issue["summary"], []).append(issue)

    issue_of: dict[str, str] = dict(base)  # item -> issue key
    expected_status: dict[str, str] = {item: "Open" for item, _ in base}
    for change in changes:
        if change.kind == "create":
            expected_status[change.item] = "Open"
            found = by_summary.get(change.value or "", [])
            if len(found) > 1:
                audit.duplicates.append(f"{change.item}: {len(found)} issues {[i['key'] for i in found]}")
            if not found:
                audit.missing.append(f"{change.item}: no issue")
                continue
            issue_of[change.item] = found[0]["key"]
            links = found[0]["remote_links"]
            if len(links) != 1:
                audit.missing.append(f"{change.item}: {len(links)} remote links on {found[0]['key']}")
        elif change.kind == "status":
            expected_status[change.item] = change.value or "Open"

    for item, host_status in expected_status.items():
        key = issue_of.get(item)
        if key is None:
            continue
        actual = by_key[key]["status"]
        if actual != STATUS_MAP[host_status]:
            audit.wrong.append(
                f"{item} ({key}): Jira status {actual!r}, expected {STATUS_MAP[host_status]!r}"
            )

    texts = {"comment": "comments", "worklog": "worklogs"}
    for change in changes:
        if change.kind not in texts:
            continue
        key = issue_of[change.item]
        token = (change.value or "").rpartition(" ")[2]
        field_name = texts[change.kind]
        seen = sum(
            1
            for entry in by_key[key][field_name]
            if token in (entry.get("body") or entry.get("comment") or "")
        )
        if seen == 0:
            audit.missing.append(f"{change.kind} {token} on {key}")
        elif seen > 1:
            audit.duplicates.append(f"{change.kind} {token} on {key}: {seen} times")

    _audit_links(stack, tenant, issue_of, [c for c in changes if c.kind == "create"], audit)
    return audit


def _audit_links(
    stack: Stack, tenant: Tenant, issue_of: dict[str, str], creates: Sequence[Change], audit: Audit
) -> None:
    with stack.api() as api:
        for change in creates:
            if change.item not in issue_of:
                continue
            item = api.get(f"/api/v1/items/{ITEM_TYPE}/{change.item}", headers=tenant.headers).json()
            keys = [link["issue_key"] for link in item.get("links", [])]
            if keys != [issue_of[change.item]]:
                audit.wrong.append(
                    f"{change.item}: jirabridge links {keys}, Jira has {issue_of[change.item]}"
                )
            elif item["links"][0]["sync_state"] != "synced":
                audit.wrong.append(f"{change.item}: link {item['links'][0]['sync_state']}")


# -- output ------------------------------------------------------------------------------------------


def report(result: ChaosResult, options: ChaosOptions) -> str:
    a = result.audit
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(result.by_kind.items()))
    recoveries = [k.recovery_s for k in result.kills if k.recovery_s is not None]
    takeovers = [k.takeover_s for k in result.kills if k.takeover_s is not None]
    lines = [
        "== chaos run",
        f"machine: {machine()}",
        f"operations: {result.operations} ({kinds}) "
        f"in {result.seconds:.1f} s; "
        f"emulator {options.latency_ms} ms latency, "
        f"{options.rate_limit} requests/s; faults fired: {dict(sorted(result.fault_hits.items()))}",
        f"worker kills (SIGKILL): {len(result.kills)}; operations held at each kill: "
        f"{[len(k.held) for k in result.kills]}",
        "take-over (kill -> no held operation leased to the dead worker any more): "
        + (f"max {max(takeovers):.1f} s" if takeovers else "-"),
        "recovery (kill -> every held operation finished, fault retries included): "
        + (
            f"max {max(recoveries):.1f} s, mean {sum(recoveries) / len(recoveries):.1f} s"
            if recoveries
            else "-"
        )
        + (
            f"; {len(result.kills) - len(recoveries)} not recovered"
            if len(recoveries) < len(result.kills)
            else ""
        ),
        f"duplicates: {len(a.duplicates)}",
        f"missing: {len(a.missing)}",
        f"wrong values: {len(a.wrong)}",
        f"changes the API refused: {result.refused}; "
        f"operations failed for good: {result.failed_operations:g} "
        f"(and periodic ones, which run again on schedule: {result.periodic_failed})",
    ]
    for label, found in (("duplicate", a.duplicates), ("missing", a.missing), ("wrong", a.wrong)):
        lines.extend(f"  {label}: {entry}" for entry in found[:20])
    lines.append("RESULT: " + ("clean" if result.clean else "NOT CLEAN"))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--operations", type=int, default=5000)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--rate-limit", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--mix", default=None)
    parser.add_argument("--kill-gap-s", type=float, nargs=2, default=(2.0, 12.0), metavar=("MIN", "MAX"))
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    options = ChaosOptions(
        operations=args.operations,
        kills=args.kills,
        seed=args.seed,
        latency_ms=args.latency_ms,
        rate_limit=args.rate_limit,
        concurrency=args.concurrency,
        database_url=args.database_url,
        mix=parse_mix(args.mix) if args.mix else None,
        kill_gap_s=(args.kill_gap_s[0], args.kill_gap_s[1]),
        keep=args.keep,
    )
    result = run_chaos(options)
    print(report(result, options))
    return 0 if result.clean else 1


if __name__ == "__main__":
    sys.exit(main())
