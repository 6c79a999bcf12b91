"""Forgetting whom a poll was sent to: its recipients' contact data are destroyed once the poll has done its work.

A phone list that outlives its purpose is a liability: for a poll on a
dangerous question, whoever later reads the database learns who was asked.
So when a poll has been closed for its retention period (its own
`retention_days`, else POLL_RETENTION_DAYS), or when an operator purges it,
every trace of its recipients' numbers and links goes, in one transaction:

- recipients' numbers, and the columns of the imported file kept beside them
  (a simulated recipient's name among them); their strata stay, as the
  breakdowns and weights of the results need them;
- the links' tokens (a purged link answers nothing);
- the outbox's texts and numbers (a queued message is cancelled first);
- replies' numbers and texts, kept for polls that are not anonymous;
- SMS conversations still open (their keyed digests of the numbers);
- the number an operator's look at a simulated handset was audited under.

Answers, tallies and the funnel's counts stay, so results are unchanged.
The opt-out list is not a poll's data and stays: it is how a number that
said STOP is never sent to again. Irreversible: there is no copy.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
import sqlalchemy.orm as so

from poll.errors import Invalid
from poll.models import AuditEvent, InboundMessage, Link, OutboxMessage, Poll, Recipient, SmsConversation
from poll.services.access import audit
from poll.vocabulary import MessageState, Phase

# What a destroyed value is replaced by where the column must hold something unique: it names no one, and is
# no valid phone number or link token (neither has a colon).
PURGED = "purged:"


@dataclass(frozen=True)
class Purged:
    """What a purge destroyed, by kind of row."""

    recipients: int
    links: int
    messages: int
    replies: int
    conversations: int

    def summary(self) -> str:
        return (f"{self.recipients:,} numbers, {self.links:,} links, {self.messages:,} outbox messages, "
                f"{self.replies:,} replies and {self.conversations:,} open conversations destroyed")


def due(poll: Poll, *, default_days: float | None, now: datetime) -> bool:
    """Whether `poll`'s contact data are past their retention: closed at least its retention period ago."""
    days = poll.retention_days if poll.retention_days is not None else default_days
    if days is None or poll.contacts_purged_at is not None or poll.phase(now) != Phase.CLOSED:
        return False
    return poll.closes_at is not None and poll.closes_at + timedelta(days=float(days)) <= now


def purge(session: so.Session, poll: Poll, *, now: datetime, via: str) -> Purged:
    """Destroy `poll`'s recipients' contact data (see the module's notes); audited as done `via` ("cli", ...).

    Raises Invalid unless the poll is closed. Purging twice destroys nothing more.
    """
    if poll.phase(now) != Phase.CLOSED:
        raise Invalid(f"poll {poll.slug} is not closed: close it first (`poll polls close {poll.slug}`)")
    links = sa.select(Link.id).where(Link.poll_id == poll.id)
    # A recipient another poll still needs (an audience shared with a poll whose contacts are kept) keeps its number.
    needed_elsewhere = (
        sa.select(Link.id).join(Poll, Poll.id == Link.poll_id)
        .where(Link.recipient_id == Recipient.id, Link.poll_id != poll.id, Poll.contacts_purged_at.is_(None))
    )
    recipients = sa.select(Recipient.id).where(
        sa.or_(Recipient.id.in_(sa.select(Link.recipient_id).where(Link.poll_id == poll.id)),
               Recipient.audience_id == poll.audience_id),
        ~needed_elsewhere.exists(),
        ~Recipient.phone.startswith(PURGED),
    )
    phones = sa.select(Recipient.phone).where(Recipient.id.in_(recipients))

    session.execute(
        sa.update(OutboxMessage).where(OutboxMessage.link_id.in_(links), OutboxMessage.state == MessageState.QUEUED)
        .values(state=MessageState.CANCELLED), execution_options={"synchronize_session": False})
    messages = session.execute(
        sa.update(OutboxMessage)
        .where(sa.or_(OutboxMessage.link_id.in_(links), OutboxMessage.phone.in_(phones)), OutboxMessage.phone != "")
        .values(phone="", text=""), execution_options={"synchronize_session": False}).rowcount
    replies = session.execute(
        sa.update(InboundMessage).where(InboundMessage.phone.in_(phones))
        .values(phone=None, text=None), execution_options={"synchronize_session": False}).rowcount
    session.execute(
        sa.update(AuditEvent).where(AuditEvent.subject.in_(phones)).values(subject="…"),
        execution_options={"synchronize_session": False})
    conversations = session.execute(
        sa.delete(SmsConversation).where(SmsConversation.poll_id == poll.id),
        execution_options={"synchronize_session": False}).rowcount
    purged_links = session.execute(
        sa.update(Link).where(Link.poll_id == poll.id, ~Link.token.startswith(PURGED))
        .values(token=sa.literal(PURGED) + sa.cast(Link.id, sa.String)),
        execution_options={"synchronize_session": False}).rowcount
    purged_recipients = session.execute(
        sa.update(Recipient).where(Recipient.id.in_(recipients))
        .values(phone=sa.literal(PURGED) + sa.cast(Recipient.id, sa.String), attributes=None),
        execution_options={"synchronize_session": False}).rowcount
    poll.contacts_purged_at = poll.contacts_purged_at or now
    result = Purged(purged_recipients, purged_links, messages, replies, conversations)
    audit.record(session, "contacts-purged", poll.slug, detail={
        "via": via, "recipients": result.recipients, "links": result.links, "messages": result.messages,
        "replies": result.replies, "conversations": result.conversations})
    session.flush()
    return result


def purge_due(session: so.Session, *, default_days: float | None, now: datetime, via: str) -> list[str]:
    """Purge every poll past its retention period (`due`); the slugs purged."""
    candidates = session.scalars(
        sa.select(Poll).where(Poll.contacts_purged_at.is_(None), Poll.closes_at.is_not(None)).order_by(Poll.id))
    purged = []
    for poll in candidates:
        if due(poll, default_days=default_days, now=now):
            purge(session, poll, now=now, via=via)
            purged.append(poll.slug)
    return purged
