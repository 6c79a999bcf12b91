"""The ground truth of a simulated population: true shares overall and by stratum, and its margins."""

from __future__ import annotations

import numpy as np

from poll import iraq
from poll.simulate.population import Population
from poll.simulate.scenario import OPTIONS

STRATA = ("governorate", "sex", "age_band")


def labels(stratum: str) -> list[str]:
    """The category labels of a stratum, in index order."""
    if stratum == "governorate":
        return [gov.code for gov in iraq.governorates()]
    if stratum == "sex":
        return ["M", "F"]
    return list(iraq.AGE_BANDS)


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
            label: _shares(opinion[index == position]) for position, label in enumerate(labels(stratum))
        }
    return truth


def margins(population: Population) -> dict[str, dict[str, float]]:
    """The population's share of each category on each weighting margin."""
    out = {}
    for stratum in STRATA:
        counts = np.bincount(codes(population, stratum), minlength=len(labels(stratum)))
        out[stratum] = {label: float(c / len(population)) for label, c in zip(labels(stratum), counts, strict=True)}
    return out


def census_margins() -> dict[str, dict[str, float]]:
    """Adult population margins from the census figures, for weighting real polls."""
    governorates = iraq.governorates()
    total = sum(gov.population for gov in governorates)
    bands = iraq.age_band_shares()
    male_share = iraq.male_share_by_age_band()
    male = sum(bands[band] * male_share[band] for band in iraq.AGE_BANDS)
    return {
        "governorate": {gov.code: gov.population / total for gov in governorates},
        "sex": {"M": male, "F": 1 - male},
        "age_band": dict(bands),
    }
