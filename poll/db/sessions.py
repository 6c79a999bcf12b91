"""The per-request (or per-command) session, and how a unit of work begins.

One session per unit of work: a request or a CLI command gets it from
`get_session()`, services flush, and the caller commits once. Work that must
outlive the request (a streamed export) or that commits step by step (the
dispatcher, a live simulation) opens its own with `new_session()` and
closes it. The respondent's pages take no session unless they must: their
one or two statements run on a pooled connection of their own
(`get_connection`).
"""

from __future__ import annotations

import sqlalchemy.orm as so
from flask import Flask, current_app, g

from poll.db import dialects
from poll.db.direct import Driver
from poll.db.engine import default_sqlite_url, make_engine


def init_app(app: Flask) -> None:
    """Create the engine and session factory for `app` and close sessions after each context."""
    url = app.config["DATABASE_URL"] or default_sqlite_url(app.instance_path)
    app.config["DATABASE_URL"] = url
    engine = make_engine(url)
    app.extensions["poll.db"] = so.sessionmaker(bind=engine, expire_on_commit=False)
    app.teardown_appcontext(_close_session)


def get_session() -> so.Session:
    """The session of the current request or command."""
    if "db_session" not in g:
        g.db_session = current_app.extensions["poll.db"]()
    return g.db_session


def get_connection() -> Driver:
    """The current request's own pooled connection, each statement committing by itself (see `Driver.checkout`).

    Given back to the pool when the request ends, like the session.
    """
    if "db_driver" not in g:
        g.db_driver = Driver.checkout(current_app.extensions["poll.db"].kw["bind"])
    return g.db_driver


def new_session() -> so.Session:
    """A session of its own, for work that outlives the request or commits as it goes; the caller closes it."""
    return current_app.extensions["poll.db"]()


def begin_write(session: so.Session) -> None:
    """Start `session`'s transaction as a writer, before its first read (see `dialects`)."""
    dialects.of(session).begin_write(session)


def begin_single_statements(session: so.Session, *, writes: bool = False) -> None:
    """Start a request whose statements are each complete on their own, before its first statement (see `dialects`)."""
    dialects.of(session).begin_single_statements(session, writes=writes)


def then_together(session: so.Session) -> None:
    """After `begin_single_statements`, write what follows (a refusal and its counter) as one transaction."""
    dialects.of(session).then_together(session)


def _close_session(exc: BaseException | None) -> None:
    driver = g.pop("db_driver", None)
    try:
        if driver is not None:
            driver.release()
    finally:
        session = g.pop("db_session", None)
        if session is not None:
            if exc is not None:
                session.rollback()
            session.close()
