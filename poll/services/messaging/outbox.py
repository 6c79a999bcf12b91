"""The SMS outbox: compose and queue messages, claim them for sending, record what happened.

States move forward only (vocabulary.FORWARD): queued -> sending -> sent ->
delivered, or failed; cancelled for numbers that opted out. Every move is one
conditional UPDATE, so the dispatcher's record and a delivery report that
overtook it cannot undo each other. A dispatcher (sms.dispatcher) claims a
batch (on PostgreSQL with FOR UPDATE SKIP LOCKED, so many dispatchers can
share one outbox), sends, and records each answer; one that dies leaves its
claims in "sending" until their lease runs out. Each message keeps one
idempotency key for all its attempts.
"""

from __future__ import annotations

import ipaddress
import re
import string
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
import sqlalchemy.orm as so

from poll.db import bulk_insert, dialects
from poll.errors import N_, Invalid, SendRefused
from poll.i18n import LANGUAGES, pick
from poll.models import Link, OptOut, OutboxMessage, Poll, Recipient, utcnow
from poll.services.answering import tallies
from poll.services.audience import links
from poll.services.definition import polls
from poll.sms import encoding, routes
from poll.sms.gateways import Outgoing, Sent
from poll.sms.routes import Route
from poll.vocabulary import FORWARD, MessageKind, MessageState, Phase

DEFAULT_TEMPLATE = "{sender}: {question} {link}\n{options}"
# A poll with no sender text (an XLSForm sets none) would otherwise begin its message with a bare ": ".
DEFAULT_TEMPLATE_WITHOUT_SENDER = "{question} {link}\n{options}"
# Every invitation and reminder says how to stop them, in its language (the words the reply reader knows).
STOP_LINES = {
    "ar": "لإيقاف الرسائل أرسل STOP",
    "ku": "بۆ ڕاگرتنی نامەکان STOP بنێرە",
    "en": "Reply STOP to stop messages",
}
# {options}: how a phone without a browser answers, the headline's codes with short labels (sms.replies reads
# the codes in either digits, and the labels' words).
OPTIONS_LINES = {
    "ar": "أو أرسل {choices}",
    "ku": "یان بنێرە {choices}",
    "en": "Or reply {choices}",
}
CHOICE_SEPARATORS = {"ar": "، ", "ku": "، ", "en": ", "}
# A reminder says it is one, before the invitation's own words.
REMINDER_LINES = {
    "ar": "تذكير: ",
    "ku": "بیرخستنەوە: ",
    "en": "Reminder: ",
}
# A label longer than this is cut at a word: the line must stay short enough for a few segments.
SHORT_LABEL = 24
# Arabic and Kurdish readers write and read Arabic-Indic digits; the reply reader folds them to ASCII.
_ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


def template(poll: Poll, language: str) -> str:
    """The SMS template of `poll` in `language` (falling back like the page texts)."""
    if poll.sms_template:
        return pick(poll.sms_template, LANGUAGES[language])
    return DEFAULT_TEMPLATE if poll.sender else DEFAULT_TEMPLATE_WITHOUT_SENDER


def options_line(poll: Poll, language: str) -> str:
    """How to answer the headline by SMS in `language`: "Or reply 1 Yes, 2 No", codes as a phone types them.

    Labels are cut short, but never so short that two read the same.
    """
    lang = LANGUAGES[language]
    labels = [pick(option.label, lang) for option in poll.options]
    # An English line can stay GSM-7 (160 characters a segment): "..." is, "…" is not.
    ellipsis = "..." if language == "en" else "…"
    limit = SHORT_LABEL
    while True:
        short = [short_label(label, limit, ellipsis) for label in labels]
        if len(set(short)) == len(short) or limit >= max(map(len, labels), default=0):
            break
        limit += 8
    choices = []
    for option, label in zip(poll.options, short, strict=True):
        code = option.code.translate(_ARABIC_INDIC) if language != "en" and option.code.isdigit() else option.code
        choices.append(f"{code} {label}" if label else code)
    return OPTIONS_LINES[language].format(choices=CHOICE_SEPARATORS[language].join(choices))


