"""A poll's results: the funnel, counts and shares with intervals, weighted estimates, breakdowns, truth.

Everything here reads the kept counters and tallies (services.answering.tallies), whose
size depends on the poll's design, not on how many answered: the results of
a million answers cost what those of ten thousand do.

What is shown keeps the disclosure rule (stats.disclosure) for every reader,
operators included: answer shares appear once at least ten answers chose at
least two different options; a governorate, sex or age band shows its shares
only if it is such a group itself and the hidden ones together are too; and
answers over time are counted without their options, since a link keeps the
day it was answered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import sqlalchemy as sa
import sqlalchemy.orm as so

from poll import iraq
from poll.models import Answer, Poll, SimulationRun
from poll.questionnaire import PREFER_NOT
from poll.services.answering import tallies
from poll.services.definition.polls import experiment_of, questions_of
from poll.services.releases import governorate_estimates, question_results, references, suppression
from poll.services.simulations.runs import latest_montecarlo, latest_run
from poll.stats import aapor, calibration, disclosure, proportions, sensitivity, weighting

SMALL_CELL = disclosure.MIN_GROUP  # the smallest group of answers shown

# What the results say of themselves (`Results.notes`), in English; pages show them in the reader's
# language (web.words.NOTES), so each is a fixed text.
NOTE_WITHHELD = (f"Answer shares are shown from {SMALL_CELL} answers that do not all choose the same option: "
                 "fewer would tell who answered what.")
NOTE_NO_POPULATION = "No weighted estimate: some answers are in a category where the margins have no people."
NOTE_NO_WEIGHTING = ("No weighted estimate: even with governorates merged into regions and the two oldest age bands "
                     "together, some category has no answers.")
NOTE_NOT_CONVERGED = "Weighting did not converge: no weighted figures are shown."
NOTE_TOO_FEW_TO_WEIGHT = (f"No weighted estimate: it needs at least {100} answers of known strata, an effective sample "
                          f"of {50}, and no one answer carrying more than 5% of the weight.")
# Below these, weighted figures are not shown to anyone: a few answers with full-precision weighted shares and
# the weights (which anyone can recompute from the cells and the margins) can be solved for single answers, and
# a weighted estimate resting on a handful of people says little anyway.
MIN_WEIGHTED_RESPONDENTS = 100
MIN_EFFECTIVE_N = 50
MAX_WEIGHT_SHARE = 0.05
# The 95% interval of weighted shares: "linearised" (Wilson's at the size the raked estimate's linearised variance
# implies, stats.calibration) or "kish" (Wilson's at Kish's effective n). Chosen by the Monte Carlo against a
# reference survey (poll.simulate.reference; 200 replications of the baseline with education inert): the
# linearised standard error of "support" was 0.94 points against the estimates' real spread of 0.96, Kish's 1.10,
# since Kish prices raking as if the weights were unrelated to the answers. Kish's covered more often (96% against
# 93%) only because its excess width hid the 0.3 points of bias that urbanity and young people's regional
# differences leave, which no interval that states its model should claim to cover.
WEIGHTED_INTERVAL = "linearised"
WEIGHTED_INTERVALS = {
    "linearised": "Wilson score interval at the sample size that the linearised variance of the raked estimate "
                  "implies (the residuals of each answer on the weighting variables' categories, weighted). Raking "
                  "on what predicts the answers makes the estimate more precise, and this interval counts it: in "
                  "the Monte Carlo its standard error matches the spread of the estimates, where Kish's effective "
                  "sample size makes it about 15% too large. Neither covers a bias that the weighting variables "
                  "cannot see.",
    "kish": "Wilson score interval at Kish's effective sample size: it treats the weights as unrelated to the "
            "answers.",
}


@dataclass
class OptionResult:
    """One answer's figures; count, share and interval are None while the poll's answers are withheld."""

    code: str
    label: dict[str, str]
    count: int | None
    share: float | None
    ci95: tuple[float, float] | None
    weighted_share: float | None = None
    weighted_ci95: tuple[float, float] | None = None
    true_share: float | None = None


@dataclass
class Weighting:
    """How the weighted estimate was made."""

    margins: str  # "simulated population" or "census"
    respondents: int  # answers with every stratum known
    converged: bool
    iterations: int
    max_gap: float
    design_effect: float
    effective_n: float
    largest_weight: float  # the largest respondent weight over the mean, after trimming
    # How categories were merged to make weighting possible ("" for not at all): `iraq.weighting_merges`.
    merged: str = ""
    # Per stratum, the largest absolute standardised difference from the targets, before and after weighting.
    balance: dict[str, dict[str, float]] = field(default_factory=dict)
    # The respondents' weights over their mean: min, q1, median, q3, max.
    spread: dict[str, float] = field(default_factory=dict)
    # Beside raking: shares post-stratified to the adult sex-by-age-band table, by option code, and their
    # effective n; empty while some cell has no answers.
    poststratified: dict[str, float] = field(default_factory=dict)
    poststratified_n: float | None = None

    @property
    def poststratified_text(self) -> str:
        """The post-stratified shares as "1: 27.1%, 2: 46.3%, ...", in option order, summing to 100%."""
        return ", ".join(f"{code}: {percent:.1f}%" for code, percent in self.poststratified_percent.items())

    @property
    def poststratified_percent(self) -> dict[str, float]:
        """The post-stratified shares in percent to 0.1 point, rounded together by largest remainder."""
        shares = list(self.poststratified.values())
        return dict(zip(self.poststratified, proportions.rounded_percentages(shares, 1), strict=True))
    # Each respondent's weight by (governorate, sex, age band), the mean respondent's 1: for exports.
    cell_weights: dict[tuple[str, str, str], float] = field(default_factory=dict, repr=False)
    # The weighted shares' interval (a key of WEIGHTED_INTERVALS) and beyond the census (`_against_reference`):
    # the reference, the profile questions raked on with their targets, those with no sourced target, the
    # estimate raked on the strata alone where a reference changed it, and propensity weighting's estimate.
    interval: str = WEIGHTED_INTERVAL
    reference: dict | None = None
    profile_targets: dict[str, dict] = field(default_factory=dict)
    unweighted: list[str] = field(default_factory=list)
    by_strata: dict[str, float] = field(default_factory=dict)
    propensity: dict | None = None


@dataclass
class Category:
    """One governorate, sex or age band: its links, answers and, unless suppressed, shares."""

    code: str
    invited: int
    answered: int
    shares: list[float] | None  # per option, in option order; None when suppressed
    true_shares: list[float] | None

    @property
    def response_rate(self) -> float | None:
        return self.answered / self.invited if self.invited else None

    @property
    def is_suppressed(self) -> bool:
        return self.shares is None


@dataclass
class Results:
    poll: Poll
    invited: int
    sent: int
    delivered: int
    opened: int
    answered: int
    refused: dict[str, int]
    options: list[OptionResult]
    weighting: Weighting | None
    run: SimulationRun | None
    montecarlo: SimulationRun | None = None
    breakdowns: dict[str, list[Category]] = field(default_factory=dict)
    timeline: list[tuple[datetime, int]] = field(default_factory=list)
    channels: dict[str, int] = field(default_factory=dict)
    # Model-based governorate estimates (MRP) beside the raw shares: `services.releases.governorate_estimates`.
    governorate_estimates: dict | None = None
    notes: list[str] = field(default_factory=list)
    # True while the answers cannot be shown: fewer than ten, or all one option.
    withheld: bool = False
    # Every question's figures in order, JSON-ready (`services.releases.question_results`); the headline's are `options`.
    questions: list[dict] = field(default_factory=list)
    # Per stratum, where respondents' categories come from: the audience file, the answers, or both.
    strata_sources: dict[str, list[str]] = field(default_factory=dict)
    # Each link sent by its AAPOR final disposition (None on a public page read back from its snapshot).
    dispositions: aapor.Dispositions | None = None
    # True when partial responses are counted with the completes (public figures: see services.releases.publication).
    partials_folded: bool = False
    # A split-ballot experiment's figures per variant, JSON-ready (`experiment_figures`); None without one.
    experiment: dict | None = None
    # Whether the links went to a probability sample of a defined frame (a simulation's random draw): only then
    # are AAPOR's outcome rates response rates, not participation rates.
    probability_sample: bool = False
    # Beside the weighted estimate: each answer's range under selection no weighting sees (`selection_ranges`).
    selection: dict | None = None
    # Beside it, the model-based range (`selection_index`): operators only, fitted to the respondents' cells.
    selection_index: dict | None = None

    @property
    def response_rate(self) -> float | None:
        """AAPOR's RR2 (answers, partial ones too, per link issued), the rate the methodology states beside it;
        answers per link issued where the dispositions are not known."""
        if self.dispositions is not None:
            return aapor.rates(self.dispositions)["RR2"]
        base = max(self.invited, self.sent)
        return self.answered / base if base else None

    @property
    def rates(self) -> dict | None:
        """The AAPOR dispositions, `e` and outcome rates (`stats.aapor.document`)."""
        if self.dispositions is None:
            return None
        return (aapor.document(self.dispositions, probability_sample=self.probability_sample)
                | {"partials_counted_as_complete": self.partials_folded})


def poll_results(
    session: so.Session, poll: Poll, *, with_timeline: bool = True, cells: list | None = None,
    shown: dict[str, np.ndarray] | None = None,
) -> Results:
    """Everything the results views show, from the kept counters and tallies.

    The timeline (answers per hour) is left out when `with_timeline` is false,
    as the JSON API does: its size follows how long the poll has run. `cells`
    (the stratum tally, if already read) and `shown` (per stratum, which
    categories to show) let a publication fix both; by default they are the
    poll's shown set (`services.releases.suppression`), which this may grow.
    """
    counts = tallies.counters(session, poll)
    cells = tallies.stratum_cells(session, poll) if cells is None else cells
    run = latest_run(session, poll)
    options = poll.options
    position = {option.id: i for i, option in enumerate(options)}
    option_counts = np.zeros(len(options), dtype=int)
    channels: dict[str, int] = {}
    for option_id, _gov, _sex, _age, channel, number in cells:
        option_counts[position[option_id]] += number
        channels[channel] = channels.get(channel, 0) + number
    total = int(option_counts.sum())
    withheld = not disclosure.is_safe(option_counts)
    results = Results(
        poll=poll,
        invited=counts["invited"],
        sent=counts["sent"],
        delivered=counts["delivered"],
        opened=counts["opened"],
        answered=total,
        refused={name.removeprefix("refused:"): v for name, v in counts.items() if name.startswith("refused:") and v},
        options=[
            OptionResult(
                code=option.code,
                label=option.label,
                count=None if withheld else int(option_counts[i]),
                share=None if withheld else float(option_counts[i] / total),
                ci95=None if withheld else proportions.wilson(int(option_counts[i]), total),
                true_share=run.truth["overall"].get(option.code) if run else None,
            )
            for i, option in enumerate(options)
        ],
        weighting=None,
        run=run,
        channels=channels,
        withheld=withheld,
        probability_sample=run is not None,
    )
    if withheld:
        results.notes.append(NOTE_WITHHELD)
    else:
        results.weighting = _weighted(results, cells, position, run)
        _against_reference(session, results, position, run)
    tables, values = all_tables(session, poll, cells)
    masks = shown or suppression.masks(session, poll, tables)
    results.breakdowns = _breakdowns(counts, {stratum: tables[stratum] for stratum in iraq.STRATA}, run, options, masks)
    if not withheld:
        results.governorate_estimates = governorate_estimates.operator_figures(
            poll, cells, position, masks, run, results.breakdowns["governorate"], database=session.get_bind())
    results.questions = question_results.figures(
        questions_of(poll), values, {}, [option.code for option in options], masks, tables,
        truth=run.truth.get("questions") if run else None)
    if poll.experiment:
        results.experiment = experiment_figures(poll, counts, tables[VARIANT], masks[VARIANT])
    results.strata_sources = strata_sources(poll, counts)
    results.dispositions = dispositions(counts, stops_counted(session, poll))
    results.timeline = _timeline(session, poll) if with_timeline else []
    results.montecarlo = latest_montecarlo(session, poll)
    return results


def cell_weights(session: so.Session, poll: Poll) -> dict[tuple[str, str, str], float] | None:
    """Each respondent's weight by (governorate, sex, age band), or None while the weighting fails or is withheld."""
    outcome = poll_results(session, poll, with_timeline=False)
    weighting = outcome.weighting
    return weighting.cell_weights if weighting is not None and weighting.converged else None


