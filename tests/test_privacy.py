"""Public figures are differentially private releases within each poll's budget, and every release is in the ledger."""

from __future__ import annotations

import itertools
from datetime import timedelta

import numpy as np
import pytest

from poll import iraq
from poll.models import Release, utcnow
from poll.services.definition import polls
from poll.services.definition.polls import questions_of
from poll.services.releases import ledger, noisy_figures, publication, release
from poll.stats import privacy
from poll.vocabulary import QuestionType
from tests.helpers import fresh

AGES = {"18-29": 20, "30-44": 35, "45-59": 50, "60+": 70}


def test_the_noise_has_the_variance_its_scale_says():
    # OpenDP's discrete Laplace: 4,000 cells of one table of zeros, scale 4 each, spending epsilon 0.25.
    noisy = privacy.release({"t": privacy.Table(np.zeros(4000, dtype=int))}, 0.25, {"t": 1.0})["t"]
    assert noisy.scale == pytest.approx(4.0) and noisy.epsilon == pytest.approx(0.25)
    assert noisy.counts.dtype.kind == "i"
    # The sample variance of 4,000 draws is within 12% of the true one with overwhelming probability.
    assert np.var(noisy.counts) == pytest.approx(privacy.noise_variance(4.0), rel=0.12)


def test_a_release_splits_its_budget_and_scales_noise_by_each_tables_sensitivity():
    tables = {"a": privacy.Table(np.arange(6)), "b": privacy.Table(np.arange(4), sensitivity=3)}
    noisy = privacy.release(tables, 0.5, {"a": 3.0, "b": 1.0})
    assert sum(table.epsilon for table in noisy.values()) == pytest.approx(0.5)
    assert noisy["a"].scale == pytest.approx(1 / 0.375) and noisy["b"].scale == pytest.approx(3 / 0.125)
    with pytest.raises(ValueError):
        privacy.release(tables, 0.0, {"a": 1.0, "b": 1.0})


def test_public_figures_are_a_noisy_release_recorded_with_what_it_spent(client, session, simulated):
    public = client.get("/api/v1/polls/sim/results").get_json()
    poll = polls.get_poll(fresh(session), "sim")
    (entry,) = ledger.entries(session, poll, publication.PUBLIC_RELEASE)
    assert entry.audience == "public" and entry.epsilon == pytest.approx(poll.epsilon_total / poll.release_limit)
    assert public["privacy"]["epsilon_spent"] == pytest.approx(entry.epsilon)
    assert public["privacy"]["releases"] == 1 and public["privacy"]["epsilon_total"] == 1.0
    # Noisy: the public counts are not the exact ones (the chance that every one of them is is negligible).
    exact = release.operator_document(fresh(session), poll, None)
    public_counts = [option["count"] for option in public["options"]]
    assert public_counts != [option["count"] for option in exact["options"]]
    # No interval on raw shares, the weighted estimate from the noisy counts, and no digit beyond 0.1 point.
    assert all(option["ci95"] is None for option in public["options"])
    assert public["weighting"]["from_noisy_margins"] is True
    for option in public["options"]:
        assert round(option["weighted_share"], 3) == option["weighted_share"]
    # Every look until the next release is due gives the same figures, however many answers come in between.
    assert client.get("/api/v1/polls/sim/results").get_json()["options"] == public["options"]
    assert len(ledger.entries(fresh(session), poll, publication.PUBLIC_RELEASE)) == 1


def test_releases_stop_at_the_limit_and_keep_one_for_the_close(client, session, make_poll, make_links, app):
    poll = make_poll("budgeted")
    tokens = make_links(poll, count=80)
    later = utcnow()

    def release_at(offset_hours: float) -> dict:
        with app.app_context():
            published = publication.current(fresh(session), polls.get_poll(session, "budgeted"),
                                             now=later + timedelta(hours=offset_hours),
                                             refresh_after=timedelta(minutes=15))
            session.commit()
            return published.document

    for token in tokens[:20]:
        client.post(f"/p/{token}", data={"option": "1"})
    first = release_at(1)
    assert first["privacy"]["releases"] == 1  # the interim release
    for token in tokens[20:70]:
        client.post(f"/p/{token}", data={"option": "2"})
    # The answers have more than doubled, but one release is kept for the close: no second interim.
    assert release_at(2)["privacy"]["releases"] == 1
    poll = polls.get_poll(fresh(session), "budgeted")
    polls.close_poll(session, poll)
    session.commit()
    final = release_at(3)
    assert final["privacy"]["releases"] == 2 and final["final"] is True
    assert release_at(4)["privacy"]["releases"] == 2  # the budget is spent: nothing more, ever
    spent = sum(entry.epsilon for entry in ledger.entries(fresh(session), poll, publication.PUBLIC_RELEASE))
    assert spent == pytest.approx(poll.epsilon_total)


