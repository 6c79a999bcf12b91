"""A poll's results: the funnel, counts and shares with intervals, weighted estimates, breakdowns, truth.

Everything here reads the kept counters and tallies (services.tallies), whose
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
import sqlalchemy.orm as so

from poll import iraq
from poll.models import Poll, SimulationRun
from poll.services import question_results, suppression, tallies
from poll.services.polls import experiment_of, questions_of
from poll.services.runs import latest_montecarlo, latest_run
from poll.stats import aapor, disclosure, proportions, weighting

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
    notes: list[str] = field(default_factory=list)
    # True while the answers cannot be shown: fewer than ten, or all one option.
    withheld: bool = False
    # Every question's figures in order, JSON-ready (`services.question_results`); the headline's are `options`.
    questions: list[dict] = field(default_factory=list)
    # Per stratum, where respondents' categories come from: the audience file, the answers, or both.
    strata_sources: dict[str, list[str]] = field(default_factory=dict)
    # Each link sent by its AAPOR final disposition (None on a public page read back from its snapshot).
    dispositions: aapor.Dispositions | None = None
    # True when partial responses are counted with the completes (public figures: see services.publication).
    partials_folded: bool = False
    # A split-ballot experiment's figures per variant, JSON-ready (`experiment_figures`); None without one.
    experiment: dict | None = None
    # Whether the links went to a probability sample of a defined frame (a simulation's random draw): only then
    # are AAPOR's outcome rates response rates, not participation rates.
    probability_sample: bool = False

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
    poll's shown set (`services.suppression`), which this may grow.
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
    tables, values = all_tables(session, poll, cells)
    masks = shown or suppression.masks(session, poll, tables)
    results.breakdowns = _breakdowns(counts, {stratum: tables[stratum] for stratum in iraq.STRATA}, run, options, masks)
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
        for option, share in zip(results.options, estimate.shares, strict=True):
            option.weighted_share = float(share)
            option.weighted_ci95 = proportions.wilson(share * n_eff, n_eff)
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


def document(results: Results) -> dict:
    """The results as the API and `--json` give them (JSON-ready)."""
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
                "weighted_share": _rounded(option.weighted_share),
                "weighted_ci95": [_rounded(v) for v in option.weighted_ci95] if option.weighted_ci95 else None,
                "true_share": option.true_share,
            }
            for option in results.options
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
