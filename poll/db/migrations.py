"""The schema's migrations (Alembic, shipped in poll/migrations) and how they run.

Alembic is imported when a migration runs, not with the package: importing
it took about 0.4 s of CPU at the start of every `poll` command and server
worker, which almost never migrate.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from poll.db import dialects

if TYPE_CHECKING:
    from alembic.config import Config


def alembic_config(connection: sa.Connection | None = None) -> Config:
    """Alembic's configuration for the migrations shipped in this package."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent.parent / "migrations"))
    if connection is not None:
        config.set_main_option("sqlalchemy.url", connection.engine.url.render_as_string(hide_password=False))
        config.attributes["connection"] = connection
    return config


def upgrade(engine: sa.Engine) -> None:
    """Bring the schema of `engine`'s database up to the newest migration, in one transaction."""
    from alembic import command

    with engine.connect() as connection, dialects.of(engine).migrating(connection):
        command.upgrade(alembic_config(connection), "head")
