"""`jirabridge worker`'s options reach the worker it runs: the record's wait, and the per-site cap
taken from the site's pacing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from jirabridge import logs
from jirabridge.entrypoints.cli import app as cli_app
from jirabridge.workers import runner
from jirabridge.workers.runner import WorkerOptions


def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *args: str, rate: str = "5") -> WorkerOptions:
    seen: list[WorkerOptions] = []

    def fake_run_worker(_container: Any, options: WorkerOptions, **_: Any) -> None:
        seen.append(options)

    monkeypatch.setattr(runner, "run_worker", fake_run_worker)
    # Not the process's logging: its handler would write to the runner's stream after it closed.
    monkeypatch.setattr(logs, "configure", lambda *_: None)
    env = {
        "JIRABRIDGE_DATABASE_URL": f"sqlite:///{tmp_path / 'jb.db'}",
        "JIRABRIDGE_JIRA_RATE_PER_SITE": rate,
    }
    result = CliRunner().invoke(cli_app, ["worker", *args], env=env)
    assert result.exit_code == 0, result.output
    [options] = seen
    return options


def test_a_busy_worker_waits_100_ms_for_other_records_unless_told_otherwise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run(tmp_path, monkeypatch).record_wait_s == pytest.approx(0.1)
    assert run(tmp_path, monkeypatch, "--record-wait-ms", "0").record_wait_s == 0


def test_a_worker_runs_about_a_second_of_each_sites_pacing_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run(tmp_path, monkeypatch, rate="5").site_cap == 5
    assert run(tmp_path, monkeypatch, rate="50").site_cap == 50
    assert run(tmp_path, monkeypatch, rate="1").site_cap == 4
