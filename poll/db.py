"""The engine and the per-request (or per-command) session.

One session per unit of work: a request or a CLI command gets it from
`get_session()`, services flush, and the caller commits once. SQLite gets the
pragmas it needs for concurrent use (WAL, a busy timeout, foreign keys), and a
way to open a write transaction up front, since a transaction that reads and
then writes cannot wait for a busy lock in WAL mode.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Mapping, Sequence
from itertools import repeat
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so
from alembic import command
from alembic.config import Config
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from flask import Flask, current_app, g

from poll.errors import Invalid

_IMMEDIATE = "poll_sqlite_immediate"


def init_app(app: Flask) -> None:
    """Create the engine and session factory for `app` and close sessions after each context."""
    url = app.config["DATABASE_URL"] or default_sqlite_url(app.instance_path)
    app.config["DATABASE_URL"] = url
    engine = make_engine(url)
    app.extensions["poll.db"] = so.sessionmaker(bind=engine, expire_on_commit=False)
    app.teardown_appcontext(_close_session)


def default_sqlite_url(instance_path: str) -> str:
    """The embedded database: a SQLite file in the instance folder."""
    os.makedirs(instance_path, exist_ok=True)
    return f"sqlite:///{Path(instance_path, 'poll.db')}"


def make_engine(url: str) -> sa.Engine:
    """An engine with the settings this project relies on for `url`'s backend.

    Raises Invalid, naming what to fix, for a URL that is malformed or names a
    database driver that is not installed.
    """
    try:
        return _engine(url)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ModuleNotFoundError) as exc:
        shown = url.split("@")[-1] if "@" in url else url
        raise Invalid(f"POLL_DATABASE_URL (…{shown}) cannot be used: {exc}") from None


def _engine(url: str) -> sa.Engine:
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 30})
        _configure_sqlite(engine)
        return engine
    engine = sa.create_engine(url)
    _ping_when_idle(engine)
    return engine


# A pooled connection unused for longer than this is tested before it is handed out.
PING_AFTER_IDLE_SECONDS = 10.0


def _ping_when_idle(engine: sa.Engine) -> None:
    """Test a server connection before reuse when it has been idle, instead of on every checkout.

    A connection that sat in the pool may have been closed by a server
    restart, a failover or a firewall. SQLAlchemy's pool_pre_ping tests every
    checkout, which costs a round trip on every request; a busy worker's
    connections are seconds old at most, so they are used as they are. If one
    does fail, SQLAlchemy invalidates the whole pool at the first error, and
    only the request that met it fails.
    """

    @sa.event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection, record):
        record.info["idle_since"] = time.monotonic()

    @sa.event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection, record, _proxy):
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            # The pool drops this connection and checks out a fresh one.
            raise sa.exc.DisconnectionError(str(exc)) from exc


def _configure_sqlite(engine: sa.Engine) -> None:
    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # Let SQLAlchemy emit BEGIN itself, so a write transaction can be IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(connection):
        if connection.get_execution_options().get(_IMMEDIATE):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.exec_driver_sql("BEGIN")


def get_session() -> so.Session:
    """The session of the current request or command."""
    if "db_session" not in g:
        g.db_session = current_app.extensions["poll.db"]()
    return g.db_session


def new_session() -> so.Session:
    """A session of its own, for work that outlives the request (a streamed export); the caller closes it."""
    return current_app.extensions["poll.db"]()


def begin_write(session: so.Session) -> None:
    """Start `session`'s transaction as a writer, before its first read.

    On SQLite this takes the write lock at BEGIN, so that concurrent answers
    queue on the busy timeout instead of failing; elsewhere it does nothing.
    Call it before the session has run any statement.
    """
    if session.get_bind().dialect.name == "sqlite":
        session.connection(execution_options={_IMMEDIATE: True})


def begin_single_statements(session: so.Session, *, writes: bool = False) -> None:
    """Start a request whose statements are each complete on their own, before its first statement.

    On PostgreSQL each statement then commits by itself, which saves the
    BEGIN and COMMIT round trips around it; writes that belong together must
    be one statement, or come after `session.commit()`, which ends this mode
    for the session. SQLite, where a transaction costs no round trip, keeps
    its transaction, taken as a writer if `writes` (see `begin_write`).
    """
    if session.get_bind().dialect.name == "postgresql":
        session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
    elif writes:
        begin_write(session)


def _close_session(exc: BaseException | None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        if exc is not None:
            session.rollback()
        session.close()


def alembic_config(connection: sa.Connection | None = None) -> Config:
    """Alembic's configuration for the migrations shipped in this package."""
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    if connection is not None:
        config.set_main_option("sqlalchemy.url", connection.engine.url.render_as_string(hide_password=False))
        config.attributes["connection"] = connection
    return config


def upgrade(engine: sa.Engine) -> None:
    """Bring the schema of `engine`'s database up to the newest migration, in one transaction.

    On SQLite, migrations that change a table rebuild it (Alembic's batch
    mode): copy, drop the old table, rename the copy. With foreign keys
    enforced, dropping the old table would first delete or null every row
    that refers to it, so they are off while the migrations run, and the
    foreign keys are checked before the transaction commits.
    """
    with engine.connect() as connection:
        sqlite = engine.dialect.name == "sqlite"
        if sqlite:  # outside any transaction, where SQLite honours it
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
        try:
            with connection.begin():
                command.upgrade(alembic_config(connection), "head")
                if sqlite and connection.exec_driver_sql("PRAGMA foreign_key_check").first() is not None:
                    raise RuntimeError("a migration left rows that refer to nothing; nothing was changed")
        finally:
            if sqlite:
                connection.connection.driver_connection.execute("PRAGMA foreign_keys=ON")


