"""`jirabridge demo`: the Jira emulator, the service on a fresh SQLite file and a worker, in one process.

It then uses the service the way a host would — over HTTP: creates a workspace and an admin API key,
connects the emulator's site `acme` with an API token, runs the connection test, and prints where to
look. Later issues add the four profiles' scripted sessions. This is the one module of jirabridge
allowed to import the emulator (see import-linter in pyproject.toml).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
import tempfile
import webbrowser
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import typer
import uvicorn
from fastapi import FastAPI
from pydantic import SecretStr

from jira_emulator import create_app as create_emulator
from jira_emulator import default_seed
from jirabridge.bootstrap import Container, build, handlers
from jirabridge.config import Settings
from jirabridge.entrypoints import demo_inbound, demo_rules, demo_worklogs
from jirabridge.entrypoints.http.app import create_app
from jirabridge.ids import new_secret
from jirabridge.secrets_box import SecretBox
from jirabridge.storage.migrate import upgrade
from jirabridge.workers.runner import SqlQueue, Worker, WorkerOptions


@dataclass(frozen=True)
class DemoOptions:
    host: str
    port: int
    emulator_port: int
    data_dir: Path | None
    exit_after: float | None


def _settings(options: DemoOptions, data_dir: Path) -> Settings:
    emulator = f"{options.host}:{options.emulator_port}"
    client = default_seed().oauth_apps[0]
    return Settings(
        database_url=f"sqlite:///{data_dir / 'jirabridge-demo.db'}",
        secret_key=SecretStr(SecretBox.generate_key()),
        service_token=SecretStr(new_secret("svc_")),
        public_url=f"http://{options.host}:{options.port}",
        allowed_jira_hosts=[emulator],
        atlassian_auth_url=f"http://{emulator}",
        atlassian_api_url=f"http://{emulator}",
        oauth_client_id=client.client_id,
        oauth_client_secret=SecretStr(client.client_secret),
    )


def _listen(host: str, port: int, option: str) -> socket.socket:
    """Binds before anything starts, so a busy port is one line naming the option to change (uvicorn
    would fail later, halfway through the start, with a long traceback)."""
    try:
        return socket.create_server((host, port))
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        typer.echo(
            f"jirabridge demo: cannot listen on {host}:{port} ({reason}); choose another port with {option}",
            err=True,
        )
        raise typer.Exit(1) from None


async def _start(app: FastAPI, listening: socket.socket) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[listening]))
    while not server.started:
        if task.done():
            task.result()  # a bind error surfaces here
            raise typer.Exit(1)
        await asyncio.sleep(0.05)
    return server, task


async def _script(service: str, emulator: str, token: str) -> dict[str, Any]:
    """What a host does first: a workspace, an API key, a connected site, a connection test."""
    async with httpx.AsyncClient(base_url=service, timeout=30) as api:
        as_service = {"Authorization": f"Bearer {token}"}
        workspace = (await api.post("/api/v1/workspaces", json={"name": "Demo"}, headers=as_service)).json()
        key = (
            await api.post(
                f"/api/v1/workspaces/{workspace['id']}/api-keys",
                json={"role": "admin", "name": "demo host"},
                headers=as_service,
            )
        ).json()["key"]
        admin = {"Authorization": f"Bearer {key}"}
        connected = await api.post(
            "/api/v1/sites",
            json={
                "url": f"{emulator}/sites/acme",
                "auth": {"type": "api_token", "email": "bot@acme.test", "api_token": "bot-token"},
                "default_project": "WEB",
            },
            headers=admin,
        )
        connected.raise_for_status()
        site = connected.json()
        test = await api.post(
            f"/api/v1/sites/{site['id']}/test", json={"project": "WEB", "issue_type": "Bug"}, headers=admin
        )
        tickets = await _tickets(api, admin, site["id"], emulator)
        finding = (await api.get("/api/v1/items/vulnerability/CVE-1", headers=admin)).json()
        inbound = await demo_inbound.play(api, admin, site["id"], emulator, finding["links"][0]["issue_key"])
        return {
            "workspace": workspace,
            "key": key,
            "site": site,
            "test": test.json(),
            "tickets": tickets,
            "inbound": inbound,
            "rules": await demo_rules.play(api, admin, site["id"], emulator),
            "worklogs": await demo_worklogs.play(api, admin, site["id"], emulator),
            "pages": await _page_links(api, admin),
        }


async def _page_links(api: httpx.AsyncClient, admin: dict[str, str]) -> dict[str, str]:
    """One-time links to the pages (docs/ui.md): the settings as an admin, an item's panel as a member."""
    scopes = {
        "settings": {"user_id": "u-admin", "role": "admin", "scope": "settings"},
        "panel": {
            "user_id": "u-alice",
            "role": "member",
            "scope": {"item_type": "anomaly", "item_id": "an-42"},
        },
    }
    links = {}
    for name, body in scopes.items():
        answer = await api.post("/api/v1/ui-sessions", json=body, headers=admin)
        answer.raise_for_status()
        links[name] = str(answer.json()["url"])
    return links