def _weighted(results: Results, cells, position: dict[int, int], run: SimulationRun | None) -> Weighting | None:
    # Rake the answer cells (governorate x sex x age band x option) to the margins.
    known = [cell for cell in cells if cell[1] and cell[2] and cell[3]]
    if not known:
        return None
    margins = run.margins if run else iraq.census_margins()
    strata = iraq.STRATA
    index = {name: {label: i for i, label in enumerate(iraq.categories(name))} for name in strata}
    categories = [np.array([index[name][cell[k + 1]] for cell in known]) for k, name in enumerate(strata)]
    counts = np.array([cell[5] for cell in known], dtype=float)
    targets = [np.array([margins[name].get(label, 0.0) for label in iraq.categories(name)]) for name in strata]
    chosen = np.array([position[cell[0]] for cell in known])
    try:
        estimate, merged = weighting.estimate_merging(categories, targets, counts, chosen, len(results.options),
                                                      iraq.weighting_merges())
    except weighting.NoPopulationError:
        results.notes.append(NOTE_NO_POPULATION)
        return None
    except weighting.RakingError:
        results.notes.append(NOTE_NO_WEIGHTING)
        return None
    raked, n_eff = estimate.rake, estimate.effective_n
    respondents = float(counts.sum())
    if (respondents < MIN_WEIGHTED_RESPONDENTS or n_eff < MIN_EFFECTIVE_N
            or estimate.largest_weight / respondents > MAX_WEIGHT_SHARE):
        results.notes.append(NOTE_TOO_FEW_TO_WEIGHT)
        return None
    # A merge is said where the weighting is described (Weighting.merged), not as a note.
    if raked.converged:
        bounds = weighted_intervals(categories, targets, counts, chosen, estimate, merged)
        for option, share, low, high in zip(results.options, estimate.shares, *bounds, strict=True):
            option.weighted_share = float(share)
            option.weighted_ci95 = (float(low), float(high))
        results.selection = selection_ranges(categories, estimate.weights * counts, chosen,
                                             estimate.shares, [o.weighted_ci95 for o in results.options],
                                             [o.code for o in results.options])
        results.selection_index = selection_index(categories, counts, estimate.weights * counts, chosen,
                                                  estimate.shares, [o.weighted_ci95 for o in results.options],
                                                  [o.code for o in results.options])
    else:
        results.notes.append(NOTE_NOT_CONVERGED)
    return Weighting(
        margins="simulated population" if run else "census",
        respondents=int(counts.sum()),
        converged=raked.converged,
        iterations=raked.iterations,
        max_gap=raked.max_gap,
        design_effect=estimate.design_effect,
        effective_n=n_eff,
        largest_weight=estimate.largest_weight,
        merged=merged,
        balance={name: dict(zip(("before", "after"), weighting.balance(codes, target, counts, estimate.weights),
                                strict=True))
                 for name, codes, target in zip(strata, categories, targets, strict=True)},
        spread=weighting.spread_of(estimate.weights, counts),
        **_poststratified(known, counts, chosen, results.options),
        cell_weights={tuple(cell[1:4]): float(w) for cell, w in zip(known, estimate.weights, strict=True)},
    )


