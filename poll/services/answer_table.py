"""The answers as researchers read them: one row per response, a column per question, and a weight.

Columns: the headline answer (`option`), in a split-ballot poll the way
it was asked (`variant`), the channel, when it was
answered, the respondent's governorate, sex and age band, then every
question after the headline in order (a multiple choice as one 0/1 column
per choice, `name_code`), then `weight`: the respondent's raking weight
(mean 1), empty for a respondent of unknown stratum or while the weighting
fails.

In an anonymous poll the quasi-identifiers are generalised alike for every
row so that each combination shown is a safe group (`stats.disclosure`):
the strata show the categories their breakdowns show and "other" for the
rest, the day may read as its week, and the answers to profile questions
(employment, education...) show the choices their breakdowns show. A
profile question mapped to a stratum has no column of its own there (its
stratum column carries it: an exact age would single people out), and the
weight is the mean weight of the row's shown group, so it cannot tell a
hidden category either; the variant shows the variants the results show.
The export's sums agree with the breakdowns.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import sqlalchemy as sa
import sqlalchemy.orm as so

from poll import iraq
from poll.errors import Invalid
from poll.models import Answer, Option, Poll
from poll.questionnaire import Question
from poll.services import question_results, results, suppression, tallies
from poll.services.polls import experiment_of, questions_of
from poll.stats import disclosure
from poll.vocabulary import QuestionType

OTHER = "other"  # categories a breakdown hides, together
STRATUM_LABELS = {"governorate": {"ar": "المحافظة", "ku": "پارێزگا", "en": "Governorate"},
                  "sex": {"ar": "الجنس", "ku": "ڕەگەز", "en": "Sex"},
                  "age_band": {"ar": "الفئة العمرية", "ku": "گرووپی تەمەن", "en": "Age band"}}
OTHER_LABELS = {"ar": "أخرى (مجموعات أصغر من أن تُعرض)", "ku": "هی تر (گرووپی زۆر بچووک)",
                "en": "Other (groups too small to show)"}
VARIANT_LABEL = {"ar": "طريقة السؤال", "ku": "شێوازی پرسیارکردن", "en": "Way of asking (split ballot)"}
SEX_LABELS = {"M": {"ar": "ذكر", "ku": "نێر", "en": "Male"}, "F": {"ar": "أنثى", "ku": "مێ", "en": "Female"}}


@dataclass(frozen=True)
class Column:
    """One column: its name, what it says in each language, and what kind of value it holds."""

    name: str
    label: dict[str, str]
    kind: str  # "choice" (codes with labels), "number", "flag" (0/1) or "text"
    codes: tuple[tuple[str, dict[str, str]], ...] = ()  # a choice column's codes and their labels, in order


@dataclass
class Shape:
    """How an anonymous poll's rows are shown: the generalisation and each shown group's mean weight."""

    generalisation: disclosure.Generalisation
    profile: tuple[str, ...]  # the profile questions generalised with the strata, by name
    group_weights: dict[tuple, float | None] = field(default_factory=dict)


def columns_of(poll: Poll, *, anonymous: bool | None = None) -> list[Column]:
    """The export's columns for `poll`."""
    anonymous = poll.is_anonymous if anonymous is None else anonymous
    questions = questions_of(poll)
    headline = next(q for q in questions if q.is_headline)
    columns = [
        Column("option", dict(headline.label), "choice", tuple((c.code, dict(c.label)) for c in headline.choices)),
        *([Column("variant", VARIANT_LABEL, "choice", tuple((name, {"en": name}) for name in experiment.names))]
          if (experiment := experiment_of(poll)) else []),
        Column("channel", {"ar": "القناة", "ku": "کەناڵ", "en": "Channel"}, "text"),
        Column("answered", {"ar": "وقت الإجابة", "ku": "کاتی وەڵامدانەوە", "en": "Answered (UTC)"}, "text"),
        Column("governorate", STRATUM_LABELS["governorate"], "choice", tuple(
            (gov.code, {"ar": gov.ar, "ku": gov.ku, "en": gov.en}) for gov in iraq.governorates())),
        Column("sex", STRATUM_LABELS["sex"], "choice", tuple(SEX_LABELS.items())),
        Column("age_band", STRATUM_LABELS["age_band"], "choice", tuple(
            (band, {"ar": band, "ku": band, "en": band}) for band in iraq.categories("age_band"))),
    ]
    for question in _exported(questions, anonymous):
        if question.type == QuestionType.SELECT_MULTIPLE:
            columns += [Column(f"{question.name}_{choice.code}",
                               {code: f"{text}: {choice.label.get(code, choice.code)}"
                                for code, text in question.label.items()}, "flag")
                        for choice in question.choices]
        elif question.takes_choices:
            columns.append(Column(question.name, dict(question.label), "choice",
                                  tuple((c.code, dict(c.label)) for c in question.choices)))
        else:
            columns.append(Column(question.name, dict(question.label),
                                  "number" if question.type == QuestionType.INTEGER else "text"))
    columns.append(Column("weight", {"ar": "الوزن", "ku": "کێش", "en": "Weight (raking, mean 1)"}, "number"))
    return columns


