"""The schema: polls and their options, audiences of recipients, personal links, answers.

Constraints that protect data live here, not in code: one invitation per
recipient and poll, one phone per audience, one receipt (so one answer) per
link. Times are UTC.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from poll.vocabulary import (
    REFUSALS,
    Channel,
    JobState,
    MessageKind,
    MessageState,
    Outcome,
    Phase,
    PollStatus,
    QuestionType,
    Role,
    SessionKind,
    SmsOutcome,
)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class UTCDateTime(sa.TypeDecorator):
    """A timestamp stored as naive UTC on every backend and read back timezone-aware."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is not None:
            value = value.replace(tzinfo=UTC)
        return value


def one_of(column: str, vocabulary: Iterable[enum.StrEnum], name: str | None = None) -> sa.CheckConstraint:
    """A CHECK that `column` holds one of `vocabulary`'s values (an enum, or some of its members)."""
    values = ", ".join(f"'{member.value}'" for member in vocabulary)
    return sa.CheckConstraint(f"{column} IN ({values})", name=name or column)


# Random 63-bit ids for answers; a plain INTEGER on SQLite so it is the rowid.
RandomId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class Base(so.DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: sa.JSON(), dict[str, str]: sa.JSON()}




def poll_phase(status: str, opens_at: datetime | None, closes_at: datetime | None, now: datetime) -> Phase:
    """A poll's phase at `now` from its status and schedule: see `Poll.phase`."""
    if status == PollStatus.DRAFT:
        return Phase.DRAFT
    if status == PollStatus.CLOSED or (closes_at is not None and now >= closes_at):
        return Phase.CLOSED
    if opens_at is not None and now < opens_at:
        return Phase.SCHEDULED
    return Phase.OPEN


class Poll(Base):
    __tablename__ = "polls"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    slug: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    # Text per language code ("ar", "ku", "en").
    question: so.Mapped[dict[str, str]]
    sender: so.Mapped[dict[str, str]]
    default_language: so.Mapped[str] = so.mapped_column(sa.String(4), default="ar")
    status: so.Mapped[str] = so.mapped_column(sa.String(8), default=PollStatus.DRAFT)
    opens_at: so.Mapped[datetime | None]
    closes_at: so.Mapped[datetime | None]
    is_anonymous: so.Mapped[bool] = so.mapped_column(default=True)
    # SMS text per language with a {link} placeholder; empty: "{sender}: {question} {link}".
    sms_template: so.Mapped[dict[str, str]] = so.mapped_column(default=dict)
    # The sender ID its messages carry (alphanumeric, up to 11 characters, or a number); None: POLL_SMS_SENDER.
    sms_sender: so.Mapped[str | None] = so.mapped_column(sa.String(16))
    # An XLSForm's form_title (per language) and version, kept as its author wrote them.
    title: so.Mapped[dict | None] = so.mapped_column(sa.JSON)
    form_version: so.Mapped[str | None] = so.mapped_column(sa.String(64))
    # Option codes that an SMS "yes" or "no" stands for, e.g. {"yes": "1", "no": "2"}.
    yes_no: so.Mapped[dict[str, str]] = so.mapped_column(default=dict)
    # Whom respondents may contact about the poll, per language (shown after they answer); may be empty.
    contact: so.Mapped[dict[str, str]] = so.mapped_column(default=dict, server_default="{}")
    # A split-ballot experiment: its seed and the variants of the headline (`variants.Experiment`); None: none.
    experiment: so.Mapped[dict[str, Any] | None]
    # The public figures' differential-privacy budget: the total privacy loss over every public release, and how
    # many releases (interim and final) it is shared by (`services.releases.release`).
    epsilon_total: so.Mapped[float] = so.mapped_column(sa.Float(), default=1.0, server_default="1.0")
    release_limit: so.Mapped[int] = so.mapped_column(default=2, server_default="2")
    audience_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("audiences.id"))
    created_at: so.Mapped[datetime] = so.mapped_column(default=utcnow)
    # Days after closing when its recipients' contact data are destroyed (`services.audience.retention`); None:
    # POLL_RETENTION_DAYS. And when they were: the methodology statement says so.
    retention_days: so.Mapped[int | None]
    contacts_purged_at: so.Mapped[datetime | None]

    options: so.Mapped[list[Option]] = so.relationship(
        back_populates="poll", order_by="Option.position", cascade="all, delete-orphan"
    )
    questions: so.Mapped[list[PollQuestion]] = so.relationship(
        back_populates="poll", order_by="PollQuestion.position", cascade="all, delete-orphan"
    )
    audience: so.Mapped[Audience | None] = so.relationship()

    __table_args__ = (
        one_of("status", PollStatus),
    )

    def phase(self, now: datetime) -> Phase:
        """Where the poll is at `now`: draft, scheduled (open from a later time), open or closed."""
        return poll_phase(self.status, self.opens_at, self.closes_at, now)

    def __repr__(self) -> str:
        return f"<Poll {self.slug} {self.status}>"


