"""The `jirabridge` command line."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from jirabridge import __version__
from jirabridge.domain.outcomes import DEFAULT_MAX_ATTEMPTS
from jirabridge.workers.runner import DEFAULT_CONCURRENCY

if TYPE_CHECKING:
    from jirabridge.bootstrap import Container
    from jirabridge.logs import LogFormat

app = typer.Typer(help="jirabridge: a Jira Cloud integration service.", no_args_is_help=True)


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def _configure_logging(level: str, default: LogFormat = "json") -> LogFormat:
    """JSON lines unless JIRABRIDGE_LOG_FORMAT=text (jirabridge/logs.py); answers the format chosen."""
    from jirabridge import logs

    fmt = logs.log_format(default)
    logs.configure(level, fmt)
    return fmt


def _keys(container: Container) -> str | None:
    key = container.settings.secret_key
    return key.get_secret_value() if key else None


def _refuse(container: Container, message: str) -> typer.Exit:
    """One line on stderr, no traceback, exit code 2: what the operator must do."""
    container.close()
    typer.echo(f"jirabridge: {message}", err=True)
    return typer.Exit(2)


def _check_secret_key(container: Container, *, strict: bool) -> None:
    """Refuse to run with a JIRABRIDGE_SECRET_KEY that cannot read the stored secrets: running would
    fail on every old secret and encrypt new ones that the right key cannot read. Unless `strict`, a
    database that cannot be read yet (down, or not migrated) is left to /readyz to report."""
    from jirabridge.secrets_box import SecretKeyError
    from jirabridge.service.core.secrets import ensure_key_check
    from jirabridge.storage.migrate import DatabaseError

    try:
        with container.uow() as uow:
            ensure_key_check(uow, _keys(container), container.clock.now())
    except SecretKeyError as exc:
        raise _refuse(container, str(exc)) from None
    except DatabaseError as exc:
        if strict:
            raise
        typer.echo(f"jirabridge: the secret key was not checked: {type(exc).__name__}", err=True)


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema (JIRABRIDGE_DATABASE_URL) to the newest version, and
    record a check of JIRABRIDGE_SECRET_KEY (refuses a key that cannot read the stored secrets)."""
    from jirabridge.bootstrap import build
    from jirabridge.storage.migrate import has_table, upgrade

    container = build()
    try:
        if has_table(container.engine, "secret_key_checks"):
            _check_secret_key(container, strict=True)  # before changing anything
        upgrade(container.engine)
        _check_secret_key(container, strict=True)
    finally:
        container.close()
    typer.echo("database schema is up to date")


@app.command()
def worker(
    ctx: typer.Context,
    once: bool = typer.Option(False, "--once", help="Run what is due now, then exit (tests, cron)."),
    # A Jira call takes ~250 ms, so a site that allows 50 calls/s needs 13 or more in flight to use them.
    concurrency: int = typer.Option(DEFAULT_CONCURRENCY, min=1, help="Operations run at the same time."),
    metrics_port: int | None = typer.Option(None, help="Serve Prometheus metrics on this port."),
    lease_s: float = typer.Option(
        12.0, min=0.2, help="Seconds before a silent worker's operations are run by another."
    ),
    heartbeat_s: float = typer.Option(
        3.0, min=0.05, help="Seconds between heartbeats that renew this worker's site leases."
    ),
    dead_after_s: float = typer.Option(
        10.0, min=0.2, help="Seconds without a heartbeat before a worker's sites go to the others."
    ),
    poll_s: float = typer.Option(1.0, min=0.01, help="Seconds between looks for due work when idle."),
    record_wait_ms: float = typer.Option(
        100.0,
        min=0.0,
        help="While busy, how long a finished operation waits for others to be recorded with it.",
    ),
    max_attempts: int = typer.Option(
        DEFAULT_MAX_ATTEMPTS, min=1, help="Attempts before an operation fails for good."
    ),
    log_level: str = typer.Option("info", help="debug, info, warning or error."),
) -> None:
    """Run the outbox: send the Jira work the service committed. SIGTERM stops it gracefully."""
    # The handlers run: the built-in kinds, unless a program embedding this CLI passes a registry of
    # its own as the context object, `app(obj=registry)` (the e2e tests add a kind of theirs so).
    from jirabridge.workers.registry import Registry

    registry = ctx.obj if isinstance(ctx.obj, Registry) else None
    if dead_after_s < 3 * heartbeat_s:
        # A worker that misses one heartbeat (a slow transaction, a pause) must not lose its sites.
        typer.echo(
            f"jirabridge: --dead-after-s ({dead_after_s:g}) must be at least 3 times --heartbeat-s "
            f"({heartbeat_s:g}), so that one late heartbeat does not move a worker's sites",
            err=True,
        )
        raise typer.Exit(2)
    from jirabridge.bootstrap import build
    from jirabridge.storage.leases import LeaseTimes
    from jirabridge.storage.worker_lock import AnotherWorkerRunning, single_sqlite_worker
    from jirabridge.workers.runner import WorkerOptions, run_worker, site_cap

    _configure_logging(log_level)
    container = build(service_name="jirabridge-worker")
    options = WorkerOptions(
        concurrency=concurrency,
        lease_s=lease_s,
        poll_s=poll_s,
        once=once,
        record_wait_s=record_wait_ms / 1000,
        site_cap=site_cap(container.settings.jira_rate_per_site),
    )
    with ExitStack() as held:
        # SQLite takes one worker process (storage/worker_lock.py), held until this one ends. In-process
        # workers (the demo, tests) do not come through here.
        try:
            held.enter_context(single_sqlite_worker(container.settings.database_url))
        except AnotherWorkerRunning as exc:
            raise _refuse(container, str(exc)) from None
        _check_secret_key(container, strict=False)
        try:
            times = LeaseTimes(heartbeat_s=heartbeat_s, dead_after_s=dead_after_s, lease_ttl_s=dead_after_s)
            run_worker(
                container,
                options,
                metrics_port=metrics_port,
                max_attempts=max_attempts,
                lease_times=times,
                registry=registry,
            )
        finally:
            container.close()


