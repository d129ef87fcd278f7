"""What every repository shares: the unit of work's session, and adding or removing a row.

A repository returns ORM rows; the service may change their attributes, and the session writes the
change when the unit of work commits (cosmicpython's Repository pattern over SQLAlchemy's identity
map). What a repository never hands out is a SQLAlchemy construct: the service says what it wants
(`links.for_item(...)`), the repository says how.

The reads on the hot paths (a request's or an operation's few reads that change nothing) select the
columns they need with a Core statement on the table, built once, and answer plain values: a quarter
of an ORM load's CPU (storage/core_reads.py). The session writes its pending changes before such a
statement as before an ORM query, so they read what the transaction has changed. A row a hot path
changes is read whole as an object of no session (`loose`) and written whole (`replace`), or written
by a Core statement of the columns that change (storage/core_writes.py), at once.
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

    def add(self, row: Row) -> Row:
        self._session.add(row)
        return row

    def remove(self, row: Row) -> None:
        self._session.delete(row)
