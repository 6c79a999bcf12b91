"""The demo: the article's poll, open, answered by a simulated audience with a known truth."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
import sqlalchemy.orm as so

from poll.models import Poll
from poll.services.audience import links
from poll.services.definition import polls
from poll.services.releases import results
from poll.services.simulations import simulation
from poll.simulate import scenario


@dataclass
class DemoReport:
    slug: str
    created: bool
    simulated: bool
    links: int
    answers: int

    def summary(self) -> str:
        """One line for people."""
        what = "created" if self.created else "already there"
        done = "simulated the baseline scenario" if self.simulated else "kept its audience"
        return f"poll {self.slug}: {what}; {done}: {self.links:,} links, {self.answers:,} answers"


def load_demo(session: so.Session, *, population: int, sample: int, seed: int) -> DemoReport:
    """Load the article's poll and simulate the baseline scenario into it, once.

    A second run finds the poll with its links and changes nothing.
    """
    poll = session.scalar(sa.select(Poll).where(Poll.slug == polls.BUILTIN))
    created = poll is None
    if poll is None:
        poll = polls.create_poll(session, polls.builtin_definition())
    simulated = links.count_links(session, poll) == 0
    if simulated:
        plan = simulation.Plan(scenario.load("baseline"), population, sample, seed)
        simulation.run_in_process(session, poll, plan)
    counts = results.funnel(session, poll)
    return DemoReport(poll.slug, created, simulated, counts["invited"], counts["answered"])
