"""`jirabridge demo`: for now, the Jira emulator with its default seed, ready to explore.

Later issues grow this into the full scripted session of SPEC section 5 (service, worker, four
profiles). It is the one place of jirabridge allowed to import the emulator (see import-linter).
"""

from __future__ import annotations

import asyncio
import contextlib

import typer
import uvicorn

from jira_emulator import create_app, default_seed


def _banner(base: str) -> str:
    seed = default_seed()
    lines = [
        "",
        "jirabridge demo — a Jira Cloud emulator is running (no account or network needed)",
        "",
        f"  Jira site 'acme':    {base}/sites/acme   (REST: {base}/sites/acme/rest/api/3/...)",
        f"  Jira site 'globex':  {base}/sites/globex",
        f"  Emulator state:      {base}/_emulator/state",
        f"  Emulator API docs:   {base}/_emulator/docs",
        "",
        "  People (email / API token), for HTTP Basic auth:",
    ]
    for user in seed.users:
        token = user.api_tokens[0].token if user.api_tokens else "-"
        lines.append(f"    {user.email:<18} {token:<12} {user.display_name}")
    lines += [
        "",
        "  Try:",
        f"    curl -u admin@acme.test:admin-token {base}/sites/acme/rest/api/3/myself",
        f"    curl -u admin@acme.test:admin-token '{base}/sites/acme/rest/api/3/search/jql?jql=project=WEB'",
        "",
        "Press Ctrl+C to stop.",
    ]
    return "\n".join(lines)


def run_demo(*, host: str, port: int, exit_after: float | None) -> None:
    app = create_app()
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)

    async def main() -> None:
        serving = asyncio.create_task(server.serve())
        while not server.started:
            if serving.done():
                serving.result()  # surfaces a bind error
                return
            await asyncio.sleep(0.05)
        typer.echo(_banner(f"http://{host}:{port}"))
        if exit_after is not None:
            await asyncio.sleep(exit_after)
            server.should_exit = True
        await serving

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