class Option(Base):
    """A choice of the poll's headline question: answers and their tallies refer to it."""

    __tablename__ = "options"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    poll_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("polls.id", ondelete="CASCADE"))
    # What the form posts and what an SMS reply says: "1", "2", "3".
    code: so.Mapped[str] = so.mapped_column(sa.String(32))
    position: so.Mapped[int]
    label: so.Mapped[dict[str, str]]

    poll: so.Mapped[Poll] = so.relationship(back_populates="options")

    __table_args__ = (sa.UniqueConstraint("poll_id", "code"),)

    def __repr__(self) -> str:
        return f"<Option {self.code}>"


class PollQuestion(Base):
    """One question of a poll's questionnaire, as defined (`poll.questionnaire`); fixed once the poll exists.

    The headline's choices are the poll's options (answers refer to them);
    every other question keeps its choices here, as code and labels.
    """

    __tablename__ = "questions"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    poll_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("polls.id", ondelete="CASCADE"))
    position: so.Mapped[int]
    name: so.Mapped[str] = so.mapped_column(sa.String(32))
    type: so.Mapped[str] = so.mapped_column(sa.String(16))
    role: so.Mapped[str | None] = so.mapped_column(sa.String(8))
    maps_to: so.Mapped[str | None] = so.mapped_column(sa.String(16))
    required: so.Mapped[bool]
    # A condition on earlier answers (`poll.conditions`); None: always asked.
    relevant: so.Mapped[str | None] = so.mapped_column(sa.String(500))
    label: so.Mapped[dict[str, str]]
    hint: so.Mapped[dict[str, str]] = so.mapped_column(default=dict)
    # [{"code": ..., "label": {...}}] in order; empty for the headline, whose choices are the options.
    choices: so.Mapped[list[dict[str, Any]]] = so.mapped_column(sa.JSON, default=list)
    minimum: so.Mapped[int | None]
    maximum: so.Mapped[int | None]
    max_length: so.Mapped[int | None]
    # Its choices are shown in an order drawn from each link (a form's `randomize`), kept on a reload.
    randomize: so.Mapped[bool] = so.mapped_column(default=False, server_default=sa.false())

    poll: so.Mapped[Poll] = so.relationship(back_populates="questions")

    __table_args__ = (
        sa.UniqueConstraint("poll_id", "name"),
        sa.UniqueConstraint("poll_id", "position"),
        one_of("type", QuestionType),
    )

    def __repr__(self) -> str:
        return f"<PollQuestion {self.name}>"


class Audience(Base):
    __tablename__ = "audiences"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    created_at: so.Mapped[datetime] = so.mapped_column(default=utcnow)

    def __repr__(self) -> str:
        return f"<Audience {self.name}>"


class Recipient(Base):
    __tablename__ = "recipients"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    audience_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("audiences.id", ondelete="CASCADE"))
    # E.164, e.g. +9647701234567. Indexed: an incoming SMS finds its link by the number.
    phone: so.Mapped[str] = so.mapped_column(sa.String(16), index=True)
    # ISO 3166-2:IQ code, e.g. IQ-BG.
    governorate: so.Mapped[str | None] = so.mapped_column(sa.String(8))
    sex: so.Mapped[str | None] = so.mapped_column(sa.String(1))
    age: so.Mapped[int | None] = so.mapped_column(sa.SmallInteger)
    age_band: so.Mapped[str | None] = so.mapped_column(sa.String(8))
    language: so.Mapped[str | None] = so.mapped_column(sa.String(4))
    # Columns of the imported file that the schema has no place for.
    attributes: so.Mapped[dict[str, Any] | None]
    # Made by the simulator: a simulation may clear it without asking.
    is_simulated: so.Mapped[bool] = so.mapped_column(default=False, server_default=sa.false())

    __table_args__ = (
        sa.UniqueConstraint("audience_id", "phone"),
        sa.CheckConstraint("sex IN ('M', 'F')", name="sex"),
    )

    def __repr__(self) -> str:
        return f"<Recipient {self.id}>"