# What the sensitivity range assumes, as the JSON gives it; pages say the same in the reader's language.
SELECTION_ASSUMPTION = (
    "If, within each governorate, sex and age band, the people who chose an answer were up to k times more likely, "
    "or up to k times less likely, to answer the poll than the others, its share would lie in this range (the "
    "weighted estimate's 95% margin included). Weighting cannot see such a difference: the range says how far it "
    "could move the estimate, not that it did.")


def selection_ranges(categories: list[np.ndarray], weights: np.ndarray, chosen: np.ndarray, shares, intervals,
                     codes: list[str]) -> dict:
    """Each answer's sensitivity range at each odds ratio of answering (`stats.sensitivity`), JSON-ready.

    Derived from the weighted cells and the weighted estimate alone: where those are public figures (a public
    release's), so is the range.
    """
    found = {ratio: sensitivity.selection_range(categories, np.asarray(weights, dtype=float), chosen, len(codes), ratio,
                                                shares=np.asarray(shares), intervals=np.asarray(intervals))
             for ratio in sensitivity.RATIOS}
    return {"ratios": list(sensitivity.RATIOS), "assumption": SELECTION_ASSUMPTION,
            "options": [{"code": code, "ranges": {f"{ratio:g}": [_rounded(found[ratio].low[i]),
                                                                 _rounded(found[ratio].high[i])]
                                                  for ratio in sensitivity.RATIOS}}
                        for i, code in enumerate(codes)]}


