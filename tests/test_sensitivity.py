"""The sensitivity range: what a weighted share would be if, within weighting groups, those choosing an answer
were more or less likely to answer than the others."""

from __future__ import annotations

import json

import numpy as np
import pytest

from poll.stats import proportions, sensitivity, weighting


def test_one_group_moves_by_the_odds_ratio_exactly():
    # 100 respondents of one group, 20 chose answer 0: were they half as likely to answer, they stand for twice as
    # many, 40 of 120; were they twice as likely, 10 of 90.
    groups, weights, options = np.array([0, 0]), np.array([20.0, 80.0]), np.array([0, 1])
    assert sensitivity.shifted_shares([groups], weights, options, 2, 2.0)[0] == pytest.approx(40 / 120)
    assert sensitivity.shifted_shares([groups], weights, options, 2, 0.5)[0] == pytest.approx(10 / 90)
    assert sensitivity.shifted_shares([groups], weights, options, 2, 1.0) == pytest.approx([0.2, 0.8])


def test_each_group_keeps_its_weight():
    # Two groups of equal weight, 10% and 50% choosing answer 0: each moves within itself, then they are averaged.
    groups, weights, options = np.array([0, 0, 1, 1]), np.array([10.0, 90, 50, 50]), np.array([0, 1, 0, 1])
    expected = (20 / 110 + 100 / 150) / 2
    assert sensitivity.shifted_shares([groups], weights, options, 2, 2.0)[0] == pytest.approx(expected)


def test_each_answer_moves_on_its_own_within_the_margins():
    # Governorate and sex as two margins: each answer, against all the others, gains at odds 2 and loses at 1/2;
    # the answers' ranges are separate statements, so they need not sum to 1.
    governorate, sex = np.array([0, 0, 1, 1, 0, 1]), np.array([0, 1, 0, 1, 1, 0])
    weights, options = np.array([5.0, 20, 10, 30, 15, 20]), np.array([0, 0, 0, 1, 1, 1])
    plain = np.array([35, 65]) / 100
    assert (sensitivity.shifted_shares([governorate, sex], weights, options, 2, 2.0) > plain).all()
    assert (sensitivity.shifted_shares([governorate, sex], weights, options, 2, 0.5) < plain).all()
    assert sensitivity.shifted_shares([governorate, sex], weights, options, 2, 1.0) == pytest.approx(plain)


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
    found = sensitivity.selection_range([cells], estimate.weights * counts, chosen, 2, 2.0,
                                        shares=estimate.shares, intervals=intervals)
    assert found.holds(np.array([0.3, 0.7])).all()
    assert found.low[0] < intervals[0, 0] and found.high[0] > intervals[0, 1]  # wider: it adds the selection
    modest = sensitivity.selection_range([cells], estimate.weights * counts, chosen, 2, 1.5,
                                         shares=estimate.shares, intervals=intervals)
    assert not modest.holds(np.array([0.3, 0.7]))[0]  # a ratio of 1.5 does not reach a true one of 1.8


def test_the_range_is_clipped_to_shares():
    found = sensitivity.selection_range([np.array([0, 0])], np.array([1.0, 99.0]), np.array([0, 1]), 2, 2.0,
                                        shares=np.array([0.01, 0.99]), intervals=np.array([[0.0, 0.05], [0.95, 1.0]]))
    assert found.low.min() >= 0 and found.high.max() <= 1


