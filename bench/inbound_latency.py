"""Inbound latency: Jira-side changes at a steady rate, from the change in Jira to the event on the feed.

    python -m bench.inbound_latency                      # 300 changes at 10/s, 250 ms per Jira call
    python -m bench.inbound_latency --changes 100 --rate 5 --latency-ms 50 --poll-sample 3

What happens: the emulator, the service and a worker run as separate processes; project BEN syncs
status two ways and has an admin webhook pointing at the service (set up the way an admin would, with
the URL and secret jirabridge shows). A Jira user moves linked issues back and forth at `--rate`
changes per second. A reader follows the event feed (`GET /api/v1/events?after=…`, every 10 ms) and
matches each `item.status_changed` to its change. The clock of a change starts when Jira has answered
the transition (the change exists in Jira) and stops when the reader sees the event, so the figure
includes the reader's polling (≤ 10 ms).

The baseline is the same change with webhooks lost, caught by polling only: `--poll-sample` changes with
every delivery dropped, the project polled at the shortest interval jirabridge allows (30 s; the products
that poll hourly take up to an hour). Target (SPEC section 7): p99 ≤ 1 s by webhook.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx

from bench._stack import (
    PROJECT,
    Stack,
    StackOptions,
    Tenant,
    bench_seed,
    insert_linked_items,
    machine,
    seeded_issues,
)

JANE = ("jane@bench.test", "jane-token")
SETTINGS = {
    "default_issue_type": "Task",
    "status_sync": "two_way",
    "status_map": {"Open": "To Do", "Acknowledged": "In Progress"},
    "poll_interval_s": 30,
}
TARGET_P99_S = 1.0


@dataclass
class Latencies:
    seconds: list[float]
    missing: int

    def pct(self, q: float) -> float:
        ordered = sorted(self.seconds)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


class FeedReader(threading.Thread):
    """Follows the event feed and notes when each (issue key, host status) appears."""

    def first_after(self, key: str, status: str, moment: float) -> float | None:
        return next((t for t in self.seen.get((key, status), []) if t >= moment), None)

    def __init__(self, stack: Stack, tenant: Tenant) -> None:
        super().__init__(daemon=True)
        self.client = stack.api(timeout_s=30)
        self.headers = tenant.headers
        self.seen: dict[tuple[str, str], list[float]] = {}
        self.cursor: str | None = None
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            params = {"limit": "500"} | ({"after": self.cursor} if self.cursor else {})
            page = self.client.get("/api/v1/events", params=params, headers=self.headers).json()
            now = time.monotonic()
            for event in page["events"]:
                if event["type"] == "item.status_changed":
                    self.seen.setdefault((event["issue_key"], event["data"]["to"]), []).append(now)
            self.cursor = page.get("next") or self.cursor
            if not page["events"]:
                time.sleep(0.01)

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=5)
        self.client.close()


def _transition_ids(jane: httpx.Client, key: str) -> dict[str, str]:
    transitions = jane.get(f"/rest/api/3/issue/{key}/transitions").json()["transitions"]
    return {t["to"]["name"]: t["id"] for t in transitions}


def play(
    jane: httpx.Client, keys: Sequence[str], ids: dict[str, str], changes: int, rate: float, first: int
) -> list[tuple[str, str, float]]:
    """`changes` transitions at `rate` per second, round robin over `keys`: (key, host status, when)."""
    done: list[tuple[str, str, float]] = []
    lock = threading.Lock()
    moves = {"In Progress": "Acknowledged", "To Do": "Open"}

    def one(n: int) -> None:
        key = keys[n % len(keys)]
        target = "In Progress" if (n // len(keys)) % 2 == 0 else "To Do"
        answer = jane.post(f"/rest/api/3/issue/{key}/transitions", json={"transition": {"id": ids[target]}})
        answer.raise_for_status()
        with lock:
            done.append((key, moves[target], time.monotonic()))

    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=32) as pool:
        for n in range(first, first + changes):
            delay = start + (n - first) / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            pool.submit(one, n)
    return done


def measure(reader: FeedReader, done: list[tuple[str, str, float]], wait_s: float) -> Latencies:
    def arrivals() -> list[float | None]:
        return [reader.first_after(k, s, at) for k, s, at in done]

    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline and None in arrivals():
        time.sleep(0.05)
    seconds = [seen - at for (_, _, at), seen in zip(done, arrivals(), strict=True) if seen is not None]
    return Latencies(seconds, len(done) - len(seconds))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--changes", type=int, default=300)
    parser.add_argument("--rate", type=float, default=10.0, help="Jira-side changes per second")
    parser.add_argument("--latency-ms", type=int, default=250)
    parser.add_argument("--rate-limit", type=int, default=50)
    parser.add_argument(
        "--poll-sample", type=int, default=3, help="changes measured by polling only (0: skip)"
    )
    args = parser.parse_args(argv)

    issues = max(20, min(200, args.changes // 2))
    seed = bench_seed(["bench"], issues=issues)
    seed["users"].append({"email": JANE[0], "display_name": "Jane Jira", "api_tokens": [{"token": JANE[1]}]})
    options = StackOptions(
        latency_ms=args.latency_ms, rate_limit=args.rate_limit, concurrency=16, poll_s=0.05
    )
    with Stack(options) as stack:
        stack.start_emulator(seed)
        stack.start_service()
        tenant = stack.seed_tenant(["bench"], SETTINGS)
        site_id = tenant.sites["bench"]
        linked = seeded_issues(stack.emulator_state(), "bench")
        insert_linked_items(stack.database_url, tenant.workspace_id, site_id, linked, item_type="error")
        with stack.api() as api:
            hook = api.post(f"/api/v1/sites/{site_id}/webhook-secret", headers=tenant.headers).json()
        stack.emulator(
            "POST",
            "/_emulator/sites/bench/webhooks",
            {
                "name": "jirabridge",
                "url": hook["url"],
                "secret": hook["secret"],
                "events": ["jira:issue_updated"],
                "filters": {"issue-related-events-section": f"project = {PROJECT}"},
            },
        )
        stack.start_worker()
        stack.wait_drained(timeout_s=60)
        keys = [key for key, _ in linked]
        reader = FeedReader(stack, tenant)
        reader.start()
        with httpx.Client(base_url=f"{stack.emulator_url}/sites/bench", auth=JANE, timeout=60) as jane:
            ids = _transition_ids(jane, keys[0])
            done = play(jane, keys, ids, args.changes, args.rate, first=0)
            by_webhook = measure(reader, done, wait_s=30)
            by_polling = None
            if args.poll_sample:
                stack.emulator("POST", "/_emulator/webhooks/faults", {"drop_next": 1_000_000})
                sample = keys[: args.poll_sample]
                # The sample's next move is the opposite of its last one (round robin above).
                first = args.changes + (-args.changes) % len(keys)
                done_polled = play(jane, sample, ids, len(sample), args.rate, first=first)
                by_polling = measure(reader, done_polled, wait_s=90)
        reader.stop()
    print(report(args, by_webhook, by_polling))
    return 0 if by_webhook.missing == 0 else 1


def report(args: argparse.Namespace, hook: Latencies, polled: Latencies | None) -> str:
    def row(name: str, lat: Latencies) -> str:
        return (
            f"  {name:<22} n={len(lat.seconds):<5} p50 {lat.pct(0.5):7.3f} s   p99 {lat.pct(0.99):7.3f} s   "
            f"max {max(lat.seconds, default=float('nan')):7.3f} s   missing {lat.missing}"
        )

    lines = [
        f"inbound latency — {args.changes} Jira-side changes at {args.rate:g}/s, "
        f"{args.latency_ms} ms per Jira call, {machine()}",
        row("by webhook", hook),
    ]
    if polled is not None:
        mean = statistics.mean(polled.seconds) if polled.seconds else float("nan")
        lines.append(row("baseline: polling 30 s", polled) + f"   mean {mean:.1f} s")
    verdict = "met" if hook.pct(0.99) <= TARGET_P99_S and hook.missing == 0 else "MISSED"
    lines.append(f"  target p99 <= {TARGET_P99_S:g} s by webhook: {verdict}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
