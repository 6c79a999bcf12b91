"""`poll weighting …`: what a poll's answers are weighted to beyond the census margins, with its source."""

from __future__ import annotations

import click

from poll.commands._base import command_group, unit_of_work
from poll.services.definition import polls
from poll.services.releases import references


@command_group.group("weighting")
def weighting_group() -> None:
    """What a poll's answers are weighted to beyond the census margins."""


@weighting_group.command("reference")
@click.argument("slug")
@click.argument("file", type=click.File("rb"))
@click.option("--source", help="Who published it, what and where (required, here or in a TOML's `source`).")
@click.option("--year", type=click.IntRange(1900, 2100), help="The year the reference describes.")
@unit_of_work
def weighting_reference(session, slug: str, file, source: str | None, year: int | None) -> None:
    """Weight poll SLUG against the reference FILE: margins (TOML, or CSV variable,category,share) or a probability
    survey's microdata (CSV of the variables and a weight column). Replaces the poll's reference; audited.
    """
    poll = polls.get_poll(session, slug)
    found = references.read(poll, file.read(), file.name or "", source=source, year=year)
    references.set_reference(session, poll, found, by=None)
    for line in references.describe(references.reference_of(session, poll), poll):
        click.echo(line)


@weighting_group.command("show")
@click.argument("slug")
@unit_of_work
def weighting_show(session, slug: str) -> None:
    """Print what poll SLUG is weighted to: its reference, with its source, and what has no sourced target."""
    poll = polls.get_poll(session, slug)
    for line in references.describe(references.reference_of(session, poll), poll):
        click.echo(line)
