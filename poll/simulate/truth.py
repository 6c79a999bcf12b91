"""The ground truth of a simulated population: true shares overall and by stratum, and its margins."""

from __future__ import annotations

import numpy as np

from poll.iraq import STRATA, categories
from poll.simulate.population import Population
from poll.simulate.scenario import OPTIONS


def codes(population: Population, stratum: str) -> np.ndarray:
    """Each person's category index on a stratum."""
    return getattr(population, stratum)


def _shares(values: np.ndarray) -> dict[str, float]:
    counts = np.bincount(values, minlength=len(OPTIONS))
    total = counts.sum()
    return {code: (float(count / total) if total else 0.0) for code, count in zip(OPTIONS, counts, strict=True)}


def true_shares(population: Population, opinion: np.ndarray) -> dict:
    """{"overall": {code: share}, "governorate": {IQ-XX: {code: share}}, "sex": ..., "age_band": ...}."""
    truth: dict = {"overall": _shares(opinion)}
    for stratum in STRATA:
        index = codes(population, stratum)
        truth[stratum] = {
            label: _shares(opinion[index == position]) for position, label in enumerate(categories(stratum))
        }
    return truth


def margins(population: Population) -> dict[str, dict[str, float]]:
    """The population's share of each category on each weighting margin."""
    out = {}
    for stratum in STRATA:
        counts = np.bincount(codes(population, stratum), minlength=len(categories(stratum)))
        out[stratum] = {label: float(c / len(population)) for label, c in zip(categories(stratum), counts, strict=True)}
    return out
