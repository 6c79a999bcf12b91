"""A poll's life cycle as an operator runs it: create, load an audience, invite, queue, open, close, remind, retry.

The `poll` commands and the browser workspace call these same functions, so
neither holds a rule of its own. Each step is audited to the operator who
took it (`by`; None is the command line). Before a step that sends or issues
anything, `plan` tells what it will do — how many links or messages, their
segments and cost, the sender and the base URL of the links — by doing it
inside a savepoint and undoing it: what is announced is what the step does,
counted by the very code that does it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import IO, Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from poll import iraq
from poll.errors import Invalid, PollError
from poll.models import Link, Operator, OutboxMessage, Poll, Recipient
from poll.services.access import audit
from poll.services.audience import audiences, links
from poll.services.definition import polls
from poll.services.messaging import outbox
from poll.vocabulary import MessageState

ACTIONS = ("invite", "queue", "open", "close", "remind", "retry")
# The steps that hand messages to the gateway's queue, and what each is called in the audit trail.
SENDING = ("queue", "remind", "retry")
AUDITED = {
    "invite": "links-issued", "queue": "messages-queued", "open": "poll-opened", "close": "poll-closed",
    "remind": "reminders-queued", "retry": "messages-retried",
}


@dataclass(frozen=True)
class Settings:
    """What the steps need of the configuration (POLL_BASE_URL, POLL_SMS_*), read once per request or command."""

    base_url: str
    sender: str
    gateway: str = "simulated"
    price: float = 0.0
    currency: str = "USD"
    max_segments: int = 3
    max_reminders: int = 1
    batch_size: int = 20_000
    allow_local_links: bool = False  # POLL_SMS_ALLOW_LOCAL_LINKS: links to this machine, for a rehearsal

    @classmethod
    def of(cls, config: Mapping[str, Any]) -> Settings:
        """The settings of an app's `config`."""
        return cls(
            base_url=str(config["BASE_URL"]), sender=str(config["SMS_SENDER"] or ""),
            gateway=str(config["SMS_GATEWAY"]), price=float(config["SMS_PRICE_PER_SEGMENT"]),
            currency=str(config["SMS_CURRENCY"]), max_segments=int(config["SMS_MAX_SEGMENTS"]),
            max_reminders=int(config["SMS_MAX_REMINDERS"]), batch_size=int(config["BULK_BATCH_SIZE"]),
            allow_local_links=bool(config["SMS_ALLOW_LOCAL_LINKS"]),
        )

    @property
    def sending(self) -> dict[str, Any]:
        """What the outbox's guards need to know of this installation (`outbox.check_send`)."""
        return {"sender": self.sender, "gateway": self.gateway, "allow_local_links": self.allow_local_links}


@dataclass
class Plan:
    """What a step will do to a poll, told before it is done; `refusal` says why it cannot be done."""

    action: str
    links: int = 0
    messages: int = 0
    segments: int = 0
    cost: float = 0.0
    currency: str = "USD"
    sender: str = ""
    base_url: str = ""
    refusal: str | None = None
    refused: PollError | None = None  # the refusal itself, for a page to say in the reader's language

    @property
    def sends(self) -> bool:
        return self.action in SENDING


@dataclass
class Done:
    """What a step did: the links it issued or the messages it queued."""

    action: str
    count: int = 0


def create(session: so.Session, definition: dict[str, Any], *, by: Operator | None,
           warnings: list[str] | None = None, sms_sender: str | None = None,
           contact: dict[str, str] | None = None) -> Poll:
    """Create a draft poll from a definition, with a sender ID and contact an XLSForm cannot carry; audited."""
    definition = dict(definition)
    if sms_sender:
        definition["sms_sender"] = sms_sender
    if contact:
        definition["contact"] = {**definition.get("contact", {}), **contact}
    poll = polls.create_poll(session, definition)
    audit.record(session, "poll-created", poll.slug, by=by,
                 detail={**_via(by), **({"warnings": len(warnings)} if warnings else {})})
    return poll


def import_audience(session: so.Session, poll: Poll, stream: IO[bytes], *, by: Operator | None,
                    batch_size: int = 20_000) -> audiences.ImportReport:
    """Add the recipients of a CSV file to `poll`'s audience (bad lines reported, valid ones kept); audited."""
    report = audiences.import_csv(session, poll, stream, batch_size=batch_size)
    audit.record(session, "audience-imported", poll.slug, by=by, detail={
        **_via(by), "imported": report.imported, "invalid": len(report.invalid)})
    return report


