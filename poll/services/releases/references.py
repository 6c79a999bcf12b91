"""Weighting references: what a poll is weighted to beyond the census, uploaded with its source.

The census margins in poll/data/iraq.toml cover governorate, sex and age
band. Anything else a poll asks (education, employment: any select_one
profile question) can be weighted on only against a reference an operator
brings: published margins (variable, category, share, with their source and
year) or a probability survey's microdata (one row per respondent, the
variables and a design weight). The project holds no sourced Iraqi adult
distribution of education and never invents one: without a reference, the
results say that the estimate is not weighted on it.

A reference is refused whole, in one line, when anything in it is wrong: an
unknown variable, a category that is not among the question's codes, shares
that do not sum to 1 (within 0.01), a missing source.
"""

from __future__ import annotations

import csv
import io
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field

import sqlalchemy as sa
import sqlalchemy.orm as so

from poll import iraq
from poll.errors import Invalid
from poll.models import Operator, Poll, WeightingReference
from poll.questionnaire import PREFER_NOT, Question
from poll.services.access import audit
from poll.services.definition.polls import questions_of
from poll.stats import proportions
from poll.vocabulary import QuestionType

MARGIN_COLUMNS = ("variable", "category", "share")
WEIGHT_COLUMNS = ("weight", "design_weight")
SHARE_TOLERANCE = 0.01
MISSING = ""  # a respondent who skipped the question or preferred not to say: a category of its own when raking
MAX_ROWS = 200_000  # a national survey's microdata has a few thousand rows


@dataclass
class Reference:
    """A reference read and checked, before it is stored."""

    kind: str  # "margins" or "microdata"
    source: str
    year: int | None
    margins: dict[str, dict[str, float]]
    variables: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    design_weights: list[float] = field(default_factory=list)


def weighting_variables(poll: Poll) -> dict[str, list[str]]:
    """The variables `poll` can be weighted on, with their category codes: the strata, then each select_one
    profile question not mapped to a stratum ("prefer not to say" is not a category of the population)."""
    variables = {stratum: iraq.categories(stratum) for stratum in iraq.STRATA}
    for question in profile_questions(poll):
        variables[question.name] = [choice.code for choice in question.choices if choice.code != PREFER_NOT]
    return variables


def profile_questions(poll: Poll) -> list[Question]:
    """The select_one profile questions not mapped to a stratum: the ones a reference adds weighting on."""
    return [question for question in questions_of(poll)
            if question.is_profile and question.maps_to is None and question.type == QuestionType.SELECT_ONE]


def profile_questions_names(poll: Poll) -> list[str]:
    """The names of `profile_questions`, in order."""
    return [question.name for question in profile_questions(poll)]