def _open_in_browser(links: dict[str, str]) -> bool:
    """Open the pages where a graphical browser can show them (not on a headless server)."""
    graphical = sys.platform in ("darwin", "win32") or any(
        os.environ.get(name) for name in ("DISPLAY", "WAYLAND_DISPLAY")
    )
    if not graphical:
        return False
    try:
        browser = webbrowser.get()
    except webbrowser.Error:
        return False
    return all(browser.open_new_tab(url) for url in links.values())


async def _tickets(api: httpx.AsyncClient, admin: dict[str, str], site_id: str, emulator: str) -> list[str]:
    """The three ticket profiles: a security finding, a data anomaly, two grouped error issues."""

    async def call(method: str, path: str, body: Any = None) -> Any:
        answer = await api.request(method, path, json=body, headers=admin)
        answer.raise_for_status()
        return answer.json() if answer.content else None

    status_map = {"Open": "To Do", "Acknowledged": "In Progress", "Fixed": "Done", "Resolved": "Done"}
    finding = {"title": "SQL injection in /search", "severity": "critical", "url": "https://host.example/f/1"}
    await call("PUT", "/api/v1/settings", {"host_name": "Demo", "link_cardinality": {"error": "many_to_one"}})
    web = {"default_issue_type": "Bug", "status_map": status_map, "priority_map": {"critical": "Highest"}}
    await call("PUT", f"/api/v1/sites/{site_id}/projects/WEB", web)
    await call(
        "PUT",
        f"/api/v1/sites/{site_id}/projects/DQ",
        {"default_issue_type": "Task", "status_sync": "comment"},
    )
    await call("PUT", "/api/v1/items/vulnerability/CVE-1", finding | {"status": "Open"})
    vulnerability = await call("POST", "/api/v1/items/vulnerability/CVE-1/tickets", {})
    await call("PUT", "/api/v1/items/anomaly/an-42", {"title": "Null rate spike", "status": "Active"})
    anomaly = await call("POST", "/api/v1/items/anomaly/an-42/tickets", {"project": "DQ"})
    await call("PUT", "/api/v1/items/error/e-1", {"title": "TypeError in checkout", "status": "Open"})
    await call("PUT", "/api/v1/items/error/e-2", {"title": "TypeError in cart", "status": "Open"})
    grouped = await call("POST", "/api/v1/items/error/e-1/tickets", {})
    await call("POST", "/api/v1/items/error/e-2/links", {"issue": grouped["issue_key"]})
    await call("PUT", "/api/v1/items/vulnerability/CVE-1", finding | {"status": "Acknowledged"})
    await call("PUT", "/api/v1/items/anomaly/an-42", {"title": "Null rate spike", "status": "Acknowledged"})
    await asyncio.sleep(1.5)  # the worker applies the status changes
    shown = (("finding CVE-1", vulnerability), ("anomaly an-42", anomaly), ("errors e-1 + e-2", grouped))
    lines = []
    async with httpx.AsyncClient(
        base_url=f"{emulator}/sites/acme", auth=("admin@acme.test", "admin-token")
    ) as jira:
        for label, link in shown:
            issue = (
                await jira.get(f"/rest/api/3/issue/{link['issue_key']}", params={"fields": "status,comment"})
            ).json()
            fields = issue["fields"]
            state = f"Jira status {fields['status']['name']}, {fields['comment']['total']} comment(s)"
            lines.append(f"{label:<17} -> {link['issue_key']:<6} {state}")
    return lines


