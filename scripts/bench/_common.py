"""Helpers shared by the benchmarks: timing, medians, and the results table and JSON."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

# POLL_BENCH_RESULTS moves the JSON elsewhere (the tests run each benchmark at a tiny size).
RESULTS = Path(os.environ.get("POLL_BENCH_RESULTS") or Path(__file__).resolve().parent / "results")


def timed(function, *args, **kwargs) -> tuple[float, object]:
    """Seconds `function` took, and what it returned."""
    start = time.perf_counter()
    value = function(*args, **kwargs)
    return time.perf_counter() - start, value


def machine() -> str:
    """A short description of this machine for the record."""
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def report(name: str, rows: list[dict], bar: str, notes: list[str] = ()) -> None:
    """Print a table of ours / floor / ratio per row, and notes; keep them as JSON under results/."""
    print(f"\n{name}  ({machine()})")
    print(f"{'case':<40}{'ours':>12}{'floor':>12}{'ratio':>8}  ({bar})")
    for row in rows:
        ours, floor = row["ours"], row["floor"]
        digits = ",.0f" if max(ours, floor) >= 100 else ",.2f"
        print(f"{row['case']:<40}{ours:>12{digits}}{floor:>12{digits}}{row['ratio']:>8.2f}  {row['unit']}")
    for note in notes:
        print(note)
    RESULTS.mkdir(exist_ok=True)
    record = {"benchmark": name, "bar": bar, "machine": machine(),
              "taken_at": datetime.now(UTC).isoformat(timespec="seconds"), "rows": rows, "notes": list(notes)}
    (RESULTS / f"{name}.json").write_text(json.dumps(record, indent=2) + "\n")


def peak_resident_mb() -> int:
    """The peak resident size of this process so far, in MB (Linux's VmHWM).

    Not ru_maxrss: a child process's ru_maxrss starts from its parent's peak.
    """
    status = Path("/proc/self/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) // 1024


def open_poll_with_links(url: str, count: int) -> sa.Engine:
    """Migrate the database at `url` and give it the article's poll, open, with `count` simulated links."""
    # Imported here: results.py's memory probe imports this module and must not pay for them.
    import numpy as np

    from poll import db
    from poll.services.audience import links
    from poll.services.definition import polls
    from poll.services.simulations import simulation
    from poll.simulate import population, scenario

    engine = db.make_engine(url)
    db.upgrade(engine)
    with sa.orm.Session(engine) as session:
        poll = polls.create_poll(session, polls.builtin_definition())
        polls.open_poll(session, poll)
        simulation.add_population(session, poll, population.generate(count, np.random.default_rng(1),
                                                                  scenario.education_shares(scenario.load("baseline"))))
        links.issue_links(session, poll)
        session.commit()
    return engine


def median(values: list[float]) -> float:
    return statistics.median(values)