def short_label(label: str, limit: int = SHORT_LABEL, ellipsis: str = "…") -> str:
    """`label` cut after the last whole word within `limit` characters, with `ellipsis` when cut."""
    label = " ".join(label.split())
    if len(label) <= limit:
        return label
    head = label[:limit + 1]  # a word that ends exactly at the limit is whole
    cut = head.rsplit(" ", 1)[0] if " " in head else label[:limit]
    return cut.rstrip(" ,.;:،") + ellipsis


def compose(poll: Poll, language: str, link: str, variant: str | None = None, *, reminder: bool = False) -> str:
    """The SMS text for one recipient: the poll's template filled in, then how to stop messages.

    A link in a split-ballot variant carries that variant's wording of the
    question. A reminder begins by saying it is one.
    """
    lang = LANGUAGES[language]
    text = template(poll, language)
    polls.check_sms_template(f"the {language} SMS of {poll.slug}", text)
    experiment = polls.experiment_of(poll)
    shown = experiment.variant(variant) if experiment else None
    question = shown.label if shown and shown.label else poll.question
    filled = text.format(link=link, question=pick({**poll.question, **question}, lang),
                         sender=pick(poll.sender, lang) if poll.sender else "",
                         options=options_line(poll, language)).strip()
    return f"{REMINDER_LINES[language] if reminder else ''}{filled}\n{STOP_LINES[language]}"


def sender_of(poll: Poll, default: str) -> str:
    """The sender ID `poll`'s messages carry: its own `sms_sender`, else POLL_SMS_SENDER."""
    return poll.sms_sender or default


# Gateways that put messages on real phones; the others keep them in the database or a log.
REAL_GATEWAYS = {"kannel"}


def check_send(poll: Poll, *, base_url: str, sender: str, gateway: str, now: datetime,
               allow_local_links: bool = False) -> None:
    """Raise SendRefused if sending `poll`'s messages now would harm, before anything is queued.

    Refused: a draft poll (its links lead nowhere yet); no sender ID; a
    template that names the sender where the poll has none (a bare ": "
    before the question); and, through a real gateway, links to a loopback
    or plain-http address, which phones cannot open or which travel in the
    clear (`allow_local_links`, POLL_SMS_ALLOW_LOCAL_LINKS, permits them for
    a rehearsal against a local SMSC simulator).
    """
    if poll.phase(now) == Phase.DRAFT:
        raise SendRefused(N_("Poll %(slug)s is a draft: open it (or schedule it) before sending its messages."),
                          slug=poll.slug)
    if not sender_of(poll, sender).strip():
        raise SendRefused(N_("Poll %(slug)s has no sender ID: set the poll's SMS sender or POLL_SMS_SENDER."),
                          slug=poll.slug)
    for code, language in LANGUAGES.items():
        names = {field for _text, field, _spec, _conversion in string.Formatter().parse(template(poll, code))}
        if "sender" in names and not (pick(poll.sender, language) if poll.sender else "").strip():
            raise SendRefused(N_("The %(language)s SMS of poll %(slug)s names a sender, but the poll has none: "
                                 "give the poll a sender or take {sender} out of its SMS."),
                              language=code, slug=poll.slug)
    if gateway in REAL_GATEWAYS and not allow_local_links and not _public(base_url):
        raise SendRefused(N_("Links would point to %(base_url)s, which phones cannot open safely: set the public "
                             "https address with `poll init --base-url` or POLL_BASE_URL."), base_url=base_url)


def _public(base_url: str) -> bool:
    # An https address whose host is not this machine.
    url = urllib.parse.urlsplit(base_url)
    host = (url.hostname or "").lower()
    if url.scheme != "https" or not host or host == "localhost" or host.endswith(".localhost"):
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return True
    return not (address.is_loopback or address.is_unspecified)


@dataclass
class Preview:
    language: str
    text: str
    encoding: encoding.Encoding
    recipients: int
    cost: float
    variant: str | None = None  # a split-ballot variant's wording, which the SMS carries
    reminder: bool = False  # the reminder's text: the invitation's, said to be a reminder


