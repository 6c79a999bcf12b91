"""What every command shares: the `poll` group, and one unit of work per command."""

from __future__ import annotations

import functools
from datetime import UTC, datetime

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import with_appcontext

from poll import db
from poll.errors import PollError
from poll.i18n import LANGUAGES, pick
from poll.services import lifecycle


@click.group()
def command_group() -> None:
    """Run SMS polls by personal link, simulate respondents, and read the results honestly."""


def unit_of_work(command):
    """Run `command` with the session as its first argument; commit once, or roll back and exit 1.

    The transaction is a writer from its start (`db.begin_write`): most
    commands write, if only to the audit trail, and on SQLite a transaction
    that read first could not wait for another writer.
    """

    @functools.wraps(command)
    @with_appcontext
    def run(*args, **kwargs):
        return in_one_transaction(lambda session: command(session, *args, **kwargs))

    return run


def in_one_transaction(work):
    """`work(session)` as one unit of work: commit once, or roll back and exit 1 with one line."""
    session = db.get_session()
    try:
        db.begin_write(session)
        result = work(session)
        session.commit()
        return result
    except PollError as exc:
        session.rollback()
        raise click.ClickException(str(exc)) from None
    except sa.exc.OperationalError as exc:
        session.rollback()
        raise click.ClickException(database_problem(exc)) from None


def database_problem(exc: sa.exc.OperationalError) -> str:
    url = sa.make_url(current_app.config["DATABASE_URL"]).render_as_string(hide_password=True)
    reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
    if "no such table" in reason or "does not exist" in reason and "relation" in reason:
        return f"the database {url} has no schema yet: run `poll init` first"
    return f"cannot use the database {url}: {reason} (check POLL_DATABASE_URL)"


def lifecycle_settings() -> lifecycle.Settings:
    return lifecycle.Settings.of(current_app.config)


def as_utc(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment is not None else None


def english_labels(poll) -> dict[str, str]:
    """The headline's options by code, labelled in English: what the commands' tables print."""
    return {option.code: pick(option.label, LANGUAGES["en"]) for option in poll.options}
