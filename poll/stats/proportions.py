"""Shares and their intervals."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

Z95 = 1.959963984540054


def wilson(count: float, n: float, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for the proportion count/n; (0, 1), knowing nothing, when n is 0.

    `n` may be an effective sample size (not a whole number) for weighted shares.
    """
    if n <= 0:
        return (0.0, 1.0)
    p = count / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def wilson_arrays(p: np.ndarray, n: np.ndarray | float, z: float = Z95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson intervals for arrays of shares `p` with sample sizes `n` (vectorised `wilson`)."""
    p = np.asarray(p, dtype=float)
    n = np.broadcast_to(np.asarray(n, dtype=float), p.shape)
    safe = np.where(n > 0, n, 1.0)
    z2 = z * z
    centre = (p + z2 / (2 * safe)) / (1 + z2 / safe)
    half = z * np.sqrt(p * (1 - p) / safe + z2 / (4 * safe * safe)) / (1 + z2 / safe)
    low = np.where(n > 0, np.clip(centre - half, 0, 1), 0.0)
    high = np.where(n > 0, np.clip(centre + half, 0, 1), 1.0)
    return low, high


def difference(count1: float, n1: float, count2: float, n2: float, z: float = Z95) -> tuple[float, float, float]:
    """The difference of two independent shares, count1/n1 - count2/n2, and its Newcombe hybrid score interval.

    Newcombe's method 10 (1998): each share's Wilson interval, combined
    through the square root of the summed squared distances. Good coverage
    even for shares near 0 or 1 and small groups, where the Wald interval is
    too narrow. Returns (difference, low, high); (nan, -1, 1) when a group is empty.
    """
    if n1 <= 0 or n2 <= 0:
        return (math.nan, -1.0, 1.0)
    p1, p2 = count1 / n1, count2 / n2
    low1, high1 = wilson(count1, n1, z)
    low2, high2 = wilson(count2, n2, z)
    d = p1 - p2
    return (d, d - math.sqrt((p1 - low1) ** 2 + (high2 - p2) ** 2), d + math.sqrt((high1 - p1) ** 2 + (p2 - low2) ** 2))


def difference_arrays(p1: np.ndarray, n1: np.ndarray, p2: np.ndarray, n2: np.ndarray,
                      z: float = Z95) -> tuple[np.ndarray, np.ndarray]:
    """Newcombe intervals for arrays of share differences p1 - p2 (vectorised `difference`)."""
    low1, high1 = wilson_arrays(p1, n1, z)
    low2, high2 = wilson_arrays(p2, n2, z)
    d = np.asarray(p1, dtype=float) - np.asarray(p2, dtype=float)
    return d - np.sqrt((p1 - low1) ** 2 + (high2 - p2) ** 2), d + np.sqrt((high1 - p1) ** 2 + (p2 - low2) ** 2)


def rounded_percentages(shares: list[float], decimals: int = 0) -> list[float]:
    """`shares` (summing to 1) as percentages rounded to `decimals` places that sum to exactly 100.

    Largest remainder (Hamilton): every share is rounded down, then the units
    left over go to the shares that lost the most. Shares that do not sum to 1
    (nothing answered) are rounded one by one.
    """
    scale = 10**decimals
    units = [share * 100 * scale for share in shares]
    if not shares or abs(sum(shares) - 1) > 1e-9:
        return [round(unit) / scale for unit in units]
    floors = [math.floor(unit + 1e-9) for unit in units]
    left = round(100 * scale - sum(floors))
    by_remainder = sorted(range(len(units)), key=lambda i: (floors[i] - units[i], i))
    for i in by_remainder[:left]:
        floors[i] += 1
    return [floor / scale for floor in floors]


def shown_percentages(shares: Sequence[float | None], decimals: int = 1) -> list[float | None]:
    """The shares of one set as they are shown, in percent to `decimals` places: together, by largest remainder.

    Shares rounded one by one sum to 99.9 or 100.1 about a quarter of the time, and readers take that for an
    error. A set with a share withheld (None) or unknown (NaN) cannot sum to 100 as shown: its other shares are
    rounded one by one, as are shares that do not sum to 1 (several answers per person).
    """
    if any(share is None or not math.isfinite(share) for share in shares):
        scale = 10**decimals
        return [None if share is None else round(share * 100 * scale) / scale if math.isfinite(share)
                else float(share) * 100 for share in shares]
    return list(rounded_percentages([float(share) for share in shares], decimals))


def difference_p(difference: float, variance: float) -> float:
    """The two-sided p-value of a difference of proportions under a normal approximation with `variance`."""
    if variance <= 0:
        return 1.0 if difference == 0 else 0.0
    return math.erfc(abs(difference) / math.sqrt(2 * variance))


def holm(p_values: list[float], alpha: float = 0.05) -> list[bool]:
    """Holm's step-down: which of a family of hypotheses are rejected, the chance of any false rejection kept at `alpha`.

    Several answers compared across several ways of asking make many tests:
    unadjusted, a fifth of experiments with no effect at all would show a
    starred difference.
    """
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    rejected = [False] * len(p_values)
    for rank, i in enumerate(order):
        if p_values[i] > alpha / (len(p_values) - rank):
            break
        rejected[i] = True
    return rejected
