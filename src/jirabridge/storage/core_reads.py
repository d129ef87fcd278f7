"""What the Core reads on the hot paths share (storage/repositories/_base.py says why they exist).

A read of a few columns through a Core statement on a table costs about a quarter of the CPU of an ORM
load of the row (about 25 µs against 100 on this kind of machine): the ORM's statement and loading
machinery is most of an ORM read. A statement on the mapped class's attributes (`select(Link.id)`)
still takes the ORM's path (about 50 µs); one on the table's columns does not.
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table
from sqlalchemy.orm import DeclarativeBase, Session


def table(mapped: type[DeclarativeBase]) -> Table:
    """The table of a mapped class, for statements that do not go through the ORM."""
    return cast(Table, mapped.__table__)


def autoflush(session: Session) -> None:
    """What an ORM query does before it runs (unless inside `no_autoflush`): write the session's
    pending changes, so that a Core read sees what the transaction changed. Next to nothing when
    there are none."""
    if session.autoflush:
        session.flush()
