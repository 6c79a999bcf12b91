"""Answering through a personal link: exactly one answer per link, kept apart from the link."""

from __future__ import annotations

import contextlib
import json
import secrets
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so
from sqlalchemy.dialects.postgresql import insert as postgresql_insert

from poll import iraq, questionnaire, variants
from poll.db import bulk_update, dialects
from poll.db.direct import Direct, Driver
from poll.models import Answer, Link, Poll, PollCounter, Recipient, poll_phase
from poll.questionnaire import Question
from poll.services.answering import tallies
from poll.services.audience.links import is_well_formed
from poll.services.definition.polls import experiment_of, questions_of
from poll.vocabulary import Outcome, Phase, PollStatus


@dataclass(frozen=True)
class BallotOption:
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
    options: tuple[BallotOption, ...]
    # Every question in order, the headline among them; and each question's id, by name.
    questions: tuple[Question, ...] = ()
    question_ids: dict[str, int] = field(default_factory=dict)
    # What the web layer renders once from these and keeps (the fresh form's HTML per language).
    rendered: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    slug: str = ""
    contact: dict[str, str] = field(default_factory=dict)
    experiment: variants.Experiment | None = None
    title: dict[str, str] = field(default_factory=dict)  # the form's title, if it gave one

    @classmethod
    def of(cls, poll: Poll) -> Ballot:
        return cls(
            poll.id, poll.question, poll.sender, poll.default_language, poll.is_anonymous, poll.yes_no,
            tuple(BallotOption(option.id, option.code, option.label) for option in poll.options),
            tuple(questions_of(poll)), {row.name: row.id for row in poll.questions},
            slug=poll.slug, contact=dict(poll.contact or {}), experiment=experiment_of(poll),
            title=dict(poll.title or {}),
        )

    def variant(self, name: str | None) -> variants.Variant | None:
        """The split-ballot variant called `name`, None when the poll has no experiment."""
        return self.experiment.variant(name) if self.experiment is not None else None

    def form_questions(self, variant: str | None) -> tuple[Question, ...]:
        """The questions as the form of a link in `variant` asks them."""
        shown = self.variant(variant)
        return shown.form_questions(self.questions) if shown else self.questions

    def question_text(self, variant: str | None) -> dict[str, str]:
        """The headline's wording, per language, as a link in `variant` first shows it."""
        shown = self.variant(variant)
        return shown.question_label(self.headline) if shown else self.question

    def option_label(self, variant: str | None, code: str) -> dict[str, str] | None:
        """The wording of the headline's answer `code` as a link in `variant` shows it."""
        shown = self.variant(variant)
        choices = shown.headline(self.headline).choices if shown and not shown.steps else self.headline.choices
        choice = next((choice for choice in choices if choice.code == code), None)
        return choice.label if choice else None

    def read(self, variant: str | None, posted: dict[str, list[str]]) -> questionnaire.Submission:
        """A post to the form of a link in `variant`, read as the definition's questions (two steps made one)."""
        shown = self.variant(variant)
        submission = questionnaire.read_answers(
            list(self.questions), shown.posted(self.headline, posted) if shown else posted)
        if shown and shown.step_missing(posted) and self.headline.name in submission.errors:
            submission.errors[variants.STEP] = submission.errors.pop(self.headline.name)
        return submission

    @property
    def headline(self) -> Question:
        return next(question for question in self.questions if question.is_headline)

    @property
    def follow_ups(self) -> tuple[Question, ...]:
        """The questions after the headline's answer: all but the headline."""
        return tuple(question for question in self.questions if not question.is_headline)

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(option.code for option in self.options)

    def option(self, code: str | None) -> BallotOption | None:
        """The option whose reply code is `code`."""
        return next((option for option in self.options if option.code == code), None)


@dataclass(frozen=True)
class LinkState:
    """A personal link as answering sees it.

    Read afresh on every request: whether the link is used and whether its poll
    is open. What the poll asks comes from `ballot`, which is loaded once per
    process.
    """

    link_id: int
    token: str
    status: str
    opens_at: datetime | None
    closes_at: datetime | None
    opened_on: date | None
    answered_on: date | None
    language: str | None
    strata: tuple[str | None, str | None, str | None]
    ballot: Ballot
    variant: str | None = None

    @property
    def poll_id(self) -> int:
        return self.ballot.poll_id

    def phase(self, now: datetime) -> str:
        return poll_phase(self.status, self.opens_at, self.closes_at, now)


