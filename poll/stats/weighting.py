"""Weighting respondents to population margins: raking, trimming, design effect.

Raking (iterative proportional fitting on the margins) adjusts weights until
the weighted sample matches each margin's population shares, e.g.
governorate, sex and age band; trimming bounds each weight; the two are
repeated in turn until both hold. The result reports whether they do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RakeResult:
    weights: np.ndarray  # one per respondent, summing to the number of respondents
    converged: bool
    iterations: int
    max_gap: float  # largest absolute gap between a weighted margin share and its target


class RakingError(ValueError):
    """The margins cannot be met: a category with a population share has no respondents."""


class NoPopulationError(RakingError):
    """Respondents in a category whose target is 0: merging categories would hide them, so weighting stops."""


def rake(
    categories: Sequence[np.ndarray],
    targets: Sequence[np.ndarray],
    *,
    tolerance: float = 1e-10,
    max_iterations: int = 200,
    base_weights: np.ndarray | None = None,
) -> RakeResult:
    """Rake weights so each margin's weighted shares match `targets`.

    `categories[k]` holds each respondent's category index (0..len(targets[k])-1)
    on margin k; `targets[k]` the population shares of those categories (any
    positive scale; normalised here). Stops when every margin is within
    `tolerance` of its targets. Raises RakingError when a category with a
    positive target has no respondent, since no weights can reach it, and
    when respondents are in a category whose target is 0, since they would
    silently be weighted 0.
    """
    n = len(categories[0]) if categories else 0
    weights = np.ones(n) if base_weights is None else np.asarray(base_weights, dtype=float).copy()
    if n == 0:
        return RakeResult(weights, True, 0, 0.0)
    goals = [np.asarray(t, dtype=float) / np.sum(t) for t in targets]
    for codes, goal in zip(categories, goals, strict=True):
        present = np.bincount(codes, minlength=len(goal)) > 0
        if np.any((goal > 0) & ~present):
            raise RakingError("a category with a population share has no respondents")
        if np.any((goal == 0) & present):
            raise NoPopulationError("respondents in a category the margins give no population")
    gap = np.inf
    for iteration in range(1, max_iterations + 1):
        for codes, goal in zip(categories, goals, strict=True):
            current = np.bincount(codes, weights=weights, minlength=len(goal))
            factor = np.divide(goal * weights.sum(), current, out=np.zeros_like(goal), where=current > 0)
            weights *= factor[codes]
        gap = _max_gap(categories, goals, weights)
        if gap <= tolerance:
            return RakeResult(weights * n / weights.sum(), True, iteration, gap)
    return RakeResult(weights * n / weights.sum(), False, max_iterations, gap)


def _max_gap(categories: Sequence[np.ndarray], goals: Sequence[np.ndarray], weights: np.ndarray) -> float:
    total = weights.sum()
    return max(
        float(np.max(np.abs(np.bincount(codes, weights=weights, minlength=len(goal)) / total - goal)))
        for codes, goal in zip(categories, goals, strict=True)
    )


# Weights are trimmed to between a fifth and five times the mean weight: one respondent may then stand for
# at most five average ones, which bounds the variance a few rare respondents can add.
TRIM_UPPER = 5.0
TRIM_LOWER = 0.2


def trim(weights: np.ndarray, frequency: np.ndarray | None = None, *, upper: float = TRIM_UPPER,
         lower: float = TRIM_LOWER, max_iterations: int = 50) -> np.ndarray:
    """Cap weights at `upper` and floor them at `lower` times the mean, moving the excess onto the others.

    `frequency` counts the respondents carrying each weight (default one
    each). The total weight is kept; repeated until no weight is out of
    bounds (the redistribution can push others over), as R survey's
    trimWeights does.
    """
    weights = np.asarray(weights, dtype=float).copy()
    frequency = np.ones_like(weights) if frequency is None else np.asarray(frequency, dtype=float)
    total = float(np.sum(frequency * weights))
    for _ in range(max_iterations):
        mean = total / frequency.sum()
        high, low = upper * mean, lower * mean
        clipped = np.clip(weights, low, high)
        free = (weights > low) & (weights < high)
        excess = total - float(np.sum(frequency * clipped))
        if abs(excess) <= 1e-12 * total or not free.any():
            return clipped
        clipped[free] += excess * clipped[free] / np.sum(frequency[free] * clipped[free])
        weights = clipped
    return weights


def rake_and_trim(
    categories: Sequence[np.ndarray], targets: Sequence[np.ndarray], counts: np.ndarray, *,
    upper: float = TRIM_UPPER, lower: float = TRIM_LOWER, tolerance: float = 1e-6, max_iterations: int = 2000,
) -> tuple[np.ndarray, RakeResult]:
    """Rake with the weights trimmed after every pass over the margins, until the margins and the bounds both hold.

    Trimming once after raking moves the margins off their targets, and
    raking again undoes the trimming; trimming inside each pass (as ANES's
    raking does) finds weights within the bounds that meet the margins when
    there are any. Returns each cell's respondent weight (`counts`
    respondents each) and a RakeResult that describes those final weights:
    `converged` only when every margin is within `tolerance` of its target
    and every weight within the bounds. Raises RakingError as `rake` does.
    """
    counts = np.asarray(counts, dtype=float)
    goals = [np.asarray(t, dtype=float) / np.sum(t) for t in targets]
    raked = rake(categories, targets, base_weights=counts)  # checks the margins can be met at all
    per_person = raked.weights / counts
    iterations, gap, best, stalled = raked.iterations, np.inf, np.inf, 0
    for _ in range(max_iterations):
        per_person = trim(per_person, counts, upper=upper, lower=lower)
        gap = _max_gap(categories, goals, per_person * counts)
        if gap <= tolerance:
            break
        # Fifty passes without the margins coming nearer: no weights within the bounds meet them.
        stalled = stalled + 1 if gap > best * (1 - 1e-4) else 0
        best = min(best, gap)
        if stalled >= 50:
            break
        weights = per_person * counts
        for codes, goal in zip(categories, goals, strict=True):
            current = np.bincount(codes, weights=weights, minlength=len(goal))
            factor = np.divide(goal * weights.sum(), current, out=np.zeros_like(goal), where=current > 0)
            weights = weights * factor[codes]
        per_person = weights / counts
        iterations += 1
    mean = float(np.sum(counts * per_person) / np.sum(counts))
    within = bool(np.all(per_person <= upper * mean * (1 + 1e-6)) and np.all(per_person >= lower * mean * (1 - 1e-6)))
    per_person = per_person / mean
    return per_person, RakeResult(per_person * counts, gap <= tolerance and within, iterations, float(gap))


def kish_deff(weights: np.ndarray, frequency: np.ndarray | None = None) -> float:
    """Kish's design effect from unequal weights: n * sum(w^2) / sum(w)^2 = 1 + CV^2.

    `frequency` counts how many respondents carry each weight (default one each).
    """
    weights = np.asarray(weights, dtype=float)
    frequency = np.ones_like(weights) if frequency is None else np.asarray(frequency, dtype=float)
    n = frequency.sum()
    if n == 0:
        return 1.0
    return float(n * np.sum(frequency * weights**2) / np.sum(frequency * weights) ** 2)


def effective_n(weights: np.ndarray, frequency: np.ndarray | None = None) -> float:
    """Kish's effective sample size: sum(w)^2 / sum(w^2), i.e. n / deff."""
    frequency = np.ones(len(weights)) if frequency is None else np.asarray(frequency, dtype=float)
    n = frequency.sum()
    return float(n / kish_deff(weights, frequency)) if n else 0.0


