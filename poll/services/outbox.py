"""The SMS outbox: compose and queue messages, claim them for sending, record what happened.

States: queued -> sending -> sent -> delivered, or failed; cancelled for
numbers that opted out. A dispatcher claims a batch (on PostgreSQL with
FOR UPDATE SKIP LOCKED, so many dispatchers can share one outbox), commits
the claim, sends, then records each result. A dispatcher that dies leaves
its claims in "sending"; after the lease they are queued again. Each message
keeps one idempotency key for all its attempts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
import sqlalchemy.orm as so

from poll.db import begin_write, bulk_insert, dialects
from poll.errors import Invalid
from poll.i18n import LANGUAGES, pick
from poll.models import Link, OptOut, OutboxMessage, Poll, Recipient, utcnow
from poll.vocabulary import MessageKind, MessageState
from poll.services import links, polls, tallies
from poll.sms import encoding
from poll.sms.gateways import Gateway, Outgoing, Sent

DEFAULT_TEMPLATE = "{sender}: {question} {link}"
MAX_BACKOFF = timedelta(hours=1)


def template(poll: Poll, language: str) -> str:
    """The SMS template of `poll` in `language` (falling back like the page texts)."""
    return pick(poll.sms_template, LANGUAGES[language]) if poll.sms_template else DEFAULT_TEMPLATE


def compose(poll: Poll, language: str, link: str) -> str:
    """The SMS text for one recipient."""
    lang = LANGUAGES[language]
    text = template(poll, language)
    polls.check_sms_template(f"the {language} SMS of {poll.slug}", text)
    return text.format(link=link, question=pick(poll.question, lang), sender=pick(poll.sender, lang) if poll.sender else "").strip()


@dataclass
class Preview:
    language: str
    text: str
    encoding: encoding.Encoding
    recipients: int
    cost: float


def preview(session: so.Session, poll: Poll, base_url: str, price_per_segment: float) -> list[Preview]:
    """Each language's message with a link of the real length, its encoding, segments and cost."""
    counts = dict(
        session.execute(
            sa.select(Recipient.language, sa.func.count())
            .join(Link, Link.recipient_id == Recipient.id)
            .where(Link.poll_id == poll.id)
            .group_by(Recipient.language)
        ).all()
    )
    sample_link = links.link_url(base_url, "x" * 22)
    out = []
    for code in LANGUAGES:
        recipients = counts.get(code, 0) + (counts.get(None, 0) if code == poll.default_language else 0)
        text = compose(poll, code, sample_link)
        analysis = encoding.analyze(text)
        out.append(Preview(code, text, analysis, recipients, recipients * analysis.segments * price_per_segment))
    return out


def queue_invitations(session: so.Session, poll: Poll, base_url: str, *, max_segments: int) -> int:
    """Queue one invitation SMS per link that has none, skipping opted-out numbers; returns how many.

    Raises Invalid when a language's message would take more than `max_segments`.
    """
    for item in preview(session, poll, base_url, 0.0):
        if item.encoding.segments > max_segments:
            raise Invalid(
                f"the {item.language} SMS takes {item.encoding.segments} segments (limit {max_segments}): "
                "shorten the poll's sms text or raise POLL_SMS_MAX_SEGMENTS"
            )
    already = sa.select(OutboxMessage.id).where(
        OutboxMessage.link_id == Link.id, OutboxMessage.kind == MessageKind.INVITATION
    )
    opted_out = sa.select(OptOut.phone).where(OptOut.phone == Recipient.phone)
    rows = session.execute(
        sa.select(Link.id, Link.token, Recipient.phone, Recipient.language)
        .join(Recipient, Recipient.id == Link.recipient_id)
        .where(Link.poll_id == poll.id, ~already.exists(), ~opted_out.exists())
        .order_by(Link.id)
    ).all()
    text = _composer(poll, base_url)
    return _queue(session, [
        (link_id, MessageKind.INVITATION, phone, text(language, token), f"inv-{link_id}")
        for link_id, token, phone, language in rows
    ])


