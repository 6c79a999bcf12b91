"""poll.stats against independent references: statsmodels' Wilson interval and a cross-table IPF."""

import numpy as np
import pytest
from statsmodels.stats.proportion import proportion_confint

from poll import iraq
from poll.stats import aapor, disclosure, proportions, weighting


@pytest.mark.parametrize(("count", "n"), [(0, 10), (1, 10), (5, 10), (10, 10), (37, 1000), (9_999, 10_000), (3, 7)])
def test_wilson_matches_statsmodels(count, n):
    low, high = proportion_confint(count, n, alpha=0.05, method="wilson")
    ours = proportions.wilson(count, n)
    assert ours == pytest.approx((low, high), abs=1e-12)
    arrays = proportions.wilson_arrays(np.array([count / n]), n)
    assert (arrays[0][0], arrays[1][0]) == pytest.approx((low, high), abs=1e-12)


def test_wilson_with_no_answers_knows_nothing():
    assert proportions.wilson(0, 0) == (0.0, 1.0)
    low, high = proportions.wilson_arrays(np.array([0.0]), 0)
    assert (low[0], high[0]) == (0.0, 1.0)


def cross_table_ipf(table: np.ndarray, targets: list[np.ndarray], sweeps: int = 2000) -> np.ndarray:
    """Classic iterative proportional fitting of a dense 3-way table to its one-way margins."""
    fitted = table.astype(float).copy()
    total = fitted.sum()
    for _ in range(sweeps):
        for axis, target in enumerate(targets):
            others = tuple(a for a in range(3) if a != axis)
            current = fitted.sum(axis=others)
            shape = [1, 1, 1]
            shape[axis] = -1
            fitted *= (target / target.sum() * total / current).reshape(shape)
    return fitted


def test_raking_matches_cross_table_ipf_to_1e9(rng):
    n = 5000
    gov, sex, age = rng.integers(0, 18, n), rng.integers(0, 2, n), rng.integers(0, 4, n)
    option = (rng.random(n) < 0.2 + 0.03 * gov / 18 + 0.1 * sex).astype(int)
    targets = [rng.random(18) + 0.2, np.array([0.498, 0.502]), np.array([0.377, 0.312, 0.215, 0.096])]
    result = weighting.rake([gov, sex, age], targets, tolerance=1e-13)
    assert result.converged and result.max_gap <= 1e-13
    ours = weighting.weighted_shares(option, result.weights, 2)

    cells = np.zeros((2, 18, 2, 4))
    np.add.at(cells, (option, gov, sex, age), 1)
    fitted = cross_table_ipf(cells.sum(axis=0), targets)
    # Each cell's weight is spread over its respondents; the option split within a cell is kept.
    per_cell = np.divide(fitted, cells.sum(axis=0), out=np.zeros_like(fitted), where=cells.sum(axis=0) > 0)
    reference = np.array([(cells[k] * per_cell).sum() for k in range(2)])
    assert ours == pytest.approx(reference / reference.sum(), abs=1e-9)
    for codes, target in zip([gov, sex, age], targets, strict=True):
        achieved = np.bincount(codes, weights=result.weights) / result.weights.sum()
        assert achieved == pytest.approx(target / target.sum(), abs=1e-9)


def test_raking_refuses_a_category_without_respondents():
    with pytest.raises(weighting.RakingError):
        weighting.rake([np.array([0, 0, 1])], [np.array([0.3, 0.3, 0.4])])


def test_raking_reports_when_it_does_not_converge(rng):
    gov, sex = rng.integers(0, 5, 300), rng.integers(0, 2, 300)
    result = weighting.rake([gov, sex], [np.ones(5), np.array([0.3, 0.7])], max_iterations=1, tolerance=1e-15)
    assert result.iterations == 1
    assert not result.converged and result.max_gap > 1e-15


def test_trim_caps_weights_and_keeps_the_total(rng):
    weights = rng.lognormal(0, 1.2, 2000)
    trimmed = weighting.trim(weights, upper=3.0, lower=0.3)
    mean = weights.mean()
    assert trimmed.sum() == pytest.approx(weights.sum())
    assert trimmed.max() <= 3.0 * mean * (1 + 1e-9)
    assert trimmed.min() >= 0.3 * mean * (1 - 1e-9)


def test_design_effect_and_effective_n():
    weights = np.array([1.0, 1.0, 2.0, 4.0])
    n = len(weights)
    cv2 = weights.var() / weights.mean() ** 2  # population variance, ddof = 0
    assert weighting.kish_deff(weights) == pytest.approx(1 + cv2)
    assert weighting.effective_n(weights) == pytest.approx(weights.sum() ** 2 / (weights**2).sum())
    # Weights given once with frequencies equal the same weights repeated.
    assert weighting.kish_deff(np.array([1.0, 2.0, 4.0]), np.array([2, 1, 1])) == pytest.approx(
        weighting.kish_deff(weights))
    assert weighting.effective_n(weights) == pytest.approx(n / weighting.kish_deff(weights))