def test_in_the_mobilised_opponents_world_the_range_holds_the_truth_the_interval_misses():
    # Opinion itself makes people answer: raking on governorate, sex and age cannot see it, and the weighted
    # interval never holds the true support; the range at odds of answering up to 3 (the world's own odds are
    # about 2.6) holds it nearly always, at 2 often, at 1.5 seldom.
    from poll.simulate import montecarlo, scenario
    from poll.simulate.comparison import SUPPORT

    mc = montecarlo.run(scenario.load("mobilized-opponents"), population_size=60_000, sample_size=40_000,
                        replications=40, seed=7)
    assert mc.weighted.coverage[SUPPORT] == 0
    assert mc.range_coverage[3.0][SUPPORT] >= 0.95
    assert mc.range_coverage[2.0][SUPPORT] >= 0.3
    assert mc.range_coverage[1.5][SUPPORT] < mc.range_coverage[2.0][SUPPORT]
    # The MUBP range, phi from 0 to 1, moves toward the truth but stops short: supporters here answer less as a
    # block (a step in their odds), not the more the stronger their opinion, which is what its model assumes.
    phi_0, phi_1 = mc.index_means[SUPPORT, 0], mc.index_means[SUPPORT, -1]
    assert phi_0 + 0.03 < phi_1 < mc.true_shares[SUPPORT] - 0.02
    assert mc.index_coverage[SUPPORT] < mc.range_coverage[2.0][SUPPORT]
    # Where answering does not depend on opinion, the range holds the truth whenever the interval does.
    calm = montecarlo.run(scenario.load("baseline"), population_size=60_000, sample_size=40_000,
                          replications=40, seed=7)
    assert calm.range_coverage[1.5][SUPPORT] >= calm.weighted.coverage[SUPPORT]


def test_monte_carlo_targets_carry_their_stated_error():
    from poll.simulate import montecarlo

    rng = np.random.default_rng(5)
    truth = np.full(18, 1 / 18)
    draws = np.array([montecarlo.drawn_targets([truth], ["governorate"], rng)[0] for _ in range(4_000)])
    assert draws.sum(axis=1) == pytest.approx(np.ones(4_000))
    assert (draws.std(axis=0) / truth).mean() == pytest.approx(montecarlo.TARGET_ERROR["governorate"], rel=0.05)
    sexes = np.array([0.5, 0.5])
    assert montecarlo.drawn_targets([sexes], ["education"], rng)[0] is sexes  # no error stated: the truth


def test_target_error_moves_the_weighted_estimates_not_the_answers():
    from poll.simulate import montecarlo, scenario

    runs = [montecarlo.run(scenario.load("baseline"), population_size=30_000, sample_size=20_000,
                           replications=10, seed=3, target_error=error) for error in (False, True)]
    assert np.array_equal(runs[0].raw.values, runs[1].raw.values)
    assert not np.allclose(runs[0].weighted.values, runs[1].weighted.values)
    assert runs[1].target_error and not runs[0].target_error


def test_an_unconverged_replication_is_counted_as_published_unweighted():
    from types import SimpleNamespace

    from poll.simulate import montecarlo

    raked = SimpleNamespace(rake=SimpleNamespace(converged=False), shares=np.array([0.9, 0.1]), effective_n=50.0,
                            weights=np.array([3.0, 0.2]))
    raw = np.array([0.5, 0.5])
    shares, hits, _ranges, _index = montecarlo._published(raked, [np.array([0, 0])], np.array([0, 1]), np.array([50.0, 50.0]),
                                                  raw, 100, np.array([0.5, 0.5]), 2)
    assert shares is raw and hits.all()


# Beside the weighted estimate, wherever it is shown.

def test_the_operator_json_gives_each_answer_its_range_around_the_weighted_share(runner, simulated):
    result = runner.invoke(args=["results", "sim", "--json"])
    document = json.loads(result.output)
    found = document["selection_range"]
    assert found["ratios"] == [1.5, 2.0, 3.0] and "k times more likely" in found["assumption"]
    for option, item in zip(document["options"], found["options"], strict=True):
        assert item["code"] == option["code"]
        modest, wide, widest = item["ranges"]["1.5"], item["ranges"]["2"], item["ranges"]["3"]
        assert widest[0] <= wide[0] <= modest[0] <= option["weighted_ci95"][0] <= option["weighted_share"]
        assert option["weighted_share"] <= option["weighted_ci95"][1] <= modest[1] <= wide[1] <= widest[1]


def test_the_public_release_carries_the_range_of_its_own_noisy_estimate(client, session, simulated):
    document = client.get("/api/v1/polls/sim/results").get_json()
    found = document["selection_range"]
    for option, item in zip(document["options"], found["options"], strict=True):
        low, high = item["ranges"]["2"]
        assert low <= option["weighted_ci95"][0] and option["weighted_ci95"][1] <= high
    described = json.dumps(client.get("/api/v1/openapi.json").get_json())
    assert "selection_range" in described


