"""What many tests need: a fresh look at the database, row counts, and required components.

The test's own session may hold a read transaction from before a request
committed; `fresh(session)` ends it, so what follows sees every commit.
"""

from __future__ import annotations

import os
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