def preview(session: so.Session, poll: Poll, base_url: str, price_per_segment: float, *,
            reminders: bool = False) -> list[Preview]:
    """Each language's (and split-ballot variant's) message with a link of the real length, its encoding,
    segments and cost; with `reminders`, each reminder's too."""
    counts = dict(
        ((language, variant), number) for language, variant, number in session.execute(
            sa.select(Recipient.language, Link.variant, sa.func.count())
            .join(Link, Link.recipient_id == Recipient.id)
            .where(Link.poll_id == poll.id)
            .group_by(Recipient.language, Link.variant)
        )
    )
    experiment = polls.experiment_of(poll)
    sample_link = links.link_url(base_url, "x" * 22)
    out = []
    for reminder in (False, True) if reminders else (False,):
        for code in LANGUAGES:
            for variant in experiment.names if experiment else (None,):
                recipients = counts.get((code, variant), 0) + (
                    counts.get((None, variant), 0) if code == poll.default_language else 0)
                text = compose(poll, code, sample_link, variant, reminder=reminder)
                analysis = encoding.analyze(text)
                out.append(Preview(code, text, analysis, recipients,
                                   recipients * analysis.segments * price_per_segment, variant, reminder))
    return out


def longest(items: list[Preview]) -> Preview:
    """The preview that takes the most segments (then units): what the send costs per message at worst."""
    return max(items, key=lambda item: (item.encoding.segments, item.encoding.units))


def _check_length(session: so.Session, poll: Poll, base_url: str, max_segments: int, *, reminders: bool) -> None:
    for item in preview(session, poll, base_url, 0.0, reminders=reminders):
        if item.reminder != reminders:
            continue
        if item.encoding.segments > max_segments:
            raise Invalid(
                f"the {item.language} {'reminder' if item.reminder else 'SMS'}"
                f"{f' of variant {item.variant}' if item.variant else ''} takes "
                f"{item.encoding.segments} segments (limit {max_segments}): "
                "shorten the poll's sms text or raise POLL_SMS_MAX_SEGMENTS"
            )


def _lock(session: so.Session, poll: Poll) -> None:
    """Hold `poll`'s row until the transaction ends, so two sends of one poll queue one after the other.

    On PostgreSQL the second waits here, then sees what the first queued and
    queues nothing twice (its idempotency keys would collide); SQLite's
    write transaction already runs them one at a time.
    """
    session.execute(sa.select(Poll.id).where(Poll.id == poll.id).with_for_update())


QUEUE_BATCH = 20_000  # messages read and queued at a time


def queue_invitations(session: so.Session, poll: Poll, base_url: str, *, max_segments: int, sender: str,
                      gateway: str = "simulated", allow_local_links: bool = False) -> int:
    """Queue one invitation SMS per link that has none, skipping opted-out numbers; returns how many.

    The messages carry `poll`'s sender ID, or `sender` if it has none.
    Raises SendRefused for a harmful send (`check_send`), and Invalid when a
    language's message would take more than `max_segments`.
    """
    check_send(poll, base_url=base_url, sender=sender, gateway=gateway, now=utcnow(),
               allow_local_links=allow_local_links)
    _check_length(session, poll, base_url, max_segments, reminders=False)
    _lock(session, poll)
    already = sa.select(OutboxMessage.id).where(
        OutboxMessage.link_id == Link.id, OutboxMessage.kind == MessageKind.INVITATION
    )
    opted_out = sa.select(OptOut.phone).where(OptOut.phone == Recipient.phone)
    # Streamed and queued a batch at a time: a national audience's messages (tens of millions, each with its
    # text) would not fit in one process's memory at once.
    batches = session.execute(
        sa.select(Link.id, Link.token, Recipient.phone, Recipient.language, Link.variant)
        .join(Recipient, Recipient.id == Link.recipient_id)
        .where(Link.poll_id == poll.id, ~already.exists(), ~opted_out.exists())
        .order_by(Link.id),
        execution_options={"yield_per": QUEUE_BATCH},
    ).partitions()
    text = _composer(poll, base_url)
    return sum(_queue(session, [
        (link_id, MessageKind.INVITATION, phone, text(language, token, variant), f"inv-{link_id}")
        for link_id, token, phone, language, variant in rows
    ], sender=sender_of(poll, sender)) for rows in batches)


