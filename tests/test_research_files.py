"""Research files keep the form: its codes as values, names both packages accept, read back by pyreadstat, pandas
and GNU PSPP (an SPSS implementation of its own)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pyreadstat
import pytest

from poll.services import stat_files
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
    from poll.services.answer_table import WITHHELD_BLANK, Column
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
