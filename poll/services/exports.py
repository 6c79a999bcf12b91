"""Exports and API documents: answer rows streamed from the database, public aggregates, OpenAPI."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator
from datetime import date

import numpy as np
import sqlalchemy as sa
import sqlalchemy.orm as so

from poll import iraq
from poll.errors import Invalid
from poll.models import Answer, Link, Option, Poll, Recipient
from poll.services import results, suppression, tallies
from poll.stats import disclosure

ANSWER_FIELDS = ["option", "channel", "answered", "governorate", "sex", "age_band"]
LINK_FIELDS = ["phone", "governorate", "sex", "age_band", "language", "issued_at", "sent_at", "delivered_at"]
RECIPIENT_FIELDS = {"phone", "governorate", "sex", "age_band", "language"}
# Only for polls that are not anonymous: who answered (and when) is no one's business in an anonymous poll.
LINK_RESPONSE_FIELDS = ["opened_on", "answered_on"]


# A spreadsheet runs a cell that starts with one of these as a formula (OWASP: CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")
# ... unless it is a plain signed number, such as a phone number in E.164 or a negative error.
PLAIN_NUMBER = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")


def spreadsheet_safe(value: object) -> object:
    """A text cell that a spreadsheet would run as a formula, prefixed with ' so it stays text; other values as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def csv_chunks(header: list[str], rows: Iterable[tuple], *, rows_per_chunk: int = 1000) -> Iterator[str]:
    """A CSV file in pieces of `rows_per_chunk` rows, every text cell spreadsheet-safe."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    for count, row in enumerate(rows, start=1):
        writer.writerow([spreadsheet_safe(value) for value in row])
        if count % rows_per_chunk == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def json_lines(header: list[str], rows: Iterable[tuple]) -> Iterator[str]:
    """One JSON object per row and line (JSON Lines)."""
    for row in rows:
        yield json.dumps(dict(zip(header, row, strict=True)), ensure_ascii=False, default=str) + "\n"


def answer_rows(session: so.Session, poll: Poll, shape: disclosure.Generalisation | None = None,
                ) -> tuple[list[str], Iterator[tuple]]:
    """Each answer's option and what is kept beside it, streamed (never all in memory), in random-id order.

    In an anonymous poll the other columns are quasi-identifiers: joined with
    the list of links (which names each phone's strata) or with the
    breakdowns the dashboard shows, they could name someone's answer. So they
    are generalised the same way for every row (`anonymised_shape`): each
    stratum shows the categories its breakdown shows and "other" for the ones
    it hides, or nothing ("*"); a day may read as its ISO week. Every
    combination shown is then a safe group, and the export's sums agree with
    the breakdowns, so subtracting one from the other gives nothing away.
    Raises Invalid when not even one group can be shown: fewer than ten
    answers, or all the same.
    """
    query = (
        sa.select(Option.code, Answer.channel, Answer.answered_hour, Answer.governorate, Answer.sex, Answer.age_band)
        .join(Option, Option.id == Answer.option_id)
        .where(Answer.poll_id == poll.id)
        .order_by(Answer.id)
        .execution_options(yield_per=5_000)
    )
    if not poll.is_anonymous:
        def exact() -> Iterator[tuple]:
            for code, channel, hour, governorate, sex, age_band in session.execute(query):
                yield code, channel, hour.strftime("%Y-%m-%dT%H:00Z"), governorate or "", sex or "", age_band or ""

        return ANSWER_FIELDS, exact()
    shape = shape or anonymised_shape(session, poll)

    def generalised() -> Iterator[tuple]:
        for code, channel, hour, governorate, sex, age_band in session.execute(query):
            shown = shape.show(disclosure.group_key((governorate, sex, age_band, hour.date().isoformat(), channel)))
            governorate, sex, age_band, day, channel = shown
            yield code, channel, day, governorate, sex, age_band

    return ANSWER_FIELDS, generalised()


OTHER = "other"  # categories a breakdown hides, together


def _iso_week(day: str) -> str:
    year, week, _ = date.fromisoformat(day).isocalendar()
    return f"{year}-W{week:02d}"


def anonymised_shape(session: so.Session, poll: Poll) -> disclosure.Generalisation:
    """How an anonymous poll's answer rows are shown: every combination of their quasi-identifiers a safe group.

    May grow the poll's shown set (`suppression.masks`): the caller commits.
    """
    position = {option.id: i for i, option in enumerate(poll.options)}
    cells_by_stratum = tallies.stratum_cells(session, poll)
    hierarchies = []
    tables, _values = results.all_tables(session, poll, cells_by_stratum)
    masks = suppression.masks(session, poll, tables)
    for stratum in iraq.STRATA:
        codes, _table = tables[stratum]
        visible = {code for code, is_shown in zip(codes, masks[stratum], strict=True) if is_shown}
        hierarchies.append(disclosure.Hierarchy(stratum, (lambda value, visible=visible: value if value in visible else OTHER,)))
    hierarchies += [disclosure.Hierarchy("answered", (str, _iso_week)), disclosure.Hierarchy("channel", (str,))]
    cells: dict[tuple, np.ndarray] = {}
    for governorate, sex, age_band, hour, channel, option_id, number in session.execute(
        sa.select(Answer.governorate, Answer.sex, Answer.age_band, Answer.answered_hour, Answer.channel,
                  Answer.option_id, sa.func.count())
        .where(Answer.poll_id == poll.id)
        .group_by(Answer.governorate, Answer.sex, Answer.age_band, Answer.answered_hour, Answer.channel,
                  Answer.option_id)
    ):
        key = disclosure.group_key((governorate, sex, age_band, hour.date().isoformat(), channel))
        cells.setdefault(key, np.zeros(len(position), dtype=np.int64))[position[option_id]] += number
    # No row is withheld on its own: the export's sums must agree with the breakdowns.
    shape = disclosure.generalise(cells, hierarchies, max_withheld=0)
    if shape is None:
        answered = int(sum(counts.sum() for counts in cells.values()))
        raise Invalid(
            f"poll {poll.slug} has {answered} answers: an export needs at least {disclosure.MIN_GROUP} that do not "
            "all choose the same option, or it would tell who answered what"
        )
    return shape


def link_rows(session: so.Session, poll: Poll) -> tuple[list[str], Iterator[tuple]]:
    """Each link's recipient and delivery, with the phone number: for admins only.

    In an anonymous poll the list says nothing of who opened or answered:
    beside the breakdowns, two lists a day apart would show who answered that
    day, and the breakdowns what that day's answers were.
    """
    fields = LINK_FIELDS + ([] if poll.is_anonymous else LINK_RESPONSE_FIELDS)
    query = (
        sa.select(*(getattr(Recipient if name in RECIPIENT_FIELDS else Link, name) for name in fields))
        .join(Recipient, Recipient.id == Link.recipient_id)
        .where(Link.poll_id == poll.id)
        .order_by(Link.id)
        .execution_options(yield_per=5_000)
    )

    def rows() -> Iterator[tuple]:
        for row in session.execute(query):
            yield tuple("" if value is None else (value.isoformat() if hasattr(value, "isoformat") else value)
                        for value in row)

    return fields, rows()


RESULT_FIELDS = ["code", "label", "count", "share", "ci95_low", "ci95_high", "weighted_share", "true_share"]


def result_rows(session: so.Session, poll: Poll) -> tuple[list[str], Iterator[tuple]]:
    """The results table: one row per answer with count, share, interval, weighted and true share."""
    document = results.document(results.poll_results(session, poll, with_timeline=False))
    rows = (
        (o["code"], o["label"], o["count"], o["share"], *(o["ci95"] or (None, None)), o["weighted_share"],
         o["true_share"])
        for o in document["options"]
    )
    return RESULT_FIELDS, rows
