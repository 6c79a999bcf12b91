"""The database, by role: engines (`engine`), the session of a unit of work (`sessions`), bulk writes
(`bulk`), migrations (`migrations`), and every SQLite/PostgreSQL difference in one place (`dialects`).

The names most code needs are here: `from poll.db import get_session, begin_write, bulk_insert`.
"""

from poll.db.bulk import bulk_insert, bulk_update, insert_or_skip, skipping_insert, upsert_add
from poll.db.engine import default_sqlite_url, make_engine
from poll.db.migrations import alembic_config, upgrade
from poll.db.sessions import (
    begin_single_statements,
    begin_write,
    get_connection,
    get_session,
    init_app,
    new_session,
    then_together,
)

__all__ = [
    "alembic_config", "begin_single_statements", "begin_write", "bulk_insert", "bulk_update", "default_sqlite_url",
    "get_connection", "get_session", "init_app", "insert_or_skip", "make_engine", "new_session", "skipping_insert",
    "then_together", "upgrade", "upsert_add",
]
