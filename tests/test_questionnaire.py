"""Questionnaires: definitions checked before anything is stored, conditions parsed safely, the whole form
answered in one post and kept as one response with its tallies."""

from __future__ import annotations

import json
import re

import pytest
import sqlalchemy as sa

from poll import conditions, questionnaire
from poll.errors import Invalid
from poll.models import Answer, Poll, PollQuestion, Receipt, ValueTally
from poll.services.answering import tallies
from poll.services.definition import polls
from poll.services.releases import results
from tests.helpers import fresh, generous_budget, rows

WHOLE_FORM = {"option": "2", "sex": "M", "age": "37", "governorate": "IQ-NI", "employment": "5", "education": "4"}


def definition(*questions: dict, **top) -> dict:
    return {"slug": "custom", **top, "questions": list(questions)}


HEADLINE = {"name": "tea", "type": "select_one", "role": "headline", "label": {"en": "Tea?"},
            "choices": [{"code": "1", "label": {"en": "Yes"}}, {"code": "2", "label": {"en": "No"}}]}


# --- definitions ---------------------------------------------------------------------------------------------


def test_the_builtins_are_the_articles_form_and_its_two_step_variant():
    whole = questionnaire.questions_of(polls.builtin_definition("coalition-2024"))
    assert [q.name for q in whole] == ["answer", "sex", "age", "governorate", "employment", "education"]
    assert [q.maps_to for q in whole if q.maps_to] == ["sex", "age_band", "governorate"]
    # Profile questions offer "prefer not to say"; the 18 governorates come built in.
    assert all(q.choices[-1].code == questionnaire.PREFER_NOT for q in whole if q.is_profile and q.takes_choices)
    assert len(whole[3].choices) == 18 + 1
    two_step = questionnaire.questions_of(polls.builtin_definition("coalition-2024-two-step"))
    follow_up = two_step[1]
    assert follow_up.relevant and follow_up.is_relevant({"support": "2"}) and not follow_up.is_relevant({"support": "1"})


def test_an_old_one_question_definition_is_a_questionnaire_of_its_headline():
    old = {"slug": "old", "question": {"en": "Tea?"},
           "options": [{"code": "1", "label": {"en": "Yes"}}, {"code": "2", "label": {"en": "No"}}]}
    (only,) = questionnaire.questions_of(old)
    assert (only.name, only.is_headline, [c.code for c in only.choices]) == ("answer", True, ["1", "2"])


@pytest.mark.parametrize(("questions", "message"), [
    ((), "at least one"),
    (({**HEADLINE, "role": None},), "exactly one question with role"),
    ((HEADLINE, {**HEADLINE, "name": "again"}), "exactly one question with role"),
    ((HEADLINE, {"name": "later", "type": "text", "relevant": "nope == '1'", "label": {"en": "?"}}),
     "not an earlier question"),
    ((HEADLINE, {"name": "later", "type": "text", "relevant": "__import__('os')", "label": {"en": "?"}}),
     "relevant"),
    ((HEADLINE, {"name": "age", "type": "integer", "label": {"en": "Age"}}), "min <= max"),
    ((HEADLINE, {"name": "n", "type": "integer", "min": 0, "max": 2**31, "label": {"en": "N"}}),
     "min and max are whole numbers from -2147483648 to 2147483647"),
    ((HEADLINE, {"name": "n", "type": "integer", "min": -(2**31) - 1, "max": 0, "label": {"en": "N"}}),
     "from -2147483648 to 2147483647"),
    ((HEADLINE, {"name": "age", "type": "integer", "min": 10, "max": 99, "role": "profile", "maps_to": "age_band",
                 "label": {"en": "Age"}}), "ages mapped to age bands"),
    ((HEADLINE, {"name": "sex", "type": "select_one", "role": "profile", "maps_to": "sex", "label": {"en": "Sex"},
                 "choices": [{"code": "m", "label": {"en": "Man"}}, {"code": "w", "label": {"en": "Woman"}}]}),
     "mapped to sex"),
    ((HEADLINE, {"name": "where", "type": "select_one", "maps_to": "governorate", "label": {"en": "?"},
                 "choices": [{"code": "1", "label": {"en": "a"}}, {"code": "2", "label": {"en": "b"}}]}),
     "maps_to"),
    ((HEADLINE, {"name": "note", "type": "text", "max_length": 5000, "label": {"en": "?"}}), "max_length"),
    ((HEADLINE, {"name": "tea", "type": "text", "label": {"en": "?"}}), "used twice"),
    ((HEADLINE, {"name": "Bad Name", "type": "text", "label": {"en": "?"}}), "name must be"),
    ((HEADLINE, {"name": "x", "type": "slider", "label": {"en": "?"}}), "type must be"),
])
def test_a_bad_definition_is_refused_naming_what_is_wrong(questions, message):
    with pytest.raises(Invalid, match=message):
        questionnaire.questions_of(definition(*questions))


