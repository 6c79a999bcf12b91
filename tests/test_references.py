"""Weighting against a reference: a simulated reference survey in the Monte Carlo, references uploaded with their
source, raking on profile questions against them, and propensity weighting beside raking."""

import numpy as np
import pytest
import sqlalchemy as sa

from poll.models import AuditEvent, WeightingReference
from poll.simulate import comparison


def test_a_reference_survey_lets_weighting_remove_what_education_adds():
    found = comparison.reference_rows(20, population_size=60_000, sample_size=40_000, names=("baseline",),
                                      progress=False)
    figures = found[0].mc.estimators
    support = comparison.SUPPORT
    demography = abs(figures["demography"].bias[support])
    assert abs(figures["education"].bias[support]) < demography / 2
    assert abs(figures["propensity"].bias[support]) < demography / 2
    # Raking on what predicts the answers: the calibration-aware interval is narrower than Kish's.
    for name in ("demography", "education"):
        assert np.all(figures[name].width["linearised"] < figures[name].width["kish"])
    table = comparison.reference_markdown(found).splitlines()
    assert len(table) == 2 + 3 and all(line.count("|") == 11 for line in table)
    assert "propensity (reference survey)" in table[-1]

EDUCATION_MARGINS = "variable,category,share\n" + "".join(
    f"education,{code},{share}\n" for code, share in zip("12345", (0.15, 0.27, 0.33, 0.21, 0.04), strict=True))
SOURCE = "Example survey of Iraqi adults, 2019, table 3"


def reference(runner, tmp_path, text: str, *args: str, name: str = "reference.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return runner.invoke(args=["weighting", "reference", "ref", str(path), *args])


def test_margins_are_stored_with_their_source_shown_and_audited(runner, tmp_path, session, make_poll):
    make_poll("ref")
    result = reference(runner, tmp_path, EDUCATION_MARGINS, "--source", SOURCE, "--year", "2019")
    assert result.exit_code == 0, result.output
    assert f"source: {SOURCE} (2019)" in result.output
    assert "education: 1 15.0%, 2 27.0%, 3 33.0%, 4 21.0%, 5 4.0%" in result.output
    assert "no sourced target for employment: not weighted on it" in result.output
    stored = session.scalar(sa.select(WeightingReference))
    assert (stored.kind, stored.source, stored.year) == ("margins", SOURCE, 2019)
    assert stored.margins["education"]["3"] == pytest.approx(0.33)
    event = session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "weighting-reference-set"))
    assert event.subject == "ref" and event.detail["source"] == SOURCE
    shown = runner.invoke(args=["weighting", "show", "ref"])
    assert shown.exit_code == 0 and SOURCE in shown.output


def test_without_a_reference_the_poll_says_what_it_cannot_weight_on(runner, make_poll):
    make_poll("ref")
    shown = runner.invoke(args=["weighting", "show", "ref"])
    assert "no sourced target for education: not weighted on it" in shown.output


def test_a_toml_reference_carries_its_own_source(runner, tmp_path, session, make_poll):
    make_poll("ref")
    text = f'source = "{SOURCE}"\nyear = 2019\n[margins.sex]\nM = 0.5\nF = 0.5\n'
    assert reference(runner, tmp_path, text, name="reference.toml").exit_code == 0
    assert session.scalar(sa.select(WeightingReference)).margins == {"sex": {"M": 0.5, "F": 0.5}}


def test_microdata_are_kept_with_their_design_weighted_margins(runner, tmp_path, session, make_poll):
    make_poll("ref")
    text = "sex,education,weight\nM,1,3\nF,4,1\nF,2,2\nM,4,2\n"
    assert reference(runner, tmp_path, text, "--source", SOURCE).exit_code == 0
    stored = session.scalar(sa.select(WeightingReference))
    assert stored.kind == "microdata" and stored.variables == ["sex", "education"]
    assert stored.margins["sex"] == {"M": 0.625, "F": 0.375}
    assert stored.design_weights == [3, 1, 2, 2]


@pytest.mark.parametrize(("text", "args", "said"), [
    (EDUCATION_MARGINS, [], "needs its source"),
    (EDUCATION_MARGINS, ["--source", "  "], "needs its source"),
    (EDUCATION_MARGINS.replace("education", "income"), ["--source", SOURCE], "unknown variable 'income'"),
    (EDUCATION_MARGINS.replace("5,0.04", "6,0.04"), ["--source", SOURCE], "'6' is not a category of education"),
    (EDUCATION_MARGINS.replace("0.04", "0.1"), ["--source", SOURCE], "sum to 1.060, not 1"),
    (EDUCATION_MARGINS.replace("0.04", "lots"), ["--source", SOURCE], "not a number"),
    ("sex,education\nM,1\n", ["--source", SOURCE], "a `weight` column"),
    ("sex,weight\nM,-1\n", ["--source", SOURCE], "line 2: a design weight must be positive"),
    ("sex,weight\nX,1\n", ["--source", SOURCE], "line 2: 'X' is not a category of sex"),
])
def test_a_bad_reference_is_refused_in_one_line_and_nothing_is_stored(runner, tmp_path, session, make_poll, text, args,
                                                                      said):
    make_poll("ref")
    result = reference(runner, tmp_path, text, *args)
    assert result.exit_code != 0
    assert said in result.output and len(result.output.strip().splitlines()) == 1
    assert "Traceback" not in result.output
    assert session.scalar(sa.select(sa.func.count()).select_from(WeightingReference)) == 0
