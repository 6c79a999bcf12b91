"""The `poll` command: a thin shell over the services.

Each command is one unit of work: it gets a session, calls services, and
commits once at the end; a refusal rolls everything back and prints one line.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from pathlib import Path

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import ScriptInfo, with_appcontext

from poll import create_app, db
from poll.errors import PollError
from poll.services import audiences, demo, invitations, polls


class PollGroup(click.Group):
    """A click group whose commands find the app built by `create_app` (or the tests' app)."""

    def make_context(self, info_name, args, parent=None, **extra):
        extra.setdefault("obj", ScriptInfo(create_app=create_app, set_debug_flag=False))
        return super().make_context(info_name, args, parent=parent, **extra)


@click.group(cls=PollGroup)
def cli() -> None:
    """Run SMS polls by personal link, simulate respondents, and read the results honestly."""


def unit_of_work(command):
    """Run `command` with the session as its first argument; commit once, or roll back and exit 1."""

    @functools.wraps(command)
    @with_appcontext
    def run(*args, **kwargs):
        session = db.get_session()
        try:
            result = command(session, *args, **kwargs)
            session.commit()
            return result
        except PollError as exc:
            session.rollback()
            raise click.ClickException(str(exc)) from None
        except sa.exc.OperationalError as exc:
            session.rollback()
            raise click.ClickException(_database_problem(exc)) from None

    return run


def _database_problem(exc: sa.exc.OperationalError) -> str:
    url = sa.make_url(current_app.config["DATABASE_URL"]).render_as_string(hide_password=True)
    reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
    if "no such table" in reason or "does not exist" in reason and "relation" in reason:
        return f"the database {url} has no schema yet: run `poll init` first"
    return f"cannot use the database {url}: {reason} (check POLL_DATABASE_URL)"


@cli.command("init")
@with_appcontext
def init_command() -> None:
    """Create the database, or bring its schema up to date."""
    url = current_app.config["DATABASE_URL"]
    engine = db.make_engine(url)
    try:
        db.upgrade(engine)
    except sa.exc.OperationalError as exc:
        raise click.ClickException(_database_problem(exc)) from None
    finally:
        engine.dispose()
    click.echo(f"database ready: {sa.make_url(url).render_as_string(hide_password=True)}")


@cli.command("demo")
@click.option("--size", default=20_000, show_default=True, help="Simulated subscribers in the audience.")
@click.option("--seed", default=2024, show_default=True, help="Seed for the simulated audience.")
@unit_of_work
def demo_command(session, size: int, seed: int) -> None:
    """Load the article's poll (coalition-2024) with a simulated audience and personal links."""
    report = demo.load_demo(session, size=size, seed=seed)
    click.echo(report.summary())


@cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@with_appcontext
def serve_command(host: str, port: int) -> None:
    """Serve the app with the built-in server (use gunicorn, scripts/serve, under load)."""
    current_app.run(host=host, port=port, threaded=True, load_dotenv=False)


@cli.group("polls")
def polls_group() -> None:
    """Create, list, open and close polls."""


@polls_group.command("create")
@click.argument("definition", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--builtin", is_flag=True, help="Create the article's poll, coalition-2024.")
@unit_of_work
def polls_create(session, definition: Path | None, builtin: bool) -> None:
    """Create a draft poll from a TOML DEFINITION file (or --builtin)."""
    if (definition is None) == (not builtin):
        raise PollError("give either a DEFINITION file or --builtin")
    spec = polls.builtin_definition() if builtin else polls.read_definition(definition)
    poll = polls.create_poll(session, spec)
    click.echo(f"created poll {poll.slug} (draft, {len(poll.options)} options)")


@polls_group.command("list")
@unit_of_work
def polls_list(session) -> None:
    """List polls with their status and number of links."""
    for poll in polls.list_polls(session):
        links = invitations.count_links(session, poll)
        click.echo(f"{poll.slug}\t{poll.status}\t{links} links")


@polls_group.command("open")
@click.argument("slug")
@click.option("--at", "at_", type=click.DateTime(), help="Open from this time (UTC) instead of now.")
@click.option("--until", type=click.DateTime(), help="Close by itself at this time (UTC).")
@unit_of_work
def polls_open(session, slug: str, at_: datetime | None, until: datetime | None) -> None:
    """Open poll SLUG for answers."""
    poll = polls.open_poll(session, polls.get_poll(session, slug), at=_utc(at_), until=_utc(until))
    click.echo(f"{poll.slug} is open from {poll.opens_at:%Y-%m-%d %H:%M} UTC" + (
        f" until {poll.closes_at:%Y-%m-%d %H:%M} UTC" if poll.closes_at else ""))


@polls_group.command("close")
@click.argument("slug")
@unit_of_work
def polls_close(session, slug: str) -> None:
    """Close poll SLUG: no more answers are accepted."""
    poll = polls.close_poll(session, polls.get_poll(session, slug))
    click.echo(f"{poll.slug} is closed")


def _utc(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment is not None else None


@cli.group("audience")
def audience_group() -> None:
    """Manage the recipients a poll is sent to."""


@audience_group.command("import")
@click.argument("slug")
@click.argument("file", type=click.File("rb"))
@unit_of_work
def audience_import(session, slug: str, file) -> None:
    """Import recipients of poll SLUG from a CSV FILE (header row; phone required).

    Optional columns: governorate, sex (M/F), age or age_band, language (ar/ku/en);
    others are kept as attributes. Invalid rows are reported and skipped.
    """
    poll = polls.get_poll(session, slug)
    report = audiences.import_csv(session, poll, file, batch_size=current_app.config["BULK_BATCH_SIZE"])
    for line, reason in report.invalid:
        click.echo(f"line {line}: {reason}", err=True)
    click.echo(report.summary())


@cli.command("invite")
@click.argument("slug")
@unit_of_work
def invite_command(session, slug: str) -> None:
    """Issue a personal link to every recipient of poll SLUG who has none yet."""
    poll = polls.get_poll(session, slug)
    issued = invitations.issue_links(session, poll, batch_size=current_app.config["BULK_BATCH_SIZE"])
    click.echo(f"{issued} links issued; {invitations.count_links(session, poll)} in all")


@cli.command("links")
@click.argument("slug")
@click.option("--limit", type=click.IntRange(min=0), help="Print at most this many.")
@unit_of_work
def links_command(session, slug: str, limit: int | None) -> None:
    """Print the personal links of poll SLUG, one URL a line."""
    poll = polls.get_poll(session, slug)
    for url in invitations.personal_links(session, poll, current_app.config["BASE_URL"], limit=limit):
        click.echo(url)
