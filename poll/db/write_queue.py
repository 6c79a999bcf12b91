"""SQLite's writers queue in the kernel, not in SQLite's busy handler.

SQLite lets one writer in at a time. A writer that finds the lock taken
polls for it, sleeping 1, 2, 5, 10, 15 ms and more between tries (SQLite's
default busy handler, which Python's `timeout` sets). The answer page's
write transactions hold the lock for a fraction of a millisecond, so under
gunicorn's workers a waiting writer slept many times longer than the writer
before it worked, and the workers spent the peak of a send asleep.

The respondent's writes (an answer, a first look) first take an exclusive
`flock` on a file beside the database, then BEGIN IMMEDIATE: the kernel
wakes the next writer the moment the one before lets go. Writers that do
not queue here (the dispatcher, a command) still meet SQLite's own lock,
and the busy timeout as before; no one waits for this lock while holding
SQLite's, so the two cannot deadlock.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator

import sqlalchemy as sa

# Opened once per process and database: a lock file descriptor inherited across a fork would be one lock
# shared by parent and child, not one each.
_files: dict[tuple[int, str], int] = {}


@contextlib.contextmanager
def queued(engine: sa.Engine) -> Iterator[None]:
    """Hold the database's writer queue for the block: wait for the writers before, keep out those after.

    For a database with no file (in memory) the block runs at once.
    """
    descriptor = _descriptor(engine)
    if descriptor is None:
        yield
        return
    fcntl.flock(descriptor, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(descriptor, fcntl.LOCK_UN)


def _descriptor(engine: sa.Engine) -> int | None:
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    key = (os.getpid(), database)
    descriptor = _files.get(key)
    if descriptor is None:
        descriptor = _files[key] = os.open(f"{database}-writers", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    return descriptor
