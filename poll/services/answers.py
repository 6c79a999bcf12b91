"""Answering through a personal link: exactly one answer per link, kept apart from the link."""

from __future__ import annotations

import enum
import functools
import secrets
import weakref
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
import sqlalchemy.orm as so

from poll.db import bulk_update, insert_or_skip, skipping_insert
from poll.models import Answer, Invitation, Poll, PollStatus, Receipt, Recipient, poll_phase
from poll.services import tallies
from poll.services.invitations import is_well_formed


class Outcome(enum.StrEnum):
    RECORDED = "recorded"
    ALREADY_ANSWERED = "already-answered"
    UNKNOWN_LINK = "unknown-link"
    NOT_OPEN = "not-open"
    CLOSED = "closed"
    INVALID_OPTION = "invalid-option"


@dataclass(frozen=True)
class Choice:
    """One option as the answer form shows it and an answer records it."""

    id: int
    code: str
    label: dict[str, str]


@dataclass(frozen=True)
class Ballot:
    """What a poll asks and how its answers are kept: fixed once the poll exists."""

    poll_id: int
    question: dict[str, str]
    sender: dict[str, str]
    default_language: str
    is_anonymous: bool
    yes_no: dict[str, str]
    choices: tuple[Choice, ...]

    @classmethod
    def of(cls, poll: Poll) -> Ballot:
        return cls(
            poll.id, poll.question, poll.sender, poll.default_language, poll.is_anonymous, poll.yes_no,
            tuple(Choice(option.id, option.code, option.label) for option in poll.options),
        )

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(choice.code for choice in self.choices)

    def choice(self, code: str | None) -> Choice | None:
        """The option whose reply code is `code`."""
        return next((choice for choice in self.choices if choice.code == code), None)


@dataclass(frozen=True)
class Link:
    """A personal link as answering sees it.

    Read afresh on every request: whether the link is used and whether its poll
    is open. What the poll asks comes from `ballot`, which is loaded once per
    process.
    """

    invitation_id: int
    token: str
    status: str
    opens_at: datetime | None
    closes_at: datetime | None
    opened_on: date | None
    answered_on: date | None
    language: str | None
    strata: tuple[str | None, str | None, str | None]
    ballot: Ballot

    @property
    def poll_id(self) -> int:
        return self.ballot.poll_id

    def phase(self, now: datetime) -> str:
        return poll_phase(self.status, self.opens_at, self.closes_at, now)


def find_link(session: so.Session, token: str) -> Link | None:
    """The link whose token is `token`, None if there is none."""
    if not is_well_formed(token):
        return None
    return _link(session, _LINK_BY_TOKEN, {"token": token})


def latest_link(session: so.Session, phone: str) -> Link | None:
    """The link most recently sent to `phone` for a poll past its draft: what an SMS reply answers."""
    return _link(session, _LATEST_LINK_BY_PHONE, {"phone": phone})


_invitations = Invitation.__table__
_polls = Poll.__table__
_recipients = Recipient.__table__
# Plain columns and one row: this runs on every page view and answer.
_LINK = (
    sa.select(
        _invitations.c.id, _invitations.c.token, _polls.c.status, _polls.c.opens_at, _polls.c.closes_at,
        _invitations.c.opened_on, _invitations.c.answered_on, _recipients.c.language,
        _recipients.c.governorate, _recipients.c.sex, _recipients.c.age_band,
        _polls.c.id, _polls.c.created_at,
    )
    .join(_polls, _polls.c.id == _invitations.c.poll_id)
    .join(_recipients, _recipients.c.id == _invitations.c.recipient_id)
)
# Built once, with the values as parameters: building and keying a statement per request costs as much as running it.
_LINK_BY_TOKEN = _LINK.where(_invitations.c.token == sa.bindparam("token"))
_LATEST_LINK_BY_PHONE = (
    _LINK.where(_recipients.c.phone == sa.bindparam("phone"), _polls.c.status != PollStatus.DRAFT)
    .order_by(_invitations.c.sent_at.desc().nulls_last(), _invitations.c.id.desc())
    .limit(1)
)


