"""The scale bench's pure helpers: percentiles, the PostgreSQL server's CPU from /proc, the CPU table."""

from __future__ import annotations

import math

from bench._figures import CpuRow, cpu_table, percentile
from bench._postgres import ProcCpu, parse_stat, tree_ticks


def test_percentile_is_nearest_rank() -> None:
    values = [float(n) for n in range(100, 0, -1)]  # 100 … 1, unsorted on purpose
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile(values, 1.0) == 100.0
    assert percentile([3.0], 0.99) == 3.0
    assert percentile([1.0, 2.0], 0.0) == 1.0


def test_percentile_of_nothing_is_nan() -> None:
    assert math.isnan(percentile([], 0.5))


def test_parse_stat_reads_ppid_and_cpu_past_a_name_with_spaces() -> None:
    # pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
    # utime stime cutime cstime ...
    raw = "4242 (postgres: bench idle) S 4200 4200 4200 0 -1 4194304 10 0 0 0 7 3 20 5 20 0 1 0"
    assert parse_stat(raw) == ProcCpu(ppid=4200, own=10, reaped=25)


def test_tree_ticks_counts_the_root_its_reaped_children_and_live_ones_only() -> None:
    processes = {
        100: ProcCpu(ppid=1, own=50, reaped=30),  # the postmaster; 30 ticks of backends that ended
        101: ProcCpu(ppid=100, own=7, reaped=0),
        102: ProcCpu(ppid=100, own=3, reaped=1),
        200: ProcCpu(ppid=1, own=999, reaped=0),  # not the server's
        201: ProcCpu(ppid=200, own=999, reaped=0),
    }
    assert tree_ticks(processes, 100) == 50 + 30 + 7 + 3 + 1
    assert tree_ticks(processes, 300) == 0


def test_cpu_table_gives_ms_per_change_share_and_cores() -> None:
    rows = [CpuRow("worker 0", None, 3.0), CpuRow("serve", 1.0, None)]
    lines = cpu_table(rows, changes=1000, sync_s=10.0)
    worker, serve = lines[1].split(), lines[2].split()
    assert worker == ["worker", "0", "-", "3.00", "3.00", "75%", "0.30"]
    assert serve == ["serve", "1.00", "-", "1.00", "25%", "-"]
