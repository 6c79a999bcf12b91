"""Attackers that try to name someone's answer from what the app shows, written apart from the app's own rules.

`bounds` is the textbook attack on suppressed tables: integer bounds on each
hidden cell from every published figure, by linear programming (SciPy's
HiGHS). `reidentify` joins a list of links with an export of answers the way
someone holding both would. Both report what they could narrow a phone's (or
a category's) answers to; the rule the app must keep is that this is never
fewer than ten answers, nor answers that all chose the same option.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
from scipy.optimize import linprog

K = 10


@dataclass(frozen=True)
class Publication:
    """What one look at a breakdown shows: per category its option counts or None (hidden), and the total."""

    cells: Sequence[Sequence[int] | None]
    total: Sequence[int]


def recovered_cells(publications: Sequence[Publication]) -> list[tuple[int, int, tuple[int, ...]]]:
    """Hidden growth that the publications pin down exactly and that breaks the rule.

    Unknowns: each category's counts at every look, never shrinking from one
    look to the next. Returns (look, category, counts) for every category
    whose counts at a look, or growth between any two looks, are fixed to one
    integer vector holding 1-9 answers, or answers of one option only.
    """
    looks, categories, options = len(publications), len(publications[0].cells), len(publications[0].total)
    size = looks * categories * options  # x[t, c, o]: counts at look t

    def index(t: int, c: int, o: int) -> int:
        return (t * categories + c) * options + o

    equalities, values = [], []
    for t, publication in enumerate(publications):
        for o in range(options):
            row = np.zeros(size)
            row[[index(t, c, o) for c in range(categories)]] = 1
            equalities.append(row)
            values.append(publication.total[o])
        for c, cell in enumerate(publication.cells):
            if cell is None:
                continue
            for o in range(options):
                row = np.zeros(size)
                row[index(t, c, o)] = 1
                equalities.append(row)
                values.append(cell[o])
    upper = []  # counts only grow: x[t-1] - x[t] <= 0
    for t in range(1, looks):
        for c in range(categories):
            for o in range(options):
                row = np.zeros(size)
                row[index(t - 1, c, o)], row[index(t, c, o)] = 1, -1
                upper.append(row)
    a_eq, b_eq = np.array(equalities), np.array(values, dtype=float)
    a_ub = np.array(upper) if upper else None
    b_ub = np.zeros(len(upper)) if upper else None

    def extreme(objective: np.ndarray) -> float:
        result = linprog(objective, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=b_eq, bounds=(0, None), method="highs")
        assert result.status == 0, result.message
        return result.fun

    def pinned(objective: np.ndarray) -> int | None:
        low, high = math.ceil(extreme(objective) - 1e-6), math.floor(-extreme(-objective) + 1e-6)
        return low if low == high else None

    found = []
    # Each category at each look, and its growth between any two looks (not only consecutive ones).
    for c in range(categories):
        for t in range(looks):
            for s in [None, *range(t)]:
                shown_then = s is None or publications[s].cells[c] is not None
                if publications[t].cells[c] is not None and shown_then:
                    if s is None:
                        continue  # shown outright: nothing to recover
                    growth = tuple(a - b for a, b in zip(publications[t].cells[c], publications[s].cells[c],
                                                         strict=True))
                else:
                    fixed = []
                    for o in range(options):
                        objective = np.zeros(size)
                        objective[index(t, c, o)] = 1
                        if s is not None:
                            objective[index(s, c, o)] = -1
                        value = pinned(objective)
                        if value is None:
                            break
                        fixed.append(value)
                    else:
                        growth = tuple(fixed)
                    if len(fixed) < options:
                        continue
                if 0 < sum(growth) and (sum(growth) < K or sum(1 for n in growth if n) < 2):
                    found.append((t, c, growth))
    return found


QUASI_IDENTIFIERS = ("governorate", "sex", "age_band", "answered", "channel")


def reidentify(links: list[dict], answers: list[dict]) -> dict[str, list[Counter]]:
    """For each phone in the list of links, the groups of answers its answer (if any) could be in.

    The export shows each column the same way for every row; the attacker
    reads off the values each column takes and puts a phone where its own
    governorate, sex and age band fall: the value itself if the export shows
    it, else "other", else "*". Whether, when and by which channel the phone
    answered the list does not say (in an anonymous poll), so every group of
    the matching strata is a candidate, and each must hold the rule itself.
    Where the list does say (answered_on), the phone's day narrows it.
    """
    values = {column: {row[column] for row in answers} for column in QUASI_IDENTIFIERS}

    def shown(column: str, value: str) -> str:
        if value in values[column]:
            return value
        return "other" if "other" in values[column] else "*"

    groups: dict[tuple, Counter] = {}
    for row in answers:
        groups.setdefault(tuple(row[column] for column in QUASI_IDENTIFIERS), Counter())[row["option"]] += 1
    candidates = {}
    for link in links:
        if "answered_on" in link and not link["answered_on"]:
            continue  # the list says this phone did not answer
        strata = tuple(shown(column, link[column]) for column in ("governorate", "sex", "age_band"))
        days = {link["answered_on"], week_of(link["answered_on"]), "*"} if link.get("answered_on") else None
        candidates[link["phone"]] = [
            counts for key, counts in groups.items()
            if key[:3] == strata and (days is None or key[3] in days)
        ]
    return candidates


def week_of(day: str) -> str:
    year, week, _ = date.fromisoformat(day).isocalendar()
    return f"{year}-W{week:02d}"


def narrowed(options: Counter) -> bool:
    """Whether a phone's possible answers break the rule: fewer than ten, or all the same option."""
    return sum(options.values()) < K or len([n for n in options.values() if n]) < 2


def shown_as(values: set[str], value: str | None) -> str:
    """How an export whose column takes `values` shows `value`: itself, its week, the period or band holding it,
    "other", or "*" (the attacker reads the generalisation off the values it sees)."""
    value = "" if value is None else str(value)
    if value in values:
        return value
    for shown in values:
        if "/" in shown and value[:10].count("-") == 2 and shown.split("/")[0] <= value <= shown.split("/")[1]:
            return shown
        if "-W" in shown and value.count("-") == 2 and week_of(value) == shown:
            return shown
        low, _, high = shown.partition("-")
        if low.isdigit() and high.isdigit() and value.lstrip("-").isdigit() and int(low) <= int(value) <= int(high):
            return shown
    return "other" if "other" in values else "*"


def linked_groups(truth: list[dict], exports: list[list[dict]]) -> dict[tuple, Counter]:
    """Each respondent (`truth`: option and every quasi-identifier as given) placed by how every export shows
    them, as if the attacker knew which row of each export is theirs: the answers each combination holds."""
    columns = [column for column in truth[0] if column != "option"]
    seen = [{column: {row[column] for row in export} for column in columns if column in export[0]}
            for export in exports]
    groups: dict[tuple, Counter] = {}
    for person in truth:
        key = tuple(shown_as(values[column], person[column]) for values in seen for column in values)
        groups.setdefault(key, Counter())[person["option"]] += 1
    return groups