def read(poll: Poll, data: bytes, filename: str, *, source: str | None = None, year: int | None = None) -> Reference:
    """Read a reference FILE for `poll`: a TOML of margins, a CSV of margins (variable, category, share), or a CSV
    of microdata (the variables and a `weight` column). `source` and `year` given here override the file's.
    Raises Invalid, naming the line, on anything wrong."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Invalid("the reference file is not UTF-8 text") from None
    if filename.lower().endswith(".toml"):
        try:
            found = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise Invalid(f"the reference file is not valid TOML: {exc}") from None
        margins = found.get("margins")
        if not isinstance(margins, dict) or not all(isinstance(v, dict) for v in margins.values()):
            raise Invalid("a TOML reference needs [margins.VARIABLE] tables of category = share")
        year_found = found.get("year")
        reference = Reference("margins", source or str(found.get("source", "")), year or _year(year_found),
                              _checked_margins(poll, [(name, str(code), share) for name, shares in margins.items()
                                                      for code, share in shares.items()]))
    else:
        rows = list(csv.reader(io.StringIO(text)))
        if not rows or not any(rows[0]):
            raise Invalid("the reference file is empty: it needs a header row")
        header = [cell.strip() for cell in rows[0]]
        if [cell.lower() for cell in header] == list(MARGIN_COLUMNS):
            reference = Reference("margins", source or "", year, _checked_margins(
                poll, [(row[0].strip(), row[1].strip(), row[2].strip()) if len(row) == 3 else _short(n)
                       for n, row in enumerate(rows[1:], start=2) if any(cell.strip() for cell in row)]))
        else:
            reference = _microdata(poll, header, rows[1:], source or "", year)
    reference.source = reference.source.strip()
    if not reference.source:
        raise Invalid("a reference needs its source (--source \"who published it, what, where\"): every target shown "
                      "says where it comes from")
    if len(reference.source) > 500:
        raise Invalid("the source is longer than 500 characters")
    return reference


def parse_year(text: str | None) -> int | None:
    """A year typed in a form ("" for none); raises Invalid unless it is one from 1900 to 2100."""
    text = (text or "").strip()
    if not text:
        return None
    if not text.isdigit() or not 1900 <= int(text) <= 2100:
        raise Invalid(f"the year must be a year from 1900 to 2100, not {text!r}")
    return int(text)


def _short(line: int):
    raise Invalid(f"line {line}: a margins row has three cells: variable, category, share")


def _year(value) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or not 1900 <= value <= 2100:
        raise Invalid("the reference's year must be a year, e.g. 2019")
    return value


def _checked_margins(poll: Poll, entries: list[tuple[str, str, object]]) -> dict[str, dict[str, float]]:
    known = weighting_variables(poll)
    margins: dict[str, dict[str, float]] = {}
    for name, code, share in entries:
        codes = _codes_of(known, name)
        if code not in codes:
            raise Invalid(f"{code!r} is not a category of {name} (its codes: {', '.join(codes)})")
        try:
            value = float(share)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise Invalid(f"the share of {name} {code} is not a number: {share!r}") from None
        if not math.isfinite(value) or not 0 <= value <= 1:
            raise Invalid(f"the share of {name} {code} is not between 0 and 1: {share!r}")
        if code in margins.setdefault(name, {}):
            raise Invalid(f"{name} {code} is given twice")
        margins[name][code] = value
    if not margins:
        raise Invalid("the reference gives no margins")
    for name, shares in margins.items():
        total = sum(shares.values())
        if abs(total - 1) > SHARE_TOLERANCE:
            raise Invalid(f"the shares of {name} sum to {total:.3f}, not 1 (within {SHARE_TOLERANCE})")
        margins[name] = {code: shares.get(code, 0.0) / total for code in known[name]}
    return margins


def _codes_of(known: Mapping[str, list[str]], name: str) -> list[str]:
    if name not in known:
        raise Invalid(f"unknown variable {name!r}: this poll can be weighted on {', '.join(known)}")
    return known[name]


def _microdata(poll: Poll, header: list[str], rows: list[list[str]], source: str, year: int | None) -> Reference:
    lowered = [cell.lower() for cell in header]
    weight_at = next((lowered.index(name) for name in WEIGHT_COLUMNS if name in lowered), None)
    if weight_at is None:
        raise Invalid("a reference CSV is either margins (variable,category,share) or microdata with a `weight` column")
    known = weighting_variables(poll)
    names = [cell for n, cell in enumerate(header) if n != weight_at]
    for name in names:
        _codes_of(known, name)
    if len(set(names)) != len(names):
        raise Invalid("a variable is given twice in the header")
    kept: list[list[str]] = []
    weights: list[float] = []
    for line, row in enumerate(rows, start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise Invalid(f"line {line}: {len(row)} cells where the header has {len(header)}")
        try:
            weight = float(row[weight_at])
        except ValueError:
            raise Invalid(f"line {line}: the weight {row[weight_at]!r} is not a number") from None
        if not math.isfinite(weight) or weight <= 0:
            raise Invalid(f"line {line}: a design weight must be positive")
        values = [cell.strip() for n, cell in enumerate(row) if n != weight_at]
        for name, value in zip(names, values, strict=True):
            if value not in known[name]:
                raise Invalid(f"line {line}: {value!r} is not a category of {name} (its codes: "
                              f"{', '.join(known[name])})")
        kept.append(values)
        weights.append(weight)
        if len(kept) > MAX_ROWS:
            raise Invalid(f"the microdata has more than {MAX_ROWS} rows")
    if not kept:
        raise Invalid("the microdata has no rows")
    total = sum(weights)
    margins = {name: {code: 0.0 for code in known[name]} for name in names}
    for values, weight in zip(kept, weights, strict=True):
        for name, value in zip(names, values, strict=True):
            margins[name][value] += weight / total
    return Reference("microdata", source, year, margins, names, kept, weights)


def set_reference(session: so.Session, poll: Poll, reference: Reference, *, by: Operator | None) -> WeightingReference:
    """Store `reference` as `poll`'s (replacing any before it) and audit it."""
    session.execute(sa.delete(WeightingReference).where(WeightingReference.poll_id == poll.id))
    stored = WeightingReference(
        poll_id=poll.id, kind=reference.kind, source=reference.source, year=reference.year,
        margins=reference.margins, variables=reference.variables, rows=reference.rows,
        design_weights=reference.design_weights, uploaded_by=by.name if by else "",
    )
    session.add(stored)
    session.flush()
    audit.record(session, "weighting-reference-set", poll.slug, by=by,
                 detail={"kind": reference.kind, "variables": sorted(reference.margins), "source": reference.source,
                         "year": reference.year, "rows": len(reference.rows),
                         **({} if by else {"via": "cli"})})
    return stored


def reference_of(session: so.Session, poll: Poll) -> WeightingReference | None:
    """`poll`'s reference, or None."""
    return session.scalar(sa.select(WeightingReference).where(WeightingReference.poll_id == poll.id))


def describe(stored: WeightingReference | None, poll: Poll) -> list[str]:
    """The reference in lines for people: its kind, source, and each margin; and what has none."""
    lines = []
    if stored is None:
        lines.append("no reference: weighted on the census margins of governorate, sex and age band only")
    else:
        year = f" ({stored.year})" if stored.year else ""
        what = f"microdata of {len(stored.rows)} respondents" if stored.kind == "microdata" else "margins"
        lines.append(f"reference: {what}; source: {stored.source}{year}")
        for name, shares in stored.margins.items():
            percents = proportions.shown_percentages(list(shares.values()))  # together, so they sum to 100%
            lines.append(f"  {name}: " + ", ".join(f"{code} {percent:.1f}%"
                                                   for code, percent in zip(shares, percents, strict=True)))
    for name in unweighted(stored, poll):
        lines.append(f"no sourced target for {name}: not weighted on it")
    return lines


def unweighted(stored: WeightingReference | None, poll: Poll) -> list[str]:
    """The profile questions the estimate cannot be weighted on: no reference gives their margins."""
    given = set(stored.margins) if stored is not None else set()
    return [question.name for question in profile_questions(poll) if question.name not in given]