def queue_reminders(session: so.Session, poll: Poll, base_url: str, *, after: timedelta, max_reminders: int,
                    now: datetime, sender: str, gateway: str = "simulated", allow_local_links: bool = False,
                    max_segments: int | None = None) -> int:
    """Queue a reminder to each link sent at least `after` ago and not answered (in an anonymous poll, to every
    real recipient's link, answered or not), up to `max_reminders` each.

    The n-th reminder waits `after` from the previous message; opted-out
    numbers and closed polls get none. Returns how many were queued.
    Raises SendRefused for a harmful send (`check_send`), and Invalid when a
    reminder would take more than `max_segments`.
    """
    check_send(poll, base_url=base_url, sender=sender, gateway=gateway, now=now,
               allow_local_links=allow_local_links)
    if poll.phase(now) != "open":
        return 0
    if max_segments is not None:
        _check_length(session, poll, base_url, max_segments, reminders=True)
    _lock(session, poll)
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
        sa.select(Link.id, Link.token, Recipient.phone, Recipient.language, previous.c.sent, Link.variant)
        .join(Recipient, Recipient.id == Link.recipient_id)
        .join(previous, previous.c.link_id == Link.id)
        .where(
            Link.poll_id == poll.id,
            # In an anonymous poll a real person is reminded whether or not they answered: a reminder sent only
            # to those who had not (its count, its outbox row, its delivery report) would tell who had.
            sa.or_(Link.answered_on.is_(None), ~Recipient.is_simulated) if poll.is_anonymous
            else Link.answered_on.is_(None),
            previous.c.last_sent_at <= now - after,
            previous.c.sent <= max_reminders,
            ~pending.exists(),
            ~opted_out.exists(),
        )
    ).all()
    text = _composer(poll, base_url, reminder=True)
    return _queue(session, [
        (link_id, MessageKind.REMINDER, phone, text(language, token, variant), f"inv-{link_id}-r{sent}")
        for link_id, token, phone, language, sent, variant in rows
    ], sender=sender_of(poll, sender))


def _composer(poll: Poll, base_url: str, *, reminder: bool = False) -> Callable[[str | None, str, str | None], str]:
    # text(language, token, variant): each language's (and variant's) message is composed once, then each
    # recipient's link put in.
    composed: dict[tuple[str, str | None], str] = {}

    def text(language: str | None, token: str, variant: str | None) -> str:
        key = (language or poll.default_language, variant)
        if key not in composed:
            composed[key] = compose(poll, key[0], "\0", variant, reminder=reminder)
        return composed[key].replace("\0", links.link_url(base_url, token))

    return text


def _queue(session: so.Session, messages: list[tuple[int | None, str, str, str, str]], *, sender: str) -> int:
    # (link_id, kind, phone, text, idempotency_key) rows, queued in bulk from `sender`; returns how many.
    if not messages:
        return 0
    link_ids, kinds, phones, texts, keys = (list(column) for column in zip(*messages, strict=True))
    now = utcnow()
    bulk_insert(
        session, OutboxMessage,
        {"link_id": link_ids, "kind": kinds, "phone": phones, "text": texts,
         "segments": [encoding.analyze(text).segments for text in texts], "idempotency_key": keys},
        same={"state": MessageState.QUEUED, "attempts": 0, "created_at": now, "queued_at": now,
              "next_attempt_at": now, "sender": sender},
    )
    return len(messages)


def _due(now: datetime, lease: timedelta):
    # The first term says outright what the partial index ix_outbox_messages_due holds, so that both planners
    # read the messages still to send by it, not past every message delivered before them.
    return sa.and_(
        OutboxMessage.state.in_((MessageState.QUEUED, MessageState.SENDING)),
        sa.or_(
            sa.and_(OutboxMessage.state == MessageState.QUEUED, OutboxMessage.next_attempt_at <= now),
            sa.and_(OutboxMessage.state == MessageState.SENDING, OutboxMessage.claimed_at < now - lease),
        ),
    )


