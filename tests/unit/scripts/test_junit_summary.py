"""The end of `./scripts/test`: how many tests ran and skipped, each skip reason with its count, and a
failure when nothing ran at all — read from a real pytest run's JUnit XML."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "junit_summary.py"


def _pytest_run(directory: Path, tests: str) -> Path:
    (directory / "pytest.ini").write_text("[pytest]\n")
    (directory / "test_sample.py").write_text(tests)
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--junitxml=junit.xml"],
        cwd=directory,
        capture_output=True,
        check=False,
    )
    return directory / "junit.xml"


def _summary(junit: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(junit)], capture_output=True, text=True, check=False
    )


def test_the_summary_counts_skips_by_reason(tmp_path: Path) -> None:
    junit = _pytest_run(
        tmp_path,
        "import pytest\n"
        "def test_a(): pass\n"
        "def test_b(): pass\n"
        "@pytest.mark.parametrize('n', [1, 2])\n"
        "def test_c(n): pytest.skip('no copy of the description: set JIRA_OPENAPI_JSON')\n"
        "def test_d(): pytest.skip('PostgreSQL skipped on purpose')\n",
    )
    done = _summary(junit)
    assert done.returncode == 0
    assert done.stdout.splitlines() == [
        "== 2 tests ran, 3 skipped",
        "   2 skipped: no copy of the description: set JIRA_OPENAPI_JSON",
        "   1 skipped: PostgreSQL skipped on purpose",
    ]


def test_a_run_where_everything_skipped_fails(tmp_path: Path) -> None:
    junit = _pytest_run(tmp_path, "import pytest\ndef test_a(): pytest.skip('nothing to do')\n")
    done = _summary(junit)
    assert done.returncode == 1
    assert done.stdout.splitlines()[0] == "== 0 tests ran, 1 skipped"
    assert "no test ran" in done.stderr
