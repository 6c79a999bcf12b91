"""Records of simulations kept beside a poll: what the results show as the truth and the Monte Carlo spread.

Reading them needs no simulator: a real poll's results import this, never
the simulation service or its runners.
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlalchemy.orm as so

from poll.models import Poll, SimulationRun

# The mode of a run that kept only a Monte Carlo summary, with no recipients or answers.
MONTE_CARLO = "monte-carlo"


def latest_run(session: so.Session, poll: Poll) -> SimulationRun | None:
    """The newest simulation of `poll` that wrote answers (not a Monte Carlo summary), if any."""
    return session.scalar(
        sa.select(SimulationRun)
        .where(SimulationRun.poll_id == poll.id, SimulationRun.mode != MONTE_CARLO)
        .order_by(SimulationRun.id.desc())
        .limit(1)
    )


def latest_montecarlo(session: so.Session, poll: Poll) -> SimulationRun | None:
    """The newest Monte Carlo summary of `poll`, if any."""
    return session.scalar(
        sa.select(SimulationRun)
        .where(SimulationRun.poll_id == poll.id, SimulationRun.mode == MONTE_CARLO)
        .order_by(SimulationRun.id.desc())
        .limit(1)
    )