def _on_route(sms_routes: tuple[Route, ...], route: Route):
    # The numbers `route` takes, as LIKE patterns on the E.164 number (sms.routes.like_patterns).
    own, others = routes.like_patterns(sms_routes, route)
    taken = sa.or_(*(OutboxMessage.phone.like(pattern) for pattern in own)) if own else sa.true()
    return sa.and_(taken, *(~OutboxMessage.phone.like(pattern) for pattern in others))


def claim(session: so.Session, *, batch: int, now: datetime, lease: timedelta, horizon: timedelta,
          sms_routes: tuple[Route, ...] = (), route: Route | None = None, expire: bool = True) -> list[OutboxMessage]:
    """Take up to `batch` due messages for this dispatcher; the caller commits before sending.

    Due: queued and past their next attempt, or left in "sending" longer than
    `lease` by a dispatcher that died. Queued messages not sent within
    `horizon` of being queued fail first. Numbers that opted out are
    cancelled. On PostgreSQL rows another dispatcher holds are skipped.
    Given a `route` of `sms_routes`, only that route's numbers are taken,
    and each is marked with it (its place in the route's in-flight window).
    `expire=False` leaves the horizon to another claim of the same round.
    """
    if expire:
        _give_up(session, now - horizon, now)
    due = _due(now, lease)
    if route is not None:
        due = sa.and_(due, _on_route(sms_routes, route))
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
        if route is not None:
            message.route = route.name
        claimed.append(message)
    session.flush()
    return claimed


def has_due(session: so.Session, *, now: datetime, lease: timedelta, sms_routes: tuple[Route, ...],
            route: Route) -> bool:
    """Whether any message to a number of `route` is due (see `claim`)."""
    return session.scalar(sa.select(OutboxMessage.id).where(_due(now, lease), _on_route(sms_routes, route))
                          .limit(1)) is not None


def refuse_unrouted(session: so.Session, sms_routes: tuple[Route, ...], *, now: datetime, lease: timedelta) -> int:
    """Fail the due messages to numbers no route takes (no "*" route): they could wait for nothing; how many.

    `poll sms retry` queues them again once POLL_SMS_ROUTES has a route for them.
    """
    if not sms_routes or any(route.is_default for route in sms_routes):
        return 0
    routed = sa.or_(*(_on_route(sms_routes, route) for route in sms_routes))
    refused = session.execute(
        sa.update(OutboxMessage)
        .where(_due(now, lease), ~routed)
        .values(state=MessageState.FAILED, last_error="no SMS route takes this number's prefix (POLL_SMS_ROUTES)")
        .returning(OutboxMessage.link_id)
    ).scalars().all()
    _count_failures(session, list(refused))
    return len(refused)


def _give_up(session: so.Session, queued_before: datetime, now: datetime) -> None:
    # Fail what waited past the horizon: an outage longer than the operator allows.
    expired = session.execute(
        sa.update(OutboxMessage)
        .where(OutboxMessage.state == MessageState.QUEUED, OutboxMessage.queued_at < queued_before)
        .values(state=MessageState.FAILED, last_error=f"not sent by {now:%Y-%m-%d %H:%M} UTC: gave up")
        .returning(OutboxMessage.link_id)
    ).scalars().all()
    _count_failures(session, [link_id for link_id in expired if link_id is not None])


def outgoing(message: OutboxMessage, dlr_url: str) -> Outgoing:
    """What the gateway needs to send `message` (through its route's SMSC, if it has one)."""
    return Outgoing(message.id, message.phone, message.text, message.idempotency_key, dlr_url, message.sender,
                    smsc=message.route, segments=message.segments)


def _move(session: so.Session, message_id: int, to: MessageState, **values) -> int | None:
    """Move a message to state `to` if it is in a state that `to` may follow; its link's id, or None if it did not move.

    One conditional UPDATE, so a delivery report and the dispatcher's own
    record cannot undo each other, whatever order they come in.
    """
    moved = session.execute(
        sa.update(OutboxMessage)
        .where(OutboxMessage.id == message_id, OutboxMessage.state.in_(FORWARD[to]))
        .values(state=to, **values)
        .returning(OutboxMessage.link_id)
    ).first()
    if moved is None:
        return None
    return moved[0] if moved[0] is not None else 0


