"""Issuing personal links: the `poll invite` command against a bare sqlite3.executemany, each a whole process.

What a user runs: `poll invite SLUG` in a fresh process, paying its start-up,
the audit entry and the counts it keeps. The floor is a bare Python process
that reads the recipients' ids, makes the same 128-bit tokens and inserts the
same rows (poll, recipient, token, time) with one executemany, in WAL mode
with synchronous=NORMAL. Ours also checks foreign keys (SQLite's default
leaves them off), skips recipients who have a link already, and counts the
links by stratum for the results. Bar: ours >= 0.7 of the floor's rows/s.
Usage: python scripts/bench/links.py [--rows N] [--repeat R]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))
from _common import median, report, timed  # noqa: E402

from poll import db  # noqa: E402
from poll.services.definition import polls
from poll.services.simulations import simulation  # noqa: E402
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
    # The code of this checkout, whichever checkout the virtualenv's `poll` was installed from.
    environment = os.environ | {"POLL_DATABASE_URL": f"sqlite:///{path}", "POLL_SECRET_KEY": "bench",
                                "PYTHONPATH": str(ROOT)}
    result = subprocess.run([str(Path(sys.executable).with_name("poll")), "invite", "coalition-2024"],
                            capture_output=True, text=True, check=True, env=environment)
    return int(result.stdout.split()[0])  # "N links issued; M in all"


FLOOR = """
import base64, secrets, sqlite3, sys
from datetime import datetime, timezone
connection = sqlite3.connect(sys.argv[1])
connection.execute("PRAGMA journal_mode=WAL")
connection.execute("PRAGMA synchronous=NORMAL")
recipient_ids = [row[0] for row in connection.execute("SELECT id FROM recipients ORDER BY id")]
issued_at = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")
raw = secrets.token_bytes(16 * len(recipient_ids))
tokens = [base64.urlsafe_b64encode(raw[i : i + 16])[:22].decode() for i in range(0, len(raw), 16)]
rows = [(1, recipient_id, token, issued_at) for recipient_id, token in zip(recipient_ids, tokens, strict=True)]
with connection:
    connection.executemany("INSERT INTO links (poll_id, recipient_id, token, issued_at) VALUES (?, ?, ?, ?)", rows)
connection.close()
print(len(rows))
"""


def floor(path: Path) -> int:
    # The same fast token generation as ours: the floor is the least work for the same rows.
    result = subprocess.run([sys.executable, "-c", FLOOR, str(path)], capture_output=True, text=True, check=True)
    return int(result.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
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
    report("links", [{"case": f"poll invite, {args.rows:,} links (median of {args.repeat})", "ours": ours_rate,
                      "floor": floor_rate, "ratio": ours_rate / floor_rate, "unit": "rows/s"}], ">= 0.70")


if __name__ == "__main__":
    main()
