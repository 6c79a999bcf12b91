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

The respondent's pages go one step further and take no session at all
(`Driver.checkout`): a connection from the engine's pool, each statement
committing by itself, as the bare stack does. An ORM session's begin, commit
and close cost several times the page view's one SELECT; what needs two
statements to belong together (the answer's writes on SQLite) says so with
`Driver.transaction`.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so
from psycopg.pq import ExecStatus

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
    """A connection as the driver sees it: its dialect, its DBAPI connection, and the engine it came from.

    Either a session's (`of`: inside the session's transaction, which commits
    or rolls back with everything else) or one of its own (`checkout`: each
    statement commits by itself, until `transaction` groups some).
    """

    dialect: sa.Dialect
    connection: Any
    engine: sa.Engine
    autocommit: bool = False  # each statement commits by itself (a checked-out connection)
    pooled: Any = None  # the pool's proxy of a checked-out connection, given back by `release`

    @classmethod
    def of(cls, session: so.Session) -> Driver:
        """The connection of `session`'s transaction (begun if it was not): take it once for several statements."""
        connection = session.connection()
        return cls(connection.dialect, connection.connection.driver_connection, connection.engine)

    @classmethod
    def checkout(cls, engine: sa.Engine) -> Driver:
        """A connection of `engine`'s pool on which each statement commits by itself; `release` gives it back.

        The pool's checkout events run as for any connection (a connection idle
        for long is tested first, see engine.py).
        """
        pooled = engine.raw_connection()
        connection = pooled.driver_connection
        if engine.dialect.name == "postgresql":
            connection.autocommit = True  # sqlite3's connections are in autocommit already (engine.py)
        return cls(engine.dialect, connection, engine, autocommit=True, pooled=pooled)

    def release(self) -> None:
        """Give a checked-out connection back to the pool as the pool lent it (a lost one is dropped)."""
        try:
            if self.dialect.name == "postgresql":
                if self.connection.broken or self.connection.closed:
                    self.pooled.invalidate()
                    return
                self.connection.autocommit = False
        except Exception:
            self.pooled.invalidate()
            raise
        finally:
            self.pooled.close()

    @contextlib.contextmanager
    def transaction(self, begin: str = "BEGIN") -> Iterator[None]:
        """Make the statements in the block one transaction, begun with `begin` ("BEGIN IMMEDIATE" on SQLite).

        On a session's connection the session's transaction is already that, and
        this does nothing; on a checked-out one it commits at the end of the
        block, or rolls back if the block raised.
        """
        if not self.autocommit:
            yield
            return
        cursor = self.connection.cursor()
        try:
            cursor.execute(begin)
        finally:
            cursor.close()
        try:
            yield
        except BaseException:
            self.connection.rollback()
            raise
        self.connection.commit()


class Direct:
    """`statement` (text or Core), run on the driver's cursor of a session's connection."""

    def __init__(self, statement: sa.Executable) -> None:
        self.statement = statement
        self._compiled: dict[str, _Compiled] = {}

    def rows(self, driver: Driver, params: Mapping[str, Any], *, converted: bool = False) -> list[tuple]:
        """Every row the statement returns, each a tuple of converted values.

        `converted`: `params` were converted already (`Binds.convert`), as when
        several statements of one transaction take the same values.
        """
        compiled = self._compiled.get(driver.dialect.name) or self._compile(driver.dialect)
        cursor = driver.connection.cursor()
        try:
            cursor.execute(compiled.sql, self._ordered(compiled, params) if converted else self._bound(compiled, params))
            rows = cursor.fetchall() if _returned_rows(cursor) else []
        finally:
            cursor.close()
        if any(compiled.results):
            return [tuple(value if convert is None else convert(value)
                          for value, convert in zip(row, compiled.results, strict=True)) for row in rows]
        return [tuple(row) for row in rows]

    def each(self, driver: Driver, params: Mapping[str, Any], size: int = 10_000) -> Iterator[tuple]:
        """Every row, streamed from the cursor `size` at a time: for a million rows that must not all be held."""
        compiled = self._compiled.get(driver.dialect.name) or self._compile(driver.dialect)
        cursor = driver.connection.cursor()
        try:
            cursor.execute(compiled.sql, self._bound(compiled, params))
            convert = any(compiled.results)
            while rows := cursor.fetchmany(size):
                if convert:
                    rows = [tuple(value if process is None else process(value)
                                  for value, process in zip(row, compiled.results, strict=True)) for row in rows]
                yield from rows
        finally:
            cursor.close()

    def first(self, driver: Driver, params: Mapping[str, Any]) -> tuple | None:
        """The first row, or None when there is none."""
        rows = self.rows(driver, params)
        return rows[0] if rows else None

    @staticmethod
    def _ordered(compiled: _Compiled, converted: Mapping[str, Any]) -> Mapping[str, Any] | tuple:
        # Values converted already, in the order a positional driver takes them.
        if compiled.positions is None:
            return converted
        return tuple(converted[name] if name in converted else compiled.defaults[name] for name in compiled.positions)

    @staticmethod
    def _bound(compiled: _Compiled, params: Mapping[str, Any]) -> dict[str, Any] | tuple:
        # The parameters as the driver takes them: converted by their types, by name or in order.
        values = {}
        for name, convert in compiled.binds.items():
            value = params[name] if name in params else compiled.defaults[name]
            values[name] = value if convert is None else convert(value)
        return values if compiled.positions is None else tuple(values[name] for name in compiled.positions)

    def _compile(self, dialect: sa.Dialect) -> _Compiled:
        compiled = self.statement.compile(dialect=dialect)
        binds = {name: bind.type.dialect_impl(dialect).bind_processor(dialect)
                 for name, bind in compiled.binds.items()}
        defaults = {name: bind.value for name, bind in compiled.binds.items() if bind.value is not None}
        columns = getattr(self.statement, "selected_columns", ())
        results = tuple(_result_processor(column.type, dialect) for column in columns)
        prepared = _Compiled(compiled.string, tuple(compiled.positiontup) if compiled.positional else None,
                             binds, defaults, results)
        self._compiled[dialect.name] = prepared
        return prepared


class Binds:
    """Parameters' types by name, to convert values once for several `Direct` statements of one transaction
    (`rows(..., converted=True)`)."""

    def __init__(self, types: Mapping[str, sa.types.TypeEngine]) -> None:
        self.types = types
        self._processors: dict[str, dict[str, Callable[[Any], Any]]] = {}

    def convert(self, dialect: sa.Dialect, params: Mapping[str, Any]) -> dict[str, Any]:
        """`params` as the driver takes them."""
        processors = self._processors.get(dialect.name)
        if processors is None:
            processors = self._processors[dialect.name] = {
                name: process for name, type_ in self.types.items()
                if (process := type_.dialect_impl(dialect).bind_processor(dialect)) is not None
            }
        converted = dict(params)
        for name, process in processors.items():
            if name in converted:
                converted[name] = process(converted[name])
        return converted


def _result_processor(type_: sa.types.TypeEngine, dialect: sa.Dialect) -> Processor:
    # A date or time read back as text (SQLite) is parsed once per distinct value and process: the same
    # poll's times and the same few days come back on every request.
    process = type_.dialect_impl(dialect).result_processor(dialect, None)
    stored = type_.impl_instance if isinstance(type_, sa.TypeDecorator) else type_
    if process is not None and isinstance(stored, sa.Date | sa.DateTime | sa.Time):
        return functools.lru_cache(maxsize=1024)(process)
    return process



def _returned_rows(cursor: Any) -> bool:
    # Whether the statement returned rows. psycopg builds a column object per column for `description`
    # (fourteen for the link's look-up, on every request); its result's status says the same for nothing.
    result = getattr(cursor, "pgresult", None)
    if result is not None:
        return result.status == ExecStatus.TUPLES_OK
    return cursor.description is not None

