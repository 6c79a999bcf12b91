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
    assert meta.variable_value_labels["long_"] == {1: "Yes", 98: "Don't know"}
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
