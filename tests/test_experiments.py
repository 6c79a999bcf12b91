"""Split-ballot experiments: variants checked, assigned at random and balanced, asked as defined, kept with the
answer and counted by variant; results per variant and their differences."""

from __future__ import annotations

import html
import re
from collections import Counter

import pytest
import sqlalchemy as sa

from poll import variants
from poll.errors import Invalid
from poll.models import Answer, Link, Recipient, VariantTally
from poll.services.answering import tallies
from poll.services.definition import polls
from poll.services.releases import release
from tests.helpers import fresh, generous_budget

SPLIT = "coalition-2024-split-ballot"
WHOLE_FORM = {"sex": "M", "age": "37", "governorate": "IQ-NI", "employment": "5", "education": "4"}


@pytest.fixture
def split_poll(make_poll):
    def make(slug: str = "split", **changes):
        definition = polls.builtin_definition(SPLIT)
        return make_poll(slug, **{key: value for key, value in definition.items() if key != "slug"} | changes)
    return make


def variant_of(session, token: str) -> str:
    return fresh(session).scalar(sa.select(Link.variant).where(Link.token == token))


def token_in(session, poll, variant: str) -> str:
    return fresh(session).scalar(sa.select(Link.token).where(Link.poll_id == poll.id, Link.variant == variant).limit(1))


# --- definitions ---------------------------------------------------------------------------------------------


def test_the_builtin_experiment_asks_the_article_three_ways():
    definition = polls.builtin_definition(SPLIT)
    headline = next(q for q in __import__("poll").questionnaire.questions_of(definition) if q.is_headline)
    experiment = variants.read(definition["experiment"], headline)
    assert experiment.names == ("as-sent", "reversed", "two-step")
    assert [c.code for c in experiment.variant("reversed").headline(headline).choices] == ["3", "2", "1"]
    two_step = experiment.variant("two-step")
    assert [q.name for q in two_step.form_questions([headline])] == [variants.STEP, "answer"]
    assert [c.code for c in two_step.headline(headline).choices] == ["1", "2"]


@pytest.mark.parametrize(("change", "message"), [
    ({"variants": [{"name": "only"}]}, "2 to 6"),
    ({"variants": [{"name": "a"}, {"name": "a"}]}, "used twice"),
    ({"variants": [{"name": "a"}, {"name": "B"}]}, "name must be"),
    ({"variants": [{"name": "a"}, {"name": "b", "order": ["1", "2"]}]}, "every code of the headline once"),
    ({"variants": [{"name": "a"}, {"name": "b", "choices": {"9": {"en": "x"}}}]}, "not a code"),
    ({"variants": [{"name": "a"}, {"name": "b", "wording": {}}]}, "unknown key 'wording'"),
    ({"variants": [{"name": "a"}, {"name": "b", "steps": [{"codes": ["1"], "label": {"en": "x"}},
                                                         {"codes": ["2"], "label": {"en": "y"}}]}]},
     "every code of the headline once"),
    ({"variants": [{"name": "a"}, {"name": "b", "steps": [{"codes": ["3"], "label": {"en": "Yes"}},
                                                         {"codes": ["1", "2"], "label": {"en": "No"}}]}]},
     "needs `then`"),
    ({"seed": -1, "variants": [{"name": "a"}, {"name": "b"}]}, "seed"),
    ({"variants": [{"name": "a"}, {"name": "too-long-1"}]}, "1-8 lower-case"),  # breakdown codes are 8 long
    ({"variants": [{"name": "a"}, {"name": "other"}]}, "not other"),  # the exports' hidden categories
])
def test_a_bad_experiment_is_refused_naming_what_is_wrong(session, change, message):
    """Each mistake is refused with what is wrong, before anything is stored."""
    definition = polls.builtin_definition(SPLIT) | {"slug": "bad-split", "experiment": change}
    with pytest.raises(Invalid, match=message):
        polls.create_poll(session, definition)


