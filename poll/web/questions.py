"""The answer form's questions as a page shows them: labels in the reader's language, kept values, errors, branching.

Branching works two ways. With JavaScript (`static/form.js`), a question
whose condition does not hold on the answers above it is hidden and its
inputs disabled; the condition travels as the parsed tree in a data
attribute, so the script never parses anything. Without JavaScript every
question is shown, and a conditional one says when to answer it ("Answer
only if your answer to question 1 is “No”"); the server ignores answers to
questions whose condition does not hold, whatever was posted.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

from flask_babel import gettext as _
from markupsafe import Markup, escape

from poll import conditions, questionnaire, variants
from poll.i18n import Language, pick
from poll.questionnaire import Question
from poll.vocabulary import QuestionType


@dataclass(frozen=True)
class ShownQuestion:
    """One question of the form, ready for the template."""

    number: int
    question: Question
    label: str  # with each answer piped into it (${name}) in a span that the script keeps up to date
    hint: str
    choices: list[tuple[str, str]]  # (code, label)
    kept: list[str]  # what was posted for it, to show again after a refused submission
    error: str | None
    condition: str | None  # the parsed condition as JSON, for the script
    condition_text: str | None  # the condition in words, for readers without the script

    @property
    def field(self) -> str:
        return self.question.form_name

    @property
    def leads(self) -> bool:
        """Whether the page is headed by it: the headline, or the first step of a headline asked in two."""
        if self.question.name == variants.STEP:
            return True
        return self.question.is_headline and not self.question.relevant

    @property
    def widget(self) -> str:
        """How it is asked: radio, checkbox, select, number or text."""
        kind = self.question.type
        if kind == QuestionType.GOVERNORATE:
            return "select"
        if kind == QuestionType.SELECT_MULTIPLE:
            return "checkbox"
        if kind == QuestionType.SELECT_ONE:
            return "radio"
        return "number" if kind == QuestionType.INTEGER else "text"

    @property
    def bounds(self) -> tuple[int | None, int | None]:
        """An integer's range as the form states it: None for a side the form left open."""
        low, high = questionnaire.INTEGER_RANGE
        question = self.question
        return (None if question.minimum == low else question.minimum,
                None if question.maximum == high else question.maximum)

    @property
    def digits(self) -> int:
        """The most characters a number in the range takes, its sign included."""
        return max(len(str(self.question.minimum)), len(str(self.question.maximum)))

    @property
    def offers_prefer_not(self) -> bool:
        """An integer profile question offers "prefer not to say" beside its number."""
        return self.question.is_profile and self.question.type == QuestionType.INTEGER


def shown_questions(
    questions: Sequence[Question], language: Language, posted: dict[str, list[str]] | None = None,
    errors: dict[str, str] | None = None, order_of: str | None = None,
) -> list[ShownQuestion]:
    """`questions` as the form shows them, with `posted` values kept and `errors` (by name) worded; a randomized
    question's choices in the order `order_of` (a link's token) draws, the same on every look."""
    posted, errors = posted or {}, errors or {}
    numbers = {question.name: number for number, question in enumerate(questions, start=1)}
    by_name = {question.name: question for question in questions}
    shown = []
    for number, question in enumerate(questions, start=1):
        condition = question.condition
        shown.append(ShownQuestion(
            number=number,
            question=question,
            label=_piped(pick(question.label, language), posted, by_name, language),
            hint=pick(question.hint, language) if question.hint else "",
            choices=[(choice.code, pick(choice.label, language)) for choice in drawn_order(question, order_of)],
            kept=[value for value in posted.get(question.form_name, []) if value != ""],
            error=error_text(question, errors[question.name]) if question.name in errors else None,
            condition=json.dumps(condition.tree) if condition else None,
            condition_text=_("Answer only if %(condition)s.", condition=_words(condition.tree, numbers, by_name,
                                                                            language)) if condition else None,
        ))
    return shown


def drawn_order(question: Question, order_of: str | None) -> list:
    """`question`'s choices in the order shown: the list's, or for a randomized question one drawn from `order_of`
    (a link's token, so that a reload shows the same order; a digest of it, so the order tells nothing of it)."""
    choices = list(question.choices)
    if question.randomize and order_of is not None:
        seed = int.from_bytes(hashlib.sha256(f"{order_of}\x00{question.name}".encode()).digest()[:8], "big")
        random.Random(seed).shuffle(choices)
    return choices


_PIPE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_.]*)\}")


