"""Operator pages, public results and the API: who sees what, and what they see."""

import csv
import io
import json

import pytest
import sqlalchemy as sa

from poll.models import AuditEvent
from tests.helpers import fresh


@pytest.mark.parametrize("url", ["/dashboard/", "/dashboard/sim", "/dashboard/sim/panel", "/admin/audit"])
def test_operator_pages_need_a_login(client, simulated, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


@pytest.mark.parametrize("url", ["/api/v1/polls/sim/answers.csv", "/api/v1/polls/sim/results.csv",
                                 "/api/v1/polls/sim/links.csv", "/api/v1/polls/sim/answers.json"])
def test_exports_without_a_login_are_401_problems(client, simulated, url):
    response = client.get(url)
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["status"] == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_viewer_sees_dashboards_but_not_admin_pages_or_phones(client, simulated, login):
    login("viewer")
    assert client.get("/dashboard/sim").status_code == 200
    assert client.get("/admin/audit").status_code == 200  # read, with phone numbers masked
    assert client.get("/api/v1/polls/sim/links.csv").status_code == 403


def test_admin_exports_links_with_phones(client, simulated, login):
    login("admin")
    response = client.get("/api/v1/polls/sim/links.csv")
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0][0] == "phone" and len(rows) == 20001
    assert rows[1][0].startswith("+9647")


def test_login_is_refused_with_a_wrong_password_and_audited(client, session, make_operator):
    name, _ = make_operator("amina")
    response = client.post("/login?lang=en", data={"name": name, "password": "wrong password!"})
    assert response.status_code == 401
    assert "Wrong name or password" in response.get_data(as_text=True)
    assert client.get("/dashboard/").status_code == 302
    actions = fresh(session).scalars(sa.select(AuditEvent.action)).all()
    assert "login-failed" in actions and "login" not in actions


def test_login_redirects_only_within_the_site(client, make_operator):
    name, password = make_operator("nadia")
    response = client.post("/login?next=//evil.example/x", data={"name": name, "password": password})
    assert response.headers["Location"] == "/dashboard/"


def test_dashboard_shows_every_figure_with_the_truth(client, simulated, login):
    login()
    body = client.get("/dashboard/sim?lang=en").get_data(as_text=True)
    for text in ["Answers", "From invitation to answer", "Answers over time", "By governorate", "By sex and age",
                 "true share", "error of raw", "Response rate", "Simulation", "design effect"]:
        assert text in body, text
    assert body.count("<svg") >= 7
    assert f"{simulated['answered']:,}" in body
    assert 'data-refresh="/dashboard/sim/panel' in body


def test_dashboard_in_arabic(client, simulated, login):
    login()
    body = client.get("/dashboard/sim?lang=ar").get_data(as_text=True)
    assert 'dir="rtl"' in body
    assert "بغداد" in body  # the map names governorates in the page's language


def test_dashboard_of_a_poll_without_answers_shows_no_fake_data(client, make_poll, login):
    make_poll("empty")
    login()
    response = client.get("/dashboard/empty?lang=en")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "No answers yet" in body
    assert "nan" not in body.lower().replace("nana", "")


def test_public_results_hold_aggregates_only(client, simulated):
    response = client.get("/results/sim?lang=en")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "not a probability sample" in body
    assert "+9647" not in body
    assert "weighted" in body


def test_results_api_keeps_the_contract(client, simulated):
    response = client.get("/api/v1/polls/sim/results")
    assert response.status_code == 200
    document = response.get_json()
    assert document["invited"] == 20000
    assert document["answered"] == simulated["answered"]
    assert [o["code"] for o in document["options"]] == ["1", "2", "3"]
    for option in document["options"]:
        assert {"code", "label", "count", "share", "ci95", "weighted_share", "true_share"} <= set(option)
        # Public counts are a noisy release, and raw shares carry no interval: they are no random sample's.
        assert isinstance(option["count"], int) and 0 <= option["share"] <= 1 and option["ci95"] is None
        low, high = option["weighted_ci95"]
        assert 0 <= low <= option["weighted_share"] <= high <= 1
    for stratum in ("governorate", "sex", "age_band"):
        for cell in document["breakdowns"][stratum]:
            assert cell["suppressed"] == (cell["shares"] is None)
            if cell["suppressed"]:
                assert cell["answered"] is None


def test_results_api_suppresses_small_cells(client, make_poll, make_links):
    poll = make_poll("tiny")
    for token in make_links(poll, count=3):
        client.post(f"/p/{token}", data={"option": "1"})
    document = client.get("/api/v1/polls/tiny/results").get_json()
    assert document["answered"] == 3
    baghdad = next(c for c in document["breakdowns"]["governorate"] if c["code"] == "IQ-BG")
    assert baghdad["suppressed"] and baghdad["shares"] is None