def find_link(db: so.Session | Driver, token: str) -> LinkState | None:
    """The link whose token is `token`, None if there is none.

    `db` is a session, or the respondent's page's own connection (`Driver.checkout`).
    """
    if not is_well_formed(token):
        return None
    return _link(db, _LINK_BY_TOKEN, {"token": token})


def look(db: so.Session | Driver, token: str, now: datetime, *, a_persons_look: bool) -> LinkState | None:
    """The link whose token is `token` as a look at its page finds it (None if there is none), and, when
    `a_persons_look` and the link may take its first open (`may_record_open`), that open recorded.

    `a_persons_look` is False for what is not (a link preview, HEAD, an operator). The link is
    returned as it was before the open. Where the backend can (PostgreSQL), reading the link and recording
    its open are one statement: one round trip for the commonest request of a poll.
    """
    if not is_well_formed(token):
        return None
    driver = _driver(db)
    backend = dialects.named(driver.dialect.name)
    if a_persons_look and backend.opens_in_the_look:
        return _link(db, _LOOK_AND_OPEN, {"token": token, "today": now.date(), "now": now,
                                          "shard": backend.shard(driver)})
    link = _link(db, _LINK_BY_TOKEN, {"token": token})
    if link is not None and a_persons_look and may_record_open(link, now):
        record_open(db, link, now)
    return link


def latest_link(session: so.Session, phone: str) -> LinkState | None:
    """The link most recently sent to `phone` for a poll past its draft: what an SMS reply answers."""
    return _link(session, _LATEST_LINK_BY_PHONE, {"phone": phone})


_links = Link.__table__
_polls = Poll.__table__
_recipients = Recipient.__table__
# Plain columns and one row: this runs on every page view and answer.
_LINK = (
    sa.select(
        _links.c.id, _links.c.token, _polls.c.status, _polls.c.opens_at, _polls.c.closes_at,
        _links.c.opened_on, _links.c.answered_on, _recipients.c.language,
        _recipients.c.governorate, _recipients.c.sex, _recipients.c.age_band,
        _polls.c.id, _polls.c.created_at, _links.c.variant,
    )
    .join(_polls, _polls.c.id == _links.c.poll_id)
    .join(_recipients, _recipients.c.id == _links.c.recipient_id)
)


def _look_and_open(found: sa.Select) -> sa.Select:
    """`found` (a link's row) with its first open recorded in the same statement (PostgreSQL's data-modifying
    CTEs): the link's day set if it had none and its poll is open at :now (as `poll_phase` says), and the poll's
    "opened" counter counted, the link's row locked before the counters as an answer locks them."""
    link = found.cte("link")
    columns = list(link.c)
    link_id, status, opens_at, closes_at = columns[0], columns[2], columns[3], columns[4]
    now = sa.bindparam("now", type_=_polls.c.opens_at.type)
    opened = (
        sa.update(_links)
        .where(_links.c.id == link_id, _links.c.opened_on.is_(None),
               status != PollStatus.DRAFT, status != PollStatus.CLOSED,
               sa.or_(closes_at.is_(None), closes_at > now), sa.or_(opens_at.is_(None), opens_at <= now))
        .values(opened_on=sa.bindparam("today", type_=_links.c.opened_on.type))
        .returning(_links.c.poll_id)
        .cte("opened")
    )
    counters = PollCounter.__table__
    counted = (
        postgresql_insert(counters)
        .from_select(["poll_id", "name", "shard", "value"],
                     sa.select(opened.c.poll_id, sa.literal("opened"), sa.bindparam("shard", type_=sa.SmallInteger()),
                               sa.literal(1)))
    )
    counted = counted.on_conflict_do_update(index_elements=["poll_id", "name", "shard"],
                                            set_={"value": counters.c.value + counted.excluded.value}).cte("counted")
    return sa.select(link).add_cte(opened, counted)


