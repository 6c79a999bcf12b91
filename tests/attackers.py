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

    Unknowns: each category's counts at the first look and what each later
    look added (never negative). Returns (look, category, counts) for every
    category whose counts at a look, or growth since the previous look, are
    fixed to one integer vector holding 1-9 answers or answers of one option.
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

    found = []
    for t in range(looks):
        for c in range(categories):
            if publications[t].cells[c] is not None and (t == 0 or publications[t - 1].cells[c] is not None):
                continue  # shown: nothing to recover (its growth is checked where it is published twice)
            fixed = []
            for o in range(options):
                objective = np.zeros(size)
                objective[index(t, c, o)] = 1
                if t:
                    objective[index(t - 1, c, o)] = -1
                low, high = math.ceil(extreme(objective) - 1e-6), math.floor(-extreme(-objective) + 1e-6)
                if low != high:
                    break
                fixed.append(low)
            else:
                counts = tuple(fixed)
                if 0 < sum(counts) and (sum(counts) < K or sum(1 for n in counts if n) < 2):
                    found.append((t, c, counts))
    # Growth of categories shown at two looks in a row is published outright.
    for t in range(1, looks):
        for c in range(categories):
            before, after = publications[t - 1].cells[c], publications[t].cells[c]
            if before is not None and after is not None:
                growth = tuple(a - b for a, b in zip(after, before, strict=True))
                if 0 < sum(growth) and (sum(growth) < K or sum(1 for n in growth if n) < 2):
                    found.append((t, c, growth))
    return found


def region_of(code: str) -> str:
    from poll import iraq

    found = iraq.find_governorate(code)
    return f"region:{found.region}" if found else code


def half_of(band: str) -> str:
    return {"18-29": "18-44", "30-44": "18-44", "45-59": "45+", "60+": "45+"}.get(band, band)


def week_of(day: str) -> str:
    year, week, _ = date.fromisoformat(day).isocalendar()
    return f"{year}-W{week:02d}"


QUASI_IDENTIFIERS = ("governorate", "sex", "age_band", "answered", "channel")


def reidentify(links: list[dict], answers: list[dict]) -> dict[str, list[Counter]]:
    """For each phone the links mark as answered, the groups of answers its own could be in, joined on every shared field.

    The export shows each column at one level for every row (or "*" in every
    column for a withheld row); the attacker reads the level off the values
    and puts each phone in the group its own values fall into, or among the
    withheld rows if that group is not in the export. The links do not say
    by which channel a phone answered, so each channel's group is a candidate,
    and each must hold the rule on its own.
    """
    everything = ("*",) * len(QUASI_IDENTIFIERS)
    shown = [row for row in answers if tuple(row[column] for column in QUASI_IDENTIFIERS) != everything]
    ways = {
        "governorate": [lambda v: v, region_of],
        "sex": [lambda v: v],
        "age_band": [lambda v: v, half_of],
        "answered": [lambda v: v, week_of],
    }

    def level(column: str) -> int:
        values = {row[column] for row in shown}
        if column == "governorate" and any(v.startswith("region:") for v in values):
            return 1
        if column == "age_band" and values & {"18-44", "45+"}:
            return 1
        if column == "answered" and any("-W" in v for v in values):
            return 1
        if values == {"*"} or not values:
            return len(ways[column])
        return 0

    levels = {column: level(column) for column in ways}
    groups: dict[tuple, dict[str, Counter]] = {}
    withheld: Counter = Counter()
    for row in answers:
        if tuple(row[column] for column in QUASI_IDENTIFIERS) == everything:
            withheld[row["option"]] += 1
            continue
        key = tuple(row[column] for column in ways)
        groups.setdefault(key, {}).setdefault(row["channel"], Counter())[row["option"]] += 1
    candidates = {}
    for link in links:
        if not link["answered_on"]:
            continue
        values = {"governorate": link["governorate"], "sex": link["sex"], "age_band": link["age_band"],
                  "answered": link["answered_on"]}
        key = tuple(
            "*" if levels[column] >= len(ways[column]) else ways[column][levels[column]](values[column])
            for column in ways
        )
        candidates[link["phone"]] = list(groups[key].values()) if key in groups else [withheld]
    return candidates


def narrowed(options: Counter) -> bool:
    """Whether a phone's possible answers break the rule: fewer than ten, or all the same option."""
    return sum(options.values()) < K or len([n for n in options.values() if n]) < 2
