"""A poll, its audience and its links: `poll polls …`, `poll audience import`, `poll invite`, `poll links`."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click
from flask import current_app

from poll import reports
from poll.commands._base import as_utc, command_group, lifecycle_settings, unit_of_work
from poll.errors import PollError
from poll.i18n import LANGUAGES
from poll.models import utcnow
from poll.services import lifecycle
from poll.services.access import audit
from poll.services.audience import links, retention
from poll.services.definition import polls


@command_group.group("polls")
def polls_group() -> None:
    """Create, list, open and close polls."""


@polls_group.command("create")
@click.argument("definition", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--builtin", type=click.Choice(polls.BUILTINS), is_flag=False, flag_value=polls.BUILTIN,
              help=f"Create a poll shipped with poll (alone: {polls.BUILTIN}, the article's poll).")
@unit_of_work
def polls_create(session, definition: Path | None, builtin: str | None) -> None:
    """Create a draft poll from a DEFINITION file (TOML, or an XLSForm .xlsx) or --builtin [NAME]."""
    if (definition is None) == (builtin is None):
        raise PollError("give either a DEFINITION file or --builtin")
    warnings: list[str] = []
    spec = polls.builtin_definition(builtin) if builtin else polls.read_definition(definition, warnings)
    poll = lifecycle.create(session, spec, by=None, warnings=warnings)
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    questions = len(poll.questions)
    click.echo(f"created poll {poll.slug} (draft, {len(poll.options)} options"
               + (f", {questions} questions)" if questions > 1 else ")"))


@polls_group.command("show")
@click.argument("slug")
@click.option("--language", type=click.Choice(list(LANGUAGES)), help="Show the texts in one language only.")
@unit_of_work
def polls_show(session, slug: str, language: str | None) -> None:
    """Print poll SLUG's questionnaire: each question, its type, when it is asked, and its choices."""
    poll = polls.get_poll(session, slug)
    click.echo(reports.questionnaire(poll, polls.questions_of(poll), language))


@polls_group.command("list")
@unit_of_work
def polls_list(session) -> None:
    """List polls with their status and number of links."""
    for poll in polls.list_polls(session):
        click.echo(f"{poll.slug}\t{poll.status}\t{links.count_links(session, poll)} links")


@polls_group.command("open")
@click.argument("slug")
@click.option("--at", "at_", type=click.DateTime(), help="Open from this time (UTC) instead of now.")
@click.option("--until", type=click.DateTime(), help="Close by itself at this time (UTC).")
@unit_of_work
def polls_open(session, slug: str, at_: datetime | None, until: datetime | None) -> None:
    """Open poll SLUG for answers."""
    poll = polls.get_poll(session, slug)
    lifecycle.perform(session, poll, "open", lifecycle_settings(), by=None, now=utcnow(), opens_at=as_utc(at_), until=as_utc(until))
    click.echo(f"{poll.slug} is open from {poll.opens_at:%Y-%m-%d %H:%M} UTC" + (
        f" until {poll.closes_at:%Y-%m-%d %H:%M} UTC" if poll.closes_at else ""))


@polls_group.command("close")
@click.argument("slug")
@unit_of_work
def polls_close(session, slug: str) -> None:
    """Close poll SLUG: no more answers are accepted."""
    poll = polls.get_poll(session, slug)
    lifecycle.perform(session, poll, "close", lifecycle_settings(), by=None, now=utcnow())
    click.echo(f"{poll.slug} is closed")


@polls_group.command("purge")
@click.argument("slug")
@click.option("--yes", is_flag=True, help="Do not ask: destroy them.")
@unit_of_work
def polls_purge(session, slug: str, yes: bool) -> None:
    """Destroy the contact data of closed poll SLUG's recipients: numbers, links, outbox texts (irreversible).

    Answers, tallies and results stay as they are. The dispatcher does this by
    itself POLL_RETENTION_DAYS after a poll closes (or the poll's own
    retention_days). Audited.
    """
    poll = polls.get_poll(session, slug)
    if poll.phase(utcnow()) != "closed":
        raise click.ClickException(f"poll {slug} is not closed: close it first (`poll polls close {slug}`)")
    if not yes:
        click.confirm(f"Destroy every phone number, link and SMS text of poll {slug}'s recipients? "
                      "This cannot be undone", abort=True)
    purged = retention.purge(session, poll, now=utcnow(), via="cli")
    click.echo(f"poll {slug}: {purged.summary()}; answers and results are kept")


@command_group.group("audience")
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
    report = lifecycle.import_audience(session, poll, file, by=None, batch_size=current_app.config["BULK_BATCH_SIZE"])
    for line, reason in report.invalid:
        click.echo(f"line {line}: {reason}", err=True)
    click.echo(report.summary())


@command_group.command("invite")
@click.argument("slug")
@unit_of_work
def invite_command(session, slug: str) -> None:
    """Issue a personal link to every recipient of poll SLUG who has none yet."""
    poll = polls.get_poll(session, slug)
    issued = lifecycle.perform(session, poll, "invite", lifecycle_settings(), by=None, now=utcnow()).count
    click.echo(f"{issued} links issued; {links.invited(session, poll)} in all")


@command_group.command("links")
@click.argument("slug")
@click.option("--limit", type=click.IntRange(min=0), help="Print at most this many.")
@click.option("--language", type=click.Choice(list(LANGUAGES)), help="Only links whose page opens in this language.")
@click.option("--unanswered", is_flag=True, help="Only links not answered yet.")
@unit_of_work
def links_command(session, slug: str, limit: int | None, language: str | None, unanswered: bool) -> None:
    """Print the personal links of poll SLUG, one URL a line (audited: each link lets its holder answer)."""
    poll = polls.get_poll(session, slug)
    printed = 0
    for url in links.personal_links(session, poll, current_app.config["BASE_URL"], limit=limit, language=language,
                                    unanswered=unanswered):
        click.echo(url)
        printed += 1
    audit.record(session, "links-printed", slug, detail={"via": "cli", "links": printed})
