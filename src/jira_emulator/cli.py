"""`jira-emulator`: run the Jira Cloud emulator on its own, or print its default seed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from pydantic import ValidationError

from jira_emulator.app import create_app
from jira_emulator.faults import with_drop_support
from jira_emulator.routes.control import Baseline, configure_baseline
from jira_emulator.seed import Seed, default_seed

app = typer.Typer(help="An in-memory emulator of the Jira Cloud REST API.", no_args_is_help=True)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8080,
    seed: Annotated[
        Path | None, typer.Option(help="A seed document (JSON); default: the documented default seed.")
    ] = None,
    latency_ms: Annotated[int, typer.Option(min=0, help="Latency added to every REST call.")] = 0,
    rate_limit: Annotated[
        int | None, typer.Option(min=1, help="Requests per second allowed per site (429 beyond).")
    ] = None,
    index_lag_s: Annotated[
        float | None, typer.Option(min=0.0, help="Search index lag for sites whose seed sets none.")
    ] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn's log level.")] = "info",
) -> None:
    """Serve the emulator over HTTP. `POST /_emulator/reset` returns to this configuration."""
    document = default_seed()
    if seed is not None:
        try:
            document = Seed.model_validate_json(seed.read_bytes())
        except (OSError, ValidationError) as exc:
            typer.echo(f"Cannot use seed {seed}: {exc}", err=True)
            raise typer.Exit(2) from None
    emulator = create_app(document)
    configure_baseline(
        emulator, Baseline(latency_ms=latency_ms, rate_limit_per_s=rate_limit, index_lag_s=index_lag_s)
    )
    uvicorn.run(with_drop_support(emulator), host=host, port=port, log_level=log_level)


@app.command("default-seed")
def print_default_seed() -> None:
    """Print the default seed as JSON: a starting point for your own seed file."""
    typer.echo(json.dumps(default_seed().model_dump(mode="json", by_alias=True), indent=2))
