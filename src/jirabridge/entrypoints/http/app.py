"""The HTTP API (SPEC section 2): thin routes that validate, call the service, and render."""

from __future__ import annotations

from fastapi import FastAPI

from jirabridge import __version__
from jirabridge.bootstrap import Container
from jirabridge.entrypoints.http import problems, workspaces


def create_app(container: Container) -> FastAPI:
    app = FastAPI(title="jirabridge", version=__version__)
    app.state.container = container
    problems.install(app)
    app.include_router(workspaces.router)
    return app
