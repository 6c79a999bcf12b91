"""Weighting against a reference: a simulated reference survey in the Monte Carlo, references uploaded with their
source, raking on profile questions against them, and propensity weighting beside raking."""

import numpy as np

from poll.simulate import comparison


def test_a_reference_survey_lets_weighting_remove_what_education_adds():
    found = comparison.reference_rows(20, population_size=60_000, sample_size=40_000, names=("baseline",),
                                      progress=False)
    figures = found[0].mc.estimators
    support = comparison.SUPPORT
    demography = abs(figures["demography"].bias[support])
    assert abs(figures["education"].bias[support]) < demography / 2
    assert abs(figures["propensity"].bias[support]) < demography / 2
    # Raking on what predicts the answers: the calibration-aware interval is narrower than Kish's.
    for name in ("demography", "education"):
        assert np.all(figures[name].width["linearised"] < figures[name].width["kish"])
    table = comparison.reference_markdown(found).splitlines()
    assert len(table) == 2 + 3 and all(line.count("|") == 11 for line in table)
    assert "propensity (reference survey)" in table[-1]
