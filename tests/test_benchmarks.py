"""The benchmarks still run: each at a tiny size, checked for its table and its JSON, never for its speed.

On the PostgreSQL run of the suite the answer and dispatch benchmarks run on
PostgreSQL, as `scripts/bench/run` runs them.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import POSTGRES_URL, require
from tests.kannel import BEARERBOX, FAKESMSC, SMSBOX

pytestmark = pytest.mark.slow
BENCH = Path(__file__).resolve().parents[1] / "scripts" / "bench"
SERVER = ["--postgres", POSTGRES_URL] if POSTGRES_URL else []


def run(name: str, args: list[str], results: Path, record: str | None = None) -> dict:
    completed = subprocess.run(
        [sys.executable, str(BENCH / f"{name}.py"), *args], capture_output=True, text=True, timeout=300,
        env=os.environ | {"POLL_BENCH_RESULTS": str(results)},
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    record_name = (record or name) + ("-postgresql" if "--postgres" in args else "")
    record = json.loads((results / f"{record_name}.json").read_text())
    assert record["benchmark"] in completed.stdout
    for row in record["rows"]:
        assert row["ours"] > 0 and row["floor"] > 0 and row["ratio"] > 0
        assert row["case"] in completed.stdout
    return record


@pytest.mark.parametrize(
    ("name", "args", "cases"),
    [
        ("links", ["--rows", "3000", "--repeat", "1"], ["poll invite, 3,000 links (median of 1)"]),
        ("simulate", ["--recipients", "20000", "--replications", "20"],
         ["in-process, 20,000 recipients", "Monte Carlo, 20 replications"]),
        ("results", ["--small", "300", "--large", "3000", "--repeat", "2", *SERVER],
         ["results JSON: ", "dashboard: ", "dashboard panel: "]),
    ],
)
def test_an_embedded_benchmark_prints_ours_the_floor_and_the_ratio(name, args, cases, tmp_path):
    record = run(name, args, tmp_path)
    assert [any(row["case"].startswith(case) for row in record["rows"]) for case in cases] == [True] * len(cases)
    if name in ("simulate", "results"):
        assert "MB resident" in record["notes"][0]


def test_the_answer_benchmark_runs_both_apps_under_gunicorn(tmp_path):
    require("wrk", shutil.which("wrk") is not None, "apt-get install wrk (scripts/test does it as root)")
    args = ["--links", "500", "--seconds", "1", "--repeat", "1", "--workers", "2", "--connections", "4", *SERVER]
    [row] = run("answers", args, tmp_path)["rows"]
    assert row["case"].endswith("PostgreSQL" if SERVER else "SQLite")
    assert len(row["runs"]["ours"]) == len(row["runs"]["floor"]) == 1


def test_the_answer_benchmark_sweeps_the_number_of_workers(tmp_path):
    require("wrk", shutil.which("wrk") is not None, "apt-get install wrk (scripts/test does it as root)")
    args = ["--workers-sweep", "1,2", "--links", "400", "--seconds", "1", "--repeat", "1", "--connections", "4", *SERVER]
    record = run("answers", args, tmp_path, record="answers-workers")
    assert [row["workers"] for row in record["rows"]] == [1, 2]
    assert all(row["unit"].startswith("flows/s") for row in record["rows"])


def test_the_dispatch_benchmark_sends_through_kannel(tmp_path):
    require("Kannel", all(path.exists() for path in (BEARERBOX, SMSBOX, FAKESMSC)),
            "apt-get install kannel kannel-extras (scripts/test does it as root)")
    rows = run("dispatch", ["--messages", "20", "--workers", "2", *SERVER], tmp_path)["rows"]
    # Several dispatchers share one outbox on PostgreSQL only.
    assert [row["case"].split(", ")[1] for row in rows] == (["1 at once", "2 at once"] if SERVER else ["1 at once"])


def test_the_sms_routes_benchmark_measures_each_route_against_its_cap(tmp_path):
    require("Kannel", all(path.exists() for path in (BEARERBOX, SMSBOX, FAKESMSC)),
            "apt-get install kannel kannel-extras (scripts/test does it as root)")
    record = run("sms", ["--messages", "60", "--window", "8", *SERVER], tmp_path)
    assert {row["case"].split(" ")[0] for row in record["rows"]} <= {"zain", "asiacell", "korek", "other"}
    assert all(row["most_in_flight"] <= row["window"] == 8 for row in record["rows"])
    assert all(row["cap_held"] for row in record["rows"])


def test_the_population_benchmark_measures_bytes_a_person(tmp_path):
    completed = subprocess.run([sys.executable, str(BENCH / "population.py"), "--size", "20000"], capture_output=True,
                               text=True, timeout=300, env=os.environ | {"POLL_BENCH_RESULTS": str(tmp_path)})
    assert completed.returncode == 0, completed.stderr[-3000:]
    record = json.loads((tmp_path / "population.json").read_text())
    assert record["nbytes"] == 20_000 * 21 and record["peak_mb"] >= record["before_mb"] > 0
    assert "at 46,000,000" in completed.stdout


def test_the_national_benchmark_times_each_command_as_typed_and_projects_it(tmp_path):
    if not POSTGRES_URL:
        pytest.skip("national.py runs on PostgreSQL only: the PostgreSQL run of the suite covers this")
    completed = subprocess.run(
        [sys.executable, str(BENCH / "national.py"), "--postgres", POSTGRES_URL, "--recipients", "2000",
         "--project", "40000"], capture_output=True, text=True, timeout=600,
        env=os.environ | {"POLL_BENCH_RESULTS": str(tmp_path)})
    assert completed.returncode == 0, completed.stderr[-3000:]
    record = json.loads((tmp_path / "national-postgresql.json").read_text())
    assert [step["step"] for step in record["steps"]] == ["poll audience import", "poll invite", "poll polls open",
                                                          "poll sms queue"]
    assert all(step["seconds"] > 0 and step["peak_mb"] > 0 and step["database_mb"] > 0 for step in record["steps"])
    assert "2,000 messages queued" in completed.stdout and "at 40,000" in completed.stdout