def test_two_steps_cannot_hide_a_question_that_hangs_on_the_headline(session):
    definition = polls.builtin_definition(SPLIT) | {"slug": "hanging"}
    definition["questions"].insert(1, {"name": "why", "type": "text", "relevant": "answer == '3'",
                                       "label": {"en": "Why?"}})
    with pytest.raises(Invalid, match="'why' is asked after an answer to the headline"):
        polls.create_poll(session, definition)
    definition["experiment"]["variants"].pop()  # without the two-step variant, it is fine
    assert polls.create_poll(session, definition).experiment is not None


# --- assignment ----------------------------------------------------------------------------------------------


def test_assignment_is_seeded_and_balanced_within_every_stratum():
    strata = [("IQ-BG", "F", "18-29")] * 31 + [("IQ-NI", "M", "60+")] * 7 + [(None, None, None)] * 5
    names = ("a", "b", "c")
    first = variants.assign(11, names, strata)
    assert first == variants.assign(11, names, strata)
    assert first != variants.assign(12, names, strata)
    for key in set(strata):
        counts = Counter(v for v, s in zip(first, strata, strict=True) if s == key)
        assert max(counts.values()) - min(counts.get(n, 0) for n in names) <= 1


def test_links_get_variants_balanced_within_their_strata(session, split_poll, make_links):
    poll = split_poll()
    make_links(poll, 30, governorate="IQ-BG", sex="F", age_band="30-44")
    make_links(poll, 12, governorate="IQ-AR", sex="M", age_band="18-29", age=20)
    by = Counter(fresh(session).execute(
        sa.select(Recipient.governorate, Link.variant).join(Recipient, Recipient.id == Link.recipient_id)
        .where(Link.poll_id == poll.id)).all())
    assert [by[("IQ-BG", name)] for name in ("as-sent", "reversed", "two-step")] == [10, 10, 10]
    assert [by[("IQ-AR", name)] for name in ("as-sent", "reversed", "two-step")] == [4, 4, 4]


# --- the form ------------------------------------------------------------------------------------------------


def test_each_variant_shows_its_own_form(client, session, split_poll, make_links):
    poll = split_poll()
    make_links(poll, 9)
    reversed_page = client.get(f"/p/{token_in(session, poll, 'reversed')}?lang=en").get_data(as_text=True)
    order = [reversed_page.index(f'name="option" value="{code}"') for code in ("3", "2", "1")]
    assert order == sorted(order)
    two_step = client.get(f"/p/{token_in(session, poll, 'two-step')}?lang=en").get_data(as_text=True)
    assert f'name="{variants.STEP}" value="1"' in two_step and "How should the mission end?" in two_step
    assert 'name="option" value="3"' not in two_step  # "Yes" stands for it in the first step
    assert "Answer only if your answer to question 1 is “No”" in two_step


@pytest.mark.parametrize(("posted", "code"), [
    ({variants.STEP: "1"}, "3"),
    ({variants.STEP: "1", "option": "1"}, "3"),  # a stale second step after "Yes" is ignored
    ({variants.STEP: "2", "option": "2"}, "2"),
    ({"option": "1"}, "1"),  # a client that posts the headline's code, as to any poll's form
])
def test_two_steps_make_one_answer_on_the_headline_codes(client, session, split_poll, make_links, posted, code):
    poll = split_poll()
    make_links(poll, 6)
    token = token_in(session, poll, "two-step")
    response = client.post(f"/p/{token}?lang=en", data=posted | WHOLE_FORM)
    assert response.status_code == 201
    answer = fresh(session).scalars(sa.select(Answer).where(Answer.poll_id == poll.id)).one()
    option = next(option for option in poll.options if option.id == answer.option_id)
    assert (option.code, answer.variant) == (code, "two-step")
    assert tallies.kept(session, poll)["variants"] == tallies.recount(session, poll)["variants"] == {
        ("two-step", answer.option_id): 1}


