"""Answers over HTTP under gunicorn: our answer flow against a bare Flask + sqlite3 app doing the same.

Each simulated phone GETs its link and POSTs the article's whole form, every
question answered (wrk with a Lua script, each link used once); the floor
looks the link up and inserts one row with the same values. Same gunicorn
settings, same SQLite file layout; ours with its rate limiter on, as
scripts/serve runs it (its limits count per link and per unknown token, so
one client address is not turned away). Bar: ours >= 0.6 of the floor.
Usage: python scripts/bench/answers.py [--links N] [--workers W] [--connections C] [--postgres SERVER_URL]
       python scripts/bench/answers.py --workers-sweep 1,2,4,8 --postgres SERVER_URL
The sweep records the answer flows per second that each number of workers
sustains (ours and the floor), to size the workers for the burst of answers
after a national send.
With --postgres (e.g. postgresql+psycopg://user:pass@127.0.0.1:5432/postgres)
both sides run on fresh PostgreSQL databases made from one template.

Where the time goes (measured 2026-12-05 at commit 6dd5a07, one process
calling the WSGI app directly, on a machine shared with other work, so only
the shares carry over). A flow (a GET and a POST of the whole form) costs
about 0.8 ms of CPU against the floor's 0.4 on SQLite. Both requests take
the answer lane (poll/web/lane.py), ahead of Flask's request machinery,
which had cost as much as the page's own work (1.5 ms a flow before it).
On SQLite the rest is the database's: the link's SELECT on both requests,
the first look's open (its day and counter, one IMMEDIATE transaction) and
the answer's six to eight statements. On PostgreSQL our client side costs
about what the floor's does (1.0 ms against 0.8; the look and its open are
one statement), and the server's about 0.9 ms against 0.35: the answer's
one statement writes the receipt, the link's day, the answer and about a
dozen counter and tally rows (ten of them for the five questions after the
headline), and checks three foreign keys; a flow writes about 3 KB of
write-ahead log, the floor's 0.2 KB. Concurrent answers add to tally shards
of their own (models.TALLY_SHARDS): when they shared one row each, they
queued for it (with those writes left out the ratio was 0.70 where it had
been 0.58). Committing the first look's open without waiting for its flush
changed nothing measurable, so it waits, as every write of an answer does.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))
from _common import median, open_poll_with_links, report  # noqa: E402

from poll.services.definition import polls  # noqa: E402
from tests.databases import Databases  # noqa: E402
from tests.servers import free_port, wait_until_serving  # noqa: E402

LUA = """
local tokens = {}
local counter = 0
local index = 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end
function init(args)
  for line in io.lines(args[1]) do table.insert(tokens, line) end
  step = tonumber(args[2])
  form = args[3]
  index = id + 1
  posting = false
end
function request()
  if index > #tokens then index = id + 1 end
  local path = "/p/" .. tokens[index]
  if posting then
    posting = false
    index = index + step
    return wrk.format("POST", path, {["Content-Type"] = "application/x-www-form-urlencoded"}, form)
  end
  posting = true
  return wrk.format("GET", path)
end
"""


# The article's whole form, every question answered.
FORM = "option=2&sex=F&age=34&governorate=IQ-BA&employment=4&education=3"


def prepare(url: str, links: int) -> list[str]:
    engine = open_poll_with_links(url, links)
    with engine.begin() as connection:
        tokens = connection.scalars(sa.text("SELECT token FROM links ORDER BY id")).all()
        connection.exec_driver_sql(
            "CREATE TABLE floor_answers (link_id INTEGER PRIMARY KEY, option TEXT NOT NULL, sex TEXT, age INTEGER, "
            "governorate TEXT, employment TEXT, education TEXT)")
    engine.dispose()
    return list(tokens)


# Each worker says when it has loaded its app: counting starts once every worker serves, not while the later
# ones still import (on a busy machine, importing ours in five workers took longer than a short run).
READY_HOOK = """
import os


def post_worker_init(worker):
    open(os.path.join(os.environ["BENCH_READY"], str(worker.pid)), "w").close()