def test_no_public_figure_of_the_answers_before_ten_have_answered(client, session, make_poll, make_links):
    poll = make_poll("early")
    for token in make_links(poll, count=9):
        client.post(f"/p/{token}", data={"option": "1"})
    public = client.get("/api/v1/polls/early/results").get_json()
    assert public["withheld"] and all(option["count"] is None for option in public["options"])
    assert public["answered"] == 9  # links are counted exactly: how many answered, never what
    assert ledger.entries(fresh(session), polls.get_poll(session, "early"), publication.PUBLIC_RELEASE) == []


def test_the_methodology_statement_states_the_budget_in_each_language(client, simulated):
    client.get("/results/sim")  # the first public look makes the release
    english = client.get("/results/sim/methodology?lang=en").get_data(as_text=True)
    assert "differentially private" in english and "epsilon 1.00 in all, 0.50 per release" in english
    for language in ("ar", "ku"):
        page = client.get(f"/results/sim/methodology?lang={language}").get_data(as_text=True)
        assert 'id="h-privacy"' in page and "differentially private" not in page and "1.00" in page


def weighted_poll(client, make_poll, make_links, per_cell: int, slug: str = "small"):
    """A poll answered `per_cell` times in each of a few governorate x sex x age cells, the options in turn."""
    poll = make_poll(slug)
    options = itertools.cycle("123")
    for governorate in iraq.categories("governorate"):
        for sex, (band, age) in itertools.product("MF", AGES.items()):
            for token in make_links(poll, count=per_cell, governorate=governorate, sex=sex, age=age, age_band=band):
                assert client.post(f"/p/{token}", data={"option": next(options)}).status_code == 201
    return poll


def test_a_small_polls_weighted_shares_and_weights_are_shown_to_no_one(client, session, make_poll, make_links):
    # Finding: with full-precision weighted shares and weights anyone can recompute from the cells and the
    # margins, a 30-answer poll's answers were solved for one by one. Below the floor nothing weighted is shown.
    poll = make_poll("thirty")
    options = itertools.cycle("123")
    for governorate in iraq.categories("governorate")[:15]:
        for token in make_links(poll, count=2, governorate=governorate, sex="MF"[len(governorate) % 2], age=35,
                                age_band="30-44"):
            client.post(f"/p/{token}", data={"option": next(options)})
    document = release.operator_document(fresh(session), polls.get_poll(session, "thirty"), None)
    assert document["answered"] == 30
    assert all(option["weighted_share"] is None for option in document["options"])
    assert "weighting" not in document  # nor the balance, spread or largest weight that would feed the solver


def test_weighted_shares_shown_to_operators_carry_no_more_than_a_tenth_of_a_point(client, session, make_poll,
                                                                                 make_links):
    weighted_poll(client, make_poll, make_links, per_cell=1)
    document = release.operator_document(fresh(session), polls.get_poll(session, "small"), None)
    shares = [option["weighted_share"] for option in document["options"]]
    assert all(share is not None and round(share, 3) == share for share in shares)
    assert document["weighting"]["largest_weight"] == round(document["weighting"]["largest_weight"], 2)


def test_operator_views_are_counted_in_the_ledger(client, session, login, simulated):
    login("viewer", name="vera")
    client.get("/dashboard/sim")
    client.get("/dashboard/sim/panel")
    poll = polls.get_poll(fresh(session), "sim")
    (view,) = ledger.entries(session, poll, release.DASHBOARD)
    assert view.audience == "vera" and view.times == 2
    assert session.query(Release).filter_by(kind=release.DASHBOARD).count() == 1


@pytest.mark.parametrize("seed", range(40))
def test_every_whole_set_of_public_shares_sums_to_exactly_one(session, make_poll, seed):
    # Noise of any draw: the headline's, each breakdown's and each single-choice question's shares are rounded
    # together (largest remainder), so bars shown side by side sum to 100%.
    poll = make_poll(f"sums-{seed}")
    rng = np.random.default_rng(seed)
    options = len(poll.options)
    noisy = {noisy_figures.OPTIONS: privacy.NoisyTable(rng.integers(-3, 400, options), 2.0, 0.1)}
    for stratum in iraq.STRATA:
        shape = (len(iraq.categories(stratum)) + 1, options)
        noisy[stratum] = privacy.NoisyTable(rng.integers(-3, 120, shape), 2.0, 0.1)
    single = [q for q in questions_of(poll) if not q.is_headline and q.type == QuestionType.SELECT_ONE]
    for question in single:
        noisy[noisy_figures.question_key(question)] = privacy.NoisyTable(
            rng.integers(-3, 300, len(question.choices)), 2.0, 0.1)
    figures = noisy_figures.document(poll, noisy, None, {})
    whole_sets = [[option["share"] for option in figures["options"]]]
    if figures["options"][0]["weighted_share"] is not None:
        whole_sets.append([option["weighted_share"] for option in figures["options"]])
    whole_sets += [list(category["shares"].values()) for categories in figures["breakdowns"].values()
                   for category in categories if category["shares"]]
    whole_sets += [[option["share"] for option in question["options"]] for question in figures["questions"]
                   if question["name"] in {q.name for q in single} and question["answered"]]
    assert len(whole_sets) > 3
    for shares in whole_sets:
        assert round(sum(shares) * 1000) == 1000, shares
        assert all(round(share, 3) == share for share in shares)