def _link(session: so.Session, statement: sa.Select, params: dict) -> Link | None:
    row = session.execute(statement, params).first()
    if row is None:
        return None
    (invitation_id, token, status, opens_at, closes_at, opened_on, answered_on, language,
     governorate, sex, age_band, poll_id, created_at) = row
    return Link(
        invitation_id, token, status, opens_at, closes_at, opened_on, answered_on, language,
        (governorate, sex, age_band), _ballot(session, poll_id, created_at),
    )


# Ballots by engine, then by poll id and creation time (a deleted poll's id can come back).
# Nothing edits a poll's question or options once it exists (services.polls); if that
# changes, the key needs a version that every edit bumps.
_ballots: weakref.WeakKeyDictionary[sa.Engine, dict[tuple[int, datetime], Ballot]] = weakref.WeakKeyDictionary()


def _ballot(session: so.Session, poll_id: int, created_at: datetime) -> Ballot:
    known = _ballots.setdefault(session.get_bind(), {})
    ballot = known.get((poll_id, created_at))
    if ballot is None:
        poll = session.scalars(
            sa.select(Poll).where(Poll.id == poll_id).options(so.selectinload(Poll.options))
        ).one()
        ballot = known[(poll_id, created_at)] = Ballot.of(poll)
    return ballot


def availability(link: Link, now: datetime) -> Outcome | None:
    """Why `link` cannot take an answer at `now`, or None if it can."""
    phase = link.phase(now)
    if phase in ("draft", "scheduled"):
        return Outcome.NOT_OPEN
    if phase == "closed":
        return Outcome.CLOSED
    if link.answered_on is not None:
        return Outcome.ALREADY_ANSWERED
    return None


def record_answer(session: so.Session, link: Link, code: str | None, *, channel: str, now: datetime) -> Outcome:
    """Record the answer `code` given through `link`, once.

    The receipt insert is the guard: of any number of concurrent answers for
    one link, exactly one inserts its receipt and writes an answer; the others
    see ALREADY_ANSWERED and write nothing.
    """
    refusal = availability(link, now)
    if refusal is not None:
        return refusal
    choice = link.ballot.choice(code)
    if choice is None:
        return Outcome.INVALID_OPTION
    row = _answer_row(link.ballot, link.invitation_id, choice.id, channel, now, link.strata, secrets.randbits(63))
    opened = int(link.opened_on is None)
    if session.get_bind().dialect.name == "postgresql":
        written = _write_in_one_statement(session, link.invitation_id, row, now, opened)
    else:
        written = _write(session, link.invitation_id, row, now, opened)
    return Outcome.RECORDED if written else Outcome.ALREADY_ANSWERED


def _write(session: so.Session, invitation_id: int, row: dict, now: datetime, opened: int) -> bool:
    # Core statements, not the ORM's unit of work: this is every web and SMS answer's path.
    if not _take_receipt(session, invitation_id):
        return False
    tallies.bump(session, row["poll_id"], {"answered": 1, "opened": opened})
    session.execute(_MARK_ANSWERED, {"row_id": invitation_id, "today": now.date()})
    session.execute(_INSERT_ANSWER, row)
    tallies.count_answers(session, row["poll_id"], [_cell(row)])
    return True


def _write_in_one_statement(session: so.Session, invitation_id: int, row: dict, now: datetime, opened: int) -> bool:
    # What `_write` does, as one statement: on PostgreSQL each statement is a
    # round trip to the server, and the answer is every respondent's request.
    # Every part is conditional on the receipt, so a link's second answer
    # writes nothing here either.
    params = row | {"link": invitation_id, "today": now.date(), "opened": opened}
    return session.execute(_ANSWER_IN_ONE_STATEMENT, params).first() is not None


