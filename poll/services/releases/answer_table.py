"""The answers as researchers read them: one row per response, a column per question, and a weight.

Columns: the headline answer (`option`), in a split-ballot poll the way
it was asked (`variant`), the channel, when it was
answered, the respondent's governorate, sex and age band, then every
question after the headline in order (a multiple choice as one 0/1 column
per choice, `name_code`), then `weight`: the respondent's raking weight
(mean 1), empty for a respondent of unknown stratum or while the weighting
fails.

In an anonymous poll the rows come in a fresh random order every time (two
exports cannot be aligned row by row) and the quasi-identifiers are
generalised alike for every row so that each combination shown is a safe
group (`stats.disclosure`): the strata show the categories their breakdowns
show and "other" for the rest, the day may read as its week or the poll's
field period, the answers to profile questions (employment, education...)
show the choices their breakdowns show, and numbers (a birth year, a
household's size) read as bands. A profile question mapped to a stratum has
no column of its own there (its stratum column carries it: an exact age
would single people out), nor has a profile text. The choice is the least
lossy one that, combined with every shape exported before (kept in the
release ledger), still shows only safe groups. The weight is the mean
weight of the row's shown group, so it cannot tell a hidden category either
(and does not reproduce the published weighted estimate exactly); the
variant shows the variants the results show. The export's sums agree with
the breakdowns. `describe` says in words what was done.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import sqlalchemy as sa
import sqlalchemy.orm as so

from poll import iraq
from poll.errors import Invalid
from poll.models import Answer, Option, Poll
from poll.questionnaire import Question, in_order
from poll.services.answering import tallies
from poll.services.definition.polls import experiment_of, questions_of
from poll.services.releases import ledger, question_results, results, suppression
from poll.stats import disclosure
from poll.vocabulary import QuestionType

OTHER = "other"  # categories a breakdown hides, together
STRATUM_LABELS = {"governorate": {"ar": "المحافظة", "ku": "پارێزگا", "en": "Governorate"},
                  "sex": {"ar": "الجنس", "ku": "ڕەگەز", "en": "Sex"},
                  "age_band": {"ar": "الفئة العمرية", "ku": "گرووپی تەمەن", "en": "Age band"}}
OTHER_LABELS = {"ar": "أخرى (مجموعات أصغر من أن تُعرض)", "ku": "هی تر (گرووپی زۆر بچووک)",
                "en": "Other (groups too small to show)"}
CHANNEL_LABEL = {"ar": "القناة", "ku": "کەناڵ", "en": "Channel"}
ANSWERED_LABEL = {"ar": "وقت الإجابة", "ku": "کاتی وەڵامدانەوە", "en": "Answered (UTC)"}
VARIANT_LABEL = {"ar": "طريقة السؤال", "ku": "شێوازی پرسیارکردن", "en": "Way of asking (split ballot)"}
EXPORT_KIND = "answers-export"  # the ledger's kind for an answers export
DAY_WEIGHT = 0.2  # losing the exact day costs an analyst little beside a stratum or a profile answer (weight 1)
CHANNEL_WEIGHT = 0.5
NUMBER = "n:"  # the prefix of a number question's hierarchy, e.g. "n:birth_year"
MULTIPLE = "m:"  # the prefix of a profile multiple choice's hierarchy
MAX_BANDS = 20  # the finest bands of a number split its range in at most this many
GROUP_WEIGHT_LABEL = {
    "ar": "الوزن (متوسط وزن الترجيح في مجموعة الصف المعروضة؛ لا يعيد التقدير المرجّح المنشور بدقة)",
    "ku": "کێش (تێکڕای کێشی هاوسەنگکردنی گرووپی پیشاندراوی ڕیزەکە؛ ڕێک خەمڵاندنی کێشدراوی بڵاوکراوە نادات)",
    "en": "Weight (mean raking weight of the row's shown group; does not reproduce the published estimate exactly)",
}
SEX_LABELS = {"M": {"ar": "ذكر", "ku": "نێر", "en": "Male"}, "F": {"ar": "أنثى", "ku": "مێ", "en": "Female"}}


class Blank(str):
    """Why a cell is empty, where a research file tells it apart (`rows(..., blanks=True)`); empty as text."""

    def __new__(cls, reason: str) -> Blank:
        made = super().__new__(cls, "")
        made.reason = reason
        return made

    def __repr__(self) -> str:
        return f"Blank({self.reason!r})"


NOT_ASKED = Blank("not-asked")  # its condition did not hold on the earlier answers
SKIPPED = Blank("skipped")  # asked, and left blank
WITHHELD_BLANK = Blank("withheld")  # empty, but why would tell a generalised answer: said as withheld


@dataclass(frozen=True)
class Column:
    """One column: its name, what it says in each language, and what kind of value it holds."""

    name: str
    label: dict[str, str]
    kind: str  # "choice" (codes with labels), "number", "flag" (0/1), "time" (when answered) or "text"
    codes: tuple[tuple[str, dict[str, str]], ...] = ()  # a choice column's codes and their labels, in order
    span: tuple[int, int] | None = None  # a number column's range, as the question allows it
    asked: bool = False  # a question's column, which may be left empty: skipped (or, by SMS, never reached)
    conditional: bool = False  # a question asked only when its condition holds
    prefer_not: bool = False  # a number that may be answered "prefer not to say"
    always_shown: bool = False  # never generalised nor withheld (the headline answer, the weight)


@dataclass(frozen=True)
class QuasiIdentifier:
    """One column (or a multiple choice's columns) that could point at someone, and its hierarchy's name."""

    name: str  # "governorate", "answered", "q:employment", "n:birth_year", "m:languages", "variant"...
    question: Question | None = None

    def raw(self, governorate, sex, age_band, day: date, channel: str, values: dict, variant) -> Any:
        """The row's value as given."""
        if self.question is not None:
            value = values.get(self.question.name)
            return ",".join(value) if self.question.type == QuestionType.SELECT_MULTIPLE and value else value
        return {"governorate": governorate, "sex": sex, "age_band": age_band, "answered": day.isoformat(),
                "channel": channel, results.VARIANT: variant}[self.name]


@dataclass
class Shape:
    """How an anonymous poll's rows are shown: the generalisation and each shown group's mean weight."""

    generalisation: disclosure.Generalisation
    profile: tuple[str, ...]  # the profile questions generalised with the strata, by name
    group_weights: dict[tuple, float | None] = field(default_factory=dict)
    quasi: tuple[QuasiIdentifier, ...] = ()  # in the order of the generalisation's levels
    widths: dict[str, tuple[int, ...]] = field(default_factory=dict)  # a number's bands, finest first
    labels: dict[str, dict[str, str]] = field(default_factory=dict)  # each quasi-identifier's column label

    def level(self, name: str) -> int:
        return self.generalisation.levels[[q.name for q in self.quasi].index(name)]

    def shown_values(self, name: str) -> set[str]:
        """The values the column takes in the export."""
        i = [q.name for q in self.quasi].index(name)
        return {label[i] for label in self.generalisation.labels.values()}


def columns_of(poll: Poll, *, anonymous: bool | None = None) -> list[Column]:
    """The export's columns for `poll`."""
    anonymous = poll.is_anonymous if anonymous is None else anonymous
    questions = questions_of(poll)
    headline = next(q for q in questions if q.is_headline)
    columns = [
        Column("option", dict(headline.label), "choice", tuple((c.code, dict(c.label)) for c in headline.choices),
               always_shown=True),
        *([Column("variant", VARIANT_LABEL, "choice", tuple((name, {"en": name}) for name in experiment.names))]
          if (experiment := experiment_of(poll)) else []),
        Column("channel", CHANNEL_LABEL, "text"),
        Column("answered", ANSWERED_LABEL, "time"),
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
                                for code, text in question.label.items()}, "flag", asked=True,
                               conditional=bool(question.relevant))
                        for choice in question.choices]
        elif question.takes_choices:
            columns.append(Column(question.name, dict(question.label), "choice",
                                  tuple((c.code, dict(c.label)) for c in question.choices), asked=True,
                                  conditional=bool(question.relevant)))
        else:  # in an anonymous poll a number is shown as a band ("1985-1989"): text
            exact_number = question.type == QuestionType.INTEGER and not anonymous
            columns.append(Column(question.name, dict(question.label), "number" if exact_number else "text",
                                  span=(question.minimum, question.maximum) if exact_number else None, asked=True,
                                  conditional=bool(question.relevant), prefer_not=question.is_profile))
    columns.append(Column("weight", GROUP_WEIGHT_LABEL if anonymous else
                          {"ar": "الوزن", "ku": "کێش", "en": "Weight (raking, mean 1)"}, "number", always_shown=True))
    return columns


