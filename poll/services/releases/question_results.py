"""Figures per question: counts, shares and intervals of choices, summaries of numbers, crossings with the headline.

Read from the value tally (`services.answering.tallies.value_cells`), never from the
answers themselves. The disclosure rule holds for every figure, and each
rule is a breakdown that goes through the same suppression, shown set and
snapshot checks as the strata (`services.releases.suppression`,
`services.releases.publication`):

- A question is judged against the headline answers after which it can be
  asked (`questionnaire.asked_under`): a follow-up asked only after "no"
  holds only "no"s by design, and those who answered "yes" were never asked
  it, so they are neither another option nor among those who did not answer.
- A single choice's crossing with the headline ("q:<name>"): a choice shows
  its counts and headline shares only as a safe group, and those asked who
  did not answer (skipped, or an SMS conversation not finished) are a hidden
  category. A question about the respondent (`role = "profile"`) is a
  quasi-identifier besides, which the answers export generalises. A profile
  question mapped to a stratum is that stratum's breakdown already, so it
  shows counts only for the categories the stratum shows.
- A follow-up asked after one headline answer only tells nothing of the
  headline beyond the design (that answer's count is public): its choices
  ("c:<name>") are judged as the headline's own options, shown together once
  ten answered it and not all alike, without headline shares (all one answer
  by design). A profile question asked so stays a quasi-identifier: it is
  crossed as above, and so stays hidden.
- How many answered a question is a breakdown too ("a:<name>": answered,
  and not, among those asked; "n:<name>" in one column for a follow-up of one
  headline answer): those who did not answer would otherwise have their
  headline answer told. It is shown only when they are no one or a safe group.
- A multiple choice's choices overlap, so they are no breakdown of the
  headline; but a choice ticked by one person tells that person's answer, and
  one ticked by all but one tells theirs. Its ticks per choice ("m:<name>",
  one column) show a choice's count only when ten ticked it, and the choices
  hidden together are ticked by no one or by ten; shown besides only when
  ten of those who answered did not tick it (or none did, when the question's
  answers are a safe group).
- Numbers show n, mean, median and quartiles from ten answers; texts only
  how many answered (operators read them in exports).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from poll.questionnaire import PREFER_NOT, Question, asked_under
from poll.stats import disclosure, proportions, summaries
from poll.vocabulary import QuestionType

CROSSING = "q:"  # the prefix of a question's breakdown by its choices, e.g. "q:employment"
ANSWERED = "a:"  # the prefix of a question's breakdown by answered or not, e.g. "a:employment"
ASKED = "n:"  # answered or not, of a follow-up asked after one headline answer, e.g. "n:how_end"
CHOICES = "c:"  # a follow-up asked after one headline answer, by its choices, e.g. "c:how_end"
TICKED = "m:"  # a multiple choice's ticks per choice, e.g. "m:ethnicity"
ANSWERED_CODES = ["answered", ""]


def crossing_key(question: Question) -> str:
    return CROSSING + question.name


def answered_key(question: Question) -> str:
    return ANSWERED + question.name


def _answered_key(question: Question, one_answer: bool) -> str:
    return (ASKED if one_answer else ANSWERED) + question.name


def _judged_as_headline(question: Question, one_answer: bool) -> bool:
    # A follow-up of one headline answer whose choices are judged as the headline's own options.
    return one_answer and crosses_headline(question) and not question.is_profile


def crosses_headline(question: Question) -> bool:
    """Whether the question's crossing with the headline is a protected breakdown of its own ("q:<name>")."""
    return not question.is_headline and question.maps_to is None and question.type in (
        QuestionType.SELECT_ONE, QuestionType.GOVERNORATE)


def is_crossed_breakdown(question: Question) -> bool:
    """Whether the question is a quasi-identifier with its own breakdown: the answers export generalises it."""
    return question.is_profile and crosses_headline(question)


