"""Audiences: import recipients from a CSV file, in bulk and all or nothing."""

from __future__ import annotations

import codecs
import csv
import itertools
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO

import numpy as np
import sqlalchemy as sa
import sqlalchemy.orm as so

from poll import iraq, phones
from poll.db import bulk_insert
from poll.errors import Invalid
from poll.i18n import normalize as normalize_language
from poll.models import Poll, Recipient
from poll.services.definition.polls import audience_of

KNOWN_COLUMNS = ("phone", "governorate", "sex", "age", "age_band", "language")
_SEX = {"m": "M", "male": "M", "ذكر": "M", "نێر": "M", "f": "F", "female": "F", "أنثى": "F", "انثى": "F", "مێ": "F"}
MAX_FIELD = 200
# What spreadsheets separate fields with: a comma, or a semicolon where the comma is the decimal mark.
DELIMITERS = (",", ";", "\t", "|")


@dataclass
class ImportReport:
    """What an import did, line by line where something was wrong."""

    rows: int = 0
    imported: int = 0
    already_present: int = 0
    duplicates: int = 0
    invalid: list[tuple[int, str]] = field(default_factory=list)
    extra_columns: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for people."""
        kept = f"; extra columns kept as attributes: {', '.join(self.extra_columns)}" if self.extra_columns else ""
        return (
            f"{self.rows} rows: {self.imported} imported, {self.already_present} already in the audience, "
            f"{self.duplicates} duplicates in the file, {len(self.invalid)} invalid{kept}"
        )


def import_csv(session: so.Session, poll: Poll, stream: IO[bytes], *, batch_size: int = 20_000) -> ImportReport:
    """Add the recipients of a CSV file to `poll`'s audience.

    Valid rows are imported and invalid ones reported with their line number.
    A file that cannot be read as a whole (no header, no phone column, not
    UTF-8) raises Invalid; the caller's rollback then leaves nothing written.
    """
    audience = audience_of(session, poll)
    if session.scalar(sa.select(sa.exists().where(Recipient.audience_id == audience.id, Recipient.is_simulated))):
        # Simulated answers are rebuilt by anyone who has the seed: beside them a real person's answer would be
        # shown in groups that hold no one else real, and read off by subtraction.
        raise Invalid(f"poll {poll.slug}'s audience is simulated: real recipients cannot join it. Create a poll "
                      "of its own for them (or clear the simulation with poll simulate --reset)")
    before = audience_size(session, poll)
    report = ImportReport()
    lines = _lines(stream)
    first = next(lines, "")
    reader = csv.reader(itertools.chain([first], lines), delimiter=delimiter_of(first))
    try:
        header = _header(next(reader, None))
    except csv.Error as exc:
        raise Invalid(f"line 1 cannot be read as CSV: {exc}") from None
    report.extra_columns = [name for name in header if name not in KNOWN_COLUMNS]
    # Every valid row's number, 8 bytes each: a set of the numbers' strings held ten times that (gigabytes for
    # a national audience). A number repeated across batches is skipped by the database (the audience's
    # unique phone), the first one kept; the repeats are counted once the file is read.
    numbers = array("q")
    in_batch: set[str] = set()
    batch: list[dict] = []
    for row in _rows(reader):
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        report.rows += 1
        try:
            values = _recipient(header, row)
        except ValueError as exc:
            report.invalid.append((line, str(exc)))
            continue
        numbers.append(int(values["phone"].removeprefix("+")))
        if values["phone"] in in_batch:
            continue
        in_batch.add(values["phone"])
        batch.append(values)
        if len(batch) >= batch_size:
            _insert(session, audience.id, batch)
            batch.clear()
            in_batch.clear()
    _insert(session, audience.id, batch)
    valid = len(numbers)
    distinct = _distinct(numbers)
    report.duplicates = valid - distinct
    report.imported = audience_size(session, poll) - before
    report.already_present = distinct - report.imported
    return report


def _distinct(numbers: array) -> int:
    # How many different numbers, sorted in place of a copy (the array itself is then let go).
    if not numbers:
        return 0
    ordered = np.array(numbers, dtype=np.int64)
    del numbers[:]
    ordered.sort()
    return 1 + int(np.count_nonzero(ordered[1:] != ordered[:-1]))


def _insert(session: so.Session, audience_id: int, batch: list[dict]) -> None:
    # Rows of `_recipient`, all with the same keys; a phone already in the audience is skipped.
    if batch:
        bulk_insert(session, Recipient, {name: [values[name] for values in batch] for name in batch[0]},
                    same={"audience_id": audience_id}, skip_conflicts_on=("audience_id", "phone"))


def _rows(reader) -> Iterator[list[str]]:
    # The csv module gives up on NUL bytes and on fields over its size limit;
    # say where, and stop: what follows such a line cannot be trusted.
    while True:
        try:
            yield next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise Invalid(f"line {reader.line_num} cannot be read as CSV ({exc}): fix it and import again") from None


def _lines(stream: IO[bytes]) -> Iterator[str]:
    # Decode line by line, so a bad byte is reported with its own line number.
    for number, raw in enumerate(stream, start=1):
        if number == 1:
            raw = raw.removeprefix(codecs.BOM_UTF8)
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError:
            raise Invalid(f"line {number} is not UTF-8: save the file as UTF-8 CSV and import it again") from None


def delimiter_of(header_line: str) -> str:
    """The delimiter that makes `header_line` name a phone column; a comma when none does."""
    for delimiter in DELIMITERS:
        try:
            cells = next(csv.reader([header_line], delimiter=delimiter), [])
        except csv.Error:
            continue
        if "phone" in (cell.strip().lower() for cell in cells):
            return delimiter
    return ","


def _header(row: list[str] | None) -> list[str]:
    if not row:
        raise Invalid("the file is empty: it needs a header row with at least a phone column")
    header = [name.strip().lower() for name in row]
    if "phone" not in header:
        raise Invalid(f"no phone column in the header row (found: {', '.join(header)[:200]})")
    if len(set(header)) != len(header):
        raise Invalid("the header row names a column twice")
    return header


def _recipient(header: list[str], row: list[str]) -> dict:
    if len(row) != len(header):
        raise ValueError(f"{len(row)} fields where the header has {len(header)}")
    cells = dict(zip(header, (cell.strip() for cell in row), strict=True))
    if any(len(value) > MAX_FIELD for value in cells.values()):
        raise ValueError(f"a field is longer than {MAX_FIELD} characters")
    # Every field is read, and every one that is wrong is reported: one fix per import round is too slow.
    values: dict = {}
    errors = []
    readers = (
        (("phone",), lambda: phones.to_e164(cells["phone"])),
        (("governorate",), lambda: _governorate(cells.get("governorate", ""))),
        (("sex",), lambda: _sex(cells.get("sex", ""))),
        (("age", "age_band"), lambda: _age(cells.get("age", ""), cells.get("age_band", ""))),
        (("language",), lambda: _language(cells.get("language", ""))),
    )
    for names, read in readers:
        try:
            value = read()
        except ValueError as exc:
            errors.append(str(exc))
            continue
        values.update(zip(names, value if len(names) > 1 else (value,), strict=True))
    if errors:
        raise ValueError("; ".join(errors))
    extras = {name: value for name, value in cells.items() if name not in KNOWN_COLUMNS and value}
    values["attributes"] = extras or None
    return values


def _governorate(text: str) -> str | None:
    if not text:
        return None
    found = iraq.find_governorate(text)
    if found is None:
        raise ValueError(f"unknown governorate {text!r} (use an English or Arabic name, or a code like IQ-BG)")
    return found.code


def _sex(text: str) -> str | None:
    if not text:
        return None
    if text.casefold() not in _SEX:
        raise ValueError(f"sex must be M or F, not {text!r}")
    return _SEX[text.casefold()]


def _age(age_text: str, band_text: str) -> tuple[int | None, str | None]:
    band = None
    if band_text:
        band = iraq.normalize_age_band(band_text)
        if band is None:
            raise ValueError(f"age_band must be one of {', '.join(iraq.AGE_BANDS)}, not {band_text!r}")
    if not age_text:
        return None, band
    if not age_text.isascii() or not age_text.isdigit():
        raise ValueError(f"age must be a whole number of years, not {age_text!r}")
    age = int(age_text)
    try:
        age_band = iraq.age_band(age)
    except ValueError as exc:
        raise ValueError(str(exc)) from None
    if band is not None and band != age_band:
        raise ValueError(f"age {age} does not fall in age_band {band}")
    return age, age_band


def _language(text: str) -> str | None:
    if not text:
        return None
    code = normalize_language(text)
    if code is None:
        raise ValueError(f"language must be ar, ku or en, not {text!r}")
    return code


def audience_size(session: so.Session, poll: Poll) -> int:
    """How many recipients `poll`'s audience holds."""
    if poll.audience_id is None:
        return 0
    return session.scalar(sa.select(sa.func.count()).where(Recipient.audience_id == poll.audience_id)) or 0
