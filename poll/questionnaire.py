"""A poll's questionnaire: an ordered list of questions, read from a definition and checked before it is stored.

A definition (TOML, or a dict from an XLSForm) holds `[[questions]]`, each
with a `name`, a `type`, labels per language, `required`, `relevant` (a
condition on earlier answers, see `conditions`) and a `role`: exactly one
`headline` (what an SMS reply answers and the public page leads with) and
any number of `profile` questions that `maps_to` a stratum (governorate,
sex, age_band), used for weighting when the audience lacks them. Profile
choice questions always offer "prefer not to say".

A definition of the older shape, `question` and `[[options]]` at the top,
is a questionnaire of one headline question named `answer`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from poll import conditions, iraq
from poll.errors import Invalid
from poll.vocabulary import QuestionRole, QuestionType

TYPES = tuple(QuestionType)
CHOICE_TYPES = (QuestionType.SELECT_ONE, QuestionType.SELECT_MULTIPLE, QuestionType.GOVERNORATE)
ROLES = tuple(QuestionRole)
MAPS_TO = {"governorate": ("governorate",), "sex": ("select_one",), "age_band": ("integer", "select_one")}
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]{0,31}")  # as XLSForms write them: capitals and dots too
CODE = re.compile(r"[0-9A-Za-z_.-]{1,32}")
HEADLINE_NAME = "answer"  # the headline of a one-question definition; on the form it posts as `option`
PREFER_NOT = "-"  # the code of "prefer not to say"
PREFER_NOT_LABELS = {"ar": "أفضّل عدم الإجابة", "ku": "حەز دەکەم وەڵام نەدەمەوە", "en": "Prefer not to say"}
TEXT_LIMIT = 500
# An integer question's bounds, and so its answers, fit a 32-bit signed column on every backend.
INTEGER_RANGE = (-(2**31), 2**31 - 1)
LANGUAGES = ("ar", "ku", "en")
_QUESTION_KEYS = {"name", "type", "label", "required", "relevant", "role", "maps_to", "choices", "min", "max",
                  "randomize",
                  "max_length", "hint"}


@dataclass(frozen=True)
class Choice:
    code: str
    label: dict[str, str]


@dataclass(frozen=True)
class Question:
    """One question as defined: what it asks, what it takes, when it is asked."""

    name: str
    type: str
    label: dict[str, str]
    required: bool = True
    relevant: str | None = None
    role: str | None = None
    maps_to: str | None = None
    choices: tuple[Choice, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    max_length: int | None = None
    hint: dict[str, str] = field(default_factory=dict)
    randomize: bool = False  # its choices shown in an order drawn from each link

    @property
    def is_headline(self) -> bool:
        return self.role == QuestionRole.HEADLINE

    @property
    def takes_choices(self) -> bool:
        return self.type in CHOICE_TYPES

    @property
    def is_profile(self) -> bool:
        return self.role == QuestionRole.PROFILE

    @property
    def form_name(self) -> str:
        """What the answer form posts it under: `option` for the headline, else its name."""
        return "option" if self.is_headline else self.name

    @cached_property
    def condition(self) -> conditions.Condition | None:
        """`relevant`, parsed once."""
        return conditions.parse(self.relevant) if self.relevant else None

    def is_relevant(self, answers: dict[str, Any]) -> bool:
        """Whether the question is asked, given the answers to the questions before it."""
        return self.condition is None or self.condition.holds(answers)

    def choice(self, code: str) -> Choice | None:
        return next((choice for choice in self.choices if choice.code == code), None)

    def stratum(self, value: Any) -> str | None:
        """The stratum category an answer stands for, if the question maps to one (None for "prefer not to say")."""
        if self.maps_to is None or value is None or value == PREFER_NOT:
            return None
        if self.maps_to == "age_band" and self.type == QuestionType.INTEGER:
            return iraq.age_band(value)
        return value

    def as_row(self) -> dict[str, Any]:
        """The question as `models.PollQuestion` stores it (without its poll and position)."""
        return {
            "name": self.name, "type": str(self.type), "role": self.role and str(self.role), "maps_to": self.maps_to,
            "required": self.required, "relevant": self.relevant, "label": dict(self.label), "hint": dict(self.hint),
            "choices": [] if self.is_headline else [{"code": c.code, "label": dict(c.label)} for c in self.choices],
            "minimum": self.minimum, "maximum": self.maximum, "max_length": self.max_length,
            "randomize": self.randomize,
        }

    @classmethod
    def from_row(cls, row: Any, choices: tuple[Choice, ...] | None = None) -> Question:
        """A stored question (anything with `as_row`'s attributes); `choices` for the headline's, kept apart."""
        return cls(
            name=row.name, type=QuestionType(row.type), label=dict(row.label), required=row.required,
            relevant=row.relevant, role=row.role and QuestionRole(row.role), maps_to=row.maps_to,
            choices=choices if choices is not None else tuple(Choice(c["code"], dict(c["label"])) for c in row.choices),
            minimum=row.minimum, maximum=row.maximum, max_length=row.max_length, hint=dict(row.hint or {}),
            randomize=bool(getattr(row, "randomize", False)),
        )


def questions_of(definition: dict[str, Any]) -> list[Question]:
    """The questions of a validated poll definition, in order; raises Invalid naming what is wrong."""
    if "questions" in definition:
        if "question" in definition or "options" in definition:
            raise Invalid("a definition has either [[questions]] or question and [[options]], not both")
        raw = definition["questions"]
    else:
        raw = [{"name": HEADLINE_NAME, "type": QuestionType.SELECT_ONE, "role": QuestionRole.HEADLINE,
                "label": definition.get("question"), "choices": definition.get("options")}]
    if not isinstance(raw, list) or not raw:
        raise Invalid("a poll needs at least one [[questions]]")
    if len(raw) > 50:
        raise Invalid("a poll has at most 50 questions")
    questions: list[Question] = []
    for number, item in enumerate(raw, start=1):
        questions.append(_question(item, number, questions))
    headlines = [q for q in questions if q.is_headline]
    if len(headlines) != 1:
        raise Invalid(f"a poll needs exactly one question with role = \"headline\", not {len(headlines)}")
    headline = headlines[0]
    if headline.type != QuestionType.SELECT_ONE or headline.relevant or not headline.required:
        raise Invalid(f"question {headline.name!r}: the headline is a required select_one asked of everyone")
    mapped = [q.maps_to for q in questions if q.maps_to]
    if len(mapped) != len(set(mapped)):
        raise Invalid("two profile questions map to the same stratum")
    return questions


def asked_under(questions: Sequence[Question]) -> dict[str, frozenset[str]]:
    """Per question, the headline answers after which it can be asked (`conditions.values_allowing`).

    A follow-up asked only after "no" holds only "no"s by design: its
    figures are judged against the headline answers it can hold, never
    against those it cannot. A question whose condition does not read the
    headline, or reads it in a way not understood, can follow any answer.
    """
    headline = next(question for question in questions if question.is_headline)
    every = frozenset(choice.code for choice in headline.choices)
    asked: dict[str, frozenset[str]] = {}
    for question in questions:
        condition = None if question.is_headline else question.condition
        asked[question.name] = every if condition is None else conditions.values_allowing(
            condition, headline.name, every, asked)
    return asked


def _question(item: Any, number: int, earlier: list[Question]) -> Question:
    where = f"question {number}"
    if not isinstance(item, dict):
        raise Invalid(f"{where} is not a table")
    unknown = set(item) - _QUESTION_KEYS
    if unknown:
        raise Invalid(f"{where}: unknown key {sorted(unknown)[0]!r}")
    name = item.get("name")
    if not isinstance(name, str) or not NAME.fullmatch(name) or name == "option":
        raise Invalid(f"{where}: name must be 1-32 letters, digits, _ or . starting with a letter or _ "
                      "(and not \"option\")")
    if name in conditions.KEYWORDS or name == conditions.COUNT:
        raise Invalid(f"{where}: the name {name!r} is a word of conditions; choose another")
    where = f"question {number} ({name})"
    if any(q.name == name for q in earlier):
        raise Invalid(f"{where}: the name is used twice")
    kind = item.get("type")
    if kind not in TYPES:
        raise Invalid(f"{where}: type must be one of {', '.join(TYPES)}")
    role = item.get("role")
    if role is not None and role not in ROLES:
        raise Invalid(f"{where}: role must be headline or profile")
    if role == QuestionRole.PROFILE and kind not in (QuestionType.SELECT_ONE, QuestionType.GOVERNORATE,
                                                     QuestionType.INTEGER):
        raise Invalid(f"{where}: a profile question is a select_one, governorate or integer question")
    maps_to = item.get("maps_to")
    if maps_to is not None and role is None:
        role = QuestionRole.PROFILE  # a question mapped to a stratum is about the respondent
    if maps_to is not None:
        if role != QuestionRole.PROFILE or maps_to not in MAPS_TO or kind not in MAPS_TO[maps_to]:
            raise Invalid(f"{where}: maps_to {maps_to!r} needs role = \"profile\" and a fitting type "
                          "(governorate: governorate; sex: select_one; age_band: integer or select_one)")
    label = texts_per_language(f"{where} label", item.get("label"), required=True)
    required = item.get("required", role == QuestionRole.HEADLINE or role is None)
    if not isinstance(required, bool):
        raise Invalid(f"{where}: required must be true or false")
    relevant = item.get("relevant")
    if relevant is not None:
        if not isinstance(relevant, str) or not relevant.strip():
            raise Invalid(f"{where}: relevant must be a condition on earlier answers")
        try:
            condition = conditions.parse(relevant)
        except conditions.ConditionError as exc:
            raise Invalid(f"{where}: relevant: {exc}") from None
        unknown_names = condition.names - {q.name for q in earlier}
        if unknown_names:
            raise Invalid(f"{where}: relevant names {sorted(unknown_names)[0]!r}, which is not an earlier question")
    choices = _choices(where, kind, item.get("choices"), role == QuestionRole.PROFILE)
    if maps_to in ("sex", "age_band") and kind == QuestionType.SELECT_ONE:
        allowed = {"sex": {"M", "F"}, "age_band": set(iraq.categories("age_band"))}[maps_to]
        stray = sorted({c.code for c in choices} - allowed - {PREFER_NOT})
        if stray:
            raise Invalid(f"{where}: a question mapped to {maps_to} has the codes {', '.join(sorted(allowed))}; "
                          f"not {stray[0]!r}")
    minimum, maximum = item.get("min"), item.get("max")
    if kind == QuestionType.INTEGER:
        for bound in (minimum, maximum):
            if bound is not None and (not isinstance(bound, int) or isinstance(bound, bool)):
                raise Invalid(f"{where}: min and max are whole numbers")
            if bound is not None and not INTEGER_RANGE[0] <= bound <= INTEGER_RANGE[1]:
                raise Invalid(f"{where}: min and max are whole numbers from {INTEGER_RANGE[0]} to {INTEGER_RANGE[1]}")
        if minimum is None or maximum is None or minimum > maximum:
            raise Invalid(f"{where}: an integer question needs min <= max, e.g. min = 18, max = 100")
        if maps_to == "age_band" and not iraq.ADULT_AGE <= minimum <= maximum <= iraq.OLDEST_AGE:
            raise Invalid(f"{where}: ages mapped to age bands are {iraq.ADULT_AGE}-{iraq.OLDEST_AGE}")
    elif minimum is not None or maximum is not None:
        raise Invalid(f"{where}: min and max are for integer questions")
    max_length = item.get("max_length")
    if kind == QuestionType.TEXT:
        max_length = TEXT_LIMIT if max_length is None else max_length
        if not isinstance(max_length, int) or not 1 <= max_length <= TEXT_LIMIT:
            raise Invalid(f"{where}: max_length is 1-{TEXT_LIMIT} characters")
    elif max_length is not None:
        raise Invalid(f"{where}: max_length is for text questions")
    randomize = item.get("randomize", False)
    if not isinstance(randomize, bool):
        raise Invalid(f"{where}: randomize is true or false")
    if randomize and (kind not in (QuestionType.SELECT_ONE, QuestionType.SELECT_MULTIPLE) or
                      role == QuestionRole.HEADLINE):
        raise Invalid(f"{where}: randomize is for the choices of a select_one or select_multiple after the headline "
                      "(the headline's order is a split-ballot variant's: see [experiment])")
    return Question(
        name=name, type=kind, label=label, required=required, relevant=relevant, role=role, maps_to=maps_to,
        choices=choices, minimum=minimum if kind == QuestionType.INTEGER else None,
        maximum=maximum if kind == QuestionType.INTEGER else None, max_length=max_length,
        hint=texts_per_language(f"{where} hint", item.get("hint", {}), required=False), randomize=randomize,
    )


def _choices(where: str, kind: str, raw: Any, is_profile: bool) -> tuple[Choice, ...]:
    if kind == QuestionType.GOVERNORATE:
        if raw is not None:
            raise Invalid(f"{where}: a governorate question takes the 18 governorates; give it no choices")
        made = [Choice(gov.code, {"ar": gov.ar, "ku": gov.ku, "en": gov.en}) for gov in iraq.governorates()]
    elif kind in (QuestionType.SELECT_ONE, QuestionType.SELECT_MULTIPLE):
        if not isinstance(raw, list) or len(raw) < 2:
            raise Invalid(f"{where}: a {kind} question needs at least two choices")
        made, codes = [], set()
        for position, choice in enumerate(raw, start=1):
            if not isinstance(choice, dict) or set(choice) - {"code", "label"}:
                raise Invalid(f"{where}, choice {position}: only the keys code and label")
            code = str(choice.get("code", ""))
            if not CODE.fullmatch(code) or code == PREFER_NOT:
                raise Invalid(f"{where}, choice {position}: code must be 1-32 letters, digits, _, . or -")
            if code in codes:
                raise Invalid(f"{where}, choice {position}: code {code!r} is used twice")
            codes.add(code)
            made.append(Choice(code, texts_per_language(f"{where}, choice {position} label", choice.get("label"), required=True)))
    else:
        if raw is not None:
            raise Invalid(f"{where}: only choice questions take choices")
        return ()
    if is_profile and kind != QuestionType.SELECT_MULTIPLE:
        made.append(Choice(PREFER_NOT, dict(PREFER_NOT_LABELS)))
    return tuple(made)


def texts_per_language(name: str, texts: Any, *, required: bool) -> dict[str, str]:
    """`texts` checked as a text per language (ar, ku, en), 1-1000 characters each; raises Invalid naming `name`."""
    if texts is None and not required:
        return {}
    if not isinstance(texts, dict) or (required and not texts):
        raise Invalid(f"{name} needs a text per language, e.g. label.ar = \"...\"")
    for code, text in texts.items():
        if code not in LANGUAGES:
            raise Invalid(f"{name}: unknown language {code!r} (use {', '.join(LANGUAGES)})")
        if not isinstance(text, str) or not text.strip() or len(text) > 1000:
            raise Invalid(f"{name}.{code} must be a text of 1-1000 characters")
    return dict(texts)


def stored(questions: Sequence[Question], values: Mapping[str, Any]) -> dict[str, Any]:
    """`values` (by name) of `questions` as JSON keeps them: a multiple choice's set becomes a sorted list."""
    kept = {}
    for question in questions:
        value = values.get(question.name)
        if value is not None:
            kept[question.name] = sorted(value) if question.type == QuestionType.SELECT_MULTIPLE else value
    return kept


def tally_cells(questions: Sequence[Question], stored: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """The (question name, value) cells one answer counts in: "" for answering at all, then each code or number.

    A multiple choice counts once per code chosen; a text only as answered.
    """
    cells = []
    for question in questions:
        value = (stored or {}).get(question.name)
        if value is None:
            continue
        cells.append((question.name, ""))
        if question.type == QuestionType.SELECT_MULTIPLE:
            cells.extend((question.name, code) for code in value)
        elif question.type != QuestionType.TEXT:
            cells.append((question.name, str(value)))
    return cells


# Why a submitted answer was not taken; the answer form words each in the respondent's language.
REQUIRED, NOT_A_CHOICE, ONE_ONLY, NOT_A_NUMBER, OUT_OF_RANGE, TOO_LONG = (
    "required", "not-a-choice", "one-only", "not-a-number", "out-of-range", "too-long",
)
_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")


@dataclass
class Submission:
    """What a form's post says: the answers taken, and why others were not."""

    values: dict[str, Any] = field(default_factory=dict)  # name -> code, frozenset of codes, int or text
    errors: dict[str, str] = field(default_factory=dict)  # name -> one of the reasons above
    asked: list[str] = field(default_factory=list)  # the questions relevant to these answers, in order

    @property
    def is_complete(self) -> bool:
        return not self.errors


def read_answers(questions: list[Question], posted: dict[str, list[str]]) -> Submission:
    """Read a form's post: each question in order, skipping those whose condition does not hold on the answers before.

    `posted` maps a form field to its values (a multiple choice repeats its
    name). Answers to questions that are not relevant are ignored, whatever
    was posted for them.
    """
    submission = Submission()
    for question in questions:
        if not question.is_relevant(in_order(questions, submission.values)):
            continue
        submission.asked.append(question.name)
        values = [value for value in posted.get(question.form_name, []) if value != ""]
        value, error = read_value(question, values)
        if error:
            submission.errors[question.name] = error
        elif value is not None:
            submission.values[question.name] = value
    return submission


def in_order(questions: Sequence[Question], values: Mapping[str, Any]) -> dict[str, Any]:
    """`values` as conditions read them: a multiple choice's codes in the order of its list, as ODK joins them."""
    ordered = dict(values)
    for question in questions:
        chosen = values.get(question.name)
        if question.type == QuestionType.SELECT_MULTIPLE and isinstance(chosen, (set, frozenset)):
            ordered[question.name] = [choice.code for choice in question.choices if choice.code in chosen]
    return ordered


def read_value(question: Question, values: list[str]) -> tuple[Any, str | None]:
    """One question's answer from the values given for it (empty ones left out): the value, or why it was not taken."""
    if not values:
        return None, REQUIRED if question.required else None
    if question.type == QuestionType.SELECT_MULTIPLE:
        codes = {choice.code for choice in question.choices}
        chosen = frozenset(values)
        return (chosen, None) if chosen <= codes else (None, NOT_A_CHOICE)
    if len(values) > 1:
        return None, ONE_ONLY
    value = values[0]
    if question.takes_choices:
        return (value, None) if any(choice.code == value for choice in question.choices) else (None, NOT_A_CHOICE)
    if question.type == QuestionType.INTEGER:
        if value == PREFER_NOT and question.is_profile:
            return PREFER_NOT, None
        digits = value.strip().translate(_DIGITS).replace("\u2212", "-")  # a typographic minus too
        if not re.fullmatch(r"-?[0-9]{1,12}", digits):
            return None, NOT_A_NUMBER
        number = int(digits)
        in_range = question.minimum <= number <= question.maximum
        return (number, None) if in_range else (None, OUT_OF_RANGE)
    text = " ".join(value.replace("\x00", "").split())
    if not text:
        return None, REQUIRED if question.required else None
    return (text, None) if len(text) <= question.max_length else (None, TOO_LONG)