# Built once, with the values as parameters: building and keying a statement per request costs as much as running it.
# Run on the driver's cursor (poll.db.direct): SQLAlchemy's execution would cost more than the query.
_LINK_BY_TOKEN = Direct(_LINK.where(_links.c.token == sa.bindparam("token")))
_LOOK_AND_OPEN = Direct(_look_and_open(_LINK.where(_links.c.token == sa.bindparam("token"))))
_LATEST_LINK_BY_PHONE = Direct(
    _LINK.where(_recipients.c.phone == sa.bindparam("phone"), _polls.c.status != PollStatus.DRAFT)
    .order_by(_links.c.sent_at.desc().nulls_last(), _links.c.id.desc())
    .limit(1)
)


def _link(db: so.Session | Driver, statement: Direct, params: dict) -> LinkState | None:
    row = statement.first(_driver(db), params)
    if row is None:
        return None
    (link_id, token, status, opens_at, closes_at, opened_on, answered_on, language,
     governorate, sex, age_band, poll_id, created_at, variant) = row
    return LinkState(
        link_id, token, status, opens_at, closes_at, opened_on, answered_on, language,
        (governorate, sex, age_band), _ballot(db, poll_id, created_at), variant,
    )


def _driver(db: so.Session | Driver) -> Driver:
    return db if isinstance(db, Driver) else Driver.of(db)


# Ballots by engine, then by poll id and creation time (a deleted poll's id can come back).
# Nothing edits a poll's question or options once it exists (services.definition.polls); if that
# changes, the key needs a version that every edit bumps.
_ballots: weakref.WeakKeyDictionary[sa.Engine, dict[tuple[int, datetime], Ballot]] = weakref.WeakKeyDictionary()


def _ballot(db: so.Session | Driver, poll_id: int, created_at: datetime) -> Ballot:
    known = _ballots.setdefault(db.engine if isinstance(db, Driver) else db.get_bind(), {})
    ballot = known.get((poll_id, created_at))
    if ballot is None:
        # Once per poll and process: a session of its own where the caller has none.
        with contextlib.nullcontext(db) if isinstance(db, so.Session) else so.Session(db.engine) as session:
            poll = session.scalars(
                sa.select(Poll).where(Poll.id == poll_id)
                .options(so.selectinload(Poll.options), so.selectinload(Poll.questions))
            ).one()
            ballot = known[(poll_id, created_at)] = Ballot.of(poll)
    return ballot


def availability(link: LinkState, now: datetime) -> Outcome | None:
    """Why `link` cannot take an answer at `now`, or None if it can."""
    return poll_refusal(link, now) or (Outcome.ALREADY_ANSWERED if link.answered_on is not None else None)


def poll_refusal(link: LinkState, now: datetime) -> Outcome | None:
    """Why no link of `link`'s poll can take an answer at `now` (not open yet, closed), or None."""
    phase = link.phase(now)
    if phase in (Phase.DRAFT, Phase.SCHEDULED):
        return Outcome.NOT_OPEN
    if phase == Phase.CLOSED:
        return Outcome.CLOSED
    return None


def shown_refusal(link: LinkState, now: datetime) -> Outcome | None:
    """What a look at `link` (not an answer) may say it cannot take; never that an anonymous poll's link was used.

    Whoever holds a list of links (an admin) could otherwise open each one and
    learn who answered. The respondent who answered and comes back sees the
    form again; only an answer posted through it is told the link was used.
    """
    refusal = availability(link, now)
    return None if refusal is Outcome.ALREADY_ANSWERED and link.ballot.is_anonymous else refusal