@pytest.mark.parametrize("posted", [{}, {variants.STEP: "2"}, {variants.STEP: "2", "option": "3"},
                                    {variants.STEP: "7", "option": "3"}, {variants.STEP: ["1", "2"]},
                                    {variants.STEP: "x"}, {"option": "9"}])
def test_an_unfinished_two_step_answer_is_refused_and_changes_nothing(client, session, split_poll, make_links,
                                                                     posted):
    poll = split_poll()
    make_links(poll, 6)
    response = client.post(f"/p/{token_in(session, poll, 'two-step')}?lang=en", data=posted | WHOLE_FORM)
    assert response.status_code == 400
    assert "Please choose one of the answers" in response.get_data(as_text=True)
    assert fresh(session).scalar(sa.select(sa.func.count()).select_from(VariantTally)) == 0
    assert fresh(session).scalar(sa.select(sa.func.count()).where(Answer.poll_id == poll.id)) == 0


def test_the_sms_carries_the_variants_wording(session, split_poll, make_links):
    from poll.services.messaging import outbox

    definition = polls.builtin_definition(SPLIT)
    definition["experiment"]["variants"][1]["label"] = {"en": "Should the coalition stay?"}
    poll = split_poll("worded", experiment=definition["experiment"], default_language="en")
    assert "Should the coalition stay?" in outbox.compose(poll, "en", "L", "reversed")
    assert "International Coalition" in outbox.compose(poll, "en", "L", "as-sent")


# --- results -------------------------------------------------------------------------------------------------


def test_the_difference_interval_matches_statsmodels():
    from statsmodels.stats.proportion import confint_proportions_2indep

    for counts in ((30, 100, 20, 90), (0, 12, 5, 11), (45, 45, 3, 50), (7, 400, 9, 380)):
        d, low, high = __import__("poll").stats.proportions.difference(*counts)
        reference = confint_proportions_2indep(*counts, method="newcomb", compare="diff")
        assert d == pytest.approx(counts[0] / counts[1] - counts[2] / counts[3])
        assert (low, high) == pytest.approx(reference, abs=1e-12)


# Answers per variant: 20, 20 and 12, each holding every option, so every variant is shown.
PLAN = {
    "as-sent": [{"option": "3"}] * 6 + [{"option": "1"}] * 10 + [{"option": "2"}] * 4,
    "reversed": [{"option": "3"}] * 12 + [{"option": "2"}] * 6 + [{"option": "1"}] * 2,
    "two-step": [{variants.STEP: "1"}] * 5 + [{variants.STEP: "2", "option": "2"}] * 4
                + [{variants.STEP: "2", "option": "1"}] * 3,
}


def answer_all(client, session, poll, plan: dict[str, list[dict]]) -> None:
    for variant, posts in plan.items():
        tokens = fresh(session).scalars(sa.select(Link.token).where(Link.poll_id == poll.id, Link.variant == variant,
                                                                    Link.answered_on.is_(None))).all()
        for token, posted in zip(tokens, posts, strict=False):
            assert client.post(f"/p/{token}?lang=en", data=posted | WHOLE_FORM).status_code == 201


def test_results_per_variant_and_the_difference_from_the_reference(client, session, split_poll, make_links):
    poll = split_poll()
    make_links(poll, 90)
    answer_all(client, session, poll, PLAN)
    document = release.operator_document(fresh(session), poll, None)
    experiment = document["experiment"]
    assert experiment["reference"] == "as-sent"
    as_sent, reversed_, two_step = experiment["variants"]
    assert (as_sent["invited"], as_sent["answered"]) == (30, 20)
    assert [o["count"] for o in reversed_["options"]] == [2, 6, 12]
    support = next(d for d in reversed_["differences"] if d["code"] == "3")
    d, low, high = __import__("poll").stats.proportions.difference(12, 20, 6, 20)
    assert support["difference"] == pytest.approx(0.3) and support["ci95"] == pytest.approx([low, high])
    assert [o["count"] for o in two_step["options"]] == [3, 4, 5]


