"""Statements run on the driver's cursor, for the few that every answer runs.

SQLAlchemy compiles a statement once and caches it, but every execution still
builds an execution context, a cursor result and its rows. On the
respondent's path, where each request is one or a few cheap statements, that
machinery cost more than the database's own work. A `Direct` statement is
compiled once per dialect; each call converts its parameters with their types'
own bind processors, runs the SQL on the session's connection (inside the
session's transaction, so it commits or rolls back with everything else), and
converts the selected columns with their types' result processors. What it
returns is what `session.execute` would give, as plain tuples.

Use it only where a profile shows the execution machinery to matter; every
other statement goes through the session as usual.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so

Processor = Callable[[Any], Any] | None


@dataclass(frozen=True)
class _Compiled:
    sql: str
    positions: tuple[str, ...] | None  # a positional driver's parameter names in order; None: by name
    binds: dict[str, Processor]
    defaults: dict[str, Any]  # the values bound in the statement itself (a LIMIT, a constant compared)
    results: tuple[Processor, ...]


@dataclass(frozen=True)
class Driver:
    """A session's connection as the driver sees it: its dialect and its DBAPI connection."""

    dialect: sa.Dialect
    connection: Any

    @classmethod
    def of(cls, session: so.Session) -> Driver:
        """The connection of `session`'s transaction (begun if it was not): take it once for several statements."""
        connection = session.connection()
        return cls(connection.dialect, connection.connection.driver_connection)


class Direct:
    """`statement` (text or Core), run on the driver's cursor of a session's connection."""

    def __init__(self, statement: sa.Executable) -> None:
        self.statement = statement
        self._compiled: dict[str, _Compiled] = {}

    def rows(self, driver: Driver, params: Mapping[str, Any]) -> list[tuple]:
        """Every row the statement returns, each a tuple of converted values."""
        compiled = self._compiled.get(driver.dialect.name) or self._compile(driver.dialect)
        values = {}
        for name, convert in compiled.binds.items():
            value = params[name] if name in params else compiled.defaults[name]
            values[name] = value if convert is None else convert(value)
        cursor = driver.connection.cursor()
        try:
            if compiled.positions is None:
                cursor.execute(compiled.sql, values)
            else:
                cursor.execute(compiled.sql, tuple(values[name] for name in compiled.positions))
            rows = cursor.fetchall() if cursor.description else []
        finally:
            cursor.close()
        if any(compiled.results):
            return [tuple(value if convert is None else convert(value)
                          for value, convert in zip(row, compiled.results, strict=True)) for row in rows]
        return [tuple(row) for row in rows]

    def first(self, driver: Driver, params: Mapping[str, Any]) -> tuple | None:
        """The first row, or None when there is none."""
        rows = self.rows(driver, params)
        return rows[0] if rows else None

    def _compile(self, dialect: sa.Dialect) -> _Compiled:
        compiled = self.statement.compile(dialect=dialect)
        binds = {name: bind.type.dialect_impl(dialect).bind_processor(dialect)
                 for name, bind in compiled.binds.items()}
        defaults = {name: bind.value for name, bind in compiled.binds.items() if bind.value is not None}
        columns = getattr(self.statement, "selected_columns", ())
        results = tuple(column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns)
        prepared = _Compiled(compiled.string, tuple(compiled.positiontup) if compiled.positional else None,
                             binds, defaults, results)
        self._compiled[dialect.name] = prepared
        return prepared