def _exported(questions: list[Question], anonymous: bool) -> list[Question]:
    # The questions after the headline that have columns: in an anonymous poll, not those mapped to a stratum.
    return [q for q in questions if not q.is_headline and not (anonymous and q.maps_to)]


def _generalised_profile(questions: list[Question]) -> list[Question]:
    return [q for q in questions if question_results.is_crossed_breakdown(q)]


def rows(session: so.Session, poll: Poll, shape: Shape | None = None) -> tuple[list[Column], Iterator[tuple]]:
    """The columns, and the rows streamed in random-id order (never all in memory).

    An anonymous poll needs its `shape` (`anonymised_shape`), decided in a
    transaction that may write; a poll that is not anonymous is shown exactly.
    """
    columns = columns_of(poll)
    questions = questions_of(poll)
    exported = _exported(questions, poll.is_anonymous)
    split = poll.experiment is not None
    query = (
        sa.select(Option.code, Answer.channel, Answer.answered_hour, Answer.governorate, Answer.sex, Answer.age_band,
                  Answer.values, Answer.variant)
        .join(Option, Option.id == Answer.option_id)
        .where(Answer.poll_id == poll.id)
        .order_by(Answer.id)
        .execution_options(yield_per=5_000)
    )
    if not poll.is_anonymous:
        weights = results.cell_weights(session, poll) or {}

        def exact() -> Iterator[tuple]:
            for code, channel, hour, governorate, sex, age_band, values, variant in session.execute(query):
                weight = weights.get((governorate, sex, age_band))
                yield (code, *((variant or "",) if split else ()), channel, hour.strftime("%Y-%m-%dT%H:00Z"),
                       governorate or "", sex or "", age_band or "", *_answers(exported, values or {}), weight)

        return columns, exact()
    if shape is None:
        raise ValueError("an anonymous poll's rows need their shape (anonymised_shape)")

    def generalised() -> Iterator[tuple]:
        profile = [q for q in questions if q.name in shape.profile]
        for code, channel, hour, governorate, sex, age_band, values, variant in session.execute(query):
            values = values or {}
            key = _key(governorate, sex, age_band, hour.date(), channel, profile, values, variant, split)
            shown = shape.generalisation.show(key)
            governorate, sex, age_band, day, channel = shown[:5]
            answers = dict(zip(shape.profile, shown[5 : 5 + len(shape.profile)], strict=True))
            yield (code, *shown[5 + len(shape.profile):], channel, day, governorate, sex, age_band,
                   *_answers(exported, values, answers), shape.group_weights.get(shown))

    return columns, generalised()


def _answers(questions: list[Question], values: dict[str, Any], replaced: dict[str, str] | None = None) -> list:
    # Each exported question's cell(s): a code, a number, a text, or one 0/1 per choice ("" where not answered).
    cells = []
    for question in questions:
        value = (replaced or {}).get(question.name, values.get(question.name))
        if question.type == QuestionType.SELECT_MULTIPLE:
            chosen = set(value) if value is not None else None
            cells += ["" if chosen is None else int(choice.code in chosen) for choice in question.choices]
        else:
            cells.append("" if value is None else value)
    return cells


