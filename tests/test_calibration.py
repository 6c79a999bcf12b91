"""poll.stats.calibration against hand computations and statsmodels: the raked estimate's linearised variance and
propensity weights against a reference survey."""

import numpy as np
import pytest
import statsmodels.api as sm

from poll.stats import calibration, weighting


def one_margin_poll():
    # Two strata, A (population 70%) and B (30%); answers 0/1 per cell. A: 6 say 1 of 20; B: 9 say 1 of 10.
    strata = np.array([0, 0, 1, 1])
    options = np.array([0, 1, 0, 1])
    counts = np.array([14.0, 6.0, 1.0, 9.0])
    return strata, options, counts


def test_raked_to_one_margin_the_variance_is_the_post_stratified_one_by_hand():
    strata, options, counts = one_margin_poll()
    per_person = np.array([0.7 / 20, 0.7 / 20, 0.3 / 10, 0.3 / 10])
    variances = calibration.linearised_variances([strata], [2], counts, per_person, options, 2)
    # By hand: residuals are y minus the stratum's mean; sum over people of (w e)^2, times n / (n - 1).
    within_a = 14 * (0 - 0.3) ** 2 + 6 * (1 - 0.3) ** 2
    within_b = 1 * (0 - 0.9) ** 2 + 9 * (1 - 0.9) ** 2
    expected = 30 / 29 * ((0.7 / 20) ** 2 * within_a + (0.3 / 10) ** 2 * within_b)
    assert variances[1] == pytest.approx(expected, rel=1e-12)
    assert variances[0] == pytest.approx(expected, rel=1e-12)  # the other option's share moves with it


def test_with_no_margins_it_is_the_srs_variance_at_equal_weights():
    strata, options, counts = one_margin_poll()
    variances = calibration.linearised_variances([], [], counts, np.ones(4), options, 2)
    p = 15 / 30
    assert variances[1] == pytest.approx(p * (1 - p) / 29, rel=1e-12)


def test_the_residuals_are_statsmodels_weighted_least_squares_ones(rng):
    # Two margins raked, a person-level poll: the variance from statsmodels' WLS residuals of the estimating variable.
    n = 400
    region, sex = rng.integers(0, 3, n), rng.integers(0, 2, n)
    answer = (rng.random(n) < 0.2 + 0.2 * region).astype(int)
    raked = weighting.rake([region, sex], [np.array([0.5, 0.3, 0.2]), np.array([0.5, 0.5])])
    w = raked.weights
    y = answer.astype(float)
    p = np.sum(w * y) / w.sum()
    design = calibration.indicators([region, sex], [3, 2])[:, [0, 1, 2, 4]]  # the same space, of full rank
    fit = sm.WLS((y - p) / w.sum(), design, weights=w).fit()
    z = w * fit.resid
    expected = n / (n - 1) * np.sum((z - z.mean()) ** 2)
    ours = calibration.linearised_variances([region, sex], [3, 2], np.ones(n), w, answer, 2)
    assert ours[1] == pytest.approx(expected, rel=1e-9)


def test_raking_on_what_predicts_the_answer_is_priced_below_kish(rng):
    # The margin predicts the answer well: the calibrated variance is well below the SRS variance at Kish's n.
    n = 2000
    region = rng.choice(3, n, p=[0.6, 0.3, 0.1])
    answer = (rng.random(n) < np.array([0.1, 0.5, 0.9])[region]).astype(int)
    raked = weighting.rake([region], [np.array([0.3, 0.3, 0.4])])
    share = np.sum(raked.weights * answer) / raked.weights.sum()
    kish = share * (1 - share) / weighting.effective_n(raked.weights)
    calibrated = calibration.linearised_variances([region], [3], np.ones(n), raked.weights, answer, 2)[1]
    assert calibrated < 0.6 * kish


def test_calibrated_intervals_are_wilson_at_the_size_the_variance_implies():
    low, high = calibration.intervals(np.array([0.3, 0.0]), np.array([0.3 * 0.7 / 500, 0.0]))
    wilson = calibration.proportions.wilson(150, 500)
    assert (low[0], high[0]) == pytest.approx(wilson)
    assert (low[1], high[1]) == (0.0, 1.0)  # nothing known: no size at all


def test_propensity_on_one_variable_is_post_stratification_to_the_reference():
    # A saturated model: the odds of being in the reference rather than the poll are exactly each cell's
    # reference share over its poll share, so the weighted shares are the reference-weighted ones.
    strata, options, counts = one_margin_poll()
    reference = np.array([0] * 7 + [1] * 3)
    found = calibration.propensity_estimate([strata], counts, options, 2, [reference], np.full(10, 5.0), [2])
    assert found.converged
    assert found.shares[1] == pytest.approx(0.7 * 0.3 + 0.3 * 0.9, abs=1e-6)
    assert found.weights[2] / found.weights[0] == pytest.approx((0.3 / 10) / (0.7 / 20), rel=1e-6)


def test_reference_design_weights_count_not_its_rows():
    strata, options, counts = one_margin_poll()
    reference = np.array([0, 1])  # one row each, but A's stands for 7 people and B's for 3
    found = calibration.propensity_estimate([strata], counts, options, 2, [reference], np.array([7.0, 3.0]), [2])
    assert found.shares[1] == pytest.approx(0.7 * 0.3 + 0.3 * 0.9, abs=1e-6)


def test_respondents_where_the_reference_has_nobody_are_refused():
    strata, options, counts = one_margin_poll()
    with pytest.raises(calibration.PropensityError):
        calibration.propensity_estimate([strata], counts, options, 2, [np.zeros(5, dtype=int)], np.ones(5), [2])


def test_targets_from_a_survey_add_their_own_variance_through_the_regression():
    # Post-stratified to A/B shares that a survey of 400 estimated: the estimate is 0.3 tA + 0.9 tB, so its
    # variance grows by (0.9 - 0.3)^2 var(tA), var(tA) = 0.7 * 0.3 / 400.
    strata, options, counts = one_margin_poll()
    per_person = np.array([0.7 / 20, 0.7 / 20, 0.3 / 10, 0.3 / 10])
    known = calibration.linearised_variances([strata], [2], counts, per_person, options, 2)
    covariance = calibration.share_covariance(np.array([0.7, 0.3]), 400)
    estimated = calibration.linearised_variances([strata], [2], counts, per_person, options, 2,
                                                 target_covariances={0: covariance})
    assert estimated[1] - known[1] == pytest.approx(0.6**2 * 0.7 * 0.3 / 400, rel=1e-9)
