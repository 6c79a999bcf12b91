"""Research files keep the form: its codes as values, names both packages accept, read back by pyreadstat, pandas
and GNU PSPP (an SPSS implementation of its own)."""

from __future__ import annotations

import csv
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pyreadstat
import pytest

from poll.services.releases import stat_files
from tests.helpers import require
from tests.test_questionnaire import HEADLINE


def test_names_are_legal_never_reserved_and_never_collide():
    long = "a_very_long_question_name_that_goes_on_and_on"
    names = stat_files.variable_names(["option", "weight", "weight", "in", "Sex", "sex", "1st", long, long + "_b",
                                       "str12", "q.dot"])
    assert names == ["option", "weight", "weight_2", "in_", "Sex", "sex_2", "v_1st", long[:32], long[:30] + "_2",
                     "str12_", "q_dot"]


def read_everywhere(path: Path) -> pd.DataFrame:
    """The file as pyreadstat reads it, checked against pandas' Stata reader or GNU PSPP."""
    if path.suffix == ".dta":
        frame, _meta = pyreadstat.read_dta(str(path))
        with pd.io.stata.StataReader(path) as reader:
            pandas_frame = reader.read(convert_categoricals=False)
        assert list(pandas_frame.columns) == list(frame.columns) and len(pandas_frame) == len(frame)
        return frame
    frame, _meta = pyreadstat.read_sav(str(path))
    pspp = shutil.which("pspp")
    require("GNU PSPP", pspp is not None, "apt-get install pspp")
    if pspp is not None:  # GNU PSPP reads the file as an independent SPSS implementation
        script = path.with_suffix(".sps")
        listing = path.with_suffix(".txt")
        script.write_text(f"GET FILE='{path}'.\nDISPLAY DICTIONARY.\nDESCRIPTIVES /VARIABLES=ALL.\n")
        done = subprocess.run([pspp, "-o", str(listing), str(script)], capture_output=True, text=True, timeout=60)
        said = listing.read_text(errors="replace") if listing.exists() else ""
        assert done.returncode == 0 and said and "error" not in said.lower(), done.stdout + said
    return frame


@pytest.mark.parametrize("fmt", ["sav", "dta"])
def test_a_poll_that_is_not_anonymous_with_names_like_the_fixed_columns_exports(runner, make_poll, make_links, client,
                                                                              tmp_path, fmt):
    weight = {"name": "weight", "type": "integer", "label": {"en": "Your weight in kg" + " really" * 60},
              "min": 30, "max": 200, "required": False}
    trust = {"name": "long", "type": "select_one", "label": {"en": "Trust?"}, "required": False,
             "choices": [{"code": "1", "label": {"en": "Yes"}}, {"code": "98", "label": {"en": "Don't know"}}]}
    sex = {"name": "sex", "type": "select_one", "label": {"en": "Sex?"}, "required": False,
           "choices": [{"code": "M", "label": {"en": "Man"}}, {"code": "F", "label": {"en": "Woman"}}]}
    poll = make_poll(anonymous=False, questions=[HEADLINE, weight, trust, sex])
    for token, answers in zip(make_links(poll, count=3), [{"option": "1", "weight": "70", "long": "98", "sex": "F"},
                                                          {"option": "2", "long": "1"}, {"option": "1"}], strict=True):
        assert client.post(f"/p/{token}", data=answers).status_code == 201
    path = tmp_path / f"answers.{fmt}"
    result = runner.invoke(args=["export", poll.slug, "--format", fmt, "--language", "en", "-o", str(path)])
    assert result.exit_code == 0, result.output
    frame = read_everywhere(path)
    reader = pyreadstat.read_sav if fmt == "sav" else pyreadstat.read_dta
    _frame, meta = reader(str(path))
    assert {"weight", "weight_2", "long_", "sex", "sex_2"} <= set(frame.columns)
    assert sorted(frame["long_"].dropna()) == [1, 98]  # the form's codes, not places in the list
    assert meta.variable_value_labels["long_"] == {1: "Yes", 98: "Don't know",
                                                   -98 if fmt == "sav" else "b": "Skipped (asked, left blank)"}
    assert -1 not in meta.variable_value_labels["option"]  # nothing is hidden as "other" here
    if fmt == "sav":
        document = " ".join(meta.notes)
        assert "sex_2 (sex): Sex? [1 = M, 2 = F]" in document and "really really" in document
        assert meta.variable_measure["weight_2"] == "scale"
    csv_header = runner.invoke(args=["export", poll.slug]).output.splitlines()[0].split(",")
    assert len(csv_header) == len(set(csv_header)) and "weight_2" in csv_header


