"""Answers for researchers: one row per response, a column per question, a weight; CSV, JSON lines, SPSS and
Stata files read back with their labels; an anonymous poll's rows still point at no one."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter, defaultdict

import pyreadstat
import pytest

from tests.test_questionnaire import HEADLINE, WHOLE_FORM

QUASI_IDENTIFIERS = ["governorate", "sex", "age_band", "answered", "channel", "employment", "education"]


@pytest.fixture
def simulated(runner, make_poll):
    make_poll("sim", status="draft")
    result = runner.invoke(args=["simulate", "sim", "--population", "30000", "--sample", "20000", "--seed", "7",
                                 "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_an_anonymous_polls_rows_are_safe_groups_with_one_weight_each(runner, simulated):
    rows = read_csv(runner.invoke(args=["export", "sim"]).output)
    assert len(rows) == simulated["answered"]
    assert "age" not in rows[0]  # an exact age would single people out: its band is the age_band column
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for row in rows:
        groups[tuple(row[name] for name in QUASI_IDENTIFIERS)].append(row)
    for members in groups.values():
        # Every combination shown is ten answers or more, not all the same.
        assert len(members) >= 10 and len({row["option"] for row in members}) >= 2
        # One weight per shown group, so the weight cannot tell a hidden category.
        assert len({row["weight"] for row in members}) == 1
    weights = [float(row["weight"]) for row in rows if row["weight"]]
    assert weights and abs(sum(weights) / len(weights) - 1) < 0.25


def test_a_poll_that_is_not_anonymous_exports_every_answer_as_given(client, runner, make_poll, make_links):
    many = {"name": "drinks", "type": "select_multiple", "label": {"en": "Which?"}, "required": False,
            "choices": [{"code": "t", "label": {"en": "Tea"}}, {"code": "c", "label": {"en": "Coffee"}}]}
    age = {"name": "age", "type": "integer", "min": 18, "max": 99, "label": {"en": "Age"}, "required": False}
    poll = make_poll(anonymous=False, questions=[HEADLINE, many, age])
    tokens = make_links(poll, count=2)
    client.post(f"/p/{tokens[0]}", data={"option": "1", "drinks": ["t", "c"], "age": "44"})
    client.post(f"/p/{tokens[1]}", data={"option": "2"})
    rows = read_csv(runner.invoke(args=["export", poll.slug]).output)
    assert list(rows[0]) == ["option", "channel", "answered", "governorate", "sex", "age_band", "drinks_t",
                             "drinks_c", "age", "weight"]
    by_option = {row["option"]: row for row in rows}
    assert (by_option["1"]["drinks_t"], by_option["1"]["drinks_c"], by_option["1"]["age"]) == ("1", "1", "44")
    assert (by_option["2"]["drinks_t"], by_option["2"]["age"]) == ("", "")


@pytest.mark.parametrize("fmt", ["sav", "dta"])
def test_spss_and_stata_files_read_back_with_their_labels(runner, simulated, tmp_path, fmt):
    path = tmp_path / f"answers.{fmt}"
    result = runner.invoke(args=["export", "sim", "--format", fmt, "--output", str(path)])
    assert result.exit_code == 0, result.output
    read = pyreadstat.read_sav if fmt == "sav" else pyreadstat.read_dta
    frame, meta = read(str(path))
    assert len(frame) == simulated["answered"]
    labels = dict(zip(meta.column_names, meta.column_labels, strict=True))
    assert labels["option"].startswith("عزيزي المواطن")  # the poll's default language, Arabic
    assert meta.variable_value_labels["option"] == {1: "إنهاء المهمة بكل الوسائل", 2: "إنهاء المهمة عبر الحوار",
                                                    3: "أؤيد استمرار المهمة", -1: "أخرى (مجموعات أصغر من أن تُعرض)"}
    csv_rows = read_csv(runner.invoke(args=["export", "sim"]).output)
    # The same answers, as places in each list: option "2" is 2, and so on.
    assert Counter(int(value) for value in frame["option"]) == Counter(int(row["option"]) for row in csv_rows)


def test_the_labels_language_can_be_chosen(runner, simulated, tmp_path):
    path = tmp_path / "answers.sav"
    assert runner.invoke(args=["export", "sim", "--format", "sav", "--language", "en", "-o", str(path)]).exit_code == 0
    _frame, meta = pyreadstat.read_sav(str(path))
    assert meta.variable_value_labels["sex"][2.0] == "Female"


def test_a_binary_export_needs_a_file_and_the_answers(runner, simulated):
    refused = runner.invoke(args=["export", "sim", "--format", "sav"])
    assert refused.exit_code != 0 and "--output" in refused.output
    refused = runner.invoke(args=["export", "sim", "--format", "dta", "--what", "results", "-o", "x.dta"])
    assert refused.exit_code != 0 and "for the answers" in refused.output


def test_the_web_offers_the_same_files(client, simulated, login, tmp_path):
    login()
    response = client.get("/api/v1/polls/sim/answers.dta?lang=ku")
    assert response.status_code == 200 and response.mimetype == "application/x-stata-dta"
    path = tmp_path / "answers.dta"
    path.write_bytes(response.get_data())
    frame, meta = pyreadstat.read_dta(str(path))
    assert len(frame) == simulated["answered"]
    assert dict(zip(meta.column_names, meta.column_labels, strict=True))["sex"] == "ڕەگەز"
    assert client.get("/api/v1/polls/sim/results.sav").status_code == 404  # files are of the answers


def test_a_profile_answer_cannot_single_out_a_respondent(client, runner, make_poll, make_links):
    # Twenty answers; one respondent alone says they are retired.
    poll = make_poll()
    forms = [WHOLE_FORM | {"option": str(1 + i % 2), "employment": str(1 + i % 2)} for i in range(20)]
    forms.append(WHOLE_FORM | {"option": "3", "employment": "7"})
    for token, form in zip(make_links(poll, count=len(forms)), forms, strict=True):
        assert client.post(f"/p/{token}", data=form).status_code == 201
    rows = read_csv(runner.invoke(args=["export", poll.slug]).output)
    assert "7" not in {row["employment"] for row in rows}
    retired = [row for row in rows if row["option"] == "3"]
    assert retired and all(row["employment"] in ("other", "*") for row in retired)


BIRTH_YEAR = {"name": "birth_year", "type": "integer", "role": "profile", "min": 1920, "max": 2006,
              "label": {"en": "Year of birth"}, "required": False}
HOUSEHOLD = {"name": "household", "type": "integer", "min": 1, "max": 30, "label": {"en": "People at home"},
             "required": False}


@pytest.fixture
def numbers_poll(client, make_poll, make_links):
    """Forty answers giving a birth year and a household size, exact numbers that would name people."""
    from tests.test_questionnaire import HEADLINE

    poll = make_poll("numbers", questions=[HEADLINE, BIRTH_YEAR, HOUSEHOLD])
    for number, token in enumerate(make_links(poll, count=40)):
        form = {"option": "12"[number % 2], "birth_year": str(1950 + number), "household": str(1 + number % 9)}
        assert client.post(f"/p/{token}", data=form).status_code == 201
    return poll


@pytest.mark.parametrize("fmt", ["csv", "sav", "dta"])
def test_numbers_are_banded_in_every_format(runner, numbers_poll, tmp_path, fmt):
    if fmt == "csv":
        rows = read_csv(runner.invoke(args=["export", "numbers"]).output)
    else:
        path = tmp_path / f"answers.{fmt}"
        assert runner.invoke(args=["export", "numbers", "--format", fmt, "-o", str(path)]).exit_code == 0
        frame, _meta = (pyreadstat.read_sav if fmt == "sav" else pyreadstat.read_dta)(str(path))
        rows = frame.astype(str).to_dict("records")
    assert len(rows) == 40
    for row in rows:
        for name in ("birth_year", "household"):
            assert row[name] == "*" or row[name] == "" or "-" in row[name], row[name]
    groups = Counter((row["birth_year"], row["household"]) for row in rows)
    assert all(count >= 10 for count in groups.values())


def test_bands_nest_and_follow_the_questions_range():
    from poll.questionnaire import questions_of
    from poll.services.releases import answer_table
    from tests.test_questionnaire import HEADLINE, definition

    birth_year, household = questions_of(definition(HEADLINE, BIRTH_YEAR, HOUSEHOLD))[1:]
    assert answer_table.band_widths(birth_year) == (5, 10, 20)
    assert [answer_table.band(birth_year, width)("1987") for width in (5, 10, 20)] == ["1985-1989", "1980-1989",
                                                                                      "1980-1999"]
    assert answer_table.band(birth_year, 5)("-") == "-"  # prefer not to say, as it is
    assert answer_table.band_widths(household) == (2, 4, 8)


def test_the_file_and_the_dashboard_say_what_was_generalised(runner, session, simulated, tmp_path):
    from poll.services.definition import polls
    from poll.services.releases import answer_table, exports

    path = tmp_path / "answers.sav"
    assert runner.invoke(args=["export", "sim", "--format", "sav", "--language", "en", "-o", str(path)]).exit_code == 0
    _frame, meta = pyreadstat.read_sav(str(path))
    note = " ".join(meta.notes)
    assert "random order" in note and "mean raking weight" in note
    labels = dict(zip(meta.column_names, meta.column_labels, strict=True))
    assert "does not reproduce the published estimate exactly" in labels["weight"]
    shape = exports.anonymised_shape(session, polls.get_poll(session, "sim"))
    for language in ("ar", "ku", "en"):
        sentences = answer_table.describe(shape, language)
        assert len(sentences) == 2 + len(shape.quasi)
    assert "ISO 8601 week" in " ".join(answer_table.describe(shape, "en")) or shape.level("answered") != 1


def _arabic_poll(client, make_poll, make_links):
    headline = {**HEADLINE, "label": {"ar": "شاي؟", "en": "Tea?"},
                "choices": [{"code": "1", "label": {"ar": "نعم", "en": "Yes"}},
                            {"code": "2", "label": {"ar": "لا", "en": "No"}}]}
    note = {"name": "note", "type": "text", "label": {"en": "Anything else?"}, "required": False}
    poll = make_poll(anonymous=False, questions=[headline, note])
    for token, words in zip(make_links(poll, count=2), ["شاي، مع سكر", "no; thanks"], strict=True):
        assert client.post(f"/p/{token}", data={"option": "1", "note": words}).status_code == 201
    return poll


def test_a_csv_keeps_its_bytes_unless_asked_for_excels_byte_order_mark_or_semicolons(client, runner, make_poll,
                                                                                     make_links):
    poll = _arabic_poll(client, make_poll, make_links)
    plain = runner.invoke(args=["export", poll.slug]).output
    assert plain.startswith("option,channel,")  # as scripts and the csv module read it
    excel = runner.invoke(args=["export", poll.slug, "--delimiter", ";", "--bom"]).output
    assert excel.startswith("\ufeffoption;channel;")
    rows = list(csv.DictReader(io.StringIO(excel.removeprefix("\ufeff")), delimiter=";"))
    assert sorted(row["note"] for row in rows) == ["no; thanks", "شاي، مع سكر"]  # a ; inside a cell is quoted
    results = runner.invoke(args=["export", poll.slug, "--what", "results", "--delimiter", "tab"]).output
    assert results.startswith("code\tlabel\tcount")
    refused = runner.invoke(args=["export", poll.slug, "--format", "json", "--bom"])
    assert refused.exit_code == 1 and "--format csv" in refused.output


def test_the_web_csv_takes_the_same_options_and_the_dashboard_offers_excels(client, runner, make_poll, make_links,
                                                                            login):
    poll = _arabic_poll(client, make_poll, make_links)
    login()
    response = client.get(f"/api/v1/polls/{poll.slug}/answers.csv?delimiter=%3B&bom=1")
    assert response.status_code == 200 and response.get_data().startswith("\ufeffoption;".encode())
    assert client.get(f"/api/v1/polls/{poll.slug}/answers.csv").get_data().startswith(b"option,")
    refused = client.get(f"/api/v1/polls/{poll.slug}/answers.csv?delimiter=x")
    assert refused.status_code == 400 and refused.mimetype == "application/problem+json"
    page = client.get(f"/dashboard/{poll.slug}").get_data(as_text=True)
    assert f"/api/v1/polls/{poll.slug}/answers.csv?bom=1" in page