def queue_reminders(session: so.Session, poll: Poll, base_url: str, *, after: timedelta, max_reminders: int,
                    now: datetime) -> int:
    """Queue a reminder to each link sent at least `after` ago and not answered, up to `max_reminders` each.

    The n-th reminder waits `after` from the previous message; opted-out
    numbers and closed polls get none. Returns how many were queued.
    """
    if poll.phase(now) != "open":
        return 0
    previous = (
        sa.select(
            OutboxMessage.link_id,
            sa.func.count().label("sent"),
            sa.func.max(OutboxMessage.sent_at).label("last_sent_at"),
        )
        .where(OutboxMessage.state.in_([MessageState.SENT, MessageState.DELIVERED]))
        .group_by(OutboxMessage.link_id)
        .subquery()
    )
    pending = sa.select(OutboxMessage.id).where(
        OutboxMessage.link_id == Link.id,
        OutboxMessage.state.in_([MessageState.QUEUED, MessageState.SENDING]),
    )
    opted_out = sa.select(OptOut.phone).where(OptOut.phone == Recipient.phone)
    rows = session.execute(
        sa.select(Link.id, Link.token, Recipient.phone, Recipient.language, previous.c.sent)
        .join(Recipient, Recipient.id == Link.recipient_id)
        .join(previous, previous.c.link_id == Link.id)
        .where(
            Link.poll_id == poll.id,
            Link.answered_on.is_(None),
            previous.c.last_sent_at <= now - after,
            previous.c.sent <= max_reminders,
            ~pending.exists(),
            ~opted_out.exists(),
        )
    ).all()
    text = _composer(poll, base_url)
    return _queue(session, [
        (link_id, MessageKind.REMINDER, phone, text(language, token), f"inv-{link_id}-r{sent}")
        for link_id, token, phone, language, sent in rows
    ])


def _composer(poll: Poll, base_url: str) -> Callable[[str | None, str], str]:
    # text(language, token): each language's message is composed once, then each recipient's link put in.
    composed: dict[str, str] = {}

    def text(language: str | None, token: str) -> str:
        language = language or poll.default_language
        if language not in composed:
            composed[language] = compose(poll, language, "\0")
        return composed[language].replace("\0", links.link_url(base_url, token))

    return text


def _queue(session: so.Session, messages: list[tuple[int | None, str, str, str, str]]) -> int:
    # (link_id, kind, phone, text, idempotency_key) rows, queued in bulk; returns how many.
    if not messages:
        return 0
    link_ids, kinds, phones, texts, keys = (list(column) for column in zip(*messages, strict=True))
    now = utcnow()
    bulk_insert(
        session, OutboxMessage,
        {"link_id": link_ids, "kind": kinds, "phone": phones, "text": texts,
         "segments": [encoding.analyze(text).segments for text in texts], "idempotency_key": keys},
        same={"state": MessageState.QUEUED, "attempts": 0, "created_at": now, "next_attempt_at": now},
    )
    return len(messages)


def claim(session: so.Session, *, batch: int, now: datetime, lease: timedelta) -> list[OutboxMessage]:
    """Take up to `batch` due messages for this dispatcher; the caller commits before sending.

    Messages stuck in "sending" longer than `lease` (their dispatcher died)
    are due again. On PostgreSQL rows locked by another dispatcher are skipped.
    """
    due = sa.or_(
        sa.and_(OutboxMessage.state == MessageState.QUEUED, OutboxMessage.next_attempt_at <= now),
        sa.and_(OutboxMessage.state == MessageState.SENDING, OutboxMessage.claimed_at < now - lease),
    )
    query = dialects.of(session).claiming(sa.select(OutboxMessage).where(due).order_by(OutboxMessage.id).limit(batch))
    messages = list(session.scalars(query))
    if not messages:
        return []
    opted_out = set(session.scalars(sa.select(OptOut.phone).where(OptOut.phone.in_({m.phone for m in messages}))))
    claimed = []
    for message in messages:
        if message.phone in opted_out:
            message.state = MessageState.CANCELLED
            continue
        message.state = MessageState.SENDING
        message.claimed_at = now
        message.attempts += 1
        claimed.append(message)
    session.flush()
    return claimed


def outgoing(message: OutboxMessage, dlr_url: str) -> Outgoing:
    """What the gateway needs to send `message`."""
    return Outgoing(message.id, message.phone, message.text, message.idempotency_key, dlr_url)


