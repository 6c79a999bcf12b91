"""XLSForm poll definitions: pyxform reads the workbook, and what a poll cannot honour is refused by sheet and row."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
import sqlalchemy as sa
from openpyxl import Workbook

from poll import iraq, questionnaire
from poll.errors import Invalid
from poll.models import Poll
from poll.services.definition import polls, xlsform
from tests.helpers import fresh, rows

HEADLINE = {"type": "select_one support", "name": "support", "label::Arabic (ar)": "هل تؤيد استمرار المهمة؟",
            "label::Kurdish (ku)": "ئایا پشتگیریی بەردەوامبوونی ئەرکەکە دەکەیت؟",
            "label::English (en)": "Do you support the mission going on?", "required": "yes",
            "poll::role": "headline"}
YES = {"list_name": "support", "name": "1", "label::Arabic (ar)": "نعم", "label::Kurdish (ku)": "بەڵێ",
       "label::English (en)": "Yes"}
NO = {"list_name": "support", "name": "2", "label::Arabic (ar)": "لا", "label::Kurdish (ku)": "نەخێر",
      "label::English (en)": "No"}
SURVEY = [
    HEADLINE,  # row 2
    {"type": "select_one sex", "name": "sex", "label::English (en)": "Sex", "label::Arabic (ar)": "الجنس",
     "required": "yes", "poll::role": "profile", "poll::maps_to": "sex"},
    {"type": "integer", "name": "age", "label::English (en)": "Age", "constraint": ". >= 18 and . <= 100",
     "poll::role": "profile", "poll::maps_to": "age_band"},
    None,  # row 5, blank: the rows after it keep their spreadsheet numbers
    {"type": "select_multiple drinks", "name": "drinks", "label::English (en)": "What do you drink?"},
    {"type": "text", "name": "comment", "label::English (en)": "Anything else?", "hint::English (en)": "A few words"},
    {"type": "select_one how_end", "name": "how_end", "label::English (en)": "How should it end?",
     "relevant": "${support} = '2'", "required": "true"},
    {"type": "integer", "name": "cups", "label::English (en)": "Cups a day?", "relevant": "selected(${drinks}, 't')",
     "constraint": ".<=20 and .>=0"},
]
CHOICES = [
    YES, NO,
    {"list_name": "sex", "name": "M", "label::English (en)": "Male"},
    {"list_name": "sex", "name": "F", "label::English (en)": "Female"},
    {"list_name": "drinks", "name": "t", "label::English (en)": "Tea"},
    {"list_name": "drinks", "name": "c", "label::English (en)": "Coffee"},
    {"list_name": "how_end", "name": "1", "label::English (en)": "By all means"},
    {"list_name": "how_end", "name": "2", "label::English (en)": "Through dialogue"},
]
SETTINGS = [{"form_id": "Tea-Poll", "default_language": "Arabic (ar)", "poll::anonymous": "no",
             "poll::sms_sender": "TeaPoll"}]


def form(path: Path, **sheets: list[dict[str, str] | None]) -> Path:
    """An .xlsx at `path`, a sheet per keyword: rows as {column: value} (None: a blank row), the header made of them."""
    book = Workbook()
    book.remove(book.active)
    for name, sheet_rows in sheets.items():
        sheet = book.create_sheet(name)
        header = list(dict.fromkeys(column for row in sheet_rows if row for column in row))
        sheet.append(header)
        for row in sheet_rows:
            sheet.append([(row or {}).get(column) for column in header])
    book.save(path)
    return path


def good_form(tmp_path: Path) -> Path:
    return form(tmp_path / "tea.xlsx", survey=SURVEY, choices=CHOICES, settings=SETTINGS)


def without_role(row: dict[str, str]) -> dict[str, str]:
    return {column: value for column, value in row.items() if column != "poll::role"}


def test_a_form_becomes_a_definition_the_questionnaire_accepts(tmp_path):
    definition = xlsform.read(good_form(tmp_path))
    assert {key: definition[key] for key in ("slug", "default_language", "anonymous", "sms_sender")} == {
        "slug": "tea-poll", "default_language": "ar", "anonymous": False, "sms_sender": "TeaPoll"}
    questions = questionnaire.questions_of(definition)
    assert [(q.name, q.type, q.role, q.maps_to, q.required) for q in questions] == [
        ("support", "select_one", "headline", None, True),
        ("sex", "select_one", "profile", "sex", True),
        ("age", "integer", "profile", "age_band", False),
        ("drinks", "select_multiple", None, None, False),
        ("comment", "text", None, None, False),
        ("how_end", "select_one", None, None, True),
        ("cups", "integer", None, None, False),
    ]
    support, sex, age, _, comment, how_end, cups = questions
    assert support.label == {"ar": HEADLINE["label::Arabic (ar)"], "ku": HEADLINE["label::Kurdish (ku)"],
                             "en": "Do you support the mission going on?"}
    assert [(c.code, c.label) for c in support.choices] == [("1", {"ar": "نعم", "ku": "بەڵێ", "en": "Yes"}),
                                                           ("2", {"ar": "لا", "ku": "نەخێر", "en": "No"})]
    assert sex.label == {"en": "Sex", "ar": "الجنس"}
    assert [c.code for c in sex.choices] == ["M", "F", questionnaire.PREFER_NOT]
    assert (age.minimum, age.maximum, cups.minimum, cups.maximum) == (18, 100, 0, 20)
    assert comment.hint == {"en": "A few words"}
    assert (how_end.relevant, cups.relevant) == ("support == '2'", "'t' in drinks")
    assert how_end.is_relevant({"support": "2"}) and not how_end.is_relevant({"support": "1"})
    assert cups.is_relevant({"drinks": {"t", "c"}}) and not cups.is_relevant({"drinks": {"c"}})


def test_polls_create_takes_an_xlsform(runner, session, tmp_path):
    result = runner.invoke(args=["polls", "create", str(good_form(tmp_path))])
    assert result.exit_code == 0, result.output
    assert "created poll tea-poll (draft, 2 options" in result.output
    poll = fresh(session).scalar(sa.select(Poll))
    assert (poll.slug, poll.default_language, poll.is_anonymous) == ("tea-poll", "ar", False)
    assert poll.sms_sender == "TeaPoll"
    assert poll.question["en"] == "Do you support the mission going on?"
    assert [question.name for question in poll.questions] == ["support", "sex", "age", "drinks", "comment", "how_end",
                                                               "cups"]
    assert [question.relevant for question in poll.questions][-2:] == ["support == '2'", "'t' in drinks"]


def test_groups_are_opened_and_their_condition_joins_each_question(tmp_path):
    path = form(tmp_path / "groups.xlsx", survey=[
        HEADLINE,
        {"type": "begin group", "name": "more", "label::English (en)": "More", "relevant": "${support} = '1'"},
        {"type": "text", "name": "why", "label::English (en)": "Why?",
         "relevant": "not(${support} != '1') or ${support} = 2"},
        {"type": "text", "name": "who", "label::English (en)": "Who?"},
        {"type": "end group"},
    ], choices=[YES, NO])
    support, why, who = questionnaire.questions_of(xlsform.read(path))
    assert why.relevant == "(support == '1') and (not (support != '1') or support == 2)"
    assert who.relevant == "support == '1'"
    assert who.is_relevant({"support": "1"}) and not who.is_relevant({"support": "2"})


@pytest.mark.parametrize(("settings", "plain"), [([], "en"), ([{"default_language": "Arabic (ar)"}], "ar")])
def test_a_plain_label_is_in_the_default_language_and_sorani_is_kurdish(tmp_path, settings, plain):
    # The plain column last: pyxform alone would let it replace the translations.
    headline = {"type": "select_one support", "name": "support", "label::Sorani (ckb)": "پشتگیری؟",
                "label::en": "Support?", "label": "دعم؟", "required": "yes"}
    if plain == "en":
        headline = {column: value for column, value in headline.items() if column != "label::en"}
    sheets = {"survey": [headline], "choices": [YES, NO]} | ({"settings": settings} if settings else {})
    definition = xlsform.read(form(tmp_path / "languages.xlsx", **sheets))
    label = definition["questions"][0]["label"]
    assert label == {"ku": "پشتگیری؟", plain: "دعم؟"} | ({"en": "Support?"} if plain == "ar" else {})
    assert definition.get("default_language") == plain  # without one: the language the headline is in
    assert definition["slug"] == "languages"  # without a form_id, pyxform names the form after its file


def test_without_a_named_headline_the_first_select_one_without_a_role_is_it(tmp_path):
    sex = SURVEY[1]
    path = form(tmp_path / "headline.xlsx", survey=[SURVEY[2], sex, without_role(HEADLINE)], choices=CHOICES[:4])
    questions = questionnaire.questions_of(xlsform.read(path))
    assert [(q.name, q.role) for q in questions] == [("age", "profile"), ("sex", "profile"), ("support", "headline")]


def test_a_select_one_from_the_governorate_list_is_the_governorate_question(tmp_path):
    codes = [governorate.code for governorate in iraq.governorates()]
    governorate = {"type": "select_one governorate", "name": "governorate", "label::English (en)": "Governorate",
                   "required": "yes", "poll::role": "profile", "poll::maps_to": "governorate"}
    choices = [YES, NO, *({"list_name": "governorate", "name": code, "label::English (en)": code} for code in codes)]
    definition = xlsform.read(form(tmp_path / "gov.xlsx", survey=[HEADLINE, governorate], choices=choices))
    question = questionnaire.questions_of(definition)[1]
    assert (question.type, question.maps_to) == ("governorate", "governorate")
    assert [choice.code for choice in question.choices] == [*codes, questionnaire.PREFER_NOT]
    with pytest.raises(Invalid, match=rf"^survey sheet, row 3: .*, and '{codes[-1]}' is missing$"):
        xlsform.read(form(tmp_path / "gov.xlsx", survey=[HEADLINE, governorate], choices=choices[:-1]))


@pytest.mark.parametrize(("survey", "choices", "message"), [
    ([None, {"type": "geopoint", "name": "where", "label::English (en)": "Where?"}], [],
     'survey sheet, row 4: type "geopoint" is not supported (use select_one, select_multiple, integer or text)'),
    ([{"type": "text", "name": "why", "label::English (en)": "Why?", "relevant": "string-length(${support}) > 0"}],
     [], "survey sheet, row 3: relevant 'string-length(${support}) > 0': 'string-length(' is not supported"),
    ([{"type": "text", "name": "why", "label::English (en)": "Why?", "relevant": "${support} + 1 > 1"}], [],
     "survey sheet, row 3: relevant '${support} + 1 > 1': '+' is not supported"),
    ([{"type": "integer", "name": "age", "label::English (en)": "Age", "constraint": "regex(., '^[0-9]+$')"}], [],
     "survey sheet, row 3: constraint \"regex(., '^[0-9]+$')\" is not a range"),
    ([{"type": "select_one colours", "name": "colour", "label::English (en)": "Colour?"}], [],
     "survey sheet, row 3: List name not in choices sheet: colours"),
    ([{"type": "integer", "name": "n", "label::English (en)": "N", "constraint": ". >= 0 and . <= 2147483648"}], [],
     "survey sheet, row 3: min and max are whole numbers from -2147483648 to 2147483647"),
    ([{"type": "integer", "name": "n", "label::English (en)": "N", "constraint": ". >= 0 and . <= 9" + "9" * 5000}],
     [], "survey sheet, row 3: min and max are whole numbers from -2147483648 to 2147483647"),
    ([{"type": "text", "name": "support", "label::English (en)": "Again?"}], [],
     "survey sheet, row 3: the 'name' value 'support' is invalid."),
    ([{"type": "begin group", "name": "more"}, {"type": "text", "name": "support", "label::English (en)": "Again?"},
      {"type": "end group"}], [], "survey sheet, row 4: question 2 (support): the name is used twice"),
    ([{"type": "text", "name": "and", "label::English (en)": "And?"}], [],
     "survey sheet, row 3: question 2: the name 'and' is a word of conditions; choose another"),
    ([{"type": "select_one support", "name": "again", "label::English (en)": "Again?", "choice_filter": "name = '1'"}],
     [], "survey sheet, row 3: the column choice_filter is not supported"),
    ([{"type": "select_one colours", "name": "colour", "label::English (en)": "Colour?"}],
     [{"list_name": "colours", "name": "r", "label::English (en)": "Red"},
      {"list_name": "colours", "name": "g", "label::French (fr)": "Vert"}],
     "choices sheet, row 5: the choice 'g' has no label in Arabic, Kurdish or English"),
])
def test_what_a_poll_cannot_honour_is_refused_by_sheet_and_row(runner, session, tmp_path, survey, choices, message):
    path = form(tmp_path / "bad.xlsx", survey=[HEADLINE, *survey], choices=[YES, NO, *choices])
    result = runner.invoke(args=["polls", "create", str(path)])
    assert result.exit_code == 1
    assert len(result.output.strip().splitlines()) == 1
    assert result.output.startswith(f"Error: {message}")
    assert rows(session, Poll) == 0


def test_files_that_are_not_xlsforms_are_refused_in_one_line(runner, session, tmp_path):
    renamed_csv = tmp_path / "renamed.xlsx"
    renamed_csv.write_text("type,name,label\ntext,why,Why?\n")
    damaged = tmp_path / "damaged.xlsx"
    damaged.write_bytes(good_form(tmp_path).read_bytes()[:2000])
    for path in (renamed_csv, damaged):
        result = runner.invoke(args=["polls", "create", str(path)])
        assert (result.exit_code, result.output) == (1, f"Error: cannot read poll definition {path}: it is not an "
                                                         "Excel workbook (.xlsx or .xls), or a damaged one\n")
    no_survey = form(tmp_path / "no-survey.xlsx", questions=[HEADLINE], choices=[YES, NO])
    result = runner.invoke(args=["polls", "create", str(no_survey)])
    assert (result.exit_code, result.output) == (1, "Error: no-survey.xlsx: You must have a sheet named 'survey'.\n")
    assert rows(session, Poll) == 0


def test_the_slug_is_the_form_id_as_written_and_one_that_cannot_be_is_refused(tmp_path):
    path = form(tmp_path / "slug.xlsx", survey=[HEADLINE], choices=[YES, NO], settings=[{"form_id": "Tea_Poll_2024"}])
    assert xlsform.read(path)["slug"] == "tea-poll-2024"
    path = form(tmp_path / "slug.xlsx", survey=[HEADLINE], choices=[YES, NO], settings=[{"form_id": "استبيان"}])
    with pytest.raises(Invalid, match=r"^settings sheet, row 2: form_id 'استبيان' cannot be the poll's slug"):
        xlsform.read(path)


def test_the_slug_rule_is_the_one_polls_applies():
    assert xlsform.SLUG.pattern == polls.SLUG.pattern


def test_a_workbook_too_large_or_too_long_is_refused_before_pyxform_reads_it(runner, session, tmp_path, monkeypatch):
    def never(*_args, **_kwargs):
        raise AssertionError("pyxform read a workbook past the limits")

    monkeypatch.setattr(xlsform, "get_xlsform", never)
    long_choices = [{"list_name": "support", "name": str(n), "label::English (en)": str(n)} for n in range(5_001)]
    too_long = form(tmp_path / "long.xlsx", survey=[HEADLINE], choices=long_choices)
    too_big = tmp_path / "big.xlsx"
    too_big.write_bytes(good_form(tmp_path).read_bytes() + b"\0" * (5 * 1024 * 1024))
    bomb = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", b" " * (51 * 1024 * 1024))
    for path, said in ((too_long, "the choices sheet has more than 5,000 rows, the most a poll's sheet may have"),
                       (too_big, "it is larger than 5 MB, the most a poll's workbook may be"),
                       (bomb, "it unpacks to more than 50 MB, the most a poll's workbook may hold")):
        result = runner.invoke(args=["polls", "create", str(path)])
        assert (result.exit_code, result.output) == (1, f"Error: cannot read poll definition {path}: {said}\n")
    assert rows(session, Poll) == 0


def test_a_workbook_at_the_row_limit_is_read(tmp_path):
    choices = [YES, NO, *({"list_name": "other", "name": str(n), "label::English (en)": str(n)} for n in range(4_998))]
    definition = xlsform.read(form(tmp_path / "full.xlsx", survey=[HEADLINE], choices=choices))
    assert definition["slug"] == "full"
