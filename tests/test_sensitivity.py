"""The sensitivity range: what a weighted share would be if, within weighting groups, those choosing an answer
were more or less likely to answer than the others."""

from __future__ import annotations

import numpy as np
import pytest

from poll.stats import proportions, sensitivity, weighting


def test_one_group_moves_by_the_odds_ratio_exactly():
    # 100 respondents of one group, 20 chose answer 0: were they half as likely to answer, they stand for twice as
    # many, 40 of 120; were they twice as likely, 10 of 90.
    groups, weights, options = np.array([0, 0]), np.array([20.0, 80.0]), np.array([0, 1])
    assert sensitivity.shifted_shares(groups, weights, options, 2, 2.0)[0] == pytest.approx(40 / 120)
    assert sensitivity.shifted_shares(groups, weights, options, 2, 0.5)[0] == pytest.approx(10 / 90)
    assert sensitivity.shifted_shares(groups, weights, options, 2, 1.0) == pytest.approx([0.2, 0.8])


def test_each_group_keeps_its_weight():
    # Two groups of equal weight, 10% and 50% choosing answer 0: each moves within itself, then they are averaged.
    groups, weights, options = np.array([0, 0, 1, 1]), np.array([10.0, 90, 50, 50]), np.array([0, 1, 0, 1])
    expected = (20 / 110 + 100 / 150) / 2
    assert sensitivity.shifted_shares(groups, weights, options, 2, 2.0)[0] == pytest.approx(expected)


def test_groups_are_the_cells_alike_on_every_margin():
    assert sensitivity.groups_of([np.array([0, 0, 1, 1]), np.array([1, 1, 0, 1])]).tolist() == [0, 0, 1, 2]


def test_the_range_holds_a_truth_that_weighting_cannot_see():
    # Two regions of a population, 30% support in each; supporters answer little more than half as often as others
    # in both, so raking on region is blind to it: the weighted share sits near 19%, its interval misses 30%.
    rng = np.random.default_rng(11)
    population = {0: 600_000, 1: 400_000}
    cells, counts, chosen = [], [], []
    for region, size in population.items():
        supporters = rng.binomial(int(size * 0.3), 0.011)
        others = rng.binomial(int(size * 0.7), 0.02)
        cells += [region, region]
        counts += [supporters, others]
        chosen += [0, 1]
    cells, counts, chosen = np.array(cells), np.array(counts, dtype=float), np.array(chosen)
    estimate = weighting.estimate_from_cells([cells], [np.array([0.6, 0.4])], counts, chosen, 2)
    intervals = np.array([proportions.wilson(s * estimate.effective_n, estimate.effective_n)
                          for s in estimate.shares])
    assert not intervals[0, 0] <= 0.3 <= intervals[0, 1]
    found = sensitivity.selection_range(cells, estimate.weights * counts, chosen, 2, 2.0,
                                        shares=estimate.shares, intervals=intervals)
    assert found.holds(np.array([0.3, 0.7])).all()
    assert found.low[0] < intervals[0, 0] and found.high[0] > intervals[0, 1]  # wider: it adds the selection
    modest = sensitivity.selection_range(cells, estimate.weights * counts, chosen, 2, 1.5,
                                         shares=estimate.shares, intervals=intervals)
    assert not modest.holds(np.array([0.3, 0.7]))[0]  # a ratio of 1.5 does not reach a true one of 1.8


def test_the_range_is_clipped_to_shares():
    found = sensitivity.selection_range(np.array([0, 0]), np.array([1.0, 99.0]), np.array([0, 1]), 2, 2.0,
                                        shares=np.array([0.01, 0.99]), intervals=np.array([[0.0, 0.05], [0.95, 1.0]]))
    assert found.low.min() >= 0 and found.high.max() <= 1