def weighted_shares(options: np.ndarray, weights: np.ndarray, count: int) -> np.ndarray:
    """Weighted share of each of `count` options."""
    totals = np.bincount(options, weights=weights, minlength=count)
    total = totals.sum()
    return totals / total if total > 0 else np.zeros(count)


def collapse(codes: np.ndarray, target: np.ndarray, groups: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """One margin with its categories merged: category c becomes group `groups[c]`, targets summed per group."""
    groups = np.asarray(groups)
    return groups[codes], np.bincount(groups, weights=np.asarray(target, dtype=float), minlength=groups.max() + 1)


def balance(codes: np.ndarray, target: np.ndarray, counts: np.ndarray, weights: np.ndarray) -> tuple[float, float]:
    """How far one margin's respondents are from its targets before and after weighting.

    The largest absolute standardised difference over the margin's
    categories: |respondents' share - population share| / sqrt(p (1 - p)) of
    the population share p, unweighted (before) and with `weights` per
    respondent of each cell (after). 0 is perfect balance; 0.1 is a common bar.
    """
    goal = np.asarray(target, dtype=float) / np.sum(target)
    spread = np.sqrt(goal * (1 - goal))
    spread = np.where(spread > 0, spread, 1.0)
    size = len(goal)

    def largest(frequency: np.ndarray) -> float:
        shares = np.bincount(codes, weights=frequency, minlength=size) / frequency.sum()
        return float(np.max(np.abs(shares - goal) / spread))

    return largest(counts), largest(counts * weights)


def spread_of(weights: np.ndarray, counts: np.ndarray) -> dict[str, float]:
    """The respondents' weights over their mean: smallest, quartiles, largest (counting each respondent)."""
    order = np.argsort(weights)
    sorted_weights, cumulative = weights[order], np.cumsum(counts[order])
    total = cumulative[-1]

    def at(share: float) -> float:
        return float(sorted_weights[np.searchsorted(cumulative, share * total, side="left")])

    mean = float(np.sum(weights * counts) / total)
    return {name: value / mean for name, value in
            (("min", float(sorted_weights[0])), ("q1", at(0.25)), ("median", at(0.5)), ("q3", at(0.75)),
             ("max", float(sorted_weights[-1])))}


def poststratified(cells: np.ndarray, targets: np.ndarray, counts: np.ndarray, options: np.ndarray,
                   option_count: int) -> tuple[np.ndarray, float] | None:
    """Answer shares post-stratified to the joint population shares `targets` of the cells, and the effective n.

    Each respondent of cell c weighs targets[c] / (respondents in c). None when a
    cell with people has no respondents: post-stratification needs every cell full.
    """
    goal = np.asarray(targets, dtype=float) / np.sum(targets)
    sample = np.bincount(cells, weights=counts, minlength=len(goal))
    if np.any((goal > 0) & (sample == 0)):
        return None
    per_person = np.divide(goal, sample, out=np.zeros(len(goal)), where=sample > 0)[cells]
    return weighted_shares(options, per_person * counts, option_count), effective_n(per_person, counts)


def estimate_merging(
    categories: Sequence[np.ndarray], targets: Sequence[np.ndarray], counts: np.ndarray, options: np.ndarray,
    option_count: int, merges: Sequence[tuple[str, Mapping[int, Sequence[int]]]],
) -> tuple[CellEstimate, str]:
    """`estimate_from_cells` with the first of `merges` that makes raking possible, and that merge's name.

    A merge whose weights cannot meet the margins within the trimming bounds
    gives way to the next; when none can, the first that raked is returned,
    not converged. Each merge is (its name, {margin index: each category's group}); raises
    RakingError when none works, and NoPopulationError at once, without
    merging, when respondents are where the margins have no people.
    """
    error = RakingError("no merges to try")
    unconverged = None
    for name, groups in merges:
        merged_categories, merged_targets = list(categories), list(targets)
        for k, grouping in groups.items():
            merged_categories[k], merged_targets[k] = collapse(categories[k], targets[k], grouping)
        try:
            found = estimate_from_cells(merged_categories, merged_targets, counts, options, option_count)
        except NoPopulationError:
            raise
        except RakingError as failed:
            error = failed
            continue
        if found.rake.converged:
            return found, name
        # Weights within the bounds cannot meet these margins (a category far too small): merged ones may do.
        unconverged = unconverged or (found, name)
    if unconverged is not None:
        return unconverged
    raise error


@dataclass(frozen=True)
class CellEstimate:
    """Weighted answer shares from raked and trimmed cells, with what the weighting cost."""

    shares: np.ndarray
    effective_n: float
    design_effect: float
    rake: RakeResult
    largest_weight: float  # the largest respondent weight over the mean weight, after trimming
    weights: np.ndarray  # each cell's respondent weight (trimmed; the mean respondent's is 1)


def estimate_from_cells(
    categories: Sequence[np.ndarray], targets: Sequence[np.ndarray], counts: np.ndarray, options: np.ndarray,
    option_count: int,
) -> CellEstimate:
    """Rake cells of alike respondents and estimate each answer's share.

    Each cell holds `counts` respondents with the same category on every
    margin (`categories[k]`) and the same answer (`options`). The weights are
    raked and trimmed (TRIM_LOWER to TRIM_UPPER times the mean) in turn until
    both hold (`rake_and_trim`): `rake.converged` says whether they do for the
    weights the shares are computed from. Raises RakingError as `rake` does.
    """
    # Cell weights are totals; each respondent's weight is the cell's total over its count.
    per_person, raked = rake_and_trim(categories, targets, counts)
    mean = float(np.sum(counts * per_person) / np.sum(counts))
    return CellEstimate(
        shares=weighted_shares(options, per_person * counts, option_count),
        effective_n=effective_n(per_person, counts),
        design_effect=kish_deff(per_person, counts),
        rake=raked,
        largest_weight=float(per_person.max() / mean) if mean else 1.0,
        weights=per_person / mean if mean else per_person,
    )
