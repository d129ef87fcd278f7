"""The `jirabridge` command line as an operator uses it: real processes, a real SQLite file."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select

from jirabridge.bootstrap import build
from jirabridge.config import Settings
from jirabridge.secrets_box import SecretBox, SecretKeyError
from jirabridge.service.workspaces.settings import put_settings
from jirabridge.storage.tables import ApiKey, Workspace

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cli(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "jirabridge.entrypoints.cli", *args]
    return subprocess.run(
        command, env={**os.environ, **env}, capture_output=True, text=True, timeout=timeout, check=False
    )


def test_demo_starts_everything_connects_a_site_and_passes_the_connection_test(tmp_path: Path) -> None:
    port, emulator_port = _free_port(), _free_port()
    done = _cli(
        "demo",
        "--port",
        str(port),
        "--emulator-port",
        str(emulator_port),
        "--data-dir",
        str(tmp_path),
        "--exit-after",
        "1",
        env={},
    )
    assert done.returncode == 0, done.stderr
    assert "Connection test:   ok" in done.stdout
    assert "finding CVE-1     -> WEB-1  Jira status In Progress" in done.stdout
    assert "anomaly an-42     -> DQ-1   Jira status To Do, 1 comment(s)" in done.stdout
    assert "te-3 u-bob    synced" in done.stdout  # Bob's entry waited for him to connect
    assert "worklogs: Alice Analyst 1h, Bob Builder 25m; remaining estimate 2h 35m" in done.stdout
    assert f"http://127.0.0.1:{port}/docs" in done.stdout
    assert f"Settings:        http://127.0.0.1:{port}/ui/start/jbl_" in done.stdout
    assert f"Ticket panel:    http://127.0.0.1:{port}/ui/start/jbl_" in done.stdout
    assert (tmp_path / "jirabridge-demo.db").is_file()


@pytest.mark.parametrize("busy", ["--port", "--emulator-port"])
def test_demo_on_a_busy_port_says_so_in_one_line_naming_the_option(busy: str, tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        ports = {"--port": str(_free_port()), "--emulator-port": str(_free_port())}
        ports[busy] = str(taken.getsockname()[1])
        done = _cli(
            "demo", *(x for option in ports.items() for x in option), "--data-dir", str(tmp_path), env={}
        )
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        f"jirabridge demo: cannot listen on 127.0.0.1:{ports[busy]} (Address already in use); "
        f"choose another port with {busy}"
    ]
    assert not (tmp_path / "jirabridge-demo.db").exists()


def test_operator_creates_a_workspace_and_key_and_rotates_the_secret_key(tmp_path: Path) -> None:
    old_key, new_key = SecretBox.generate_key(), SecretBox.generate_key()
    env = {"JIRABRIDGE_DATABASE_URL": f"sqlite:///{tmp_path / 'jb.db'}", "JIRABRIDGE_SECRET_KEY": old_key}
    assert _cli("migrate", env=env).returncode == 0
    created = _cli("workspace", "create", "Acme", env=env)
    assert created.returncode == 0, created.stderr
    workspace_id = created.stdout.strip()
    key = _cli(
        "workspace", "create-key", workspace_id, "--role", "member", "--user", "u-1", env=env
    ).stdout.strip()
    assert key.startswith("jb_")
    bad_role = _cli("workspace", "create-key", workspace_id, "--role", "owner", env=env)
    assert bad_role.returncode != 0

    settings = Settings(
        database_url=env["JIRABRIDGE_DATABASE_URL"],
        secret_key=SecretStr(old_key),
        allowed_outbound=["h.example"],  # no DNS look-up for the callback URL below
    )
    container = build(settings)
    try:
        with container.uow() as uow:
            assert uow.session.scalars(select(ApiKey.role)).all() == ["member"]
            put_settings(
                uow,
                lambda: container.secrets,
                workspace_id,
                {"callback": {"url": "https://h.example/cb", "secret": "s3cret-callback-secret"}},
                outbound=container.outbound,
            )
    finally:
        container.close()

    rotated = _cli("rotate-secrets", env=env | {"JIRABRIDGE_SECRET_KEY": f"{new_key},{old_key}"})
    assert rotated.returncode == 0, rotated.stderr
    assert "re-encrypted 1 stored secrets" in rotated.stdout
    container = build(settings)
    try:
        with container.uow() as uow:
            sealed = uow.session.scalars(select(Workspace.settings)).one()["callback"]["secret_sealed"]
    finally:
        container.close()
    assert SecretBox(new_key).open(sealed) == {"secret": "s3cret-callback-secret"}
    with pytest.raises(SecretKeyError):
        SecretBox(old_key).open(sealed)


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_serve_access_log_redacts_the_oauth_code_and_state_and_carries_the_request_id(
    tmp_path: Path, log_format: str
) -> None:
    env = {
        "JIRABRIDGE_DATABASE_URL": f"sqlite:///{tmp_path / 'jb.db'}",
        "JIRABRIDGE_SECRET_KEY": SecretBox.generate_key(),
        "JIRABRIDGE_LOG_FORMAT": log_format,
    }
    assert _cli("migrate", env=env).returncode == 0
    port = _free_port()
    command = [sys.executable, "-m", "jirabridge.entrypoints.cli", "serve", "--port", str(port)]
    server = subprocess.Popen(
        command, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                httpx.get(f"{base}/healthz", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        answer = httpx.get(
            f"{base}/oauth/callback?code=AUTHCODE4242&state=STATE9191&x=1",
            headers={"X-Request-ID": "e2e-callback-1"},
        )
    finally:
        server.terminate()
        out, err = server.communicate(timeout=30)
    assert answer.status_code == 422 and answer.headers["X-Request-ID"] == "e2e-callback-1"
    assert "AUTHCODE4242" not in answer.text and "STATE9191" not in answer.text
    line = next(line for line in out.splitlines() if "/oauth/callback" in line)
    assert "GET /oauth/callback?code=REDACTED&state=REDACTED&x=1 HTTP/1.1" in line, line
    if log_format == "text":
        assert '" 422 ' in line and line.endswith(" request_id=e2e-callback-1"), line
    else:  # one JSON object a line, the default of `serve`
        record = json.loads(line)
        assert (record["logger"], record["level"], record["request_id"]) == (
            "uvicorn.access",
            "info",
            "e2e-callback-1",
        )
        assert all(json.loads(other) for other in (out + err).splitlines() if other.strip())
    for secret in ("AUTHCODE4242", "STATE9191"):
        assert secret not in out and secret not in err


def test_ui_link_prints_a_one_time_link_that_opens_the_settings(tmp_path: Path) -> None:
    env = {
        "JIRABRIDGE_DATABASE_URL": f"sqlite:///{tmp_path / 'jb.db'}",
        "JIRABRIDGE_PUBLIC_URL": "https://bridge.example",
    }
    assert _cli("migrate", env=env).returncode == 0
    workspace = _cli("workspace", "create", "Acme", env=env).stdout.strip()

    printed = _cli("ui-link", "--workspace", workspace, "--user", "u-1", "--role", "admin", env=env)
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout.startswith("https://bridge.example/ui/start/jbl_")

    container = build(Settings(database_url=env["JIRABRIDGE_DATABASE_URL"]))
    try:
        from jirabridge.service.workspaces.ui_sessions import open_link

        with container.uow() as uow:
            token = printed.stdout.strip().rsplit("/", 1)[1]
            _, session = open_link(uow, container.clock.now(), token)
        assert session.workspace_id == workspace and session.scope.is_settings
    finally:
        container.close()

    refused = _cli("ui-link", "--workspace", workspace, "--user", "u-1", "--item", "anomaly/nope", env=env)
    assert refused.returncode == 1 and "does not exist" in refused.stderr

    mine = _cli(
        "ui-link", "--workspace", workspace, "--user", "u-7", "--role", "member", "--account", env=env
    )
    assert mine.returncode == 0, mine.stderr
    container = build(Settings(database_url=env["JIRABRIDGE_DATABASE_URL"]))
    try:
        from jirabridge.service.workspaces.ui_sessions import open_link

        with container.uow() as uow:
            _, session = open_link(uow, container.clock.now(), mine.stdout.strip().rsplit("/", 1)[1])
        assert session.scope.is_account and session.principal.user_id == "u-7"
    finally:
        container.close()
