"""A national poll's audience, end to end: import, invite and queue N recipients on PostgreSQL, as the user runs them.

An audience CSV of N distinct valid Iraqi numbers (with governorate, sex,
age and language) is written a chunk at a time, then each command runs in
its own process, exactly as typed (`poll audience import`, `poll invite`,
`poll polls open`, `poll sms queue`), against a fresh PostgreSQL database.
For each step: the wall time, the process's peak resident memory (its own
VmHWM, written as it exits: a child's ru_maxrss would start from this
process's peak) and the database's size after it (pg_database_size). Each
figure is then projected to --project recipients, linearly in N from a
command's fixed cost (`poll polls list` on the same database): for time and
disk that is the shape of the work (every row is read and written a fixed
number of times); for memory it is an upper bound, since a command whose
memory is bounded holds a batch, not the audience.
Usage: python scripts/bench/national.py --postgres SERVER_URL [--recipients N] [--project M] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))
from _common import RESULTS, machine  # noqa: E402

from poll import iraq  # noqa: E402
from tests.databases import Databases  # noqa: E402

SLUG = "coalition-2024"
CHUNK = 100_000
# Runs one `poll` command and, as the process exits, writes its peak resident size (VmHWM, kB) to stderr's last line.
RUN_MEASURED = """
import atexit, sys
def peak():
    status = open("/proc/self/status").read()
    print("peak-kb", next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")),
          file=sys.stderr)
atexit.register(peak)
from poll.cli import cli
sys.argv = ["poll", *sys.argv[1:]]
cli()
"""


def write_audience(path: Path, count: int) -> None:
    """Write `count` recipients with distinct valid numbers to `path`, CHUNK lines at a time (never all in memory).

    Recipient i's number is the carrier prefix (taken in turn) and then i's
    place among that prefix's numbers scattered by a multiplication that is
    a bijection modulo 10^8, so that numbers are distinct and not in order.
    """
    prefixes = [prefix for carrier in iraq.carriers() for prefix in carrier.prefixes]
    if count > len(prefixes) * 10**8:
        raise SystemExit(f"at most {len(prefixes) * 10**8:,} distinct numbers with these prefixes")
    governorates = [governorate.code for governorate in iraq.governorates()]
    languages = ("ar",) * 16 + ("ku",) * 3 + ("en",)
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("phone,governorate,sex,age,language\n")
        for start in range(0, count, CHUNK):
            out.writelines(
                f"+964{prefixes[i % len(prefixes)]}{(i // len(prefixes)) * 7_919 % 10**8:08d},"
                f"{governorates[i * 7 % len(governorates)]},{'MF'[i % 2]},{18 + i * 13 % 68},"
                f"{languages[i % len(languages)]}\n"
                for i in range(start, min(start + CHUNK, count))
            )


def run(step: str, *args: str, env: dict[str, str]) -> dict:
    """Run `poll ARGS` in its own process; its wall time and peak resident MB."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", RUN_MEASURED, *args], cwd=ROOT, env=env, capture_output=True,
                          text=True)
    seconds = time.perf_counter() - start
    lines = done.stderr.strip().splitlines()
    peaks = [line for line in lines if line.startswith("peak-kb ")]
    if done.returncode != 0 or not peaks:
        raise SystemExit(f"poll {' '.join(args)} failed ({done.returncode}): {done.stdout}{done.stderr}")
    print(f"{step}: {seconds:,.1f} s, {done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ''}",
          flush=True)
    return {"step": step, "seconds": seconds, "peak_mb": int(peaks[-1].split()[1]) / 1024}


