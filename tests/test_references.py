"""Weighting against a reference: a simulated reference survey in the Monte Carlo, references uploaded with their
source, raking on profile questions against them, and propensity weighting beside raking."""

import html
import io
import json

import jsonschema
import numpy as np
import pytest
import sqlalchemy as sa

from poll.models import AuditEvent, WeightingReference
from poll.services.definition import polls
from poll.services.releases import results
from poll.simulate import comparison
from poll.web import openapi
from tests.helpers import fresh


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


def results_json(runner, slug: str) -> dict:
    result = runner.invoke(args=["results", slug, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.fixture
def field(runner, make_poll):
    """The article's poll answered by a simulated baseline field, where education drives answering and opinion."""
    make_poll("ref", status="draft")
    result = runner.invoke(args=["simulate", "ref", "--population", "100000", "--sample", "60000", "--seed", "3"])
    assert result.exit_code == 0, result.output
    return results_json(runner, "ref")


def test_without_a_reference_the_estimate_says_it_is_not_weighted_on_education(field):
    weighting = field["weighting"]
    assert {"variable": "education", "why": "no sourced target for education: not weighted on it"} in \
        weighting["not_weighted_on"]
    assert "education" not in weighting["targets"] and weighting["propensity"] is None
    assert weighting["interval"]["method"] == "linearised"


def test_the_weighted_interval_is_the_linearised_one_narrower_than_kish_where_raking_predicts_the_answers(field):
    from poll.stats import proportions

    n_eff = field["weighting"]["effective_n"]
    for option in field["options"]:
        low, high = option["weighted_ci95"]
        kish_low, kish_high = proportions.wilson(option["weighted_share"] * n_eff, n_eff)
        assert low < option["weighted_share"] < high
        assert high - low <= kish_high - kish_low + 0.001  # never wider, but for rounding
        if option["code"] == "3":  # support, which the region predicts: well narrower, not a rounding of Kish's
            assert high - low < 0.95 * (kish_high - kish_low)


def test_raking_on_a_referenced_education_moves_the_estimate_towards_the_truth(runner, tmp_path, session, field):
    assert reference(runner, tmp_path, EDUCATION_MARGINS, "--source", SOURCE, "--year", "2019").exit_code == 0
    after = results_json(runner, "ref")
    weighting = after["weighting"]
    assert weighting["targets"]["education"]["source"] == f"{SOURCE} (2019)"
    assert "education" not in [entry["variable"] for entry in weighting["not_weighted_on"]]
    support = next(option for option in after["options"] if option["code"] == "3")
    before = next(option for option in field["options"] if option["code"] == "3")
    assert weighting["by_strata"]["3"] == before["weighted_share"]
    # Compared unrounded, over every answer: here support moves from 0.5 point above the truth to 0.6 below it,
    # a difference that the JSON's 0.1 point cannot tell, while the answers' errors together shrink.
    outcome = results.poll_results(fresh(session), polls.get_poll(session, "ref"))
    error = sum(abs(o.weighted_share - o.true_share) for o in outcome.options)
    error_before = sum(abs(outcome.weighting.by_strata[o.code] - o.true_share) for o in outcome.options)
    assert error < error_before
    low, high = support["weighted_ci95"]
    assert low < support["weighted_share"] < high


def test_propensity_weighting_against_microdata_stands_beside_raking(runner, tmp_path, field):
    # A probability sample of the simulated population's education and sex (drawn apart in the simulation).
    rng = np.random.default_rng(5)
    education = rng.choice(list("12345"), 3000, p=[0.15, 0.27, 0.33, 0.21, 0.04])
    sex = rng.choice(["M", "F"], 3000)
    text = "education,sex,weight\n" + "".join(f"{e},{s},1000\n" for e, s in zip(education, sex, strict=True))
    assert reference(runner, tmp_path, text, "--source", SOURCE).exit_code == 0
    weighting = results_json(runner, "ref")["weighting"]
    propensity = weighting["propensity"]
    assert propensity["variables"] == ["education", "sex"] and propensity["converged"]
    truth = next(option for option in field["options"] if option["code"] == "3")["true_share"]
    assert abs(propensity["shares"]["3"] - truth) < abs(field["options"][2]["raw_share"] - truth)
    assert weighting["reference"]["kind"] == "microdata"
    jsonschema.Draft202012Validator(openapi.WEIGHTING).validate(weighting)  # as the API document describes it


def test_the_pages_say_what_the_estimate_is_not_weighted_on_and_which_interval_it_carries(client, simulated, login):
    login("admin")
    dashboard = html.unescape(client.get("/dashboard/sim?lang=en").get_data(as_text=True))
    assert "No sourced target for education: not weighted on it." in dashboard
    assert "Interval of the weighted shares: Wilson score interval at the sample size that the linearised" in dashboard
    methodology = html.unescape(client.get("/results/sim/methodology?lang=en").get_data(as_text=True))
    assert "No sourced target for education: not weighted on it." in methodology
    assert "No sourced target for employment: not weighted on it." in methodology


def test_the_dashboard_names_the_reference_raked_to(client, runner, tmp_path, simulated, login):
    path = tmp_path / "education.csv"
    path.write_text(EDUCATION_MARGINS, encoding="utf-8")
    assert runner.invoke(args=["weighting", "reference", "sim", str(path), "--source", SOURCE]).exit_code == 0
    login("admin")
    dashboard = html.unescape(client.get("/dashboard/sim?lang=en").get_data(as_text=True))
    assert f"Raked on education too, to the poll's reference: {SOURCE}." in dashboard
    assert "No sourced target for education" not in dashboard
    assert "No sourced target for employment: not weighted on it." in dashboard


def test_an_admin_uploads_a_reference_in_the_workspace_audited_by_name(client, session, make_poll, login):
    make_poll("ref")
    login(name="amira")
    assert 'action="/admin/polls/ref/reference"' in client.get("/admin/polls/ref?lang=en").get_data(as_text=True)
    response = client.post("/admin/polls/ref/reference?lang=en", content_type="multipart/form-data", data={
        "file": (io.BytesIO(EDUCATION_MARGINS.encode()), "education.csv"), "source": SOURCE, "year": "2019"})
    assert response.status_code == 200
    page = html.unescape(response.get_data(as_text=True))
    assert f"source: {SOURCE} (2019)" in page and "no sourced target for employment: not weighted on it" in page
    event = session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "weighting-reference-set"))
    assert event.actor == "amira"


