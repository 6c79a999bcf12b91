"""Answering through a personal link: exactly one answer per link, kept apart from the link."""

from __future__ import annotations

import enum
import functools
import secrets
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so

from poll.db import insert_or_skip, skipping_insert
from poll.models import Answer, Invitation, Option, Poll, Receipt, Recipient
from poll.services import tallies
from poll.services.invitations import is_well_formed


class Outcome(enum.StrEnum):
    RECORDED = "recorded"
    ALREADY_ANSWERED = "already-answered"
    UNKNOWN_LINK = "unknown-link"
    NOT_OPEN = "not-open"
    CLOSED = "closed"
    INVALID_OPTION = "invalid-option"


def find_link(session: so.Session, token: str) -> Invitation | None:
    """The invitation whose token is `token`, with its poll, options and recipient; None if none."""
    if not is_well_formed(token):
        return None
    # One query for the link, its poll with the options, and the recipient: this runs on every answer.
    return (
        session.scalars(
            sa.select(Invitation)
            .where(Invitation.token == token)
            .options(
                so.joinedload(Invitation.poll).joinedload(Poll.options),
                so.joinedload(Invitation.recipient),
            )
        )
        .unique()
        .one_or_none()
    )


def availability(invitation: Invitation, now: datetime) -> Outcome | None:
    """Why `invitation` cannot take an answer at `now`, or None if it can."""
    phase = invitation.poll.phase(now)
    if phase in ("draft", "scheduled"):
        return Outcome.NOT_OPEN
    if phase == "closed":
        return Outcome.CLOSED
    if invitation.answered_at is not None:
        return Outcome.ALREADY_ANSWERED
    return None


def option_for(poll: Poll, code: str | None) -> Option | None:
    """The option of `poll` whose reply code is `code`."""
    return next((option for option in poll.options if option.code == code), None)


def record_answer(
    session: so.Session, invitation: Invitation, code: str | None, *, channel: str, now: datetime
) -> Outcome:
    """Record the answer `code` given through `invitation`, once.

    The receipt insert is the guard: of any number of concurrent answers for
    one link, exactly one inserts its receipt and writes an answer; the others
    see ALREADY_ANSWERED and write nothing.
    """
    refusal = availability(invitation, now)
    if refusal is not None:
        return refusal
    option = option_for(invitation.poll, code)
    if option is None:
        return Outcome.INVALID_OPTION
    if not _take_receipt(session, invitation):
        return Outcome.ALREADY_ANSWERED
    tallies.bump(session, invitation.poll_id, {"answered": 1, "opened": int(invitation.opened_at is None)})
    # Core statements, not the ORM's unit of work: this is every web and SMS answer's path.
    session.execute(_MARK_ANSWERED, {"row_id": invitation.id, "now": now})
    recipient = invitation.recipient
    row = _answer_row(
        invitation.poll, invitation.id, option.id, channel, now,
        (recipient.governorate, recipient.sex, recipient.age_band), secrets.randbits(63),
    )
    session.execute(_INSERT_ANSWER, row)
    tallies.count_answers(session, invitation.poll_id, [_cell(row)])
    return Outcome.RECORDED


_invitations = Invitation.__table__
_MARK_ANSWERED = (
    sa.update(_invitations)
    .where(_invitations.c.id == sa.bindparam("row_id"))
    .values(
        answered_at=sa.bindparam("now", type_=Invitation.answered_at.type),
        opened_at=sa.func.coalesce(_invitations.c.opened_at, sa.bindparam("now", type_=Invitation.opened_at.type)),
    )
)
_INSERT_ANSWER = sa.insert(Answer.__table__)


def _take_receipt(session: so.Session, invitation: Invitation) -> bool:
    # One row inserted means this answer is the link's first; none means another got there first.
    statement = _claim_statement(session.get_bind().dialect.name)
    return session.execute(statement, {"invitation_id": invitation.id}).first() is not None


@functools.cache
def _claim_statement(dialect: str) -> sa.Insert:
    return skipping_insert(dialect, Receipt, ("invitation_id",)).returning(Receipt.__table__.c.invitation_id)


def _cell(row: dict) -> tallies.Cell:
    return tallies.Cell(
        row["option_id"], row["governorate"], row["sex"], row["age_band"], row["channel"], row["answered_hour"]
    )


