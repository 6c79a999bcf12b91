"""A corpus of XLSForms in the shapes ODK, Ona and KoboToolbox users write, each with what must become of it.

Every form is written here, row by row: either it imports and the poll
agrees with the form (names, codes, labels, ranges, conditions), or it is
refused naming the sheet and row and saying why.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlalchemy as sa

from poll import questionnaire
from poll.errors import Invalid
from poll.models import Poll
from poll.services.definition import xlsform
from poll.services.releases import answer_table, stat_files
from tests.test_xlsform import form

LOW, HIGH = questionnaire.INTEGER_RANGE


def lead(label_column: str = "label", text: str = "Do you approve?", **extra) -> dict:
    return {"type": "select_one yn", "name": "approve", label_column: text, "required": "yes", **extra}


def yes_no(label_column: str = "label", yes: str = "Yes", no: str = "No") -> list[dict]:
    return [{"list_name": "yn", "name": "yes", label_column: yes}, {"list_name": "yn", "name": "no", label_column: no}]


KOBO_META = [{"type": "start", "name": "start"}, {"type": "end", "name": "end"},
             {"type": "today", "name": "today"}, {"type": "deviceid", "name": "deviceid"},
             {"type": "username", "name": "username"}]

# (name, survey, choices, settings, expected): expected is a dict of what must hold, or the start of a refusal.
CORPUS = [
    ("plain-english", [lead()], yes_no(), [], {"labels": {"approve": {"en": "Do you approve?"}},
                                               "default_language": "en"}),
    ("kobo-metadata", [*KOBO_META, lead()], yes_no(), [{"form_id": "kobo_form_1"}],
     {"slug": "kobo-form-1", "names": ["approve"], "warnings": 5}),
    ("label-english-double-colon", [lead("label::English", "Approve?")], yes_no("label::English"), [],
     {"labels": {"approve": {"en": "Approve?"}}}),
    ("label-single-colon", [lead("label:Arabic", "هل توافق؟")], yes_no("label:Arabic", "نعم", "لا"), [],
     {"labels": {"approve": {"ar": "هل توافق؟"}}, "default_language": "ar"}),
    ("label-native-arabic", [lead("label::العربية", "هل توافق؟")], yes_no("label::العربية", "نعم", "لا"), [],
     {"labels": {"approve": {"ar": "هل توافق؟"}}}),
    ("label-english-code", [lead("label::English (en)")], yes_no("label::English (en)"), [],
     {"labels": {"approve": {"en": "Do you approve?"}}}),
    ("label-iso3", [lead("label::eng")], yes_no("label::eng"), [], {"labels": {"approve": {"en": "Do you approve?"}}}),
    ("label-kurdish-names", [lead("label::Kurdish", "پەسەندی دەکەیت؟")], yes_no("label::Kurdish", "بەڵێ", "نەخێر"),
     [], {"labels": {"approve": {"ku": "پەسەندی دەکەیت؟"}}, "default_language": "ku"}),
    ("label-sorani-ckb", [lead("label::Sorani (ckb)", "پەسەند؟")], yes_no("label::Sorani (ckb)", "بەڵێ", "نەخێر"),
     [], {"labels": {"approve": {"ku": "پەسەند؟"}}}),
    ("label-en-region", [lead("label::English (en-GB)")], yes_no("label::English (en-GB)"), [],
     {"labels": {"approve": {"en": "Do you approve?"}}}),
    ("extra-language-dropped", [{**lead("label::English (en)"), "label::French (fr)": "Approuvez-vous ?"}],
     [{**row, "label::French (fr)": "Oui"} for row in yes_no("label::English (en)")], [],
     {"labels": {"approve": {"en": "Do you approve?"}}, "warnings": 1}),
    ("three-languages", [{**lead("label::English (en)"), "label::Arabic (ar)": "توافق؟", "label::Kurdish (ku)": "؟"}],
     yes_no("label::English (en)"), [{"default_language": "English (en)"}],
     {"labels": {"approve": {"en": "Do you approve?", "ar": "توافق؟", "ku": "؟"}}, "default_language": "en"}),
    ("form-id-underscores", [lead()], yes_no(), [{"form_id": "household_survey_v2"}],
     {"slug": "household-survey-v2"}),
    ("form-title-version", [lead()], yes_no(), [{"form_id": "t1", "form_title": "Town survey", "version": "202401"}],
     {"slug": "t1", "title": {"en": "Town survey"}, "version": "202401"}),
    ("public-key", [lead()], yes_no(), [{"form_id": "enc", "public_key": "MIIBIjANBgkq"}],
     "settings sheet, row 2: public_key asks for encrypted submissions"),
    ("one-sided-range", [lead(), {"type": "integer", "name": "weight_kg", "label": "Weight", "constraint": ". <= 150"}],
     yes_no(), [], {"ranges": {"weight_kg": (LOW, 150)}}),
    ("no-constraint", [lead(), {"type": "integer", "name": "children", "label": "Children"}], yes_no(), [],
     {"ranges": {"children": (LOW, HIGH)}}),
    ("negative-range", [lead(), {"type": "integer", "name": "temp", "label": "Temp", "constraint": ". >= -20 and . <= 55"}],
     yes_no(), [], {"ranges": {"temp": (-20, 55)}}),
    ("strict-decimal-range", [lead(), {"type": "integer", "name": "n", "label": "N", "constraint": ".>0.5 and .<10"}],
     yes_no(), [], {"ranges": {"n": (1, 9)}}),
    ("long-codes-capitals", [lead(), {"type": "select_multiple toppings", "name": "Pizza.Toppings", "label": "Which?"}],
     [*yes_no(), {"list_name": "toppings", "name": "pepperoni", "label": "Pepperoni"},
      {"list_name": "toppings", "name": "Mushroom_Fresh", "label": "Mushroom"}], [],
     {"codes": {"Pizza.Toppings": ["pepperoni", "Mushroom_Fresh"]}}),
    ("numeric-codes", [lead(), {"type": "select_one q", "name": "trust", "label": "Trust?"}],
     [*yes_no(), *({"list_name": "q", "name": code, "label": code} for code in ("1", "2", "98", "99"))], [],
     {"codes": {"trust": ["1", "2", "98", "99"]}}),
    ("or-other", [lead(), {"type": "select_one yn or_other", "name": "why", "label::English (en)": "Why?",
                           "label::Arabic (ar)": "لماذا؟"}],
     yes_no(), [], {"names": ["approve", "why", "why_other"], "relevant": {"why_other": "'other' in why"},
                    "other_label": {"ar": "أخرى", "ku": "هی تر", "en": "Other"}}),
    ("specify-other-by-hand", [lead(), {"type": "select_multiple src", "name": "sources", "label": "Sources?"},
                               {"type": "text", "name": "sources_other", "label": "Which other?",
                                "relevant": "selected(${sources}, 'other')"}],
     [*yes_no(), {"list_name": "src", "name": "tv", "label": "TV"}, {"list_name": "src", "name": "other", "label": "Other"}],
     [], {"relevant": {"sources_other": "'other' in sources"}}),
    ("randomize", [lead(), {"type": "select_one yn", "name": "again", "label": "Again?", "parameters": "randomize=true"}],
     yes_no(), [], {"randomized": ["again"]}),
    ("randomize-with-seed", [lead(), {"type": "select_one yn", "name": "again", "label": "Again?",
                                      "parameters": "randomize=true seed=${approve}"}],
     yes_no(), [], "survey sheet, row 3: parameters seed=${approve} is not supported: a poll draws each link's order"),
    ("note-shown", [{"type": "note", "name": "intro", "label": "Welcome"}, lead(hint="Choose one")], yes_no(), [],
     {"names": ["approve"], "warnings": 0, "hints": {"approve": {"en": "Welcome Choose one"}}}),
    ("note-under-a-condition", [lead(), {"type": "note", "name": "sorry", "label": "Sorry", "relevant": "${approve} = 'no'"},
                                {"type": "text", "name": "why", "label": "Why?"}], yes_no(), [],
     {"names": ["approve", "why"], "warnings": 1, "hints": {"why": {}}}),
    ("blank-idiom", [lead(), {"type": "text", "name": "nm", "label": "Name?"},
                     {"type": "text", "name": "more", "label": "Tell us more, ${nm}", "relevant": "${nm} != ''"}],
     yes_no(), [], {"relevant": {"more": "nm != ''"}, "holds": ("more", {"nm": "x"}, True)}),
    ("blank-equals", [lead(), {"type": "text", "name": "nm", "label": "Name?"},
                      {"type": "text", "name": "why_not", "label": "Why not?", "relevant": "${nm} = ''"}],
     yes_no(), [], {"holds": ("why_not", {}, True)}),
    ("multi-equals", [lead(), {"type": "select_multiple yn", "name": "m", "label": "M?"},
                      {"type": "text", "name": "only_yes", "label": "?", "relevant": "${m} = 'yes'"}],
     yes_no(), [], {"holds": ("only_yes", {"m": ["yes"]}, True)}),
    ("numeric-comparison", [lead(), {"type": "integer", "name": "age", "label": "Age", "constraint": ". >= 0"},
                            {"type": "text", "name": "job", "label": "Job?", "relevant": "${age} >= 18"}],
     yes_no(), [], {"holds": ("job", {"age": 17}, False)}),
    ("count-selected", [lead(), {"type": "select_multiple yn", "name": "m", "label": "M?"},
                        {"type": "text", "name": "both", "label": "?", "relevant": "count-selected(${m}) >= 2"}],
     yes_no(), [], {"holds": ("both", {"m": ["yes", "no"]}, True)}),
    ("numeric-equals", [lead(), {"type": "select_one yn", "name": "n", "label": "N?"},
                        {"type": "text", "name": "t", "label": "?", "relevant": "${approve} = 'yes' and not(${n} = 'no')"}],
     yes_no(), [], {"relevant": {"t": "approve == 'yes' and not (n == 'no')"}}),
    ("group-relevant", [lead(), {"type": "begin_group", "name": "g", "label": "More", "relevant": "${approve} = 'no'"},
                        {"type": "text", "name": "why", "label": "Why?"}, {"type": "end_group"}],
     yes_no(), [], {"relevant": {"why": "approve == 'no'"}}),
    ("headline-by-role", [{"type": "select_one yn", "name": "consent", "label": "Consent?", "required": "yes"},
                          {**lead(), "poll::role": "headline"}], yes_no(), [],
     {"headline": "approve"}),
    ("no-required-select-one", [{"type": "select_one yn", "name": "approve", "label": "Approve?"}], yes_no(), [],
     "survey sheet: a poll leads with a required select_one asked of everyone"),
    ("repeat", [lead(), {"type": "begin repeat", "name": "members", "label": "Members"},
                {"type": "text", "name": "member", "label": "Name"}, {"type": "end repeat"}],
     yes_no(), [], "survey sheet, row 3: type"),
    ("geopoint", [lead(), {"type": "geopoint", "name": "gps", "label": "Where?"}], yes_no(), [],
     "survey sheet, row 3: type \"geopoint\" is not supported"),
    ("calculate", [lead(), {"type": "calculate", "name": "c", "calculation": "1 + 1"}], yes_no(), [],
     "survey sheet, row 3: type"),
    ("every-problem-at-once", [lead(), {"type": "geopoint", "name": "gps", "label": "Where?"},
                               {"type": "integer", "name": "n", "label": "N", "constraint": "regex(., '1')"}],
     yes_no(), [], "survey sheet, row 3: type \"geopoint\" is not supported"),
    ("choice-without-our-language", [lead(), {"type": "select_one c", "name": "c", "label": "C?"}],
     [*yes_no(), {"list_name": "c", "name": "a", "label::French (fr)": "A"},
      {"list_name": "c", "name": "b", "label": "B"}], [],
     "choices sheet, row 4: the choice 'a' has no label in Arabic, Kurdish or English"),
    ("hint-and-required-words", [lead(hint="Choose one", required="true"),
                                 {"type": "text", "name": "c", "label": "C?", "required": "no"}], yes_no(), [],
     {"names": ["approve", "c"]}),
]


@pytest.mark.parametrize(("name", "survey", "choices", "settings", "expected"), CORPUS, ids=[c[0] for c in CORPUS])
def test_each_form_of_the_corpus_imports_as_written_or_is_refused_by_row(tmp_path: Path, name, survey, choices,
                                                                          settings, expected):
    sheets = {"survey": survey, "choices": choices} | ({"settings": settings} if settings else {})
    path = form(tmp_path / f"{name}.xlsx", **sheets)
    if isinstance(expected, str):
        with pytest.raises(Invalid) as refused:
            xlsform.read(path)
        assert str(refused.value).startswith(expected)
        return
    warnings: list[str] = []
    definition = xlsform.read(path, warnings)
    questions = {q.name: q for q in questionnaire.questions_of(definition)}
    for key in ("slug", "default_language", "title", "version"):
        if key in expected:
            assert definition.get(key) == expected[key]
    if "names" in expected:
        assert list(questions) == expected["names"]
    if "warnings" in expected:
        assert len(warnings) == expected["warnings"] and all(" row " in w or "labels in" in w for w in warnings)
    for question, label in expected.get("labels", {}).items():
        assert questions[question].label == label
    if "randomized" in expected:
        assert [name for name, q in questions.items() if q.randomize] == expected["randomized"]
    for question, hint in expected.get("hints", {}).items():
        assert questions[question].hint == hint
    for question, (low, high) in expected.get("ranges", {}).items():
        assert (questions[question].minimum, questions[question].maximum) == (low, high)
    for question, codes in expected.get("codes", {}).items():
        assert [c.code for c in questions[question].choices] == codes
    for question, relevant in expected.get("relevant", {}).items():
        assert questions[question].relevant == relevant
    if "other_label" in expected:
        assert questions["why"].choices[-1].label == expected["other_label"]
        assert questions["why_other"].label["ar"] and not questions["why_other"].required
    if "holds" in expected:
        question, answers, held = expected["holds"]
        assert questions[question].is_relevant(answers) is held
    if "headline" in expected:
        assert [q.name for q in questions.values() if q.is_headline] == [expected["headline"]]


def test_the_corpus_covers_forty_forms_and_most_import():
    refused = [c for c in CORPUS if isinstance(c[4], str)]
    assert len(CORPUS) >= 40 and len(refused) < len(CORPUS) / 4


def test_every_problem_is_said_at_once(tmp_path):
    path = form(tmp_path / "two.xlsx", survey=[lead(), {"type": "geopoint", "name": "gps", "label": "Where?"},
                                               {"type": "integer", "name": "n", "label": "N",
                                                "constraint": "regex(., '1')"}], choices=yes_no())
    with pytest.raises(Invalid) as refused:
        xlsform.read(path)
    assert "row 3" in str(refused.value) and "row 4" in str(refused.value)


def test_a_column_named_twice_is_refused_as_such(tmp_path):
    path = form(tmp_path / "twice.xlsx", survey=[lead()], choices=yes_no())
    from openpyxl import load_workbook
    book = load_workbook(path)
    book["survey"].cell(row=1, column=book["survey"].max_column + 1, value="name")
    book.save(path)
    with pytest.raises(Invalid, match=r"^survey sheet, row 1: the column 'name' is there twice"):
        xlsform.read(path)


IMPORTED = [c for c in CORPUS if not isinstance(c[4], str)]


def _answers_for(questions: list[questionnaire.Question], rng) -> dict[str, list[str]]:
    # One respondent's post: every question answered (the server keeps only the relevant ones), seeded.
    post: dict[str, list[str]] = {}
    for question in questions:
        codes = [c.code for c in question.choices if c.code != questionnaire.PREFER_NOT]
        if question.type == "select_multiple":
            post[question.form_name] = [code for code in codes if rng.random() < 0.6] or codes[:1]
        elif question.takes_choices:
            post[question.form_name] = [codes[int(rng.integers(len(codes)))]]
        elif question.type == "integer":
            low, high = max(question.minimum, -50), min(question.maximum, 50)
            post[question.form_name] = [str(int(rng.integers(low, high + 1)))]
        else:
            post[question.form_name] = ["some words"]
    return post


@pytest.mark.parametrize(("name", "survey", "choices", "settings", "expected"), IMPORTED, ids=[c[0] for c in IMPORTED])
def test_each_imported_form_exports_files_that_open_and_agree_with_the_results(
        tmp_path, runner, session, make_links, client, name, survey, choices, settings, expected):
    import csv
    import io
    import json

    import numpy as np

    from poll.services.definition import polls
    from tests.test_research_files import read_everywhere

    sheets = {"survey": survey, "choices": choices} | ({"settings": settings} if settings else {})
    created = runner.invoke(args=["polls", "create", str(form(tmp_path / f"{name}.xlsx", **sheets))])
    assert created.exit_code == 0, created.output
    session.commit()
    slug = session.scalars(sa.select(Poll.slug).order_by(Poll.id.desc())).first()
    assert runner.invoke(args=["polls", "open", slug]).exit_code == 0
    poll = polls.get_poll(session, slug)
    questions = polls.questions_of(poll)
    rng = np.random.default_rng(22)
    for token in make_links(poll, count=24):
        response = client.post(f"/p/{token}", data=_answers_for(questions, rng))
        assert response.status_code == 201, response.get_data(as_text=True)[:500]
    result = runner.invoke(args=["results", slug, "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    rows = list(csv.DictReader(io.StringIO(runner.invoke(args=["export", slug]).output)))
    assert len(rows) == document["answered"] == 24
    counted = {o["code"]: o["count"] for o in document["options"]}
    files = {}
    for fmt in ("sav", "dta"):
        path = tmp_path / f"answers.{fmt}"
        done = runner.invoke(args=["export", slug, "--format", fmt, "-o", str(path)])
        assert done.exit_code == 0, done.output
        files[fmt] = read_everywhere(path)
        assert len(files[fmt]) == 24
    stored = stat_files.values_of(answer_table.columns_of(poll)[0])
    for code, count in counted.items():
        assert sum(row["option"] == code for row in rows) == count
        for frame in files.values():
            assert int((frame["option"] == stored[code]).sum()) == count
    # Each other choice question's shown counts: the CSV's cells agree with them (withheld cells excluded).
    for figures in document.get("questions", []):
        question = next((q for q in questions if q.name == figures["name"]), None)
        if question is None or question.is_headline or not question.takes_choices or question.is_profile:
            continue
        for option in figures.get("options") or []:
            if option.get("count") is None:
                continue
            if question.type == "select_multiple":
                column = f"{question.name}_{option['code']}"
                assert sum(row.get(column) == "1" for row in rows) == option["count"], (question.name, option)
            else:
                assert sum(row.get(question.name) == option["code"] for row in rows) == option["count"]


def test_a_note_is_shown_as_text_on_the_respondents_page_with_the_question_after_it(tmp_path, runner, session,
                                                                                    make_links, client):
    from poll.services.definition import polls
    survey = [{"type": "note", "name": "intro", "label::English (en)": "Your answer is anonymous.",
               "label::Arabic (ar)": "إجابتك مجهولة الهوية."}, lead("label::English (en)", **{"label::Arabic (ar)": "هل توافق؟"})]
    choices = [{**row, "label::Arabic (ar)": text} for row, text in zip(yes_no("label::English (en)"), ["نعم", "لا"],
                                                                          strict=True)]
    path = form(tmp_path / "noted.xlsx", survey=survey, choices=choices, settings=[{"form_id": "noted"}])
    created = runner.invoke(args=["polls", "create", str(path)])
    assert created.exit_code == 0 and "skipped" not in created.output, created.output
    assert runner.invoke(args=["polls", "open", "noted"]).exit_code == 0
    token, = make_links(polls.get_poll(session, "noted"))
    assert "Your answer is anonymous." in client.get(f"/p/{token}?lang=en").get_data(as_text=True)
    assert "إجابتك مجهولة الهوية." in client.get(f"/p/{token}?lang=ar").get_data(as_text=True)


def test_randomized_choices_come_in_each_links_own_order_and_a_reload_keeps_it(tmp_path, runner, session, make_links,
                                                                             client):
    from poll.services.definition import polls
    parties = [{"list_name": "p", "name": f"p{n}", "label": f"Party {n}"} for n in range(1, 7)]
    survey = [lead(), {"type": "select_one p", "name": "party", "label": "Which party?", "parameters": "randomize=true"}]
    path = form(tmp_path / "random.xlsx", survey=survey, choices=[*yes_no(), *parties], settings=[{"form_id": "rnd"}])
    assert runner.invoke(args=["polls", "create", str(path)]).exit_code == 0
    assert runner.invoke(args=["polls", "open", "rnd"]).exit_code == 0
    tokens = make_links(polls.get_poll(session, "rnd"), count=6)

    def order(token: str) -> list[str]:
        page = client.get(f"/p/{token}?lang=en").get_data(as_text=True)
        return re.findall(r"Party (\d)", page)

    orders = [order(token) for token in tokens]
    assert all(sorted(shown) == list("123456") for shown in orders)
    assert [order(token) for token in tokens] == orders  # a reload keeps each link's order
    assert len({tuple(shown) for shown in orders}) > 1  # links differ (6 links alike: 1 in 120^5)
    assert order(tokens[0]) != ["1", "2", "3", "4", "5", "6"] or order(tokens[1]) != ["1", "2", "3", "4", "5", "6"]
    refused = client.post(f"/p/{tokens[0]}?lang=en", data={"option": "yes", "party": "p9"})
    assert refused.status_code == 400 and re.findall(r"Party (\d)", refused.get_data(as_text=True)) == orders[0]
    assert client.post(f"/p/{tokens[0]}", data={"option": "yes", "party": "p3"}).status_code == 201


def test_randomize_is_refused_on_the_headline_and_on_questions_without_choices():
    from poll import questionnaire as q
    with pytest.raises(Invalid, match="randomize is for the choices of a select_one or select_multiple"):
        q.questions_of({"questions": [{"name": "tea", "type": "select_one", "role": "headline", "randomize": True,
                                       "label": {"en": "Tea?"}, "choices": [{"code": "1", "label": {"en": "Y"}},
                                                                            {"code": "2", "label": {"en": "N"}}]}]})