def test_integer_bounds_at_the_edges_of_the_column_are_stored_and_read_back(session):
    # The same on SQLite and PostgreSQL: a 32-bit signed column holds both ends.
    edges = {"name": "n", "type": "integer", "min": -(2**31), "max": 2**31 - 1, "label": {"en": "N"}}
    poll = polls.create_poll(session, definition(HEADLINE, edges))
    session.commit()
    stored = polls.questions_of(fresh(session).get(Poll, poll.id))[1]
    assert (stored.minimum, stored.maximum) == (-(2**31), 2**31 - 1)


def test_a_refused_definition_writes_nothing(session):
    bad = definition(HEADLINE, {"name": "later", "type": "text", "relevant": "tea ==", "label": {"en": "?"}})
    with pytest.raises(Invalid):
        polls.create_poll(session, bad)
    session.rollback()
    assert rows(session, Poll) == 0 and rows(session, PollQuestion) == 0


def test_a_created_poll_reads_back_the_questionnaire_it_was_given(session):
    given = polls.builtin_definition("coalition-2024-two-step")
    poll = polls.create_poll(session, given)
    session.commit()
    assert polls.questions_of(fresh(session).get(Poll, poll.id)) == questionnaire.questions_of(given)
    assert [option.code for option in poll.options] == ["1", "2"]  # the headline's choices


# --- conditions ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "answers", "expected"), [
    ("a == '1'", {"a": "1"}, True),
    ("a == 1", {"a": "1"}, True),
    ("a != '1'", {}, True),
    ("a == '1'", {}, False),
    ("a in ['1', '2'] and not b", {"a": "2"}, True),
    ("a in ['1', '2'] and not b", {"a": "2", "b": 5}, False),
    ("'x' in many or a == '3'", {"many": frozenset({"x", "y"})}, True),
    ("'z' in many", {"many": frozenset({"x"})}, False),
    ("(a == '1' or a == '2') and age != 30", {"a": "1", "age": 31}, True),
])
def test_conditions_hold_as_written(text, answers, expected):
    assert conditions.parse(text).holds(answers) is expected