# What the MUBP range assumes and how it is found, as the JSON gives it.
SELECTION_INDEX_METHOD = (
    "Andridge and Little's measure of unadjusted bias for proportions (Andridge, West, Little, Boonstra and "
    "Alvarado-Leiton 2019): a probit of each answer on governorate, sex and age band among respondents gives a "
    "proxy whose population mean the raking targets give; the share is estimated as if answering depended on "
    "(1 - phi) times the proxy plus phi times the answer's latent opinion. Phi 0 is weighting's own assumption, "
    "1 selection on opinion alone. The range runs over phi from 0 to 1, the weighted estimate's 95% margin "
    "included; it assumes opinion and the proxy are jointly normal, and falls short where answering turns on the "
    "answer itself rather than on the strength of the opinion behind it.")


def selection_index(categories: list[np.ndarray], counts: np.ndarray, weights: np.ndarray, chosen: np.ndarray,
                    shares, intervals, codes: list[str]) -> dict:
    """Each answer's MUBP shares at phi 0, 0.5 and 1 and its range (`stats.sensitivity.mubp_range`), JSON-ready.

    Unlike `selection_ranges` it needs the respondents' own cells to fit its proxy, so public releases, made of
    noisy margins, do not carry it.
    """
    found = sensitivity.mubp_range(categories, np.asarray(counts, dtype=float), np.asarray(weights, dtype=float),
                                   chosen, len(codes), shares=np.asarray(shares, dtype=float),
                                   intervals=np.asarray(intervals, dtype=float))
    return {"phis": list(sensitivity.PHIS), "method": SELECTION_INDEX_METHOD,
            "options": [{"code": code,
                         "shares": None if reason else {f"{phi:g}": _rounded(found.shares[i, j])
                                                        for j, phi in enumerate(sensitivity.PHIS)},
                         "range": None if reason else [_rounded(found.low[i]), _rounded(found.high[i])],
                         "proxy_correlation": None if reason else _rounded(found.correlation[i]),
                         "not_available": reason}
                        for i, (code, reason) in enumerate(zip(codes, found.reasons, strict=True))]}


def _poststratified(known, counts: np.ndarray, chosen: np.ndarray, options: list[OptionResult]) -> dict:
    # Post-stratification to sex x age band, whose joint adult table the data hold (iraq.sex_by_age_band).
    # Only when every sex-and-age cell is a safe group: the crossing of sex with age is no published
    # breakdown, and a small cell's answers would weigh its whole population share.
    joint = iraq.sex_by_age_band()
    keys = list(joint)
    index = {key: i for i, key in enumerate(keys)}
    cells = np.array([index[(cell[2], cell[3])] for cell in known])
    table = np.zeros((len(keys), len(options)))
    np.add.at(table, (cells, chosen), counts)
    if not all(disclosure.is_safe(row) for row in table):
        return {}
    found = weighting.poststratified(cells, np.array([joint[key] for key in keys]), counts, chosen, len(options))
    if found is None:
        return {}
    shares, n_eff = found
    return {"poststratified": {option.code: float(share) for option, share in zip(options, shares, strict=True)},
            "poststratified_n": float(n_eff)}