@app.command()
def status(
    as_json: bool = typer.Option(False, "--json", help="One JSON object instead of tables."),
    dead_after_s: float = typer.Option(
        10.0, min=0.2, help="A worker silent this long is shown dead (as `worker --dead-after-s`)."
    ),
) -> None:
    """The workers (host, pid, last heartbeat, sites owned, operations running) and, per site, the
    worker that owns it, its due operations and how long the oldest has waited."""
    import json
    from dataclasses import asdict

    from jirabridge.bootstrap import build
    from jirabridge.storage.leases import LeaseTimes, status

    container = build()
    try:
        now = container.clock.now()
        with container.sessions() as session:
            report = status(session, now, LeaseTimes(dead_after_s=dead_after_s))
    finally:
        container.close()
    if as_json:
        typer.echo(json.dumps(asdict(report), default=lambda moment: moment.isoformat(), indent=2))
        return
    typer.echo(f"workers: {len(report.workers)}")
    rows: list[tuple[str, ...]] = [("WORKER", "HOST", "PID", "HEARTBEAT", "STATE", "SITES", "RUNNING")]
    for w in report.workers:
        state = "stopping" if w.stopping else "alive" if w.alive else "dead"
        ago = f"{(now - w.heartbeat_at).total_seconds():.1f}s ago"
        rows.append((w.id, w.hostname, str(w.pid), ago, state, str(w.sites), str(w.running)))
    _table(rows)
    typer.echo(f"sites: {len(report.sites)}")
    sites_rows: list[tuple[str, ...]] = [("SITE", "URL", "STATUS", "OWNER", "DUE", "LAG")]
    for site in report.sites:
        lag = f"{site.oldest_due_s:.1f}s"
        sites_rows.append((site.id, site.url, site.status, site.owner or "-", str(site.due), lag))
    _table(sites_rows)


def _table(rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        typer.echo(
            "  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, help="Port to listen on."),
    log_level: str = typer.Option("info", help="debug, info, warning or error."),
) -> None:
    """Serve the HTTP API (run `jirabridge migrate` first)."""
    import uvicorn

    from jirabridge.bootstrap import build
    from jirabridge.entrypoints.http.access_log import uvicorn_log_config
    from jirabridge.entrypoints.http.app import create_app

    fmt = _configure_logging(log_level)
    container = build(service_name="jirabridge-serve")
    _check_secret_key(container, strict=False)
    try:
        uvicorn.run(
            create_app(container),
            host=host,
            port=port,
            log_level=log_level.lower(),
            log_config=uvicorn_log_config(fmt),
        )
    finally:
        container.close()


@app.command()
def demo(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, help="Port of the jirabridge API."),
    emulator_port: int = typer.Option(8080, help="Port of the Jira emulator."),
    data_dir: Path | None = typer.Option(
        None, help="Keep the demo's SQLite file here (default: a temp dir)."
    ),
    exit_after: float | None = typer.Option(None, help="Stop after this many seconds (for scripts)."),
) -> None:
    """Run the Jira emulator, the service on SQLite and a worker, connect a site and show the way.
    No account, no network."""
    from jirabridge.entrypoints.demo import DemoOptions, run_demo

    _configure_logging("warning", default="text")
    run_demo(DemoOptions(host, port, emulator_port, data_dir, exit_after))