@pytest.mark.parametrize(("relevant", "after"), [
    ("tea == '2'", {"2"}),
    ("'2' == tea", {"2"}),
    ("tea == 2", {"2"}),
    ("tea in ['1', '2']", {"1", "2"}),
    ("tea != '1'", {"2", "3"}),
    ("not (tea == '1')", {"2", "3"}),
    ("tea == '2' and mood == 'u'", {"2"}),
    ("tea == '2' or tea == '3'", {"2", "3"}),
    ("tea == '2' or mood == 'u'", {"1", "2", "3"}),  # the mood may be asked after any answer
    ("mood == 'u'", {"1", "2", "3"}),
    ("how == 'x'", {"3"}),  # how is asked only after "3": answering it needs a "3"
    ("not (how == 'x')", {"1", "2", "3"}),
    ("tea == how", {"3"}),
    ("'2' in tea", {"1", "2", "3"}),  # read conservatively: when in doubt, every answer
])
def test_a_condition_says_after_which_headline_answers_a_question_is_asked(relevant, after):
    three = {**HEADLINE, "choices": [*HEADLINE["choices"], {"code": "3", "label": {"en": "Maybe"}}]}
    mood = {"name": "mood", "type": "select_one", "label": {"en": "Mood?"},
            "choices": [{"code": "u", "label": {"en": "Up"}}, {"code": "d", "label": {"en": "Down"}}]}
    how = {"name": "how", "type": "text", "label": {"en": "How?"}, "relevant": "tea == '3'"}
    asked = questionnaire.asked_under(questionnaire.questions_of(definition(
        three, mood, how, {"name": "later", "type": "text", "label": {"en": "?"}, "relevant": relevant})))
    assert asked["later"] == after
    assert asked["tea"] == asked["mood"] == {"1", "2", "3"} and asked["how"] == {"3"}


@pytest.mark.parametrize("text", ["a ==", "a = '1'", "__import__('os').system('x')", "a[0] == 1", "a == '1' or",
                                  "x" * 501, "a in [", "(a == '1'", "1"])
def test_conditions_that_are_not_the_language_are_refused(text):
    with pytest.raises(conditions.ConditionError):
        conditions.parse(text)


# --- answering the whole form --------------------------------------------------------------------------------


def test_the_whole_form_is_one_response_with_strata_from_the_profile_answers(client, session, make_poll, make_links):
    poll = make_poll()
    token = make_links(poll, governorate=None, sex=None, age=None, age_band=None)[0]
    page = client.get(f"/p/{token}?lang=en").get_data(as_text=True)
    assert all(f'name="{name}"' in page for name in WHOLE_FORM)
    assert client.post(f"/p/{token}", data=WHOLE_FORM).status_code == 201
    answer = fresh(session).scalar(sa.select(Answer))
    assert (answer.governorate, answer.sex, answer.age_band) == ("IQ-NI", "M", "30-44")
    assert answer.values == {"sex": "M", "age": 37, "governorate": "IQ-NI", "employment": "5", "education": "4"}
    kept = tallies.kept(session, poll)
    assert kept == tallies.recount(session, poll)
    assert len(kept["values"]) == 2 * 5  # answered and the value, for each of the five questions


def test_the_audience_strata_come_before_what_the_form_says(client, session, make_poll, make_links):
    token = make_links(make_poll(), governorate="IQ-BA", sex="F", age_band="60+")[0]
    client.post(f"/p/{token}", data=WHOLE_FORM)
    answer = fresh(session).scalar(sa.select(Answer))
    assert (answer.governorate, answer.sex, answer.age_band) == ("IQ-BA", "F", "60+")
    assert answer.values["governorate"] == "IQ-NI"  # what was answered is kept as answered


def test_prefer_not_to_say_is_an_answer_that_says_nothing_of_the_stratum(client, session, make_poll, make_links):
    token = make_links(make_poll(), governorate=None, sex=None, age=None, age_band=None)[0]
    given = WHOLE_FORM | {"sex": "-", "age": "-", "governorate": "-"}
    assert client.post(f"/p/{token}", data=given).status_code == 201
    answer = fresh(session).scalar(sa.select(Answer))
    assert (answer.governorate, answer.sex, answer.age_band) == (None, None, None)
    assert answer.values["age"] == "-" and answer.values["sex"] == "-"