class Link(Base):
    """A personal link: one per recipient and poll, its token the capability to answer."""

    __tablename__ = "links"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    poll_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("polls.id", ondelete="CASCADE"))
    recipient_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("recipients.id", ondelete="CASCADE"))
    token: so.Mapped[str] = so.mapped_column(sa.String(32), unique=True)
    issued_at: so.Mapped[datetime]
    sent_at: so.Mapped[datetime | None]
    delivered_at: so.Mapped[datetime | None]
    # Days (UTC), not times: a time beside a phone number could be matched to an
    # answer's time. The day is all reminders and the funnel need.
    opened_on: so.Mapped[date | None]
    answered_on: so.Mapped[date | None]
    # The split-ballot variant the link shows (`variants.assign`); None when the poll has no experiment.
    variant: so.Mapped[str | None] = so.mapped_column(sa.String(16))

    poll: so.Mapped[Poll] = so.relationship()
    recipient: so.Mapped[Recipient] = so.relationship()

    __table_args__ = (sa.UniqueConstraint("poll_id", "recipient_id"),
                      # The first and last invitation sent, found without reading every link.
                      sa.Index("ix_links_poll_id_sent_at", "poll_id", "sent_at"))

    def __repr__(self) -> str:
        return f"<Link {self.id}>"


class Receipt(Base):
    """Proof that a link has been used; its primary key is the one-answer-per-link rule.

    It is written in the same transaction as the answer, with
    INSERT ... ON CONFLICT DO NOTHING, so a second answer through the same link
    inserts nothing and the answer is not written.
    """

    __tablename__ = "receipts"

    link_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("links.id", ondelete="CASCADE"), primary_key=True
    )

    def __repr__(self) -> str:
        return f"<Receipt {self.link_id}>"


class Answer(Base):
    """One respondent's choice, kept apart from who gave it.

    In an anonymous poll nothing here leads back to the invitation: the id is
    random (not in answering order), the time is cut to the hour, and only the
    respondent's strata are kept for breakdowns and weighting.
    """

    __tablename__ = "answers"

    id: so.Mapped[int] = so.mapped_column(RandomId, primary_key=True, autoincrement=False)
    poll_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("polls.id", ondelete="CASCADE"))
    option_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("options.id", ondelete="CASCADE"))
    channel: so.Mapped[str] = so.mapped_column(sa.String(8))
    answered_hour: so.Mapped[datetime]
    governorate: so.Mapped[str | None] = so.mapped_column(sa.String(8))
    sex: so.Mapped[str | None] = so.mapped_column(sa.String(1))
    age_band: so.Mapped[str | None] = so.mapped_column(sa.String(8))
    # The answers to the questions after the headline, by name: a code, a list of
    # codes, a number or a text. None for a one-question poll.
    values: so.Mapped[dict[str, Any] | None]
    # The split-ballot variant the respondent was shown; None without an experiment.
    variant: so.Mapped[str | None] = so.mapped_column(sa.String(16))
    # Only for polls that are not anonymous.
    link_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("links.id", ondelete="SET NULL"), unique=True
    )

    __table_args__ = (
        sa.Index("ix_answers_poll_id_option_id", "poll_id", "option_id"),
        one_of("channel", Channel),
    )

    def __repr__(self) -> str:
        return f"<Answer {self.id}>"



class Refusal(Base):
    """An answer attempt that was turned away: append-only, and without the token tried."""

    __tablename__ = "refusals"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    # NULL when the link was unknown: a guessed token names no poll.
    poll_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("polls.id", ondelete="CASCADE"), index=True)
    kind: so.Mapped[str] = so.mapped_column(sa.String(16))
    channel: so.Mapped[str] = so.mapped_column(sa.String(8))
    occurred_at: so.Mapped[datetime]

    __table_args__ = (one_of("kind", REFUSALS), one_of("channel", Channel))

    def __repr__(self) -> str:
        return f"<Refusal {self.kind}>"


