"""Model-based governorate estimates (MRP): shrinkage toward similar governorates, honest intervals, failures said."""

from __future__ import annotations

import weakref
from types import SimpleNamespace

import numpy as np
import pytest
from scipy import sparse
from statsmodels.genmod.bayes_mixed_glm import BinomialBayesMixedGLM

from poll import iraq
from poll.services.definition import polls
from poll.services.releases import governorate_estimates, results
from poll.stats import mixed_glm, mrp
from tests.helpers import fresh

GOVERNORATES = iraq.governorates()
# Each region's true share choosing the first of two answers, and each governorate's own small step from it.
REGION_TRUTH = {"kri": 0.70, "sunni": 0.25, "mixed": 0.40, "south": 0.15}


def true_share(index: int) -> float:
    return REGION_TRUTH[GOVERNORATES[index].region] + 0.02 * ((index % 3) - 1)


def constructed(seed: int, sizes: dict[int, int]) -> tuple[mrp.Sample, mrp.Frame]:
    """Answers drawn from the truth: `sizes[i]` answers in governorate i (none where absent), both sexes, all ages."""
    rng = np.random.default_rng(seed)
    gov, sex, age, region, counts = [], [], [], [], []
    for index, n in sizes.items():
        governorate = GOVERNORATES[index]
        for s in iraq.categories("sex"):
            for band in iraq.categories("age_band"):
                cell_n = rng.binomial(n, 1 / 8)
                if not cell_n:
                    continue
                first = rng.binomial(cell_n, true_share(index))
                gov.append(governorate.code), sex.append(s), age.append(band), region.append(governorate.region)
                counts.append([first, cell_n - first])
    sample = mrp.Sample(governorate=gov, sex=sex, age_band=age, region=region, counts=np.array(counts))
    levels = {GOVERNORATES[i].code: GOVERNORATES[i].code for i in sizes}
    population = governorate_estimates.frame(iraq.census_margins(), levels, {"M": "M", "F": "F"},
                                             {b: b for b in iraq.categories("age_band")},
                                             joint=iraq.sex_by_age_band())
    return sample, population


def raw_share(sample: mrp.Sample, code: str) -> float:
    rows = [i for i, g in enumerate(sample.governorate) if g == code]
    counts = sample.counts[rows].sum(axis=0)
    return counts[0] / counts.sum()


def test_a_counted_cell_fits_as_its_answers_one_row_each(rng):
    # The library's own model on one row per answer, and ours on the cells they make: the same posterior.
    gov, sex = rng.integers(0, 5, 600), rng.integers(0, 2, 600)
    chose = (rng.random(600) < 0.2 + 0.1 * gov / 5 + 0.1 * sex).astype(float)
    rows = BinomialBayesMixedGLM(chose, np.column_stack([np.ones(600), sex]), sparse.csr_array(np.eye(5)[gov]),
                                 np.zeros(5, dtype=int)).fit_vb(rng=np.random.default_rng(0))
    cells = sorted(set(zip(gov.tolist(), sex.tolist(), strict=True)))
    n = np.array([np.sum((gov == g) & (sex == s)) for g, s in cells])
    y = np.array([chose[(gov == g) & (sex == s)].sum() for g, s in cells])
    ours = mixed_glm.CountedBinomialMixedGLM(y, n, np.column_stack([np.ones(len(cells)), [s for _, s in cells]]),
                                       sparse.csr_array(np.eye(5)[[g for g, _ in cells]]),
                                       np.zeros(5, dtype=int)).fit_vb(rng=np.random.default_rng(0))
    assert len(cells) == 10
    assert ours.params == pytest.approx(rows.params, abs=1e-5)
    assert ours.cov_params() == pytest.approx(rows.cov_params(), rel=1e-4)


def test_small_governorates_are_pulled_from_their_raw_shares_toward_the_truth():
    # Six big governorates (400 answers) and twelve small ones (12 each), one seed: the raw shares of the small
    # ones stray; the estimates stray less, and their 90% intervals hold the truth.
    sizes = {i: 400 if i < 6 else 12 for i in range(len(GOVERNORATES))}
    sample, population = constructed(11, sizes)
    fitted = mrp.estimate(sample, population, seed=3)
    small = range(6, len(GOVERNORATES))
    raw_error = np.mean([abs(raw_share(sample, GOVERNORATES[i].code) - true_share(i)) for i in small])
    model_error = np.mean([abs(fitted.governorates[GOVERNORATES[i].code].shares[0] - true_share(i)) for i in small])
    assert raw_error > 0.08 and model_error < raw_error / 2
    covered = [fitted.governorates[g.code].intervals[0.90][0][0] <= true_share(i)
               <= fitted.governorates[g.code].intervals[0.90][0][1] for i, g in enumerate(GOVERNORATES)]
    # Of 18 intervals at 90%, fewer than 14 covering would happen by chance less than 5% of the time.
    assert sum(covered) >= 14
    # The options' estimates are of one whole.
    assert all(sum(found.shares) == pytest.approx(1) for found in fitted.governorates.values())


