"""Results latency as answers grow: the results JSON and the dashboard at 10k and at 1M answers.

Both polls are simulated into SQLite with everyone answering; the timings are
medians of repeated requests through the app (test client, logged in), so
only our code and the database are measured. Bar: time at 1M <= 1.5 x time at 10k.
Usage: python scripts/bench/results.py [--small N] [--large N] [--repeat R]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import report  # noqa: E402

from poll import create_app, db  # noqa: E402
from poll.services import operators, polls, simulation  # noqa: E402
from poll.simulate import scenario  # noqa: E402


def everyone_answers(folder: Path) -> scenario.Scenario:
    path = folder / "everyone.toml"
    path.write_text('base = "baseline"\nname = "everyone"\n[response]\nopen = 1.0\nanswer = 1.0\n'
                    "[timing]\ncutoff_hours = 720\n[delivery]\nfailure = { Zain = 0.0, Asiacell = 0.0, "
                    "Korek = 0.0, Other = 0.0 }\n")
    return scenario.load(str(path))


def build(path: Path, size: int, chosen: scenario.Scenario) -> int:
    engine = db.make_engine(f"sqlite:///{path}")
    db.upgrade(engine)
    with sa.orm.Session(engine) as session:
        poll = polls.create_poll(session, polls.builtin_definition())
        simulation.run_in_process(session, poll, simulation.Plan(chosen, size, size, 1))
        operators.create_operator(session, "bench", "bench password long", "admin")
        session.commit()
        answered = session.scalar(sa.text("SELECT count(*) FROM answers"))
    engine.dispose()
    return answered


def timings(path: Path, repeat: int) -> dict[str, float]:
    app = create_app({"DATABASE_URL": f"sqlite:///{path}", "SECRET_KEY": "x", "WTF_CSRF_ENABLED": False,
                      "RATELIMIT_ENABLED": False})
    client = app.test_client()
    client.post("/login", data={"name": "bench", "password": "bench password long"})
    out = {}
    for name, url in (("results JSON", "/api/v1/polls/coalition-2024/results"),
                      ("dashboard", "/dashboard/coalition-2024?lang=en")):
        client.get(url)  # warm
        samples = []
        for _ in range(repeat):
            start = time.perf_counter()
            response = client.get(url)
            samples.append(time.perf_counter() - start)
            assert response.status_code == 200
        out[name] = statistics.median(samples) * 1000
    return out


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


def serving_memory(path: Path) -> int:
    """Peak resident MB of a fresh process serving the results and dashboard of the poll at `path`."""
    result = subprocess.run([sys.executable, "-c", SERVE_AND_MEASURE, f"sqlite:///{path}"],
                            capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parent)
    return int(result.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        chosen = everyone_answers(folder)
        small_answers = build(folder / "small.db", args.small, chosen)
        large_answers = build(folder / "large.db", args.large, chosen)
        small, large = timings(folder / "small.db", args.repeat), timings(folder / "large.db", args.repeat)
        memory = serving_memory(folder / "large.db")
    rows = [{"case": f"{name}: {large_answers:,} vs {small_answers:,} answers", "ours": large[name],
             "floor": small[name], "ratio": large[name] / small[name], "unit": "ms (median); ours = at the large"}
            for name in small]
    report("results", rows, "ratio <= 1.5",
           [f"memory: one process serving results at {large_answers:,} answers peaked at {memory} MB resident "
            "(bar: 300 MB per worker)"])


if __name__ == "__main__":
    main()