class ValueTable:
    """The value tally of one poll, arranged per question: counts by value and headline option."""

    def __init__(self, cells: Sequence[tuple[int, int, str, int]], question_ids: dict[str, int],
                 option_ids: Sequence[int]):
        self.position = {option_id: i for i, option_id in enumerate(option_ids)}
        self.width = len(option_ids)
        self.by_question: dict[int, dict[str, np.ndarray]] = {}
        for question_id, option_id, value, count in cells:
            row = self.by_question.setdefault(question_id, {}).setdefault(value, np.zeros(self.width, np.int64))
            row[self.position[option_id]] += count
        self.ids = question_ids

    def row(self, question: Question, value: str) -> np.ndarray:
        """Answers of `question` with `value` ("" for answered at all), per headline option."""
        return self.by_question.get(self.ids[question.name], {}).get(value, np.zeros(self.width, np.int64))

    def numbers(self, question: Question) -> dict[int, int]:
        """An integer question's answers: number -> how many gave it ("prefer not to say" left out)."""
        found = self.by_question.get(self.ids[question.name], {})
        return {int(value): int(row.sum()) for value, row in found.items() if value not in ("", PREFER_NOT)}


def crossing_tables(questions: Sequence[Question], values: ValueTable, totals: np.ndarray,
                    ) -> dict[str, tuple[list[str], np.ndarray]]:
    """Each question's breakdowns (see the module's docstring): by answered or not, and by its choices.

    A table's last row is never shown on its own but counts with the hidden:
    in "q:" and "a:", those asked who did not answer, so the rows sum to the
    headline's totals where the question can be asked, as a stratum's do.
    """
    headline = next(question for question in questions if question.is_headline)
    asked = asked_under(questions)
    tables = {}
    for question in questions:
        if question.is_headline:
            continue
        inside = np.array([choice.code in asked[question.name] for choice in headline.choices])
        one_answer = int(inside.sum()) == 1
        answered = values.row(question, "")
        unanswered = np.where(inside, np.maximum(totals - answered, 0), 0)  # those asked who did not answer
        if one_answer:
            tables[_answered_key(question, True)] = (list(ANSWERED_CODES),
                                                     np.array([answered[inside], unanswered[inside]]))
        else:
            tables[answered_key(question)] = (list(ANSWERED_CODES), np.array([answered, unanswered]))
        codes = [choice.code for choice in question.choices]
        if question.type == QuestionType.SELECT_MULTIPLE:
            ticked = [[int(values.row(question, code).sum())] for code in codes]
            tables[TICKED + question.name] = ([*codes, ""], np.array([*ticked, [0]], dtype=np.int64))
        elif _judged_as_headline(question, one_answer):
            chosen = [int(values.row(question, code).sum()) for code in codes]
            tables[CHOICES + question.name] = (list(ANSWERED_CODES), np.array([chosen, [0] * len(codes)]))
        elif crosses_headline(question):
            table = np.array([values.row(question, code) for code in codes] + [np.zeros(values.width, np.int64)])
            table[-1] = np.where(inside, np.maximum(totals - table[:-1].sum(axis=0), 0), 0)
            tables[crossing_key(question)] = ([*codes, ""], table)
    return tables