# The statements of a send's record and of a delivery report, built once: a dispatcher records a message and
# the app takes two reports for it, at hundreds a second, and building the statement cost more than running it.
_MESSAGES = OutboxMessage.__table__
_LINKS = Link.__table__
_RECORD_ACCEPTED = (
    sa.update(_MESSAGES).where(_MESSAGES.c.id == sa.bindparam("message"))
    .values(attempts=_MESSAGES.c.attempts + 1, last_error=sa.bindparam("error"),
            gateway_id=sa.func.coalesce(_MESSAGES.c.gateway_id, sa.bindparam("gateway_id")),
            state=sa.case((_MESSAGES.c.state.in_(FORWARD[MessageState.SENT]), MessageState.SENT.value),
                          else_=_MESSAGES.c.state),
            sent_at=sa.func.coalesce(_MESSAGES.c.sent_at, sa.bindparam("now")))
    .returning(_MESSAGES.c.link_id)
)
_ACK = (
    sa.update(_MESSAGES).where(_MESSAGES.c.id == sa.bindparam("message"), _MESSAGES.c.acked_at.is_(None))
    .values(acked_at=sa.bindparam("now")).returning(_MESSAGES.c.state)
)
_DELIVERED = (
    sa.update(_MESSAGES)
    .where(_MESSAGES.c.id == sa.bindparam("message"), _MESSAGES.c.state.in_(FORWARD[MessageState.DELIVERED]))
    .values(state=MessageState.DELIVERED.value, delivered_at=sa.bindparam("now"),
            sent_at=sa.func.coalesce(_MESSAGES.c.sent_at, sa.bindparam("now")))
    .returning(_MESSAGES.c.link_id)
)


def _link_first(column: str) -> sa.Update:
    # The link's `column` set to now unless it was set: the first send or delivery of its messages counts.
    return (
        sa.update(_LINKS).where(_LINKS.c.id == sa.bindparam("link"), _LINKS.c[column].is_(None))
        .values({column: sa.bindparam("now")}).returning(_LINKS.c.poll_id)
    )


_LINK_SENT = _link_first("sent_at")
_LINK_DELIVERED = _link_first("delivered_at")


def record(session: so.Session, message_id: int, result: Sent, *, now: datetime) -> None:
    """Store the gateway's answer to one claimed message (accepted or refused; an unavailable gateway is `release`d).

    Each answer counts as an attempt. A delivery report may have come first:
    then the message stays delivered (or failed) and keeps its send time.
    An accepted message is one UPDATE of its row, and one of its link's the
    first time.
    """
    if result.accepted:
        link_id = session.execute(_RECORD_ACCEPTED, {"message": message_id, "error": result.error or None,
                                                     "gateway_id": result.gateway_id, "now": now}).scalar()
        if link_id is not None:
            _link_sent(session, link_id, now)
        return
    session.execute(
        sa.update(OutboxMessage).where(OutboxMessage.id == message_id)
        .values(attempts=OutboxMessage.attempts + 1, last_error=result.error or None,
                gateway_id=sa.func.coalesce(OutboxMessage.gateway_id, result.gateway_id))
    )
    if _move(session, message_id, MessageState.FAILED) is not None:
        _count_failures(session, [_link_of(session, message_id)])
    session.flush()


def _link_sent(session: so.Session, link_id: int, now: datetime) -> None:
    # The link's send time, set once, whoever comes first (report or record), and counted then.
    poll_id = session.execute(_LINK_SENT, {"link": link_id, "now": now}).scalar()
    if poll_id is not None:
        tallies.bump(session, poll_id, {"sent": 1})


def release(session: so.Session, message_ids: list[int]) -> None:
    """Put claimed messages back in the queue without spending an attempt: the gateway did not answer for them."""
    if message_ids:
        session.execute(
            sa.update(OutboxMessage)
            .where(OutboxMessage.id.in_(message_ids), OutboxMessage.state == MessageState.SENDING)
            .values(state=MessageState.QUEUED, claimed_at=None)
        )


