"""`jira-emulator` as a user runs it: a real process serving HTTP on a loopback port."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from jira_emulator import Seed

pytestmark = pytest.mark.e2e

CLI = Path(sys.executable).with_name("jira-emulator")
ADMIN = ("admin@acme.test", "admin-token")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until_serving(url: str, process: subprocess.Popen[bytes], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"jira-emulator exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/_emulator/faults", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise TimeoutError("jira-emulator did not start serving")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log = (tmp_path_factory.mktemp("emulator") / "emulator.log").open("wb")
    process = subprocess.Popen(
        [
            str(CLI),
            "serve",
            "--port",
            str(port),
            "--latency-ms",
            "1",
            "--index-lag-s",
            "0.5",
            "--log-level",
            "warning",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(url, process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture
def served(server: str) -> str:
    """The shared server, reset to its baseline for each test."""
    reset(server)
    return server


def reset(url: str) -> None:
    """No body: back to the default seed (a body of `{}` would be an empty world)."""
    assert httpx.post(f"{url}/_emulator/reset").status_code == 200


def control(url: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    response = (
        httpx.post(f"{url}/_emulator/{path}", json=body)
        if body is not None
        else httpx.get(f"{url}/_emulator/{path}")
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def test_serves_jira_and_the_control_api(served: str) -> None:
    with httpx.Client(base_url=served, auth=ADMIN, timeout=5.0) as jira:
        info = jira.get("/rest/api/3/serverInfo").json()
        assert info["deploymentType"] == "Cloud"
        assert info["baseUrl"] == served
        assert jira.get("/rest/api/3/myself").json()["emailAddress"] == "admin@acme.test"
        assert jira.get("/sites/globex/rest/api/3/project/OPS").json()["key"] == "OPS"
        assert httpx.get(f"{served}/rest/api/3/myself", auth=("admin@acme.test", "wrong")).status_code == 401

    # The command-line baseline is in effect, and survives a reset.
    assert control(served, "faults")["latency_ms"] == 1
    state = control(served, "state")
    assert {s["index_lag_s"] for s in state["sites"].values()} == {0.5}
    reset(served)
    assert control(served, "faults")["latency_ms"] == 1


def test_faults_over_a_real_socket(served: str) -> None:
    comments = "/rest/api/3/issue/WEB-1/comment"
    body = {
        "body": {
            "type": "doc",
            "version": 1,
            "content": [{"type": "paragraph", "content": [{"type": "text", "text": "hello"}]}],
        }
    }
    with httpx.Client(base_url=served, auth=ADMIN, timeout=5.0) as jira:
        fields = {"project": {"key": "WEB"}, "issuetype": {"name": "Task"}, "summary": "Over the wire"}
        assert jira.post("/rest/api/3/issue", json={"fields": fields}).json()["key"] == "WEB-1"

        control(served, "faults", {"rules": [{"kind": "drop", "path": "/comment$", "count": 1}]})
        with pytest.raises(httpx.RemoteProtocolError):
            jira.post(comments, json=body)

        # The answer is lost: the client times out, yet the comment is there.
        control(
            served,
            "faults",
            {"rules": [{"kind": "lost_answer", "path": "/comment$", "count": 1, "hang_s": 1.5}]},
        )
        with pytest.raises(httpx.ReadTimeout):
            jira.post(comments, json=body, timeout=0.3)
        issue = next(i for i in control(served, "state")["sites"]["acme"]["issues"] if i["key"] == "WEB-1")
        assert [c["body"] for c in issue["comments"]] == ["hello"]
        assert jira.get("/rest/api/3/myself").status_code == 200


def test_rate_limit_option(tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [str(CLI), "serve", "--port", str(port), "--rate-limit", "2", "--log-level", "warning"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(url, process)
        with httpx.Client(base_url=url, auth=ADMIN, timeout=5.0) as jira:
            answers = [jira.get("/rest/api/3/myself") for _ in range(5)]
            refused = [a for a in answers if a.status_code == 429]
            assert refused, [a.status_code for a in answers]
            assert refused[0].headers["RateLimit-Reason"] == "jira-burst-based"
            assert refused[0].headers["X-RateLimit-Limit"] == "2"
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_default_seed_prints_a_valid_seed() -> None:
    result = subprocess.run([str(CLI), "default-seed"], capture_output=True, check=True, timeout=30)
    seed = Seed.model_validate(json.loads(result.stdout))
    assert [s.name for s in seed.sites] == ["acme", "globex"]
    assert "admin@acme.test" in [u.email for u in seed.users]