class SimulationRun(Base):
    """A simulation of a poll: its parameters and seed, and the population's true answers."""

    __tablename__ = "simulation_runs"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    poll_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("polls.id", ondelete="CASCADE"), index=True)
    scenario: so.Mapped[str] = so.mapped_column(sa.String(64))
    mode: so.Mapped[str] = so.mapped_column(sa.String(16))
    seed: so.Mapped[int] = so.mapped_column(sa.BigInteger)
    population_size: so.Mapped[int]
    sample_size: so.Mapped[int]
    # The scenario's values, and anything else the run was given.
    parameters: so.Mapped[dict[str, Any]]
    # True shares per option code: {"overall": {...}, "governorate": {code: {...}}, "sex": ..., "age_band": ...}
    truth: so.Mapped[dict[str, Any]]
    # The population's shares on each weighting margin: {"governorate": {code: share}, "sex": ..., "age_band": ...}
    margins: so.Mapped[dict[str, Any]]
    # Figures only the simulator knows, such as what an open link would have counted.
    extras: so.Mapped[dict[str, Any]]
    started_at: so.Mapped[datetime]
    created_at: so.Mapped[datetime] = so.mapped_column(default=utcnow)

    def __repr__(self) -> str:
        return f"<SimulationRun {self.id} {self.scenario}>"



class Operator(Base):
    """Someone who logs in: an admin manages polls and operators, a viewer only looks."""

    __tablename__ = "operators"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    password_hash: so.Mapped[str] = so.mapped_column(sa.String(256))
    role: so.Mapped[str] = so.mapped_column(sa.String(8))
    # A disabled operator cannot log in, and every session and token of theirs is revoked.
    is_disabled: so.Mapped[bool] = so.mapped_column(default=False, server_default=sa.false())
    created_at: so.Mapped[datetime] = so.mapped_column(default=utcnow)
    last_login_at: so.Mapped[datetime | None]

    __table_args__ = (one_of("role", Role),)

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    def __repr__(self) -> str:
        return f"<Operator {self.name} {self.role}>"


class AuditEvent(Base):
    """An append-only record of who did what: operator actions and logins."""

    __tablename__ = "audit_events"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    occurred_at: so.Mapped[datetime] = so.mapped_column(default=utcnow)
    # NULL for the command line and for failed logins by unknown names.
    operator_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("operators.id", ondelete="SET NULL"))
    # The operator's name when it happened: kept after the operator is deleted.
    actor: so.Mapped[str] = so.mapped_column(sa.String(64), default="", server_default="")
    action: so.Mapped[str] = so.mapped_column(sa.String(32))
    subject: so.Mapped[str] = so.mapped_column(sa.String(128), default="")
    detail: so.Mapped[dict[str, Any]] = so.mapped_column(default=dict)

    operator: so.Mapped[Operator | None] = so.relationship()

    __table_args__ = (sa.Index("ix_audit_events_occurred_at", "occurred_at"),
                      sa.Index("ix_audit_events_subject_action", "subject", "action"))

    def __repr__(self) -> str:
        return f"<AuditEvent {self.action} {self.subject}>"



class OperatorSession(Base):
    """A logged-in browser or an API token: revocable on the server, whatever the client keeps.

    Only a SHA-256 digest of the secret is stored; the browser holds the
    secret in its signed session cookie, a script in its Authorization header.
    """

    __tablename__ = "operator_sessions"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    operator_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("operators.id", ondelete="CASCADE"), index=True)
    kind: so.Mapped[str] = so.mapped_column(sa.String(8))
    secret_digest: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    created_at: so.Mapped[datetime] = so.mapped_column(default=utcnow)
    last_seen_at: so.Mapped[datetime] = so.mapped_column(default=utcnow)
    # None for API tokens, which last until revoked.
    expires_at: so.Mapped[datetime | None]
    revoked_at: so.Mapped[datetime | None]

    __table_args__ = (one_of("kind", SessionKind),)

    def __repr__(self) -> str:
        return f"<OperatorSession {self.id} {self.kind}>"


