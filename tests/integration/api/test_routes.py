"""Every operation of the API is reached as itself: no route is shadowed by another that a request is
matched against first (app.py orders the routers so the ones called for every change are tried first)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi import FastAPI

from jirabridge.bootstrap import Container
from jirabridge.entrypoints.http.app import create_app

_PARAMETER = re.compile(r"\{[^}]+\}")
_METHODS = ("get", "put", "post", "patch", "delete")


def _operations(app: FastAPI) -> list[tuple[str, str]]:
    return [
        (method.upper(), path)
        for path, item in app.openapi()["paths"].items()
        for method in _METHODS
        if method in item
    ]


async def _route_reached(app: FastAPI, method: str, path: str) -> Any:
    """The route the app dispatched the request to (FastAPI keeps it in the request's scope). The
    request carries no credentials, so the route answers without changing anything."""
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "server": ("jirabridge.test", 80),
        "client": ("127.0.0.1", 50000),
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"jirabridge.test"), (b"content-type", b"application/json")],
    }
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        pass

    await app(scope, receive, send)
    return scope.get("route")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_every_operation_reaches_its_own_route(container: Container) -> None:
    app = create_app(container)
    operations = _operations(app)
    assert len(operations) > 40  # the whole API, not an empty schema
    wrong = []
    for method, path in operations:
        concrete = _PARAMETER.sub("p1", path)
        route = await _route_reached(app, method, concrete)
        if getattr(route, "path", None) != path or method not in getattr(route, "methods", ()):
            wrong.append(f"{method} {concrete} -> {getattr(route, 'path', route)}")
    assert wrong == []