def _exported(questions: list[Question], anonymous: bool) -> list[Question]:
    # The questions after the headline that have columns: in an anonymous poll, not those mapped to a stratum,
    # nor a profile text (free words about oneself name people).
    return [q for q in questions if not q.is_headline and not (anonymous and (
        q.maps_to or (q.is_profile and q.type == QuestionType.TEXT)))]


def _generalised_profile(questions: list[Question]) -> list[Question]:
    return [q for q in questions if question_results.is_crossed_breakdown(q)]


def quasi_identifiers(poll: Poll, questions: list[Question]) -> tuple[QuasiIdentifier, ...]:
    """What an anonymous poll's export generalises, in order: the strata, the day, the channel, the profile
    answers, every number, and the variant last."""
    exported = _exported(questions, True)
    return (
        *(QuasiIdentifier(stratum) for stratum in iraq.STRATA),
        QuasiIdentifier("answered"), QuasiIdentifier("channel"),
        *(QuasiIdentifier(question_results.crossing_key(q), q) for q in _generalised_profile(questions)),
        *(QuasiIdentifier(MULTIPLE + q.name, q) for q in exported
          if q.is_profile and q.type == QuestionType.SELECT_MULTIPLE),
        *(QuasiIdentifier(NUMBER + q.name, q) for q in exported if q.type == QuestionType.INTEGER),
        *([QuasiIdentifier(results.VARIANT)] if poll.experiment is not None else []),
    )


