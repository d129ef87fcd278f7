"""What the Core writes on the hot paths share (storage/core_reads.py says why the reads exist).

A row the ORM adds or changes is written by the session's flush: its unit of work sorts, compares and
batches, about five times the CPU of the same row in a Core statement (130 µs against 26 for an
insert on this kind of machine). A Core write does not pass through the session's identity map, so a
copy of the row the session had loaded would keep its old attributes: `forget_loaded` expires it,
and the next read of that copy loads the row as written.
"""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import Executable, Table, bindparam, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key
from sqlalchemy.sql.dml import Insert


class ConstraintViolated(Exception):
    """A write broke a uniqueness or reference constraint: most often another transaction stored the
    same key first. The transaction is rolled back."""


def insert_new(session: Session, statement: Executable, values: dict[str, Any]) -> None:
    """Run an INSERT whose row must be new; ConstraintViolated when its key is taken (by a committed
    transaction; on PostgreSQL one still open is waited for first), as `UnitOfWork.commit` raises
    for a row the ORM writes at the commit."""
    try:
        session.execute(statement, values)
    except IntegrityError as exc:
        raise ConstraintViolated(str(exc.orig)) from exc


def insert_row(session: Session, row: Any) -> None:
    """Write a new row at once with a Core INSERT of the attributes set on it; the object stays out
    of the session (the caller reads it as built; a later query of the table finds the row). An
    attribute not set takes its column's default."""
    of: Table = row.__table__
    values = {name: value for name, value in vars(row).items() if name in of.c}
    session.execute(_inserts(of), values)


@functools.cache
def _inserts(of: Table) -> Insert:
    return of.insert()


def replace_row(session: Session, row: Any) -> None:
    """Write every column of an existing row from `row` (read with `core_reads.loose`), at once with a
    Core UPDATE; a copy the session had loaded reads the row again."""
    of: Table = row.__table__
    key = tuple(column.name for column in of.primary_key.columns)
    values = {("w_" if c.name in key else "v_") + c.name: getattr(row, c.name) for c in of.c}
    session.execute(_replaces(of), values)
    forget_loaded(session, type(row), tuple(getattr(row, name) for name in key))


@functools.cache
def _replaces(of: Table) -> Any:
    key = list(of.primary_key.columns)
    rest = {c.name: bindparam(f"v_{c.name}", type_=c.type) for c in of.c if c not in key}
    return update(of).where(*(c == bindparam(f"w_{c.name}") for c in key)).values(rest)


@functools.cache
def upsert(of: Table, dialect: str, keys: tuple[str, ...]) -> Insert:
    """An INSERT of a whole row of `of` (every column a bound parameter named after it) that updates
    the row already there with the same `keys` instead; built once per table and dialect."""
    build: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = build(of).values({column.name: bindparam(column.name, type_=column.type) for column in of.c})
    updated = {column.name: statement.excluded[column.name] for column in of.c if column.name not in keys}
    return statement.on_conflict_do_update(index_elements=[of.c[key] for key in keys], set_=updated)  # type: ignore[no-any-return]


def dialect_of(session: Session) -> str:
    return session.get_bind().dialect.name


def forget_loaded(session: Session, mapped: type[Any], key: tuple[Any, ...]) -> None:
    """The session's copy of the `mapped` row with primary key `key`, if it loaded one, reads the row
    again when next used: a Core statement has just changed it."""
    loaded = session.identity_map.get(identity_key(mapped, key))
    if loaded is not None:
        session.expire(loaded)