def record_answer(
    db: so.Session | Driver, link: LinkState, code: str | None, *, channel: str, now: datetime,
    values: Mapping[str, Any] | None = None, answer_id: int | None = None,
) -> Outcome:
    """Record the headline answer `code` given through `link`, with the `values` of the other questions, once.

    `values` are answers already read and checked (`questionnaire.read_answers`),
    by question name, the headline's among them or not. The receipt insert is
    the guard: of any number of concurrent answers for one link, exactly one
    inserts its receipt and writes an answer; the others see ALREADY_ANSWERED
    and write nothing. `answer_id` (random by default) lets an SMS conversation find its response again.
    On a session, the writes are part of its transaction; on a checked-out connection (`Driver.checkout`,
    the answer page's), they are one transaction of their own, committed here. Only a session can take a
    headline without the rest (`values` None, an SMS reply).
    An unknown `code` is INVALID_OPTION whether or not the link was used, so that a bad answer cannot
    be sent to learn it.
    """
    refusal = poll_refusal(link, now)
    if refusal is not None:
        return refusal
    option = link.ballot.option(code)
    if option is None:
        return Outcome.INVALID_OPTION
    if link.answered_on is not None:
        return Outcome.ALREADY_ANSWERED
    row = _answer_row(link.ballot, link.link_id, option.id, channel, now, link.strata,
                      answer_id if answer_id is not None else secrets.randbits(63), values, link.variant)
    driver = _driver(db)
    backend = dialects.named(driver.dialect.name)
    params = dialects.answer_params(row, link.link_id, now.date(), opened=int(link.opened_on is None),
                                    tally=_value_tally(link.ballot, row["values"]), shard=backend.shard(driver))
    written = backend.write_answer(driver, params)
    if written and row["values"] is None and link.ballot.follow_ups:
        tallies.bump(db, link.ballot.poll_id, {"partial": 1})
    return Outcome.RECORDED if written else Outcome.ALREADY_ANSWERED


def _cell(row: dict) -> tallies.Cell:
    return tallies.Cell(
        row["option_id"], row["governorate"], row["sex"], row["age_band"], row["channel"], row["answered_hour"]
    )


def _answer_row(
    ballot: Ballot, link_id: int, option_id: int, channel: str, answered_at: datetime,
    strata: tuple[str | None, str | None, str | None], answer_id: int, values: Mapping[str, Any] | None = None,
    variant: str | None = None,
) -> dict:
    """An answers row: what is kept of one answer, and nothing that leads back in an anonymous poll.

    The strata are the audience's where it has them, else what the profile
    questions were answered ("prefer not to say" is not known).
    """
    stored = stored_values(ballot, values or {})
    answered = {question.maps_to: question.stratum(stored.get(question.name))
                for question in ballot.follow_ups if question.maps_to}
    governorate, sex, age_band = (given or answered.get(stratum)
                                  for given, stratum in zip(strata, iraq.STRATA, strict=True))
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
        # None: only the headline so far (an SMS reply, the rest to follow); {} or more: the whole response.
        "values": stored if values is not None and ballot.follow_ups else None,
        "variant": variant,
        "link_id": None if ballot.is_anonymous else link_id,
    }


def stored_values(ballot: Ballot, values: Mapping[str, Any]) -> dict[str, Any]:
    """The answers to the questions after the headline as an answers row keeps them."""
    return questionnaire.stored(ballot.follow_ups, values)


def tally_values(ballot: Ballot, stored: Mapping[str, Any] | None) -> list[tuple[int, str]]:
    """The (question id, value) cells of `value_tallies` that one answer's stored values add one to."""
    return [(ballot.question_ids[name], value) for name, value in questionnaire.tally_cells(ballot.follow_ups, stored)]


def _value_tally(ballot: Ballot, stored: Mapping[str, Any] | None) -> str:
    # The cells as the answer's one statement reads them: a JSON list of [question id, value].
    return json.dumps(tally_values(ballot, stored))


@dataclass(frozen=True)
class BulkAnswer:
    link_id: int
    option_id: int
    answered_at: datetime
    opened_at: datetime
    values: Mapping[str, Any] | None = None