"""


def _wait_for_workers(ready: Path, workers: int, server: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while len(list(ready.iterdir())) < workers:
        if server.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{workers} workers did not all start within {timeout} s")
        time.sleep(0.1)  # polling for the workers' files, bounded by the deadline


def run(app: str, env: dict, folder: Path, tokens_file: Path, args, workers: int | None = None) -> float:
    port = free_port()
    workers = workers or args.workers
    # Both sides on gunicorn as scripts/serve runs it: its workers, an access log (ours through its masking logger).
    logger = ["--logger-class", "poll.logs.GunicornLogger"] if "poll" in app else []
    ready = folder / f"ready-{port}"
    ready.mkdir()
    config = folder / "gunicorn_ready.py"
    config.write_text(READY_HOOK)
    with open(folder / "access.log", "ab") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--config", str(config), "--workers", str(workers),
             "--bind", f"127.0.0.1:{port}", "--access-logfile", "-", *logger, app],
            cwd=ROOT, env=os.environ | env | {"BENCH_READY": str(ready)}, stdout=log,
        )
    try:
        wait_until_serving(f"http://127.0.0.1:{port}", server)
        _wait_for_workers(ready, workers, server)
        script = folder / "flow.lua"
        script.write_text(LUA)
        result = subprocess.run(
            ["wrk", "-t2", f"-c{args.connections}", f"-d{args.seconds}s", "-s", str(script),
             f"http://127.0.0.1:{port}", "--", str(tokens_file), "2", FORM],
            capture_output=True, text=True, check=True,
        )
    finally:
        server.terminate()
        server.wait(timeout=30)
    match = re.search(r"Requests/sec:\s+([\d.]+)", result.stdout)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", result.stdout)
    if errors:
        print(f"  {app}: {errors.group(1)} non-2xx responses (links answered twice after wrapping)")
    return float(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--links", type=int, default=60_000)
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1) + 1,
                        help="gunicorn workers (default as scripts/serve: 2 x cores + 1)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3, help="Runs of each side, alternating; medians are kept.")
    parser.add_argument("--postgres", metavar="SERVER_URL", help="Run on PostgreSQL instead of SQLite.")
    parser.add_argument("--workers-sweep", metavar="W,W,...", type=_counts,
                        help="Instead: the answer flows per second that each number of gunicorn workers sustains "
                             "(ours and the floor), for sizing the burst after a national send; meant for --postgres.")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")
    if args.workers_sweep:
        sweep(args)
        return
    rates: dict[str, list[float]] = {"floor": [], "ours": []}
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        databases = Databases.on(args.postgres, folder)
        tokens = prepare(databases.template(), args.links)
        tokens_file = folder / "tokens.txt"
        tokens_file.write_text("\n".join(tokens) + "\n")
        questions_file = folder / "questions.json"
        questions_file.write_text(json.dumps(polls.builtin_definition()), encoding="utf-8")
        try:
            for attempt in range(args.repeat):
                for side, app in (("floor", "floor.answers_app:app"), ("ours", "poll.wsgi:app")):
                    url = databases.copy(f"{side}_{attempt}")
                    env = {"PYTHONPATH": str(Path(__file__).resolve().parent), "FLOOR_DATABASE": databases.plain(url),
                           "FLOOR_QUESTIONS": str(questions_file),
                           "POLL_DATABASE_URL": url, "POLL_SECRET_KEY": "bench"}
                    rates[side].append(run(app, env, folder, tokens_file, args))
        finally:
            databases.close()
    name = "answers-postgresql" if args.postgres else "answers"
    # Each run of ours is paired with the floor's run just before it.
    ratios = sorted(o / f for o, f in zip(rates["ours"], rates["floor"], strict=True))
    report(name, [{"case": f"GET + POST of the whole form per link, {args.workers} workers, {databases.name}",
                   "ours": median(rates["ours"]), "floor": median(rates["floor"]), "ratio": median(ratios),
                   "unit": f"requests/s; median of {args.repeat}, ratios {ratios[0]:.2f}-{ratios[-1]:.2f}",
                   "runs": rates}],
           ">= 0.60")


def _counts(text: str) -> list[int]:
    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of worker counts: {text!r} (e.g. 1,2,4,8)") from None
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"worker counts must be 1 or more: {text!r}")
    return counts


def sweep(args) -> None:
    """Answer flows (a GET and a POST each) per second for each number of workers in args.workers_sweep."""
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        databases = Databases.on(args.postgres, folder)
        tokens = prepare(databases.template(), args.links)
        tokens_file = folder / "tokens.txt"
        tokens_file.write_text("\n".join(tokens) + "\n")
        questions_file = folder / "questions.json"
        questions_file.write_text(json.dumps(polls.builtin_definition()), encoding="utf-8")
        try:
            for workers in args.workers_sweep:
                rates: dict[str, list[float]] = {"floor": [], "ours": []}
                for attempt in range(args.repeat):
                    for side, app in (("floor", "floor.answers_app:app"), ("ours", "poll.wsgi:app")):
                        url = databases.copy(f"{side}_{workers}_{attempt}")
                        env = {"PYTHONPATH": str(Path(__file__).resolve().parent),
                               "FLOOR_DATABASE": databases.plain(url), "FLOOR_QUESTIONS": str(questions_file),
                               "POLL_DATABASE_URL": url, "POLL_SECRET_KEY": "bench"}
                        rates[side].append(run(app, env, folder, tokens_file, args, workers) / 2)
                        databases.drop(url)
                ours, floor = median(rates["ours"]), median(rates["floor"])
                rows.append({"case": f"answer flows/s, {workers} gunicorn workers, {databases.name}", "ours": ours,
                             "floor": floor, "ratio": ours / floor, "workers": workers,
                             "unit": f"flows/s (GET + POST); median of {args.repeat}", "runs": rates})
        finally:
            databases.close()
    name = "answers-workers-postgresql" if args.postgres else "answers-workers"
    report(name, rows, "sizing, no bar", notes=[
        f"{os.cpu_count()} cores here: flows/s stop growing once the workers (and the database) use every core."])


if __name__ == "__main__":
    main()
