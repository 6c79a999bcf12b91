"""How simulated respondents fill in a questionnaire beyond the headline.

Profile questions are answered from each person's true attributes, as real
respondents answer them: some round their age to a multiple of five (age
heaping), a few name another governorate, some prefer not to say. A
question named `education` with the levels of scenario.EDUCATION is answered
from each person's education. Some leave the optional questions unanswered
(break-off). Questions the simulated world knows nothing about (employment, any other) are
answered uniformly at random over their choices or range: an assumption,
stated as such in the run's truth. Rates come from the scenario's
`[questionnaire]` table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from poll import iraq
from poll.questionnaire import PREFER_NOT, Question
from poll.simulate.population import Population
from poll.simulate.scenario import EDUCATION
from poll.vocabulary import QuestionType

EDUCATION_QUESTION = "education"
MULTIPLE_CHOICE_RATE = 0.3  # each choice of a multiple choice is ticked with this probability (assumption)
SIMULATED_TEXT = "—"


def answers(questions: Sequence[Question], people: Population, headline: Sequence[str],
            spec: Mapping[str, float], rng: np.random.Generator) -> list[dict[str, Any]]:
    """Each respondent's answers by question name (the headline's among them), in the order of `people`."""
    n = len(people)
    given: list[dict[str, Any]] = [{} for _ in range(n)]
    headline_question = next(question for question in questions if question.is_headline)
    for values, code in zip(given, headline, strict=True):
        values[headline_question.name] = code
    breaks_off = rng.random(n) < spec["break_off"]
    for question in questions:
        if question.is_headline:
            continue
        drawn = _draw(question, people, spec, rng)
        skips = breaks_off & (not question.required)
        for i, values in enumerate(given):
            if not skips[i] and question.is_relevant(values):
                values[question.name] = drawn[i]
    return given


def _draw(question: Question, people: Population, spec: Mapping[str, float], rng: np.random.Generator) -> list:
    n = len(people)
    if question.maps_to == "sex":
        values = people.sex_codes().astype(object)
    elif question.maps_to == "governorate":
        values = people.governorate_codes().astype(object)
        codes = np.array([gov.code for gov in iraq.governorates()], dtype=object)
        elsewhere = rng.random(n) < spec["other_governorate"]
        # Another governorate than one's own: a uniform step of 1-17 around the list.
        shifted = (people.governorate + rng.integers(1, len(codes), n)) % len(codes)
        values = np.where(elsewhere, codes[shifted], values)
    elif question.maps_to == "age_band" and question.type == QuestionType.INTEGER:
        ages = people.age.copy()
        heaped = rng.random(n) < spec["age_heaping"]
        ages = np.where(heaped, np.round(ages / 5) * 5, ages)
        values = np.clip(ages, question.minimum, question.maximum).astype(int).astype(object)
    elif question.maps_to == "age_band":
        values = people.age_band_labels().astype(object)
    elif is_education(question):
        values = np.array(EDUCATION, dtype=object)[people.education]
    elif question.takes_choices and question.type != QuestionType.SELECT_MULTIPLE:
        codes = np.array([c.code for c in question.choices if c.code != PREFER_NOT], dtype=object)
        values = codes[rng.integers(0, len(codes), n)]
    elif question.type == QuestionType.SELECT_MULTIPLE:
        ticks = rng.random((n, len(question.choices))) < MULTIPLE_CHOICE_RATE
        codes = [c.code for c in question.choices]
        values = np.empty(n, dtype=object)
        for i, row in enumerate(ticks):
            chosen = frozenset(code for code, ticked in zip(codes, row, strict=True) if ticked)
            values[i] = chosen or (frozenset({codes[rng.integers(len(codes))]}) if question.required else None)
    elif question.type == QuestionType.INTEGER:
        values = rng.integers(question.minimum, question.maximum + 1, n).astype(object)
    else:
        values = np.full(n, SIMULATED_TEXT if question.required else None, dtype=object)
    if question.is_profile:
        values = np.where(rng.random(n) < spec["prefer_not"], PREFER_NOT, values)
    return [None if value is None else (int(value) if isinstance(value, np.integer) else value) for value in values]


def is_education(question: Question) -> bool:
    """Whether `question` asks the education the simulated world knows: by its name and levels."""
    codes = [choice.code for choice in question.choices if choice.code != PREFER_NOT]
    return question.name == EDUCATION_QUESTION and question.type == QuestionType.SELECT_ONE and \
        codes == list(EDUCATION)


def as_form(questions: Sequence[Question], values: Mapping[str, Any]) -> list[tuple[str, str]]:
    """`values` as the answer form posts them: (field, value) pairs, a multiple choice once per code."""
    fields = []
    for question in questions:
        value = values.get(question.name)
        if value is None:
            continue
        if isinstance(value, frozenset | set | list | tuple):
            fields += [(question.form_name, str(code)) for code in sorted(value)]
        else:
            fields.append((question.form_name, str(value)))
    return fields


def truth(questions: Sequence[Question], people: Population) -> dict[str, dict[str, Any]]:
    """What the whole population would truly answer to each question after the headline, where the world knows it.

    Choice questions give true shares per code (uniform for the questions the
    world knows nothing about, as they are drawn); ages give the population's
    summary. Questions the world cannot answer (texts, other numbers) are left out.
    """
    out: dict[str, dict[str, Any]] = {}
    for question in questions:
        if question.is_headline:
            continue
        if question.maps_to in ("sex", "governorate") or (
                question.maps_to == "age_band" and question.type != QuestionType.INTEGER):
            codes = {"sex": people.sex_codes, "governorate": people.governorate_codes,
                     "age_band": people.age_band_labels}[question.maps_to]()
            found, counts = np.unique(codes, return_counts=True)
            out[question.name] = {"shares": {str(c): float(n / len(codes)) for c, n in zip(found, counts, strict=True)}}
        elif is_education(question):
            counts = np.bincount(people.education, minlength=len(EDUCATION))
            out[question.name] = {"shares": {code: float(n / len(people)) for code, n in zip(EDUCATION, counts,
                                                                                            strict=True)}}
        elif question.maps_to == "age_band":
            ages = np.clip(people.age, question.minimum, question.maximum)
            q1, median, q3 = np.percentile(ages, [25, 50, 75])
            out[question.name] = {"summary": {"n": len(ages), "mean": float(ages.mean()), "median": float(median),
                                              "q1": float(q1), "q3": float(q3)}}
        elif question.takes_choices and question.type != QuestionType.SELECT_MULTIPLE:
            codes = [c.code for c in question.choices if c.code != PREFER_NOT]
            out[question.name] = {"shares": dict.fromkeys(codes, 1 / len(codes)), "assumed": True}
    return out
