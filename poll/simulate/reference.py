"""Monte Carlo of weighting against a reference survey: what a poll can do about education without knowing its shares.

`montecarlo.run` with `rake_education` rakes on the simulated population's
exact education shares: the most that asking education can buy. A real poll
has no such table (the project holds no sourced Iraqi adult education
distribution); it would take its targets from a probability survey, whose
shares carry sampling error. Here each replication draws such a survey (a
simple random sample of `reference_size` people of the population, each
weighing N / n) and compares, on the same answers:

- `demography`: raked on governorate, sex and age band (the census margins, known exactly);
- `education`: raked on those and on education, its targets the reference survey's weighted shares;
- `propensity`: weighted by the odds of being in the reference rather than the poll, from a logistic
  regression on governorate, sex, age band and education (`stats.calibration.propensity_estimate`).

For each, two 95% intervals: Wilson's at Kish's effective n, and Wilson's at
the size the linearised variance implies (`stats.calibration`), which for
raking on education adds what the survey's own sampling error does to the
estimate; for propensity weights it is the Hájek variance, the model and the
survey taken as known.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from poll import iraq
from poll.simulate import montecarlo, population
from poll.simulate.montecarlo import STRATA_SIZES
from poll.simulate.scenario import EDUCATION, Scenario, education_shares
from poll.stats import calibration, proportions, weighting

REFERENCE_SIZE = 3000  # about a national face-to-face survey's (Arab Barometer interviews some 2,400 Iraqis a wave)
ESTIMATORS = ("demography", "education", "propensity")
INTERVALS = ("kish", "linearised")


@dataclass
class Figures:
    """One estimator over the replications, per option: bias, RMSE and each interval's coverage and mean width."""

    mean: np.ndarray
    bias: np.ndarray
    rmse: np.ndarray
    coverage: dict[str, np.ndarray]  # by interval: share of replications whose interval held the truth
    width: dict[str, np.ndarray]  # by interval: mean width
    failures: int  # replications where this weighting failed: left out


@dataclass
class ReferenceMonteCarlo:
    replications: int
    reference_size: int
    true_shares: np.ndarray
    answers_mean: float
    raw: montecarlo.Estimates
    exact_education: montecarlo.Estimates  # raked on the population's exact education shares (`montecarlo.run`)
    estimators: dict[str, Figures]


class _Collector:
    """Called with each replication's answers table: weighs it three ways against a fresh reference survey."""

    def __init__(self, people: population.Population, rng: np.random.Generator, reference_size: int) -> None:
        self.people, self.rng, self.reference_size = people, rng, reference_size
        size = len(people)
        self.demography_targets = [np.bincount(codes, minlength=m) / size for codes, m in
                                   zip((people.governorate, people.sex, people.age_band), STRATA_SIZES, strict=True)]
        levels = len(EDUCATION)
        groups = np.arange(int(np.prod(STRATA_SIZES)) * levels)
        strata = groups // levels
        self.parts = [strata // (2 * STRATA_SIZES[2]), (strata // STRATA_SIZES[2]) % 2, strata % STRATA_SIZES[2],
                      groups % levels]
        self.sizes = [*STRATA_SIZES, levels]
        self.found: dict[str, list] = {name: [] for name in ESTIMATORS}

    def __call__(self, replication: int, table: np.ndarray) -> None:
        chosen = self.rng.choice(len(self.people), self.reference_size, replace=False)
        design = np.full(self.reference_size, len(self.people) / self.reference_size)
        reference = [self.people.governorate[chosen], self.people.sex[chosen], self.people.age_band[chosen],
                     self.people.education[chosen]]
        education = np.bincount(reference[3], weights=design, minlength=len(EDUCATION))
        education /= education.sum()
        # The survey's shares are estimates: the linearised interval counts their variance (a simple random sample).
        spread = {3: calibration.share_covariance(education, weighting.effective_n(design))}
        rows, options = np.nonzero(table)
        counts = table[rows, options]
        parts = [part[rows] for part in self.parts]
        k = table.shape[1]
        self.found["demography"].append(_raked(parts[:3], self.demography_targets, counts, options, k))
        self.found["education"].append(_raked(parts, [*self.demography_targets, education], counts, options, k,
                                              spread))
        self.found["propensity"].append(_propensity(parts, counts, options, k, reference, design, self.sizes))


def _raked(parts, targets, counts, options, k, spread=None):
    # (shares, kish interval, linearised interval) of one raking, or None where it fails.
    try:
        estimate, merged = weighting.estimate_merging(parts, targets, counts, options, k, iraq.weighting_merges())
    except weighting.RakingError:
        return None
    categories, sizes = calibration.merged(parts, [len(t) for t in targets], dict(iraq.weighting_merges())[merged])
    variances = calibration.linearised_variances(categories, sizes, counts, estimate.weights, options, k,
                                                 target_covariances=spread)
    kish = proportions.wilson_arrays(estimate.shares, estimate.effective_n)
    return estimate.shares, kish, calibration.intervals(estimate.shares, variances)


def _propensity(parts, counts, options, k, reference, design, sizes):
    try:
        estimate = calibration.propensity_estimate(parts, counts, options, k, reference, design, sizes)
    except calibration.PropensityError:
        return None
    kish = proportions.wilson_arrays(estimate.shares, estimate.effective_n)
    return estimate.shares, kish, calibration.intervals(estimate.shares, estimate.variances)


def run(scenario: Scenario, *, population_size: int, sample_size: int, replications: int, seed: int,
        reference_size: int = REFERENCE_SIZE) -> ReferenceMonteCarlo:
    """`montecarlo.run` raked on exact education, with each replication also weighed against a reference survey."""
    # The same people montecarlo.run draws from the same seed (it draws them first).
    people = population.generate(population_size, np.random.default_rng(seed), education_shares(scenario))
    collector = _Collector(people, np.random.default_rng([seed, 2]), reference_size)
    mc = montecarlo.run(scenario, population_size=population_size, sample_size=sample_size,
                        replications=replications, seed=seed, rake_education=True, on_table=collector)
    truth = mc.true_shares
    return ReferenceMonteCarlo(
        replications=replications, reference_size=reference_size, true_shares=truth, answers_mean=mc.answers_mean,
        raw=mc.raw, exact_education=mc.weighted,
        estimators={name: _summarised(found, truth) for name, found in collector.found.items()},
    )


def _summarised(found: list, truth: np.ndarray) -> Figures:
    done = [entry for entry in found if entry is not None]
    failures = len(found) - len(done)
    if not done:
        nan = np.full(len(truth), np.nan)
        return Figures(nan, nan, nan, {name: nan for name in INTERVALS}, {name: nan for name in INTERVALS}, failures)
    shares = np.array([entry[0] for entry in done])
    errors = shares - truth
    coverage, width = {}, {}
    for position, name in enumerate(INTERVALS, start=1):
        low = np.array([entry[position][0] for entry in done])
        high = np.array([entry[position][1] for entry in done])
        coverage[name] = ((low <= truth) & (truth <= high)).mean(axis=0)
        width[name] = (high - low).mean(axis=0)
    return Figures(mean=shares.mean(axis=0), bias=errors.mean(axis=0), rmse=np.sqrt((errors**2).mean(axis=0)),
                   coverage=coverage, width=width, failures=failures)

