"""How far selection that no weighting sees could move a weighted share: a stated sensitivity range.

Weighting to governorate, sex and age band assumes that, within each of their
groups, those who answered think like those who did not. When opinion itself
makes people answer (opponents mobilised, supporters silent), no weighting on
demography can see it, and the weighted estimate's interval is then narrow
around the wrong value. What the data cannot tell, a stated assumption can
bound: *if those who chose an answer were up to k times more, or k times less,
likely to answer than the others of their group*, the share would lie in this
range.

Computed exactly by reweighting: each respondent who chose the answer
counts k times (or 1/k times) what they counted, and the weights are raked
again to the margins the weighted estimate met, so those still hold. (Keeping
each full cross-classified cell's total instead would leave cells where no
one chose the answer unmoved; in a poll of a few thousand answers spread
over 144 cells, that hides most of the shift.)
The range runs from the share at 1/k to the share at k, widened on each side
by the weighted estimate's own 95% margin (carried through the same odds
ratio), so that it is a statement of both the selection it allows and the
sampling error. Each answer's range is
computed on its own (that answer against all the others).

This is the simpler of the sensitivity analyses in the literature: a fixed
odds ratio of answering within groups, as in Rosenbaum's sensitivity bounds.
It needs nothing but the weighted cells, so it can be derived from released
figures alone.

Beside it, `mubp_range` gives Andridge and Little's measure of unadjusted
bias for proportions (MUBP, 2019): a model that builds a proxy of the answer
from the weighting variables and lets phi, from 0 (selection on those
variables, raking's assumption) to 1 (selection on opinion alone), say how
far the share moves. It needs the respondents' own cells to fit the proxy,
so it is an operator's figure. Its model has selection grow smoothly with the
strength of opinion; where the answer itself is what decides (a block of
supporters who stay silent), its phi = 1 end stops short of the truth.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from poll.stats import weighting

# The odds ratios of answering that the range allows, stated beside it: 1.5 (a moderate difference in who
# answers), 2 (a large one: twice as likely) and 3 (opinion itself mobilising or silencing a side, as the
# mobilised-opponents scenario has it: there supporters are about 2.6 times less likely to answer).
RATIOS = (1.5, 2.0, 3.0)
WIDEST = RATIOS[-1]


@dataclass(frozen=True)
class Range:
    """Per answer, the lowest and highest share under odds ratios of answering up to `ratio`."""

    ratio: float
    low: np.ndarray
    high: np.ndarray

    def holds(self, truth: np.ndarray) -> np.ndarray:
        """Per answer, whether the range holds `truth`."""
        return (self.low <= truth) & (truth <= self.high)


def shifted_shares(categories: Sequence[np.ndarray], weights: np.ndarray, options: np.ndarray, option_count: int,
                   ratio: float) -> np.ndarray:
    """Each answer's weighted share were those choosing it `ratio` times less likely to answer than others alike on
    every weighting margin (so each of them stands for `ratio` times as many); a `ratio` under 1: more likely.

    `weights` are the cells' total weights (respondents x their weight); `categories[k]` each cell's category on
    margin k, `options` its answer. The reweighted cells are raked back to the margins `weights` meet.
    """
    weights = np.asarray(weights, dtype=float)
    shares = np.zeros(option_count)
    if weights.sum() <= 0:
        return shares
    categories = [np.asarray(codes, dtype=np.int64) for codes in categories]
    margins = [np.bincount(codes, weights=weights) for codes in categories]
    for option in range(option_count):
        chosen = options == option
        if not chosen.any():
            continue
        moved = weighting.rake(categories, margins, base_weights=np.where(chosen, ratio * weights, weights),
                               tolerance=1e-9, max_iterations=500).weights
        shares[option] = float(moved[chosen].sum() / moved.sum())
    return shares


def selection_range(categories: Sequence[np.ndarray], weights: np.ndarray, options: np.ndarray, option_count: int,
                    ratio: float, *, shares: np.ndarray | None = None,
                    intervals: np.ndarray | None = None) -> Range:
    """Each answer's range of shares under odds ratios of answering from 1/`ratio` to `ratio` within groups.

    With the weighted `shares` and their 95% `intervals` (options x 2), the range is widened by the interval's
    margin on each side: the selection the ratio allows, and the sampling error besides.
    """
    low = shifted_shares(categories, weights, options, option_count, 1 / ratio)
    high = shifted_shares(categories, weights, options, option_count, ratio)
    if shares is not None and intervals is not None:
        # The interval's margins carried through the same odds ratio (applied to the whole share, where the
        # range itself applies it group by group): the ratio stretches a margin as it stretches the share.
        shares, intervals = np.asarray(shares, dtype=float), np.asarray(intervals, dtype=float)
        low = low - (_at_odds(shares, 1 / ratio) - _at_odds(intervals[:, 0], 1 / ratio))
        high = high + (_at_odds(intervals[:, 1], ratio) - _at_odds(shares, ratio))
    return Range(ratio, np.clip(low, 0.0, 1.0), np.clip(high, 0.0, 1.0))


def _at_odds(share: np.ndarray, ratio: float) -> np.ndarray:
    # A share whose odds are multiplied by `ratio`.
    share = np.clip(share, 0.0, 1.0)
    return ratio * share / (ratio * share + 1 - share)


# Andridge and Little's measure of unadjusted bias for proportions (MUBP): a second, model-based range.
#
# The band above states an odds ratio; this one states where selection lies between the weighting variables and
# the answer itself, and lets the data say how far that can move the share.

# The values of phi each answer's share is given at: 0, selection on the weighting variables only (what raking
# assumes); 1, on the answer only; 0.5, the midpoint often quoted.
PHIS = (0.0, 0.5, 1.0)
# The grid the range is taken over: the share is monotone in phi for a proxy that predicts the answer, but the
# range is the lowest and highest over the grid, so it holds whatever the shape.
_PHI_GRID = np.linspace(0.0, 1.0, 21)
_MAX_CORRELATION = 0.99  # the biserial correlation is sought within +-0.99, as in the authors' two-step method

NOT_AVAILABLE_ALL_OR_NONE = "everyone or no one who answered chose it"
NOT_AVAILABLE_NO_PROXY = "the weighting variables do not predict it: the proxy has no variance"
NOT_AVAILABLE_NOT_CONVERGED = "the probit of it on the weighting variables did not converge"
NOT_AVAILABLE_NOT_PREDICTED = "the proxy built from the weighting variables does not predict it"


@dataclass(frozen=True)
class SelectionIndex:
    """Per answer, its share at each phi (PHIS) and its range over phi in [0, 1]; NaN, with a reason, where the
    index is not available."""

    shares: np.ndarray  # options x len(PHIS)
    low: np.ndarray
    high: np.ndarray
    correlation: np.ndarray  # the proxy's biserial correlation with the answer among respondents
    reasons: tuple[str | None, ...]

    @property
    def available(self) -> np.ndarray:
        return np.array([reason is None for reason in self.reasons])

    def holds(self, truth: np.ndarray) -> np.ndarray:
        """Per answer, whether the range holds `truth` (False where not available)."""
        with np.errstate(invalid="ignore"):
            return self.available & (self.low <= truth) & (truth <= self.high)


def mubp_range(categories: Sequence[np.ndarray], counts: np.ndarray, weights: np.ndarray, options: np.ndarray,
               option_count: int, *, shares: np.ndarray | None = None,
               intervals: np.ndarray | None = None) -> SelectionIndex:
    """Each answer's share under Andridge and Little's proxy pattern-mixture model, at phi from 0 to 1.

    Andridge, West, Little, Boonstra and Alvarado-Leiton (2019), "Indices of non-ignorable selection bias for
    proportions estimated from non-probability samples", Journal of Survey Statistics and Methodology 7(2),
    the two-step maximum-likelihood estimator:

    - the proxy X is the linear predictor of a probit of the answer (this one against the rest) on the weighting
      variables' dummies, fitted to the respondents (`counts` per cell, `categories[k]` each cell's category on
      margin k, `options` its answer). Any function of the weighting variables is a valid proxy; the probit makes
      a strong one. A category whose respondents all chose, or all did not choose, the answer joins its margin's
      first category, where a probit would run to infinity;
    - a latent U (answer = U > 0) with X is bivariate normal among respondents: U's mean is probit(share of
      respondents), its variance 1, and its correlation rho with X is found by maximum likelihood with that
      threshold held;
    - the population's proxy mean and variance come from the raked cells (`weights`, each cell's total weight):
      X is linear in the dummies, so its raked mean is the coefficient-weighted raking targets exactly;
    - selection depends on (1 - phi) X* + phi U (X* the proxy scaled to U's variance), so that, with
      g = (phi + (1 - phi) rho) / (phi rho + 1 - phi), U's population mean and variance are
      mu = probit(share) + g (mean_pop - mean_resp) / sd_resp and
      var = 1 + g^2 (var_pop - var_resp) / var_resp, and the share is Phi(mu / sqrt(var)).

    The paper's nonselected population is here the whole population the targets describe; with a sample of a
    few thousand of millions the two coincide, and the estimate agrees with the split one to first order in the
    proxy's shift. At phi = 0 the share is the model's estimate under raking's own assumption, close to the
    weighted share; at phi = 1 it is what the answers would be were answering driven by the answer alone. With
    the weighted `shares` and their 95% `intervals`, the range runs from the lowest to the highest of the
    weighted share and the shares over phi, widened by the interval's margin on each side, as the stated band
    is: so it always holds the weighted interval, which phi = 0 only approximates.
    """
    counts, weights = np.asarray(counts, dtype=float), np.asarray(weights, dtype=float)
    options = np.asarray(options)
    categories = [np.asarray(codes, dtype=np.int64) for codes in categories]
    found = np.full((option_count, len(PHIS)), np.nan)
    low, high, correlation = (np.full(option_count, np.nan) for _ in range(3))
    reasons: list[str | None] = []
    for option in range(option_count):
        fitted = _mubp_one(categories, counts, weights, options == option)
        if isinstance(fitted, str):
            reasons.append(fitted)
            continue
        reasons.append(None)
        correlation[option], at = fitted
        found[option] = [at(phi) for phi in PHIS]
        grid = np.array([at(phi) for phi in _PHI_GRID])
        low[option], high[option] = grid.min(), grid.max()
    if shares is not None and intervals is not None:
        shares, intervals = np.asarray(shares, dtype=float), np.asarray(intervals, dtype=float)
        low = np.minimum(low, shares) - np.clip(shares - intervals[:, 0], 0.0, None)
        high = np.maximum(high, shares) + np.clip(intervals[:, 1] - shares, 0.0, None)
    return SelectionIndex(found, np.clip(low, 0.0, 1.0), np.clip(high, 0.0, 1.0), correlation, tuple(reasons))


def _mubp_one(categories: list[np.ndarray], counts: np.ndarray, weights: np.ndarray, chosen: np.ndarray):
    # One answer against the rest: (rho, share at phi) or the reason the index is not available.
    # SciPy and statsmodels take a second or two to import: loaded by the first index, not by every command.
    from scipy import optimize, special, stats

    respondents = counts.sum()
    answered = float(counts[chosen].sum() / respondents) if respondents > 0 else 0.0
    if not 0.0 < answered < 1.0:
        return NOT_AVAILABLE_ALL_OR_NONE
    design = _proxy_design(categories, counts, chosen)
    proxy = _probit_proxy(design, counts, chosen)
    if proxy is None:
        return NOT_AVAILABLE_NOT_CONVERGED
    mean_resp = float(np.average(proxy, weights=counts))
    var_resp = float(np.average((proxy - mean_resp) ** 2, weights=counts))
    if not var_resp > 1e-12:
        return NOT_AVAILABLE_NO_PROXY
    mean_pop = float(np.average(proxy, weights=weights))
    var_pop = float(np.average((proxy - mean_pop) ** 2, weights=weights))
    sd_resp = np.sqrt(var_resp)
    threshold = float(stats.norm.ppf(answered))  # U's mean among respondents, its variance 1
    y = chosen.astype(float)

    def minus_log_likelihood(rho: float) -> float:
        # P(answer | X) = Phi((threshold + rho (X - mean) / sd) / sqrt(1 - rho^2)).
        z = (threshold + rho * (proxy - mean_resp) / sd_resp) / np.sqrt(1 - rho**2)
        return -float(np.sum(counts * (y * special.log_ndtr(z) + (1 - y) * special.log_ndtr(-z))))

    rho = float(optimize.minimize_scalar(minus_log_likelihood, bounds=(-_MAX_CORRELATION, _MAX_CORRELATION),
                                         method="bounded").x)
    if rho <= 0:
        return NOT_AVAILABLE_NOT_PREDICTED

    def at(phi: float) -> float:
        g = 1 / rho if phi == 1 else (phi + (1 - phi) * rho) / (phi * rho + 1 - phi)
        mean_u = threshold + g * (mean_pop - mean_resp) / sd_resp
        var_u = max(1 + g**2 * (var_pop - var_resp) / var_resp, np.finfo(float).eps)
        return float(stats.norm.cdf(mean_u / np.sqrt(var_u)))

    return rho, at


def _proxy_design(categories: list[np.ndarray], counts: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    # An intercept and, per margin, a dummy for each category after the first that has respondents who chose
    # the answer and respondents who did not (the others join the first: their coefficient would be infinite).
    columns = [np.ones(len(counts))]
    for codes in categories:
        present = np.bincount(codes, weights=counts)
        yes = np.bincount(codes, weights=np.where(chosen, counts, 0.0), minlength=len(present))
        mixed = (yes > 0) & (yes < present)
        first = np.flatnonzero(present > 0)[:1]
        for category in np.flatnonzero(mixed):
            if category not in first:
                columns.append((codes == category).astype(float))
    return np.column_stack(columns)


def _probit_proxy(design: np.ndarray, counts: np.ndarray, chosen: np.ndarray) -> np.ndarray | None:
    # Each cell's linear predictor from a probit fitted to the respondents (grouped by profile), or None.
    import statsmodels.api as sm
    from statsmodels.tools.sm_exceptions import ConvergenceWarning, PerfectSeparationWarning

    profiles, cell_profile = np.unique(design, axis=0, return_inverse=True)
    cell_profile = cell_profile.reshape(-1)
    yes = np.bincount(cell_profile, weights=np.where(chosen, counts, 0.0), minlength=len(profiles))
    no = np.bincount(cell_profile, weights=np.where(chosen, 0.0, counts), minlength=len(profiles))
    asked = (yes + no) > 0
    family = sm.families.Binomial(link=sm.families.links.Probit())
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        warnings.simplefilter("error", PerfectSeparationWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            fit = sm.GLM(np.column_stack([yes, no])[asked], profiles[asked], family=family).fit(maxiter=100)
        except (ConvergenceWarning, PerfectSeparationWarning, ValueError, np.linalg.LinAlgError):
            return None
    params = np.asarray(fit.params)
    if not fit.converged or not np.isfinite(params).all():
        return None
    return design @ params