def test_a_difference_is_starred_only_if_it_survives_holms_adjustment(client, session, split_poll, make_links, login):
    # 10 of 20 against 4 of 20: Newcombe's interval leaves out 0 (p = 0.036 alone), but with six differences
    # compared at once a difference like it comes by chance alone in one experiment of five.
    poll = split_poll()
    make_links(poll, 90)
    answer_all(client, session, poll, PLAN | {
        "as-sent": [{"option": "3"}] * 4 + [{"option": "1"}] * 10 + [{"option": "2"}] * 6,
        "reversed": [{"option": "3"}] * 10 + [{"option": "2"}] * 6 + [{"option": "1"}] * 4})
    experiment = release.operator_document(fresh(session), poll, None)["experiment"]
    support = next(d for d in experiment["variants"][1]["differences"] if d["code"] == "3")
    assert support["ci95"][0] > 0 and support["p"] == pytest.approx(0.036, abs=1e-3)
    assert not any(d["significant"] for v in experiment["variants"][1:] for d in v["differences"])
    assert "Holm" in experiment["multiplicity"]
    login()
    dashboard = client.get(f"/dashboard/{poll.slug}?lang=en").get_data(as_text=True)
    table = dashboard.split("Ways of asking compared")[1].split("</section>")[0]
    assert "<strong>*</strong>" not in table and "Holm's adjustment" in table


def test_holm_keeps_the_chance_of_any_star_without_an_effect_near_five_percent():
    from poll.stats import proportions

    rng = __import__("numpy").random.default_rng(11)
    truth = [0.3, 0.3, 0.4]
    starred = {"alone": 0, "holm": 0}
    for _ in range(1000):
        rows = [rng.multinomial(200, truth) for _ in range(3)]  # three ways of asking, no effect
        p_values, alone = [], False
        for row in rows[1:]:
            for count, base in zip(row, rows[0], strict=True):
                _d, low, high = proportions.difference(int(count), 200, int(base), 200)
                alone |= low > 0 or high < 0
                p1, p0 = count / 200, base / 200
                p_values.append(proportions.difference_p(p1 - p0, (p1 * (1 - p1) + p0 * (1 - p0)) / 200))
        starred["alone"] += alone
        starred["holm"] += any(proportions.holm(p_values))
    assert starred["alone"] > 150 and starred["holm"] < 70


def test_a_variant_missing_an_option_is_hidden_so_no_crossing_can_pin_an_answer(client, session, split_poll,
                                                                                 make_links):
    # Women answer 1 and men 2 in as-sent: shown beside the breakdown by sex, where no woman chose 2, the
    # women of as-sent would all have chosen 1. A variant missing an option is not shown.
    poll = split_poll()
    make_links(poll, 30, governorate="IQ-BG", sex="F", age_band="30-44")
    make_links(poll, 30, governorate="IQ-NI", sex="M", age_band="18-29", age=20)
    by = {"F": {"as-sent": "1", "reversed": "1", "two-step": "3"}, "M": {"as-sent": "2", "reversed": "3",
                                                                         "two-step": "1"}}
    for sex, answers in by.items():
        for variant, code in answers.items():
            tokens = fresh(session).scalars(
                sa.select(Link.token).join(Recipient, Recipient.id == Link.recipient_id)
                .where(Link.poll_id == poll.id, Link.variant == variant, Recipient.sex == sex).limit(5)).all()
            for token in tokens:
                posted = dict(variants.Experiment.from_dict(poll.experiment).variant(variant).fields_for(code))
                assert client.post(f"/p/{token}?lang=en", data=posted | WHOLE_FORM).status_code == 201
    document = release.operator_document(fresh(session), poll, None)
    for variant in document["experiment"]["variants"]:
        assert variant["options"] is None or all(option["count"] for option in variant["options"])
    assert all(variant["suppressed"] for variant in document["experiment"]["variants"])