@pytest.mark.parametrize("fmt", ["sav", "dta"])
@pytest.mark.parametrize("anonymous", [True, False])
def test_the_articles_poll_exports_anonymous_or_not(runner, make_poll, tmp_path, fmt, anonymous):
    make_poll("sim", status="draft", anonymous=anonymous)
    result = runner.invoke(args=["simulate", "sim", "--population", "3000", "--sample", "2000", "--seed", "4"])
    assert result.exit_code == 0, result.output
    path = tmp_path / f"answers.{fmt}"
    result = runner.invoke(args=["export", "sim", "--format", fmt, "-o", str(path)])
    assert result.exit_code == 0, result.output
    frame = read_everywhere(path)
    csv_rows = runner.invoke(args=["export", "sim"]).output.strip().splitlines()[1:]
    assert len(frame) == len(csv_rows)


def pspp_says(path: Path, commands: str) -> str:
    """What GNU PSPP prints running `commands` (an SPSS syntax), or "" where PSPP is not installed."""
    pspp = shutil.which("pspp")
    require("GNU PSPP", pspp is not None, "apt-get install pspp")
    if pspp is None:
        return ""
    script, listing = path.with_name(path.stem + "-check.sps"), path.with_name(path.stem + "-check.txt")
    script.write_text(commands)
    done = subprocess.run([pspp, "-O", "format=txt", "-o", str(listing), str(script)], capture_output=True,
                          text=True, timeout=60)
    said = listing.read_text(errors="replace") if listing.exists() else ""
    assert done.returncode == 0 and "error" not in said.lower(), done.stdout + said
    return said


def _poll_with_blanks(make_poll, make_links, client):
    # Three respondents: one asked the follow-up and answering it, one asked it and leaving it blank, one not
    # asked it; the profile age answered, refused ("prefer not to say"), and left out.
    why = {"name": "why", "type": "select_one", "label": {"en": "Why not?"}, "relevant": "tea == '2'",
           "required": False, "choices": [{"code": "1", "label": {"en": "Taste"}}, {"code": "2", "label": {"en": "Price"}}]}
    age = {"name": "years", "type": "integer", "label": {"en": "Age"}, "min": -100, "max": 120, "role": "profile",
           "required": False}
    poll = make_poll(anonymous=False, questions=[HEADLINE, why, age])
    for token, answers in zip(make_links(poll, count=3), [{"option": "2", "why": "2", "years": "-97"},
                                                          {"option": "2", "years": "-"}, {"option": "1"}], strict=True):
        assert client.post(f"/p/{token}", data=answers).status_code == 201
    return poll