# Counters and tallies that every answer adds to are kept in this many rows each (their `shard`), summed when read.
# On PostgreSQL each connection adds to its own shard (dialects.shard): a row an answer updates stays locked
# until its commit is on disk, so one row per count made concurrent answers take turns. Other writers (bulk
# loads, refusals, corrections) use shard 0.
TALLY_SHARDS = 16


def _shard() -> so.MappedColumn[int]:
    return so.mapped_column(sa.SmallInteger, primary_key=True, default=0, server_default="0")


class PollCounter(Base):
    """A running count kept in the same transaction as what it counts (links sent, answers, refusals...).

    Results read these instead of counting every row, so they stay as fast at
    a million answers as at ten thousand; `services.answering.tallies.recount` proves
    they equal a recount.
    """

    __tablename__ = "poll_counters"

    poll_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("polls.id", ondelete="CASCADE"), primary_key=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(32), primary_key=True)
    shard: so.Mapped[int] = _shard()
    value: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=0)


class ServerCounter(Base):
    """A running count that belongs to no poll, such as attempts through links that do not exist."""

    __tablename__ = "server_counters"

    name: so.Mapped[str] = so.mapped_column(sa.String(32), primary_key=True)
    value: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=0)


class AnswerTally(Base):
    """Answers counted by option, stratum and channel, kept in the answering transaction.

    Unknown strata are stored as "" (not NULL) so that each cell is one row.
    At most options x 19 x 3 x 5 x 2 rows a poll, however many answers.
    """

    __tablename__ = "answer_tallies"

    poll_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("polls.id", ondelete="CASCADE"), primary_key=True)
    option_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("options.id", ondelete="CASCADE"), primary_key=True)
    governorate: so.Mapped[str] = so.mapped_column(sa.String(8), primary_key=True)
    sex: so.Mapped[str] = so.mapped_column(sa.String(1), primary_key=True)
    age_band: so.Mapped[str] = so.mapped_column(sa.String(8), primary_key=True)
    channel: so.Mapped[str] = so.mapped_column(sa.String(8), primary_key=True)
    shard: so.Mapped[int] = _shard()
    count: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=0)


class VariantTally(Base):
    """Headline answers counted by split-ballot variant and option, kept in the answering transaction."""

    __tablename__ = "variant_tallies"

    poll_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("polls.id", ondelete="CASCADE"), primary_key=True)
    variant: so.Mapped[str] = so.mapped_column(sa.String(16), primary_key=True)
    option_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("options.id", ondelete="CASCADE"), primary_key=True)
    shard: so.Mapped[int] = _shard()
    count: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=0)


class ValueTally(Base):
    """Answers to the questions after the headline, counted by question, value and headline option.

    `value` is a choice's code or an integer as text; "" counts everyone who
    answered the question (a multiple choice adds a row per code chosen).
    Kept in the answering transaction; the headline option makes every
    question's crossing with the headline a read of this table.
    """

    __tablename__ = "value_tallies"

    poll_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("polls.id", ondelete="CASCADE"), primary_key=True)
    question_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("questions.id", ondelete="CASCADE"), primary_key=True
    )
    option_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("options.id", ondelete="CASCADE"), primary_key=True)
    value: so.Mapped[str] = so.mapped_column(sa.String(32), primary_key=True)
    shard: so.Mapped[int] = _shard()
    count: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=0)


class HourlyTally(Base):
    """Answers counted by option and hour, for answers over time."""

    __tablename__ = "hourly_tallies"

    poll_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("polls.id", ondelete="CASCADE"), primary_key=True)
    option_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("options.id", ondelete="CASCADE"), primary_key=True)
    hour: so.Mapped[datetime] = so.mapped_column(primary_key=True)
    shard: so.Mapped[int] = _shard()
    count: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=0)



