"""Figures per question: counts, shares and intervals of choices, summaries of numbers, crossings with the headline.

Read from the value tally (`services.tallies.value_cells`), never from the
answers themselves. The disclosure rule holds for every figure:

- Every single-choice question's crossing with the headline is a breakdown
  ("q:<name>") that goes through the same suppression, shown set and
  snapshot checks as the strata (`services.suppression`,
  `services.publication`): a choice shows its counts and headline shares
  only as a safe group, and those who did not answer (not asked, skipped, or
  an SMS conversation not finished) are a hidden category. A question about
  the respondent (`role = "profile"`) is a quasi-identifier besides, which
  the answers export generalises. A profile question mapped to a stratum is
  that stratum's breakdown already, so it shows counts only for the
  categories the stratum shows.
- How many answered a question is a breakdown too ("a:<name>": answered,
  and not): a question asked after one headline answer only, or a
  conversation finishing, would otherwise tell the headline answer of the
  few who did not answer it. It is shown only when those who did not answer
  are no one or a safe group.
- Multiple choices show their counts once ten answered with two different
  answers, without headline shares; numbers show n, mean, median and
  quartiles from ten answers; texts only how many answered (operators read
  them in exports).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from poll.questionnaire import PREFER_NOT, Question
from poll.stats import disclosure, proportions, summaries
from poll.vocabulary import QuestionType

CROSSING = "q:"  # the prefix of a question's breakdown by its choices, e.g. "q:employment"
ANSWERED = "a:"  # the prefix of a question's breakdown by answered or not, e.g. "a:how_end"
ANSWERED_CODES = ["answered", ""]


def crossing_key(question: Question) -> str:
    return CROSSING + question.name


def answered_key(question: Question) -> str:
    return ANSWERED + question.name


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
    """Each question's breakdowns: by answered or not ("a:"), and a single choice's by its choices ("q:"),
    choice codes then "" for not answered.

    The last row holds the answers that did not answer the question (never
    shown on its own, counted with the hidden), so the rows sum to the
    headline's totals as a stratum's do.
    """
    tables = {}
    for question in questions:
        if question.is_headline:
            continue
        answered = values.row(question, "")
        tables[answered_key(question)] = (list(ANSWERED_CODES),
                                          np.array([answered, np.maximum(totals - answered, 0)]))
        if not crosses_headline(question):
            continue
        codes = [choice.code for choice in question.choices]
        table = np.array([values.row(question, code) for code in codes] + [np.zeros(values.width, np.int64)])
        table[-1] = np.maximum(totals - table[:-1].sum(axis=0), 0)
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
    out = []
    for question in questions:
        base = {"name": question.name, "type": str(question.type), "role": question.role and str(question.role),
                "label": question.label.get("en") or next(iter(question.label.values())),
                "labels": dict(question.label)}
        if question.is_headline:
            out.append(base | headline_figures)
            continue
        answered = int(values.row(question, "").sum())
        # How many answered, only where those who did not are no one or a safe group (see "a:" above).
        base["answered"] = answered if masks[answered_key(question)][0] else None
        if question.type == QuestionType.INTEGER:
            summary = summaries.summary(values.numbers(question))
            base["summary"] = summary if summary["n"] >= disclosure.MIN_GROUP and base["answered"] is not None \
                else None
            if "summary" in truth.get(question.name, {}):
                base["true_summary"] = truth[question.name]["summary"]
        elif question.takes_choices:
            base["options"] = _choice_figures(question, values, answered, headline_codes, masks, tables,
                                              answered_shown=base["answered"] is not None)
            true_shares = truth.get(question.name, {}).get("shares")
            if true_shares is not None:
                for figure in base["options"]:
                    figure["true_share"] = true_shares.get(figure["code"])
        out.append(base)
    return out


def _choice_figures(question: Question, values: ValueTable, answered: int, headline_codes: Sequence[str],
                    masks: dict[str, np.ndarray], tables: dict[str, tuple[list[str], np.ndarray]], *,
                    answered_shown: bool) -> list[dict]:
    rows = {choice.code: values.row(question, choice.code) for choice in question.choices}
    counts = np.array([int(row.sum()) for row in rows.values()])
    shown, crossed = _shown(question, counts, masks, tables)
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


def _shown(question: Question, counts: np.ndarray, masks: dict[str, np.ndarray],
           tables: dict[str, tuple[list[str], np.ndarray]]) -> tuple[list[bool], bool]:
    # Which choices show their figures, and whether their headline shares are shown too.
    if crosses_headline(question):
        return list(masks[crossing_key(question)][:-1]), True
    if question.maps_to is not None:
        codes, _table = tables[question.maps_to]
        shown_codes = {code for code, is_shown in zip(codes, masks[question.maps_to], strict=True) if is_shown}
        # "Prefer not to say" is in no stratum: its count alone says nothing of anyone's answers. Counts that
        # would add up to a hidden number answered are not shown either.
        if not masks[answered_key(question)][0]:
            return [False] * len(question.choices), False
        return [choice.code in shown_codes or (choice.code == PREFER_NOT and counts.sum() >= disclosure.MIN_GROUP)
                for choice in question.choices], False
    # A multiple choice: counts only, once ten answered with two different answers, and how many answered
    # may be shown; its choices overlap, so they are no breakdown of the headline.
    safe = int(counts.sum()) >= disclosure.MIN_GROUP and int(np.count_nonzero(counts)) >= 2 \
        and bool(masks[answered_key(question)][0])
    return [safe] * len(counts), False