_ANSWER_IN_ONE_STATEMENT = sa.text("""
WITH receipt AS (
    INSERT INTO receipts (invitation_id) VALUES (:link)
    ON CONFLICT (invitation_id) DO NOTHING
    RETURNING invitation_id
), marked AS (
    UPDATE invitations SET answered_on = :today, opened_on = coalesce(opened_on, :today)
    WHERE id IN (SELECT invitation_id FROM receipt)
), counted AS (
    INSERT INTO poll_counters (poll_id, name, value)
    SELECT :poll_id, counter.name, counter.value
    FROM receipt, (VALUES ('answered', 1), ('opened', :opened)) AS counter (name, value)
    WHERE counter.value > 0
    ON CONFLICT (poll_id, name) DO UPDATE SET value = poll_counters.value + excluded.value
), by_stratum AS (
    INSERT INTO answer_tallies (poll_id, option_id, governorate, sex, age_band, channel, count)
    SELECT :poll_id, :option_id, coalesce(:governorate, ''), coalesce(:sex, ''), coalesce(:age_band, ''), :channel, 1
    FROM receipt
    ON CONFLICT (poll_id, option_id, governorate, sex, age_band, channel)
    DO UPDATE SET count = answer_tallies.count + 1
), by_hour AS (
    INSERT INTO hourly_tallies (poll_id, option_id, hour, count)
    SELECT :poll_id, :option_id, :answered_hour, 1 FROM receipt
    ON CONFLICT (poll_id, option_id, hour) DO UPDATE SET count = hourly_tallies.count + 1
)
INSERT INTO answers (id, poll_id, option_id, channel, answered_hour, governorate, sex, age_band, invitation_id)
SELECT :id, :poll_id, :option_id, :channel, :answered_hour, :governorate, :sex, :age_band, :invitation_id
FROM receipt
RETURNING id
""").bindparams(
    sa.bindparam("today", type_=Invitation.answered_on.type),
    sa.bindparam("answered_hour", type_=Answer.answered_hour.type),
    sa.bindparam("opened", type_=sa.BigInteger),
    # Typed, since they can be NULL.
    sa.bindparam("invitation_id", type_=sa.Integer),
    sa.bindparam("governorate", type_=sa.String),
    sa.bindparam("sex", type_=sa.String),
    sa.bindparam("age_band", type_=sa.String),
)


_MARK_ANSWERED = (
    sa.update(_invitations)
    .where(_invitations.c.id == sa.bindparam("row_id"))
    .values(
        answered_on=sa.bindparam("today", type_=Invitation.answered_on.type),
        opened_on=sa.func.coalesce(_invitations.c.opened_on, sa.bindparam("today", type_=Invitation.opened_on.type)),
    )
)
_INSERT_ANSWER = sa.insert(Answer.__table__)


def _take_receipt(session: so.Session, invitation_id: int) -> bool:
    # One row inserted means this answer is the link's first; none means another got there first.
    statement = _claim_statement(session.get_bind().dialect.name)
    return session.execute(statement, {"invitation_id": invitation_id}).first() is not None


@functools.cache
def _claim_statement(dialect: str) -> sa.Insert:
    return skipping_insert(dialect, Receipt, ("invitation_id",)).returning(Receipt.__table__.c.invitation_id)


def _cell(row: dict) -> tallies.Cell:
    return tallies.Cell(
        row["option_id"], row["governorate"], row["sex"], row["age_band"], row["channel"], row["answered_hour"]
    )


def _answer_row(
    ballot: Ballot, invitation_id: int, option_id: int, channel: str, answered_at: datetime,
    strata: tuple[str | None, str | None, str | None], answer_id: int,
) -> dict:
    """An answers row: what is kept of one answer, and nothing that leads back in an anonymous poll."""
    governorate, sex, age_band = strata
    return {
        # Random, so that answer ids do not follow the order of invitations or answers.
        "id": answer_id,
        "poll_id": ballot.poll_id,
        "option_id": option_id,
        "channel": channel,
        "answered_hour": answered_at.replace(minute=0, second=0, microsecond=0),
        "governorate": governorate,
        "sex": sex,
        "age_band": age_band,
        "invitation_id": None if ballot.is_anonymous else invitation_id,
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
        for invitation_id, opened_on, governorate, sex, age_band in session.execute(
            sa.select(Invitation.id, Invitation.opened_on, Recipient.governorate, Recipient.sex, Recipient.age_band)
            .join(Recipient, Recipient.id == Invitation.recipient_id)
            .where(Invitation.id.in_(chunk))
        ):
            strata[invitation_id] = (governorate, sex, age_band)
            unopened += opened_on is None
    bulk_update(session, Invitation, "id", {
        "id": [row.invitation_id for row in rows],
        "answered_on": [row.answered_at.date() for row in rows],
        "opened_on": [row.opened_at.date() for row in rows],
    })
    ids = _random_ids(len(rows))
    ballot = Ballot.of(poll)
    values = [
        _answer_row(ballot, row.invitation_id, row.option_id, channel, row.answered_at, strata[row.invitation_id],
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
