"""The schema's migrations (Alembic, shipped in poll/migrations) and how they run."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from poll.db import dialects


def alembic_config(connection: sa.Connection | None = None) -> Config:
    """Alembic's configuration for the migrations shipped in this package."""
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent.parent / "migrations"))
    if connection is not None:
        config.set_main_option("sqlalchemy.url", connection.engine.url.render_as_string(hide_password=False))
        config.attributes["connection"] = connection
    return config


def upgrade(engine: sa.Engine) -> None:
    """Bring the schema of `engine`'s database up to the newest migration, in one transaction."""
    with engine.connect() as connection, dialects.of(engine).migrating(connection):
        command.upgrade(alembic_config(connection), "head")
