"""Monte Carlo replications of an SMS poll: how far raw and weighted estimates sit from the truth.

No database. The population is grouped into cells of people who behave alike
(governorate, sex, age band, urban, carrier, education, opinion); each replication
draws how many of each cell are invited, delivered and answer (binomial and
multinomial draws per cell), which is the same model as the person-level
simulator and fast enough for thousands of replications.

Approximations, stated: when both a recipient and the person their link was
forwarded to answer, the forwardee is first in FORWARDEE_FIRST of cases; the
campaigners of a stuffing scenario are spread over the strata like the
population; a forwarded link not answered like-mindedly is answered with
the opinions of the sender's governorate (the person-level simulator draws
one person of it); repeats and guessed links change no estimate under
personal links, so they are left out here.

With `rake_education`, weighting also rakes on education, as a poll whose
form asks it could if the adult shares by education were known: the
simulated population's own shares are the targets, so what this shows is
the most that asking it can buy.

Targets carry error (`target_error`, on by default): a real poll rakes to
published margins that are not its population's exact shares, so each
replication draws its governorate, sex and age-band targets around the
truth (`TARGET_ERROR`), and the weighted interval's coverage includes that
error. A replication whose raking does not converge is counted as the
public page would show it: unweighted (its raw shares and their interval).
Beside the weighted interval, each replication's sensitivity range
(`stats.sensitivity`) is checked against the truth, and so is its MUBP range
(Andridge and Little's index at phi from 0 to 1).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from poll import iraq
from poll.iraq import STRATA
from poll.simulate import behaviour, population
from poll.simulate.scenario import EDUCATION, OPTIONS, Scenario, education_shares
from poll.stats import mrp, proportions, sensitivity, weighting
from poll.variants import Experiment

FORWARDEE_FIRST = 0.3
STRATA_SIZES = (len(iraq.governorates()), 2, len(iraq.AGE_BANDS))


@dataclass
class Estimates:
    """Per-option summary of one estimator over the replications."""

    mean: np.ndarray
    bias: np.ndarray
    rmse: np.ndarray
    coverage: np.ndarray  # share of replications whose 95% interval held the truth
    values: np.ndarray  # replications x options


@dataclass
class MonteCarlo:
    replications: int
    population_size: int
    sample_size: int
    true_shares: np.ndarray
    answers_mean: float
    raw: Estimates
    weighted: Estimates
    weighting_failures: int  # replications where weighting failed even with categories merged: left out of `weighted`
    weighting_merged: int = 0  # replications weighted only with categories merged (`iraq.weighting_merges`)
    weighted_on: tuple[str, ...] = STRATA  # the margins raked to
    experiment: Power | None = None  # with a split-ballot experiment: how often each difference is detected
    # Replications whose raking did not converge: counted in `weighted` with their raw shares, as published.
    weighting_unconverged: int = 0
    # Per odds ratio of answering (stats.sensitivity.RATIOS), per option: the share of replications whose
    # sensitivity range held the truth (over the same replications as `weighted`).
    range_coverage: dict[float, np.ndarray] | None = None
    # Per option, over the same replications: the share whose MUBP range (stats.sensitivity.mubp_range, phi from 0
    # to 1, the 95% margin included) held the truth, a replication without the index counting as missing it;
    # the share that had the index; and the mean share at each phi (PHIS) where it had it.
    index_coverage: np.ndarray | None = None
    index_available: np.ndarray | None = None
    index_means: np.ndarray | None = None
    target_error: bool = False  # whether the raking targets were drawn with error (TARGET_ERROR)


@dataclass
class Power:
    """A split-ballot design over the replications: per variant after the reference and per option, the true
    difference from the reference among respondents, the mean estimate, the share of replications whose 95%
    interval left out 0 (power; the false-alarm rate where the truth is 0) and held the truth (coverage)."""

    names: tuple[str, ...]
    true_difference: np.ndarray  # (variants - 1) x options
    mean_difference: np.ndarray
    detected: np.ndarray
    coverage: np.ndarray


def _p_in_time(scenario: Scenario) -> float:
    # Probability that the answer delay falls within the cut-off (the mixture's CDF).
    spec = scenario["timing"]
    cutoff = spec["cutoff_hours"] * 3600

    def lognormal_cdf(median: float, sigma: float) -> float:
        return 0.5 * (1 + math.erf(math.log(cutoff / median) / (sigma * math.sqrt(2))))

    return spec["fast_share"] * lognormal_cdf(spec["fast_median_minutes"] * 60, 0.8) + (
        1 - spec["fast_share"]
    ) * lognormal_cdf(spec["slow_median_hours"] * 3600, spec["slow_sigma"])


def run(
    scenario: Scenario,
    *,
    population_size: int,
    sample_size: int,
    replications: int,
    seed: int,
    rake_education: bool = False,
    experiment: Experiment | None = None,
    progress: Callable[[int], None] = lambda done: None,
    target_error: bool = True,
    on_table: Callable[[int, np.ndarray], None] | None = None,
) -> MonteCarlo:
    """Replicate the poll `replications` times on one seeded population; `rake_education` adds that margin.

    With a split-ballot `experiment`, each replication's answers are also dealt
    to its variants at random (as balanced links answered alike would be),
    moved as the scenario's `[experiment]` says each way of asking moves them
    (`behaviour.variant_effects`), and each variant compared with the first.
    `on_table(r, table)` is shown each replication's answers (groups x options).
    """
    rng = np.random.default_rng(seed)
    people = population.generate(population_size, rng, education_shares(scenario))
    opinion = behaviour.opinions(people, scenario, rng)
    truth = np.bincount(opinion, minlength=len(OPTIONS)) / population_size

    stratum = (people.governorate.astype(np.int64) * 2 + people.sex) * len(iraq.AGE_BANDS) + people.age_band
    key = (((stratum * 2 + people.is_urban) * len(iraq.carriers()) + people.carrier) * len(EDUCATION)
           + people.education) * len(OPTIONS) + opinion
    _, first, sizes = np.unique(key, return_index=True, return_counts=True)
    cell_opinion = opinion[first]

    p_open, p_answer = behaviour.answer_probability(people, opinion, scenario)
    failure = np.array([scenario["delivery"]["failure"].get(op.name, 0.0) for op in iraq.carriers()])
    p_delivered = 1 - failure[people.carrier[first]]
    in_time = _p_in_time(scenario)
    own = p_open[first] * p_answer[first] * in_time
    forwarding = scenario["forwarding"]
    like_minded = forwarding["like_minded"]
    governorate_count = len(iraq.governorates())
    governorate_truth = np.zeros((governorate_count, len(OPTIONS)))
    np.add.at(governorate_truth, (people.governorate, opinion), 1)
    governorate_truth /= np.maximum(governorate_truth.sum(axis=1, keepdims=True), 1)
    governorate_truth[governorate_truth.sum(axis=1) == 0] = truth  # a governorate nobody lives in
    fwd = behaviour.forward_probability(p_open[first], forwarding["share"], sizes) * forwarding["answer"] * in_time
    outcome_p = np.stack([own * (1 - fwd), fwd * (1 - own), own * fwd, (1 - own) * (1 - fwd)], axis=1)
    outcome_p = np.clip(outcome_p, 0, None)
    outcome_p /= outcome_p.sum(axis=1, keepdims=True)

    # The cells answers are counted in: the strata, and with `rake_education` each stratum by education.
    levels = len(EDUCATION) if rake_education else 1
    group = stratum * levels + (people.education if rake_education else 0)
    cell_group = group[first]
    strata_count = int(np.prod(STRATA_SIZES))
    group_count = strata_count * levels
    group_shares = np.bincount(group, minlength=group_count) / population_size
    margins = [*STRATA, "education"] if rake_education else list(STRATA)
    sizes_of = {**dict(zip(STRATA, STRATA_SIZES, strict=True)), "education": len(EDUCATION)}
    targets = [np.bincount(getattr(people, name), minlength=sizes_of[name]) / population_size for name in margins]
    all_groups = np.arange(group_count)
    all_strata = all_groups // levels
    group_governorate = all_strata // (2 * STRATA_SIZES[2])
    group_parts = [
        group_governorate,
        (all_strata // STRATA_SIZES[2]) % 2,
        all_strata % STRATA_SIZES[2],
        *([all_groups % levels] if rake_education else []),
    ]
    stuffing = scenario["stuffing"]
    campaigners = stuffing["campaigners"] if stuffing["attempts_each"] else 0
    stuffing_option = OPTIONS.index(stuffing["option"])

    k = len(OPTIONS)
    raw = np.empty((replications, k))
    raw_hit = np.empty((replications, k), dtype=bool)
    weighted = np.full((replications, k), np.nan)
    weighted_hit = np.zeros((replications, k), dtype=bool)
    answers_total = 0
    failures = 0
    merged = 0
    invite_p = sample_size / population_size
    effects = behaviour.variant_effects(experiment, scenario) if experiment else None
    split_rng = np.random.default_rng([seed, 1])  # apart from the replications' own draws
    said = np.zeros((replications, len(effects) if effects is not None else 0, k))
    target_rng = np.random.default_rng([seed, 2])  # apart from the replications' own draws, as the split's
    in_range = {ratio: np.zeros((replications, k), dtype=bool) for ratio in sensitivity.RATIOS}
    in_index = np.zeros((replications, k), dtype=bool)
    index_shares = np.full((replications, k, len(sensitivity.PHIS)), np.nan)
    unconverged = 0
    own = np.zeros(k)  # answers by own opinion, over all replications
    for r in range(replications):
        invited = rng.binomial(sizes, invite_p)
        delivered = rng.binomial(invited, p_delivered)
        outcomes = rng.multinomial(delivered, outcome_p)
        forwardee_wins = rng.binomial(outcomes[:, 2], FORWARDEE_FIRST)
        own_answers = outcomes[:, 0] + outcomes[:, 2] - forwardee_wins
        forwarded = outcomes[:, 1] + forwardee_wins
        table = np.zeros((group_count, k))
        np.add.at(table, (cell_group, cell_opinion), own_answers)
        # Forwarded answers: like-minded ones think as the sender's cell does, the rest as the sender's governorate.
        like = rng.binomial(forwarded.astype(np.int64), like_minded)
        np.add.at(table, (cell_group, cell_opinion), like)
        others = np.bincount(cell_group, weights=forwarded - like, minlength=group_count).astype(np.int64)
        table += rng.multinomial(others, governorate_truth[group_governorate])
        if campaigners:
            table[:, stuffing_option] += rng.multinomial(campaigners, group_shares)

        if on_table is not None:
            on_table(r, table)
        counts = table.sum(axis=0)
        n = counts.sum()
        if effects is not None:
            said[r] = _asked(counts, effects, split_rng)
            own += counts
        answers_total += n
        raw[r] = counts / n if n else 0.0
        low, high = proportions.wilson_arrays(raw[r], n)
        raw_hit[r] = (low <= truth) & (truth <= high)

        rows_group, rows_option = np.nonzero(table)
        drawn = drawn_targets(targets, margins, target_rng) if target_error else targets
        try:
            estimate, how = weighting.estimate_merging(
                [part[rows_group] for part in group_parts], drawn, table[rows_group, rows_option],
                rows_option, k, iraq.weighting_merges(),
            )
        except weighting.RakingError:
            failures += 1
        else:
            merged += bool(how)
            unconverged += not estimate.rake.converged
            weighted[r], weighted_hit[r], ranges, index = _published(
                estimate, [part[rows_group] for part in group_parts], rows_option, table[rows_group, rows_option],
                raw[r], n, truth, k)
            for ratio in sensitivity.RATIOS:
                in_range[ratio][r] = ranges[ratio]
            in_index[r], index_shares[r] = index.holds(truth), index.shares
        progress(r + 1)

    ok = ~np.isnan(weighted[:, 0])
    return MonteCarlo(
        replications=replications,
        population_size=population_size,
        sample_size=sample_size,
        true_shares=truth,
        answers_mean=answers_total / replications,
        raw=_summarise(raw, raw_hit, truth),
        weighted=_summarise(weighted[ok], weighted_hit[ok], truth),
        weighting_failures=failures,
        weighting_merged=merged,
        weighted_on=tuple(margins),
        experiment=_power(experiment.names, said, effects, own) if experiment else None,
        weighting_unconverged=unconverged,
        range_coverage={ratio: held[ok].mean(axis=0) if ok.any() else np.full(k, np.nan)
                        for ratio, held in in_range.items()},
        target_error=target_error,
        index_coverage=in_index[ok].mean(axis=0) if ok.any() else np.full(k, np.nan),
        index_available=(~np.isnan(index_shares[ok, :, 0])).mean(axis=0) if ok.any() else np.full(k, np.nan),
        index_means=_nanmean(index_shares[ok]) if ok.any() else np.full((k, len(sensitivity.PHIS)), np.nan),
    )


def _nanmean(values: np.ndarray) -> np.ndarray:
    # The mean over replications of what they have (NaN where none has it), without numpy's empty-slice warning.
    present = ~np.isnan(values)
    count = present.sum(axis=0)
    total = np.where(present, values, 0.0).sum(axis=0)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


# How far each margin's raking targets may sit from the population's true shares, as a relative error at a
# category of average share (a Dirichlet around the truth, `target_concentration`). Judgements, stated:
# - governorate: the only table is COSIT's 2018 estimate of the whole population, all ages, projected; adults'
#   shares differ from it where the young are more or fewer (the Kurdistan Region, Baghdad against the south)
#   and by migration since: a tenth of a share;
# - sex: adult sex shares are well known; 1%;
# - age band: the Factbook's bands adjusted by judgement to the poll's adult bands (18-29 from 15-24 and
#   25-54): 5%;
# - education: none. Raking on it shows the most that asking it could buy, its shares taken as known.
TARGET_ERROR = {"governorate": 0.10, "sex": 0.01, "age_band": 0.05, "education": 0.0}


def target_concentration(categories: int, relative_error: float) -> float:
    """The Dirichlet concentration at which a category of share 1/`categories` has sd `relative_error` times it."""
    share = 1 / categories
    return (1 - share) / (share * relative_error**2) - 1


def drawn_targets(targets: list[np.ndarray], margins: list[str], rng: np.random.Generator) -> list[np.ndarray]:
    """One replication's raking targets: each margin's true shares drawn again with its TARGET_ERROR."""
    drawn = []
    for target, name in zip(targets, margins, strict=True):
        error = TARGET_ERROR.get(name, 0.0)
        present = target > 0
        if not error or present.sum() < 2:
            drawn.append(target)
            continue
        shares = np.zeros_like(target)
        shares[present] = rng.dirichlet(target[present] / target[present].sum()
                                        * target_concentration(int(present.sum()), error))
        drawn.append(shares)
    return drawn


def _published(estimate: weighting.CellEstimate, categories: list[np.ndarray], options: np.ndarray, counts: np.ndarray,
               raw: np.ndarray, n: float, truth: np.ndarray, k: int):
    # What the public page would show of one replication: the weighted shares and interval when raking
    # converged, else the raw shares (unweighted: the cells each weigh their answers); each with its
    # sensitivity range, checked against the truth, and its MUBP index (an operator's figure: the respondents'
    # cells are needed to fit its proxy).
    if estimate.rake.converged:
        shares, n_eff, weights = estimate.shares, estimate.effective_n, estimate.weights * counts
    else:
        shares, n_eff, weights = raw, n, counts
    low, high = proportions.wilson_arrays(shares, n_eff)
    intervals = np.stack([low, high], axis=1)
    held = {ratio: sensitivity.selection_range(categories, weights, options, k, ratio, shares=shares,
                                               intervals=intervals).holds(truth)
            for ratio in sensitivity.RATIOS}
    index = sensitivity.mubp_range(categories, counts, weights, options, k, shares=shares, intervals=intervals)
    return shares, (low <= truth) & (truth <= high), held, index


def _asked(counts: np.ndarray, effects: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    # One replication's answers by own opinion, dealt to the variants at random and moved by each way of asking:
    # variants x options.
    variants, k = effects.shape[0], effects.shape[1]
    dealt = np.stack([rng.multinomial(int(count), np.full(variants, 1 / variants)) for count in counts], axis=1)
    said = np.zeros((variants, k))
    for v in range(variants):
        for i in range(k):
            said[v] += rng.multinomial(int(dealt[v, i]), effects[v, i])
    return said


def _power(names: tuple[str, ...], said: np.ndarray, effects: np.ndarray, own: np.ndarray) -> Power:
    # Differences from the first variant with Newcombe's interval, per replication; the truth from the mean
    # respondents' opinions moved by each way of asking.
    n = said.sum(axis=2)  # replications x variants
    shares = said / np.maximum(n, 1)[:, :, None]
    opinion = own / own.sum() if own.sum() else own
    expected = np.einsum("i,vij->vj", opinion, effects)
    truth = expected[1:] - expected[0]
    low, high = proportions.difference_arrays(shares[:, 1:], n[:, 1:, None], shares[:, :1], n[:, :1, None])
    difference = shares[:, 1:] - shares[:, :1]
    return Power(names=names, true_difference=truth, mean_difference=difference.mean(axis=0),
                 detected=((low > 0) | (high < 0)).mean(axis=0),
                 coverage=((low <= truth) & (truth <= high)).mean(axis=0))


def _summarise(values: np.ndarray, hits: np.ndarray, truth: np.ndarray) -> Estimates:
    if len(values) == 0:
        nan = np.full(len(truth), np.nan)
        return Estimates(nan, nan, nan, nan, values)
    errors = values - truth
    return Estimates(
        mean=values.mean(axis=0),
        bias=errors.mean(axis=0),
        rmse=np.sqrt((errors**2).mean(axis=0)),
        coverage=hits.mean(axis=0),
        values=values,
    )


@dataclass
class GovernorateMrp:
    """MRP's governorate estimates (`stats.mrp`) over replications, against each governorate's simulated truth.

    Arrays are governorates x options; `coverage` and `overall_coverage` map
    an interval's level (0.90, 0.95) to the share of replications whose
    interval held the truth.
    """

    replications: int  # fitted: failures are left out
    failures: int
    governorates: tuple[str, ...]
    truth: np.ndarray
    answers: np.ndarray  # mean answers per governorate
    mean: np.ndarray
    bias: np.ndarray
    rmse: np.ndarray
    coverage: dict[float, np.ndarray]
    raw_bias: np.ndarray  # the raw shares' bias where the governorate had answers, for comparison
    raw_rmse: np.ndarray
    overall_truth: np.ndarray
    overall_bias: np.ndarray
    overall_coverage: dict[float, np.ndarray]
    seconds_per_replication: float  # the model's fit and draws, measured


def governorate_mrp(scenario: Scenario, *, population_size: int, sample_size: int, replications: int, seed: int,
                    draws: int = 1000) -> GovernorateMrp:
    """The replications of `run` (same seed, same answers) with MRP per governorate fitted to each.

    The model is given every governorate as a level of its own (no disclosure
    pooling: this measures the model) and post-stratified to the simulated
    population's own cells, which the simulation knows exactly.
    """
    rng = np.random.default_rng(seed)
    people = population.generate(population_size, rng, education_shares(scenario))
    opinion = behaviour.opinions(people, scenario, rng)
    k, bands = len(OPTIONS), len(iraq.AGE_BANDS)
    governorates = iraq.governorates()
    stratum = (people.governorate.astype(np.int64) * 2 + people.sex) * bands + people.age_band
    strata_count = int(np.prod(STRATA_SIZES))
    cells = np.arange(strata_count)
    codes = [governorates[g].code for g in cells // (2 * bands)]
    sexes = [iraq.categories("sex")[s] for s in (cells // bands) % 2]
    ages = [iraq.AGE_BANDS[a] for a in cells % bands]
    regions = [governorates[g].region for g in cells // (2 * bands)]
    frame = mrp.Frame(governorate=codes, level=codes, sex=sexes, age_band=ages, region=regions,
                      weight=np.bincount(stratum, minlength=strata_count).astype(float))
    truth = np.zeros((len(governorates), k))
    np.add.at(truth, (people.governorate, opinion), 1)
    overall_truth = truth.sum(axis=0) / truth.sum()
    truth /= np.maximum(truth.sum(axis=1, keepdims=True), 1)

    tables: list[np.ndarray] = []
    run(scenario, population_size=population_size, sample_size=sample_size, replications=replications, seed=seed,
        on_table=lambda r, table: tables.append(table.copy()))
    found, overall, raw, answers = [], [], [], []
    hits = {level: [] for level in mrp.LEVELS}
    overall_hits = {level: [] for level in mrp.LEVELS}
    failures, seconds = 0, 0.0
    for r, table in enumerate(tables):
        rows = np.flatnonzero(table.sum(axis=1))
        sample = mrp.Sample(governorate=[codes[i] for i in rows], sex=[sexes[i] for i in rows],
                            age_band=[ages[i] for i in rows], region=[regions[i] for i in rows], counts=table[rows])
        started = time.perf_counter()
        try:
            fitted = mrp.estimate(sample, frame, seed=seed * 1_000 + r, draws=draws)
        except mrp.NotFitted:
            failures += 1
            continue
        finally:
            seconds += time.perf_counter() - started
        by_governorate = table.reshape(len(governorates), -1, k).sum(axis=1)
        answers.append(by_governorate.sum(axis=1))
        raw.append(by_governorate / np.where(by_governorate.sum(axis=1, keepdims=True) > 0,
                                             by_governorate.sum(axis=1, keepdims=True), np.nan))
        found.append([fitted.governorates[g.code].shares for g in governorates])
        overall.append(fitted.overall.shares)
        for level in mrp.LEVELS:
            bounds = np.array([fitted.governorates[g.code].intervals[level] for g in governorates])
            hits[level].append((bounds[:, :, 0] <= truth) & (truth <= bounds[:, :, 1]))
            low, high = np.array(fitted.overall.intervals[level]).T
            overall_hits[level].append((low <= overall_truth) & (overall_truth <= high))
    fitted_count = len(found)
    estimates = np.array(found).reshape(fitted_count, len(governorates), k)
    errors = estimates - truth
    raw_errors = np.array(raw).reshape(fitted_count, len(governorates), k) - truth
    with np.errstate(invalid="ignore"):  # a governorate with no answers in any replication has no raw share
        raw_bias, raw_rmse = np.nanmean(raw_errors, axis=0), np.sqrt(np.nanmean(raw_errors ** 2, axis=0))
    return GovernorateMrp(
        replications=fitted_count, failures=failures, governorates=tuple(g.code for g in governorates),
        truth=truth, answers=np.mean(answers, axis=0) if answers else np.zeros(len(governorates)),
        mean=estimates.mean(axis=0), bias=errors.mean(axis=0), rmse=np.sqrt((errors ** 2).mean(axis=0)),
        coverage={level: np.mean(hits[level], axis=0) for level in mrp.LEVELS},
        raw_bias=raw_bias, raw_rmse=raw_rmse, overall_truth=overall_truth,
        overall_bias=np.mean(overall, axis=0) - overall_truth,
        overall_coverage={level: np.mean(overall_hits[level], axis=0) for level in mrp.LEVELS},
        seconds_per_replication=seconds / max(len(tables), 1),
    )
