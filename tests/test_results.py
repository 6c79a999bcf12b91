"""The results service's honesty: weighting that merges before it gives up, and says what its targets are."""

from __future__ import annotations

import itertools

import pytest
import sqlalchemy as sa

from poll import iraq
from poll.models import Answer, Option
from poll.services.definition import polls
from poll.services.releases import results
from poll.stats import aapor
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


def test_each_link_issued_has_one_final_disposition():
    counts = {"invited": 100, "sent": 90, "delivered": 60, "opened": 20, "answered": 12, "partial": 2, "failed": 15,
              "failed:unknown-number": 5}
    cases = results.dispositions(counts, stopped=3)
    assert (cases.complete, cases.partial) == (10, 2)
    assert cases.refusal == 8 + 3  # opened and left, and STOP before opening
    assert cases.non_contact == 60 - 20 - 3
    # The 90 sent: 12 + 11 + 37 accounted for; of the 30 left, only the 5 the network called unknown numbers are
    # not eligible: the other 10 failures, like no report at all, leave eligibility unknown.
    assert (cases.not_eligible, cases.unknown) == (5, 25)
    # The 10 never sent stay in the base: "no invitation sent" is a disposition of unknown eligibility (3.11).
    assert cases.not_sent == 10 and cases.unknown_eligibility == 35
    assert cases.eligible + cases.unknown_eligibility + cases.not_eligible == 100


def test_failed_reminders_of_links_already_counted_are_not_counted_twice():
    # Every link delivered and answered or left; a reminder to one of them failed, its number unknown.
    cases = results.dispositions({"invited": 10, "sent": 10, "delivered": 10, "opened": 10, "answered": 10,
                                  "failed": 1, "failed:unknown-number": 1}, stopped=0)
    assert cases.not_eligible == 0 and cases.eligible == 10


def test_answered_links_are_counted_among_those_sent():
    # The counters cannot tell a link answered without being sent (printed, say): it counts as one sent.
    cases = results.dispositions({"invited": 10, "sent": 10, "delivered": 0, "opened": 5, "answered": 5}, stopped=0)
    assert cases.complete == 5 and cases.unknown == 5 and cases.not_sent == 0
    cases = results.dispositions({"invited": 10, "sent": 3, "delivered": 0, "opened": 5, "answered": 5}, stopped=0)
    assert (cases.unknown, cases.not_sent) == (0, 5)


def test_an_outage_keeps_its_unsent_and_failed_links_in_the_base():
    # 1,000 links: the gateway gave up on 400 during an outage (never sent); of the 600 sent, the SMSC reported
    # 100 failed (down, not an unknown number), 470 delivered; 30 answered. AAPOR: RR1 = 30 / 1,000.
    counts = {"invited": 1000, "sent": 600, "delivered": 470, "opened": 30, "answered": 30, "failed": 500}
    rates = aapor.document(results.dispositions(counts, stopped=0))
    assert rates["dispositions"]["not_sent"] == 400 and rates["dispositions"]["not_eligible"] == 0
    assert round(100 * rates["RR1"], 1) == 3.0
    # Nothing is known not eligible: e is 1 by construction, and says so.
    assert rates["e"] == 1 and rates["e_by_construction"] and "by construction" in rates["e_method"]
    assert rates["rate_name"] == "participation rate"  # a list of numbers, not a probability sample


def test_unknown_numbers_are_the_evidence_e_is_estimated_from():
    counts = {"invited": 100, "sent": 100, "delivered": 60, "opened": 20, "answered": 20, "failed": 30,
              "failed:unknown-number": 20}
    rates = aapor.document(results.dispositions(counts, stopped=0))
    assert rates["dispositions"]["not_eligible"] == 20 and rates["dispositions"]["unknown"] == 20
    assert rates["e"] == pytest.approx(60 / 80) and not rates["e_by_construction"]
    assert rates["RR1"] == pytest.approx(20 / 80) and rates["RR3"] == pytest.approx(20 / (60 + 0.75 * 20))


def test_post_stratification_to_sex_and_age_stands_beside_raking(client, session, make_poll, make_links):
    answer_everywhere_but(client, make_poll, make_links, set())
    outcome = results.poll_results(fresh(session), polls.get_poll(session, "weighted"))
    post = results.document(outcome)["weighting"]["poststratified"]
    # To 0.1 point, rounded together by largest remainder: they sum to 100% exactly.
    assert post["variables"] == ["sex", "age_band"] and round(sum(1000 * v for v in post["shares"].values())) == 1000
    assert sum(float(part.split(": ")[1].rstrip("%")) for part in outcome.weighting.poststratified_text.split(", ")) \
        == pytest.approx(100)
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
    assert post["shares"] == pytest.approx(expected, abs=1e-3)  # to a tenth of a point, rounded together


def test_post_stratification_waits_until_every_sex_and_age_cell_is_a_safe_group(client, session, make_poll,
                                                                                  make_links):
    # One governorate of each region answers: each sex-and-age cell holds four answers, too few to be shown, so
    # nothing is post-stratified; and 32 answers are too few for any weighted figure (the floor).
    one_per_region = {"IQ-AR", "IQ-NI", "IQ-BG", "IQ-BA"}
    answer_everywhere_but(client, make_poll, make_links, set(iraq.categories("governorate")) - one_per_region)
    outcome = results.poll_results(fresh(session), polls.get_poll(session, "weighted"))
    assert outcome.weighting is None and results.NOTE_TOO_FEW_TO_WEIGHT in outcome.notes