def test_an_spss_file_tells_not_asked_skipped_and_refused_apart_as_labelled_user_missing_codes(
        runner, make_poll, make_links, client, tmp_path):
    poll = _poll_with_blanks(make_poll, make_links, client)
    path = tmp_path / "answers.sav"
    assert runner.invoke(args=["export", poll.slug, "--format", "sav", "--language", "en", "-o",
                                 str(path)]).exit_code == 0
    frame, meta = pyreadstat.read_sav(str(path), user_missing=True)
    rows = set(zip(frame["option"], frame["why"], frame["years"], strict=True))
    assert rows == {(2, 2, -97), (2, -98, -104), (1, -97, -102)}  # why: Price, skipped, not asked;
    # years: -97 is an age this question takes, so its missing codes sit below its range: prefer not, skipped
    assert meta.variable_value_labels["why"][-97] == "Not asked (its condition did not hold)"
    assert meta.variable_value_labels["why"][-98] == "Skipped (asked, left blank)"
    assert meta.variable_value_labels["years"][-104] == "Prefer not to say"
    assert {(r["lo"], r["hi"]) for r in meta.missing_ranges["why"]} == {(-99, -96)}
    assert {(r["lo"], r["hi"]) for r in meta.missing_ranges["years"]} == {(-104, -101)}
    plain, _meta = pyreadstat.read_sav(str(path))  # analyses leave them out
    assert plain["why"].dropna().tolist() == [2]
    said = pspp_says(path, f"GET FILE='{path}'.\nFREQUENCIES why.\n")
    assert not said or ("Not asked" in said and "Skipped" in said and "Missing" in said)


def test_a_stata_file_holds_the_blanks_as_labelled_extended_missing_values(runner, make_poll, make_links, client,
                                                                            tmp_path):
    poll = _poll_with_blanks(make_poll, make_links, client)
    path = tmp_path / "answers.dta"
    assert runner.invoke(args=["export", poll.slug, "--format", "dta", "--language", "en", "-o",
                                 str(path)]).exit_code == 0
    frame, meta = pyreadstat.read_dta(str(path), user_missing=True)
    rows = set(zip(frame["option"], frame["why"], frame["years"], strict=True))
    assert rows == {(2, 2, -97), (2, "b", "d"), (1, "a", "b")}
    assert meta.variable_value_labels["why"]["a"] == "Not asked (its condition did not hold)"
    assert set(meta.missing_user_values["why"]) == {"a", "b"}
    with pd.io.stata.StataReader(path) as reader:  # pandas sees Stata's .a and .b, not numbers
        missing = reader.read(convert_categoricals=False, convert_missing=True, convert_dates=False)
    assert sorted(str(value) for value in missing["why"]) == [".a", ".b", "2"]


@pytest.mark.parametrize("fmt", ["sav", "dta"])
def test_when_answered_is_a_date_and_time_in_both_files(runner, make_poll, make_links, client, tmp_path, fmt):
    poll = _poll_with_blanks(make_poll, make_links, client)
    path = tmp_path / f"answers.{fmt}"
    assert runner.invoke(args=["export", poll.slug, "--format", fmt, "-o", str(path)]).exit_code == 0
    frame, meta = (pyreadstat.read_sav if fmt == "sav" else pyreadstat.read_dta)(str(path))
    assert meta.original_variable_types["answered"] in ("DATETIME20", "%tc")
    assert str(frame["answered"].dtype).startswith("datetime64")
    assert frame["answered"].notna().all()


def test_the_spss_file_is_weighted_by_its_weight_as_its_label_says(runner, make_poll, tmp_path):
    make_poll("sim", status="draft", anonymous=False)
    result = runner.invoke(args=["simulate", "sim", "--population", "3000", "--sample", "600", "--seed", "4"])
    assert result.exit_code == 0, result.output
    path = tmp_path / "answers.sav"
    assert runner.invoke(args=["export", "sim", "--format", "sav", "--language", "en", "-o", str(path)]).exit_code == 0
    _frame, meta = pyreadstat.read_sav(str(path))
    assert meta.column_names_to_labels["weight"] == "Weight (raking, mean 1)"
    assert "Cases are weighted by weight (the file's case weight)." in " ".join(meta.notes)
    said = pspp_says(path, f"SYSFILE INFO FILE='{path}'.\nGET FILE='{path}'.\nSHOW WEIGHT.\n")
    assert not said or "WEIGHT is weight" in said


