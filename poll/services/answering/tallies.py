"""Running counts of a poll, kept in the same transactions as the rows they count.

Counters: "invited", "sent", "delivered", "opened", "answered", "failed" (and of those,
"failed:unknown-number": the network said the number is unknown or not allocated),
"partial" (answers of the headline alone, by SMS, while a poll asks more) and
"refused:<kind>". Tallies: answers by option, stratum and channel, and by
option and hour; the answers to the questions after the headline by
question, value and headline option. Results read these, never a scan of every answer; `recount`
computes the same figures from the rows themselves, and tests hold the two
equal.
"""

from __future__ import annotations

import time
import weakref
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so

from poll.db import dialects, upsert_add
from poll.iraq import STRATA
from poll.models import (
    Answer,
    AnswerTally,
    HourlyTally,
    Link,
    OptOut,
    OutboxMessage,
    Poll,
    PollCounter,
    Recipient,
    Refusal,
    ServerCounter,
    ValueTally,
    VariantTally,
)
from poll.questionnaire import tally_cells
from poll.services.definition.polls import questions_of

FUNNEL = ("invited", "sent", "delivered", "opened", "answered")
# How a failed message's last error says the network reported its number unknown or not allocated: the failures
# counted apart as "failed:unknown-number", the only evidence of a non-working number (stats.aapor).
UNKNOWN_NUMBER_ERROR = "unknown or unallocated number"


def is_unknown_number(error: sa.ColumnElement) -> sa.ColumnElement[bool]:
    """Whether a failed message's `error` column says its number is unknown or not allocated."""
    return sa.func.coalesce(error, "").like(f"%{UNKNOWN_NUMBER_ERROR}%")


@dataclass(frozen=True)
class Cell:
    """One answer's place in the tallies."""

    option_id: int
    governorate: str | None
    sex: str | None
    age_band: str | None
    channel: str
    hour: datetime


def bump(session: so.Session, poll_id: int, changes: Mapping[str, int]) -> None:
    """Add to `poll_id`'s counters, e.g. {"answered": 1, "opened": 1}."""
    rows = [{"poll_id": poll_id, "name": name, "value": by} for name, by in changes.items() if by]
    upsert_add(session, PollCounter, rows, ["poll_id", "name"], "value")


def bump_server(session: so.Session, changes: Mapping[str, int]) -> None:
    """Add to the server-wide counters, e.g. {"refused:unknown-link": 1}."""
    rows = [{"name": name, "value": by} for name, by in changes.items() if by]
    upsert_add(session, ServerCounter, rows, ["name"], "value")


def server_counters(session: so.Session) -> dict[str, int]:
    """The server-wide counters."""
    return dict(session.execute(sa.select(ServerCounter.name, ServerCounter.value)).all())


def count_answers(session: so.Session, poll_id: int, cells: Iterable[Cell]) -> None:
    """Add answers to the stratum and hourly tallies of `poll_id`."""
    by_stratum: Counter = Counter()
    by_hour: Counter = Counter()
    for cell in cells:
        by_stratum[(cell.option_id, cell.governorate or "", cell.sex or "", cell.age_band or "", cell.channel)] += 1
        by_hour[(cell.option_id, cell.hour)] += 1
    upsert_add(
        session,
        AnswerTally,
        [
            {"poll_id": poll_id, "option_id": o, "governorate": g, "sex": s, "age_band": a, "channel": c, "count": n}
            for (o, g, s, a, c), n in sorted(by_stratum.items())
        ],
        ["poll_id", "option_id", "governorate", "sex", "age_band", "channel"],
        "count",
    )
    upsert_add(
        session,
        HourlyTally,
        [{"poll_id": poll_id, "option_id": o, "hour": h, "count": n} for (o, h), n in sorted(by_hour.items())],
        ["poll_id", "option_id", "hour"],
        "count",
    )


def move_answer(session: so.Session, poll_id: int, option_id: int, channel: str,
                before: tuple[str | None, str | None, str | None], after: tuple[str | None, str | None, str | None],
                ) -> None:
    """Move one answer from the stratum cell `before` to `after` (governorate, sex, age band): its strata became known."""
    rows = [{"poll_id": poll_id, "option_id": option_id, "governorate": g or "", "sex": s or "", "age_band": a or "",
             "channel": channel, "count": change}
            for (g, s, a), change in ((before, -1), (after, 1))]
    upsert_add(session, AnswerTally, rows, ["poll_id", "option_id", "governorate", "sex", "age_band", "channel"],
               "count")