def record(session: so.Session, message_id: int, result: Sent, *, now: datetime, max_attempts: int) -> str:
    """Store the gateway's answer for one claimed message; returns its new state."""
    message = session.get(OutboxMessage, message_id)
    if message is None or message.state != MessageState.SENDING:
        return message.state if message else "gone"
    message.last_error = result.error or None
    if result.accepted:
        message.state = MessageState.SENT
        message.sent_at = now
        message.gateway_id = result.gateway_id
        if message.link_id is not None:
            invitation = session.get(Link, message.link_id)
            if invitation.sent_at is None:
                invitation.sent_at = now
                tallies.bump(session, invitation.poll_id, {"sent": 1})
    elif result.permanent or message.attempts >= max_attempts:
        message.state = MessageState.FAILED
        _count_failure(session, message)
    else:
        message.state = MessageState.QUEUED
        message.next_attempt_at = now + min(timedelta(seconds=30 * 2 ** (message.attempts - 1)), MAX_BACKOFF)
    session.flush()
    return message.state


def delivery_report(session: so.Session, message_id: int, status: int, *, now: datetime) -> bool:
    """Apply a delivery report (Kannel's %d: 1 delivered, 2 failed, 16 rejected, 4/8 buffered or accepted).

    Returns False if no such message exists.
    """
    message = session.get(OutboxMessage, message_id)
    if message is None:
        return False
    if status == 1 and message.state != MessageState.DELIVERED:
        message.state = MessageState.DELIVERED
        message.delivered_at = now
        if message.link_id is not None:
            invitation = session.get(Link, message.link_id)
            if invitation.delivered_at is None:
                invitation.delivered_at = now
                tallies.bump(session, invitation.poll_id, {"delivered": 1})
    elif status in (2, 16) and message.state not in (MessageState.DELIVERED, MessageState.FAILED):
        message.state = MessageState.FAILED
        message.last_error = f"delivery report {status}"
        _count_failure(session, message)
    session.flush()
    return True


def _count_failure(session: so.Session, message: OutboxMessage) -> None:
    if message.link_id is not None:
        poll_id = session.scalar(sa.select(Link.poll_id).where(Link.id == message.link_id))
        tallies.bump(session, poll_id, {"failed": 1})


def opt_out(session: so.Session, phone: str) -> bool:
    """Record that `phone` wants no more messages; cancels what is queued for it. False if already out."""
    if session.get(OptOut, phone) is not None:
        return False
    session.add(OptOut(phone=phone))
    session.execute(
        sa.update(OutboxMessage)
        .where(OutboxMessage.phone == phone, OutboxMessage.state == MessageState.QUEUED)
        .values(state=MessageState.CANCELLED)
    )
    session.flush()
    return True


def state_counts(session: so.Session) -> dict[str, int]:
    """How many outbox messages are in each state."""
    return dict(session.execute(sa.select(OutboxMessage.state, sa.func.count()).group_by(OutboxMessage.state)).all())


def messages_for(session: so.Session, phone: str) -> list[OutboxMessage]:
    """The messages sent to one number, oldest first (the simulated handset's inbox)."""
    return list(session.scalars(
        sa.select(OutboxMessage)
        .where(OutboxMessage.phone == phone, OutboxMessage.state.in_(
            [MessageState.SENT, MessageState.DELIVERED]))
        .order_by(OutboxMessage.id)
    ))


def dispatch_batch(session_factory, gateway: Gateway, *, batch: int, lease: timedelta, max_attempts: int,
                   dlr_url: callable, pace: callable = lambda: None) -> int:
    """Claim one batch, send it, record the results; returns how many were claimed.

    Uses a fresh session per step, so the claim is committed before any
    message leaves, and each result is committed as soon as it is known.
    """
    with session_factory() as session:
        begin_write(session)
        claimed = claim(session, batch=batch, now=utcnow(), lease=lease)
        jobs = [outgoing(message, dlr_url(message.id)) for message in claimed]
        session.commit()
    for job in jobs:
        pace()
        result = gateway.send(job)
        with session_factory() as session:
            begin_write(session)
            record(session, job.message_id, result, now=utcnow(), max_attempts=max_attempts)
            session.commit()
    return len(jobs)
