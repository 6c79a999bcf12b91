"""The simulator: a reproducible synthetic Iraq, scenarios, and runs in-process, live and Monte Carlo."""

import json
import math

import numpy as np
import phonenumbers
import pytest
import sqlalchemy as sa

from poll import iraq
from poll.errors import Invalid
from poll.models import Answer, Link, Receipt, Recipient, Refusal, SimulationRun
from poll.simulate import behaviour, population, scenario
from tests.helpers import fresh, rows
from tests.servers import gunicorn

EDUCATION = scenario.education_shares(scenario.load("baseline"))


def simulate_json(runner, *args):
    result = runner.invoke(args=["simulate", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_population_matches_the_census_shares(rng):
    n = 400_000
    people = population.generate(n, rng, EDUCATION)
    governorates = iraq.governorates()
    expected = np.array([gov.population for gov in governorates], dtype=float)
    expected /= expected.sum()
    observed = np.bincount(people.governorate, minlength=len(governorates)) / n
    # Five standard errors: with a fixed seed this either always passes or always fails.
    assert np.all(np.abs(observed - expected) < 5 * np.sqrt(expected * (1 - expected) / n))
    bands = np.array(list(iraq.age_band_shares().values()))
    observed = np.bincount(people.age_band, minlength=4) / n
    assert np.all(np.abs(observed - bands) < 5 * np.sqrt(bands * (1 - bands) / n))
    male = sum(iraq.age_band_shares()[b] * iraq.male_share_by_age_band()[b] for b in iraq.AGE_BANDS)
    assert abs(np.mean(people.sex == 0) - male) < 5 * math.sqrt(male * (1 - male) / n)
    kri = np.isin(people.governorate, [i for i, gov in enumerate(governorates) if gov.region == "kri"])
    assert abs(np.mean(people.language[kri] == 1) - population.KURDISH_IN_KRI) < 0.01
    assert all(iraq.age_band(int(age)) == iraq.AGE_BANDS[band] for age, band in zip(people.age[:5000], people.age_band[:5000], strict=True))
    shares = np.array(EDUCATION)
    observed = np.bincount(people.education, minlength=len(shares)) / n
    assert np.all(np.abs(observed - shares) < 5 * np.sqrt(shares * (1 - shares) / n))


def test_every_number_is_a_valid_unique_mobile_of_its_carrier(rng):
    people = population.generate(30_000, rng, EDUCATION)
    phones = people.phones()
    assert len(set(phones)) == len(phones)
    for phone, carrier in zip(phones, people.carrier.tolist(), strict=True):
        number = phonenumbers.parse(phone)
        assert phonenumbers.is_valid_number(number), phone
        assert phonenumbers.number_type(number) == phonenumbers.PhoneNumberType.MOBILE
        assert phone[4:6] in iraq.carriers()[carrier].prefixes


def test_same_seed_same_population_and_names():
    a = population.generate(5000, np.random.default_rng(11), EDUCATION)
    b = population.generate(5000, np.random.default_rng(11), EDUCATION)
    assert a.phones() == b.phones()
    assert list(a.names()) == list(b.names())
    assert population.generate(5000, np.random.default_rng(12), EDUCATION).phones() != a.phones()



def test_a_person_takes_a_few_bytes_of_small_integers_and_no_python_object(rng):
    people = population.generate(50_000, rng, EDUCATION)
    assert people.nbytes / len(people) == population.BYTES_PER_PERSON <= 21  # Iraq's 46 million in under 1 GB
    assert all(getattr(people, name).dtype != object for name in population.PER_PERSON)


def test_a_large_population_is_drawn_in_chunks_of_distinct_numbers(monkeypatch):
    one_chunk = population.generate(1000, np.random.default_rng(5), EDUCATION)
    monkeypatch.setattr(population, "CHUNK", 1000)
    people = population.generate(3500, np.random.default_rng(5), EDUCATION)
    assert len(people) == 3500 and len(set(people.phones())) == 3500
    # The first chunk is the population a chunk's size would have been, names and all.
    first = people.take(np.arange(1000))
    assert first.phones() == one_chunk.phones() and list(first.names()) == list(one_chunk.names())
    assert all(iraq.age_band(int(age)) == iraq.AGE_BANDS[band]
               for age, band in zip(people.age[1000:], people.age_band[1000:], strict=True))


def test_a_number_two_chunks_drew_alike_is_kept_by_the_first_and_drawn_again_for_the_other(rng):
    numbers = np.array([7801234567, 7701111111, 7801234567, 7701111111, 7501234567], dtype=np.int64)
    carrier = np.array([0, 1, 0, 1, 2], dtype=np.int8)
    population._redraw_repeats(numbers, carrier, rng)
    assert len(set(numbers.tolist())) == 5 and numbers[[0, 1, 4]].tolist() == [7801234567, 7701111111, 7501234567]
    for number, chosen in zip(numbers.tolist(), carrier.tolist(), strict=True):
        assert str(number)[:2] in iraq.carriers()[chosen].prefixes

def test_names_stay_with_their_people_and_read_in_their_language(rng):
    people = population.generate(3000, rng, EDUCATION)
    names = people.names()
    sample = np.array([5, 700, 2999, 42])
    assert list(people.take(sample).names()) == list(names[sample])
    arabic_script = [any("\u0600" <= ch <= "\u06ff" for ch in name) for name in names]
    readers = people.language_codes()
    assert all(arabic_script[i] for i in np.flatnonzero(readers != "en"))
    assert not any(arabic_script[i] for i in np.flatnonzero(readers == "en"))
    assert len(set(names)) > 2000


def test_same_seed_same_result_exactly(runner, make_poll):
    make_poll("sim", status="draft")
    args = ["sim", "--population", "20000", "--sample", "8000", "--seed", "7", "--scenario", "forwarded-links"]
    first = simulate_json(runner, *args)
    second = simulate_json(runner, *args, "--reset")
    assert first == second
    assert first["invited"] == 8000 and first["answered"] > 0
    assert [o["code"] for o in first["options"]] == ["1", "2", "3"]
    assert all({"raw_share", "true_share"} <= set(o) for o in first["options"])
    assert sum(o["raw_share"] for o in first["options"]) == pytest.approx(1)
    assert sum(o["true_share"] for o in first["options"]) == pytest.approx(1)
    third = simulate_json(runner, *[("8" if a == "7" else a) for a in args], "--reset")
    assert third["options"] != first["options"]


def test_attacks_end_as_refusals_never_as_second_answers(runner, session, make_poll):
    make_poll("stuffed", status="draft")
    out = simulate_json(runner, "stuffed", "--population", "20000", "--sample", "10000", "--seed", "5",
                        "--scenario", "ballot-stuffing")
    answers, receipts = rows(session, Answer), rows(session, Receipt)
    answered_links = session.scalar(sa.select(sa.func.count()).where(Link.answered_on.is_not(None)))
    assert answers == receipts == answered_links == out["answered"]
    # Every campaigner's extra submissions were refused as already answered.
    extra = 300 * 19
    assert out["refused"]["already-answered"] >= extra
    assert out["simulation"]["guesses"] == {"tried": 20000, "matched": 0}
    assert session.scalar(sa.select(sa.func.count()).where(Refusal.kind == "unknown-link")) == 20000
    # The campaign would have swamped an open link; personal links count each campaigner once.
    open_link = out["simulation"]["open_link_counts"]
    assert open_link["1"] / sum(open_link.values()) > 0.8
    assert open_link["1"] - out["options"][0]["count"] >= extra


def test_run_stores_the_truth_with_parameters_and_seed(runner, session, make_poll):
    make_poll("truth", status="draft")
    simulate_json(runner, "truth", "--population", "10000", "--sample", "3000", "--seed", "9")
    run = session.scalar(sa.select(SimulationRun))
    assert (run.seed, run.population_size, run.sample_size, run.scenario) == (9, 10000, 3000, "baseline")
    assert run.parameters["scenario"]["response"]["open"] == scenario.load("baseline")["response"]["open"]
    assert sum(run.truth["overall"].values()) == pytest.approx(1)
    assert set(run.truth["governorate"]) == {gov.code for gov in iraq.governorates()}
    assert set(run.truth["age_band"]) == set(iraq.AGE_BANDS)
    assert sum(run.margins["sex"].values()) == pytest.approx(1)
    # The truth is the population's, computed again from the same seed.
    rng = np.random.default_rng(9)
    people = population.generate(10000, rng, EDUCATION)
    opinion = behaviour.opinions(people, scenario.load("baseline"), rng)
    assert run.truth["overall"]["3"] == pytest.approx(np.mean(opinion == 2))


def test_kurdistan_surge_inflates_support_that_weighting_repairs(runner, make_poll):
    make_poll("surge", status="draft")
    out = simulate_json(runner, "surge", "--population", "100000", "--sample", "60000", "--seed", "3",
                        "--scenario", "kurdistan-surge")
    support = out["options"][2]
    assert support["raw_share"] - support["true_share"] > 0.08
    assert abs(support["weighted_share"] - support["true_share"]) < 0.04


def test_simulating_into_a_poll_with_links_needs_reset(runner, session, make_poll, make_links):
    poll = make_poll("busy")
    make_links(poll, count=3)
    result = runner.invoke(args=["simulate", "busy", "--population", "100", "--sample", "10"])
    assert result.exit_code == 1
    assert "already has 3 links: add --reset" in result.output
    assert rows(session, Recipient) == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sample", "10", "--population", "5"], "--sample (10) cannot be larger than --population (5)"),
        (["--population", "-4"], "--population must be between"),
        (["--sample", "0"], "--sample must be at least 1"),
        (["--scenario", "nope"], "unknown scenario 'nope'"),
        (["--live", "http://127.0.0.1:9"], "cannot reach http://127.0.0.1:9"),
        (["--live", "http://192.0.2.1:5000"], "not a loopback address"),
        (["--live", "ftp://127.0.0.1"], "needs an http:// URL"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(runner, session, make_poll, args, message):
    make_poll("bad", status="draft")
    result = runner.invoke(args=["simulate", "bad", "--population", "1000", "--sample", "100", *args])
    assert result.exit_code == 1
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert rows(session, Recipient) == 0 and rows(session, SimulationRun) == 0


def test_scenario_files_are_validated_naming_the_key(tmp_path):
    path = tmp_path / "s.toml"
    for text, message in [
        ('base = "baseline"\n[response]\nopne = 0.1\n', "unknown key 'response.opne'"),
        ('base = "baseline"\n[response]\nopen = 1.5\n', "response.open must be between 0 and 1, not 1.5"),
        ('base = "baseline"\n[response]\nopen_by_sex = { X = 1.0 }\n', "unknown key response.open_by_sex.'X'"),
        ('base = "baseline"\n[bots]\nguesses = 2.5\n', "bots.guesses must be a whole number"),
        ('base = "baseline"\n[opinion]\nsupport = "high"\n', "opinion.support must be a table"),
        ("[response\n", "is not valid TOML"),
        ('name = "bare"\n', "scenario has no opinion"),
        ('base = "baseline"\n[stuffing]\noption = "9"\n', "stuffing.option must be one of 1, 2, 3"),
    ]:
        path.write_text(text)
        with pytest.raises(Invalid, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
            scenario.load(str(path))
    path.write_text('base = "baseline"\nname = "mine"\n[response]\nopen = 0.2\n')
    mine = scenario.load(str(path))
    assert mine.name == "mine" and mine["response"]["open"] == 0.2
    assert mine["timing"] == scenario.load("baseline")["timing"]


def test_every_shipped_scenario_loads():
    assert set(scenario.shipped()) >= {
        "baseline", "mobilized-opponents", "kurdistan-surge", "forwarded-links", "ballot-stuffing"}
    for name in scenario.shipped():
        assert scenario.load(name).name == name


NEUTRAL_EDUCATION = """base = "kurdistan-surge"
name = "surge-without-education"
[opinion]
support_shift_education = { "1" = 0.0, "2" = 0.0, "3" = 0.0, "4" = 0.0, "5" = 0.0 }
[response]
open_by_education = { "1" = 1.0, "2" = 1.0, "3" = 1.0, "4" = 1.0, "5" = 1.0 }
open_young_by_region = { kri = 1.0, sunni = 1.0, mixed = 1.0, south = 1.0 }
"""


def test_monte_carlo_reports_bias_rmse_and_coverage(runner, session, make_poll, tmp_path):
    make_poll("mc", status="draft")
    args = ["mc", "--replications", "200", "--population", "100000", "--sample", "60000", "--seed", "4"]
    out = simulate_json(runner, *args, "--scenario", "kurdistan-surge")
    assert out == simulate_json(runner, *args, "--scenario", "kurdistan-surge")
    assert rows(session, Answer) == 0  # no database
    assert out["replications"] == 200 and out["weighted_replications"] == 200 - out["weighting_failures"]
    support = out["options"][2]
    assert support["raw"]["bias"] > 0.08 and support["raw"]["coverage"] < 0.05
    # Raking on governorate, sex and age removes most of the bias, but not what education and the
    # young of one region add: its intervals cover the truth far less often than they claim.
    assert abs(support["weighted"]["bias"]) < support["raw"]["bias"] / 4
    assert abs(support["weighted"]["bias"]) > 0.01 and support["weighted"]["coverage"] < 0.85
    # Without those, the same surge is what raking models, and its intervals hold:
    # 200 replications, coverage of a 95% interval within a few binomial errors.
    neutral = tmp_path / "neutral.toml"
    neutral.write_text(NEUTRAL_EDUCATION)
    plain = simulate_json(runner, *args, "--scenario", str(neutral))["options"][2]
    assert abs(plain["weighted"]["bias"]) < 0.01 and 0.85 <= plain["weighted"]["coverage"] <= 1.0
    for option in out["options"]:
        for estimator in ("raw", "weighted"):
            block = option[estimator]
            assert block["rmse"] >= abs(block["bias"])
            assert block["mean"] == pytest.approx(option["true_share"] + block["bias"])


def test_monte_carlo_agrees_with_the_person_level_simulator():
    # Same model two ways: the cell-level draws and the person-level field.
    chosen = scenario.load("mobilized-opponents")
    from poll.simulate import montecarlo

    mc = montecarlo.run(chosen, population_size=50_000, sample_size=40_000, replications=300, seed=1)
    rng = np.random.default_rng(1)
    people = population.generate(50_000, rng, EDUCATION)
    opinion = behaviour.opinions(people, chosen, rng)
    shares = []
    for _ in range(30):
        invited = rng.choice(50_000, 40_000, replace=False)
        result = behaviour.field(people, opinion, invited, chosen, rng)
        shares.append(np.bincount(result.recorded_answers, minlength=3) / result.answered.sum())
    person_level = np.mean(shares, axis=0)
    assert mc.raw.mean == pytest.approx(person_level, abs=0.01)


@pytest.mark.slow
def test_live_runner_answers_through_a_real_server(database_url, runner, session, make_poll):
    make_poll("live", status="draft")
    with gunicorn(database_url, workers=2) as base:
        out = simulate_json(runner, "live", "--population", "8000", "--sample", "3000", "--seed", "2",
                            "--scenario", "forwarded-links", "--live", base, "--speed", "200000",
                            "--concurrency", "8")
    live = out["simulation"]["live"]
    assert "dropped 0" not in live
    assert live.get("answer 201", 0) == out["answered"] > 0
    assert live.get("duplicate 409", 0) == out["refused"]["already-answered"]
    assert live.get("open 200", 0) > 0  # links looked at and left: opened by the server, on GET
    assert rows(session, Answer) == out["answered"]
    # Over HTTP or in-process, the same seed records the same answers.
    make_poll("same", status="draft")
    in_process = simulate_json(runner, "same", "--population", "8000", "--sample", "3000", "--seed", "2",
                               "--scenario", "forwarded-links")
    assert [o["count"] for o in in_process["options"]] == [o["count"] for o in out["options"]]
    assert in_process["opened"] == out["opened"]


def test_simulated_recipients_carry_their_names_to_the_phone_view(runner, client, session, make_poll, login):
    make_poll("named", status="draft")
    assert runner.invoke(args=["simulate", "named", "--population", "2000", "--sample", "300", "--seed", "5"]).exit_code == 0
    assert runner.invoke(args=["sms", "queue", "named"]).exit_code == 0
    assert runner.invoke(args=["dispatch", "--once"]).exit_code == 0
    phone, attributes = fresh(session).execute(sa.select(Recipient.phone, Recipient.attributes).limit(1)).one()
    assert attributes["name"]
    login("admin")
    assert attributes["name"] in client.get(f"/phone/{phone}").get_data(as_text=True)


def test_asking_education_lets_weighting_remove_what_education_adds(runner, make_poll):
    make_poll("mc-edu", status="draft")
    args = ["mc-edu", "--replications", "150", "--population", "100000", "--sample", "60000", "--seed", "4",
            "--scenario", "baseline"]
    plain = simulate_json(runner, *args)
    asked = simulate_json(runner, *args, "--weight-education")
    assert plain["weighted_on"] == ["governorate", "sex", "age_band"]
    assert asked["weighted_on"] == ["governorate", "sex", "age_band", "education"]
    before, after = plain["options"][2]["weighted"], asked["options"][2]["weighted"]
    assert abs(after["bias"]) < abs(before["bias"]) / 2 and after["coverage"] > before["coverage"] + 0.15
    assert asked["options"][2]["raw"] == plain["options"][2]["raw"]  # the same answers, weighted otherwise


def test_weighting_on_education_needs_the_question_and_monte_carlo(runner, make_poll):
    make_poll("no-edu", status="draft", question={"en": "Tea?"},
              options=[{"code": "1", "label": {"en": "a"}}, {"code": "2", "label": {"en": "b"}},
                       {"code": "3", "label": {"en": "c"}}])
    result = runner.invoke(args=["simulate", "no-edu", "--replications", "2", "--weight-education"])
    assert result.exit_code != 0 and "does not ask education" in result.output
    result = runner.invoke(args=["simulate", "no-edu", "--weight-education"])
    assert result.exit_code != 0 and "goes with --replications" in result.output


def test_the_readme_table_compares_worlds_and_weightings():
    from poll.simulate import comparison

    found = comparison.rows(40, population_size=60_000, sample_size=40_000, names=("baseline",), progress=False)
    assert [(row.world, row.raked_on) for row in found] == [
        ("education inert", "governorate, sex, age"), ("education inert", "+ education"),
        ("education drives both", "governorate, sex, age"), ("education drives both", "+ education")]
    table = comparison.markdown(found).splitlines()
    assert len(table) == 2 + 4 and all(line.count("|") == 15 for line in table)
    assert "| range holds truth (k 2 / 3) | MUBP range holds truth | MUBP at phi 0 / 0.5 / 1 |" in table[0]
    inert, _, driven, asked = (row.mc.weighted.bias[comparison.SUPPORT] for row in found)
    assert abs(driven) > abs(asked) and abs(driven) > abs(inert)
