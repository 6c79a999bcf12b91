"""What raking costs in precision, computed for the raked estimate itself, and weighting by propensity.

Kish's effective sample size (`weighting.effective_n`) prices a weighted
share as if the weights were unrelated to the answers. Raking makes them
related on purpose: where the raking variables predict the answers, the
calibrated estimate is *more* precise than Kish says, and where they do not,
about as Kish says. The linearised variance of a calibrated (raked) mean
takes this into account (Deville and Särndal 1992; Lumley's R `survey` after
`rake`/`calibrate`): the estimating variable of the share, (y - p) / sum(w),
is replaced by its residual from a weighted regression on the raking
variables' category indicators, and the with-replacement variance of
sum(w * residual) is the variance of the estimate. It leaves out what the
targets' own error adds when they come from a sample survey, not a census.

Propensity weighting is the other road to a reference: a logistic
regression of "in the poll" against "in the reference survey" (weighted by
its design weights) on the variables both hold, and each respondent weighed
(1 - p) / p, the odds of being in the population rather than the poll
(Valliant and Dever 2011). It can use the reference's joint distribution,
which raking on margins throws away.

Pure NumPy (and statsmodels for the regression): cells of alike respondents
with their counts, as `weighting` takes them.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from poll.stats import proportions, weighting


def indicators(categories: Sequence[np.ndarray], sizes: Sequence[int]) -> np.ndarray:
    """One 0/1 column per category of each margin (cells x sum(sizes)): the raking variables as a design matrix."""
    rows = len(categories[0]) if categories else 0
    columns = []
    for codes, size in zip(categories, sizes, strict=True):
        block = np.zeros((rows, size))
        block[np.arange(rows), np.asarray(codes)] = 1.0
        columns.append(block)
    return np.hstack(columns) if columns else np.zeros((rows, 0))


def merged(categories: Sequence[np.ndarray], sizes: Sequence[int],
           groups: Mapping[int, Sequence[int]]) -> tuple[list[np.ndarray], list[int]]:
    """The margins as raked with categories merged (`weighting.collapse`: category c of margin k becomes
    groups[k][c]), and their sizes: what the linearisation regresses on."""
    out, found = list(categories), list(sizes)
    for k, grouping in groups.items():
        grouping = np.asarray(grouping)
        out[k], found[k] = grouping[np.asarray(categories[k])], int(grouping.max()) + 1
    return out, found


def linearised_variances(categories: Sequence[np.ndarray], sizes: Sequence[int], counts: np.ndarray,
                         weights: np.ndarray, options: np.ndarray, option_count: int, *,
                         target_covariances: Mapping[int, np.ndarray] | None = None) -> np.ndarray:
    """The variance of each option's weighted share, linearised for calibration on the margins `categories`.

    Each cell holds `counts` respondents with the same categories and the
    same answer (`options`), each weighing `weights` (any scale). With no
    margins this is the Hájek estimator's with-replacement variance; with
    the margins the weights were raked to, it is the raking (GREG)
    linearised variance. Cells with no respondents count for nothing.

    `target_covariances` gives, per margin index, the covariance matrix of
    that margin's target shares where they are themselves estimates (a
    reference survey's): the estimate moves with them by the regression's
    coefficients b (the GREG estimator is the Hájek one plus b'(targets -
    weighted shares)), so b' V b is added. Census margins have none.
    """
    counts = np.asarray(counts, dtype=float)
    weights = np.asarray(weights, dtype=float)
    n = counts.sum()
    if n <= 1:
        return np.full(option_count, np.nan)
    total = float(np.sum(counts * weights))
    outcome = np.zeros((len(counts), option_count))
    outcome[np.arange(len(counts)), np.asarray(options)] = 1.0
    shares = (counts * weights) @ outcome / total
    u = (outcome - shares) / total  # each share's estimating variable, per respondent of each cell
    design = indicators(categories, sizes)
    added = np.zeros(option_count)
    if design.shape[1]:
        # Weighted least squares of u on the indicators, each respondent weighing its weight.
        root = np.sqrt(counts * weights)[:, None]
        coefficients, *_ = np.linalg.lstsq(root * design, root * u, rcond=None)
        u = u - design @ coefficients
        starts = np.cumsum([0, *sizes])
        for k, covariance in (target_covariances or {}).items():
            # The coefficients of the answer itself (u's times the total weight) on margin k's categories.
            b = total * coefficients[starts[k]:starts[k + 1]]
            added += np.einsum("ij,ik,kj->j", b, np.asarray(covariance, dtype=float), b)
    z = weights[:, None] * u
    mean = (counts @ z) / n
    return n / (n - 1) * (counts @ (z - mean) ** 2) + added


def share_covariance(shares: np.ndarray, effective_n: float) -> np.ndarray:
    """The covariance of a survey's estimated category shares: (diag(p) - p p') / n, at its effective size."""
    shares = np.asarray(shares, dtype=float)
    return (np.diag(shares) - np.outer(shares, shares)) / effective_n


def effective_sizes(shares: np.ndarray, variances: np.ndarray) -> np.ndarray:
    """The sample size a simple random sample would need for each share's variance: p (1 - p) / variance."""
    shares = np.asarray(shares, dtype=float)
    variances = np.asarray(variances, dtype=float)
    spread = shares * (1 - shares)
    safe = np.where(variances > 0, variances, 1.0)
    return np.where((variances > 0) & (spread > 0), spread / safe, 0.0)