def band_widths(question: Question) -> tuple[int, ...]:
    """A number's bands, finest first, each twice the one before (so each coarsens the last): the finest
    splits the question's range in at most MAX_BANDS (a birth year's range of 90 years: 5, 10, 20)."""
    span = (question.maximum or 0) - (question.minimum or 0) + 1
    finest = next(w for w in (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 10**4, 10**5, 10**6, 10**9)
                  if -(-span // w) <= MAX_BANDS)
    return (finest, 2 * finest, 4 * finest)


def band(question: Question, width: int) -> Callable[[str], str]:
    """The band of `width` a number falls in, counted from the question's minimum ("1985-1989"); anything
    else ("prefer not to say", not answered) as it is."""
    origin = question.minimum or 0

    def of(value: str) -> str:
        try:
            number = int(value)
        except ValueError:
            return value
        low = origin + (number - origin) // width * width
        high = min(low + width - 1, question.maximum if question.maximum is not None else low + width - 1)
        return str(low) if width == 1 or low == high else f"{low}-{high}"

    return of


def rows(session: so.Session, poll: Poll, shape: Shape | None = None, *, blanks: bool = False,
         ) -> tuple[list[Column], Iterator[tuple]]:
    """The columns, and the rows streamed (never all in memory), in a fresh random order each time in an anonymous
    poll: the database's own random(), so two exports cannot be aligned row by row.

    An anonymous poll needs its `shape` (`anonymised_shape`), decided in a
    transaction that may write; a poll that is not anonymous is shown exactly.
    With `blanks`, an unanswered question's cell says why (`NOT_ASKED`,
    `SKIPPED`, or `WITHHELD_BLANK` where its condition reads an answer the
    export generalises or leaves out), for the research files' missing codes.
    """
    columns = columns_of(poll)
    questions = questions_of(poll)
    exported = _exported(questions, poll.is_anonymous)
    headline = next(q for q in questions if q.is_headline)
    if poll.is_anonymous and shape is not None:
        generalised_names = {q.question.name for q in shape.quasi if q.question is not None}
        shown_exactly = {headline.name} | {q.name for q in exported} - generalised_names
    else:
        shown_exactly = {q.name for q in questions}

    def why_blank(code: str, values: dict[str, Any]) -> Callable[[Question], Blank] | None:
        if not blanks:
            return None
        answers = in_order(questions, {headline.name: code} | {
            name: frozenset(value) if isinstance(value, list) else value for name, value in values.items()})

        def why(question: Question) -> Blank:
            condition = question.condition
            if condition is None:
                return SKIPPED
            if not condition.names <= shown_exactly:
                return WITHHELD_BLANK
            return SKIPPED if condition.holds(answers) else NOT_ASKED

        return why

    split = poll.experiment is not None
    query = (
        sa.select(Option.code, Answer.channel, Answer.answered_hour, Answer.governorate, Answer.sex, Answer.age_band,
                  Answer.values, Answer.variant)
        .join(Option, Option.id == Answer.option_id)
        .where(Answer.poll_id == poll.id)
        .order_by(Answer.id if not poll.is_anonymous else sa.func.random())
        .execution_options(yield_per=5_000)
    )
    if not poll.is_anonymous:
        weights = results.cell_weights(session, poll) or {}

        def exact() -> Iterator[tuple]:
            for code, channel, hour, governorate, sex, age_band, values, variant in session.execute(query):
                weight = weights.get((governorate, sex, age_band))
                yield (code, *((variant or "",) if split else ()), channel, hour.strftime("%Y-%m-%dT%H:00Z"),
                       governorate or "", sex or "", age_band or "",
                       *_answers(exported, values or {}, blank=why_blank(code, values or {})), weight)

        return columns, exact()
    if shape is None:
        raise ValueError("an anonymous poll's rows need their shape (anonymised_shape)")

    def generalised() -> Iterator[tuple]:
        names = [q.name for q in shape.quasi]
        replaced_by = {q.question.name: n for n, q in enumerate(shape.quasi) if q.question is not None}
        variant_at = names.index(results.VARIANT) if split else None
        for code, channel, hour, governorate, sex, age_band, values, variant in session.execute(query):
            values = values or {}
            key = disclosure.group_key([q.raw(governorate, sex, age_band, hour.date(), channel, values, variant)
                                        for q in shape.quasi])
            shown = shape.generalisation.show(key)
            answers = {name: shown[n] for name, n in replaced_by.items()}
            yield (code, *((shown[variant_at],) if split else ()), shown[4], shown[3], *shown[:3],
                   *_answers(exported, values, answers, blank=why_blank(code, values)),
                   shape.group_weights.get(shown))

    return columns, generalised()


def _answers(questions: list[Question], values: dict[str, Any], replaced: dict[str, str] | None = None,
             blank: Callable[[Question], Blank] | None = None) -> list:
    # Each exported question's cell(s): a code, a number, a text, or one 0/1 per choice ("" where not answered, or
    # with `blank` why not).
    cells = []
    for question in questions:
        value = (replaced or {}).get(question.name, values.get(question.name))
        if question.type == QuestionType.SELECT_MULTIPLE and value == disclosure.WITHHELD:
            cells += [disclosure.WITHHELD] * len(question.choices)
        elif question.type == QuestionType.SELECT_MULTIPLE:
            value = values.get(question.name)
            if value is None:
                cells += [blank(question) if blank else ""] * len(question.choices)
            else:
                cells += [int(choice.code in set(value)) for choice in question.choices]
        else:
            cells.append(value if value is not None else blank(question) if blank else "")
    return cells


def _iso_week(day: str) -> str:
    year, week, _ = date.fromisoformat(day).isocalendar()
    return f"{year}-W{week:02d}"


def anonymised_shape(session: so.Session, poll: Poll, audience: str = "") -> Shape:
    """How an anonymous poll's rows are shown: every combination of their quasi-identifiers a safe group, alone
    and joined with every answers export made before; kept in the release ledger for `audience` (an operator's
    name, "" for the command line).

    May grow the poll's shown set (`suppression.masks`) and writes the
    ledger: the caller commits. Raises Invalid when not even one group can
    be shown.
    """
    options = poll.options
    position = {option.id: i for i, option in enumerate(options)}
    questions = questions_of(poll)
    quasi = quasi_identifiers(poll, questions)
    tables, _values = results.all_tables(session, poll, tallies.stratum_cells(session, poll))
    masks = suppression.masks(session, poll, tables)
    visible = {name: sorted(code for code, is_shown in zip(tables[name][0], masks[name], strict=True) if is_shown)
               for name in (*iraq.STRATA, *(q.name for q in quasi if q.name.startswith(question_results.CROSSING)),
                            *([results.VARIANT] if poll.experiment is not None else []))}
    weights = results.cell_weights(session, poll)
    exported = ledger.entries(session, poll, EXPORT_KIND)
    cells: dict[tuple, np.ndarray] = {}
    # Per earlier export, the answers it held (kept in the ledger by combination): only those can be matched.
    held: list[dict[tuple, np.ndarray]] = [
        {tuple(key): np.array(counts, dtype=np.int64) for key, counts in entry.detail.get("held", [])}
        for entry in exported]
    weighed: dict[tuple, list[float]] = {}  # per combination: sum of weights, rows weighed
    days: set[str] = set()
    for option_id, governorate, sex, age_band, hour, channel, values, variant in session.execute(
        sa.select(Answer.option_id, Answer.governorate, Answer.sex, Answer.age_band, Answer.answered_hour,
                  Answer.channel, Answer.values, Answer.variant)
        .where(Answer.poll_id == poll.id)
        .execution_options(yield_per=5_000)
    ):
        key = disclosure.group_key([q.raw(governorate, sex, age_band, hour.date(), channel, values or {}, variant)
                                    for q in quasi])
        days.add(key[3])
        cells.setdefault(key, np.zeros(len(options), dtype=np.int64))[position[option_id]] += 1
        weight = (weights or {}).get((governorate, sex, age_band))
        if weight is not None:
            total = weighed.setdefault(key, [0.0, 0])
            total[0] += weight
            total[1] += 1
    period = f"{min(days)}/{max(days)}" if days else ""
    widths = {q.name: band_widths(q.question) for q in quasi if q.name.startswith(NUMBER)}
    hierarchies = [_hierarchy(q, visible, widths, period) for q in quasi]
    combinations = list(cells)
    earlier = [_as_shown_then(entry, rows_held, quasi, hierarchies, combinations, len(options))
               for entry, rows_held in zip(exported, held, strict=True)]
    # No row is withheld on its own: the export's sums must agree with the breakdowns.
    generalisation = disclosure.generalise(cells, hierarchies, max_withheld=0, keep=(results.VARIANT,),
                                           earlier=earlier)
    if generalisation is None:
        answered = int(sum(counts.sum() for counts in cells.values()))
        raise Invalid(
            f"poll {poll.slug} has {answered} answers: an export needs at least {disclosure.MIN_GROUP} that do not "
            "all choose the same option, or it would tell who answered what"
        )
    ledger.record(session, poll, EXPORT_KIND, audience, detail={
        "levels": {h.name: level for h, level in zip(hierarchies, generalisation.levels, strict=True)},
        "shown": {name: codes for name, codes in visible.items()},
        "widths": {name: list(w) for name, w in widths.items()},
        "held": [[list(key), counts.tolist()] for key, counts in cells.items()],
    })
    group_totals: dict[tuple, list[float]] = {}
    for key, (weight_sum, weighed_rows) in weighed.items():
        total = group_totals.setdefault(generalisation.show(key), [0.0, 0])
        total[0] += weight_sum
        total[1] += weighed_rows
    group_weights = {group: weight_sum / count for group, (weight_sum, count) in group_totals.items() if count}
    labels = {q.name: _label_of(q) for q in quasi}
    return Shape(generalisation, tuple(q.question.name for q in quasi if q.name.startswith(question_results.CROSSING)),
                 group_weights, quasi, widths, labels)


def _as_shown_then(entry, rows_held: dict[tuple, np.ndarray], quasi, hierarchies, combinations: list[tuple],
                   width: int) -> disclosure.Shown:
    # An earlier export as it was: the rows it held, and each combination's group under the categories, bands and
    # levels it showed then (its shown sets were smaller: what it called "other" may be shown by name now).
    detail = entry.detail
    levels = tuple(int(detail.get("levels", {}).get(h.name, h.depth)) for h in hierarchies)
    then = [_hierarchy(q, detail.get("shown", {}), {name: tuple(w) for name, w in detail.get("widths", {}).items()},
                       "") if q.name in detail.get("shown", {}) or q.name in detail.get("widths", {}) else h
            for q, h in zip(quasi, hierarchies, strict=True)]
    labels = [tuple(h.at(level, value) for h, level, value in zip(then, levels, c, strict=True)) for c in combinations]
    index = {label: n for n, label in enumerate(dict.fromkeys(labels))}
    held = np.array([rows_held.get(c, np.zeros(width, dtype=np.int64)) for c in combinations]) if "held" in detail \
        else None
    return disclosure.Shown(levels, held, np.array([index[label] for label in labels], dtype=np.int64))


def _hierarchy(quasi: QuasiIdentifier, visible: dict[str, list[str]], widths: dict[str, tuple[int, ...]],
               period: str) -> disclosure.Hierarchy:
    # How each quasi-identifier coarsens, finest first; withheld ("*") after the last.
    name = quasi.name
    if name in visible:  # a breakdown's categories as it shows them, the hidden ones together as "other"
        shown = set(visible[name])
        return disclosure.Hierarchy(name, (lambda value: value if value in shown else OTHER,))
    if name == "answered":
        return disclosure.Hierarchy(name, (str, _iso_week, lambda _day: period), weight=DAY_WEIGHT)
    if name == "channel":
        return disclosure.Hierarchy(name, (str,), weight=CHANNEL_WEIGHT)
    if name.startswith(NUMBER):
        return disclosure.Hierarchy(name, tuple(band(quasi.question, width) for width in widths[name]))
    return disclosure.Hierarchy(name, (str,))  # a profile multiple choice: as chosen, or withheld


def _label_of(quasi: QuasiIdentifier) -> dict[str, str]:
    if quasi.question is not None:
        return dict(quasi.question.label)
    return STRATUM_LABELS.get(quasi.name) or {"answered": ANSWERED_LABEL, "channel": CHANNEL_LABEL,
                                              results.VARIANT: VARIANT_LABEL}[quasi.name]


DESCRIBE = {
    "intro": {
        "ar": "الصفوف بترتيب عشوائي يتغيّر في كل تصدير. عُمِّمت الأعمدة التي قد تدلّ على المجيب بالطريقة نفسها في "
              "كل الصفوف، فكل تركيبة معروضة تضم {k} إجابات على الأقل لا تختار كلها الخيار نفسه، حتى مع ضمّها إلى "
              "كل تصدير سابق.",
        "ku": "ڕیزەکان بە ڕیزبەندییەکی هەڕەمەکین کە لە هەر هەناردەیەکدا دەگۆڕێت. ئەو ستوونانەی دەتوانن وەڵامدەر "
              "ئاشکرا بکەن بۆ هەموو ڕیزەکان بە هەمان شێوە گشتاندراون، بۆیە هەر تێکەڵەیەکی پیشاندراو لانیکەم {k} "
              "وەڵام لەخۆ دەگرێت کە هەموویان هەمان هەڵبژاردە نین، تەنانەت لەگەڵ هەموو هەناردەکانی پێشووش.",
        "en": "Rows are in a random order that changes with every export. The columns that could point at a "
              "respondent are generalised the same way in every row, so that each combination shown holds at "
              "least {k} answers that do not all choose the same option, even joined with every earlier export.",
    },
    "exact": {"ar": "{column}: كما أُجيب.", "ku": "{column}: وەک وەڵامدراوە.", "en": "{column}: as answered."},
    "other": {"ar": "{column}: معروض، والفئات الأصغر من أن تُعرض مجموعة تحت «أخرى».",
              "ku": "{column}: پیشان دراوە، و پۆلە زۆر بچووکەکان پێکەوە وەک «هی تر» نیشان دراون.",
              "en": "{column}: shown, with the categories too small to show together as “other”."},
    "withheld": {"ar": "{column}: محجوب (*) في كل الصفوف.", "ku": "{column}: لە هەموو ڕیزەکاندا شاردراوەتەوە (*).",
                 "en": "{column}: withheld (*) in every row."},
    "week": {"ar": "{column}: الأسبوع (حسب ISO 8601) بدل اليوم.", "ku": "{column}: هەفتە (بەپێی ISO 8601) لە جیاتی ڕۆژ.",
             "en": "{column}: the ISO 8601 week instead of the day."},
    "period": {"ar": "{column}: فترة إجراء الاستطلاع فقط.", "ku": "{column}: تەنها ماوەی ئەنجامدانی ڕاپرسییەکە.",
               "en": "{column}: the poll's field period only."},
    "bands": {"ar": "{column}: في فئات بعرض {width}.", "ku": "{column}: بە مەودای {width}.",
              "en": "{column}: in bands of {width}."},
    "weight": {"ar": "الوزن هو متوسط أوزان الترجيح في مجموعة الصف المعروضة، فلا يكشف فئة محجوبة، ولا يعيد التقدير "
                     "المرجّح المنشور بدقة.",
               "ku": "کێش تێکڕای کێشی هاوسەنگکردنی گرووپە پیشاندراوەکەی ڕیزەکەیە، بۆیە هیچ پۆلێکی شاردراوە ئاشکرا "
                     "ناکات، و ڕێک هەمان خەمڵاندنی کێشدراوی بڵاوکراوە نادات.",
               "en": "The weight is the mean raking weight of the row's shown group, so it tells no hidden category; "
                     "it does not reproduce the published weighted estimate exactly."},
}


def describe(shape: Shape, language: str) -> list[str]:
    """What an anonymous poll's export generalised and why, in sentences in `language` (the files' note)."""

    def say(what: str, **values) -> str:
        texts = DESCRIBE[what]
        return (texts.get(language) or texts["en"]).format(k=disclosure.MIN_GROUP, **values)

    sentences = [say("intro")]
    for quasi in shape.quasi:
        labels = shape.labels.get(quasi.name, {})
        column = labels.get(language) or labels.get("en") or quasi.name
        level = shape.level(quasi.name)
        depth = len(shape.widths[quasi.name]) if quasi.name in shape.widths else (3 if quasi.name == "answered" else 1)
        if level >= depth:
            sentences.append(say("withheld", column=column))
        elif quasi.name == "answered":
            sentences.append(say(("exact", "week", "period")[level], column=column))
        elif quasi.name in shape.widths:
            width = shape.widths[quasi.name][level]
            sentences.append(say("exact" if width == 1 else "bands", column=column, width=width))
        else:
            sentences.append(say("other" if OTHER in shape.shown_values(quasi.name) else "exact", column=column))
    sentences.append(say("weight"))
    return sentences


def header(columns: list[Column]) -> list[str]:
    """The columns' names, none twice: a question named like a fixed column (`weight`, `sex`) gets `_2`, so that
    neither a CSV nor a JSON line loses one of the two."""
    names: list[str] = []
    for column in columns:
        name, number = column.name, 2
        while name in names:
            name, number = f"{column.name}_{number}", number + 1
        names.append(name)
    return names

