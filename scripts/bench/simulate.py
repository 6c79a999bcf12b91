"""Simulation speed: 1M recipients in-process end to end, and 1,000 Monte Carlo replications.

In-process: `poll simulate`'s service on SQLite (population, recipients, links,
deliveries, answers, refusals), against a floor that inserts the same
numbers of recipient, invitation and answer rows with bare sqlite3 from
NumPy arrays. Bar: ours <= 60 s at 1M, within 2 GB resident (printed).
Monte Carlo: 1,000 replications of a poll with about 10k answers, against a
floor that makes the same binomial draws and raw shares but no raking, no
intervals. Bar: ours <= 10 s.
Usage: python scripts/bench/simulate.py [--recipients N] [--replications K]
"""

from __future__ import annotations

import argparse
import base64
import secrets
import sqlite3
import sys
import tempfile
from pathlib import Path

import numpy as np
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import peak_resident_mb, report, timed  # noqa: E402

from poll import db  # noqa: E402
from poll.services.definition import polls
from poll.services.releases import results
from poll.services.simulations import simulation  # noqa: E402
from poll.simulate import behaviour, montecarlo, population, scenario  # noqa: E402


def ours_in_process(path: Path, size: int) -> tuple[int, int]:
    engine = db.make_engine(f"sqlite:///{path}")
    db.upgrade(engine)
    with sa.orm.Session(engine) as session:
        poll = polls.create_poll(session, polls.builtin_definition())
        plan = simulation.Plan(scenario.load("baseline"), size, size, 1)
        simulation.run_in_process(session, poll, plan)
        session.commit()
        counts = results.funnel(session, poll)
    engine.dispose()
    return counts["invited"], counts["answered"]


def floor_in_process(path: Path, size: int, answers: int) -> None:
    engine = db.make_engine(f"sqlite:///{path}")
    db.upgrade(engine)
    engine.dispose()
    rng = np.random.default_rng(1)
    people = population.generate(size, rng, scenario.education_shares(scenario.load("baseline")))
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    with connection:
        connection.execute("INSERT INTO audiences (id, name, created_at) VALUES (1, 'a', '2024-01-10 09:00:00')")
        connection.execute(
            "INSERT INTO polls (id, slug, question, sender, default_language, status, is_anonymous, created_at) "
            "VALUES (1, 'p', '{}', '{}', 'ar', 'open', 1, '2024-01-10 09:00:00')"
        )
        connection.execute("INSERT INTO options (id, poll_id, code, position, label) VALUES (1, 1, '1', 1, '{}')")
        connection.executemany(
            "INSERT INTO recipients (audience_id, phone, governorate, sex, age, age_band, language) "
            "VALUES (1, ?, ?, ?, ?, ?, ?)",
            zip(people.phones(), people.governorate_codes().tolist(), people.sex_codes().tolist(),
                people.age.tolist(), people.age_band_labels().tolist(), people.language_codes().tolist(), strict=True),
        )
        raw = secrets.token_bytes(16 * size)
        stamp = "2024-01-10 09:00:00.000000"
        connection.executemany(
            "INSERT INTO links (poll_id, recipient_id, token, issued_at, sent_at, delivered_at) "
            "VALUES (1, ?, ?, ?, ?, ?)",
            ((i + 1, base64.urlsafe_b64encode(raw[16 * i : 16 * i + 16])[:22].decode(), stamp, stamp, stamp)
             for i in range(size)),
        )
        connection.executemany("INSERT INTO receipts (link_id) VALUES (?)", ((i + 1,) for i in range(answers)))
        connection.executemany(
            "INSERT INTO answers (id, poll_id, option_id, channel, answered_hour) VALUES (?, 1, 1, 'web', ?)",
            ((secrets.randbits(63), stamp) for _ in range(answers)),
        )
    connection.close()


def floor_montecarlo(size: int, sample: int, replications: int) -> None:
    rng = np.random.default_rng(1)
    people = population.generate(size, rng, scenario.education_shares(scenario.load("baseline")))
    chosen = scenario.load("baseline")
    opinion = behaviour.opinions(people, chosen, rng)
    p_open, p_answer = behaviour.answer_probability(people, opinion, chosen)
    key = people.governorate.astype(np.int64) * 1000 + people.sex * 100 + people.age_band * 10 + opinion
    _, first, sizes = np.unique(key, return_index=True, return_counts=True)
    p = p_open[first] * p_answer[first]
    for _ in range(replications):
        answered = rng.binomial(rng.binomial(sizes, sample / size), p)
        np.bincount(opinion[first], weights=answered, minlength=3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=1_000_000)
    parser.add_argument("--replications", type=int, default=1000)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        seconds, (invited, answered) = timed(ours_in_process, Path(folder, "ours.db"), args.recipients)
        # Ours runs first in this process, so the peak so far is its own (and the imports').
        memory = peak_resident_mb()
        floor_seconds, _ = timed(floor_in_process, Path(folder, "floor.db"), args.recipients, answered)
    rows.append({"case": f"in-process, {invited:,} recipients", "ours": seconds, "floor": floor_seconds,
                 "ratio": floor_seconds / seconds, "unit": f"s ({answered:,} answers); bar: ours <= 60 s"})
    chosen = scenario.load("baseline")
    sample, size = 330_000, 1_000_000  # about 10k answers under the baseline
    seconds, mc = timed(montecarlo.run, chosen, population_size=size, sample_size=sample,
                        replications=args.replications, seed=1)
    floor_seconds, _ = timed(floor_montecarlo, size, sample, args.replications)
    rows.append({"case": f"Monte Carlo, {args.replications:,} replications", "ours": seconds, "floor": floor_seconds,
                 "ratio": floor_seconds / seconds,
                 "unit": f"s ({mc.answers_mean:,.0f} answers each); bar: ours <= 10 s"})
    report("simulate", rows, "seconds; ratio = floor / ours",
           [f"memory: simulating {invited:,} recipients in-process peaked at {memory} MB resident (bar: 2 GB)"])


if __name__ == "__main__":
    main()
