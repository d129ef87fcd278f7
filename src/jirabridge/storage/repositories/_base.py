"""What every repository shares: the unit of work's session, and adding or removing a row.

A repository returns ORM rows; the service may change their attributes, and the session writes the
change when the unit of work commits (cosmicpython's Repository pattern over SQLAlchemy's identity
map). What a repository never hands out is a SQLAlchemy construct: the service says what it wants
(`links.for_item(...)`), the repository says how.

The reads on the hot paths (a request's or an operation's few reads that change nothing) select the
columns they need with a Core statement built once, and answer plain values: an ORM load costs about
four times the CPU of such a read (about 100 µs against 25 on this kind of machine), most of it the
ORM's statement and loading machinery. They write the session's pending changes first (`_autoflush`),
as an ORM query would, so they read what the transaction has changed.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from sqlalchemy.orm import Session

from jirabridge.storage.tables import Base

Row = TypeVar("Row", bound=Base)


class Repository(Generic[Row]):
    __slots__ = ("_session",)

    def __init__(self, session: Session) -> None:
        self._session = session

    def _autoflush(self) -> None:
        """What an ORM query does before it runs (unless inside `no_autoflush`): write the session's
        pending changes, so that a Core read sees them. Next to nothing when there are none."""
        if self._session.autoflush:
            self._session.flush()

    def add(self, row: Row) -> Row:
        self._session.add(row)
        return row

    def remove(self, row: Row) -> None:
        self._session.delete(row)
