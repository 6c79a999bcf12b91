"""Split-ballot experiments: a poll's headline asked in several ways, one way per link.

A definition's `[experiment]` names two to six variants of the headline
question. Each may change

- its wording: `label` (per language) and `choices` (a label per code and language);
- its option order: `order`, every code once;
- its framing: `steps`, the question asked in two steps: a first answer per
  group of codes (e.g. "Yes" for code 3, "No" for codes 1 and 2), then, for
  the one group with several codes, which of them (`then` asks it).

A variant never changes the codes: every answer lands on the headline's own
options, so the variants' answers can be compared. The first variant is the
reference the others are compared with. Each link is given a variant when it
is issued (`assign`): at random from `seed`, balanced within every
governorate, sex and age band, and the answer keeps it.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from poll.errors import Invalid
from poll.questionnaire import Choice, Question, texts_per_language

NAME = re.compile(r"[a-z][a-z0-9_-]{0,7}")  # a category code where breakdowns keep theirs (8 characters)
RESERVED = {"other"}  # what exports call the hidden categories together
STEP = "_step"  # the first step's form field: no question of a definition can have this name
MIN_VARIANTS, MAX_VARIANTS = 2, 6
_KEYS = {"name", "label", "choices", "order", "steps", "then"}


@dataclass(frozen=True)
class Step:
    """One answer of a two-step question's first step, and the headline codes it stands for."""

    codes: tuple[str, ...]
    label: dict[str, str]


@dataclass(frozen=True)
class Variant:
    """One way of asking the headline."""

    name: str
    label: dict[str, str] = field(default_factory=dict)  # the question's wording (the first step's, with steps)
    choices: dict[str, dict[str, str]] = field(default_factory=dict)  # choice wording by code
    order: tuple[str, ...] = ()  # the choices' order; () keeps the definition's
    steps: tuple[Step, ...] = ()  # asked in two steps when given
    then: dict[str, str] = field(default_factory=dict)  # the second step's question

    @property
    def kind(self) -> str:
        """What it changes, in words for operators: "as defined", or wording, order and steps joined."""
        changes = [name for name, given in (("wording", self.label or self.choices), ("order", self.order),
                                            ("two steps", self.steps)) if given]
        return ", ".join(changes) or "as defined"

    def headline(self, base: Question) -> Question:
        """The headline as this variant shows its choices: wording and order (the second step's, with steps)."""
        choices = [Choice(c.code, {**c.label, **self.choices.get(c.code, {})}) for c in base.choices]
        if self.order:
            choices.sort(key=lambda choice: self.order.index(choice.code))
        if self.steps:
            several = self.several
            choices = [choice for choice in choices if several and choice.code in several.codes]
            return replace(base, label={**base.label, **self.then}, choices=tuple(choices),
                           relevant=f"{STEP} == '{self.steps.index(several) + 1}'" if several else None)
        return replace(base, label={**base.label, **self.label}, choices=tuple(choices))

    @property
    def several(self) -> Step | None:
        """The first step's answer that is asked further (several codes), if any."""
        return next((step for step in self.steps if len(step.codes) > 1), None)

    def question_label(self, base: Question) -> dict[str, str]:
        """The question as a respondent first reads it (in the SMS, at the top of the page)."""
        return {**base.label, **self.label}

    def form_questions(self, questions: Sequence[Question]) -> tuple[Question, ...]:
        """The questionnaire as this variant's form shows it: the headline changed, or in two steps."""
        shown: list[Question] = []
        for question in questions:
            if not question.is_headline:
                shown.append(question)
                continue
            if self.steps:
                shown.append(Question(
                    name=STEP, type=question.type, label=self.question_label(question),
                    choices=tuple(Choice(str(i), dict(step.label)) for i, step in enumerate(self.steps, start=1)),
                ))
                if self.several is None:
                    continue
            shown.append(self.headline(question))
        return tuple(shown)

    def posted(self, headline: Question, posted: Mapping[str, list[str]]) -> dict[str, list[str]]:
        """A post to this variant's form as the definition's questions read it: the two steps made one answer.

        A first step that stands for one code is that code; one that stands
        for several keeps the second step's answer only if it is among them;
        an unreadable first step leaves the headline unanswered. A post with
        no first step at all names the headline's code itself (`option`), as
        any poll's form does.
        """
        read = {name: values for name, values in posted.items() if name != STEP}
        given = [value for value in posted.get(STEP, []) if value]
        if not self.steps or not given:
            return read
        step = self.steps[int(given[0]) - 1] if len(given) == 1 and given[0] in self._step_numbers else None
        field_name = headline.form_name
        if step is None:
            read[field_name] = []
        elif len(step.codes) == 1:
            read[field_name] = [step.codes[0]]
        else:
            read[field_name] = [value for value in posted.get(field_name, []) if value in step.codes]
        return read

    def fields_for(self, code: str) -> list[tuple[str, str]]:
        """What this variant's form posts for the headline answer `code`: one field, or the two steps'."""
        if not self.steps:
            return [("option", code)]
        number = next(i for i, step in enumerate(self.steps, start=1) if code in step.codes)
        step = self.steps[number - 1]
        return [(STEP, str(number))] + ([("option", code)] if len(step.codes) > 1 else [])

    def first_shown(self, codes: Sequence[str]) -> str | None:
        """The headline answer a respondent reads first in this variant (None when the first answer stands for
        several)."""
        if self.steps:
            first = self.steps[0].codes
            return first[0] if len(first) == 1 else None
        return self.order[0] if self.order else codes[0]

    def step_missing(self, posted: Mapping[str, list[str]]) -> bool:
        """Whether the first step of a two-step variant has no readable answer in `posted`."""
        given = [value for value in posted.get(STEP, []) if value]
        return bool(self.steps) and not (len(given) == 1 and given[0] in self._step_numbers)

    @property
    def _step_numbers(self) -> set[str]:
        return {str(i) for i in range(1, len(self.steps) + 1)}

    def as_dict(self) -> dict[str, Any]:
        """The variant as a poll keeps it (`Poll.experiment`)."""
        return {"name": self.name, "label": dict(self.label), "choices": {k: dict(v) for k, v in self.choices.items()},
                "order": list(self.order), "steps": [{"codes": list(s.codes), "label": dict(s.label)}
                                                     for s in self.steps], "then": dict(self.then)}