def test_a_withheld_cell_is_its_own_missing_code_and_the_answer_and_weight_are_never_said_withheld(tmp_path):
    from poll.services.releases.answer_table import WITHHELD_BLANK, Column
    columns = [Column("option", {"en": "Tea?"}, "choice", (("1", {"en": "Yes"}), ("2", {"en": "No"})),
                      always_shown=True),
               Column("governorate", {"en": "Governorate"}, "choice", (("IQ-BG", {"en": "Baghdad"}),)),
               Column("why", {"en": "Why?"}, "choice", (("a", {"en": "Taste"}),), asked=True, conditional=True),
               Column("weight", {"en": "Weight"}, "number", always_shown=True)]
    rows = [("1", "*", WITHHELD_BLANK, 1.0), ("2", "IQ-BG", "a", 1.5)]
    path = tmp_path / "answers.sav"
    path.write_bytes(stat_files.write(columns, rows, "sav", "en", "t", note=["Generalised."]))
    frame, meta = pyreadstat.read_sav(str(path), user_missing=True)
    assert frame["governorate"].tolist() == [-99, 1] and frame["why"].tolist() == [-99, 1]
    assert meta.variable_value_labels["why"][-99] == "Withheld to protect respondents"
    assert -99 not in meta.variable_value_labels["option"] and "weight" not in meta.variable_value_labels


def _profile_poll(make_poll, make_links, client, anonymous=False, count=3):
    # A poll with a coded choice (M/F), a multiple choice, a conditional question and a number.
    sex = {"name": "gender", "type": "select_one", "label": {"en": "Gender? It's \"asked\" for $reasons"},
           "required": False, "choices": [{"code": "M", "label": {"en": "Man"}}, {"code": "F", "label": {"en": "Woman"}}]}
    drinks = {"name": "drinks", "type": "select_multiple", "label": {"en": "Which?"}, "required": False,
              "choices": [{"code": "t", "label": {"en": "Tea"}}, {"code": "c", "label": {"en": "Coffee"}}]}
    why = {"name": "why", "type": "select_one", "label": {"en": "Why not?"}, "relevant": "tea == '2'",
           "required": False, "choices": [{"code": "98", "label": {"en": "Don't know"}},
                                          {"code": "1", "label": {"en": "Taste"}}]}
    cups = {"name": "cups", "type": "integer", "label": {"en": "Cups a day"}, "min": 0, "max": 30, "required": False}
    poll = make_poll(anonymous=anonymous, questions=[HEADLINE, sex, drinks, why, cups])
    answers = [{"option": "2", "gender": "F", "drinks": ["c"], "why": "98", "cups": "3"},
               {"option": "1", "gender": "M", "drinks": ["t", "c"], "cups": "0"}, {"option": "2"}]
    for token, given in zip(make_links(poll, count=count), (answers * count)[:count], strict=True):
        assert client.post(f"/p/{token}", data=given).status_code == 201
    return poll


@pytest.mark.parametrize("delimiter", [",", ";"])
def test_pspp_reads_the_csv_through_the_sps_syntax_with_the_files_names_labels_and_codes(
        runner, make_poll, make_links, client, tmp_path, delimiter):
    poll = _profile_poll(make_poll, make_links, client)
    csv_path = tmp_path / f"{poll.slug}-answers.csv"
    args = ["export", poll.slug, "--delimiter", delimiter, "--language", "en"]
    assert runner.invoke(args=[*args, "--bom", "-o", str(csv_path)]).exit_code == 0
    syntax = tmp_path / "labels.sps"
    assert runner.invoke(args=[*args, "--format", "sps", "-o", str(syntax)]).exit_code == 0
    saved = tmp_path / "labelled.sav"
    said = pspp_says(tmp_path / "run.sps", f"CD '{tmp_path}'.\nINCLUDE FILE='{syntax}'.\n"
                                           f"SAVE OUTFILE='{saved}'.\nFREQUENCIES gender why.\n")
    if not said:
        return
    assert "Woman" in said and "Don't know" in said and "Not asked" not in said.split("FREQUENCIES")[-1]
    frame, meta = pyreadstat.read_sav(str(saved))
    assert list(frame.columns) == ["option", "channel", "answered", "governorate", "sex", "age_band", "gender",
                                   "drinks_t", "drinks_c", "why", "cups", "weight"]
    assert sorted(frame["gender"].dropna()) == [1, 2] and sorted(frame["why"].dropna()) == [98]
    assert sorted(frame["cups"].dropna()) == [0, 3] and frame["drinks_c"].sum() == 2
    assert meta.variable_value_labels["gender"][2] == "Woman"
    assert meta.column_names_to_labels["gender"] == 'Gender? It\'s "asked" for $reasons'
    assert meta.variable_measure["cups"] == "scale"
    assert "WEIGHT is weight" in pspp_says(tmp_path / "info.sps", f"GET FILE='{saved}'.\nSHOW WEIGHT.\n")


