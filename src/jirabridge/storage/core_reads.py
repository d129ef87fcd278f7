"""What the Core reads on the hot paths share (storage/repositories/_base.py says why they exist).

A read of a few columns through a Core statement on a table costs about a quarter of the CPU of an ORM
load of the row (about 25 µs against 100 on this kind of machine): the ORM's statement and loading
machinery is most of an ORM read. A statement on the mapped class's attributes (`select(Link.id)`)
still takes the ORM's path (about 50 µs); one on the table's columns does not. The session writes its
pending changes before a Core statement too (SQLAlchemy 2.1 autoflushes for every statement, unless
inside `no_autoflush`), so such a read sees what its transaction changed.
"""

from __future__ import annotations

import functools
from typing import Any, TypeVar, cast

from sqlalchemy import ColumnElement, Select, Table, bindparam, select
from sqlalchemy.orm import DeclarativeBase, Session

Mapped = TypeVar("Mapped", bound=DeclarativeBase)


def table(mapped: type[DeclarativeBase]) -> Table:
    """The table of a mapped class, for statements that do not go through the ORM."""
    return cast(Table, mapped.__table__)


def matching(of: Table, *columns: str, prefix: str = "") -> tuple[ColumnElement[bool], ...]:
    """`column = :column` for each of `columns`: the conditions of a statement built once and run
    with the columns' values as its parameters. An UPDATE names them with a `prefix` (SQLAlchemy
    keeps a column's own name for the value it sets)."""
    return tuple(of.c[name] == bindparam(prefix + name) for name in columns)


def loose(session: Session, mapped: type[Mapped], **key: Any) -> Mapped | None:
    """The row of `mapped` with primary key `key`, read as columns into an object of no session: to
    read, or to change and write whole (`core_writes.replace_row`). About a fifth of an ORM load."""
    found = session.execute(_whole(table(mapped), tuple(key)), key).first()
    return mapped(**found._mapping) if found is not None else None


@functools.cache
def _whole(of: Table, key: tuple[str, ...]) -> Select[Any]:
    return select(of).where(*matching(of, *key))
