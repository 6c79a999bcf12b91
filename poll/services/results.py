"""A poll's results: the funnel, counts and shares with intervals, weighted estimates, breakdowns, truth.

Everything here reads the kept counters and tallies (services.tallies), whose
size depends on the poll's design, not on how many answered: the results of
a million answers cost what those of ten thousand do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import sqlalchemy.orm as so

from poll.models import Poll, SimulationRun
from poll.services import tallies
from poll.services.simulation import latest_montecarlo, latest_run
from poll.simulate import truth as ground_truth
from poll.stats import proportions, weighting

SMALL_CELL = 10  # fewer answers than this: too few to read, suppressed in public


@dataclass
class OptionResult:
    code: str
    label: dict[str, str]
    count: int
    share: float
    ci95: tuple[float, float]
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


@dataclass
class Category:
    """One governorate, sex or age band: its links, answers and shares."""

    code: str
    invited: int
    answered: int
    shares: list[float]  # per option, in option order
    true_shares: list[float] | None

    @property
    def response_rate(self) -> float | None:
        return self.answered / self.invited if self.invited else None

    @property
    def is_small(self) -> bool:
        return self.answered < SMALL_CELL


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
    timeline: list[tuple[datetime, list[int]]] = field(default_factory=list)
    channels: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def response_rate(self) -> float | None:
        """Answers per link sent (AAPOR RR1 with every link taken as an eligible case)."""
        base = self.sent or self.invited
        return self.answered / base if base else None


def poll_results(session: so.Session, poll: Poll, *, with_timeline: bool = True) -> Results:
    """Everything the results views show, from the kept counters and tallies.

    The timeline (answers per hour) is left out when `with_timeline` is false,
    as the JSON API does: its size follows how long the poll has run.
    """
    counts = tallies.counters(session, poll)
    cells = tallies.stratum_cells(session, poll)
    run = latest_run(session, poll)
    options = poll.options
    position = {option.id: i for i, option in enumerate(options)}
    option_counts = np.zeros(len(options), dtype=int)
    channels: dict[str, int] = {}
    for option_id, _gov, _sex, _age, channel, number in cells:
        option_counts[position[option_id]] += number
        channels[channel] = channels.get(channel, 0) + number
    total = int(option_counts.sum())
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
                count=int(option_counts[i]),
                share=option_counts[i] / total if total else 0.0,
                ci95=proportions.wilson(int(option_counts[i]), total),
                true_share=run.truth["overall"].get(option.code) if run else None,
            )
            for i, option in enumerate(options)
        ],
        weighting=None,
        run=run,
        channels=channels,
    )
    results.weighting = _weighted(results, cells, position, run)
    results.breakdowns = _breakdowns(counts, cells, position, run, options)
    results.timeline = _timeline(session, poll, position) if with_timeline else []
    results.montecarlo = latest_montecarlo(session, poll)
    return results


def _weighted(results: Results, cells, position: dict[int, int], run: SimulationRun | None) -> Weighting | None:
    # Rake the answer cells (governorate x sex x age band x option) to the margins.
    known = [cell for cell in cells if cell[1] and cell[2] and cell[3]]
    if not known:
        return None
    margins = run.margins if run else ground_truth.census_margins()
    strata = ground_truth.STRATA
    index = {name: {label: i for i, label in enumerate(ground_truth.labels(name))} for name in strata}
    categories = [np.array([index[name][cell[k + 1]] for cell in known]) for k, name in enumerate(strata)]
    counts = np.array([cell[5] for cell in known], dtype=float)
    targets = [np.array([margins[name][label] for label in ground_truth.labels(name)]) for name in strata]
    chosen = np.array([position[cell[0]] for cell in known])
    try:
        estimate = weighting.estimate_from_cells(categories, targets, counts, chosen, len(results.options))
    except weighting.RakingError:
        results.notes.append("No weighted estimate yet: some governorate, sex or age band has no answers.")
        return None
    raked, n_eff = estimate.rake, estimate.effective_n
    for option, share in zip(results.options, estimate.shares, strict=True):
        option.weighted_share = float(share)
        option.weighted_ci95 = proportions.wilson(share * n_eff, n_eff)
    if not raked.converged:
        results.notes.append(f"Weighting did not converge in {raked.iterations} iterations.")
    return Weighting(
        margins="simulated population" if run else "census",
        respondents=int(counts.sum()),
        converged=raked.converged,
        iterations=raked.iterations,
        max_gap=raked.max_gap,
        design_effect=estimate.design_effect,
        effective_n=n_eff,
    )


def _breakdowns(counts, cells, position, run, options) -> dict[str, list[Category]]:
    out = {}
    for k, stratum in enumerate(ground_truth.STRATA):
        by_value: dict[str, np.ndarray] = {}
        for cell in cells:
            row = by_value.setdefault(cell[k + 1], np.zeros(len(options), dtype=int))
            row[position[cell[0]]] += cell[5]
        categories = []
        for code in ground_truth.labels(stratum):
            row = by_value.get(code, np.zeros(len(options), dtype=int))
            answered = int(row.sum())
            truth = run.truth.get(stratum, {}).get(code) if run else None
            categories.append(
                Category(
                    code=code,
                    invited=counts.get(f"invited:{stratum}:{code}", 0),
                    answered=answered,
                    shares=[float(v / answered) if answered else 0.0 for v in row],
                    true_shares=[truth.get(option.code, 0.0) for option in options] if truth else None,
                )
            )
        out[stratum] = categories
    return out


def _timeline(session: so.Session, poll: Poll, position: dict[int, int]) -> list[tuple[datetime, list[int]]]:
    series: dict[datetime, list[int]] = {}
    for hour, option_id, number in tallies.hourly(session, poll):
        series.setdefault(hour, [0] * len(position))[position[option_id]] += number
    return sorted(series.items())


def funnel(session: so.Session, poll: Poll) -> dict[str, int]:
    """Invited, sent, delivered, opened and answered counts of `poll`'s links."""
    counts = tallies.counters(session, poll)
    return {name: counts[name] for name in tallies.FUNNEL}