def test_unknown_poll_is_404_everywhere(client, login):
    assert client.get("/api/v1/polls/nope/results").status_code == 404
    assert client.get("/api/v1/polls/nope/results").get_json()["type"].endswith("not-found")
    assert client.get("/results/nope").status_code == 404
    login()
    assert client.get("/dashboard/nope").status_code == 404
    assert client.get("/api/v1/polls/nope/answers.csv").status_code == 404


def test_answer_export_streams_anonymous_fields_and_is_audited(client, session, simulated, login):
    login()
    response = client.get("/api/v1/polls/sim/answers.csv")
    assert response.status_code == 200 and response.is_streamed
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    # One row per response: the strata, then the questions after the headline (those mapped to a stratum are
    # the stratum's column in an anonymous poll), then the weight.
    assert rows[0] == ["option", "channel", "answered", "governorate", "sex", "age_band", "employment", "education",
                       "weight"]
    assert len(rows) - 1 == simulated["answered"]
    lines = client.get("/api/v1/polls/sim/answers.json").get_data(as_text=True).splitlines()
    assert len(lines) == simulated["answered"] and set(json.loads(lines[0])) == set(rows[0])
    assert client.get("/api/v1/polls/sim/answers.xml").status_code == 404
    assert fresh(session).scalar(sa.select(sa.func.count()).where(AuditEvent.action == "export")) == 2


def test_openapi_document_describes_the_results_endpoint(client):
    document = client.get("/api/v1/openapi.json").get_json()
    assert document["openapi"].startswith("3.")
    schema = document["paths"]["/api/v1/polls/{slug}/results"]["get"]["responses"]["200"]
    assert {"invited", "answered", "options"} <= set(
        schema["content"]["application/json"]["schema"]["required"])


def test_results_and_export_commands(runner, simulated):
    table = runner.invoke(args=["results", "sim"]).output
    assert "invited" in table and "true" in table and "weighted" in table
    exported = runner.invoke(args=["export", "sim", "--format", "csv"]).output.splitlines()
    assert exported[0] == "option,channel,answered,governorate,sex,age_band,employment,education,weight"
    assert len(exported) - 1 == simulated["answered"]
    document = json.loads(runner.invoke(args=["export", "sim", "--what", "results", "--format", "json"]).output)
    assert document["answered"] == simulated["answered"]


def test_dashboard_shows_monte_carlo_histograms(client, runner, session, make_poll, login):
    make_poll("mc", status="draft")
    result = runner.invoke(args=["simulate", "mc", "--replications", "50", "--population", "20000", "--sample", "15000",
                            "--scenario", "kurdistan-surge", "--json"])
    assert result.exit_code == 0, result.output
    login()
    body = client.get("/dashboard/mc?lang=en").get_data(as_text=True)
    assert "Monte Carlo: estimates around the truth" in body
    assert "50 replications" in body
    assert body.count('aria-label="Raw estimates over the replications"') == 3
    # The summary is kept, the replications wrote no answers, and no answering run is shown as truth.
    assert "error of raw" not in body


def test_long_timelines_are_drawn_in_a_bounded_number_of_bars():
    from datetime import datetime, timedelta

    from poll.web import charts

    start = datetime(2024, 1, 10, 9)
    series = [(start + timedelta(hours=h), h % 3 + 1) for h in range(0, 2000, 7)]
    width = charts.bin_hours(series[0][0], series[-1][0])
    assert width == 24  # 2,000 hours fit in 96 bars only a day wide
    bars = charts._buckets(series, width)
    assert len(bars) <= charts.MAX_BARS
    assert sum(count for _, count in bars) == sum(count for _, count in series)
    svg = charts.timeline(series, rtl=False, title="t", empty="none", time_label=str,
                          peak_label=lambda count, hours: f"{count} in {hours} h")
    assert svg.count("<rect") <= charts.MAX_BARS and "in 24 h" in svg
    # A poll answered within the hour is one bar among room for more, not a block across the chart.
    one_hour = charts.timeline([(start, 40)], rtl=False, title="t", empty="none", time_label=str,
                               peak_label=lambda count, hours: f"{count} in {hours} h")
    assert "40 in 1 h" in one_hour and 'width="640' not in one_hour.split("<rect", 2)[-1]


def test_every_note_of_the_results_has_words_in_each_language():
    from poll.services.releases import release
    from poll.web import words

    notes = {value for name, value in vars(release).items() if name.startswith("NOTE_")}
    assert notes and set(words.NOTES) == notes


def test_the_operators_language_sticks_past_the_login_page_and_a_logout(client, make_operator):
    name, password = make_operator()
    assert client.get("/login?lang=en").status_code == 200
    client.post("/login", data={"name": name, "password": password})  # the form's own URL carries no language
    assert '<html lang="en"' in client.get("/dashboard/").get_data(as_text=True)
    assert '<html lang="ckb"' in client.get("/dashboard/?lang=ku").get_data(as_text=True)
    assert '<html lang="ckb"' in client.get("/admin/audit").get_data(as_text=True)  # a later page keeps the choice
    client.post("/logout")
    assert '<html lang="ckb"' in client.get("/login").get_data(as_text=True)
