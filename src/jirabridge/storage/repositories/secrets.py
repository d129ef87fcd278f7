"""Where secrets are sealed in the database, and the key checks (see service/core/secrets.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from jirabridge.storage.tables import SecretKeyCheck, Site, UserConnection, Workspace


class SealedSecrets:
    __slots__ = ("_session",)

    def __init__(self, session: Session) -> None:
        self._session = session

    def key_checks(self) -> list[str]:
        return list(self._session.scalars(select(SecretKeyCheck.token)))

    def add_key_check(self, token: str, now: datetime) -> None:
        self._session.add(SecretKeyCheck(token=token, created_at=now))

    def replace_key_checks(self, token: str, now: datetime) -> None:
        """The one key check from now on (after a rotation)."""
        self._session.execute(delete(SecretKeyCheck))
        self.add_key_check(token, now)

    def site_credentials(self) -> Iterator[str]:
        """The sealed credentials of every site and user connection (only that column is read)."""
        for column in (Site.credentials, UserConnection.credentials):
            for sealed in self._session.scalars(select(column).where(column.is_not(None))):
                if sealed is not None:
                    yield sealed

    def workspace_settings(self) -> Iterator[dict[str, Any]]:
        """Every workspace's settings document (only that column is read)."""
        yield from self._session.scalars(select(Workspace.settings))

    def connections_with_credentials(self) -> list[UserConnection]:
        return list(
            self._session.scalars(select(UserConnection).where(UserConnection.credentials.is_not(None)))
        )