def insert_or_skip(session: so.Session, model: type, unique: list[str]) -> sa.Insert:
    """An INSERT into `model`'s table that skips rows clashing on the `unique` columns."""
    return skipping_insert(session.get_bind().dialect.name, model, tuple(unique))


@functools.cache
def skipping_insert(dialect: str, model: type, unique: tuple[str, ...]) -> sa.Insert:
    """`insert_or_skip` for a dialect by name, built once per table."""
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    return insert(model.__table__).on_conflict_do_nothing(index_elements=list(unique))


# Rows per statement (PostgreSQL) or per executemany (SQLite) of the bulk helpers.
BULK_CHUNK = 50_000


def bulk_insert(
    session: so.Session, model: type, columns: Mapping[str, Sequence], *, same: Mapping[str, Any] | None = None,
    skip_conflicts_on: Sequence[str] = (),
) -> None:
    """Insert rows given column by column (equal lengths), with `same` values for every row.

    With `skip_conflicts_on`, rows that clash on those columns are skipped.
    This is the path of a million recipients or links, so it goes around the
    ORM and SQLAlchemy's per-row work: on SQLite the driver's executemany of
    bound tuples; on PostgreSQL, where each row of an executemany is a
    statement of its own, one INSERT ... SELECT unnest(arrays) per chunk.
    """
    table = model.__table__
    # Scalar Python-side defaults of columns not given, as the ORM would fill them.
    defaults = {
        column.name: column.default.arg for column in table.columns
        if column.default is not None and column.default.is_scalar and column.name not in columns
    }
    same = defaults | dict(same or {})
    connection = session.connection()
    statement = (
        skipping_insert(connection.dialect.name, model, tuple(skip_conflicts_on))
        if skip_conflicts_on else sa.insert(table)
    )
    if connection.dialect.name == "postgresql":
        constants = [sa.literal(value, table.c[name].type) for name, value in same.items()]
        for chunk in _chunks(columns):
            rows = sa.select(*(_array(table.c[name], values) for name, values in chunk.items()), *constants)
            session.execute(statement.from_select([*chunk, *same], rows))
        return
    bound_same = _bound(connection, table, {name: [value] for name, value in same.items()})
    constants = {name: repeat(values[0]) for name, values in bound_same.items()}
    compiled = statement.compile(dialect=connection.dialect, column_keys=[*columns, *same])
    for chunk in _chunks(columns):
        _executemany(connection, compiled, _bound(connection, table, chunk) | constants)


def bulk_update(session: so.Session, model: type, key: str, columns: Mapping[str, Sequence]) -> None:
    """Set, row by row, the given columns of the rows whose `key` column is columns[key] (equal lengths).

    On SQLite the driver's executemany; on PostgreSQL one UPDATE ... FROM
    unnest(arrays) per chunk, for the reason `bulk_insert` gives.
    """
    table = model.__table__
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        for chunk in _chunks(columns):
            given = sa.select(*(_array(table.c[name], values).label(name) for name, values in chunk.items()))
            given = given.subquery("given")
            session.execute(
                sa.update(table)
                .where(table.c[key] == given.c[key])
                .values({name: given.c[name] for name in chunk if name != key})
            )
        return
    compiled = (
        sa.update(table)
        .where(table.c[key] == sa.bindparam(f"given_{key}"))
        .values({name: sa.bindparam(f"given_{name}") for name in columns if name != key})
        .compile(dialect=connection.dialect)
    )
    for chunk in _chunks(columns):
        bound = _bound(connection, table, chunk)
        _executemany(connection, compiled, {f"given_{name}": values for name, values in bound.items()})


def _chunks(columns: Mapping[str, Sequence]):
    count = len(next(iter(columns.values())))
    for start in range(0, count, BULK_CHUNK):
        yield {name: values[start : start + BULK_CHUNK] for name, values in columns.items()}


def _array(column: sa.Column, values: Sequence) -> sa.ColumnElement:
    # One PostgreSQL array parameter, unnested into a column of rows.
    return sa.func.unnest(sa.literal(list(values), postgresql.ARRAY(column.type)))


def _bound(connection: sa.Connection, table: sa.Table, columns: Mapping[str, Sequence]) -> dict[str, list]:
    # Each column's values as the driver receives them.
    bound = {}
    for name, values in columns.items():
        processor = table.c[name].type.dialect_impl(connection.dialect).bind_processor(connection.dialect)
        bound[name] = [processor(value) for value in values] if processor else list(values)
    return bound


def _executemany(connection: sa.Connection, compiled: sa.engine.Compiled, bound: Mapping[str, Any]) -> None:
    # The driver's executemany, each row's values in the order of the statement's parameters.
    connection.exec_driver_sql(str(compiled), list(zip(*(bound[name] for name in compiled.positiontup))))


def upsert_add(session: so.Session, model: type, rows: list[dict], keys: list[str], column: str) -> None:
    """Add each row's `column` to the row with the same `keys`, creating it if missing (one statement)."""
    if rows:
        session.execute(_upsert_add(session.get_bind().dialect.name, model, tuple(keys), column), rows)


@functools.cache
def _upsert_add(dialect: str, model: type, keys: tuple[str, ...], column: str) -> sa.Insert:
    # Built once per table: this runs in every answer's transaction.
    table = model.__table__
    insert = postgresql_insert(table) if dialect == "postgresql" else sqlite_insert(table)
    return insert.on_conflict_do_update(
        index_elements=list(keys), set_={column: table.c[column] + insert.excluded[column]}
    )
