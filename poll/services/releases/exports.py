"""Exports and API documents: answer rows streamed from the database, public aggregates, OpenAPI."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator

import sqlalchemy as sa
import sqlalchemy.orm as so

from poll.models import Link, Poll, Recipient
from poll.services.releases import answer_table, results, stat_files

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
    if (isinstance(value, str) and value.startswith(FORMULA_STARTS) and not PLAIN_NUMBER.fullmatch(value)
            and value != "-"):  # "prefer not to say": no formula
        return "'" + value
    return value


# What may separate a CSV's fields: the comma, or the semicolon that spreadsheets expect where the comma is the
# decimal mark (much of Europe), or a tab.
DELIMITERS = {",": ",", ";": ";", "tab": "\t", "\t": "\t"}
BOM = "\ufeff"  # the byte order mark that tells Excel the file is UTF-8 (without it Arabic comes out garbled)


def csv_chunks(header: list[str], rows: Iterable[tuple], *, rows_per_chunk: int = 1000, delimiter: str = ",",
               bom: bool = False) -> Iterator[str]:
    """A CSV file in pieces of `rows_per_chunk` rows, every text cell spreadsheet-safe, its fields separated by
    `delimiter` (a key of DELIMITERS), opening with a byte order mark if `bom`.

    Without `bom` the file starts with its header, as scripts and the csv
    module expect; Excel wants the mark to read UTF-8.
    """
    buffer = io.StringIO()
    if bom:
        buffer.write(BOM)
    writer = csv.writer(buffer, delimiter=DELIMITERS[delimiter])
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


def answer_rows(session: so.Session, poll: Poll, shape: answer_table.Shape | None = None,
                ) -> tuple[list[str], Iterator[tuple]]:
    """Each response as a row (`services.releases.answer_table`), streamed; an anonymous poll's shape is made if not given.

    Raises Invalid when an anonymous poll's answers cannot be shown without
    telling who answered what (fewer than ten, or all the same).
    """
    if poll.is_anonymous and shape is None:
        shape = answer_table.anonymised_shape(session, poll)
    columns, rows = answer_table.rows(session, poll, shape)
    return answer_table.header(columns), rows


def answer_file(session: so.Session, poll: Poll, fmt: str, language: str,
                shape: answer_table.Shape | None = None) -> bytes:
    """The answers as an SPSS (.sav) or Stata (.dta) file labelled in `language`; see `stat_files`."""
    if poll.is_anonymous and shape is None:
        shape = answer_table.anonymised_shape(session, poll)
    columns, rows = answer_table.rows(session, poll, shape, blanks=True)
    title = f"poll {poll.slug}: answers, labels in {language}"
    note = answer_table.describe(shape, language) if shape is not None else None
    return stat_files.write(columns, rows, fmt, language, title, note)


def anonymised_shape(session: so.Session, poll: Poll, audience: str = "") -> answer_table.Shape:
    """How an anonymous poll's answer rows are shown (`answer_table.anonymised_shape`)."""
    return answer_table.anonymised_shape(session, poll, audience)


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
