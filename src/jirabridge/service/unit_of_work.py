"""A unit of work: one database transaction that commits only when asked, and rolls back otherwise.

Handlers write state, outbox operations and events through `uow.session` and call `uow.commit()`
once; an exception (or leaving without commit) rolls everything back, so invalid input writes nothing
and a change is never committed without the Jira work it implies.
"""

from __future__ import annotations

from types import TracebackType

from sqlalchemy.orm import Session, sessionmaker

from jirabridge.storage.db import READ_ONLY


class UnitOfWork:
    def __init__(self, sessions: sessionmaker[Session], *, read_only: bool = False) -> None:
        self._sessions = sessions
        self._session: Session | None = None
        self.read_only = read_only  # a transaction that never writes (on SQLite: no write lock)

    @property
    def session(self) -> Session:
        if self._session is None:
            raise RuntimeError("UnitOfWork used outside `with`")
        return self._session

    def __enter__(self) -> UnitOfWork:
        self._session = self._sessions()
        if self.read_only:
            self._session.connection(execution_options={READ_ONLY: True})
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._session is not None
        # close() rolls back whatever was not committed, and (unlike rollback()) leaves the loaded
        # objects readable, detached, for the caller to render.
        self._session.close()
        self._session = None

    def commit(self) -> None:
        if self.read_only:
            raise RuntimeError("a read-only unit of work cannot commit")
        self.session.commit()
