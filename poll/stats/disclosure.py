"""Statistical disclosure control: what may be shown of a poll's answers without pointing at anyone's.

The rule: nothing shown narrows a person's answer to fewer than MIN_GROUP
answers, or to answers that all chose the same option. Three tools keep it:

- `protect`: cell suppression for a breakdown (categories x options). A
  category is shown only if it is a safe group; the hidden ones together must
  be a safe group too (complementary suppression), since the total minus what
  is shown gives their sum away.
- `extend` and `change_may_be_shown`: the same over time. What was shown
  stays shown (each publication refines the one before), and a publication
  follows another only when each of the earlier one's parts grew by nothing
  or by a safe group, so no two looks, however far apart, isolate an answer.
- `generalise`: k-anonymity for a row-level export. Quasi-identifiers
  (governorate, sex, age band, day...) are coarsened along stated hierarchies,
  the same way for every row, and rows whose combination stays rare are
  withheld into one block that is itself safe.

Pure NumPy and Python: no Flask, no database.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

MIN_GROUP = 10
WITHHELD = "*"


def is_safe(counts: np.ndarray, k: int = MIN_GROUP, *, every_option: bool = False) -> bool:
    """Whether a group of answers (counts per option) may be shown: at least `k` answers, not all one option.

    With `every_option`, no option may be missing from it either: for a
    breakdown whose groups cross every other breakdown (a split ballot's
    variants reach every stratum), a missing option crossed with another
    group's missing one would leave the people in both one answer.

    A group counted in one column holds one option by design (those asked a
    follow-up after one headline answer, whose count is public already; or
    those who ticked a choice of a multiple choice, whose figures are no
    breakdown of the headline): only its size can point at someone.
    """
    counts = np.asarray(counts)
    different = len(counts) if every_option else min(2, len(counts))
    return int(counts.sum()) >= k and int(np.count_nonzero(counts)) >= different


def is_safe_change(delta: np.ndarray, k: int = MIN_GROUP, *, every_option: bool = False) -> bool:
    """Whether a change between two publications may be seen: what came in and what went out (an
    answer moved to another category, as an SMS conversation finishing moves it) are each nothing or a
    safe group. A change that only sums to nothing is not nothing: one in and one out of the same part
    tells both answers."""
    delta = np.asarray(delta)
    came, went = np.clip(delta, 0, None), np.clip(-delta, 0, None)
    return all(not part.any() or is_safe(part, k, every_option=every_option) for part in (came, went))


def protect(table: np.ndarray, k: int = MIN_GROUP, *, never: Sequence[int] = (),
            every_option: bool = False) -> np.ndarray:
    """Which categories (rows of `table`, counts per option) may be shown; False where suppressed.

    A shown category is a safe group. The suppressed ones, whose sum anyone
    can recover from the total, are together a safe group or hold no answers;
    where they are not, the smallest shown categories are suppressed with them.
    When the table's total is not a safe group, nothing is shown. Categories
    in `never` (such as "not known") are never shown but count as hidden.
    `every_option` holds every group to `is_safe`'s stricter rule.
    """
    table = np.asarray(table)
    if not is_safe(table.sum(axis=0), k, every_option=every_option):
        return np.zeros(len(table), dtype=bool)
    shown = np.array([is_safe(row, k, every_option=every_option) for row in table], dtype=bool)
    shown[list(never)] = False
    return _complete(table, shown, k, every_option)


def _complete(table: np.ndarray, shown: np.ndarray, k: int, every_option: bool = False) -> np.ndarray:
    # Suppress the smallest shown categories until the hidden ones are safe together (or hold nothing).
    shown = shown.copy()
    while True:
        hidden = table[~shown].sum(axis=0)
        if hidden.sum() == 0 or is_safe(hidden, k, every_option=every_option) or not shown.any():
            return shown
        sizes = np.where(shown, table.sum(axis=1), np.iinfo(np.int64).max)
        shown[int(np.argmin(sizes))] = False


def extend(table: np.ndarray, shown_before: np.ndarray, k: int = MIN_GROUP, *,
           never: Sequence[int] = (), every_option: bool = False) -> np.ndarray:
    """What may be shown of `table` when `shown_before` was shown already: all of that, and hidden categories
    once they are safe groups and the ones still hidden stay safe together (or hold nothing).

    Counts only grow, so what was shown stays safe, and so do the hidden ones
    together. With nothing shown before, this is `protect`.
    """
    table = np.asarray(table)
    shown = np.asarray(shown_before, dtype=bool).copy()
    if not shown.any():
        return protect(table, k, never=never, every_option=every_option)
    excluded = set(never)
    ready = [i for i in np.flatnonzero(~shown)
             if i not in excluded and is_safe(table[i], k, every_option=every_option)]
    for i in sorted(ready, key=lambda i: -int(table[i].sum())):
        shown[i] = True
        still_hidden = table[~shown].sum(axis=0)
        if still_hidden.sum() and not is_safe(still_hidden, k, every_option=every_option):
            shown[i] = False
    return shown


def change_may_be_shown(table: np.ndarray, before: np.ndarray, shown_before: np.ndarray,
                        k: int = MIN_GROUP, *, every_option: bool = False) -> bool:
    """Whether figures of `table` may follow figures of `before` published with `shown_before`.

    Counts mostly grow (an answer may move between categories). What two publications give away together is the growth
    of every part of the earlier one: each category it showed, and its
    hidden categories together; each must have grown by nothing or by a safe
    group. When each publication shows at least what the one before did
    (`extend`), the growth of any part between any two publications is a sum
    of such growths: looks far apart give away no more than looks side by side.
    """
    delta = np.asarray(table) - np.asarray(before)
    shown = np.asarray(shown_before, dtype=bool)
    parts = [np.array([i]) for i in np.flatnonzero(shown)] + [np.flatnonzero(~shown)]
    return all(is_safe_change(delta[part].sum(axis=0), k, every_option=every_option) for part in parts if len(part))


@dataclass(frozen=True)
class Hierarchy:
    """How one quasi-identifier coarsens: level 0 is the value itself, the last level withholds it.

    `weight` is what losing it costs the reader, relative to the others: a
    stratum or a profile answer 1, the exact day much less (its week or the
    field period says most of what an analysis needs).
    """

    name: str
    levels: tuple[Callable[[str], str], ...]
    weight: float = 1.0

    @property
    def depth(self) -> int:
        return len(self.levels)

    def at(self, level: int, value: str) -> str:
        """`value` coarsened to `level` (the last level is WITHHELD)."""
        return WITHHELD if level >= len(self.levels) else self.levels[level](value)


@dataclass(frozen=True)
class Generalisation:
    """How an export shows each combination of quasi-identifiers, and what it cost."""

    levels: tuple[int, ...]  # per hierarchy
    labels: dict[tuple, tuple]  # combination as given -> as shown (all WITHHELD for a withheld row)
    withheld_rows: int
    groups: int

    def show(self, combination: tuple) -> tuple:
        return self.labels[combination]


def combined(levels: Sequence[int], earlier: Sequence[Sequence[int]]) -> tuple[int, ...]:
    """What `levels` and every earlier export's levels show together: per hierarchy the finest of them.

    Each hierarchy's levels are nested (each coarsens the one before), so
    whoever holds several exports, and can tell which rows are the same,
    knows each value at the finest level any of them showed.
    """
    return tuple(min([level, *(before[i] for before in earlier)]) for i, level in enumerate(levels))


@dataclass(frozen=True)
class Shown:
    """An earlier export, as `generalise` weighs a new one against it: its levels; the answers it held, per
    combination of the new cells (None: all of them); and the group each combination was shown in (None: as the
    levels make them with today's hierarchies)."""

    levels: tuple[int, ...]
    held: np.ndarray | None = None
    groups: np.ndarray | None = None


def generalise(
    cells: Mapping[tuple, np.ndarray], hierarchies: Sequence[Hierarchy], k: int = MIN_GROUP,
    max_withheld: float = 0.05, keep: Sequence[str] = (), earlier: Sequence = (),
) -> Generalisation | None:
    """The least lossy way to show rows so that every shown combination is a safe group; None if even withholding all is not.

    `cells` maps each combination of quasi-identifier values (one per
    hierarchy, in order) to its answers' counts per option. Every level of
    every hierarchy is tried (full-domain generalisation: each row of a
    combination is shown the same way); rows still in unsafe groups are
    withheld (all values WITHHELD), at most `max_withheld` of them, and the
    withheld rows together must be a safe group.

    `earlier` holds the exports made before, oldest first: each one's levels
    (per hierarchy, in order), or (levels, counts) where counts are, per
    combination in `cells`' order, the answers that export held. A choice
    is taken only if, for each earlier export, the rows it held are safe
    groups when shown at the finest level that export and every later one
    showed them (`combined`), so no export joined with earlier ones, row by
    row, narrows anyone's answer. Rows that came after an export cannot be
    matched with it, so they do not hold a new export back.

    Among the choices left, the one that withholds the fewest of the
    hierarchies named in `keep` (what the table is for, e.g. a split
    ballot's variant) wins; then the one that loses the least information:
    per hierarchy, its `weight` times the share of its entropy (over the
    rows) that the level loses; then the least discernibility (the sum of
    squared group sizes, a withheld row counting as the whole table).
    """
    combinations = list(cells)
    counts = np.array([np.asarray(cells[c]) for c in combinations]) if combinations else np.zeros((0, 1))
    total_counts = counts.sum(axis=0) if len(counts) else np.zeros(1)
    total = int(total_counts.sum())
    if not is_safe(total_counts, k):
        return None
    sizes = counts.sum(axis=1)
    # Per hierarchy and level: each combination's label as a small integer, the labels, and the information kept.
    codes: list[list[np.ndarray]] = []
    names: list[list[list[str]]] = []
    lost: list[list[float]] = []
    for i, hierarchy in enumerate(hierarchies):
        codes.append([]), names.append([]), lost.append([])
        for level in range(hierarchy.depth + 1):
            labels = [hierarchy.at(level, c[i]) for c in combinations]
            distinct = sorted(set(labels))
            index = {label: n for n, label in enumerate(distinct)}
            codes[i].append(np.array([index[label] for label in labels], dtype=np.int64))
            names[i].append(distinct)
            lost[i].append(_entropy(np.bincount(codes[i][-1], weights=sizes, minlength=len(distinct))))
        whole = lost[i][0]
        lost[i] = [hierarchy.weight * (1 - kept / whole) if whole > 0 else 0.0 for kept in lost[i]]

    def grouped(levels: Sequence[int], of: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        # Each combination's group, and each group's counts per option (of `of`'s rows, by default all).
        ids = np.zeros(len(combinations), dtype=np.int64)
        for i, level in enumerate(levels):
            ids = ids * len(names[i][level]) + codes[i][level]
            if len(names[i][level]) > 1:
                _, ids = np.unique(ids, return_inverse=True)
        _, ids = np.unique(ids, return_inverse=True)
        ids = ids.reshape(-1)
        groups = np.zeros((int(ids.max()) + 1 if len(ids) else 0, counts.shape[1]), dtype=np.int64)
        np.add.at(groups, ids, counts if of is None else of)
        return ids, groups

    def unsafe_of(groups: np.ndarray) -> np.ndarray:
        return (groups.sum(axis=1) < k) | (np.count_nonzero(groups, axis=1) < 2)

    # Each earlier export: its levels, and optionally the rows it held and each combination's group in it.
    before = [entry if isinstance(entry, Shown) else Shown(tuple(entry)) for entry in earlier]

    def joins_safely(levels: Sequence[int]) -> bool:
        # The rows each earlier export held, grouped by what it and every later export showed of them together.
        for n, entry in enumerate(before):
            later = before[n:]
            if all(e.groups is None for e in later):
                groups = grouped(combined(levels, [e.levels for e in later]), entry.held)[1]
            else:
                ids = grouped(levels)[0]
                for e in later:
                    other = e.groups if e.groups is not None else grouped(e.levels)[0]
                    _, ids = np.unique(np.stack([ids, other], axis=1), axis=0, return_inverse=True)
                    ids = ids.reshape(-1)
                groups = np.zeros((int(ids.max()) + 1 if len(ids) else 0, counts.shape[1]), dtype=np.int64)
                np.add.at(groups, ids, counts if entry.held is None else entry.held)
            if (unsafe_of(groups) & (groups.sum(axis=1) > 0)).any():
                return False
        return True

    kept = [i for i, h in enumerate(hierarchies) if h.name in keep]
    candidates = sorted(itertools.product(*(range(h.depth + 1) for h in hierarchies)), key=sum)
    feasible: list[tuple[int, ...]] = []
    infeasible: list[tuple[int, ...]] = []
    best = None
    for levels in candidates:
        # Safety only grows as levels coarsen: what is coarser than a choice found is no better, what is
        # finer than a refused one is refused too (with no row withheld).
        if any(all(a >= b for a, b in zip(levels, found, strict=True)) for found in feasible):
            continue
        if not max_withheld and any(all(a <= b for a, b in zip(levels, bad, strict=True)) for bad in infeasible):
            continue
        if before and not joins_safely(levels):
            infeasible.append(levels)
            continue
        ids, groups = grouped(levels)
        unsafe = unsafe_of(groups)
        withheld_counts = groups[unsafe].sum(axis=0)
        withheld = int(withheld_counts.sum())
        if withheld > max_withheld * total or (withheld and not is_safe(withheld_counts, k)):
            infeasible.append(levels)
            continue
        feasible.append(levels)
        shown_sizes = groups[~unsafe].sum(axis=1)
        loss = (sum(levels[i] >= hierarchies[i].depth for i in kept),
                round(sum(lost[i][level] for i, level in enumerate(levels)), 9),
                int((shown_sizes ** 2).sum()) + withheld * total)
        if best is None or loss < best[0]:
            best = (loss, levels, ids, unsafe, len(groups))
    if best is None:
        return None
    _loss, levels, ids, unsafe, group_count = best
    everything = (WITHHELD,) * len(hierarchies)
    labels = {
        c: everything if unsafe[ids[n]] else tuple(names[i][level][codes[i][level][n]] for i, level in enumerate(levels))
        for n, c in enumerate(combinations)
    }
    withheld = int(counts[unsafe[ids]].sum()) if len(combinations) else 0
    return Generalisation(levels, labels, withheld, group_count - int(unsafe.sum()) + bool(unsafe.any()))


def _entropy(sizes: np.ndarray) -> float:
    shares = sizes[sizes > 0] / sizes.sum() if sizes.sum() else np.zeros(0)
    return float(-(shares * np.log2(shares)).sum())


def group_key(values: Sequence[Hashable]) -> tuple:
    """A combination of quasi-identifier values as `generalise` keys it."""
    return tuple("" if value is None else str(value) for value in values)