def test_trimming_cells_equals_trimming_their_respondents_one_by_one(rng):
    weights = rng.lognormal(0, 1.5, 40)
    counts = rng.integers(1, 9, 40)
    by_cell = weighting.trim(weights, counts.astype(float), upper=2.5, lower=0.4)
    one_by_one = weighting.trim(np.repeat(weights, counts), upper=2.5, lower=0.4)
    np.testing.assert_allclose(np.repeat(by_cell, counts), one_by_one, rtol=1e-9)


def test_a_weighted_estimate_reports_its_largest_weight_within_the_bounds():
    categories = [np.array([0, 0, 1, 1, 0, 1]), np.array([0, 1, 0, 1, 1, 0])]
    targets = [np.array([0.9, 0.1]), np.array([0.5, 0.5])]
    counts = np.array([40.0, 40.0, 2.0, 3.0, 5.0, 1.0])
    estimate = weighting.estimate_from_cells(categories, targets, counts, np.array([0, 1, 0, 1, 2, 2]), 3)
    assert 1.0 < estimate.largest_weight <= weighting.TRIM_UPPER + 1e-9
    assert estimate.shares.sum() == pytest.approx(1.0)


def test_raking_refuses_respondents_in_a_category_without_population():
    # Weighting them 0 would drop their answers without a word.
    with pytest.raises(weighting.RakingError, match="no population"):
        weighting.rake([np.array([0, 1, 2])], [np.array([0.5, 0.5, 0.0])])


def test_collapse_merges_categories_and_sums_their_targets():
    codes, target = weighting.collapse(np.array([0, 3, 2, 1]), np.array([0.1, 0.2, 0.3, 0.4]), (0, 0, 1, 1))
    assert codes.tolist() == [0, 1, 1, 0]
    assert target.tolist() == pytest.approx([0.3, 0.7])


SEX_BY_BAND = (np.array([0, 0, 0, 1, 1, 1]), np.array([0, 1, 2, 0, 1, 2]))
HALF_AND_THIRDS = [np.array([0.5, 0.5]), np.ones(3) / 3]


def test_weights_are_raked_and_trimmed_in_turn_until_margins_and_bounds_both_hold():
    # Twenty answers: raking alone leaves two cells below a fifth of the mean weight; trimming them once, as
    # before, leaves sex 1.8 points off its target while calling the weighting converged.
    counts = np.array([1.0, 1, 1, 1, 8, 8])
    once = weighting.trim(weighting.rake(SEX_BY_BAND, HALF_AND_THIRDS, base_weights=counts).weights / counts, counts)
    assert once.min() >= weighting.TRIM_LOWER * np.average(once, weights=counts) - 1e-12
    assert weighting._max_gap(SEX_BY_BAND, HALF_AND_THIRDS, once * counts) > 0.017
    per_person, raked = weighting.rake_and_trim(SEX_BY_BAND, HALF_AND_THIRDS, counts)
    mean = np.average(per_person, weights=counts)
    assert raked.converged and raked.max_gap < 1e-6
    assert weighting.TRIM_LOWER * mean * (1 - 1e-9) <= per_person.min() <= per_person.max() <= weighting.TRIM_UPPER * mean
    # The estimate's weights are those final ones, and `converged` speaks of them.
    estimate = weighting.estimate_from_cells(list(SEX_BY_BAND), HALF_AND_THIRDS, counts, np.array([0, 1, 0, 1, 0, 1]), 2)
    assert estimate.rake.converged and estimate.rake.max_gap < 1e-6
    assert np.allclose(estimate.weights, per_person / mean)
    sexes = np.bincount(SEX_BY_BAND[0], weights=counts * estimate.weights) / counts.sum()
    assert sexes == pytest.approx([0.5, 0.5], abs=1e-6)


def test_weights_that_cannot_meet_both_margins_and_bounds_are_not_converged():
    # One answer of 25 in a band that is a third of the population would need 8.3 times the mean weight.
    counts = np.array([1.0, 5, 4, 5, 5, 5])
    bands = (np.array([0, 0, 0, 1, 1, 1]), np.array([0, 1, 1, 1, 1, 2]))
    per_person, raked = weighting.rake_and_trim(bands, HALF_AND_THIRDS, counts)
    assert not raked.converged and raked.max_gap > 0.01
    assert per_person.max() <= weighting.TRIM_UPPER * np.average(per_person, weights=counts) * (1 + 1e-9)


def test_weighting_merges_categories_before_giving_up():
    # Four categories, the third without respondents: raking on each fails; merged in pairs it works.
    categories = [np.array([0, 1, 3, 0, 1, 3])]
    targets = [np.array([0.2, 0.3, 0.1, 0.4])]
    counts = np.array([10.0, 20.0, 30.0, 5.0, 5.0, 5.0])
    options = np.array([0, 0, 0, 1, 1, 1])
    merges = [("", {}), ("in pairs", {0: (0, 0, 1, 1)})]
    estimate, how = weighting.estimate_merging(categories, targets, counts, options, 2, merges)
    assert how == "in pairs"
    # Pairs {0, 1} and {2, 3} at 0.5 each: 30 of 40 chose 0 in the first, 30 of 35 in the second.
    assert estimate.shares[0] == pytest.approx(0.5 * 30 / 40 + 0.5 * 30 / 35)
    with pytest.raises(weighting.RakingError):
        weighting.estimate_merging(categories, targets, counts, options, 2, merges[:1])


