"""What many tests need: a fresh look at the database, row counts, and required components.

The test's own session may hold a read transaction from before a request
committed; `fresh(session)` ends it, so what follows sees every commit.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
import sqlalchemy.orm as so

POSTGRES_URL = os.environ.get("POLL_TEST_POSTGRES_URL")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def fresh(session: so.Session) -> so.Session:
    """`session`, having let go of what it read before: it sees what requests and commands committed since."""
    session.rollback()
    return session


def rows(session: so.Session, what, *where) -> int:
    """How many rows of a model (or of a select's FROM) there are now, optionally WHERE `where`."""
    query = sa.select(sa.func.count()).select_from(what) if not isinstance(what, sa.Select) else what
    return fresh(session).scalar(query.where(*where) if where else query)


def require(component: str, available: bool, install: str) -> None:
    """Skip a test whose component is missing, unless CI=true, where that is a failure."""
    if available:
        return
    message = f"{component} is not available: {install}"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def generous_budget(session: so.Session, slug: str, epsilon: float = 10_000.0) -> None:
    """Give poll `slug` a public privacy budget so large that its noise is negligible: for tests of how pages
    draw figures, not of the noise (tests/test_privacy.py is about that)."""
    from poll.models import Poll

    session.rollback()  # end the test's own read, so the write can take SQLite's lock
    session.execute(sa.update(Poll).where(Poll.slug == slug).values(epsilon_total=epsilon))
    session.commit()


@contextlib.contextmanager
def statements_run(engine: sa.Engine) -> Iterator[list[str]]:
    """Every SQL statement the driver runs for `engine` inside the block, however it was sent.

    Seen at the driver, not through SQLAlchemy's events: the answer path runs
    some statements on the driver's cursor directly (poll.db.direct).
    """
    seen: list[str] = []

    def traced(dbapi_connection, _record, _proxy):
        if engine.dialect.name == "sqlite":
            dbapi_connection.set_trace_callback(seen.append)
        else:
            dbapi_connection.cursor_factory = _recording_cursor(seen)

    sa.event.listen(engine, "checkout", traced)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "checkout", traced)
        engine.dispose()  # the traced connections go with the block


def _recording_cursor(seen: list[str]):
    import psycopg

    class Recording(psycopg.Cursor):
        def execute(self, query, params=None, **kwargs):
            seen.append(str(query))
            return super().execute(query, params, **kwargs)

    return Recording