def _piped(label: str, posted: dict[str, list[str]], questions: dict[str, Question], language: Language) -> Markup:
    """`label` with each `${name}` replaced by the answer to that question as posted (a choice by its words), in a
    span the script fills in as the respondent answers; an unknown name stays as written."""
    parts, position = [], 0
    for found in _PIPE.finditer(label):
        question = questions.get(found[1])
        if question is None:
            continue
        values = [value for value in posted.get(question.form_name, []) if value not in ("", questionnaire.PREFER_NOT)]
        if question.takes_choices:
            values = [pick(choice.label, language) for choice in question.choices if choice.code in values]
        parts += [escape(label[position:found.start()]),
                  Markup('<span class="pipe" data-pipe="{}">{}</span>').format(found[1], ", ".join(values))]
        position = found.end()
    return Markup("").join([*parts, escape(label[position:])])


def error_text(question: Question, reason: str) -> str:
    """Why an answer was not taken, in the reader's language."""
    if reason == questionnaire.REQUIRED and not question.takes_choices:
        return _("Please answer this question.")
    if reason == questionnaire.REQUIRED and question.type == QuestionType.SELECT_MULTIPLE:
        return _("Please choose at least one of the answers below, then send.")
    if reason == questionnaire.ONE_ONLY:
        return _("Please give only one answer.")
    if reason == questionnaire.NOT_A_NUMBER:
        return _("Please write a whole number in digits.")
    if reason == questionnaire.OUT_OF_RANGE:
        low, high = questionnaire.INTEGER_RANGE
        if question.minimum == low:
            return _("Please write a number no greater than %(high)s.", high=question.maximum)
        if question.maximum == high:
            return _("Please write a number no less than %(low)s.", low=question.minimum)
        return _("Please write a number from %(low)s to %(high)s.", low=question.minimum, high=question.maximum)
    if reason == questionnaire.TOO_LONG:
        return _("Please keep your answer under %(limit)s characters.", limit=question.max_length)
    return _("Please choose one of the answers below, then send.")


def _words(tree: tuple, numbers: dict[str, int], questions: dict[str, Question], language: Language) -> str:
    # A condition in words: "your answer to question 1 is “No”", joined with and/or/not.
    kind = tree[0]
    if kind in ("and", "or"):
        left, right = _words(tree[1], numbers, questions, language), _words(tree[2], numbers, questions, language)
        return _("%(left)s and %(right)s", left=left, right=right) if kind == "and" else _(
            "%(left)s or %(right)s", left=left, right=right)
    if kind == "not":
        return _("not (%(condition)s)", condition=_words(tree[1], numbers, questions, language))
    if kind == "answered":
        return _("you answered question %(number)s", number=numbers[tree[1][1]])
    name, value = _name_and_value(tree[1], tree[2] if len(tree) > 2 else None)
    if kind in ("==", "!=") and name is not None and value == "":  # XPath's blank: "ask only if answered"
        if kind == "!=":
            return _("you answered question %(number)s", number=numbers[name])
        return _("you did not answer question %(number)s", number=numbers[name])
    if kind in ("==", "!=") and name is not None:
        answer = _answer_words(questions[name], value, language)
        number = numbers[name]
        if kind == "==":
            return _("your answer to question %(number)s is “%(answer)s”", number=number, answer=answer)
        return _("your answer to question %(number)s is not “%(answer)s”", number=number, answer=answer)
    if kind == "in" and tree[1][0] == "name" and tree[2][0] == "list":
        name = tree[1][1]
        comma = "، " if language.direction == "rtl" else ", "  # the Arabic comma in Arabic script
        answers = comma.join(f"“{_answer_words(questions[name], item[1], language)}”" for item in tree[2][1])
        return _("your answer to question %(number)s is one of %(answers)s", number=numbers[name], answers=answers)
    if kind == "in" and tree[1][0] == "value" and tree[2][0] == "name":
        name = tree[2][1]
        return _("you chose “%(answer)s” in question %(number)s",
                 answer=_answer_words(questions[name], tree[1][1], language), number=numbers[name])
    # Comparisons between two answers: rare enough to state as written.
    return conditions.render(tree)


def _name_and_value(left: tuple, right: tuple | None) -> tuple[str | None, object]:
    # The question a comparison reads and the value it compares with, whichever side each is on.
    if right is None:
        return None, None
    if left[0] == "name" and right[0] == "value":
        return left[1], right[1]
    if right[0] == "name" and left[0] == "value":
        return right[1], left[1]
    return None, None


def _answer_words(question: Question, value: object, language: Language) -> str:
    choice = question.choice(str(value))
    return pick(choice.label, language) if choice else str(value)
