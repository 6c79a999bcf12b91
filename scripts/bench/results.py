"""Results latency as answers grow: the results JSON and the dashboard at 10k and at 1M answers.

Both polls are simulated into SQLite (or, with --postgres, into fresh
PostgreSQL databases, analysed as autovacuum would) with everyone answering
and some numbers having sent STOP; the timings are medians of repeated
requests through the app (test client, logged in): the results JSON, the
dashboard and the panel it refreshes, so only our code and the database are
measured. At the large size every statement those pages run is explained,
and any that reads a whole table of links, answers or recipients is printed.
Bar: time at 1M <= 1.5 x time at 10k.
Usage: python scripts/bench/results.py [--small N] [--large N] [--repeat R] [--postgres SERVER_URL]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from _common import report  # noqa: E402

from poll import create_app, db  # noqa: E402
from poll.models import OptOut, Recipient  # noqa: E402
from poll.services.access import operators
from poll.services.definition import polls
from poll.services.simulations import simulation  # noqa: E402
from poll.simulate import scenario  # noqa: E402
from tests.databases import Databases  # noqa: E402


def everyone_answers(folder: Path) -> scenario.Scenario:
    path = folder / "everyone.toml"
    path.write_text('base = "baseline"\nname = "everyone"\n[response]\nopen = 1.0\nanswer = 1.0\n'
                    "[timing]\ncutoff_hours = 720\n[delivery]\nfailure = { Zain = 0.0, Asiacell = 0.0, "
                    "Korek = 0.0, Other = 0.0 }\n")
    return scenario.load(str(path))


def build(url: str, size: int, chosen: scenario.Scenario) -> int:
    engine = db.make_engine(url)
    db.upgrade(engine)
    with sa.orm.Session(engine) as session:
        definition = polls.builtin_definition() | {"anonymous": False}  # so that the STOPs are counted too
        poll = polls.create_poll(session, definition)
        simulation.run_in_process(session, poll, simulation.Plan(chosen, size, size, 1))
        # A few numbers that sent STOP, as a national poll has: the dispositions read them.
        phones = session.scalars(sa.select(Recipient.phone).order_by(Recipient.id).limit(max(size // 1000, 1))).all()
        session.add_all(OptOut(phone=phone) for phone in phones)
        operators.create_operator(session, "bench", "bench password long", "admin")
        session.commit()
        answered = session.scalar(sa.text("SELECT count(*) FROM answers"))
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("ANALYZE")
    engine.dispose()
    return answered


PAGES = (("results JSON", "/api/v1/polls/coalition-2024/results"),
         ("dashboard", "/dashboard/coalition-2024?lang=en"),
         ("dashboard panel", "/dashboard/coalition-2024/panel?lang=en"))


def timings(url: str, repeat: int, explain: bool = False) -> tuple[dict[str, float], list[str]]:
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "x", "WTF_CSRF_ENABLED": False,
                      "RATELIMIT_ENABLED": False})
    client = app.test_client()
    client.post("/login", data={"name": "bench", "password": "bench password long"})
    out = {}
    for name, page in PAGES:
        client.get(page)  # warm
        samples = []
        for _ in range(repeat):
            start = time.perf_counter()
            response = client.get(page)
            samples.append(time.perf_counter() - start)
            assert response.status_code == 200
        out[name] = statistics.median(samples) * 1000
    return out, (walks(app, client) if explain else [])


def walks(app, client) -> list[str]:
    """The statements behind the pages whose plan reads a whole table of links, answers or recipients."""
    engine = app.extensions["poll.db"].kw["bind"]
    seen: list[tuple[str, object]] = []
    listener = lambda _c, _cursor, statement, parameters, _x, _m: seen.append((statement, parameters))  # noqa: E731
    sa.event.listen(engine, "before_cursor_execute", listener)
    try:
        for _name, page in PAGES:
            client.get(page)
    finally:
        sa.event.remove(engine, "before_cursor_execute", listener)
    found = []
    with engine.connect() as connection:
        for statement, parameters in seen:
            if not statement.lstrip().upper().startswith(("SELECT", "WITH")):
                continue
            if engine.dialect.name == "sqlite":
                plan = [row[3] for row in connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)]
                bad = [line for line in plan if line.split()[:1] == ["SCAN"] and len(line.split()) > 1
                       and line.split()[1] in GROWING]
            else:
                plan = [row[0] for row in connection.exec_driver_sql("EXPLAIN " + statement, parameters)]
                bad = [line for line in plan if "Seq Scan on" in line and line.split("Seq Scan on ")[1].split()[0]
                       in GROWING]
            found += [f"{line.strip()}: {' '.join(statement.split())[:120]}" for line in bad]
    return found


GROWING = ("links", "answers", "recipients", "receipts", "outbox_messages", "refusals", "audit_events")


# A fresh process, so that its peak is the serving's alone.
SERVE_AND_MEASURE = """
import sys
from _common import peak_resident_mb
from poll import create_app
app = create_app({"DATABASE_URL": sys.argv[1], "SECRET_KEY": "x", "WTF_CSRF_ENABLED": False,
                  "RATELIMIT_ENABLED": False})
client = app.test_client()
client.post("/login", data={"name": "bench", "password": "bench password long"})
for _ in range(20):
    assert client.get("/api/v1/polls/coalition-2024/results").status_code == 200
    assert client.get("/dashboard/coalition-2024?lang=en").status_code == 200
print(peak_resident_mb())
"""


def serving_memory(url: str) -> int:
    """Peak resident MB of a fresh process serving the results and dashboard of the poll at `url`."""
    # The checkout's own code on the path (as this process has it), not whichever copy the virtualenv installed.
    env = os.environ | {"PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[2]),
                                                                    os.environ.get("PYTHONPATH")]))}
    result = subprocess.run([sys.executable, "-c", SERVE_AND_MEASURE, url],
                            capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parent, env=env)
    return int(result.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--postgres", metavar="SERVER_URL", help="Run on PostgreSQL instead of SQLite.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        databases = Databases.on(args.postgres, folder)
        try:
            chosen = everyone_answers(folder)
            small_url, large_url = databases.empty(), databases.empty()
            small_answers = build(small_url, args.small, chosen)
            large_answers = build(large_url, args.large, chosen)
            small, _ = timings(small_url, args.repeat)
            large, scans = timings(large_url, args.repeat, explain=True)
            memory = serving_memory(large_url)
        finally:
            databases.close()
    rows = [{"case": f"{name}: {large_answers:,} vs {small_answers:,} answers, {databases.name}", "ours": large[name],
             "floor": small[name], "ratio": large[name] / small[name], "unit": "ms (median); ours = at the large"}
            for name in small]
    notes = [f"memory: one process serving results at {large_answers:,} answers peaked at {memory} MB resident "
             "(bar: 300 MB per worker)"]
    notes += [f"reads a whole table: {scan}" for scan in scans] or ["no statement reads a whole table of links, "
                                                                     "answers or recipients"]
    report("results-postgresql" if args.postgres else "results", rows, "ratio <= 1.5", notes)


if __name__ == "__main__":
    main()