def count_values(session: so.Session, poll_id: int, cells: Iterable[tuple[int, int, str]]) -> None:
    """Add (question id, headline option id, value) cells to the value tally of `poll_id`."""
    counted = Counter(cells)
    upsert_add(
        session,
        ValueTally,
        [{"poll_id": poll_id, "question_id": q, "option_id": o, "value": v, "count": n}
         for (q, o, v), n in sorted(counted.items())],
        ["poll_id", "question_id", "option_id", "value"],
        "count",
    )


def count_variants(session: so.Session, poll_id: int, cells: Iterable[tuple[str, int]]) -> None:
    """Add (variant, headline option id) cells to the variant tally of `poll_id`."""
    upsert_add(
        session,
        VariantTally,
        [{"poll_id": poll_id, "variant": v, "option_id": o, "count": n} for (v, o), n in sorted(Counter(cells).items())],
        ["poll_id", "variant", "option_id"],
        "count",
    )


def variant_cells(session: so.Session, poll: Poll) -> list[tuple[str, int, int]]:
    """(variant, option_id, count) rows of the variant tally."""
    return [
        tuple(row)
        for row in session.execute(
            sa.select(VariantTally.variant, VariantTally.option_id, _total(VariantTally.count))
            .where(VariantTally.poll_id == poll.id)
            .group_by(VariantTally.variant, VariantTally.option_id)
            .having(_total(VariantTally.count) > 0)
        )
    ]


def value_cells(session: so.Session, poll: Poll) -> list[tuple[int, int, str, int]]:
    """(question_id, option_id, value, count) rows of the value tally."""
    return [
        tuple(row)
        for row in session.execute(
            sa.select(ValueTally.question_id, ValueTally.option_id, ValueTally.value, _total(ValueTally.count))
            .where(ValueTally.poll_id == poll.id)
            .group_by(ValueTally.question_id, ValueTally.option_id, ValueTally.value)
            .having(_total(ValueTally.count) > 0)
        )
    ]


def set_invited_by_stratum(session: so.Session, poll: Poll) -> None:
    """Count `poll`'s links by governorate, sex and age band again, into "invited:<stratum>:<value>" counters,
    and by split-ballot variant into "invited:variant:<name>".

    Links change only when they are issued (or cleared), so this runs then,
    once, and the views read the counters.
    """
    session.execute(
        sa.delete(PollCounter).where(PollCounter.poll_id == poll.id, PollCounter.name.like("invited:%"))
    )
    # One pass over the links, by all three strata at once; the sums per stratum are made here.
    counts: Counter = Counter()
    columns = [getattr(Recipient, stratum) for stratum in STRATA]
    for *values, variant, number in session.execute(
        sa.select(*columns, Link.variant, sa.func.count())
        .join(Link, Link.recipient_id == Recipient.id)
        .where(Link.poll_id == poll.id)
        .group_by(*columns, Link.variant)
    ):
        for stratum, value in zip(STRATA, values, strict=True):
            counts[f"invited:{stratum}:{value or ''}"] += number
        if variant is not None:
            counts[f"invited:variant:{variant}"] += number
    rows = [{"poll_id": poll.id, "name": name, "value": number} for name, number in counts.items()]
    if rows:
        session.execute(sa.insert(PollCounter), rows)


def counters(session: so.Session, poll: Poll) -> dict[str, int]:
    """`poll`'s counters, zero where nothing was counted yet."""
    found = dict(
        session.execute(
            sa.select(PollCounter.name, _total(PollCounter.value))
            .where(PollCounter.poll_id == poll.id)
            .group_by(PollCounter.name)
        ).all()
    )
    return {name: found.get(name, 0) for name in FUNNEL} | {k: v for k, v in found.items() if k not in FUNNEL}


def stratum_cells(session: so.Session, poll: Poll) -> list[tuple[int, str, str, str, str, int]]:
    """(option_id, governorate, sex, age_band, channel, count) rows of the stratum tally."""
    return [
        tuple(row)
        for row in session.execute(
            sa.select(*_STRATUM_CELL, _total(AnswerTally.count))
            .where(AnswerTally.poll_id == poll.id)
            .group_by(*_STRATUM_CELL)
            .having(_total(AnswerTally.count) > 0)
        )
    ]