class OutboxMessage(Base):
    """An SMS to send: queued, claimed by one dispatcher, sent once, then delivered or failed.

    `attempts` counts the gateway's answers (accepted or refused), never the
    times it could not be reached.
    """

    __tablename__ = "outbox_messages"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    link_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("links.id", ondelete="CASCADE"), index=True
    )
    kind: so.Mapped[str] = so.mapped_column(sa.String(16))
    phone: so.Mapped[str] = so.mapped_column(sa.String(16), index=True)
    text: so.Mapped[str] = so.mapped_column(sa.Text)
    segments: so.Mapped[int]
    # The sender ID it carries (the poll's sms_sender, else POLL_SMS_SENDER); None for rows from before.
    sender: so.Mapped[str | None] = so.mapped_column(sa.String(16))
    state: so.Mapped[str] = so.mapped_column(sa.String(10), default=MessageState.QUEUED)
    attempts: so.Mapped[int] = so.mapped_column(default=0)
    # Given to the gateway with every attempt, so a retried send can be recognised.
    idempotency_key: so.Mapped[str] = so.mapped_column(sa.String(48), unique=True)
    gateway_id: so.Mapped[str | None] = so.mapped_column(sa.String(64))
    last_error: so.Mapped[str | None] = so.mapped_column(sa.String(200))
    created_at: so.Mapped[datetime] = so.mapped_column(default=utcnow)
    # When it was (last) put in the queue: the dispatcher gives up POLL_SMS_GIVE_UP_HOURS later.
    queued_at: so.Mapped[datetime] = so.mapped_column(default=utcnow)
    next_attempt_at: so.Mapped[datetime] = so.mapped_column(default=utcnow)
    claimed_at: so.Mapped[datetime | None]
    sent_at: so.Mapped[datetime | None]
    delivered_at: so.Mapped[datetime | None]
    # The SMS route (sms.routes) a dispatcher claimed it for; None without POLL_SMS_ROUTES.
    route: so.Mapped[str | None] = so.mapped_column(sa.String(32))
    # When the SMSC acknowledged it (Kannel's delivery report 8): from claim until then it is in flight.
    acked_at: so.Mapped[datetime | None]

    __table_args__ = (
        sa.Index("ix_outbox_messages_state_next_attempt_at", "state", "next_attempt_at"),
        # The horizon's give-up (services.messaging.outbox) reads the queued messages past it, not every one queued:
        # with a million queued, each claim spent half a second there, holding its route.
        sa.Index("ix_outbox_messages_state_queued_at", "state", "queued_at"),
        # The in-flight window (services.messaging.sms_routes.in_flight) counts these few rows, not the sent millions.
        # A claim reads the messages still to send in id order: without this, each claim walked past every
        # message already delivered, and a national send slowed as it went (80 a second at 130,000 delivered).
        sa.Index("ix_outbox_messages_due", "id", postgresql_where=sa.text("state IN ('queued', 'sending')"),
                 sqlite_where=sa.text("state IN ('queued', 'sending')")),
        sa.Index("ix_outbox_messages_in_flight", "route", "claimed_at",
                 postgresql_where=sa.text("route IS NOT NULL AND acked_at IS NULL AND state IN ('sending', 'sent')"),
                 sqlite_where=sa.text("route IS NOT NULL AND acked_at IS NULL AND state IN ('sending', 'sent')")),
        one_of("kind", MessageKind),
        one_of("state", MessageState),
    )

    def __repr__(self) -> str:
        return f"<OutboxMessage {self.id} {self.state}>"


class SmsRoute(Base):
    """The shared speed budget of one SMS route: a token bucket in segments, which every dispatcher draws on.

    Taking from it locks its row (services.messaging.sms_routes.take_many), so
    however many dispatchers send, the route's segments a second stay
    within its cap.
    """

    __tablename__ = "sms_routes"

    name: so.Mapped[str] = so.mapped_column(sa.String(32), primary_key=True)
    tokens: so.Mapped[float] = so.mapped_column(sa.Float, default=0.0)
    # Unix seconds (a float, so both databases do the bucket's arithmetic alike) of the last refill.
    refilled_at: so.Mapped[float] = so.mapped_column(sa.Float, default=0.0)


class InboundMessage(Base):
    """An SMS received through the gateway, kept once per gateway message id (retries deduplicate)."""

    __tablename__ = "inbound_messages"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    gateway_id: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    # Both None for a reply to an anonymous poll: the number beside the text would be the answer.
    phone: so.Mapped[str | None] = so.mapped_column(sa.String(32))
    text: so.Mapped[str | None] = so.mapped_column(sa.String(480))
    outcome: so.Mapped[str] = so.mapped_column(sa.String(20))
    reply: so.Mapped[str] = so.mapped_column(sa.String(480), default="")
    received_at: so.Mapped[datetime] = so.mapped_column(default=utcnow)

    __table_args__ = (one_of("outcome", [*Outcome, *SmsOutcome]),)