def test_a_governorate_without_answers_is_estimated_from_its_region_with_a_wider_interval():
    sizes = {i: 200 for i in range(len(GOVERNORATES))}
    kurdish = [i for i, g in enumerate(GOVERNORATES) if g.region == "kri"]
    silent = kurdish[0]
    del sizes[silent]
    sample, population = constructed(5, sizes)
    fitted = mrp.estimate(sample, population, seed=3)
    found = fitted.governorates[GOVERNORATES[silent].code]
    neighbour = fitted.governorates[GOVERNORATES[kurdish[1]].code]
    assert found.from_prior and not neighbour.from_prior
    low, high = found.intervals[0.90][0]
    assert low <= true_share(silent) <= high
    # Near its region, far from the nation, and less sure than a governorate that answered.
    assert abs(found.shares[0] - REGION_TRUTH["kri"]) < 0.1
    assert high - low > neighbour.intervals[0.90][0][1] - neighbour.intervals[0.90][0][0]


def test_the_same_answers_and_seed_give_the_same_estimates():
    sample, population = constructed(2, {i: 50 for i in range(len(GOVERNORATES))})
    assert mrp.estimate(sample, population, seed=9) == mrp.estimate(sample, population, seed=9)


def test_a_fit_that_does_not_converge_gives_no_estimate_and_says_why():
    sample, population = constructed(2, {i: 50 for i in range(len(GOVERNORATES))})
    with pytest.raises(mrp.NotFitted, match="did not converge"):
        mrp.estimate(sample, population, seed=9, max_iterations=1)
    with pytest.raises(mrp.NotFitted, match="no answers"):
        mrp.estimate(mrp.Sample([], [], [], [], np.zeros((0, 2))), population, seed=9)


def test_operators_see_each_governorate_beside_its_raw_share(simulated, session):
    outcome = results.poll_results(fresh(session), polls.get_poll(session, "sim"))
    found = results.document(outcome)["governorate_estimates"]
    assert found["error"] is None and found["level"] == 0.9
    assert {entry["code"] for entry in found["governorates"]} == set(iraq.categories("governorate"))
    shown = {c.code: c for c in outcome.breakdowns["governorate"]}
    for entry in found["governorates"]:
        category = shown[entry["code"]]
        low, high = entry["interval"]["1"]
        assert low <= entry["shares"]["1"] <= high
        if category.is_suppressed:
            # A hidden governorate's answers are pooled with the other hidden ones: nothing of its own is shown.
            assert entry["answered"] is None and entry["raw_shares"] is None and entry["from_prior"]
        else:
            assert entry["answered"] == category.answered and not entry["from_prior"]
            # To 0.1 point, rounded together with the governorate's other shares: within 0.1 point of the exact.
            assert entry["raw_shares"]["1"] == pytest.approx(category.shares[0], abs=1e-3)


def test_hidden_categories_reach_the_model_only_pooled(session, monkeypatch, simulated):
    seen = []
    monkeypatch.setattr(governorate_estimates, "_caches", weakref.WeakKeyDictionary())
    real = mrp.estimate
    monkeypatch.setattr(mrp, "estimate", lambda sample, *args, **kwargs: seen.append(sample) or real(
        sample, *args, **kwargs))
    outcome = results.poll_results(fresh(session), polls.get_poll(session, "sim"))
    (sample,) = seen
    hidden = {c.code for c in outcome.breakdowns["governorate"] if c.is_suppressed}
    assert hidden  # the fixture's small governorates
    assert not hidden & set(sample.governorate) and governorate_estimates.POOLED in sample.governorate


