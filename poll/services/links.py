"""Personal links: one invitation, with an unguessable token, per recipient and poll."""

from __future__ import annotations

import base64
import re
import secrets
from array import array
from collections.abc import Iterator

import sqlalchemy as sa
import sqlalchemy.orm as so

from poll import variants
from poll.db import bulk_insert
from poll.errors import Invalid
from poll.models import Link, Poll, Recipient, utcnow
from poll.services import tallies

TOKEN_BYTES = 16  # 128 bits from the operating system's CSPRNG
TOKEN = re.compile(r"[A-Za-z0-9_-]{22}")


def new_tokens(count: int) -> list[str]:
    """`count` fresh link tokens, each 22 URL-safe characters carrying 128 random bits.

    One read of the operating system's CSPRNG for all of them: in bulk this is
    three times faster than calling secrets.token_urlsafe per token.
    """
    raw = secrets.token_bytes(TOKEN_BYTES * count)
    encode = base64.urlsafe_b64encode
    # 16 bytes encode to 22 characters and 2 of padding, which token_urlsafe strips too.
    return [encode(raw[i : i + TOKEN_BYTES])[:22].decode() for i in range(0, len(raw), TOKEN_BYTES)]


def is_well_formed(token: str) -> bool:
    """Whether `token` could be one of ours; saves a database look-up for garbage."""
    return TOKEN.fullmatch(token) is not None


def issue_links(session: so.Session, poll: Poll, *, batch_size: int = 20_000) -> int:
    """Give every recipient of `poll`'s audience who has no link yet a personal link.

    Set-based: the recipients without a link are read in one query into a
    compact array of ids, and their links written in bulk (`db.bulk_insert`)
    a batch at a time, so memory holds 8 bytes a recipient and one batch.
    Running it again issues only the missing links. Returns how many were
    issued. A poll with a split-ballot experiment gives each link a variant,
    balanced within each governorate, sex and age band (`variants.assign`),
    which needs every pending recipient's strata at once.
    """
    if poll.audience_id is None:
        return 0
    already = sa.select(Link.id).where(
        Link.poll_id == poll.id, Link.recipient_id == Recipient.id
    )
    experiment = variants.Experiment.from_dict(poll.experiment)
    strata = (Recipient.governorate, Recipient.sex, Recipient.age_band) if experiment else ()
    pending = (
        sa.select(Recipient.id, *strata)
        .where(Recipient.audience_id == poll.audience_id, ~already.exists())
        .order_by(Recipient.id)
    )
    issued_at = utcnow()
    issued = 0
    if experiment:
        rows = session.execute(pending).all()
        chosen = variants.assign(experiment.seed, experiment.names, [row[1:] for row in rows],
                                 salt=count_links(session, poll))
        batches = ((rows[start : start + batch_size], chosen[start : start + batch_size])
                   for start in range(0, len(rows), batch_size))
    else:
        batches = ((batch, None) for batch in _batches(session, pending, batch_size))
    for batch, variant in batches:
        columns = {"recipient_id": [row[0] for row in batch], "token": new_tokens(len(batch))}
        if variant is not None:
            columns["variant"] = variant
        bulk_insert(session, Link, columns, same={"poll_id": poll.id, "issued_at": issued_at},
                    skip_conflicts_on=("poll_id", "recipient_id"))
        issued += len(batch)
    tallies.bump(session, poll.id, {"invited": issued})
    if issued:
        tallies.set_invited_by_stratum(session, poll)
    return issued


def _batches(session: so.Session, query: sa.Select, size: int) -> Iterator[list]:
    # The pending recipients' ids read once, into 8 bytes each (320 MB for 40 million), then handed out a batch
    # at a time. Reading a batch at a time instead (keyset) let SQLite sort the whole audience for every batch.
    # Streamed (yield_per): PostgreSQL's driver otherwise holds every row as a Python tuple first, 150 bytes each.
    ids = array("q", (row[0] for row in session.execute(query, execution_options={"yield_per": size})))
    for start in range(0, len(ids), size):
        yield [(recipient_id,) for recipient_id in ids[start : start + size]]


def personal_links(session: so.Session, poll: Poll, base_url: str, *, limit: int | None = None,
                   language: str | None = None, unanswered: bool = False) -> Iterator[str]:
    """The personal link URLs of `poll`, in issue order, streamed from the database.

    `language` keeps the links whose page opens in that language (the
    recipient's, else the poll's); `unanswered` those not answered yet, which
    an anonymous poll allows only while every recipient is simulated: for
    real people it would tell who answered. Raises Invalid otherwise.
    """
    if unanswered and poll.is_anonymous and _has_real_recipients(session, poll):
        raise Invalid(f"poll {poll.slug} is anonymous and its audience holds real recipients: listing the "
                      "unanswered links would tell who answered, so --unanswered is refused")
    query = sa.select(Link.token).where(Link.poll_id == poll.id).order_by(Link.id)
    if language is not None:
        recipient_language = sa.func.coalesce(Recipient.language, poll.default_language)
        query = query.join(Recipient, Recipient.id == Link.recipient_id).where(recipient_language == language)
    if unanswered:
        query = query.where(Link.answered_on.is_(None))
    if limit is not None:
        query = query.limit(limit)
    for token in session.scalars(query.execution_options(yield_per=10_000)):
        yield link_url(base_url, token)


def _has_real_recipients(session: so.Session, poll: Poll) -> bool:
    return session.scalar(
        sa.select(sa.exists().where(Recipient.audience_id == poll.audience_id, Recipient.is_simulated.is_(False)))
    ) if poll.audience_id is not None else False


def link_url(base_url: str, token: str) -> str:
    """The URL of a personal link, built from the configured base URL."""
    return f"{base_url.rstrip('/')}/p/{token}"


def invited(session: so.Session, poll: Poll) -> int:
    """How many personal links `poll` has, from the counter issuing keeps (no count of a million rows)."""
    return tallies.counters(session, poll).get("invited", 0)


def count_links(session: so.Session, poll: Poll) -> int:
    """How many personal links `poll` has."""
    return session.scalar(sa.select(sa.func.count()).where(Link.poll_id == poll.id)) or 0