def database_mb(url: str) -> float:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return connection.scalar(sa.text("SELECT pg_database_size(current_database())")) / 2**20
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", metavar="SERVER_URL", default=os.environ.get("POLL_TEST_POSTGRES_URL"),
                        help="The PostgreSQL server (default: $POLL_TEST_POSTGRES_URL); a database is made on it.")
    parser.add_argument("--recipients", type=int, default=10_000_000)
    parser.add_argument("--project", type=int, default=40_000_000, help="Project the figures to this many.")
    parser.add_argument("--keep", action="store_true", help="Keep the database (its address is printed).")
    args = parser.parse_args()
    if not args.postgres:
        raise SystemExit("national.py runs on PostgreSQL only: give --postgres SERVER_URL")
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        databases = Databases.on(args.postgres, folder)
        try:
            url = databases.empty()
            env = os.environ | {"POLL_DATABASE_URL": url, "POLL_SECRET_KEY": "national benchmark",
                                "POLL_BASE_URL": "https://poll.example.iq", "POLL_SMS_GATEWAY": "simulated"}
            audience = folder / "audience.csv"
            start = time.perf_counter()
            write_audience(audience, args.recipients)
            print(f"audience file: {args.recipients:,} recipients, {audience.stat().st_size / 2**20:,.0f} MB, "
                  f"written in {time.perf_counter() - start:,.1f} s", flush=True)
            run("init", "init", env=env)
            run("create", "polls", "create", "--builtin", env=env)
            empty_mb = database_mb(url)
            fixed = run("fixed cost", "polls", "list", env=env)
            steps = []
            for step, command in (("poll audience import", ("audience", "import", SLUG, str(audience))),
                                  ("poll invite", ("invite", SLUG)),
                                  ("poll polls open", ("polls", "open", SLUG)),
                                  ("poll sms queue", ("sms", "queue", SLUG))):
                measured = run(step, *command, env=env)
                measured["database_mb"] = database_mb(url)
                steps.append(measured)
            audience.unlink()
            if args.keep:
                databases.made.remove(sa.make_url(url).database)
                print(f"kept: {url}")
        finally:
            databases.close()
    print_projection(steps, fixed, empty_mb, args.recipients, args.project)


def print_projection(steps: list[dict], fixed: dict, empty_mb: float, measured: int, project: int) -> None:
    """Each step's figures at `measured` recipients and projected to `project`, and the JSON record.

    A line through two points: the fixed cost (a command that reads no
    audience, on the empty database) and the step at `measured`.
    """
    scale = project / measured
    print(f"\nnational-postgresql  ({machine()})")
    print(f"{'step':<24}{'seconds':>10}{'peak MB':>10}{'db MB':>10}   at {project:,} (linear in N): hours, peak MB, db GB")
    for s in steps:
        s["projected"] = {"hours": (fixed["seconds"] + (s["seconds"] - fixed["seconds"]) * scale) / 3600,
                          "peak_mb": fixed["peak_mb"] + max(s["peak_mb"] - fixed["peak_mb"], 0) * scale,
                          "database_gb": (empty_mb + (s["database_mb"] - empty_mb) * scale) / 1024}
        p = s["projected"]
        print(f"{s['step']:<24}{s['seconds']:>10,.1f}{s['peak_mb']:>10,.0f}{s['database_mb']:>10,.0f}   "
              f"{p['hours']:>8,.2f}{p['peak_mb']:>10,.0f}{p['database_gb']:>10,.1f}")
    hours = sum(s["projected"]["hours"] for s in steps)
    print(f"fixed cost of a command (start-up, `poll polls list`): {fixed['seconds']:.1f} s, {fixed['peak_mb']:.0f} MB; "
          f"all steps at {project:,}: {hours:,.1f} h. Memory projected linearly is an upper bound: a command "
          "that holds a batch at a time stays near its measured peak.")
    RESULTS.mkdir(exist_ok=True)
    record = {"benchmark": "national-postgresql", "machine": machine(), "recipients": measured, "project": project,
              "taken_at": datetime.now(UTC).isoformat(timespec="seconds"), "fixed": fixed, "steps": steps}
    (RESULTS / "national-postgresql.json").write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