@app.command("api-docs")
def api_docs() -> None:
    """Print the HTTP API reference (docs/api.md) generated from the service's OpenAPI description."""
    from jirabridge.entrypoints.api_docs import openapi_app, render

    typer.echo(render(openapi_app()), nl=False)


@app.command("generate-secret-key")
def generate_secret_key() -> None:
    """Print a new key for JIRABRIDGE_SECRET_KEY."""
    from jirabridge.secrets_box import SecretBox

    typer.echo(SecretBox.generate_key())


@app.command("rotate-secrets")
def rotate_secrets() -> None:
    """Re-encrypt every stored secret under the first key of JIRABRIDGE_SECRET_KEY; the other keys
    can be removed afterwards."""
    from jirabridge.bootstrap import build
    from jirabridge.secrets_box import SecretKeyError
    from jirabridge.service.core.secrets import rotate_secrets as rotate

    container = build()
    try:
        with container.uow() as uow:
            report = rotate(uow, container.secrets, container.clock.now())
    except SecretKeyError as exc:
        raise _refuse(container, f"nothing was re-encrypted: {exc}") from None
    finally:
        container.close()
    typer.echo(
        f"re-encrypted {report.total} stored secrets under the newest key: {report.sites} site "
        f"credentials (API tokens, OAuth tokens, webhook secrets), {report.user_connections} user "
        f"connections, {report.callback_secrets} callback secrets; the other keys can now be removed"
    )


workspace_app = typer.Typer(help="Workspaces and API keys (the service token's powers, from the shell).")
app.add_typer(workspace_app, name="workspace")


@workspace_app.command("create")
def workspace_create(name: str) -> None:
    """Create a workspace; prints its id."""
    from jirabridge.bootstrap import build
    from jirabridge.service.workspaces.workspaces import create_workspace

    container = build()
    try:
        with container.uow() as uow:
            typer.echo(create_workspace(uow, container.clock, name).id)
    finally:
        container.close()


@workspace_app.command("create-key")
def workspace_create_key(
    workspace: str,
    role: str = typer.Option("admin", help="admin, manager or member."),
    name: str = typer.Option("cli", help="A label for the key."),
    user: str | None = typer.Option(None, help="Bind the key to one host user."),
) -> None:
    """Issue an API key; prints it once."""
    from jirabridge.bootstrap import build
    from jirabridge.domain.access import Role
    from jirabridge.service.workspaces.workspaces import issue_api_key

    if role not in {r.value for r in Role}:
        raise typer.BadParameter("must be admin, manager or member", param_hint="--role")
    container = build()
    try:
        with container.uow() as uow:
            issued = issue_api_key(uow, container.clock, workspace, role=Role(role), name=name, user_id=user)
        typer.echo(issued.key)
    finally:
        container.close()


@app.command("ui-link")
def ui_link(
    workspace: str = typer.Option(..., help="The workspace id (ws_…)."),
    user: str = typer.Option(..., help="The host user the pages act for."),
    role: str = typer.Option("admin", help="admin, manager or member."),
    item: str | None = typer.Option(None, help="TYPE/ID: an item's ticket panel instead of the settings."),
    account: bool = typer.Option(False, "--account", help="The user's own Jira account page (any role)."),
) -> None:
    """Print a one-time link to the pages (valid five minutes), as POST /api/v1/ui-sessions does."""
    from jirabridge.bootstrap import build
    from jirabridge.domain.access import SERVICE, Role
    from jirabridge.domain.ui_sessions import ACCOUNT, SETTINGS, Scope
    from jirabridge.errors import JirabridgeError
    from jirabridge.service.workspaces import ui_sessions

    if role not in {r.value for r in Role}:
        raise typer.BadParameter("must be admin, manager or member", param_hint="--role")
    scope = ACCOUNT if account else SETTINGS
    if item is not None and account:
        raise typer.BadParameter("give --item or --account, not both", param_hint="--account")
    if item is not None:
        item_type, _, item_id = item.partition("/")
        if not item_type or not item_id:
            raise typer.BadParameter("must be TYPE/ID, like anomaly/an-42", param_hint="--item")
        scope = Scope(item_type, item_id)
    container = build()
    try:
        with container.uow() as uow:
            issued = ui_sessions.issue(
                uow,
                container.clock.now(),
                SERVICE,
                workspace,
                user_id=user,
                role=Role(role),
                scope=scope,
                return_url=None,
            )
    except JirabridgeError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(1) from None
    finally:
        container.close()
    typer.echo(ui_sessions.link_url(container.settings.public_url, issued.link_token))


if __name__ == "__main__":
    app()