def hourly(session: so.Session, poll: Poll) -> list[tuple[datetime, int, int]]:
    """(hour, option_id, count) rows of the hourly tally, in time order."""
    return [
        tuple(row)
        for row in session.execute(
            sa.select(HourlyTally.hour, HourlyTally.option_id, _total(HourlyTally.count))
            .where(HourlyTally.poll_id == poll.id)
            .group_by(HourlyTally.hour, HourlyTally.option_id)
            .order_by(HourlyTally.hour)
        )
    ]


# A cell of the stratum tally, its shards (models.TALLY_SHARDS) summed.
_STRATUM_CELL = (AnswerTally.option_id, AnswerTally.governorate, AnswerTally.sex, AnswerTally.age_band,
                 AnswerTally.channel)


def _total(count: sa.ColumnElement[int]) -> sa.ColumnElement[int]:
    # A counter's or a tally cell's shards summed, as an integer on both backends (PostgreSQL's sum of a
    # bigint is a numeric).
    return sa.cast(sa.func.sum(count), sa.BigInteger)


def hourly_totals(session: so.Session, poll: Poll) -> list[tuple[datetime, int]]:
    """(hour, answers) of the hourly tally, all options together, in time order: summed by the database, so the
    rows read are the poll's hours, not its hours times its options."""
    return [
        (hour, int(number))
        for hour, number in session.execute(
            sa.select(HourlyTally.hour, sa.func.sum(HourlyTally.count))
            .where(HourlyTally.poll_id == poll.id)
            .group_by(HourlyTally.hour)
            .order_by(HourlyTally.hour)
        )
    ]


def recount(session: so.Session, poll: Poll) -> dict:
    """Every counter and tally of `poll` counted again from the rows: what they must equal."""
    funnel = session.execute(
        sa.select(
            sa.func.count(),
            sa.func.count(Link.sent_at),
            sa.func.count(Link.delivered_at),
            sa.func.count(Link.opened_on),
            sa.func.count(Link.answered_on),
        ).where(Link.poll_id == poll.id)
    ).one()
    counts = dict(zip(FUNNEL, funnel, strict=True))
    counts["failed"] = session.scalar(
        sa.select(sa.func.count())
        .select_from(OutboxMessage)
        .join(Link, Link.id == OutboxMessage.link_id)
        .where(Link.poll_id == poll.id, OutboxMessage.state == "failed")
    )
    counts["failed:unknown-number"] = session.scalar(
        sa.select(sa.func.count())
        .select_from(OutboxMessage)
        .join(Link, Link.id == OutboxMessage.link_id)
        .where(Link.poll_id == poll.id, OutboxMessage.state == "failed", is_unknown_number(OutboxMessage.last_error))
    )
    if len(poll.questions) > 1:
        counts["partial"] = session.scalar(
            sa.select(sa.func.count()).where(Answer.poll_id == poll.id, _no_values())
        )
    for kind, number in session.execute(
        sa.select(Refusal.kind, sa.func.count()).where(Refusal.poll_id == poll.id).group_by(Refusal.kind)
    ):
        counts[f"refused:{kind}"] = number
    strata = {
        (o, g or "", s or "", a or "", c): n
        for o, g, s, a, c, n in session.execute(
            sa.select(Answer.option_id, Answer.governorate, Answer.sex, Answer.age_band, Answer.channel, sa.func.count())
            .where(Answer.poll_id == poll.id)
            .group_by(Answer.option_id, Answer.governorate, Answer.sex, Answer.age_band, Answer.channel)
        )
    }
    hours = {
        (hour, o): n
        for hour, o, n in session.execute(
            sa.select(Answer.answered_hour, Answer.option_id, sa.func.count())
            .where(Answer.poll_id == poll.id)
            .group_by(Answer.answered_hour, Answer.option_id)
        )
    }
    variants = dict(((v, o), n) for v, o, n in session.execute(
        sa.select(Answer.variant, Answer.option_id, sa.func.count())
        .where(Answer.poll_id == poll.id, Answer.variant.is_not(None))
        .group_by(Answer.variant, Answer.option_id)
    ))
    return {"counters": {k: v for k, v in counts.items() if v}, "strata": strata, "hours": hours,
            "values": _recount_values(session, poll), "variants": variants}