def test_iraq_weighting_merges_cover_every_governorate_and_age_band():
    plain, regions, both = iraq.weighting_merges()
    assert plain == ("", {})
    governorate = iraq.STRATA.index("governorate")
    assert len(regions[1][governorate]) == len(iraq.governorates())
    assert sorted(set(regions[1][governorate])) == list(range(len(iraq.regions())))
    assert len(both[1][iraq.STRATA.index("age_band")]) == len(iraq.AGE_BANDS)


def test_aapor_rates_from_final_dispositions():
    cases = aapor.Dispositions(complete=40, partial=10, refusal=20, non_contact=30, unknown=50, not_eligible=50)
    rates = aapor.rates(cases)
    e = 100 / 150  # eligible among the cases whose eligibility is known
    assert cases.e == pytest.approx(e)
    assert rates["RR1"] == pytest.approx(40 / 150)
    assert rates["RR2"] == pytest.approx(50 / 150)
    assert rates["RR3"] == pytest.approx(40 / (100 + e * 50))
    assert rates["RR4"] == pytest.approx(50 / (100 + e * 50))
    assert rates["RR5"] == pytest.approx(40 / 100)
    assert rates["RR6"] == pytest.approx(50 / 100)
    assert rates["COOP1"] == pytest.approx(40 / 70) and rates["COOP4"] == pytest.approx(50 / 70)
    assert rates["REF1"] == pytest.approx(20 / 150) and rates["REF3"] == pytest.approx(20 / 100)
    assert rates["CON1"] == pytest.approx(70 / 150) and rates["CON3"] == pytest.approx(70 / 100)
    # Ordered as the definitions say they must be.
    assert rates["RR1"] <= rates["RR3"] <= rates["RR5"] and rates["RR1"] <= rates["RR2"]


def test_aapor_rates_without_cases_are_none():
    rates = aapor.rates(aapor.Dispositions(0, 0, 0, 0, 0, 0))
    assert all(value is None for value in rates.values())


@pytest.mark.parametrize(("shares", "decimals", "expected"), [
    ([1 / 3, 1 / 3, 1 / 3], 0, [34, 33, 33]),
    ([0.335, 0.335, 0.33], 0, [34, 33, 33]),
    ([0.1234, 0.4567, 0.4199], 1, [12.3, 45.7, 42.0]),
    ([0.005, 0.005, 0.99], 0, [1, 0, 99]),
    ([0.0, 0.0, 1.0], 0, [0, 0, 100]),
])
def test_rounded_percentages_sum_to_100_by_largest_remainder(shares, decimals, expected):
    rounded = proportions.rounded_percentages(shares, decimals)
    assert rounded == pytest.approx(expected)
    assert sum(rounded) == pytest.approx(100)


def test_rounded_percentages_sum_to_100_for_any_shares(rng):
    for _ in range(200):
        shares = rng.dirichlet(np.ones(rng.integers(2, 8)))
        rounded = proportions.rounded_percentages(list(shares), 1)
        assert sum(rounded) == pytest.approx(100)
        assert all(abs(r - 100 * s) < 0.1 + 1e-9 for r, s in zip(rounded, shares, strict=True))


def test_balance_before_and_after_weighting():
    codes = np.array([0, 1, 2])
    counts = np.array([60.0, 30.0, 10.0])
    target = np.array([0.2, 0.3, 0.5])
    # Weights that bring each category to its target exactly: 0.2/0.6, 0.3/0.3, 0.5/0.1 per respondent.
    weights = np.array([0.2 / 0.6, 1.0, 5.0])
    before, after = weighting.balance(codes, target, counts, weights)
    assert before == pytest.approx(max(abs(s - t) / np.sqrt(t * (1 - t)) for s, t in zip([0.6, 0.3, 0.1], target,
                                                                                           strict=True)))
    assert after == pytest.approx(0.0, abs=1e-12)


def test_weight_spread_counts_each_respondent():
    spread = weighting.spread_of(np.array([1.0, 2.0, 4.0]), np.array([2, 1, 1]))
    mean = (1 + 1 + 2 + 4) / 4
    assert spread["min"] == pytest.approx(1 / mean) and spread["max"] == pytest.approx(4 / mean)
    assert spread["median"] == pytest.approx(1 / mean) and spread["q3"] == pytest.approx(2 / mean)


def test_a_change_that_only_sums_to_nothing_is_a_change():
    # An answer moved out of a hidden group while another came in: one in, one out tells both.
    assert not disclosure.is_safe_change(np.array([1, -1, 0]))
    assert disclosure.is_safe_change(np.array([0, 0, 0]))
    assert disclosure.is_safe_change(np.array([6, 5, 0]))
    assert not disclosure.is_safe_change(np.array([6, 5, -1]))