def _answer_row(
    poll: Poll, invitation_id: int, option_id: int, channel: str, answered_at: datetime,
    strata: tuple[str | None, str | None, str | None], answer_id: int,
) -> dict:
    """An answers row: what is kept of one answer, and nothing that leads back in an anonymous poll."""
    governorate, sex, age_band = strata
    return {
        # Random, so that answer ids do not follow the order of invitations or answers.
        "id": answer_id,
        "poll_id": poll.id,
        "option_id": option_id,
        "channel": channel,
        "answered_hour": answered_at.replace(minute=0, second=0, microsecond=0),
        "governorate": governorate,
        "sex": sex,
        "age_band": age_band,
        "invitation_id": None if poll.is_anonymous else invitation_id,
    }


@dataclass(frozen=True)
class BulkAnswer:
    invitation_id: int
    option_id: int
    answered_at: datetime
    opened_at: datetime


def record_answers_bulk(session: so.Session, poll: Poll, rows: list[BulkAnswer], *, channel: str) -> int:
    """Record many answers to `poll` at once, under the same one-answer-per-link rule.

    For the simulator and imports of SMS replies: the receipts are claimed in
    one statement, and only links whose receipt was new get an answer. Call it
    inside a write transaction (`begin_write` on SQLite). Returns how many
    answers were recorded.
    """
    claimed = _claim_receipts(session, [row.invitation_id for row in rows])
    rows = [row for row in rows if row.invitation_id in claimed]
    if not rows:
        return 0
    strata = {}
    unopened = 0
    for chunk in _chunks([row.invitation_id for row in rows], 5_000):
        strata.update(
            (invitation_id, (governorate, sex, age_band))
            for invitation_id, governorate, sex, age_band in session.execute(
                sa.select(Invitation.id, Recipient.governorate, Recipient.sex, Recipient.age_band)
                .join(Recipient, Recipient.id == Invitation.recipient_id)
                .where(Invitation.id.in_(chunk))
            )
        )
        unopened += session.scalar(
            sa.select(sa.func.count()).where(Invitation.id.in_(chunk), Invitation.opened_at.is_(None))
        )
    session.execute(
        sa.update(Invitation.__table__)
        .where(Invitation.__table__.c.id == sa.bindparam("row_id"))
        .values(answered_at=sa.bindparam("answered"), opened_at=sa.bindparam("opened")),
        [{"row_id": row.invitation_id, "answered": row.answered_at, "opened": row.opened_at} for row in rows],
    )
    ids = _random_ids(len(rows))
    values = [
        _answer_row(poll, row.invitation_id, row.option_id, channel, row.answered_at, strata[row.invitation_id],
                    answer_id)
        for answer_id, row in zip(ids, rows, strict=True)
    ]
    session.execute(_INSERT_ANSWER, values)
    tallies.bump(session, poll.id, {"answered": len(rows), "opened": unopened})
    tallies.count_answers(session, poll.id, (_cell(value) for value in values))
    return len(rows)


def _claim_receipts(session: so.Session, invitation_ids: list[int]) -> set[int]:
    # The ids whose receipt this call inserted: those links had no answer yet.
    if session.get_bind().dialect.name == "postgresql":
        claimed: set[int] = set()
        for chunk in _chunks(invitation_ids, 10_000):
            statement = (
                insert_or_skip(session, Receipt, ["invitation_id"])
                .from_select(["invitation_id"], sa.select(sa.func.unnest(sa.literal(chunk, sa.ARRAY(sa.Integer)))))
                .returning(Receipt.invitation_id)
            )
            claimed.update(session.scalars(statement))
        return claimed
    # SQLite: the transaction holds the database's write lock, so no one can
    # answer between this look-up and the insert.
    taken: set[int] = set()
    for chunk in _chunks(invitation_ids, 10_000):
        taken.update(session.scalars(sa.select(Receipt.invitation_id).where(Receipt.invitation_id.in_(chunk))))
    fresh = [invitation_id for invitation_id in dict.fromkeys(invitation_ids) if invitation_id not in taken]
    if fresh:
        session.execute(insert_or_skip(session, Receipt, ["invitation_id"]), [{"invitation_id": i} for i in fresh])
    return set(fresh)


def _chunks(values: list, size: int):
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _random_ids(count: int) -> list[int]:
    # Distinct random 63-bit ids: answers' ids must not follow any order.
    ids: set[int] = set()
    while len(ids) < count:
        ids.update(secrets.randbits(63) for _ in range(count - len(ids)))
    return list(ids)
