"""The results service's honesty: weighting that merges before it gives up, and says what its targets are."""

from __future__ import annotations

import itertools

import pytest
import sqlalchemy as sa

from poll import iraq
from poll.models import Answer, Option
from poll.services import polls, results
from tests.helpers import fresh

AGES = {"18-29": 20, "30-44": 35, "45-59": 50, "60+": 70}


def answer_everywhere_but(client, make_poll, make_links, missing: set[str]) -> None:
    """Eight answers in each governorate not in `missing`: both sexes, every age band, the options in turn."""
    poll = make_poll("weighted")
    options = itertools.cycle("123")  # a cycle of three, so each sex-and-age cell gets mixed answers
    for governorate in iraq.categories("governorate"):
        if governorate in missing:
            continue
        for sex, (band, age) in itertools.product("MF", AGES.items()):
            (token,) = make_links(poll, count=1, governorate=governorate, sex=sex, age=age, age_band=band)
            assert client.post(f"/p/{token}", data={"option": next(options)}).status_code == 201


def test_a_governorate_without_answers_merges_governorates_into_regions(client, session, make_poll, make_links):
    answer_everywhere_but(client, make_poll, make_links, {"IQ-MU"})
    outcome = results.poll_results(fresh(session), polls.get_poll(session, "weighted"))
    assert outcome.weighting is not None and outcome.weighting.converged
    assert outcome.weighting.merged == "governorates merged into regions"
    assert all(option.weighted_share is not None for option in outcome.options)
    assert abs(sum(option.weighted_share for option in outcome.options) - 1) < 1e-9
    document = results.document(outcome)
    assert document["weighting"]["merged"] == "governorates merged into regions"
    # The targets say exactly what they are: the governorates' are of the whole population, not adults.
    targets = document["weighting"]["targets"]
    assert "whole population" in targets["governorate"]["what"] and "COSIT 2018" in targets["governorate"]["source"]
    assert "adults" in targets["age_band"]["what"]


def test_a_whole_region_without_answers_leaves_no_weighted_figures(client, session, make_poll, make_links):
    kurdistan = {g.code for g in iraq.governorates() if g.region == "kri"}
    answer_everywhere_but(client, make_poll, make_links, kurdistan)
    outcome = results.poll_results(fresh(session), polls.get_poll(session, "weighted"))
    assert outcome.weighting is None
    assert all(option.weighted_share is None for option in outcome.options)
    assert any("No weighted estimate" in note for note in outcome.notes)


def test_each_governorate_answered_is_weighted_as_it_is(client, session, make_poll, make_links):
    answer_everywhere_but(client, make_poll, make_links, set())
    outcome = results.poll_results(fresh(session), polls.get_poll(session, "weighted"))
    assert outcome.weighting.merged == "" and outcome.weighting.converged
    # The diagnostics: every margin closer to its targets after weighting, and the weights' spread.
    balance = results.document(outcome)["weighting"]["balance"]
    assert set(balance) == set(iraq.STRATA)
    assert all(pair["after"] < 0.05 and pair["after"] <= pair["before"] for pair in balance.values())
    spread = outcome.weighting.spread
    assert spread["min"] <= spread["q1"] <= spread["median"] <= spread["q3"] <= spread["max"]


def test_each_link_sent_has_one_final_disposition():
    counts = {"invited": 100, "sent": 90, "delivered": 60, "opened": 20, "answered": 12, "partial": 2, "failed": 15}
    cases = results.dispositions(counts, stopped=3)
    assert (cases.complete, cases.partial) == (10, 2)
    assert cases.refusal == 8 + 3  # opened and left, and STOP before opening
    assert cases.non_contact == 60 - 20 - 3
    # The 90 sent: 12 + 11 + 37 accounted for; of the 30 left, 15 failed, 15 unknown.
    assert (cases.not_eligible, cases.unknown) == (15, 15)
    assert cases.eligible + cases.unknown + cases.not_eligible == 90


def test_failed_reminders_of_links_already_counted_are_not_counted_twice():
    # Every link delivered and answered or left; a reminder to one of them failed.
    cases = results.dispositions({"sent": 10, "delivered": 10, "opened": 10, "answered": 10, "failed": 1},
                                 stopped=0)
    assert cases.not_eligible == 0 and cases.eligible == 10


def test_answered_links_are_counted_among_those_sent():
    # The counters cannot tell a link answered without being sent (printed, say): it counts as one sent.
    cases = results.dispositions({"sent": 10, "delivered": 0, "opened": 5, "answered": 5}, stopped=0)
    assert cases.complete == 5 and cases.unknown == 5
    assert results.dispositions({"sent": 3, "delivered": 0, "opened": 5, "answered": 5}, stopped=0).unknown == 0


def test_post_stratification_to_sex_and_age_stands_beside_raking(client, session, make_poll, make_links):
    answer_everywhere_but(client, make_poll, make_links, set())
    outcome = results.poll_results(fresh(session), polls.get_poll(session, "weighted"))
    post = results.document(outcome)["weighting"]["poststratified"]
    assert post["variables"] == ["sex", "age_band"] and abs(sum(post["shares"].values()) - 1) < 2e-3  # 0.1 point each
    # Computed again from the answers themselves: each sex-and-age cell's shares, weighed by its population share.
    joint = iraq.sex_by_age_band()
    assert abs(sum(joint.values()) - 1) < 1e-9 and len(joint) == 2 * len(iraq.AGE_BANDS)
    rows = fresh(session).execute(sa.select(Answer.sex, Answer.age_band, Option.code)
                                  .join(Option, Option.id == Answer.option_id)).all()
    expected = {code: 0.0 for code in post["shares"]}
    for (sex, band), weight in joint.items():
        cell = [code for s, b, code in rows if (s, b) == (sex, band)]
        for code in expected:
            expected[code] += weight * cell.count(code) / len(cell)
    assert post["shares"] == pytest.approx(expected, abs=5e-4)  # given to a tenth of a point


def test_post_stratification_waits_until_every_sex_and_age_cell_is_a_safe_group(client, session, make_poll,
                                                                                  make_links):
    # One governorate of each region answers: each sex-and-age cell holds four answers, too few to be shown, so
    # nothing is post-stratified; and 32 answers are too few for any weighted figure (the floor).
    one_per_region = {"IQ-AR", "IQ-NI", "IQ-BG", "IQ-BA"}
    answer_everywhere_but(client, make_poll, make_links, set(iraq.categories("governorate")) - one_per_region)
    outcome = results.poll_results(fresh(session), polls.get_poll(session, "weighted"))
    assert outcome.weighting is None and results.NOTE_TOO_FEW_TO_WEIGHT in outcome.notes
