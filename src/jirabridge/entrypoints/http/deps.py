"""Request dependencies: the container, the unit of work, and who is calling."""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request

from jirabridge import logs
from jirabridge.bootstrap import Container
from jirabridge.domain.access import SERVICE, Principal, can_manage
from jirabridge.errors import Forbidden, Unauthorized
from jirabridge.service.core.db import read_db
from jirabridge.service.core.unit_of_work import UnitOfWork
from jirabridge.service.workspaces.workspaces import authenticate_key

# Dependencies that do no I/O are `async def`: FastAPI runs a plain `def` dependency on a thread of
# its pool, and each such hop (a queue, a lock, a wake-up of the event loop) cost more CPU than the
# check itself.


def _container(request: Request) -> Container:
    built: Container = request.app.state.container
    return built


async def container(request: Request) -> Container:
    return _container(request)


def uow(request: Request) -> Iterator[UnitOfWork]:
    with _container(request).uow() as unit:
        yield unit


async def principal(request: Request) -> Principal:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("send `Authorization: Bearer <API key>`")
    container = _container(request)
    service_token = container.settings.service_token
    if service_token is not None and hmac.compare_digest(
        token.encode(), service_token.get_secret_value().encode()
    ):
        return SERVICE
    # A key this process verified a moment ago needs no transaction (KeyCache in
    # service/workspaces/workspaces.py: `JIRABRIDGE_API_KEY_CACHE_S` bounds how long a revocation
    # elsewhere takes to reach us). Else its own short read: on SQLite it takes no write lock, and
    # the route may call Jira before its own unit of work ends.
    cache = container.key_cache
    found = cache.get(token, container.clock.now())
    if found is None:
        generation = cache.generation
        found = await read_db(container, lambda unit: authenticate_key(unit, token))
        if found is None:
            raise Unauthorized("unknown or revoked API key")
        cache.put(token, found, container.clock.now(), generation)
    _bind_log_fields(request, found)
    return found


def _bind_log_fields(request: Request, who: Principal) -> None:
    """What the request is about, on every log line it leads to (jirabridge/logs.py)."""
    params = request.path_params
    item = (
        f"{params['item_type']}/{params['item_id']}"
        if "item_type" in params and "item_id" in params
        else None
    )
    logs.bind(workspace=who.workspace_id, site=params.get("site_id"), item=item)


async def service_only(who: Annotated[Principal, Depends(principal)]) -> Principal:
    if not who.is_service:
        raise Forbidden("only the service token manages workspaces and API keys")
    return who


async def workspace_member(who: Annotated[Principal, Depends(principal)]) -> Principal:
    """Any API key of a workspace (the service token has no workspace)."""
    if who.is_service:
        raise Forbidden("the service token manages workspaces; use a workspace API key here")
    return who


async def manager(who: Annotated[Principal, Depends(workspace_member)]) -> Principal:
    if not can_manage(who):
        raise Forbidden(f"the {who.role} role cannot do this; an admin or manager key is needed")
    return who


Uow = Annotated[UnitOfWork, Depends(uow)]
Services = Annotated[Container, Depends(container)]
ServiceToken = Annotated[Principal, Depends(service_only)]
Member = Annotated[Principal, Depends(workspace_member)]
Manager = Annotated[Principal, Depends(manager)]
