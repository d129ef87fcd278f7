"""The chaos run, scaled down: Jira failing at random and the worker killed twice lose nothing and
duplicate nothing (bench/chaos.py; the full run is `python -m bench.chaos`)."""

from __future__ import annotations

import pytest
from bench import chaos

pytestmark = pytest.mark.e2e


def test_two_worker_kills_under_jira_faults_leave_jira_exactly_as_the_host_expects() -> None:
    options = chaos.ChaosOptions(operations=200, kills=2, kill_gap_s=(1.0, 3.0), timeout_s=100)

    result = chaos.run_chaos(options)

    summary = chaos.report(result, options)
    assert len(result.kills) == 2, summary
    assert sum(result.fault_hits.values()) > 0, summary
    assert result.audit.duplicates == [], summary
    assert result.audit.missing == [], summary
    assert result.audit.wrong == [], summary
    assert result.refused == 0 and result.failed_operations == 0, summary
