"""Differentially private counts, through OpenDP, and what their noise does to the figures made from them.

A public release of a poll's answers is a set of count tables (answers by
governorate and option, by sex and option, ...). Each person is in at most
`sensitivity` cells of a table, so adding or removing one person moves the
table by at most that much in L1; OpenDP's Laplace mechanism over integers
(the discrete Laplace, or geometric, mechanism) adds noise of scale
sensitivity / epsilon to every cell. The tables' epsilons add up (basic
composition) to the release's. Everything computed from the noisy tables
afterwards -- shares, weighted estimates, intervals -- is post-processing
and costs no more privacy.

Pure NumPy and OpenDP: no Flask, no database.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

MECHANISM = "discrete Laplace (OpenDP make_laplace over integer counts)"


@dataclass(frozen=True)
class Table:
    """A count table to release: its cells, and how many of them one person can change by one (L1)."""

    counts: np.ndarray
    sensitivity: int = 1


@dataclass(frozen=True)
class NoisyTable:
    """A released table: noisy integer counts (may be negative), the noise's scale, and what it spent."""

    counts: np.ndarray
    scale: float
    epsilon: float

    @property
    def variance(self) -> float:
        """The variance of one cell's noise."""
        return noise_variance(self.scale)

    def clipped(self) -> np.ndarray:
        """The counts with negative ones read as 0 (post-processing: what a count can be)."""
        return np.clip(self.counts, 0, None).astype(float)


def noise_variance(scale: float) -> float:
    """The variance of discrete Laplace noise of `scale`: 2a / (1 - a)^2 with a = exp(-1/scale)."""
    a = math.exp(-1.0 / scale)
    return 2.0 * a / (1.0 - a) ** 2


def release(tables: Mapping[str, Table], epsilon: float, shares: Mapping[str, float]) -> dict[str, NoisyTable]:
    """Every table of `tables` with noise, the release spending `epsilon` in all, split by `shares` (relative).

    Raises ValueError for a budget that is not positive. The noise comes from
    OpenDP's own generator, which no seed reproduces: a release cannot be
    made again with the same noise and subtracted out.
    """
    if not epsilon > 0:
        raise ValueError("a release needs a positive privacy-loss budget")
    import opendp.prelude as dp  # loaded only when a release is made

    dp.enable_features("contrib")
    space = (dp.vector_domain(dp.atom_domain(T=int)), dp.l1_distance(T=int))
    total = sum(shares[name] for name in tables)
    out = {}
    for name, table in tables.items():
        spend = epsilon * shares[name] / total
        scale = table.sensitivity / spend
        measurement = dp.m.make_laplace(*space, scale=scale)
        spent = measurement.map(table.sensitivity)
        if spent > spend * (1 + 1e-9):  # OpenDP's own accounting must agree with the plan
            raise RuntimeError(f"table {name} would spend {spent}, more than its {spend}")
        cells = np.asarray(table.counts, dtype=np.int64)
        noisy = np.array(measurement(cells.ravel().tolist()) if cells.size else [], dtype=np.int64)
        out[name] = NoisyTable(noisy.reshape(cells.shape), scale, float(spent))
    return out


def combined_totals(tables: list[NoisyTable]) -> tuple[np.ndarray, np.ndarray]:
    """Per column, the total of several noisy tables of the same people (each row x column), combined by
    inverse variance: the estimate and its noise variance."""
    estimates, precisions = [], []
    for table in tables:
        rows = table.counts.shape[0]
        estimates.append(table.counts.sum(axis=0).astype(float))
        # A budget so large that the noise vanishes still weighs each table by its number of rows.
        precisions.append(1.0 / (rows * max(table.variance, 1e-12)))
    weights = np.array(precisions)
    estimate = sum(w * e for w, e in zip(weights, estimates, strict=True)) / weights.sum()
    return estimate, np.full(len(estimate), 1.0 / weights.sum())


def noise_sd(statistic: Callable[[dict[str, np.ndarray]], np.ndarray], tables: Mapping[str, NoisyTable],
             rng: np.random.Generator, draws: int = 60) -> np.ndarray:
    """How much of `statistic` (computed from noisy counts) is noise: its standard deviation when the same
    noise is added again to the released counts (a parametric bootstrap). Post-processing only."""
    values = []
    for _ in range(draws):
        again = {}
        for name, table in tables.items():
            # The difference of two geometric variables is discrete Laplace with the same scale.
            p = 1.0 - math.exp(-1.0 / table.scale)
            noise = rng.geometric(p, table.counts.shape) - rng.geometric(p, table.counts.shape)
            again[name] = table.counts + noise
        found = statistic(again)
        if found is not None:
            values.append(np.asarray(found, dtype=float))
    if len(values) < 2:
        return None
    return np.std(np.array(values), axis=0, ddof=1)