def _key(governorate, sex, age_band, day: date, channel: str, profile: list[Question], values: dict,
         variant: str | None, split: bool) -> tuple:
    # The row's quasi-identifiers, in the order of anonymised_shape's hierarchies: the variant last, if any.
    return disclosure.group_key((governorate, sex, age_band, day.isoformat(), channel,
                                 *(values.get(q.name) for q in profile), *((variant,) if split else ())))


def _iso_week(day: str) -> str:
    year, week, _ = date.fromisoformat(day).isocalendar()
    return f"{year}-W{week:02d}"


def anonymised_shape(session: so.Session, poll: Poll) -> Shape:
    """How an anonymous poll's rows are shown: every combination of their quasi-identifiers a safe group.

    May grow the poll's shown set (`suppression.masks`): the caller commits.
    Raises Invalid when not even one group can be shown.
    """
    options = poll.options
    position = {option.id: i for i, option in enumerate(options)}
    questions = questions_of(poll)
    profile = _generalised_profile(questions)
    tables, _values = results.all_tables(session, poll, tallies.stratum_cells(session, poll))
    masks = suppression.masks(session, poll, tables)

    def as_shown(name: str) -> disclosure.Hierarchy:
        # A breakdown's categories as it shows them, the hidden ones together as "other".
        codes, _table = tables[name]
        visible = {code for code, is_shown in zip(codes, masks[name], strict=True) if is_shown}
        return disclosure.Hierarchy(name, (lambda value: value if value in visible else OTHER,))

    hierarchies = [
        *(as_shown(stratum) for stratum in iraq.STRATA),
        disclosure.Hierarchy("answered", (str, _iso_week)),
        disclosure.Hierarchy("channel", (str,)),
        *(as_shown(question_results.crossing_key(question)) for question in profile),
        *([as_shown(results.VARIANT)] if poll.experiment is not None else []),
    ]
    weights = results.cell_weights(session, poll)
    cells: dict[tuple, np.ndarray] = {}
    weighed: dict[tuple, list[float]] = {}  # per combination: sum of weights, rows weighed
    for option_id, governorate, sex, age_band, hour, channel, values, variant in session.execute(
        sa.select(Answer.option_id, Answer.governorate, Answer.sex, Answer.age_band, Answer.answered_hour,
                  Answer.channel, Answer.values, Answer.variant)
        .where(Answer.poll_id == poll.id)
        .execution_options(yield_per=5_000)
    ):
        key = _key(governorate, sex, age_band, hour.date(), channel, profile, values or {}, variant,
                   poll.experiment is not None)
        cells.setdefault(key, np.zeros(len(options), dtype=np.int64))[position[option_id]] += 1
        weight = (weights or {}).get((governorate, sex, age_band))
        if weight is not None:
            total = weighed.setdefault(key, [0.0, 0])
            total[0] += weight
            total[1] += 1
    # No row is withheld on its own: the export's sums must agree with the breakdowns.
    generalisation = disclosure.generalise(cells, hierarchies, max_withheld=0, keep=(results.VARIANT,))
    if generalisation is None:
        answered = int(sum(counts.sum() for counts in cells.values()))
        raise Invalid(
            f"poll {poll.slug} has {answered} answers: an export needs at least {disclosure.MIN_GROUP} that do not "
            "all choose the same option, or it would tell who answered what"
        )
    group_totals: dict[tuple, list[float]] = {}
    for key, (weight_sum, weighed_rows) in weighed.items():
        total = group_totals.setdefault(generalisation.show(key), [0.0, 0])
        total[0] += weight_sum
        total[1] += weighed_rows
    group_weights = {group: weight_sum / count for group, (weight_sum, count) in group_totals.items() if count}
    return Shape(generalisation, tuple(q.name for q in profile), group_weights)


def header(columns: list[Column]) -> list[str]:
    return [column.name for column in columns]

