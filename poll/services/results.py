"""A poll's results: the funnel, counts and shares with intervals, weighted estimates, and truth."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import sqlalchemy as sa
import sqlalchemy.orm as so

from poll.models import Answer, Invitation, Poll, SimulationRun
from poll.services import refusals
from poll.services.simulation import latest_run
from poll.simulate import truth as ground_truth
from poll.stats import proportions, weighting


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
    design_effect: float
    effective_n: float


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
    notes: list[str] = field(default_factory=list)


def funnel(session: so.Session, poll: Poll) -> dict[str, int]:
    """Invited, sent, delivered, opened and answered counts of `poll`'s links."""
    row = session.execute(
        sa.select(
            sa.func.count(),
            sa.func.count(Invitation.sent_at),
            sa.func.count(Invitation.delivered_at),
            sa.func.count(Invitation.opened_at),
            sa.func.count(Invitation.answered_at),
        ).where(Invitation.poll_id == poll.id)
    ).one()
    return dict(zip(("invited", "sent", "delivered", "opened", "answered"), row, strict=True))


def poll_results(session: so.Session, poll: Poll) -> Results:
    """Everything the results views show, computed from the database."""
    counts = funnel(session, poll)
    option_counts = dict(
        session.execute(
            sa.select(Answer.option_id, sa.func.count()).where(Answer.poll_id == poll.id).group_by(Answer.option_id)
        ).all()
    )
    total = sum(option_counts.values())
    run = latest_run(session, poll)
    options = []
    for option in poll.options:
        count = option_counts.get(option.id, 0)
        options.append(
            OptionResult(
                code=option.code,
                label=option.label,
                count=count,
                share=count / total if total else 0.0,
                ci95=proportions.wilson(count, total),
                true_share=run.truth["overall"].get(option.code) if run else None,
            )
        )
    notes: list[str] = []
    weights = _weighted(session, poll, options, run, notes)
    return Results(
        poll=poll,
        invited=counts["invited"],
        sent=counts["sent"],
        delivered=counts["delivered"],
        opened=counts["opened"],
        answered=total,
        refused=refusals.counts(session, poll),
        options=options,
        weighting=weights,
        run=run,
        notes=notes,
    )


def _weighted(
    session: so.Session, poll: Poll, options: list[OptionResult], run: SimulationRun | None, notes: list[str]
) -> Weighting | None:
    # Rake the answer cells (governorate x sex x age band x option) to the margins.
    cells = session.execute(
        sa.select(Answer.governorate, Answer.sex, Answer.age_band, Answer.option_id, sa.func.count())
        .where(
            Answer.poll_id == poll.id,
            Answer.governorate.is_not(None),
            Answer.sex.is_not(None),
            Answer.age_band.is_not(None),
        )
        .group_by(Answer.governorate, Answer.sex, Answer.age_band, Answer.option_id)
    ).all()
    if not cells:
        return None
    margins = run.margins if run else ground_truth.census_margins()
    strata = ground_truth.STRATA
    index = {name: {label: i for i, label in enumerate(ground_truth.labels(name))} for name in strata}
    option_index = {option.code: i for i, option in enumerate(options)}
    code_of = {o.id: o.code for o in poll.options}
    categories = [np.array([index[name][cell[k]] for cell in cells]) for k, name in enumerate(strata)]
    counts = np.array([cell[4] for cell in cells], dtype=float)
    targets = [np.array([margins[name][label] for label in ground_truth.labels(name)]) for name in strata]
    chosen = np.array([option_index[code_of[cell[3]]] for cell in cells])
    try:
        raked = weighting.rake(categories, targets, base_weights=counts)
    except weighting.RakingError:
        notes.append("No weighted estimate: some governorate, sex or age band has no answers yet.")
        return None
    # Cell weights are totals; per-respondent weight is the cell total over its count.
    per_person = raked.weights / counts
    n_eff = weighting.effective_n(per_person, counts)
    shares = weighting.weighted_shares(chosen, raked.weights, len(options))
    for option, share in zip(options, shares, strict=True):
        option.weighted_share = float(share)
        option.weighted_ci95 = proportions.wilson(share * n_eff, n_eff)
    if not raked.converged:
        notes.append(f"Weighting did not converge in {raked.iterations} iterations (largest gap {raked.max_gap:.1e}).")
    return Weighting(
        margins="simulated population" if run else "census",
        respondents=int(counts.sum()),
        converged=raked.converged,
        iterations=raked.iterations,
        design_effect=weighting.kish_deff(per_person, counts),
        effective_n=n_eff,
    )