@pytest.mark.parametrize(("lang", "caption"), [
    ("en", "If answering depended on the answer itself"),
    ("ar", "لو كانت الإجابة عن الاستطلاع تتوقف على الجواب نفسه"),
    ("ku", "ئەگەر وەڵامدانەوە بە خودی وەڵامەکە بەستراو بووایە"),
])
def test_the_range_is_shown_beside_the_estimate_in_each_language(client, login, simulated, lang, caption):
    public = client.get(f"/results/sim?lang={lang}").get_data(as_text=True)
    estimate = public.split('id="h-estimate"')[1].split("</section>")[0]
    assert caption in estimate and "selection-range" in estimate
    assert caption in client.get(f"/results/sim/methodology?lang={lang}").get_data(as_text=True)
    login()
    assert caption in client.get(f"/dashboard/sim?lang={lang}").get_data(as_text=True)


def test_without_a_weighted_estimate_there_is_no_range(client, runner, make_poll, make_links):
    tokens = make_links(make_poll("few"), count=12)
    for i, token in enumerate(tokens):
        client.post(f"/p/{token}", data={"option": "123"[i % 3]})
    document = json.loads(runner.invoke(args=["results", "few", "--json"]).output)
    assert document["options"][0]["weighted_share"] is None and "selection_range" not in document
    assert "If answering depended" not in client.get("/results/few?lang=en").get_data(as_text=True)


