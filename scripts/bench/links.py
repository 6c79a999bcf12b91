"""Issuing personal links: `poll invite`'s service against a bare sqlite3.executemany.

Both sides insert the same rows (poll, recipient, a fresh 128-bit token, the
time) into the same migrated schema, in WAL mode with synchronous=NORMAL; the
floor skips everything but the executemany. Ours also checks foreign keys
(SQLite's default leaves them off; they cost about 12% of the insert), skips
recipients who have a link already, and counts the links by stratum for the
results. Bar: ours >= 0.7 of the floor's rows/s.
Usage: python scripts/bench/links.py [--rows N] [--repeat R]
"""

from __future__ import annotations

import argparse
import base64
import secrets
import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path

import numpy as np
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import median, report, timed  # noqa: E402

from poll import db  # noqa: E402
from poll.models import Poll, utcnow  # noqa: E402
from poll.services import links, polls, simulation  # noqa: E402
from poll.simulate import population, scenario  # noqa: E402


def prepare(folder: Path, rows: int) -> Path:
    """A migrated database holding the article's poll and `rows` recipients without links."""
    path = folder / "template.db"
    engine = db.make_engine(f"sqlite:///{path}")
    db.upgrade(engine)
    with sa.orm.Session(engine) as session:
        poll = polls.create_poll(session, polls.builtin_definition())
        simulation.add_population(session, poll, population.generate(rows, np.random.default_rng(1), scenario.education_shares(scenario.load("baseline"))))
        session.commit()
    engine.dispose()
    return path


def ours(path: Path) -> int:
    engine = db.make_engine(f"sqlite:///{path}")
    with sa.orm.Session(engine) as session:
        poll = session.scalar(sa.select(Poll))
        issued = links.issue_links(session, poll)
        session.commit()
    engine.dispose()
    return issued


def floor(path: Path) -> int:
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    recipient_ids = [row[0] for row in connection.execute("SELECT id FROM recipients ORDER BY id")]
    issued_at = utcnow().strftime("%Y-%m-%d %H:%M:%S.%f")
    # The same fast token generation as ours: the floor is the least work for the same rows.
    raw = secrets.token_bytes(16 * len(recipient_ids))
    tokens = [base64.urlsafe_b64encode(raw[i : i + 16])[:22].decode() for i in range(0, len(raw), 16)]
    rows = [(1, recipient_id, token, issued_at) for recipient_id, token in zip(recipient_ids, tokens, strict=True)]
    with connection:
        connection.executemany(
            "INSERT INTO links (poll_id, recipient_id, token, issued_at) VALUES (?, ?, ?, ?)", rows
        )
    connection.close()
    return len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        template = prepare(Path(folder), args.rows)
        times = {"ours": [], "floor": []}
        for _ in range(args.repeat):
            for side, run in (("floor", floor), ("ours", ours)):
                copy = Path(folder) / f"{side}.db"
                shutil.copyfile(template, copy)
                seconds, count = timed(run, copy)
                assert count == args.rows, (side, count)
                times[side].append(seconds)
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{copy}{suffix}").unlink(missing_ok=True)
    ours_rate = args.rows / median(times["ours"])
    floor_rate = args.rows / median(times["floor"])
    report("links", [{"case": f"issue {args.rows:,} links (median of {args.repeat})", "ours": ours_rate,
                      "floor": floor_rate, "ratio": ours_rate / floor_rate, "unit": "rows/s"}], ">= 0.70")


if __name__ == "__main__":
    main()