def test_a_small_variant_is_hidden_with_another_and_compared_with_nothing(client, session, split_poll, make_links):
    poll = split_poll()
    make_links(poll, 90)
    answer_all(client, session, poll, PLAN | {"two-step": [{variants.STEP: "1"}] * 2})
    variants_ = release.operator_document(fresh(session), poll, None)["experiment"]["variants"]
    # Two answers would tell what those two said; hidden alone, the total would tell them too.
    hidden = [v for v in variants_ if v["suppressed"]]
    assert len(hidden) == 2 and variants_[2] in hidden
    assert all(v["options"] is None and v["answered"] is None and v["differences"] is None for v in hidden)


def test_the_pages_compare_the_ways_of_asking(client, session, split_poll, make_links, login):
    poll = split_poll()
    make_links(poll, 90)
    answer_all(client, session, poll, PLAN)
    generous_budget(session, poll.slug)
    public = client.get(f"/results/{poll.slug}?lang=en").get_data(as_text=True)
    assert "Ways of asking compared" in public and "+30.0" in public
    # Each way is named in words, never by its id ("reversed", "two-step").
    assert "Way 2 (answers in another order)" in public and "Way 3 (other wording, asked in two steps)" in public
    assert not re.search(r">[^<]*\b(as-sent|reversed|two-step)\b", public)
    arabic = client.get(f"/results/{poll.slug}?lang=ar").get_data(as_text=True)
    assert "Way 2" not in arabic and not re.search(r">[^<]*\b(as-sent|reversed|two-step)\b", arabic)
    # The public table's shares carry no random-sample interval, and say so; its differences do (randomised).
    table = html.unescape(public.split("Ways of asking compared")[1].split("</section>")[0])
    assert "with no interval: they are not a random sample" in table and "interval if a random sample" not in table
    login()
    dashboard = client.get(f"/dashboard/{poll.slug}?lang=en").get_data(as_text=True)
    assert "Ways of asking compared" in dashboard and "Way 3 (other wording, asked in two steps)" in dashboard


def test_the_methodology_states_every_way_of_asking(client, session, split_poll, make_links):
    poll = split_poll()
    make_links(poll, 3)
    page = client.get(f"/results/{poll.slug}/methodology?lang=en").get_data(as_text=True)
    assert "split-ballot experiment" in page and "How should the mission end?" in page and "two steps" in page
    assert "Way 2 (answers in another order)" in page
    assert "select_one" not in page and "one answer from a list" in page  # what a question takes, in words


# --- the simulator -------------------------------------------------------------------------------------------


def builtin_experiment():
    definition = polls.builtin_definition(SPLIT)
    headline = next(q for q in __import__("poll").questionnaire.questions_of(definition) if q.is_headline)
    return variants.read(definition["experiment"], headline)


def test_the_way_of_asking_moves_answers_as_the_scenario_says():
    from poll.simulate import behaviour, scenario

    chosen = scenario.load("wording-effect")
    effects = behaviour.variant_effects(builtin_experiment(), chosen)
    assert effects.sum(axis=2) == pytest.approx(1.0)
    # as-sent: 3% take answer 1 (listed first); reversed: answer 3; two-step: 3% and 5% more take answer 3.
    assert effects[0, 1, 0] == pytest.approx(0.03) and effects[1, 1, 2] == pytest.approx(0.03)
    assert effects[2, 0, 2] == pytest.approx(1 - 0.97 * 0.95)
    rng = __import__("numpy").random.default_rng(5)
    own = __import__("numpy").repeat([0, 1, 2], 40_000)
    said = behaviour.asked_answers(own, __import__("numpy").full(len(own), 2), effects, rng)
    assert (said[own == 1] == 2).mean() == pytest.approx(effects[2, 1, 2], abs=0.005)