def test_a_failed_fit_is_said_on_the_dashboard_and_in_the_json(client, session, login, monkeypatch, simulated):
    def fails(*args, **kwargs):
        raise mrp.NotFitted("the model of option 1 did not converge")

    monkeypatch.setattr(governorate_estimates, "_caches", weakref.WeakKeyDictionary())
    monkeypatch.setattr(mrp, "estimate", fails)
    login("viewer")
    page = client.get("/dashboard/sim?lang=en").get_data(as_text=True)
    assert "the model could not be fitted to these answers" in page
    outcome = results.document(results.poll_results(fresh(session), polls.get_poll(session, "sim")))
    assert outcome["governorate_estimates"]["error"] == (
        "No model-based governorate estimates: the model of option 1 did not converge.")
    assert outcome["governorate_estimates"]["governorates"] == []


def test_the_dashboard_shows_the_estimate_in_words_in_each_language(client, login, simulated):
    login("viewer")
    english = client.get("/dashboard/sim?lang=en").get_data(as_text=True)
    assert "Model-based estimate: pulls small governorates toward similar ones" in english
    assert "90% credible interval" in english and "Baghdad" in english.split('id="h-estimates"')[1]
    for language in ("ar", "ku"):
        page = client.get(f"/dashboard/sim?lang={language}").get_data(as_text=True)
        assert 'id="h-estimates"' in page and "Model-based estimate" not in page


def test_the_public_estimates_come_from_the_release_alone(client, simulated):
    document = client.get("/api/v1/polls/sim/results").get_json()
    found = document["governorate_estimates"]
    assert found["from_noisy_margins"] is True and found["error"] is None
    breakdown = {c["code"]: c for c in document["breakdowns"]["governorate"]}
    for entry in found["governorates"]:
        # Beside each estimate, only what the release's own breakdown shows.
        assert entry["answered"] == breakdown[entry["code"]]["answered"]
        low, high = entry["interval"]["1"]
        assert low <= entry["shares"]["1"] <= high
    page = client.get("/results/sim?lang=en").get_data(as_text=True)
    assert "Model-based estimate: pulls small governorates toward similar ones" in page
    assert "Fitted to the released noisy counts only" in page


def test_a_kept_fit_serves_the_dashboard_until_the_answers_grow_by_two_percent(monkeypatch):
    fits = []
    real = mrp.estimate
    monkeypatch.setattr(mrp, "estimate", lambda *args, **kwargs: fits.append(1) or real(*args, **kwargs))
    monkeypatch.setattr(governorate_estimates, "_caches", weakref.WeakKeyDictionary())
    poll = SimpleNamespace(id=1, options=[SimpleNamespace(code="1"), SimpleNamespace(code="2")])
    masks = {stratum: np.array([True] * len(iraq.categories(stratum)) + [False]) for stratum in iraq.STRATA}

    def figures(extra: int) -> dict:
        cells = [(option, g.code, sex, band, "web", 10 + (extra if (option, g.code, sex, band) == (1, "IQ-BG", "M",
                                                                                                  "18-29") else 0))
                 for option in (1, 2) for g in GOVERNORATES for sex in "MF" for band in iraq.categories("age_band")]
        return governorate_estimates.operator_figures(poll, cells, {1: 0, 2: 1}, masks, None, [])

    assert figures(0)["fitted_answers"] == 2880 and len(fits) == 1
    assert figures(57)["fitted_answers"] == 2880 and len(fits) == 1  # under 2% more: the kept fit
    assert figures(58)["fitted_answers"] == 2938 and len(fits) == 2


def test_the_monte_carlo_follows_mrp_per_governorate_against_the_simulated_truth():
    from poll.simulate import comparison, montecarlo, scenario

    world = comparison.without_education(scenario.load("baseline"))
    found = montecarlo.governorate_mrp(world, population_size=30_000, sample_size=20_000, replications=3, seed=7)
    assert found.replications == 3 and found.failures == 0
    assert found.truth.shape == found.bias.shape == (18, 3) and set(found.coverage) == {0.90, 0.95}
    assert np.all(found.coverage[0.95] >= found.coverage[0.90])
    # Pooling helps where answers are few: over the governorates, the estimates sit nearer the truth than raw shares.
    assert found.rmse.mean() < np.nanmean(found.raw_rmse)
    # A seed reproduces its replications.
    again = montecarlo.governorate_mrp(world, population_size=30_000, sample_size=20_000, replications=1, seed=7)
    assert again.answers == pytest.approx(montecarlo.governorate_mrp(
        world, population_size=30_000, sample_size=20_000, replications=1, seed=7).answers)
    table = comparison.mrp_markdown([comparison.MrpRow("baseline", "education inert", found)])
    assert table.count("\n") == 2 and "| baseline | education inert |" in table
