"""The `jirabridge` command line."""

from __future__ import annotations

import typer

from jirabridge import __version__

app = typer.Typer(help="jirabridge: a Jira Cloud integration service.", no_args_is_help=True)


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


@app.command()
def demo(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8080, help="Port of the Jira emulator."),
    exit_after: float | None = typer.Option(None, help="Stop after this many seconds (for scripts)."),
) -> None:
    """Start the Jira emulator with its default seed and show how to reach it. No account, no network."""
    from jirabridge.entrypoints.demo import run_demo

    run_demo(host=host, port=port, exit_after=exit_after)
