"""A live simulation: simulated phones answering a running server over HTTP, while its dashboard fills.

It commits as it goes, so it owns its sessions (from the factory it is
given) instead of riding a command's single transaction: the audience,
links and deliveries must be committed before the phones use the links,
and no transaction may stay open while the server writes their answers.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy.orm as so

from poll.db import dialects
from poll.models import SimulationRun
from poll.services.access import audit
from poll.services.definition import polls
from poll.services.simulations import simulation
from poll.simulate import live


@dataclass(frozen=True)
class Requests:
    """How the server answered the simulated phones: (kind, HTTP status) -> count."""

    statuses: Counter

    def by_kind(self) -> dict[str, int]:
        return {f"{kind} {status}": number for (kind, status), number in sorted(self.statuses.items())}


def run(
    sessions: so.sessionmaker, slug: str, plan: simulation.Plan, base: str, *, speed: float, concurrency: int,
    max_seconds: float, reset: bool = False, discard_real_data: bool = False,
    progress: simulation.Progress = lambda step: None, on_request: Callable[[int], None] = lambda total: None,
    stop: threading.Event | None = None,
) -> Requests:
    """Write the simulated audience, links and deliveries of poll `slug`, then send its phones' requests to `base`.

    Simulated time runs `speed` times faster than real time; requests still
    unsent after `max_seconds`, or once `stop` is set, are dropped. `on_request` is called with the
    number of requests once, then with 0 after each one (for a progress bar).
    """
    with sessions() as session:
        dialects.of(session).begin_write(session)
        poll = polls.get_poll(session, slug)
        if reset:
            removed = simulation.reset(session, poll, discard_real_data=discard_real_data)
            audit.record(session, "simulation-reset", slug, detail={"via": "cli", **removed})
        record, world = simulation.run_in_process(session, poll, plan, mode="live", progress=progress, answer=False,
                                                  time_scale=speed)
        events = simulation.live_events(session, poll, world)
        session.flush()
        run_id = record.id
        session.commit()  # the server must see the links before the phones use them
    on_request(len(events))
    statuses = live.play(base, events, speed=speed, concurrency=concurrency, max_seconds=max_seconds,
                         on_done=lambda: on_request(0), stop=stop)
    requests = Requests(statuses)
    with sessions() as session:
        dialects.of(session).begin_write(session)
        record = session.get(SimulationRun, run_id)
        record.extras = record.extras | {"live": requests.by_kind()}
        session.commit()
    return requests