def _no_values() -> sa.ColumnElement[bool]:
    # An answers row without values: SQL NULL, or JSON null as the JSON type writes Python's None.
    return sa.func.coalesce(sa.cast(Answer.values, sa.Text), "null") == "null"


def stopped_unopened(session: so.Session, poll: Poll, *, max_age: float | None = None,
                     clock: Callable[[], float] = time.monotonic) -> int:
    """Links of `poll` that were sent and neither opened nor answered, to numbers that then sent STOP.

    Read from the opt-outs, not kept: a STOP names no poll, and a stopped
    link leaves the count when it is opened or answered, which the answer's
    hot path would have to look up for every answer. Each opt-out looks up
    its number's recipients, then their link of this poll, by index, so a
    count costs as many look-ups as there are STOPs (a thousand at a million
    links, 20 ms): a national poll's tens of thousands of STOPs would cost
    every dashboard refresh a second. So a count is kept by this process and
    shared by every view of the poll while nothing it depends on is seen to
    change: a new STOP (the opt-outs' count and latest time) or a new message
    sent (the poll's "sent" counter) counts again at once. What this cheap
    check cannot see is a stopped link opened or answered later; for that the
    count is used at most `max_age` seconds (STOP_COUNT_MAX_AGE unless given;
    0 counts again every time).
    """
    max_age = STOP_COUNT_MAX_AGE if max_age is None else max_age
    kept_here = _stop_counts.setdefault(session.get_bind(), {})
    now = clock()
    state = (*session.execute(sa.select(sa.func.count(), sa.func.max(OptOut.opted_out_at))).one(),
             counters(session, poll).get("sent", 0))
    counted_at, counted_state, count = kept_here.get(poll.id, (None, None, 0))
    if counted_at is None or counted_state != state or now - counted_at >= max_age:
        count = _count_stopped_unopened(session, poll)
        kept_here[poll.id] = (now, state, count)
    return count


STOP_COUNT_MAX_AGE = 60.0  # seconds a STOP count is used before it is counted again
# Per database (its engine) and poll: when the STOPs were last counted (the clock's seconds), and the count.
_stop_counts: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _count_stopped_unopened(session: so.Session, poll: Poll) -> int:
    # The joins are read in the order written: left to itself, SQLite walked every link of the poll instead
    # (tests/test_plans.py).
    join = dialects.of(session).JOIN_IN_ORDER
    return session.scalar(sa.text(
        f"SELECT count(*) FROM opt_outs {join} recipients ON recipients.phone = opt_outs.phone "
        f"{join} links ON links.recipient_id = recipients.id AND links.poll_id = :poll "
        "WHERE links.sent_at IS NOT NULL AND links.opened_on IS NULL AND links.answered_on IS NULL"
    ), {"poll": poll.id})


def _recount_values(session: so.Session, poll: Poll) -> dict[tuple[int, int, str], int]:
    # The value tally counted again from each answer's stored values, the way answering counts them.
    follow_ups = [question for question in questions_of(poll) if not question.is_headline]
    ids = {row.name: row.id for row in poll.questions}
    counted: Counter = Counter()
    if follow_ups:
        for option_id, values in session.execute(
            sa.select(Answer.option_id, Answer.values).where(Answer.poll_id == poll.id)
        ):
            counted.update((ids[name], option_id, v) for name, v in tally_cells(follow_ups, values))
    return dict(counted)


def kept(session: so.Session, poll: Poll) -> dict:
    """The counters and tallies as kept, in the shape of `recount`."""
    counts = {
        name: value for name, value in counters(session, poll).items() if value and not name.startswith("invited:")
    }
    strata = {(o, g, s, a, c): n for o, g, s, a, c, n in stratum_cells(session, poll)}
    hours = {(hour, o): n for hour, o, n in hourly(session, poll) if n}
    values = {(q, o, v): n for q, o, v, n in value_cells(session, poll)}
    variants = {(v, o): n for v, o, n in variant_cells(session, poll)}
    return {"counters": counts, "strata": strata, "hours": hours, "values": values, "variants": variants}


def clear(session: so.Session, poll: Poll) -> None:
    """Drop `poll`'s counters and tallies (when its rows are cleared too)."""
    for model in (PollCounter, AnswerTally, HourlyTally, ValueTally, VariantTally):
        session.execute(sa.delete(model).where(model.poll_id == poll.id))