def intervals(shares: np.ndarray, variances: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """95% intervals from the linearised variances: Wilson's at the effective size they imply.

    Wilson's form, not the normal one, so that a share near 0 or 1 keeps an
    interval inside [0, 1] that is not degenerate; where the variance is 0
    (a share of 0 or 1) it is Wilson's at the respondents' number, as Kish's is.
    """
    sizes = effective_sizes(shares, variances)
    return proportions.wilson_arrays(shares, sizes)


class PropensityError(ValueError):
    """Respondents in a category the reference survey has nobody in: their propensity would be 1, their weight 0."""


@dataclass(frozen=True)
class PropensityEstimate:
    """Weighted shares from propensity weights against a reference survey, and what the weights cost."""

    shares: np.ndarray
    weights: np.ndarray  # each cell's respondent weight (trimmed; the mean respondent's is 1)
    effective_n: float
    design_effect: float
    converged: bool
    variances: np.ndarray  # each share's linearised (Hájek) variance, the propensity model taken as known


def propensity_weights(sample: Sequence[np.ndarray], counts: np.ndarray, reference: Sequence[np.ndarray],
                       design_weights: np.ndarray, sizes: Sequence[int]) -> tuple[np.ndarray, bool]:
    """Each sample cell's respondent weight, (1 - p) / p of a logistic regression of "in the poll" on the variables.

    `sample[k]` and `reference[k]` hold the category indices of variable k
    (0..sizes[k]-1) of the poll's cells (`counts` respondents each) and of
    the reference survey's respondents (`design_weights` each, scaled here
    to the poll's size so that neither side dominates the fit). Main
    effects, the first category of each variable the base. The weights are
    trimmed as raked ones are (`weighting.trim`) and returned with mean 1,
    with whether the regression converged. Raises PropensityError when
    respondents are in a category the reference has nobody in.
    """
    # statsmodels takes a second to import: only the propensity estimate needs it, not every page of results.
    import statsmodels.api as sm
    from statsmodels.tools.sm_exceptions import ConvergenceWarning, PerfectSeparationWarning

    counts = np.asarray(counts, dtype=float)
    design_weights = np.asarray(design_weights, dtype=float)
    for codes, where, size in zip(sample, reference, sizes, strict=True):
        held = np.bincount(np.asarray(where), weights=design_weights, minlength=size) > 0
        found = np.bincount(np.asarray(codes), weights=counts, minlength=size) > 0
        if np.any(found & ~held):
            raise PropensityError("respondents are in a category the reference survey has nobody in")
    both = [np.concatenate([np.asarray(a), np.asarray(b)]) for a, b in zip(sample, reference, strict=True)]
    design = indicators(both, sizes)
    # Drop each variable's first category (the base) and any category the poll has nobody in: its coefficient
    # would run off to minus infinity, and it weighs no respondent anyway.
    found_in_poll = indicators(list(sample), sizes).T @ counts > 0
    firsts = np.cumsum([0, *sizes[:-1]])
    keep = found_in_poll.copy()
    keep[firsts] = False
    design = np.hstack([np.ones((design.shape[0], 1)), design[:, keep]])
    in_poll = np.concatenate([np.ones(len(counts)), np.zeros(len(design_weights))])
    scaled = design_weights * counts.sum() / design_weights.sum()
    frequency = np.concatenate([counts, scaled])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        warnings.simplefilter("always", PerfectSeparationWarning)
        fit = sm.GLM(in_poll, design, family=sm.families.Binomial(), freq_weights=frequency).fit(maxiter=100)
    converged = bool(fit.converged) and not any(
        issubclass(w.category, ConvergenceWarning | PerfectSeparationWarning) for w in caught)
    p = np.clip(fit.predict(design[: len(counts)]), 1e-9, 1 - 1e-9)
    odds = (1 - p) / p
    mean = float(np.sum(counts * odds) / counts.sum())
    trimmed = weighting.trim(odds / mean, counts)
    return trimmed / float(np.sum(counts * trimmed) / counts.sum()), converged


def propensity_estimate(sample: Sequence[np.ndarray], counts: np.ndarray, options: np.ndarray, option_count: int,
                        reference: Sequence[np.ndarray], design_weights: np.ndarray,
                        sizes: Sequence[int]) -> PropensityEstimate:
    """Answer shares weighted by propensity against the reference survey (`propensity_weights`)."""
    counts = np.asarray(counts, dtype=float)
    weights, converged = propensity_weights(sample, counts, reference, design_weights, sizes)
    return PropensityEstimate(
        shares=weighting.weighted_shares(np.asarray(options), weights * counts, option_count),
        weights=weights,
        effective_n=weighting.effective_n(weights, counts),
        design_effect=weighting.kish_deff(weights, counts),
        converged=converged,
        variances=linearised_variances([], [], counts, weights, options, option_count),
    )
