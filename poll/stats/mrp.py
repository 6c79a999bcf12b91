"""Governorate estimates by multilevel regression and post-stratification (MRP).

A governorate with 15 answers has a raw share that can sit 20 points from
its people's opinion. MRP borrows strength: for each headline option k a
multilevel logistic model of "chose k" with a random intercept per
governorate, fixed effects for sex, age band and region (so a small
governorate is pulled toward the governorates of its region, not toward the
nation), fitted by statsmodels' variational Bayes (`BinomialBayesMixedGLM.
fit_vb`). The K models' predicted probabilities are normalised per cell to
sum to 1 (so the options' estimates sum to 100%), then averaged over the
governorate's adult population cells (sex x age band): post-stratification.
A governorate with no level of its own in the model (no answers, or answers
pooled with others) is predicted from the prior: a new random intercept
drawn from the fitted spread between governorates, so its interval says how
little is known.

Intervals are central credible intervals of draws from the approximate
posterior (seeded). Mean-field variational Bayes is known to understate
posterior spread a little; the Monte Carlo measures their coverage.

The fit takes answers as cells (governorate x sex x age band, with counts
per option), not one row per answer: for a logistic model a cell of n
answers of which y chose k has the likelihood of y ones and n - y zeros, and
the library's ELBO is written as sum(y * lp) + E h(lp), so weighting h by n
fits the same model on at most a few hundred rows, whatever the poll's size.
The test suite checks the fit against the library's own model on one row per
answer.

Pure NumPy and statsmodels (the model itself in `mixed_glm`): no Flask, no database.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

LEVELS = (0.90, 0.95)  # the credible intervals each estimate carries
DRAWS = 2000
# Priors as the library states them: sd of the fixed effects (logit scale) and of the log sd between governorates.
FE_PRIOR_SD = 2.0
VCP_PRIOR_SD = 1.0

DESCRIPTION = ("Model-based estimate (multilevel regression and post-stratification): pulls governorates with few "
               "answers toward similar ones (the same region, sex and age mix) and weights each governorate's sex "
               "and age bands by its adult population. A governorate with no answers of its own is estimated from "
               "similar ones alone.")


@dataclass(frozen=True)
class Sample:
    """The answers as cells: each cell's governorate level, sex, age band and region, and its counts per option.

    A governorate level is a governorate's code, or any other name for answers
    pooled together (its region should then be a name of its own too).
    """

    governorate: Sequence[str]
    sex: Sequence[str]
    age_band: Sequence[str]
    region: Sequence[str]
    counts: np.ndarray  # cells x options


@dataclass(frozen=True)
class Frame:
    """The population to post-stratify to: per cell its governorate, sex, age band, region and adult share.

    `level[i]` is the cell's governorate level in the Sample, or None where
    that governorate has no level of its own (it is then a new group).
    """

    governorate: Sequence[str]
    level: Sequence[str | None]
    sex: Sequence[str]
    age_band: Sequence[str]
    region: Sequence[str]
    weight: np.ndarray


@dataclass(frozen=True)
class Estimate:
    """One governorate's (or the whole frame's) estimated shares per option: posterior means and intervals."""

    shares: list[float]
    intervals: dict[float, list[tuple[float, float]]]  # level -> per option (low, high)
    from_prior: bool  # no answers of its own: predicted from similar governorates alone


@dataclass(frozen=True)
class Fitted:
    """The estimates per governorate code, and over the whole frame ("overall")."""

    governorates: dict[str, Estimate]
    overall: Estimate
    spread: list[float] = field(default_factory=list)  # per option: the fitted sd between governorates (logit)


class NotFitted(Exception):  # noqa: N818 - a result, not a programming error
    """No estimate: the reason is the message (a fit that did not converge, or nothing to fit)."""


def _dummies(values: Sequence[str], levels: list[str]) -> np.ndarray:
    # Treatment coding: a column per level after the first; a value not among the levels gets none.
    out = np.zeros((len(values), max(len(levels) - 1, 0)))
    index = {level: i for i, level in enumerate(levels)}
    for row, value in enumerate(values):
        i = index.get(value, 0)
        if i:
            out[row, i - 1] = 1.0
    return out


def estimate(sample: Sample, frame: Frame, *, seed: int, draws: int = DRAWS, max_iterations: int | None = None
             ) -> Fitted:
    """Per governorate of `frame`, each option's post-stratified share with its credible intervals.

    Raises NotFitted when there is nothing to fit or a fit does not converge
    (within `max_iterations` of the optimiser, if given): then no estimate is
    shown, and the reason says why.
    """
    # The model's libraries take a second or two to import: loaded by the first fit, not by every command.
    from scipy import sparse
    from scipy.special import expit
    from statsmodels.tools.sm_exceptions import ConvergenceWarning

    from poll.stats import mixed_glm

    counts = np.asarray(sample.counts, dtype=float)
    trials = counts.sum(axis=1) if counts.size else np.zeros(0)
    keep = trials > 0
    if not keep.any():
        raise NotFitted("no answers with a known governorate, sex and age band")
    counts, trials = counts[keep], trials[keep]
    pick = np.flatnonzero(keep)
    take = [[values[i] for i in pick] for values in (sample.governorate, sample.sex, sample.age_band, sample.region)]
    gov, sex, age, region = take
    # Levels as the answers know them; the frame's values outside them are drawn from the prior.
    sex_levels, age_levels, region_levels = (sorted(set(values)) for values in (sex, age, region))
    gov_levels = sorted(set(gov))
    exog = np.hstack([np.ones((len(gov), 1)), _dummies(sex, sex_levels), _dummies(age, age_levels),
                      _dummies(region, region_levels)])
    gov_index = {level: i for i, level in enumerate(gov_levels)}
    exog_vc = sparse.csr_array((np.ones(len(gov)), (np.arange(len(gov)), [gov_index[g] for g in gov])),
                               shape=(len(gov), len(gov_levels)))
    ident = np.zeros(len(gov_levels), dtype=int)

    frame_exog = np.hstack([np.ones((len(frame.sex), 1)), _dummies(frame.sex, sex_levels),
                            _dummies(frame.age_band, age_levels), _dummies(frame.region, region_levels)])
    # A frame value the answers never had: its fixed effect drawn from the prior (columns appended per value).
    unseen = [(name, value) for name, values, levels in (("sex", frame.sex, sex_levels),
                                                         ("age_band", frame.age_band, age_levels),
                                                         ("region", frame.region, region_levels))
              for value in sorted(set(values) - set(levels))]
    unseen_exog = np.array([[1.0 if getattr(frame, name)[i] == value else 0.0 for name, value in unseen]
                            for i in range(len(frame.sex))]).reshape(len(frame.sex), len(unseen))
    frame_level = np.array([gov_index.get(level, -1) if level is not None else -1 for level in frame.level])

    rng = np.random.default_rng(seed)
    option_count = counts.shape[1]
    probabilities = np.empty((draws, len(frame.sex), option_count))
    spread = []
    for k in range(option_count):
        model = mixed_glm.CountedBinomialMixedGLM(counts[:, k], trials, exog, exog_vc, ident,
                                                  vcp_p=VCP_PRIOR_SD, fe_p=FE_PRIOR_SD)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            fit = model.fit_vb(rng=rng, minim_opts={"maxiter": max_iterations} if max_iterations else None)
        found = fit.optim_retvals
        if not found.success or not np.all(np.isfinite(fit.params)):
            raise NotFitted(f"the model of option {k + 1} did not converge ({found.message})")
        beta = rng.normal(fit.fe_mean, fit.fe_sd, size=(draws, len(fit.fe_mean)))
        u = rng.normal(fit.vc_mean, fit.vc_sd, size=(draws, len(fit.vc_mean)))
        sigma = np.exp(rng.normal(fit.vcp_mean[0], fit.vcp_sd[0], size=draws))
        new = rng.normal(0.0, 1.0, size=(draws, len(frame.sex))) * sigma[:, None]
        # A governorate without a level gets one new intercept per draw (shared by its cells).
        for code in set(np.array(frame.governorate)[frame_level < 0]):
            cells = [i for i, g in enumerate(frame.governorate) if g == code and frame_level[i] < 0]
            new[:, cells] = new[:, cells[:1]]
        intercepts = np.where(frame_level >= 0, u[:, np.maximum(frame_level, 0)], new)
        unseen_effects = rng.normal(0.0, FE_PRIOR_SD, size=(draws, len(unseen)))
        linear = beta @ frame_exog.T + unseen_effects @ unseen_exog.T + intercepts
        probabilities[:, :, k] = expit(linear)
        spread.append(float(np.exp(fit.vcp_mean[0])))
    probabilities /= probabilities.sum(axis=2, keepdims=True)

    weights = np.asarray(frame.weight, dtype=float)
    governorates = {}
    for code in dict.fromkeys(frame.governorate):
        cells = np.array([g == code for g in frame.governorate])
        if weights[cells].sum() <= 0:  # nobody lives there (a small simulated population): nothing to estimate
            continue
        governorates[code] = _summary(probabilities[:, cells, :], weights[cells],
                                      from_prior=bool((frame_level[cells] < 0).all()))
    overall = _summary(probabilities, weights, from_prior=False)
    return Fitted(governorates=governorates, overall=overall, spread=spread)


def _summary(probabilities: np.ndarray, weights: np.ndarray, *, from_prior: bool) -> Estimate:
    # Post-stratify each draw (draws x cells x options) with the cells' population weights, then summarise.
    shares = np.einsum("dco,c->do", probabilities, weights / weights.sum())
    intervals = {}
    for level in LEVELS:
        tail = (1 - level) / 2
        low, high = np.quantile(shares, [tail, 1 - tail], axis=0)
        intervals[level] = [(float(a), float(b)) for a, b in zip(low, high, strict=True)]
    return Estimate(shares=[float(v) for v in shares.mean(axis=0)], intervals=intervals, from_prior=from_prior)