class SmsConversation(Base):
    """The questions after the headline, asked by SMS one at a time, while a phone answers them.

    It lives from the headline's reply until the last question, STOP, or
    POLL_SMS_SESSION_HOURS of silence; then it is deleted, and only the
    response (`Answer`) stays, with nothing beside it that names the phone.
    While it lives it must find the phone's response again, so it holds the
    answer's id, but never the number itself: only a keyed digest of it
    (HMAC-SHA256 under the app's secret key).
    """

    __tablename__ = "sms_conversations"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    phone_digest: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    poll_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("polls.id", ondelete="CASCADE"))
    answer_id: so.Mapped[int] = so.mapped_column(RandomId, sa.ForeignKey("answers.id", ondelete="CASCADE"))
    language: so.Mapped[str] = so.mapped_column(sa.String(4))
    # The question waiting for its answer, and the answers so far (by name, the headline's among them).
    asking: so.Mapped[str] = so.mapped_column(sa.String(32))
    values: so.Mapped[dict[str, Any]]
    expires_at: so.Mapped[datetime] = so.mapped_column(index=True)
    # When `asking` was asked: a reply the phone sent before then (Kannel's `ts`) is a resend of an earlier answer.
    asked_at: so.Mapped[datetime | None]

    def __repr__(self) -> str:
        return f"<SmsConversation {self.id} {self.asking}>"


class ShownCategory(Base):
    """A category of a breakdown (a governorate, a sex, an age band) whose answers have been shown on their own.

    Once shown, always shown, to everyone: every view of a poll (dashboard,
    exports, public snapshots) draws from this one growing set, so no two
    views, now or later, hide different categories that a reader could
    subtract from each other (`services.releases.suppression`).
    """

    __tablename__ = "shown_categories"

    poll_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("polls.id", ondelete="CASCADE"), primary_key=True)
    # A stratum, or "q:" and a question's name for its crossing with the headline.
    stratum: so.Mapped[str] = so.mapped_column(sa.String(40), primary_key=True)
    code: so.Mapped[str] = so.mapped_column(sa.String(32), primary_key=True)


class PublicSnapshot(Base):
    """What the public sees of a poll: figures frozen at a moment, refreshed only when that is safe.

    Public figures that changed answer by answer would let anyone difference
    two looks around one answer; `services.releases.publication` refreshes a snapshot
    at most every POLL_PUBLIC_REFRESH_MINUTES and only when every published
    change covers enough answers (`stats.disclosure`).
    """

    __tablename__ = "public_snapshots"

    poll_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("polls.id", ondelete="CASCADE"), primary_key=True)
    version: so.Mapped[int] = so.mapped_column(default=1)
    published_at: so.Mapped[datetime]
    # When a refresh was last considered, made or not.
    checked_at: so.Mapped[datetime]
    # The public results document, as the API serves it.
    document: so.Mapped[dict[str, Any]]
    # The counts behind it, suppressed ones included, to check what the next refresh would reveal.
    basis: so.Mapped[dict[str, Any]]


class OptOut(Base):
    """A number that asked for no more messages; the dispatcher honours it."""

    __tablename__ = "opt_outs"

    phone: so.Mapped[str] = so.mapped_column(sa.String(16), primary_key=True)
    opted_out_at: so.Mapped[datetime] = so.mapped_column(default=utcnow)


class Release(Base):
    """One entry of a poll's release ledger: what left the database, for whom, when (`services.releases.release`).

    Public releases are differentially private and spend `epsilon` of the
    poll's budget; exports keep the shape they were generalised to, so a
    later export cannot be joined with an earlier one to single anyone out;
    operators' live views are counted per operator and kind (`times`).
    """

    __tablename__ = "releases"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    poll_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("polls.id", ondelete="CASCADE"))
    kind: so.Mapped[str] = so.mapped_column(sa.String(32))  # vocabulary.ReleaseKind
    # "public" for everyone, else the operator's name ("" for the command line).
    audience: so.Mapped[str] = so.mapped_column(sa.String(64), default="")
    first_at: so.Mapped[datetime] = so.mapped_column(default=utcnow)
    last_at: so.Mapped[datetime] = so.mapped_column(default=utcnow)
    times: so.Mapped[int] = so.mapped_column(default=1)
    # The privacy-loss budget a public release spent (None for exact releases to operators).
    epsilon: so.Mapped[float | None] = so.mapped_column(sa.Float())
    detail: so.Mapped[dict[str, Any]] = so.mapped_column(default=dict)

    __table_args__ = (sa.Index("ix_releases_poll_id_kind", "poll_id", "kind"),)

    def __repr__(self) -> str:
        return f"<Release {self.kind} {self.audience} x{self.times}>"


