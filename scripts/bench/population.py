"""Memory of a simulated population: peak resident size drawing N people, projected to Iraq's 46 million.

Each size is drawn in a fresh process (`population.generate`, the baseline
scenario's education shares), which reports its own peak (VmHWM) and the
population's bytes; the peak over the process before drawing, per person,
is projected linearly to --project people (the arrays kept grow with N; the
drawing's temporaries are one chunk's, so the projection is an upper bound).
Usage: python scripts/bench/population.py [--size N] [--project M] [--seed S]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import RESULTS, machine  # noqa: E402

DRAW = """
import json, sys, time
sys.path.insert(0, sys.argv[3])
from _common import peak_resident_mb
import numpy as np
from poll.simulate import population, scenario
education = scenario.education_shares(scenario.load("baseline"))
before = peak_resident_mb()
start = time.perf_counter()
people = population.generate(int(sys.argv[1]), np.random.default_rng(int(sys.argv[2])), education)
print(json.dumps({"seconds": time.perf_counter() - start, "before_mb": before, "peak_mb": peak_resident_mb(),
                  "nbytes": people.nbytes}))
"""


def measure(size: int, seed: int) -> dict:
    """Draw `size` people in a fresh process: seconds, resident MB before and at the peak, and the arrays' bytes."""
    done = subprocess.run([sys.executable, "-c", DRAW, str(size), str(seed), str(HERE)], cwd=HERE.parents[1],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=5_000_000)
    parser.add_argument("--project", type=int, default=46_000_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    found = measure(args.size, args.seed)
    grown = found["peak_mb"] - found["before_mb"]
    print(f"population of {args.size:,}: drawn in {found['seconds']:.1f} s; arrays {found['nbytes'] / args.size:.0f} "
          f"bytes a person ({found['nbytes'] / 2**20:,.0f} MB); peak {found['peak_mb']:,} MB resident, "
          f"{grown:,} MB over the process before drawing ({grown * 2**20 / args.size:.0f} bytes a person)")
    print(f"at {args.project:,} (linear in N, an upper bound): arrays {found['nbytes'] / args.size * args.project / 2**30:.2f} "
          f"GB, peak {(found['before_mb'] + grown * args.project / args.size) / 1024:.1f} GB resident, "
          f"about {found['seconds'] * args.project / args.size / 60:.1f} minutes")
    RESULTS.mkdir(exist_ok=True)
    record = {"benchmark": "population", "machine": machine(), "size": args.size, "project": args.project, **found}
    (RESULTS / "population.json").write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
