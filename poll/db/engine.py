"""Engines with the settings this project relies on: SQLite's pragmas, PostgreSQL's idle ping."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import sqlalchemy as sa

from poll.errors import Invalid

# Execution option that makes SQLite's BEGIN an IMMEDIATE one (see dialects.SQLite.begin_write).
IMMEDIATE = "poll_sqlite_immediate"
# A pooled server connection unused for longer than this is tested before it is handed out.
PING_AFTER_IDLE_SECONDS = 10.0


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
    # hide_parameters: an error's text (and so any traceback or log line that
    # quotes it) shows the statement without its bound values, which are a
    # phone number, an answer or a link's id.
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 30}, hide_parameters=True)
        _configure_sqlite(engine)
        return engine
    engine = sa.create_engine(url, hide_parameters=True)
    _ping_when_idle(engine)
    _without_detail(engine)
    return engine


# PostgreSQL's DETAIL line quotes the refused row: "Key (audience_id, phone)=(3, +9647…) already exists."
_DETAIL = re.compile(r"\nDETAIL:[^\n]*")


def _without_detail(engine: sa.Engine) -> None:
    """Drop PostgreSQL's DETAIL line from the text of its errors, which hide_parameters does not reach.

    The text is what a traceback or log line shows; the detail stays readable
    in the driver's `diag` for code that needs it.
    """

    @sa.event.listens_for(engine, "handle_error")
    def _handle_error(context):
        for error in (context.sqlalchemy_exception, context.original_exception):
            if error is not None and error.args and isinstance(error.args[0], str):
                error.args = (_DETAIL.sub("", error.args[0]), *error.args[1:])


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
        if connection.get_execution_options().get(IMMEDIATE):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.exec_driver_sql("BEGIN")