def test_monte_carlo_finds_an_effect_that_is_there_and_rarely_one_that_is_not(tmp_path):
    from poll.simulate import montecarlo, scenario

    null = tmp_path / "null.toml"
    null.write_text('base = "baseline"\n')
    strong = tmp_path / "strong.toml"
    strong.write_text('base = "baseline"\n[experiment]\nshift_variant = "two-step"\nshift = 0.15\n')
    runs = {name: montecarlo.run(scenario.load(str(path)), population_size=60_000, sample_size=40_000,
                                 replications=120, seed=3, experiment=builtin_experiment())
            for name, path in (("null", null), ("strong", strong))}
    null_power, strong_power = runs["null"].experiment, runs["strong"].experiment
    assert null_power.true_difference == pytest.approx(0.0)
    assert (null_power.detected < 0.12).all() and (null_power.coverage > 0.88).all()
    support = strong_power.names[1:].index("two-step"), 2
    assert strong_power.true_difference[support] > 0.1 and strong_power.detected[support] > 0.9
    assert strong_power.coverage[support] > 0.85


def test_a_simulated_split_ballot_shows_the_effect_per_variant(runner, session, split_poll):
    import json

    split_poll("simulated-split", status="draft")
    result = runner.invoke(args=["simulate", "simulated-split", "--scenario", "wording-effect", "--population",
                                 "40000", "--sample", "30000", "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    by_name = {v["name"]: v for v in document["experiment"]["variants"]}
    assert set(by_name) == {"as-sent", "reversed", "two-step"}
    assert all(v["answered"] for v in by_name.values())
    # The two-step framing pushes "support" (code 3) up against the reference.
    support = next(d for d in by_name["two-step"]["differences"] if d["code"] == "3")
    assert support["difference"] > 0
    poll = polls.get_poll(fresh(session), "simulated-split")
    assert tallies.kept(session, poll)["variants"] == tallies.recount(session, poll)["variants"]


# --- exports -------------------------------------------------------------------------------------------------


def test_the_answers_export_keeps_each_variant_in_safe_groups(runner, split_poll, tmp_path):
    import csv
    import io
    import json

    import pyreadstat

    split_poll("split-export", status="draft")
    result = runner.invoke(args=["simulate", "split-export", "--scenario", "wording-effect", "--population", "30000",
                                 "--sample", "20000", "--seed", "7", "--json"])
    assert result.exit_code == 0, result.output
    figures = {v["name"]: v for v in json.loads(result.output)["experiment"]["variants"]}
    rows = list(csv.DictReader(io.StringIO(runner.invoke(args=["export", "split-export"]).output)))
    assert list(rows[0])[:2] == ["option", "variant"]
    # Each shown variant's rows are its answers: the export agrees with the results.
    counted = Counter((row["variant"], row["option"]) for row in rows)
    for name, variant in figures.items():
        if variant["options"]:
            assert [counted[(name, o["code"])] for o in variant["options"]] == [o["count"] for o in variant["options"]]
    quasi = ["variant", "governorate", "sex", "age_band", "answered", "channel", "employment", "education"]
    groups = Counter(tuple(row[name] for name in quasi) for row in rows)
    assert min(groups.values()) >= 10
    path = tmp_path / "split.sav"
    assert runner.invoke(args=["export", "split-export", "--format", "sav", "-o", str(path)]).exit_code == 0
    _frame, meta = pyreadstat.read_sav(str(path))
    assert "variant" in meta.column_names


def test_polls_show_prints_every_way_of_asking(runner, split_poll):
    split_poll("shown-split")
    result = runner.invoke(args=["polls", "show", "shown-split", "--language", "en"])
    assert result.exit_code == 0, result.output
    assert "split ballot: 3 ways" in result.output and "reversed (order)" in result.output
    assert "No  (= 1, 2)" in result.output and "How should the mission end?" in result.output


# --- by SMS --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("replies", "code", "asked"), [
    (["Yes"], "3", None),  # "Yes" stands for one code: it answers
    (["لا", "لا", "2"], "2", "How should the mission end?"),  # "No" asks how (again if delivered again), a code answers
    (["3"], "3", None),  # a code answers in any variant
])
def test_an_sms_reply_answers_the_two_step_variant(client, session, split_poll, make_links, replies, code, asked):
    from poll.models import InboundMessage

    poll = split_poll()
    make_links(poll, 6, language="en")
    phone = fresh(session).scalar(sa.select(Recipient.phone).join(Link, Link.recipient_id == Recipient.id)
                                  .where(Link.variant == "two-step").limit(1))
    client.application.config["SMS_SECRET"] = "s3cret"
    said = []
    for number, text in enumerate(replies):
        # The second "لا" is the gateway delivering the first again (the same id).
        gateway_id = "two-step-0" if asked and number == 1 else f"two-step-{number}"
        response = client.get("/sms/kannel/mo", query_string={"secret": "s3cret", "from": phone, "text": text,
                                                              "id": gateway_id})
        assert response.status_code == 200
        said.append(response.get_data(as_text=True))
    if asked:
        for reply in said[:2]:
            assert asked in reply and "1 By all means" in reply and "2 Through dialogue" in reply
    answer = fresh(session).scalars(sa.select(Answer).where(Answer.poll_id == poll.id)).one()
    assert next(o.code for o in poll.options if o.id == answer.option_id) == code
    assert answer.variant == "two-step" and answer.channel == "sms"
    # The poll is anonymous: what the phone said is not kept (one row per gateway id, the retry none more).
    kept = fresh(session).scalars(sa.select(InboundMessage.text)).all()
    assert kept == [None] * (len(replies) - bool(asked))