def plan(session: so.Session, poll: Poll, action: str, settings: Settings, *, now: datetime,
         remind_after: timedelta = timedelta(hours=24)) -> Plan:
    """What `action` would do to `poll` now: done in a savepoint, counted, and undone.

    Nothing of it remains, not even in the audit trail. A refusal (a draft's
    SMS, no sender) is given as the plan's `refusal` rather than raised.
    """
    shown = Plan(action, currency=settings.currency, sender=outbox.sender_of(poll, settings.sender),
                 base_url=settings.base_url)
    if action == "invite":
        # Counted, not done: issuing a million links to undo them cost as much as the step itself. What it
        # counts is what issuing reads (links.pending), so the announced number is the number issued.
        shown.links = links.pending(session, poll)
        return shown
    before = _sizes(session, poll)
    savepoint = session.begin_nested()
    try:
        _do(session, poll, action, settings, now=now, remind_after=remind_after)
        after = _sizes(session, poll)
    except PollError as exc:
        shown.refusal, shown.refused = str(exc), exc
        return shown
    finally:
        savepoint.rollback()
    shown.links = after[0] - before[0]
    shown.messages = after[1] - before[1]
    shown.segments = after[2] - before[2]
    shown.cost = shown.segments * settings.price
    return shown


def perform(session: so.Session, poll: Poll, action: str, settings: Settings, *, by: Operator | None,
            now: datetime, remind_after: timedelta = timedelta(hours=24), opens_at: datetime | None = None,
            until: datetime | None = None) -> Done:
    """Take step `action` on `poll`, audited to `by`; raises PollError (nothing done) when it cannot be taken."""
    count = _do(session, poll, action, settings, now=now, remind_after=remind_after, opens_at=opens_at, until=until)
    detail: dict[str, Any] = {**_via(by)}
    if action == "invite":
        detail["issued"] = count
    elif action in SENDING:
        detail["queued"] = count
    audit.record(session, AUDITED[action], poll.slug, by=by, detail=detail)
    return Done(action, count)


def _do(session: so.Session, poll: Poll, action: str, settings: Settings, *, now: datetime,
        remind_after: timedelta, opens_at: datetime | None = None, until: datetime | None = None) -> int:
    if action not in ACTIONS:
        raise Invalid(f"no such step {action!r} (there are {', '.join(ACTIONS)})")
    if action == "invite":
        return links.issue_links(session, poll, batch_size=settings.batch_size)
    # Each sending step refuses a harmful send itself (outbox.check_send): a draft, no sender, unsafe links.
    if action == "queue":
        return outbox.queue_invitations(session, poll, settings.base_url, max_segments=settings.max_segments,
                                        **settings.sending)
    if action == "remind":
        return outbox.queue_reminders(session, poll, settings.base_url, after=remind_after,
                                      max_reminders=settings.max_reminders, now=now,
                                      max_segments=settings.max_segments, **settings.sending)
    if action == "retry":
        return outbox.retry_failed(session, poll, now=now, base_url=settings.base_url, **settings.sending)
    if action == "open":
        polls.open_poll(session, poll, at=opens_at, until=until)
        return 0
    polls.close_poll(session, poll)
    return 0


def _sizes(session: so.Session, poll: Poll) -> tuple[int, int, int]:
    # The poll's links, and its queued messages with their segments: what a step adds to them is what it did.
    link_ids = sa.select(Link.id).where(Link.poll_id == poll.id)
    messages, segments = session.execute(
        sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(OutboxMessage.segments), 0))
        .where(OutboxMessage.state == MessageState.QUEUED, OutboxMessage.link_id.in_(link_ids))
    ).one()
    return links.count_links(session, poll), int(messages), int(segments)


def messages_of(session: so.Session, poll: Poll) -> int:
    """How many messages `poll`'s links have had queued, in any state."""
    return session.scalar(sa.select(sa.func.count()).where(
        OutboxMessage.link_id.in_(sa.select(Link.id).where(Link.poll_id == poll.id)))) or 0


def _via(by: Operator | None) -> dict[str, str]:
    return {} if by else {"via": "cli"}


@dataclass
class Composition:
    """An audience by governorate, sex and age band, each category's share beside the census's."""

    total: int
    strata: dict[str, list[tuple[str, int, float, float]]] = field(default_factory=dict)
    unknown: dict[str, int] = field(default_factory=dict)


def composition(session: so.Session, poll: Poll) -> Composition:
    """How many of `poll`'s recipients are in each governorate, sex and age band, against the census margins.

    Recipients are the frame, not answers: their counts tell nothing of what
    anyone answered.
    """
    if poll.audience_id is None:
        return Composition(0)
    margins = iraq.census_margins()
    shown = Composition(audiences.audience_size(session, poll))
    for stratum, column in (("governorate", Recipient.governorate), ("sex", Recipient.sex),
                            ("age_band", Recipient.age_band)):
        counts = dict(session.execute(
            sa.select(column, sa.func.count()).where(Recipient.audience_id == poll.audience_id).group_by(column)
        ).all())
        known = sum(number for code, number in counts.items() if code is not None)
        shown.strata[stratum] = [
            (code, counts.get(code, 0), counts.get(code, 0) / known if known else 0.0, margins[stratum][code])
            for code in iraq.categories(stratum)
        ]
        shown.unknown[stratum] = counts.get(None, 0)
    return shown