class Job(Base):
    """Work too long for a request (a simulation), run by a consumer of the task queue (`poll.runners.jobs`).

    The queue (huey) carries only the job's id; this row is what pages show:
    its state, how far it got, where its result is, and who started it. A
    cancellation is a flag the job reads between its steps.
    """

    __tablename__ = "jobs"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    kind: so.Mapped[str] = so.mapped_column(sa.String(32))
    state: so.Mapped[str] = so.mapped_column(sa.String(16), default=JobState.QUEUED)
    # From 0 to 1, and the step under way in the job's own words ("issuing links").
    progress: so.Mapped[float] = so.mapped_column(sa.Float(), default=0.0)
    step: so.Mapped[str] = so.mapped_column(sa.String(64), default="")
    # What the job was asked to do, and what it made (e.g. the simulation run's id).
    parameters: so.Mapped[dict[str, Any]] = so.mapped_column(default=dict)
    result: so.Mapped[dict[str, Any]] = so.mapped_column(default=dict)
    result_url: so.Mapped[str | None] = so.mapped_column(sa.String(256))
    # Why it failed, in one line for people.
    error: so.Mapped[str | None] = so.mapped_column(sa.String(500))
    is_cancel_requested: so.Mapped[bool] = so.mapped_column(default=False, server_default=sa.false())
    # NULL for the command line; the name is kept after the operator is deleted.
    operator_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("operators.id", ondelete="SET NULL"))
    started_by: so.Mapped[str] = so.mapped_column(sa.String(64), default="", server_default="")
    created_at: so.Mapped[datetime] = so.mapped_column(default=utcnow)
    started_at: so.Mapped[datetime | None]
    finished_at: so.Mapped[datetime | None]
    # When its consumer last showed it was alive (each step): a running job long silent lost its worker.
    heartbeat_at: so.Mapped[datetime | None]

    __table_args__ = (one_of("state", JobState),)

    @property
    def is_finished(self) -> bool:
        return self.state in (JobState.DONE, JobState.FAILED, JobState.CANCELLED)

    def __repr__(self) -> str:
        return f"<Job {self.id} {self.kind} {self.state}>"


class WeightingReference(Base):
    """What a poll's answers are weighted to beyond the census: published margins or a probability survey's rows.

    One per poll, replaced by the next upload. `margins` gives each
    variable's category shares (from microdata, its design-weighted shares);
    `rows` and `design_weights` keep a survey's microdata for propensity
    weighting. A reference without its source is refused: every target shown
    says where it comes from.
    """

    __tablename__ = "weighting_references"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    poll_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("polls.id", ondelete="CASCADE"), unique=True)
    kind: so.Mapped[str] = so.mapped_column(sa.String(16))  # "margins" or "microdata"
    source: so.Mapped[str] = so.mapped_column(sa.String(500))
    year: so.Mapped[int | None]
    # {variable: {category code: share}}, each summing to 1.
    margins: so.Mapped[dict[str, Any]]
    # Microdata: the variables' names in order, one list of category codes per respondent, and their weights.
    variables: so.Mapped[list[str]] = so.mapped_column(sa.JSON, default=list)
    rows: so.Mapped[list[list[str]]] = so.mapped_column(sa.JSON, default=list)
    design_weights: so.Mapped[list[float]] = so.mapped_column(sa.JSON, default=list)
    uploaded_at: so.Mapped[datetime] = so.mapped_column(default=utcnow)
    uploaded_by: so.Mapped[str] = so.mapped_column(sa.String(64), default="")

    __table_args__ = (sa.CheckConstraint("kind IN ('margins', 'microdata')", name="kind"),)

    def __repr__(self) -> str:
        return f"<WeightingReference {self.kind} of poll {self.poll_id}>"