def test_the_dashboard_shows_the_power_of_a_split_ballot_design(runner, client, split_poll, login):
    split_poll("mc-split", status="draft")
    result = runner.invoke(args=["simulate", "mc-split", "--scenario", "wording-effect", "--replications", "30",
                                 "--population", "40000", "--sample", "30000"])
    assert result.exit_code == 0, result.output
    assert "ways of asking against as-sent" in result.output
    login()
    page = client.get("/dashboard/mc-split?lang=en").get_data(as_text=True)
    assert "how often each difference was found (power)" in page and "Way 3" in page and "two-step" not in page


def test_every_variants_sms_is_previewed_and_held_to_the_segment_limit(session, split_poll, make_links, app):
    from poll.services.messaging import outbox

    definition = polls.builtin_definition(SPLIT)
    definition["experiment"]["variants"][1]["label"] = {"ar": "هل " * 300}
    poll = split_poll("long-variant", experiment=definition["experiment"])
    make_links(poll, 9)
    items = outbox.preview(session, poll, "http://127.0.0.1:5000", 1.0)
    assert {(item.language, item.variant) for item in items} == {
        (language, name) for language in ("ar", "ku", "en") for name in ("as-sent", "reversed", "two-step")}
    assert sum(item.recipients for item in items) == 9
    with pytest.raises(Invalid, match="the ar SMS of variant reversed takes"):
        outbox.queue_invitations(session, poll, "http://127.0.0.1:5000", max_segments=3, sender="POLL")


def test_poll_results_prints_the_ways_of_asking(client, session, runner, split_poll, make_links):
    poll = split_poll()
    make_links(poll, 90)
    answer_all(client, session, poll, PLAN)
    result = runner.invoke(args=["results", poll.slug])
    assert result.exit_code == 0, result.output
    assert "ways of asking (split ballot), each against as-sent" in result.output
    assert "+30.0" in result.output  # "support": 60% asked in reverse against 30% as sent