def _report(service: str, emulator: str, result: dict[str, Any]) -> str:
    test, site = result["test"], result["site"]
    lines = [
        "",
        "jirabridge demo — service, worker and a Jira Cloud emulator (no account or network needed)",
        "",
        f"  API docs:          {service}/docs",
        f"  Workspace:         {result['workspace']['id']}",
        f"  Admin API key:     {result['key']}   (shown once; it is the demo's)",
        f"  Connected site:    {site['url']}  as {site['account_email']} ({site['id']})",
        f"  Connection test:   {'ok' if test['ok'] else 'FAILED'}",
    ]
    lines += [
        f"    {c['check']:<11} {'ok' if c['ok'] else c['code']:<10} {c['message']}" for c in test["checks"]
    ]
    lines += ["", "  Tickets, as Jira shows them after the status changes:"]
    lines += [f"    {line}" for line in result["tickets"]]
    lines += ["", "  Changes made in Jira, as the host learns them (webhook):"]
    lines += [f"    {line}" for line in result["inbound"]]
    lines += ["", "  Error issues routed by ordered rules (GET/PUT /api/v1/rules):"]
    lines += [f"    {line}" for line in result["rules"]]
    lines += ["", "  Time entries as worklogs (PUT /api/v1/time-entries/{id}), as Jira shows them:"]
    lines += [f"    {line}" for line in result["worklogs"]]
    pages = result["pages"]
    lines += [
        "",
        "  Pages a host embeds (docs/ui.md; each link opens once, within five minutes):",
        f"    Settings:        {pages['settings']}",
        f"    Ticket panel:    {pages['panel']}   (anomaly an-42, as a member)",
    ]
    lines += [
        "",
        f"  Jira emulator:     {emulator}/sites/acme   (people: admin@acme.test / admin-token, ...)",
        f"  Emulator state:    {emulator}/_emulator/state",
        "",
        "  Next steps:",
        f"    curl -H 'Authorization: Bearer {result['key']}' {service}/api/v1/sites",
        f"    curl -H 'Authorization: Bearer {result['key']}' {service}/api/v1/events",
        f"    curl -u admin@acme.test:admin-token '{emulator}/sites/acme/rest/api/3/project'",
        "",
        "Press Ctrl+C to stop.",
    ]
    return "\n".join(lines)


async def _main(
    options: DemoOptions, data_dir: Path, emulator_socket: socket.socket, service_socket: socket.socket
) -> None:
    settings = _settings(options, data_dir)
    container: Container = build(settings)
    upgrade(container.engine)
    service = f"http://{options.host}:{options.port}"
    emulator = f"http://{options.host}:{options.emulator_port}"
    servers = [
        await _start(create_emulator(), emulator_socket),
        await _start(create_app(container), service_socket),
    ]
    worker = Worker(
        SqlQueue(container.sessions),
        handlers(container),
        container.clock,
        WorkerOptions(poll_s=0.2),
        prime_site=container.jira_pool.prime,
        prime_user=container.jira_pool.prime_user,
    )
    worker_task = asyncio.create_task(worker.run())
    try:
        assert settings.service_token is not None
        result = await _script(service, emulator, settings.service_token.get_secret_value())
        typer.echo(_report(service, emulator, result))
        if options.exit_after is None:
            # Links of their own: a printed link stays unopened for the reader to use.
            async with httpx.AsyncClient(base_url=service, timeout=30) as api:
                own = await _page_links(api, {"Authorization": f"Bearer {result['key']}"})
            if _open_in_browser(own):
                typer.echo("  (the pages are open in your browser too)")
        if options.exit_after is not None:
            await asyncio.sleep(options.exit_after)
        else:
            await asyncio.Event().wait()
    finally:
        worker.stop()
        await worker_task
        for server, task in servers:
            server.should_exit = True
            await task
        container.close()


def run_demo(options: DemoOptions) -> None:
    with contextlib.ExitStack() as stack:
        emulator_socket = stack.enter_context(_listen(options.host, options.emulator_port, "--emulator-port"))
        service_socket = stack.enter_context(_listen(options.host, options.port, "--port"))
        data_dir = options.data_dir or Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="jirabridge-demo-"))
        )
        data_dir.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_main(options, data_dir, emulator_socket, service_socket))
