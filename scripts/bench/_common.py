"""Helpers shared by the benchmarks: timing, medians, and the results table and JSON."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def timed(function, *args, **kwargs) -> tuple[float, object]:
    """Seconds `function` took, and what it returned."""
    start = time.perf_counter()
    value = function(*args, **kwargs)
    return time.perf_counter() - start, value


def machine() -> str:
    """A short description of this machine for the record."""
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def report(name: str, rows: list[dict], bar: str) -> None:
    """Print a table of ours / floor / ratio per row, and keep it as JSON under results/."""
    print(f"\n{name}  ({machine()})")
    print(f"{'case':<40}{'ours':>12}{'floor':>12}{'ratio':>8}  ({bar})")
    for row in rows:
        ours, floor = row["ours"], row["floor"]
        digits = ",.0f" if max(ours, floor) >= 100 else ",.2f"
        print(f"{row['case']:<40}{ours:>12{digits}}{floor:>12{digits}}{row['ratio']:>8.2f}  {row['unit']}")
    RESULTS.mkdir(exist_ok=True)
    record = {"benchmark": name, "bar": bar, "machine": machine(),
              "taken_at": datetime.now(UTC).isoformat(timespec="seconds"), "rows": rows}
    (RESULTS / f"{name}.json").write_text(json.dumps(record, indent=2) + "\n")


def median(values: list[float]) -> float:
    return statistics.median(values)
