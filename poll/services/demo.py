"""The demo: the article's poll, open, with a simulated audience and their personal links."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sqlalchemy as sa
import sqlalchemy.orm as so

from poll.models import Poll, PollStatus
from poll.services import audiences, invitations, polls
from poll.simulate import population


@dataclass
class DemoReport:
    slug: str
    created: bool
    recipients_added: int
    links_issued: int

    def summary(self) -> str:
        """One line for people."""
        what = "created" if self.created else "already there"
        return (
            f"poll {self.slug}: {what}; {self.recipients_added} simulated recipients added, "
            f"{self.links_issued} links issued"
        )


def load_demo(session: so.Session, *, size: int, seed: int) -> DemoReport:
    """Load the article's poll with `size` simulated subscribers; a second run adds nothing."""
    poll = session.scalar(sa.select(Poll).where(Poll.slug == polls.BUILTIN))
    created = poll is None
    if poll is None:
        poll = polls.create_poll(session, polls.builtin_definition())
    if poll.status == PollStatus.DRAFT:
        polls.open_poll(session, poll)
    added = 0
    if audiences.audience_size(session, poll) == 0:
        added = audiences.add_population(session, poll, population.generate(size, np.random.default_rng(seed)))
    issued = invitations.issue_links(session, poll)
    return DemoReport(poll.slug, created, added, issued)
