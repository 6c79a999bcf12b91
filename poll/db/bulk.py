"""Writes of many rows at once: the path of a million recipients, links or simulated answers.

They go around the ORM and SQLAlchemy's per-row work; each backend writes
them its fastest way (`dialects`).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from poll.db import dialects


def insert_or_skip(session: so.Session, model: type, unique: list[str]) -> sa.Insert:
    """An INSERT into `model`'s table that skips rows clashing on the `unique` columns."""
    return skipping_insert(dialects.of(session).name, model, tuple(unique))


@functools.cache
def skipping_insert(dialect: str, model: type, unique: tuple[str, ...]) -> sa.Insert:
    """`insert_or_skip` for a backend by name, built once per table."""
    return dialects.named(dialect).insert(model.__table__).on_conflict_do_nothing(index_elements=list(unique))


def bulk_insert(
    session: so.Session, model: type, columns: Mapping[str, Sequence], *, same: Mapping[str, Any] | None = None,
    skip_conflicts_on: Sequence[str] = (),
) -> None:
    """Insert rows given column by column (equal lengths), with `same` values for every row.

    With `skip_conflicts_on`, rows that clash on those columns are skipped.
    Columns not given take their scalar Python-side defaults, as the ORM would.
    """
    table = model.__table__
    defaults = {
        column.name: column.default.arg for column in table.columns
        if column.default is not None and column.default.is_scalar and column.name not in columns
    }
    dialect = dialects.of(session)
    statement = skipping_insert(dialect.name, model, tuple(skip_conflicts_on)) if skip_conflicts_on else sa.insert(table)
    dialect.bulk_insert(session, statement, table, columns, defaults | dict(same or {}))


def bulk_update(session: so.Session, model: type, key: str, columns: Mapping[str, Sequence]) -> None:
    """Set, row by row, the given columns of the rows whose `key` column is columns[key] (equal lengths)."""
    dialects.of(session).bulk_update(session, model.__table__, key, columns)


def upsert_add(session: so.Session, model: type, rows: list[dict], keys: list[str], column: str) -> None:
    """Add each row's `column` to the row with the same `keys`, creating it if missing (one statement).

    A sharded tally (models.TALLY_SHARDS) is added to in the row's `shard`, 0 unless the row names one.
    """
    if rows:
        if "shard" in model.__table__.c:
            keys = [*keys, "shard"]
        session.execute(_upsert_add(dialects.of(session).name, model, tuple(keys), column), rows)


@functools.cache
def _upsert_add(dialect: str, model: type, keys: tuple[str, ...], column: str) -> sa.Insert:
    # Built once per table: this runs in every answer's transaction.
    table = model.__table__
    insert = dialects.named(dialect).insert(table)
    return insert.on_conflict_do_update(
        index_elements=list(keys), set_={column: table.c[column] + insert.excluded[column]}
    )