@pytest.mark.parametrize(("data", "said"), [
    ({"source": SOURCE}, "Choose a reference file"),
    ({"file": (io.BytesIO(EDUCATION_MARGINS.encode()), "e.csv")}, "needs its source"),
    ({"file": (io.BytesIO(EDUCATION_MARGINS.encode()), "e.csv"), "source": SOURCE, "year": "last"}, "must be a year"),
    ({"file": (io.BytesIO(b"\xff\xfe"), "e.csv"), "source": SOURCE}, "not UTF-8"),
])
def test_a_bad_reference_upload_gets_a_clear_400_and_stores_nothing(client, session, make_poll, login, data, said):
    make_poll("ref")
    login()
    response = client.post("/admin/polls/ref/reference?lang=en", data=data, content_type="multipart/form-data")
    assert response.status_code == 400
    assert said in html.unescape(response.get_data(as_text=True))
    assert session.scalar(sa.select(sa.func.count()).select_from(WeightingReference)) == 0


def test_viewers_cannot_set_a_reference(client, session, make_poll, login):
    make_poll("ref")
    login("viewer")
    response = client.post("/admin/polls/ref/reference", content_type="multipart/form-data", data={
        "file": (io.BytesIO(EDUCATION_MARGINS.encode()), "education.csv"), "source": SOURCE})
    assert response.status_code == 403
    assert session.scalar(sa.select(sa.func.count()).select_from(WeightingReference)) == 0