@pytest.mark.parametrize(("changes", "question", "message"), [
    ({"age": "seventeen"}, "age", "whole number"),
    ({"age": "12"}, "age", "from 18 to 100"),
    ({"sex": "X"}, "sex", "Please choose one of the answers"),
    ({"employment": ["1", "2"]}, "employment", "only one answer"),
    ({"option": ""}, "answer", "Please choose one of the answers"),
])
def test_a_refused_submission_keeps_every_value_and_says_what_is_wrong_beside_it(
        client, session, make_poll, make_links, changes, question, message):
    token = make_links(make_poll())[0]
    response = client.post(f"/p/{token}", data=WHOLE_FORM | changes | {"lang": "en"})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    beside = page.split(f'id="q-{question}"')[1].split("</fieldset>")[0]
    assert message in beside
    # The other answers are shown as given.
    assert 'value="IQ-NI" selected' in page and 'value="4" checked' in page
    assert rows(session, Answer) == 0 and rows(session, Receipt) == 0 and rows(session, ValueTally) == 0


def test_arabic_digits_are_numbers(client, session, make_poll, make_links):
    token = make_links(make_poll())[0]
    assert client.post(f"/p/{token}", data=WHOLE_FORM | {"age": "٤٢"}).status_code == 201
    assert fresh(session).scalar(sa.select(Answer)).values["age"] == 42


def test_the_follow_up_is_asked_only_after_its_answer(client, session, make_poll, make_links):
    poll = make_poll(**{k: v for k, v in polls.builtin_definition("coalition-2024-two-step").items() if k != "slug"})
    first, second, third = make_links(poll, count=3)
    # Without the script the follow-up is shown with its condition in words.
    page = client.get(f"/p/{first}?lang=en").get_data(as_text=True)
    assert "Answer only if your answer to question 1 is “No”" in page
    # "Yes": the follow-up is not relevant, so what was posted for it is ignored.
    assert client.post(f"/p/{first}", data={"option": "1", "how_end": "2"}).status_code == 201
    # "No" without the follow-up: refused, beside the follow-up.
    response = client.post(f"/p/{second}", data={"option": "2", "lang": "en"})
    assert response.status_code == 400
    assert "Please choose one of the answers" in response.get_data(as_text=True).split('id="q-how_end"')[1]
    assert client.post(f"/p/{third}", data={"option": "2", "how_end": "2"}).status_code == 201
    stored = sorted((a.values or {}).get("how_end", "") for a in fresh(session).scalars(sa.select(Answer)))
    assert stored == ["", "2"]
    assert tallies.kept(session, poll) == tallies.recount(session, poll)


def test_a_multiple_choice_counts_each_code_and_the_respondent_once(client, session, make_poll, make_links):
    many = {"name": "drinks", "type": "select_multiple", "label": {"en": "Which?"}, "required": False,
            "choices": [{"code": "t", "label": {"en": "Tea"}}, {"code": "c", "label": {"en": "Coffee"}},
                        {"code": "w", "label": {"en": "Water"}}]}
    poll = make_poll(questions=[HEADLINE, many])
    tokens = make_links(poll, count=3)
    client.post(f"/p/{tokens[0]}", data={"option": "1", "drinks": ["t", "c"]})
    client.post(f"/p/{tokens[1]}", data={"option": "2", "drinks": ["t"]})
    client.post(f"/p/{tokens[2]}", data={"option": "2"})  # optional: skipped
    assert client.post(f"/p/{make_links(poll)[0]}", data={"option": "2", "drinks": ["t", "beer"]}).status_code == 400
    kept = tallies.kept(fresh(session), poll)
    assert kept == tallies.recount(session, poll)
    by_value = {}
    for (_q, _o, value), n in kept["values"].items():
        by_value[value] = by_value.get(value, 0) + n
    assert by_value == {"": 2, "t": 2, "c": 1}


def test_looking_records_nothing(client, session, make_poll, make_links):
    token = make_links(make_poll())[0]
    client.get(f"/p/{token}")
    client.head(f"/p/{token}")
    assert rows(session, Answer) == 0 and rows(session, ValueTally) == 0


# --- results per question ------------------------------------------------------------------------------------


def answer_many(client, make_links, poll, forms: list[dict]) -> None:
    for token, form in zip(make_links(poll, count=len(forms)), forms, strict=True):
        assert client.post(f"/p/{token}", data=form).status_code == 201


