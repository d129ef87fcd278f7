"""Refreshed OAuth tokens, written back at once to the row they came from (refresh tokens rotate)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jirabridge.service.core.db import run_db
from jirabridge.service.core.ports import SaveCredentials, Services
from jirabridge.service.core.unit_of_work import UnitOfWork
from jirabridge.storage.tables import Site, UserConnection


def credentials_saver(
    container: Services, load: Callable[[UnitOfWork], Site | UserConnection | None]
) -> SaveCredentials:
    """`SiteAccess.save_credentials` for the row `load` reads (a site, or a user connection): the new
    tokens are sealed into its credentials over the old ones."""

    async def save(new: dict[str, Any]) -> None:
        def write(uow: UnitOfWork) -> None:
            current = load(uow)
            if current is None or current.credentials is None:
                return  # disconnected meanwhile: forget the tokens
            stored = container.secrets.open(current.credentials)
            current.credentials = container.secrets.seal({**stored, **new})
            uow.commit()

        await run_db(container, write)

    return save