def record_answers_bulk(session: so.Session, poll: Poll, rows: list[BulkAnswer], *, channel: str) -> int:
    """Record many answers to `poll` at once, under the same one-answer-per-link rule.

    For the simulator and imports of SMS replies: the receipts are claimed in
    one statement, and only links whose receipt was new get an answer. Call it
    inside a write transaction (`begin_write` on SQLite). Returns how many
    answers were recorded.
    """
    claimed = dialects.of(session).claim_receipts(session, [row.link_id for row in rows])
    rows = [row for row in rows if row.link_id in claimed]
    if not rows:
        return 0
    strata, shown = {}, {}
    unopened = 0
    for chunk in _chunks([row.link_id for row in rows], 5_000):
        for link_id, opened_on, governorate, sex, age_band, variant in session.execute(
            sa.select(Link.id, Link.opened_on, Recipient.governorate, Recipient.sex, Recipient.age_band, Link.variant)
            .join(Recipient, Recipient.id == Link.recipient_id)
            .where(Link.id.in_(chunk))
        ):
            strata[link_id] = (governorate, sex, age_band)
            shown[link_id] = variant
            unopened += opened_on is None
    bulk_update(session, Link, "id", {
        "id": [row.link_id for row in rows],
        "answered_on": [row.answered_at.date() for row in rows],
        "opened_on": [row.opened_at.date() for row in rows],
    })
    ids = _random_ids(len(rows))
    ballot = Ballot.of(poll)
    values = [
        _answer_row(ballot, row.link_id, row.option_id, channel, row.answered_at, strata[row.link_id],
                    answer_id, row.values, shown[row.link_id])
        for answer_id, row in zip(ids, rows, strict=True)
    ]
    session.execute(sa.insert(Answer.__table__), values)
    partial = sum(value["values"] is None for value in values) if ballot.follow_ups else 0
    tallies.bump(session, poll.id, {"answered": len(rows), "opened": unopened, "partial": partial})
    tallies.count_answers(session, poll.id, (_cell(value) for value in values))
    tallies.count_variants(session, poll.id, ((value["variant"], value["option_id"]) for value in values
                                              if value["variant"] is not None))
    if ballot.follow_ups:
        tallies.count_values(session, poll.id, (
            (question_id, value["option_id"], cell)
            for value in values for question_id, cell in tally_values(ballot, value["values"])
        ))
    return len(rows)


def _chunks(values: list, size: int):
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _random_ids(count: int) -> list[int]:
    # Distinct random 63-bit ids: answers' ids must not follow any order.
    ids: set[int] = set()
    while len(ids) < count:
        ids.update(secrets.randbits(63) for _ in range(count - len(ids)))
    return list(ids)


def may_record_open(link: LinkState, now: datetime) -> bool:
    """Whether a person's look at `link` now is its first open of the field period: not opened yet, poll open.

    A look before the poll opens or after it closes is no contact of the poll; a link already opened (or
    answered, which opens it) keeps its first day.
    """
    return link.opened_on is None and poll_refusal(link, now) is None


def record_open(db: so.Session | Driver, link: LinkState, now: datetime) -> bool:
    """Mark `link` opened on `now`'s day unless it already was; True if this was its first open.

    The day on the link, as answering keeps it, and the "opened" counter in
    the same transaction: this is what tells a refusal (opened, left
    unanswered) from a non-contact. An open says nothing of any answer.
    `db` is a session (the statements join its transaction) or the answer
    page's own connection (`Driver.checkout`: they are one transaction of their own).
    """
    return _open_one(_driver(db), link.poll_id, link.link_id, now.date())


def record_opens(session: so.Session, poll_id: int, days: Mapping[int, date]) -> int:
    """Mark each link of `poll_id` opened on its day in `days` (link id -> day), those not opened yet; how many were.

    A conditional UPDATE (`... AND opened_on IS NULL`) per link or per day's
    chunk of links: of GETs racing each other, or a GET after an answer, only
    one marks the link and counts it. Used by the simulator, which opens many
    links at once. The answer's own write decides whether it counts
    an open from the link as locked, not as the request read it (dialects), so
    a look and an answer racing on one link count its open once.
    """
    by_day: dict[date, list[int]] = {}
    for link_id, day in days.items():
        by_day.setdefault(day, []).append(link_id)
    opened = 0
    for day, ids in sorted(by_day.items()):
        if len(ids) == 1:  # as the answer page does it
            opened += _open_one(Driver.of(session), poll_id, ids[0], day)
            continue
        chunk_opened = 0
        for chunk in _chunks(ids, 5_000):
            chunk_opened += session.execute(
                sa.update(_links).where(_links.c.id.in_(chunk), _links.c.opened_on.is_(None)).values(opened_on=day)
            ).rowcount
        tallies.bump(session, poll_id, {"opened": chunk_opened})
        opened += chunk_opened
    return opened


def _open_one(driver: Driver, poll_id: int, link_id: int, day: date) -> bool:
    # The link's day and the counter together (dialects.record_open); on the driver's cursor, as finding the link is.
    backend = dialects.named(driver.dialect.name)
    return backend.record_open(driver, {"poll_id": poll_id, "link": link_id, "today": day,
                                        "shard": backend.shard(driver)})