@dataclass(frozen=True)
class Experiment:
    """A poll's variants and the seed their assignment is drawn from."""

    seed: int
    variants: tuple[Variant, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(variant.name for variant in self.variants)

    def variant(self, name: str | None) -> Variant | None:
        return next((variant for variant in self.variants if variant.name == name), None)

    def as_dict(self) -> dict[str, Any]:
        return {"seed": self.seed, "variants": [variant.as_dict() for variant in self.variants]}

    @classmethod
    def from_dict(cls, kept: Mapping[str, Any] | None) -> Experiment | None:
        """The experiment a poll keeps, or None for a poll without one."""
        if not kept:
            return None
        return cls(int(kept["seed"]), tuple(
            Variant(name=v["name"], label=dict(v["label"]), choices={k: dict(t) for k, t in v["choices"].items()},
                    order=tuple(v["order"]), steps=tuple(Step(tuple(s["codes"]), dict(s["label"])) for s in v["steps"]),
                    then=dict(v["then"]))
            for v in kept["variants"]))


def read(raw: Any, headline: Question, questions: Sequence[Question] = ()) -> Experiment | None:
    """The `[experiment]` of a definition, checked against its headline and its other `questions`; None when
    there is none."""
    if raw is None:
        return None
    if not isinstance(raw, dict) or set(raw) - {"seed", "variants"}:
        raise Invalid("experiment has the keys seed and variants")
    seed = raw.get("seed", secrets.randbits(63))
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**63:
        raise Invalid("experiment.seed must be a whole number from 0 to 2^63-1")
    items = raw.get("variants")
    if not isinstance(items, list) or not MIN_VARIANTS <= len(items) <= MAX_VARIANTS:
        raise Invalid(f"experiment needs {MIN_VARIANTS} to {MAX_VARIANTS} [[experiment.variants]]")
    variants: list[Variant] = []
    for number, item in enumerate(items, start=1):
        variant = _variant(item, number, headline)
        if any(other.name == variant.name for other in variants):
            raise Invalid(f"variant {number} ({variant.name}): the name is used twice")
        variants.append(variant)
    led = [q.name for q in questions if q.condition is not None and headline.name in q.condition.names]
    if led and any(variant.steps for variant in variants):
        # The form hides a second step answered by the first, and what hangs on it with it.
        raise Invalid(f"question {led[0]!r} is asked after an answer to the headline: a variant that asks the "
                      "headline in two steps cannot be combined with it")
    return Experiment(seed, tuple(variants))


def _variant(item: Any, number: int, headline: Question) -> Variant:
    where = f"variant {number}"
    if not isinstance(item, dict):
        raise Invalid(f"{where} is not a table")
    unknown = set(item) - _KEYS
    if unknown:
        raise Invalid(f"{where}: unknown key {sorted(unknown)[0]!r} (use {', '.join(sorted(_KEYS))})")
    name = item.get("name")
    if not isinstance(name, str) or not NAME.fullmatch(name) or name in RESERVED:
        raise Invalid(f"{where}: name must be 1-8 lower-case letters, digits, _ or -, starting with a letter "
                      f"(and not {', '.join(sorted(RESERVED))})")
    where = f"variant {number} ({name})"
    codes = [choice.code for choice in headline.choices]
    label = texts_per_language(f"{where} label", item.get("label", {}), required=False)
    choices = item.get("choices", {})
    if not isinstance(choices, dict):
        raise Invalid(f"{where}: choices is a table of labels by code, e.g. choices.\"1\".en = \"...\"")
    for code in choices:
        if code not in codes:
            raise Invalid(f"{where}: choices names {code!r}, which is not a code of the headline ({', '.join(codes)})")
    order = item.get("order", [])
    if not isinstance(order, list) or (order and sorted(map(str, order)) != sorted(codes)):
        raise Invalid(f"{where}: order lists every code of the headline once ({', '.join(codes)})")
    steps = _steps(where, item.get("steps"), codes)
    then = texts_per_language(f"{where} then", item.get("then", {}), required=False)
    several = [step for step in steps if len(step.codes) > 1]
    if several and not then:
        raise Invalid(f"{where}: a first step that stands for several codes needs `then`, the second step's question")
    if then and not several:
        raise Invalid(f"{where}: then is the second step's question; it needs steps with a group of several codes")
    return Variant(name=name, label=label, choices={code: texts_per_language(f"{where} choices.{code}", texts,
                                                                             required=False)
                                                   for code, texts in choices.items()},
                   order=tuple(map(str, order)), steps=steps, then=then)


def _steps(where: str, raw: Any, codes: list[str]) -> tuple[Step, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or len(raw) < 2:
        raise Invalid(f"{where}: steps lists at least two first answers, e.g. "
                      "{ codes = [\"3\"], label.en = \"Yes\" }")
    steps, seen = [], []
    for position, step in enumerate(raw, start=1):
        if not isinstance(step, dict) or set(step) != {"codes", "label"} or not isinstance(step["codes"], list):
            raise Invalid(f"{where}, step {position}: the keys codes (a list) and label")
        step_codes = tuple(map(str, step["codes"]))
        if not step_codes or set(step_codes) - set(codes):
            raise Invalid(f"{where}, step {position}: codes are codes of the headline ({', '.join(codes)})")
        seen += step_codes
        steps.append(Step(step_codes, texts_per_language(f"{where}, step {position} label", step["label"],
                                                                required=True)))
    if sorted(seen) != sorted(codes):
        raise Invalid(f"{where}: the steps' codes hold every code of the headline once ({', '.join(codes)})")
    if sum(len(step.codes) > 1 for step in steps) > 1:
        raise Invalid(f"{where}: at most one first answer stands for several codes (it alone is asked further)")
    return tuple(steps)


def assign(seed: int, names: Sequence[str], strata: Sequence[tuple], salt: int = 0) -> list[str]:
    """A variant for each of `strata` (one tuple per link), balanced within each stratum and seeded.

    Within a stratum, links are taken in a random order and dealt the
    variants in turn from a random first one: no two variants differ by more
    than one link there. `salt` (e.g. how many links the poll had before)
    makes a later batch draw afresh.
    """
    rng = np.random.default_rng([seed, salt])
    groups: dict[tuple, list[int]] = {}
    for position, key in enumerate(strata):
        groups.setdefault(tuple(key), []).append(position)
    chosen = [""] * len(strata)
    count = len(names)
    for key in sorted(groups, key=lambda k: tuple("" if part is None else str(part) for part in k)):
        members = groups[key]
        start = int(rng.integers(count))
        for turn, position in enumerate(rng.permutation(members).tolist()):
            chosen[position] = names[(start + turn) % count]
    return chosen