def test_each_question_has_its_figures_and_small_profile_groups_stay_hidden(client, session, make_poll, make_links):
    poll = make_poll()
    # 40 answers spread over employment 1-4 and headline answers 1-2; three unemployed, all answering 1.
    forms = [WHOLE_FORM | {"option": "1" if (i // 4) % 2 == 0 else "2", "employment": str(1 + i % 4),
                           "age": str(20 + i)} for i in range(40)]
    forms += [WHOLE_FORM | {"option": "1", "employment": "5"}] * 3
    answer_many(client, make_links, poll, forms)

    figures = {q["name"]: q for q in results.document(results.poll_results(fresh(session), poll))["questions"]}
    assert list(figures) == ["answer", "sex", "age", "governorate", "employment", "education"]
    employment = {o["code"]: o for o in figures["employment"]["options"]}
    assert employment["5"]["suppressed"] and employment["5"]["count"] is None and employment["5"]["headline"] is None
    shown = [code for code, o in employment.items() if not o["suppressed"]]
    assert len(shown) >= 2
    hidden = [form for form in forms if form["employment"] not in shown]
    assert len(hidden) >= 10 and len({form["option"] for form in hidden}) == 2  # the hidden together are safe
    for code in shown:
        chose = [form["option"] for form in forms if form["employment"] == code]
        assert employment[code]["count"] == len(chose)
        assert employment[code]["headline"] == {h: chose.count(h) / len(chose) for h in ("1", "2", "3")}
    age = figures["age"]["summary"]
    assert age["n"] == 43 and age["q1"] <= age["median"] <= age["q3"]
    assert figures["answer"]["options"][0]["count"] == sum(form["option"] == "1" for form in forms)


def test_a_question_few_answered_shows_no_figures(client, session, make_poll, make_links):
    note = {"name": "mood", "type": "select_one", "label": {"en": "Mood?"}, "required": False,
            "choices": [{"code": "u", "label": {"en": "Up"}}, {"code": "d", "label": {"en": "Down"}}]}
    poll = make_poll(questions=[HEADLINE, note])
    answer_many(client, make_links, poll, [{"option": str(1 + i % 2), "mood": "ud"[i % 2]} for i in range(9)]
                + [{"option": "1"}] * 5)
    (mood,) = [q for q in results.document(results.poll_results(fresh(session), poll))["questions"]
               if q["name"] == "mood"]
    # Nine answered; the five who did not all chose "1", so even how many answered stays hidden.
    assert mood["answered"] is None and all(o["count"] is None for o in mood["options"])


def test_the_public_results_carry_every_question(client, session, make_poll, make_links):
    poll = make_poll()
    answer_many(client, make_links, poll, [WHOLE_FORM | {"option": str(1 + i % 3), "age": str(30 + i)}
                                           for i in range(12)])
    generous_budget(session, poll.slug)
    document = client.get(f"/api/v1/polls/{poll.slug}/results").get_json()
    assert [q["name"] for q in document["questions"]][:3] == ["answer", "sex", "age"]
    assert document["questions"][0]["options"] == document["options"]
    assert document["questions"][2]["summary"] is None  # numbers are not in the public release
    assert results.document(results.poll_results(fresh(session), poll))["questions"][2]["summary"]["n"] == 12
    session.rollback()  # the look may have grown the shown set: end it before the page locks the poll
    page = client.get(f"/results/{poll.slug}?lang=en").get_data(as_text=True)
    assert "What is your employment status?" in page and "Age (in years)" in page



def test_who_did_not_answer_a_follow_up_tells_nothing_of_their_first_answer(client, session, make_poll, make_links):
    # "How should it end?" is asked only after "no". One person answered "no" and never the follow-up:
    # publishing how many answered the follow-up would tell that person's "no".
    definition = polls.builtin_definition("coalition-2024-two-step")
    definition["questions"][1]["required"] = False  # as a respondent who stops, by SMS or on the web, leaves it
    poll = make_poll(**definition | {"slug": "branch"})
    answer_many(client, make_links, poll, [{"option": "1"}] * 6 + [{"option": "2", "how_end": "1"}] * 3
                + [{"option": "2", "how_end": "2"}] * 3 + [{"option": "2"}])
    document = results.document(results.poll_results(fresh(session), poll))
    (how_end,) = [q for q in document["questions"] if q["name"] == "how_end"]
    assert how_end["answered"] is None
    assert all(o["count"] is None and o["headline"] is None for o in how_end["options"])


def test_a_rare_answer_to_any_question_shows_no_headline_share(client, session, make_poll, make_links):
    militia = {"name": "militia", "type": "select_one", "label": {"en": "Armed group X?"},
               "choices": [{"code": "1", "label": {"en": "Yes"}}, {"code": "2", "label": {"en": "No"}},
                           {"code": "3", "label": {"en": "Member"}}]}
    poll = make_poll(questions=[HEADLINE, militia])
    answer_many(client, make_links, poll, [{"option": "12"[i % 2], "militia": "12"[i // 2 % 2]} for i in range(24)]
                + [{"option": "1", "militia": "3"}])
    document = results.document(results.poll_results(fresh(session), poll))
    (asked,) = [q for q in document["questions"] if q["name"] == "militia"]
    member = next(o for o in asked["options"] if o["code"] == "3")
    assert member["count"] is None and member["headline"] is None  # the lone member's answer stays theirs
    # The others show theirs where they can; one is hidden with it, so the two cannot be subtracted.
    assert [o["headline"] is not None for o in asked["options"]].count(True) == 1


def two_step_poll(runner) -> None:
    """The built-in two-step poll, created and opened as an operator would."""
    for args in (["polls", "create", "--builtin", "coalition-2024-two-step"], ["polls", "open", "coalition-2024-two-step"]):
        result = runner.invoke(args=args)
        assert result.exit_code == 0, result.output


def cli_questions(runner, slug: str) -> dict[str, dict]:
    result = runner.invoke(args=["results", slug, "--json"])
    assert result.exit_code == 0, result.output
    return {q["name"]: q for q in json.loads(result.output)["questions"]}


def dashboard_section(client, slug: str, name: str) -> str:
    """The dashboard's figures of question `name`, as HTML."""
    body = client.get(f"/dashboard/{slug}?lang=en").get_data(as_text=True)
    return body.split(f'id="h-q-{name}"')[1].split("<h3")[0].split("</section>")[0]


def test_the_articles_follow_up_shows_its_shares(client, session, runner, make_links, login):
    # "How should the mission end?" is asked only after "no": every answer to it is a "no" by design, and how
    # many said "no" is public. Its own answers, twenty of them and mixed, tell nothing more.
    two_step_poll(runner)
    poll = polls.get_poll(fresh(session), "coalition-2024-two-step")
    answer_many(client, make_links, poll, [{"option": "1"}] * 12 + [{"option": "2", "how_end": "1"}] * 12
                + [{"option": "2", "how_end": "2"}] * 8)
    how_end = cli_questions(runner, poll.slug)["how_end"]
    assert how_end["answered"] == 20 and how_end["asked_after"] == ["2"]
    assert [(o["count"], o["share"]) for o in how_end["options"]] == [(12, 0.6), (8, 0.4)]
    # No headline shares: they are 100% "no" by design.
    assert all(o["headline"] is None and not o["suppressed"] for o in how_end["options"])
    login()
    section = dashboard_section(client, poll.slug, "how_end")
    assert "<td>60.0%</td>" in section and "<td>40.0%</td>" in section and "20 answered this question" in section


def test_a_follow_up_all_answered_alike_shows_no_shares(client, session, runner, make_links, login):
    two_step_poll(runner)
    poll = polls.get_poll(fresh(session), "coalition-2024-two-step")
    answer_many(client, make_links, poll, [{"option": "1"}] * 12 + [{"option": "2", "how_end": "2"}] * 20)
    how_end = cli_questions(runner, poll.slug)["how_end"]
    assert how_end["answered"] == 20  # every "no" answered it: those who did not are no one
    assert all(o["count"] is None and o["share"] is None and o["suppressed"] for o in how_end["options"])
    login()
    assert not re.search(r"<td>[\d.]+%</td>", dashboard_section(client, poll.slug, "how_end"))


def test_a_follow_up_of_several_answers_counts_no_other_answer_among_those_who_skipped_it(client, session,
                                                                                          make_poll, make_links):
    # Asked after "1" or "2", never after "3": the fifteen "3"s were never asked, so they do not hide the one
    # "1" who skipped it (the headline's counts minus how many answered would tell that "1").
    three = {**HEADLINE, "choices": [*HEADLINE["choices"], {"code": "3", "label": {"en": "Maybe"}}]}
    why = {"name": "why", "type": "select_one", "label": {"en": "Why?"}, "required": False,
           "relevant": "tea in ['1', '2']",
           "choices": [{"code": "a", "label": {"en": "Taste"}}, {"code": "b", "label": {"en": "Habit"}}]}
    poll = make_poll(questions=[three, why])
    answer_many(client, make_links, poll, [{"option": "12"[i % 2], "why": "ab"[i // 2 % 2]} for i in range(24)]
                + [{"option": "1"}] + [{"option": "3"}] * 15)
    (figures,) = [q for q in results.document(results.poll_results(fresh(session), poll))["questions"]
                  if q["name"] == "why"]
    assert figures["asked_after"] == ["1", "2"]
    assert figures["answered"] is None


ETHNICITY = {"name": "ethnicity", "type": "select_multiple", "label": {"en": "Your ethnicity?"},
             "relevant": "tea == '2'",
             "choices": [{"code": "arab", "label": {"en": "Arab"}}, {"code": "kurd", "label": {"en": "Kurd"}},
                         {"code": "turkmen", "label": {"en": "Turkmen"}}]}


def test_a_lone_multiple_choice_answer_is_counted_nowhere(client, session, runner, make_poll, make_links, login):
    # Asked only after "no": eighteen Arabs, eleven Kurds and one Turkmen. "Turkmen: 1" would name that
    # person's "no" and their ethnicity to anyone who knows the Turkmen among the recipients; so would the
    # Kurds' count beside the Arabs' and how many answered (30 - 18 - 11).
    poll = make_poll("ethnic", questions=[HEADLINE, ETHNICITY])
    answer_many(client, make_links, poll, [{"option": "1"}] * 10 + [{"option": "2", "ethnicity": "arab"}] * 18
                + [{"option": "2", "ethnicity": "kurd"}] * 11 + [{"option": "2", "ethnicity": "turkmen"}])
    login()
    section = dashboard_section(client, poll.slug, "ethnicity")
    public = {q["name"]: q for q in client.get(f"/api/v1/polls/{poll.slug}/results").get_json()["questions"]}
    for ethnicity in (cli_questions(runner, poll.slug)["ethnicity"], public["ethnicity"]):
        counts = {o["code"]: o["count"] for o in ethnicity["options"]}
        assert counts["turkmen"] is None and all(count is None or count >= 10 for count in counts.values())
        # What is shown leaves the hidden together at none or at least ten.
        if ethnicity["answered"] is not None:  # the public release may hide it all as too noisy
            assert ethnicity["answered"] - sum(count or 0 for count in counts.values()) in (0, *range(10, 31))
        assert {o["code"] for o in ethnicity["options"] if o["suppressed"]} >= {"turkmen"}
    assert all(int(n.replace(",", "")) >= 10 for n in re.findall(r"<td>([\d,]+)</td>", section))


def test_a_choice_ticked_by_all_but_a_few_is_hidden(client, session, make_poll, make_links):
    # Thirty-five of forty ticked "arab": showing 35 of 40 answered would tell the five others' answer.
    poll = make_poll(questions=[HEADLINE, {**ETHNICITY, "relevant": None}])
    answer_many(client, make_links, poll, [{"option": "12"[i % 2], "ethnicity": ["arab", "kurd"]} for i in range(20)]
                + [{"option": "12"[i % 2], "ethnicity": "arab"} for i in range(15)]
                + [{"option": "12"[i % 2], "ethnicity": "kurd"} for i in range(5)])
    (ethnicity,) = [q for q in results.document(results.poll_results(fresh(session), poll))["questions"]
                    if q["name"] == "ethnicity"]
    counts = {o["code"]: o["count"] for o in ethnicity["options"]}
    assert ethnicity["answered"] == 40 and counts == {"arab": None, "kurd": 25, "turkmen": None}


def test_a_follow_up_asked_only_if_answered_is_not_required_of_those_who_left_it_blank(
        client, session, make_poll, make_links):
    name = {"name": "nm", "type": "text", "label": {"en": "Your first name?"}, "required": False}
    pizza = {"name": "pizza", "type": "select_one", "label": {"en": "Do you like pizza, ${nm}?"},
             "relevant": "nm != ''", "choices": [{"code": "y", "label": {"en": "Yes"}},
                                                 {"code": "n", "label": {"en": "No"}}]}
    poll = make_poll(questions=[HEADLINE, name, pizza])
    first, second = make_links(poll, count=2)
    # Blank name: the pizza question is not asked, so leaving it blank is no error.
    assert client.post(f"/p/{first}", data={"option": "1"}).status_code == 201
    # A name given: the pizza question is asked, and its label says the name once the form is shown again.
    response = client.post(f"/p/{second}", data={"option": "1", "nm": "Sara", "lang": "en"})
    assert response.status_code == 400
    beside = response.get_data(as_text=True).split('id="q-pizza"')[1].split("</legend>")[0]
    assert 'Do you like pizza, <span class="pipe" data-pipe="nm">Sara</span>?' in beside


def test_a_range_below_zero_takes_negative_numbers_and_a_one_sided_range_says_so(
        client, session, make_poll, make_links):
    degrees = {"name": "degrees", "type": "integer", "label": {"en": "Temperature?"}, "min": -20, "max": 55}
    weight = {"name": "kilos", "type": "integer", "label": {"en": "Weight?"}, "min": questionnaire.INTEGER_RANGE[0],
              "max": 150, "required": False}
    poll = make_poll(questions=[HEADLINE, degrees, weight])
    first, second = make_links(poll, count=2)
    page = client.get(f"/p/{first}?lang=en").get_data(as_text=True)
    assert "From -20 to 55" in page and "At most 150" in page
    assert client.post(f"/p/{first}", data={"option": "1", "degrees": "-5"}).status_code == 201
    response = client.post(f"/p/{second}", data={"option": "1", "degrees": "1", "kilos": "151", "lang": "en"})
    assert "no greater than 150" in response.get_data(as_text=True)
    assert fresh(session).scalar(sa.select(Answer)).values["degrees"] == -5


def test_a_missing_multiple_choice_answer_asks_for_at_least_one(client, make_poll, make_links):
    poll = make_poll(questions=[HEADLINE, {**ETHNICITY, "relevant": None, "required": True}])
    token = make_links(poll)[0]
    response = client.post(f"/p/{token}", data={"option": "1", "lang": "en"})
    assert response.status_code == 400
    beside = response.get_data(as_text=True).split('id="q-ethnicity"')[1].split("</fieldset>")[0]
    assert "choose at least one" in beside and "choose one of" not in beside


def test_the_form_says_how_many_questions_it_has(client, make_poll, make_links):
    token = make_links(make_poll(questions=[HEADLINE, {**ETHNICITY, "relevant": None}]))[0]
    page = client.get(f"/p/{token}?lang=en").get_data(as_text=True)
    assert "2 questions" in page and 'data-next="Question {current} of {total}"' in page
    assert "/static/form.js" in page  # which numbers the questions shown and follows the progress