def figures(
    questions: Sequence[Question], values: ValueTable, headline_figures: dict[str, Any],
    headline_codes: Sequence[str], masks: dict[str, np.ndarray], tables: dict[str, tuple[list[str], np.ndarray]],
    truth: dict[str, dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Every question's figures in order, JSON-ready; the headline's are `headline_figures`.

    `truth` (a simulation's, by question name) adds "true_share" to choices
    and "true_summary" to numbers.
    """
    truth = truth or {}
    asked = asked_under(questions)
    out = []
    for question in questions:
        base = {"name": question.name, "type": str(question.type), "role": question.role and str(question.role),
                "label": question.label.get("en") or next(iter(question.label.values())),
                "labels": dict(question.label)}
        if question.is_headline:
            out.append(base | headline_figures)
            continue
        after = [code for code in headline_codes if code in asked[question.name]]
        one_answer = len(after) == 1
        # The headline answers after which it is asked, where not after every one.
        base["asked_after"] = after if len(after) < len(headline_codes) else None
        answered = int(values.row(question, "").sum())
        # How many answered, only where those asked who did not are no one or a safe group (see "a:" above).
        base["answered"] = answered if masks[_answered_key(question, one_answer)][0] else None
        if question.type == QuestionType.INTEGER:
            summary = summaries.summary(values.numbers(question))
            base["summary"] = summary if summary["n"] >= disclosure.MIN_GROUP and base["answered"] is not None \
                else None
            if "summary" in truth.get(question.name, {}):
                base["true_summary"] = truth[question.name]["summary"]
        elif question.takes_choices:
            base["options"] = _choice_figures(question, values, answered, headline_codes, masks, tables,
                                              answered_shown=base["answered"] is not None, one_answer=one_answer)
            true_shares = truth.get(question.name, {}).get("shares")
            if true_shares is not None:
                for figure in base["options"]:
                    figure["true_share"] = true_shares.get(figure["code"])
        out.append(base)
    return out


def _choice_figures(question: Question, values: ValueTable, answered: int, headline_codes: Sequence[str],
                    masks: dict[str, np.ndarray], tables: dict[str, tuple[list[str], np.ndarray]], *,
                    answered_shown: bool, one_answer: bool) -> list[dict]:
    rows = {choice.code: values.row(question, choice.code) for choice in question.choices}
    counts = np.array([int(row.sum()) for row in rows.values()])
    shown, crossed = _shown(question, counts, answered, masks, tables, answered_shown=answered_shown,
                            one_answer=one_answer)
    figures = []
    for (code, row), count, is_shown in zip(rows.items(), counts, shown, strict=True):
        choice = question.choice(code)
        figure = {"code": code, "label": choice.label.get("en") or next(iter(choice.label.values())),
                  "labels": dict(choice.label), "suppressed": not is_shown, "count": None, "share": None,
                  "ci95": None, "headline": None}
        if is_shown and answered:
            figure["count"] = int(count)
            if answered_shown:  # a share of a hidden total would give the total away
                figure |= {"share": float(count / answered), "ci95": list(proportions.wilson(int(count), answered))}
            if crossed and row.sum():
                figure["headline"] = {h: float(n / row.sum()) for h, n in zip(headline_codes, row, strict=True)}
        figures.append(figure)
    return figures


def _shown(question: Question, counts: np.ndarray, answered: int, masks: dict[str, np.ndarray],
           tables: dict[str, tuple[list[str], np.ndarray]], *, answered_shown: bool,
           one_answer: bool) -> tuple[list[bool], bool]:
    # Which choices show their figures, and whether their headline shares are shown too.
    if _judged_as_headline(question, one_answer):
        # As the headline's options: all together, once a safe group; their sum is how many answered, so that too.
        return [bool(masks[CHOICES + question.name][0]) and answered_shown] * len(counts), False
    if crosses_headline(question):
        return list(masks[crossing_key(question)][:-1]), True
    if question.maps_to is not None:
        codes, _table = tables[question.maps_to]
        shown_codes = {code for code, is_shown in zip(codes, masks[question.maps_to], strict=True) if is_shown}
        # "Prefer not to say" is in no stratum: its count alone says nothing of anyone's answers. Counts that
        # would add up to a hidden number answered are not shown either.
        if not answered_shown:
            return [False] * len(question.choices), False
        return [choice.code in shown_codes or (choice.code == PREFER_NOT and counts.sum() >= disclosure.MIN_GROUP)
                for choice in question.choices], False
    # A multiple choice: a choice ten ticked (with the hidden ones ticked by none or ten together, "m:"), and ten
    # did not tick, or none did when the answers are a safe group; shares need how many answered shown.
    safe = answered_shown and answered >= disclosure.MIN_GROUP and int(np.count_nonzero(counts)) >= 2
    ticked = masks[TICKED + question.name][:-1]
    return [safe and bool(is_ticked) and (answered - int(count) >= disclosure.MIN_GROUP or int(count) == answered)
            for is_ticked, count in zip(ticked, counts, strict=True)], False
