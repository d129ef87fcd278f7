"""Sessions of the embeddable pages, found by the hash of their link or session token."""

from __future__ import annotations

from sqlalchemy import select

from jirabridge.storage.repositories._base import Repository
from jirabridge.storage.tables import UiSession


class UiSessions(Repository[UiSession]):
    def by_link_for_update(self, link_hash: str) -> UiSession | None:
        """The session of a one-time link, locked until the transaction ends (a link opens once, even
        when two requests open it at the same time)."""
        query = select(UiSession).where(UiSession.link_hash == link_hash).with_for_update()
        return self._session.scalars(query).one_or_none()

    def by_session(self, session_hash: str) -> UiSession | None:
        return self._session.scalars(
            select(UiSession).where(UiSession.session_hash == session_hash)
        ).one_or_none()