def renew(session: so.Session, message_ids: list[int], *, now: datetime) -> None:
    """Renew this dispatcher's claim on messages it has not sent yet, so no other takes them over."""
    if message_ids:
        session.execute(
            sa.update(OutboxMessage)
            .where(OutboxMessage.id.in_(message_ids), OutboxMessage.state == MessageState.SENDING)
            .values(claimed_at=now)
        )


def _mark_sent(session: so.Session, message_id: int, now: datetime) -> None:
    # The message's send time and its link's, each set once, whoever comes first (report or record).
    session.execute(
        sa.update(OutboxMessage).where(OutboxMessage.id == message_id, OutboxMessage.sent_at.is_(None))
        .values(sent_at=now)
    )
    link_id = _link_of(session, message_id)
    if link_id is None:
        return
    poll_id = session.scalar(
        sa.update(Link).where(Link.id == link_id, Link.sent_at.is_(None)).values(sent_at=now).returning(Link.poll_id)
    )
    if poll_id is not None:
        tallies.bump(session, poll_id, {"sent": 1})


def _exists(session: so.Session, message_id: int) -> bool:
    return session.scalar(sa.select(OutboxMessage.id).where(OutboxMessage.id == message_id)) is not None


def _link_of(session: so.Session, message_id: int) -> int | None:
    return session.scalar(sa.select(OutboxMessage.link_id).where(OutboxMessage.id == message_id))


# What an SMSC says of a number that is not in service: GSM MAP's unknownSubscriber (error 1, SMPP's "err:001"),
# or the words. Only this is evidence of a non-working number (AAPOR's "not eligible"); any other failure (the
# SMSC down, a phone switched off, a full inbox) leaves the number's eligibility unknown.
_UNKNOWN_NUMBER = re.compile(r"\berr:0*1\b|unknown subscriber|unallocated|not allocated", re.IGNORECASE)


def says_unknown_number(answer: str | None) -> bool:
    """Whether an SMSC's answer to a failed message (Kannel's %A) says the number is unknown or not allocated."""
    return bool(answer) and _UNKNOWN_NUMBER.search(answer) is not None


def delivery_report(session: so.Session, message_id: int, status: int, *, now: datetime, answer: str | None = None,
                    ) -> bool:
    """Apply a delivery report (Kannel's %d: 1 delivered, 2 failed, 16 rejected, 8 accepted by the SMSC, 4 buffered).

    Reports may come in any order, before or after the dispatcher recorded
    the send: states only move forward. `answer` is the SMSC's own words
    (Kannel's %A): a failure that says the number is unknown is counted
    apart ("failed:unknown-number"). Returns False if no such message exists.
    """
    if status == 1:
        link_id = session.execute(_DELIVERED, {"message": message_id, "now": now}).scalar()
        if link_id is None:
            return _exists(session, message_id)
        _link_sent(session, link_id, now)
        poll_id = session.execute(_LINK_DELIVERED, {"link": link_id, "now": now}).scalar()
        if poll_id is not None:
            tallies.bump(session, poll_id, {"delivered": 1})
        return True
    if status == 8:
        # The SMSC has it: it leaves its route's in-flight window (services.messaging.sms_routes).
        state = session.execute(_ACK, {"message": message_id, "now": now}).scalar()
        if state is None:  # acknowledged before (perhaps by `acknowledge`), or no such message
            state = session.scalar(sa.select(OutboxMessage.state).where(OutboxMessage.id == message_id))
            if state is None:
                return False
        if state in FORWARD[MessageState.SENT] and _move(session, message_id, MessageState.SENT) is not None:
            _mark_sent(session, message_id, now)  # the report overtook the dispatcher's record of the send
        return True
    if not _exists(session, message_id):
        return False
    if status in (2, 16):
        unknown_number = says_unknown_number(answer)
        error = f"delivery report {status}" + (f": {tallies.UNKNOWN_NUMBER_ERROR}" if unknown_number else "")
        if _move(session, message_id, MessageState.FAILED, last_error=error) is not None:
            _count_failures(session, [_link_of(session, message_id)], unknown_number=unknown_number)
    session.flush()
    return True


