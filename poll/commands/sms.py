"""SMS: `poll sms preview|queue|retry|remind` and the dispatcher, `poll dispatch`."""

from __future__ import annotations

import urllib.parse
from datetime import UTC, datetime, timedelta

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import with_appcontext

from poll.commands._base import command_group, database_problem, lifecycle_settings, unit_of_work
from poll.models import utcnow
from poll.runners import dispatcher
from poll.services import lifecycle
from poll.services.definition import polls
from poll.services.messaging import outbox
from poll.sms import gateways, routes


@command_group.group("sms")
def sms_group() -> None:
    """Preview and queue the SMS that carries each personal link."""


@sms_group.command("preview")
@click.argument("slug")
@unit_of_work
def sms_preview(session, slug: str) -> None:
    """Show poll SLUG's SMS and reminder in each language: text, encoding, segments, and the cost for its audience.

    The last lines give the longest message (what a send costs per number at
    worst) and the total of the invitations.
    """
    config = current_app.config
    poll = polls.get_poll(session, slug)
    price, currency = float(config["SMS_PRICE_PER_SEGMENT"]), config["SMS_CURRENCY"]
    total = 0.0
    items = outbox.preview(session, poll, config["BASE_URL"], price, reminders=True)
    for item in items:
        enc = item.encoding
        warning = "  (over the limit of %d segments)" % config["SMS_MAX_SEGMENTS"] if (
            enc.segments > int(config["SMS_MAX_SEGMENTS"])) else ""
        click.echo(f"[{_preview_name(item)}] {item.text}")
        click.echo(f"     {enc.name}, {enc.units} units, {enc.segments} segment(s) of {enc.part_limit if enc.segments > 1 else enc.single_limit}"
                   f"; {item.recipients:,} recipients; {item.cost:,.2f} {currency}{warning}")
        total += 0.0 if item.reminder else item.cost
    worst = outbox.longest(items)
    click.echo(f"longest: [{_preview_name(worst)}] {worst.encoding.segments} segment(s), "
               f"{worst.encoding.segments * price:,.2f} {currency} a message")
    click.echo(f"total: {total:,.2f} {currency} at {price:g} {currency} a segment (invitations; each round of "
               "reminders costs about as much again)")


def _preview_name(item: outbox.Preview) -> str:
    return ", ".join([item.language] + ([item.variant] if item.variant else []) + (["reminder"] if item.reminder else []))


@sms_group.command("queue")
@click.argument("slug")
@unit_of_work
def sms_queue(session, slug: str) -> None:
    """Queue one invitation SMS per link of poll SLUG that has none (opted-out numbers skipped).

    Refused, with nothing queued: a draft poll, no sender, and through Kannel
    links to a loopback or plain-http address.
    """
    poll = polls.get_poll(session, slug)
    queued = lifecycle.perform(session, poll, "queue", lifecycle_settings(), by=None, now=utcnow()).count
    click.echo(f"{queued:,} messages queued; `poll dispatch` sends them")


@sms_group.command("retry")
@click.argument("slug")
@unit_of_work
def sms_retry(session, slug: str) -> None:
    """Queue poll SLUG's failed messages again, with a fresh horizon (opted-out numbers stay out)."""
    poll = polls.get_poll(session, slug)
    queued = lifecycle.perform(session, poll, "retry", lifecycle_settings(), by=None, now=utcnow()).count
    click.echo(f"{queued:,} failed messages queued again; `poll dispatch` sends them")


@sms_group.command("remind")
@click.argument("slug")
@click.option("--after", "hours", type=click.FloatRange(min=0), default=24.0, show_default=True,
              help="Hours since the last message before a reminder.")
@unit_of_work
def sms_remind(session, slug: str, hours: float) -> None:
    """Queue reminders to recipients of poll SLUG who have not answered (at most POLL_SMS_MAX_REMINDERS each)."""
    poll = polls.get_poll(session, slug)
    queued = lifecycle.perform(session, poll, "remind", lifecycle_settings(), by=None, now=datetime.now(UTC),
                               remind_after=timedelta(hours=hours)).count
    click.echo(f"{queued:,} reminders queued")


@command_group.command("dispatch")
@click.option("--once", is_flag=True, help="Drain the outbox, then exit (also when the gateway is down).")
@click.option("--rate", type=click.FloatRange(min=0, min_open=True),
              help="Messages per second (POLL_SMS_RATE); with POLL_SMS_ROUTES each route's cap paces it instead.")
@click.option("--batch", type=click.IntRange(1, 10_000), help="Messages claimed at a time (POLL_SMS_BATCH).")
@with_appcontext
def dispatch_command(once: bool, rate: float | None, batch: int | None) -> None:
    """Send queued SMS through the configured gateway (POLL_SMS_GATEWAY), at a steady rate.

    Several dispatchers may run at once on PostgreSQL; on SQLite run one.
    While the gateway is down it pauses and tries again; see poll.runners.dispatcher.
    POLL_SMS_ROUTES sends each carrier's numbers through its own SMSC at its
    own cap, at most POLL_SMS_WINDOW messages in flight per route (poll.sms.routes).
    """
    config = current_app.config
    try:
        gateway = gateways.from_config(config)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    secret = urllib.parse.quote(str(config["SMS_SECRET"]), safe="")
    try:
        sms_routes = routes.parse(str(config["SMS_ROUTES"] or ""))
        window = int(config["SMS_WINDOW"])
    except ValueError as exc:
        raise click.ClickException(f"POLL_SMS_ROUTES or POLL_SMS_WINDOW: {exc}") from None
    if window < 1:
        raise click.ClickException("POLL_SMS_WINDOW must be at least 1 message in flight per route")
    settings = dispatcher.Settings(
        rate=rate or float(config["SMS_RATE"]),
        batch=batch or int(config["SMS_BATCH"]),
        lease=timedelta(seconds=float(config["SMS_LEASE_SECONDS"])),
        horizon=timedelta(hours=float(config["SMS_GIVE_UP_HOURS"])),
        max_pause=float(config["SMS_MAX_PAUSE_SECONDS"]),
        dlr_url=lambda message_id: f"{config['BASE_URL']}/sms/kannel/dlr?secret={secret}&message={message_id}&status=%d"
                                   "&answer=%A",
        retention_days=None if config["RETENTION_DAYS"] in (None, "") else float(config["RETENTION_DAYS"]),
        routes=sms_routes, window=window, longest=int(config["SMS_MAX_SEGMENTS"]),
    )
    runner = dispatcher.Dispatcher(current_app.extensions["poll.db"], gateway, settings)
    try:
        report = runner.run(once=once)
    except sa.exc.OperationalError as exc:
        raise click.ClickException(database_problem(exc)) from None
    except KeyboardInterrupt:
        return
    if report.purged:
        click.echo(f"contact data destroyed (retention): {', '.join(report.purged)}")
    click.echo(f"{report.handed:,} messages handed to the {gateway.name} gateway; outbox: "
               + ", ".join(f"{state} {count:,}" for state, count in sorted(report.counts.items())))
    if report.unavailable:
        raise click.ClickException(f"the {gateway.name} gateway is unavailable: the rest stay queued, "
                                   "no attempt spent; run `poll dispatch` again when it is back")
