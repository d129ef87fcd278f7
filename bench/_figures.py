"""Small pure helpers for the benchmarks' figures: percentiles and the table of where the CPU went."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank percentile (q in 0…1): the smallest value with at least q of the values at or
    below it, so p99 of 100 values is the 99th smallest. NaN when there are none."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass(frozen=True)
class CpuRow:
    """One process's (or group's) CPU seconds in the two phases of a run; None: not measured."""

    name: str
    push_s: float | None  # while the host pushed changes through the API, no worker running
    sync_s: float | None  # while the workers synced them to Jira


def cpu_table(rows: Sequence[CpuRow], changes: int, sync_s: float) -> list[str]:
    """Where the CPU went, in ms per change for each phase and in total, with each process's share of
    the total and the cores it kept busy while syncing."""
    per = 1000 / max(changes, 1)
    total = sum((r.push_s or 0.0) + (r.sync_s or 0.0) for r in rows)

    def ms(seconds: float | None) -> str:
        return "-" if seconds is None else f"{seconds * per:.2f}"

    lines = [f"  {'CPU, ms per change':<22}{'push':>8}{'sync':>8}{'total':>8}{'share':>7}{'cores':>7}"]
    for r in rows:
        both = (r.push_s or 0.0) + (r.sync_s or 0.0)
        cores = "-" if r.sync_s is None or sync_s <= 0 else f"{r.sync_s / sync_s:.2f}"
        share = f"{both / total:.0%}" if total else "-"
        lines.append(f"  {r.name:<22}{ms(r.push_s):>8}{ms(r.sync_s):>8}{ms(both):>8}{share:>7}{cores:>7}")
    return lines
