"""Summaries of whole-number answers kept as counts per value (an age and how many gave it)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np


def summary(counts: Mapping[int, int]) -> dict[str, float | int]:
    """n, mean, median and quartiles of the values in `counts` (value -> how many), as if each were listed.

    Quantiles are NumPy's default ("linear", Hyndman and Fan type 7), found
    from the cumulative counts, so a million answers cost what their few
    distinct values do. Empty counts give n = 0 and no figures.
    """
    values = np.array(sorted(v for v, n in counts.items() if n > 0), dtype=float)
    weights = np.array([counts[int(v)] for v in values], dtype=np.int64)
    n = int(weights.sum())
    if n == 0:
        return {"n": 0, "mean": None, "median": None, "q1": None, "q3": None}
    ends = np.cumsum(weights)  # the sorted list's last position (1-based) of each value

    def nth(k: int) -> float:
        # The k-th smallest (0-based) of the listed values.
        return float(values[np.searchsorted(ends, k + 1)])

    def quantile(p: float) -> float:
        h = (n - 1) * p
        low = int(np.floor(h))
        return nth(low) + (h - low) * (nth(min(low + 1, n - 1)) - nth(low))

    return {
        "n": n,
        "mean": float((values * weights).sum() / n),
        "median": quantile(0.5),
        "q1": quantile(0.25),
        "q3": quantile(0.75),
    }