def acknowledge(session: so.Session, message_id: int, *, now: datetime) -> bool:
    """Apply a delivery report 8 (the SMSC has the message) in one UPDATE, if that is all it has to do.

    True: done, the message left its route's window. False: the report has
    more to do, or none (acknowledged before, no such message, or it
    overtook the dispatcher's record of the send): `delivery_report` then
    does it, and may come in a transaction of its own, after this UPDATE
    committed by itself. Most reports are the first kind, at hundreds a
    second: each is one statement, not a transaction of several.
    """
    state = session.execute(_ACK, {"message": message_id, "now": now}).scalar()
    return state is not None and state not in FORWARD[MessageState.SENT]


def _count_failures(session: so.Session, link_ids: list[int | None], *, unknown_number: bool = False) -> None:
    # Failed messages are counted per poll (the funnel's "failed"); messages without a link count nowhere.
    known = [link_id for link_id in link_ids if link_id]
    if not known:
        return
    for poll_id, number in session.execute(
        sa.select(Link.poll_id, sa.func.count()).where(Link.id.in_(known)).group_by(Link.poll_id)
    ):
        tallies.bump(session, poll_id, {"failed": number, "failed:unknown-number": number if unknown_number else 0})


def retry_failed(session: so.Session, poll: Poll, *, now: datetime, base_url: str | None = None,
                 sender: str = "", gateway: str = "simulated", allow_local_links: bool = False) -> int:
    """Queue `poll`'s failed messages again (opted-out numbers excepted), with a fresh horizon; returns how many.

    Given the `base_url` links are built from, it refuses a harmful send as
    queueing does (`check_send`).
    """
    if base_url is not None:
        check_send(poll, base_url=base_url, sender=sender, gateway=gateway, now=now,
                   allow_local_links=allow_local_links)
    _lock(session, poll)
    opted_out = sa.select(OptOut.phone).where(OptOut.phone == OutboxMessage.phone)
    link_ids = sa.select(Link.id).where(Link.poll_id == poll.id)
    retrying = (OutboxMessage.state == MessageState.FAILED, OutboxMessage.link_id.in_(link_ids), ~opted_out.exists())
    # Read before the update clears it: the errors saying a number is unknown leave their counter too.
    unknown_numbers = session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage).where(
        *retrying, tallies.is_unknown_number(OutboxMessage.last_error)))
    retried = session.execute(
        sa.update(OutboxMessage)
        .where(*retrying)
        .values(state=MessageState.QUEUED, attempts=0, last_error=None, queued_at=now, next_attempt_at=now,
                claimed_at=None)
        .returning(OutboxMessage.id)
    ).scalars().all()
    if retried:
        tallies.bump(session, poll.id, {"failed": -len(retried), "failed:unknown-number": -unknown_numbers})
    return len(retried)


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


def recipient_name(session: so.Session, phone: str) -> str | None:
    """The name kept for `phone` (simulated recipients carry one), from its newest audience."""
    attributes = session.scalar(
        sa.select(Recipient.attributes).where(Recipient.phone == phone).order_by(Recipient.id.desc()).limit(1)
    )
    return (attributes or {}).get("name")


def messages_for(session: so.Session, phone: str) -> list[OutboxMessage]:
    """The messages sent to one number, oldest first (the simulated handset's inbox).

    A reminder goes only to a link not answered yet: for a real person in an
    anonymous poll it would tell the admin looking that they had not answered
    (and its absence that they had), so those reminders are left out.
    """
    telling = (
        sa.select(Link.id)
        .join(Poll, Poll.id == Link.poll_id)
        .join(Recipient, Recipient.id == Link.recipient_id)
        .where(Link.id == OutboxMessage.link_id, Poll.is_anonymous, Recipient.is_simulated.is_(False))
    )
    return list(session.scalars(
        sa.select(OutboxMessage)
        .where(OutboxMessage.phone == phone, OutboxMessage.state.in_(
            [MessageState.SENT, MessageState.DELIVERED]))
        .where(~sa.and_(OutboxMessage.kind == MessageKind.REMINDER, telling.exists()))
        .order_by(OutboxMessage.id)
    ))