def weighted_intervals(categories, targets, counts: np.ndarray, chosen: np.ndarray, estimate: weighting.CellEstimate,
                       merged: str, interval: str = WEIGHTED_INTERVAL,
                       target_covariances: dict[int, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Each option's 95% interval of a raked estimate, as WEIGHTED_INTERVAL says (lows, highs); the linearised one
    counts the sampling error of targets taken from a survey (`target_covariances`, by margin index)."""
    k = len(estimate.shares)
    if interval == "kish":
        return proportions.wilson_arrays(estimate.shares, estimate.effective_n)
    groups = dict(iraq.weighting_merges()).get(merged, {})
    margins, sizes = calibration.merged(categories, [len(t) for t in targets], groups)
    variances = calibration.linearised_variances(margins, sizes, counts, estimate.weights, chosen, k,
                                                 target_covariances=target_covariances)
    return calibration.intervals(estimate.shares, variances)


NOTE_REFERENCE_FAILED = ("No estimate weighted on the reference's profile questions: some category with a target "
                         "has no answers. The weighted estimate is raked on governorate, sex and age band only.")


def _against_reference(session: so.Session, results: Results, position: dict[int, int],
                       run: SimulationRun | None) -> None:
    # Beyond the census: rake on the profile questions the poll's reference gives margins for, and beside it weigh
    # by propensity against the reference's microdata. Respondents who skipped a profile question (or preferred
    # not to say) are a category of their own, kept at its share among the respondents.
    w = results.weighting
    if w is None:
        return
    poll = results.poll
    stored = references.reference_of(session, poll)
    w.unweighted = references.unweighted(stored, poll)
    if stored is None:
        return
    w.reference = {"kind": stored.kind, "source": stored.source, "year": stored.year,
                   "variables": sorted(stored.margins)}
    profile = [name for name in references.profile_questions_names(poll) if name in stored.margins]
    shared = [name for name in stored.variables if name in profile]
    names = list(dict.fromkeys([*profile, *shared]))
    if not w.converged or not names:
        return
    cells = [cell for cell in _answer_cells(session, poll, names) if cell[1] and cell[2] and cell[3]]
    margins = run.margins if run else iraq.census_margins()
    strata_targets = {name: stored.margins.get(name) or margins[name] for name in iraq.STRATA}
    counts = np.array([cell[-1] for cell in cells], dtype=float)
    chosen = np.array([position[cell[0]] for cell in cells])
    codes = references.weighting_variables(poll)
    categories, targets, spread = [], [], {}
    # A survey's margins are estimates: at its design weights' effective size (Kish), their sampling error is
    # counted in the interval. Published margins come without one and are taken as exact.
    survey_n = weighting.effective_n(np.array(stored.design_weights, dtype=float)) if stored.rows else None
    for k, name in enumerate(iraq.STRATA):
        index = {label: i for i, label in enumerate(codes[name])}
        categories.append(np.array([index[cell[k + 1]] for cell in cells]))
        targets.append(np.array([strata_targets[name].get(label, 0.0) for label in codes[name]]))
    for name in profile:
        at = 4 + names.index(name)
        levels = [*codes[name], references.MISSING]
        index = {label: i for i, label in enumerate(levels)}
        found = np.array([index[cell[at]] for cell in cells])
        missing = float(counts[found == len(levels) - 1].sum() / counts.sum())
        shares = np.array([stored.margins[name][label] for label in codes[name]]) * (1 - missing)
        categories.append(found)
        targets.append(np.append(shares, missing))
        if survey_n and name in stored.variables:
            covariance = np.zeros((len(levels), len(levels)))
            covariance[:-1, :-1] = calibration.share_covariance(
                np.array([stored.margins[name][label] for label in codes[name]]), survey_n) * (1 - missing) ** 2
            spread[len(categories) - 1] = covariance
        w.profile_targets[name] = {"shares": dict(stored.margins[name]), "missing": round(missing, 3),
                                   "source": stored.source, "year": stored.year}
    if profile:
        _raked_on_profile(results, categories, targets, counts, chosen, spread)
    if stored.kind == "microdata" and stored.rows:
        _propensity(results, stored, cells, names, counts, chosen, codes)


def _raked_on_profile(results: Results, categories, targets, counts: np.ndarray, chosen: np.ndarray,
                      spread: dict[int, np.ndarray]) -> None:
    w = results.weighting
    try:
        estimate, merged = weighting.estimate_merging(categories, targets, counts, chosen, len(results.options),
                                                      iraq.weighting_merges())
    except weighting.RakingError:
        estimate = None
    respondents = float(counts.sum())
    if (estimate is None or not estimate.rake.converged or respondents < MIN_WEIGHTED_RESPONDENTS
            or estimate.effective_n < MIN_EFFECTIVE_N or estimate.largest_weight / respondents > MAX_WEIGHT_SHARE):
        results.notes.append(NOTE_REFERENCE_FAILED)
        w.profile_targets = {}
        return
    w.by_strata = {option.code: float(option.weighted_share) for option in results.options}
    lows, highs = weighted_intervals(categories, targets, counts, chosen, estimate, merged,
                                     target_covariances=spread)
    for option, share, low, high in zip(results.options, estimate.shares, lows, highs, strict=True):
        option.weighted_share, option.weighted_ci95 = float(share), (float(low), float(high))
    w.design_effect, w.effective_n, w.largest_weight = estimate.design_effect, estimate.effective_n, \
        estimate.largest_weight
    w.iterations, w.max_gap, w.merged = estimate.rake.iterations, estimate.rake.max_gap, merged


def _propensity(results: Results, stored, cells, names: list[str], counts: np.ndarray, chosen: np.ndarray,
                codes: dict[str, list[str]]) -> None:
    # Respondents who skipped a variable the reference holds are left out: the reference has no such category.
    variables = [name for name in stored.variables if name in iraq.STRATA or name in names]
    at = {name: iraq.STRATA.index(name) + 1 if name in iraq.STRATA else 4 + names.index(name) for name in variables}
    keep = np.array([all(cell[at[name]] in codes[name] for name in variables) for cell in cells], dtype=bool)
    if not keep.any():
        return
    kept = [cell for cell, is_kept in zip(cells, keep, strict=True) if is_kept]
    sample, reference = [], []
    for name in variables:
        index = {label: i for i, label in enumerate(codes[name])}
        sample.append(np.array([index[cell[at[name]]] for cell in kept]))
        column = stored.variables.index(name)
        reference.append(np.array([index[row[column]] for row in stored.rows]))
    sizes = [len(codes[name]) for name in variables]
    try:
        found = calibration.propensity_estimate(sample, counts[keep], chosen[keep], len(results.options), reference,
                                                np.array(stored.design_weights, dtype=float), sizes)
    except calibration.PropensityError:
        return
    respondents = float(counts[keep].sum())
    if (respondents < MIN_WEIGHTED_RESPONDENTS or found.effective_n < MIN_EFFECTIVE_N
            or float(found.weights.max()) / respondents > MAX_WEIGHT_SHARE):
        return
    lows, highs = calibration.intervals(found.shares, found.variances)
    results.weighting.propensity = {
        "variables": variables, "respondents": int(respondents), "converged": found.converged,
        "effective_n": round(found.effective_n), "design_effect": round(found.design_effect, 2),
        "shares": dict(zip([option.code for option in results.options], _rounded_set(found.shares), strict=True)),
        "ci95": {option.code: [_rounded(low), _rounded(high)]
                 for option, low, high in zip(results.options, lows, highs, strict=True)},
    }


def _document_reference(block: dict, w: Weighting) -> None:
    # What the weighting owes to the poll's reference, and which interval the weighted shares carry.
    block["interval"] = {"method": w.interval, "why": WEIGHTED_INTERVALS[w.interval]}
    block["reference"] = w.reference
    for name, target in w.profile_targets.items():
        year = f" ({target['year']})" if target["year"] else ""
        block["targets"][name] = {"what": "adult shares from the poll's reference; respondents who did not answer "
                                          f"kept at their share ({100 * target['missing']:.1f}%)",
                                  "source": f"{target['source']}{year}",
                                  "shares": {code: round(share, 4) for code, share in target["shares"].items()}}
    block["not_weighted_on"] = [{"variable": name, "why": f"no sourced target for {name}: not weighted on it"}
                                for name in w.unweighted]
    block["by_strata"] = dict(zip(w.by_strata, _rounded_set(w.by_strata.values()), strict=True)) or None
    block["propensity"] = w.propensity


def all_tables(session: so.Session, poll: Poll, cells) -> tuple[dict[str, tuple[list[str], np.ndarray]],
                                                                 question_results.ValueTable]:
    """Every breakdown of the headline that suppression protects: the strata's, then the profile questions' own;
    and the value tally they were read from."""
    options = poll.options
    position = {option.id: i for i, option in enumerate(options)}
    tables = breakdown_tables(cells, position, len(options))
    values = question_results.ValueTable(
        tallies.value_cells(session, poll) if len(poll.questions) > 1 else [],
        {row.name: row.id for row in poll.questions}, [option.id for option in options],
    )
    totals = np.zeros(len(options), dtype=np.int64)
    for cell in cells:
        totals[position[cell[0]]] += cell[5]
    tables |= question_results.crossing_tables(questions_of(poll), values, totals)
    experiment = experiment_of(poll)
    if experiment is not None:
        codes = [*experiment.names, ""]
        table = np.zeros((len(codes), len(options)), dtype=np.int64)
        for variant, option_id, count in tallies.variant_cells(session, poll):
            table[codes.index(variant) if variant in codes else -1, position[option_id]] += count
        tables[VARIANT] = (codes, table)
    return tables, values


VARIANT = suppression.VARIANT
EXPERIMENT_DESCRIPTION = ("Each link was given one way of asking at random, balanced within governorate, sex and age band, "
                   "so the groups differ only by chance and by how they were asked. The differences are among those "
                   "who answered, unweighted, with Newcombe's 95% interval, starred only when significant after "
                   "Holm's adjustment over every difference shown; a way of asking that changes who answers changes "
                   "them too.")


def experiment_figures(poll: Poll, counts: dict[str, int], variant_table: tuple[list[str], np.ndarray],
                       shown: np.ndarray) -> dict:
    """Per variant: invited, answered and, where shown, each answer's count, share, Wilson interval and its
    difference from the reference (the first variant) with Newcombe's interval.

    A variant's shares follow the disclosure rule like any breakdown's (it is
    one: its answers by option); a difference needs both variants shown.
    """
    experiment = experiment_of(poll)
    codes, table = variant_table
    option_codes = [option.code for option in poll.options]
    reference = table[0]
    figures = []
    for position, variant in enumerate(experiment.variants):
        row = table[position]
        answered = int(row.sum())
        is_shown = bool(shown[position])
        entry = {"name": variant.name, "changes": variant.kind,
                 "invited": counts.get(f"invited:variant:{variant.name}", 0),
                 "answered": answered if is_shown else None, "suppressed": not is_shown,
                 "options": None, "differences": None}
        if is_shown:
            entry["options"] = [{"code": code, "count": int(count), "share": float(count / answered),
                                 "ci95": list(proportions.wilson(int(count), answered))}
                                for code, count in zip(option_codes, row, strict=True)]
        if position and is_shown and bool(shown[0]):
            differences = []
            reference_n = int(reference.sum())
            for code, count, base in zip(option_codes, row, reference, strict=True):
                d, low, high = proportions.difference(int(count), answered, int(base), reference_n)
                p1, p0 = count / answered, base / reference_n
                p_value = proportions.difference_p(p1 - p0, p1 * (1 - p1) / answered + p0 * (1 - p0) / reference_n)
                differences.append({"code": code, "difference": d, "ci95": [low, high], "p": p_value})
            entry["differences"] = differences
        figures.append(entry)
    return {"reference": experiment.variants[0].name, "variants": holm_marked(figures), "note": EXPERIMENT_DESCRIPTION,
            "multiplicity": MULTIPLICITY}


# How the starred differences are chosen: every difference of every way of asking is one family.
MULTIPLICITY = ("Holm's step-down adjustment over every difference shown (each answer, each way of asking against the "
                "reference), so that the chance of any starred difference where asking changes nothing stays at 5%.")


def holm_marked(variants: list[dict]) -> list[dict]:
    """The variants with each difference marked `significant` by Holm's adjustment over all of them together."""
    found = [d for variant in variants for d in (variant["differences"] or [])]
    for d, rejected in zip(found, proportions.holm([d["p"] for d in found]), strict=True):
        d["significant"] = rejected
    return variants


def stops_counted(session: so.Session, poll: Poll) -> int:
    """The STOPs of links not opened that the dispositions count as refusals: none in an anonymous poll.

    An operator can learn that a phone sent STOP (its later invitations are
    never sent); were that STOP a refusal only while its link is unanswered,
    the rates would tell whether that phone answered. In an anonymous poll
    a STOP therefore leaves its link's disposition as it was.
    """
    return 0 if poll.is_anonymous else tallies.stopped_unopened(session, poll)


def dispositions(counts: dict[str, int], stopped: int) -> aapor.Dispositions:
    """Each link issued by its final disposition (AAPOR Standard Definitions), from the kept counters and the
    STOPs of unopened links.

    Links known to have reached someone come first: answered, opened or
    stopped, delivered. A link opened is taken as delivered, and one answered
    as opened, whether or not a report came. Of the rest, links never sent
    (the gateway gave up, or the links were handed out by other means, as
    `poll links` does) are "no invitation sent": of unknown eligibility, in
    the base, stated apart. Of the links sent, only those the network
    reported unknown or unallocated are not eligible; any other failure, or
    no report at all, leaves eligibility unknown. A failed reminder of a link
    already counted is capped away.
    """
    answered, opened = counts["answered"], max(counts["opened"], counts["answered"])
    partial = min(counts.get("partial", 0), answered)
    refusal = max(opened - answered, 0) + stopped
    non_contact = max(counts["delivered"] - opened - stopped, 0)
    reached = answered + refusal + non_contact
    cases = max(counts.get("invited", 0), reached, counts["sent"])
    # Reached links were sent, as far as the counters can tell, unless more were reached than sent.
    not_sent = cases - max(counts["sent"], reached)
    rest = cases - reached - not_sent  # sent, and nothing more known
    not_eligible = min(counts.get("failed:unknown-number", 0), rest)
    return aapor.Dispositions(
        complete=answered - partial, partial=partial, refusal=refusal, non_contact=non_contact,
        unknown=rest - not_eligible, not_eligible=not_eligible, not_sent=not_sent,
    )


def strata_sources(poll: Poll, counts: dict[str, int]) -> dict[str, list[str]]:
    # "audience" where the audience file gave the stratum, and the profile question that asks it.
    sources = {}
    for stratum in iraq.STRATA:
        found = []
        if any(value for name, value in counts.items() if name.startswith(f"invited:{stratum}:")
               and name != f"invited:{stratum}:"):
            found.append("audience")
        found += [f"question:{row.name}" for row in poll.questions if row.maps_to == stratum]
        sources[stratum] = found
    return sources


UNKNOWN = -1  # the index of the "not known" category ("") in a breakdown table: never shown on its own


def breakdown_tables(cells, position: dict[int, int], option_count: int) -> dict[str, tuple[list[str], np.ndarray]]:
    """Per stratum: its category codes (not known, "", last) and their answers' counts per option."""
    tables = {}
    for k, stratum in enumerate(iraq.STRATA):
        codes = [*iraq.categories(stratum), ""]
        index = {code: i for i, code in enumerate(codes)}
        table = np.zeros((len(codes), option_count), dtype=np.int64)
        for cell in cells:
            table[index[cell[k + 1]], position[cell[0]]] += cell[5]
        tables[stratum] = (codes, table)
    return tables


def _breakdowns(counts, tables, run, options, masks: dict[str, np.ndarray]) -> dict[str, list[Category]]:
    out = {}
    for stratum, (codes, table) in tables.items():
        shown = masks[stratum]
        categories = []
        # Answers of unknown stratum count towards what is hidden, but are not a category of their own.
        for code, row, is_shown in zip(codes[:-1], table, shown, strict=False):
            answered = int(row.sum())
            truth = run.truth.get(stratum, {}).get(code) if run else None
            categories.append(
                Category(
                    code=code,
                    invited=counts.get(f"invited:{stratum}:{code}", 0),
                    answered=answered,
                    shares=[float(v / answered) for v in row] if is_shown else None,
                    true_shares=[truth.get(option.code, 0.0) for option in options] if truth else None,
                )
            )
        out[stratum] = categories
    return out


def _timeline(session: so.Session, poll: Poll) -> list[tuple[datetime, int]]:
    # Answers per hour, all options together: per option, the hours of one day
    # would add up to what that day's answerers chose, and a link keeps its day.
    return tallies.hourly_totals(session, poll)


def funnel(session: so.Session, poll: Poll) -> dict[str, int]:
    """Invited, sent, delivered, opened and answered counts of `poll`'s links."""
    counts = tallies.counters(session, poll)
    return {name: counts[name] for name in tallies.FUNNEL}


def _rounded(value: float | None) -> float | None:
    # Weighted figures carry no more digits than they can mean (0.1 point): full precision, with weights anyone
    # can recompute, would let a small poll's weighted shares be solved for single answers.
    return None if value is None else round(float(value), 3)


def _rounded_set(shares) -> list[float | None]:
    # The shares of one set as `_rounded` gives them, rounded together by largest remainder: one by one they
    # would sum to 0.999 or 1.001 about a quarter of the time.
    return [None if percent is None else round(percent / 100, 3)
            for percent in proportions.shown_percentages([None if share is None else float(share) for share in shares])]


def document(results: Results) -> dict:
    """The results as the API and `--json` give them (JSON-ready)."""
    weighted_shares = _rounded_set([option.weighted_share for option in results.options])
    document = {
        "poll": results.poll.slug,
        "status": results.poll.status,
        "invited": results.invited,
        "sent": results.sent,
        "delivered": results.delivered,
        "opened": results.opened,
        "answered": results.answered,
        "refused": dict(results.refused),
        "withheld": results.withheld,
        # The web/SMS split, each channel's answers given from the small-cell size up (fewer: None).
        "channels": None if results.withheld else {channel: number if number >= SMALL_CELL else None
                                                   for channel, number in sorted(results.channels.items())},
        "strata_sources": results.strata_sources,
        "options": [
            {
                "code": option.code,
                "label": option.label.get("en") or next(iter(option.label.values())),
                "labels": dict(option.label),
                "count": option.count,
                "share": option.share,
                "ci95": None if option.ci95 is None else list(option.ci95),
                "raw_share": option.share,
                "weighted_share": weighted_share,
                "weighted_ci95": [_rounded(v) for v in option.weighted_ci95] if option.weighted_ci95 else None,
                "true_share": option.true_share,
            }
            for option, weighted_share in zip(results.options, weighted_shares, strict=True)
        ],
    }
    document["questions"] = [
        question | ({"answered": None if results.withheld else results.answered, "options": document["options"]}
                    if question["role"] == "headline" else {})
        for question in results.questions
    ]
    if results.dispositions is not None:
        document["rates"] = aapor.document(results.dispositions, probability_sample=results.probability_sample)
    if results.experiment is not None:
        document["experiment"] = results.experiment
    if results.selection is not None:
        document["selection_range"] = results.selection
    if results.selection_index is not None:
        document["selection_index"] = results.selection_index
    if results.governorate_estimates is not None:
        document["governorate_estimates"] = results.governorate_estimates
    if results.weighting:
        w = results.weighting
        document["weighting"] = {
            "margins": w.margins,
            "respondents": w.respondents,
            "converged": w.converged,
            "iterations": w.iterations,
            "design_effect": round(w.design_effect, 2),
            "effective_n": round(w.effective_n),
            "largest_weight": round(w.largest_weight, 2),
            "trimmed_to": [weighting.TRIM_LOWER, weighting.TRIM_UPPER],
            "merged": w.merged,
            "balance": {name: {key: round(value, 2) for key, value in sides.items()} for name, sides in w.balance.items()},
            "weight_spread": {name: round(value, 2) for name, value in w.spread.items()},
            "poststratified": {"variables": ["sex", "age_band"],
                               "shares": {code: round(percent / 100, 3)
                                          for code, percent in w.poststratified_percent.items()},
                               "effective_n": w.poststratified_n} if w.poststratified else None,
            "targets": iraq.margin_sources() if w.margins == "census" else {
                stratum: {"what": "the simulated population's own shares", "source": "simulation"}
                for stratum in iraq.STRATA},
        }
        _document_reference(document["weighting"], w)
    if results.run:
        run = results.run
        document["simulation"] = {
            "scenario": run.scenario,
            "mode": run.mode,
            "seed": run.seed,
            "population": run.population_size,
            "sample": run.sample_size,
            **run.extras,
        }
    return document


def _answer_cells(session: so.Session, poll: Poll, names: list[str]) -> list[tuple]:
    """(option id, governorate, sex, age band, value of each of `names`..., count) of `poll`'s answers.

    The kept tallies cross the headline with one question at a time;
    raking on a profile question with the strata needs them all together,
    so this groups the answers themselves (only when a reference asks it).
    What it gives leaves the database only as weighted figures, through the
    results and the release gate. A value other than a single code (not
    answered, preferred not to say) reads as MISSING.
    """
    columns = [Answer.values[name].as_string() for name in names]
    query = (sa.select(Answer.option_id, Answer.governorate, Answer.sex, Answer.age_band, *columns, sa.func.count())
             .where(Answer.poll_id == poll.id)
             .group_by(Answer.option_id, Answer.governorate, Answer.sex, Answer.age_band, *columns))
    cells = []
    for option_id, governorate, sex, age_band, *rest in session.execute(query):
        *values, count = rest
        cells.append((option_id, governorate, sex, age_band,
                      *(value if value and value != PREFER_NOT else references.MISSING for value in values), count))
    return cells
