"""Personal links: one invitation, with an unguessable token, per recipient and poll."""

from __future__ import annotations

import base64
import re
import secrets
from array import array
from collections.abc import Iterator

import numpy as np
import sqlalchemy as sa
import sqlalchemy.orm as so

from poll import variants
from poll.db import bulk_insert
from poll.db.direct import Direct, Driver
from poll.errors import Invalid
from poll.models import Link, Poll, Recipient, utcnow
from poll.services.answering import tallies

TOKEN_BYTES = 16  # 128 bits from the operating system's CSPRNG
TOKEN = re.compile(r"[A-Za-z0-9_-]{22}")


def new_tokens(count: int) -> list[str]:
    """`count` fresh link tokens, each 22 URL-safe characters carrying 128 random bits.

    One read of the operating system's CSPRNG for all of them: in bulk this is
    three times faster than calling secrets.token_urlsafe per token.
    """
    return _encoded(secrets.token_bytes(TOKEN_BYTES * count))


def _encoded(raw: bytes) -> list[str]:
    # 16 bytes encode to 22 characters and 2 of padding, which token_urlsafe strips too. Each token's bytes
    # padded with two zero bytes to 18, a multiple of 3, encode to the same 22 characters and "AA": one pass of
    # base64 over all of them, then each token is cut from its place.
    tokens = np.zeros((len(raw) // TOKEN_BYTES, _PADDED), np.uint8)
    tokens[:, :TOKEN_BYTES] = np.frombuffer(raw, np.uint8).reshape(-1, TOKEN_BYTES)
    text = base64.urlsafe_b64encode(tokens.tobytes()).decode()
    step = _PADDED // 3 * 4
    return [text[start : start + 22] for start in range(0, len(text), step)]


_PADDED = 18


def is_well_formed(token: str) -> bool:
    """Whether `token` could be one of ours; saves a database look-up for garbage."""
    return TOKEN.fullmatch(token) is not None


def issue_links(session: so.Session, poll: Poll, *, batch_size: int = 20_000) -> int:
    """Give every recipient of `poll`'s audience who has no link yet a personal link.

    Set-based: the recipients without a link are read in one query, on the
    driver's cursor, into a compact array of ids, and their links written in
    bulk (`db.bulk_insert`) a batch at a time, so memory holds 8 bytes a
    recipient and one batch. Running it again issues only the missing links.
    Returns how many were issued. A poll with a split-ballot experiment gives
    each link a variant, balanced within each governorate, sex and age band
    (`variants.assign`), which needs every pending recipient's strata at once.
    """
    if poll.audience_id is None:
        return 0
    experiment = variants.Experiment.from_dict(poll.experiment)
    params = {"audience": poll.audience_id, "poll": poll.id}
    chosen = None
    if experiment:
        rows = _PENDING_WITH_STRATA.rows(Driver.of(session), params)
        ids = array("q", (row[0] for row in rows))
        chosen = variants.assign(experiment.seed, experiment.names, [row[1:] for row in rows],
                                 salt=count_links(session, poll))
    else:
        # 8 bytes a recipient (320 MB for 40 million). Reading a batch at a time instead (keyset) let SQLite sort
        # the whole audience for every batch.
        ids = array("q", (row[0] for row in _PENDING.each(Driver.of(session), params)))
    issued_at = utcnow()
    for start in range(0, len(ids), batch_size):
        columns = {"recipient_id": ids[start : start + batch_size].tolist()}
        columns["token"] = new_tokens(len(columns["recipient_id"]))
        if chosen is not None:
            columns["variant"] = chosen[start : start + batch_size]
        bulk_insert(session, Link, columns, same={"poll_id": poll.id, "issued_at": issued_at},
                    skip_conflicts_on=("poll_id", "recipient_id"))
    tallies.bump(session, poll.id, {"invited": len(ids)})
    if ids:
        tallies.set_invited_by_stratum(session, poll)
    return len(ids)


_recipients = Recipient.__table__
_links = Link.__table__
# The recipients of an audience who have no link to a poll yet (with their strata, for an experiment's variants).
# Run on the driver's cursor (poll.db.direct): SQLAlchemy's rows cost more than reading a million of them.
_WITHOUT_LINK = (
    _recipients.c.audience_id == sa.bindparam("audience"),
    ~sa.exists().where(_links.c.poll_id == sa.bindparam("poll"), _links.c.recipient_id == _recipients.c.id),
)
_PENDING = Direct(sa.select(_recipients.c.id).where(*_WITHOUT_LINK).order_by(_recipients.c.id))
_PENDING_WITH_STRATA = Direct(
    sa.select(_recipients.c.id, _recipients.c.governorate, _recipients.c.sex, _recipients.c.age_band)
    .where(*_WITHOUT_LINK).order_by(_recipients.c.id)
)


def pending(session: so.Session, poll: Poll) -> int:
    """How many recipients of `poll`'s audience have no link yet: what `issue_links` would issue."""
    if poll.audience_id is None:
        return 0
    counted = sa.select(sa.func.count()).select_from(_PENDING.statement.order_by(None).subquery())
    return session.scalar(counted, {"audience": poll.audience_id, "poll": poll.id}) or 0


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