def test_the_do_file_labels_the_csv_as_the_stata_file_is_labelled(runner, make_poll, make_links, client):
    poll = _profile_poll(make_poll, make_links, client)
    do = runner.invoke(args=["export", poll.slug, "--format", "do", "--language", "en", "--delimiter", ";"]).output
    assert f'import delimited using "{poll.slug}-answers.csv", delimiters(";") varnames(nonames)' in do
    assert 'replace gender = 2 if v7 == `"F"\'' in do  # places in the list, as the .dta stores them
    assert 'replace why = 98 if v10 == `"98"\'' in do  # the form's own numbers
    assert "label variable gender `\"Gender? It's \"asked\" for \\$reasons\"'" in do  # no macro expands
    assert 'label define lbl_10 98 `"Don\'t know"\' 1 `"Taste"\' .a `"Not asked (its condition did not hold)"\' ' \
           '.b `"Skipped (asked, left blank)"\', replace' in do
    assert "label values why lbl_10" in do and "generate double cups = real(v11)" in do
    assert "[pweight=weight]" in do


@pytest.mark.parametrize("fmt", ["csv", "html"])
def test_the_codebook_maps_each_question_to_its_column_codes_and_missing_codes(runner, make_poll, make_links, client,
                                                                               fmt):
    poll = _profile_poll(make_poll, make_links, client)
    text = runner.invoke(args=["export", poll.slug, "--what", "codebook", "--format", fmt, "--language", "en"]).output
    if fmt == "csv":
        import csv
        import io
        rows = list(csv.DictReader(io.StringIO(text)))
        gender = [row for row in rows if row["variable"] == "gender"]
        assert gender[0]["label"].startswith("Gender?") and gender[0]["measure"] == "nominal"
        assert [(r["code"], r["stored_as"], r["value_label"]) for r in gender[1:]] == [
            ("M", "1", "Man"), ("F", "2", "Woman"), ("", "-98", "Skipped (asked, left blank)")]
        assert {r["csv_column"] for r in rows if r["variable"] == "drinks_t"} == {"drinks_t"}
    else:
        assert text.startswith("<!doctype html>") and '<h2 id="why"><code>why</code></h2>' in text
        assert "Gender? It&#39;s &#34;asked&#34;" in text and "Not asked (its condition did not hold)" in text
    refused = runner.invoke(args=["export", poll.slug, "--what", "codebook", "--format", "sav"])
    assert refused.exit_code == 1 and "html or csv" in refused.output


def test_the_sps_syntax_reads_an_anonymous_polls_generalised_csv(runner, make_poll, make_links, client, tmp_path):
    poll = _profile_poll(make_poll, make_links, client, anonymous=True, count=12)
    csv_path = tmp_path / f"{poll.slug}-answers.csv"
    assert runner.invoke(args=["export", poll.slug, "-o", str(csv_path)]).exit_code == 0
    syntax = tmp_path / "labels.sps"
    assert runner.invoke(args=["export", poll.slug, "--format", "sps", "--language", "en", "-o",
                               str(syntax)]).exit_code == 0
    saved = tmp_path / "labelled.sav"
    if not pspp_says(tmp_path / "run.sps", f"CD '{tmp_path}'.\nINCLUDE FILE='{syntax}'.\nSAVE OUTFILE='{saved}'.\n"):
        return
    frame, meta = pyreadstat.read_sav(str(saved), user_missing=True)
    shown = list(csv.DictReader(csv_path.open(encoding="utf-8")))
    assert len(frame) == len(shown) == 12
    for column, number in (("governorate", {"other": -1, "*": -99}), ("gender", {"other": -1, "*": -99})):
        expected = sorted(number[row[column]] for row in shown if row[column] in number)
        assert sorted(value for value in frame[column] if value in (-1, -99)) == expected
    assert meta.variable_value_labels["governorate"][-99] == "Withheld to protect respondents"
    assert sorted(frame["cups"].str.strip()) == sorted(row["cups"] for row in shown)  # a band, or withheld, as text
    assert sorted(frame["why"].dropna()) == sorted(int(row["why"]) for row in shown if row["why"])