def test_the_dashboards_monte_carlo_says_how_often_the_range_held_the_truth(client, runner, make_poll, login):
    make_poll("mc-range", status="draft")
    result = runner.invoke(args=["simulate", "mc-range", "--replications", "20", "--population", "20000",
                                 "--sample", "10000", "--seed", "2", "--scenario", "mobilized-opponents", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert set(summary["options"][2]["range_coverage"]) == {"1.5", "2", "3"}
    assert summary["target_error"] == {"governorate": 0.1, "sex": 0.01, "age_band": 0.05}
    login()
    shown = client.get("/dashboard/mc-range?lang=en").get_data(as_text=True)
    assert "range holds truth (odds up to 2×)" in shown and "range holds truth (odds up to 3×)" in shown
    assert "المدى يشمل الحقيقة" in client.get("/dashboard/mc-range?lang=ar").get_data(as_text=True)


def test_the_dashboards_monte_carlo_says_how_often_the_mubp_range_held_the_truth(client, runner, make_poll, login):
    make_poll("mc-index", status="draft")
    result = runner.invoke(args=["simulate", "mc-index", "--replications", "10", "--population", "20000",
                                 "--sample", "10000", "--seed", "2", "--json"])
    assert result.exit_code == 0, result.output
    coverage = [option["index_coverage"] for option in json.loads(result.output)["options"]]
    assert all(0 <= share <= 1 for share in coverage)
    text = runner.invoke(args=["simulate", "mc-index", "--replications", "10", "--population", "20000",
                               "--sample", "10000", "--seed", "2"]).output
    assert "MUBP range (Andridge-Little, phi 0 to 1) held the truth" in text
    login()
    assert "MUBP range holds truth" in client.get("/dashboard/mc-index?lang=en").get_data(as_text=True)
    assert "مدى MUBP يشمل الحقيقة" in client.get("/dashboard/mc-index?lang=ar").get_data(as_text=True)


# The second, model-based range: Andridge and Little's MUBP at phi from 0 to 1.

def _polled(selection, seed: int = 0, size: int = 200_000):
    # A population whose latent opinion U follows governorate, sex and age band (support: U > 0), polled with
    # answering probabilities `selection(u, governorate)`: the answered cells, their categories and answers,
    # the raking targets and the true support.
    rng = np.random.default_rng(seed)
    governorate, sex, age = rng.integers(0, 4, size), rng.integers(0, 2, size), rng.integers(0, 3, size)
    u = -0.6 + governorate / 3 - 0.3 * sex + 0.3 * (age == 2) + rng.standard_normal(size)
    support = u > 0
    answered = rng.random(size) < np.minimum(selection(u, governorate), 1.0)
    key = ((governorate * 2 + sex) * 3 + age) * 2 + ~support
    counts = np.bincount(key[answered], minlength=48).astype(float)
    cell = np.flatnonzero(counts)
    categories = [cell // 12, (cell // 6) % 2, (cell // 2) % 3]
    targets = [np.bincount(part, minlength=n) / size for part, n in ((governorate, 4), (sex, 2), (age, 3))]
    return categories, counts[cell], cell % 2, targets, support.mean()


def _indexed(categories, counts, chosen, targets):
    estimate = weighting.estimate_from_cells(categories, targets, counts, chosen, 2)
    return estimate, sensitivity.mubp_range(categories, counts, estimate.weights * counts, chosen, 2)


def test_when_opinion_alone_drives_answering_phi_1_recovers_the_truth_weighting_misses():
    # Supporters answer less the stronger their support: selection on the latent opinion only, the model's phi = 1.
    # Raking on the three margins leaves the share 20 points low; the index at phi = 1 finds the truth.
    categories, counts, chosen, targets, truth = _polled(lambda u, _g: 0.02 * np.exp(-0.6 * u))
    estimate, index = _indexed(categories, counts, chosen, targets)
    assert estimate.shares[0] < truth - 0.15
    assert index.shares[0, 2] == pytest.approx(truth, abs=0.03)
    assert index.shares[0, 0] == pytest.approx(estimate.shares[0], abs=0.005)  # phi = 0: raking's assumption
    assert index.shares[0, 0] < index.shares[0, 1] < index.shares[0, 2]
    assert index.low[0] == index.shares[0, 0] and index.high[0] == index.shares[0, 2]
    assert 0.2 < index.correlation[0] < 0.6


def test_when_answering_follows_the_weighting_variables_phi_0_is_the_weighted_share():
    categories, counts, chosen, targets, truth = _polled(lambda _u, governorate: 0.01 + 0.01 * governorate, seed=1)
    estimate, index = _indexed(categories, counts, chosen, targets)
    assert estimate.shares[0] == pytest.approx(truth, abs=0.02)
    assert index.shares[:, 0] == pytest.approx(estimate.shares, abs=0.005)
    assert index.low[0] <= truth <= index.high[0]


def test_the_index_range_is_widened_by_the_weighted_interval():
    categories, counts, chosen, targets, _truth = _polled(lambda _u, governorate: 0.01 + 0.01 * governorate, seed=2)
    estimate, plain = _indexed(categories, counts, chosen, targets)
    intervals = np.array([[s - 0.01, s + 0.02] for s in estimate.shares])
    widened = sensitivity.mubp_range(categories, counts, estimate.weights * counts, chosen, 2,
                                     shares=estimate.shares, intervals=intervals)
    assert widened.low == pytest.approx(np.minimum(plain.low, estimate.shares) - 0.01)
    assert widened.high == pytest.approx(np.maximum(plain.high, estimate.shares) + 0.02)
    assert (widened.low <= intervals[:, 0]).all() and (intervals[:, 1] <= widened.high).all()


def test_an_answer_nobody_or_everybody_chose_has_no_index():
    categories = [np.array([0, 1, 0, 1])]
    index = sensitivity.mubp_range(categories, np.array([10.0, 20, 30, 5]), np.array([12.0, 18, 31, 4]),
                                   np.array([0, 0, 2, 2]), 3)
    assert index.reasons[1] == sensitivity.NOT_AVAILABLE_ALL_OR_NONE
    assert np.isnan(index.shares[1]).all() and not index.holds(np.array([0.2, 0.0, 0.8]))[1]
    alone = sensitivity.mubp_range(categories, np.array([10.0, 20, 30, 5]), np.array([12.0, 18, 31, 4]),
                                   np.array([0, 0, 0, 0]), 1)
    assert alone.reasons == (sensitivity.NOT_AVAILABLE_ALL_OR_NONE,)


def test_a_proxy_without_variance_gives_no_index():
    # One governorate only: the weighting variables cannot tell anyone apart.
    index = sensitivity.mubp_range([np.array([0, 0])], np.array([30.0, 70]), np.array([40.0, 60]),
                                   np.array([0, 1]), 2)
    assert index.reasons == (sensitivity.NOT_AVAILABLE_NO_PROXY,) * 2
    assert not index.available.any() and np.isnan(index.low).all()


def test_a_category_all_alike_joins_the_first_instead_of_breaking_the_probit():
    # In governorate 2 no one chose answer 0: its coefficient would run to minus infinity; the index still comes.
    categories, counts, chosen, targets, _truth = _polled(lambda _u, governorate: 0.01 + 0.01 * governorate, seed=3)
    counts = np.where((categories[0] == 2) & (chosen == 0), 0.0, counts)
    keep = counts > 0
    estimate, index = _indexed([part[keep] for part in categories], counts[keep], chosen[keep], targets)
    assert index.available.all() and np.isfinite(index.shares).all()
    # Left in, its near-infinite coefficient would stretch the proxy and pull phi = 0 three points off.
    assert index.shares[:, 0] == pytest.approx(estimate.shares, abs=0.01)


def test_a_probit_that_does_not_converge_gives_no_index(monkeypatch):
    from statsmodels.tools.sm_exceptions import ConvergenceWarning

    class Stuck:
        def __init__(self, *args, **kwargs):
            pass

        def fit(self, **kwargs):
            import warnings
            warnings.warn("no convergence", ConvergenceWarning, stacklevel=1)

    import statsmodels.api as sm

    monkeypatch.setattr(sm, "GLM", Stuck)
    categories, counts, chosen, targets, _truth = _polled(lambda _u, governorate: 0.01 + 0.01 * governorate, seed=4,
                                                          size=20_000)
    estimate = weighting.estimate_from_cells(categories, targets, counts, chosen, 2)
    index = sensitivity.mubp_range(categories, counts, estimate.weights * counts, chosen, 2)
    assert index.reasons == (sensitivity.NOT_AVAILABLE_NOT_CONVERGED,) * 2


def test_the_operator_json_gives_each_answer_its_mubp_shares_and_range_beside_the_band(runner, simulated):
    document = json.loads(runner.invoke(args=["results", "sim", "--json"]).output)
    found = document["selection_index"]
    assert found["phis"] == [0.0, 0.5, 1.0] and "Andridge" in found["method"]
    assert set(document["selection_range"]) == {"ratios", "assumption", "options"}  # the band's key is unchanged
    for option, item in zip(document["options"], found["options"], strict=True):
        assert item["code"] == option["code"] and item["not_available"] is None
        low, high = item["range"]
        assert low <= option["weighted_ci95"][0] and option["weighted_ci95"][1] <= high
        assert item["shares"]["0"] == pytest.approx(option["weighted_share"], abs=0.01)
        assert all(low <= share <= high for share in item["shares"].values())
        assert 0 < item["proxy_correlation"] < 1


def test_the_mubp_range_is_for_operators_not_the_public_release(client, runner, login, simulated):
    assert "selection_index" not in client.get("/api/v1/polls/sim/results").get_json()
    assert "selection-index" not in client.get("/results/sim?lang=en").get_data(as_text=True)
    methodology = client.get("/results/sim/methodology?lang=en").get_data(as_text=True)
    assert "selection-index" not in methodology and "operators see a model-based one" in methodology
    login()
    dashboard = client.get("/dashboard/sim?lang=en").get_data(as_text=True)
    assert "selection-index" in dashboard and "Andridge and Little" in dashboard
    arabic = client.get("/dashboard/sim?lang=ar").get_data(as_text=True)
    assert "لو كانت الإجابة عن الاستطلاع تتوقف على الرأي: مؤشر أندريدج وليتل" in arabic
    text = runner.invoke(args=["results", "sim"]).output
    assert "Andridge-Little MUBP at phi 0 / 0.5 / 1" in text and "range" in text