def test_in_an_anonymous_poll_a_blank_whose_reason_would_tell_a_generalised_answer_is_said_withheld(
        runner, make_poll, make_links, client, tmp_path):
    # "Not asked" beside a job question asked only of the employed would tell who is employed, which the
    # export generalises: such a blank is withheld. A blank under a condition on the headline, shown as
    # answered, keeps its reason.
    employed = {"name": "employed", "type": "select_one", "label": {"en": "Employed?"}, "role": "profile",
                "choices": [{"code": "y", "label": {"en": "Yes"}}, {"code": "n", "label": {"en": "No"}}]}
    job = {"name": "job", "type": "select_one", "label": {"en": "Job?"}, "relevant": "employed == 'y'",
           "required": False, "choices": [{"code": "1", "label": {"en": "Office"}}, {"code": "2", "label": {"en": "Field"}}]}
    why = {"name": "why", "type": "select_one", "label": {"en": "Why not?"}, "relevant": "tea == '2'",
           "required": False, "choices": [{"code": "1", "label": {"en": "Taste"}}, {"code": "2", "label": {"en": "Price"}}]}
    poll = make_poll(anonymous=True, questions=[HEADLINE, employed, job, why])
    given = [{"option": "1", "employed": "y", "job": "1"}, {"option": "2", "employed": "n", "why": "2"},
             {"option": "2", "employed": "y"}, {"option": "1", "employed": "n"}]
    for token, answers in zip(make_links(poll, count=24), given * 6, strict=True):
        assert client.post(f"/p/{token}", data=answers).status_code == 201
    path = tmp_path / "answers.sav"
    done = runner.invoke(args=["export", poll.slug, "--format", "sav", "--language", "en", "-o", str(path)])
    assert done.exit_code == 0, done.output
    frame, meta = pyreadstat.read_sav(str(path), user_missing=True)
    assert sorted(set(frame["job"])) == [-99, 1]  # never -97 (not employed) nor -98
    assert sorted(set(zip(frame["option"], frame["why"], strict=True))) == [(1, -97), (2, -98), (2, 2)]
    assert meta.variable_value_labels["job"][-99] == "Withheld to protect respondents"


def test_the_web_gives_the_codebook_and_the_syntax_to_operators(client, make_poll, make_links, login):
    poll = _profile_poll(make_poll, make_links, client)
    assert client.get(f"/api/v1/polls/{poll.slug}/codebook.html").status_code == 401
    login("viewer")
    page = client.get(f"/api/v1/polls/{poll.slug}/codebook.html?lang=en")
    assert page.status_code == 200 and page.mimetype == "text/html" and b"Gender?" in page.get_data()
    assert client.get(f"/api/v1/polls/{poll.slug}/codebook.csv").get_data().startswith(b"variable,csv_column,")
    sps = client.get(f"/api/v1/polls/{poll.slug}/syntax.sps?delimiter=%3B")
    assert sps.status_code == 200 and b"/DELIMITERS=';'" in sps.get_data()
    assert f'{poll.slug}-answers.do"' in client.get(f"/api/v1/polls/{poll.slug}/syntax.do").headers[
        "Content-Disposition"]
    assert client.get(f"/api/v1/polls/{poll.slug}/syntax.sav").status_code == 404
