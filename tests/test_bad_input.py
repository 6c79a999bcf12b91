"""A catalogue of hostile input: each gets a clear 4xx (or one CLI line), nothing is stored, no markup runs.

Web cases run against a poll with fresh links, an answered link and a closed
poll; after each, the database must hold exactly what it held before.
"""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from poll.models import (
    Answer,
    AnswerTally,
    Audience,
    Link,
    Operator,
    Option,
    Poll,
    Receipt,
    Recipient,
    SimulationRun,
)
from poll.services.definition import polls
from tests.helpers import fresh

MARKUP = "<script>alert(1)</script>"


def snapshot(session) -> dict:
    """What must not change: every table that holds data, and the answered links."""
    session.rollback()
    counts = {
        model.__tablename__: session.scalar(sa.select(sa.func.count()).select_from(model))
        for model in (Answer, Receipt, Link, Recipient, Audience, Poll, Option, Operator, SimulationRun)
    }
    counts["answered"] = session.scalar(sa.select(sa.func.count()).where(Link.answered_on.is_not(None)))
    counts["tallied"] = session.scalar(sa.select(sa.func.coalesce(sa.func.sum(AnswerTally.count), 0)))
    return counts


@pytest.fixture
def world(client, session, make_poll, make_links, make_operator):
    """An open poll with links (one already answered), a closed poll, another poll, an admin."""
    poll = make_poll("target")
    fresh, used = make_links(poll, count=2)
    assert client.post(f"/p/{used}", data={"option": "1"}).status_code == 201
    closed = make_poll("shut")
    closed_token = make_links(closed)[0]
    polls.close_poll(session, closed)
    draft_token = make_links(make_poll("later", status="draft"))[0]
    make_poll("other", options=[{"code": "7", "label": {"en": "Yes"}}, {"code": "8", "label": {"en": "No"}}])
    make_operator("admin", "admin", "correct horse battery")
    session.commit()
    return {"fresh": fresh, "used": used, "closed": closed_token, "draft": draft_token}


# (name, method, path, form data or raw body, extra headers, expected status)
WEB_CASES = [
    ("token: empty segment", "GET", "/p/", None, {}, 404),
    ("token: one character short", "GET", "/p/AAAAAAAAAAAAAAAAAAAAA", None, {}, 404),
    ("token: one character long", "GET", "/p/AAAAAAAAAAAAAAAAAAAAAAA", None, {}, 404),
    ("token: 10 kB", "GET", "/p/" + "a" * 10_000, None, {}, 404),
    ("token: 10 kB posted", "POST", "/p/" + "a" * 10_000, {"option": "1"}, {}, 404),
    ("token: NUL bytes", "GET", "/p/%00%00%00%00%00%00%00%00%00%00%00", None, {}, 404),
    ("token: path traversal", "GET", "/p/..%2F..%2F..%2Fetc%2Fpasswd", None, {}, 404),
    ("token: script tag", "GET", "/p/%3Cscript%3Ealert(1)%3C%2Fscript%3E", None, {}, 404),
    ("token: SQL", "GET", "/p/'%20OR%20'1'%3D'1'--AAAAAA", None, {}, 404),
    ("token: SQL posted", "POST", "/p/1%3BDROP%20TABLE%20answers--AAA", {"option": "1"}, {}, 404),
    ("token: full-width look-alikes", "GET", "/p/" + "Ａ" * 22, None, {}, 404),
    ("token: right-to-left override", "GET", "/p/\u202e" + "A" * 21, None, {}, 404),
    ("token: zero-width joiner inside", "GET", "/p/AAAAAAAAAA\u200dAAAAAAAAAAA", None, {}, 404),
    ("token: base64 not URL-safe", "GET", "/p/AAAAAAAAAA+/AAAAAAAAAA", None, {}, 404),
    ("token: emoji", "GET", "/p/" + "😀" * 22, None, {}, 404),
    ("token: the fresh one upper-cased", "GET", "/p/{fresh_upper}", None, {}, 404),
    ("option: none", "POST", "/p/{fresh}", {}, {}, 400),
    ("option: empty", "POST", "/p/{fresh}", {"option": ""}, {}, 400),
    ("option: not offered", "POST", "/p/{fresh}", {"option": "9"}, {}, 400),
    ("option: zero", "POST", "/p/{fresh}", {"option": "0"}, {}, 400),
    ("option: negative", "POST", "/p/{fresh}", {"option": "-1"}, {}, 400),
    ("option: padded", "POST", "/p/{fresh}", {"option": " 1 "}, {}, 400),
    ("option: SQL", "POST", "/p/{fresh}", {"option": "1' OR '1'='1"}, {}, 400),
    ("option: markup", "POST", "/p/{fresh}", {"option": MARKUP}, {}, 400),
    ("option: Arabic-Indic digit in the web form", "POST", "/p/{fresh}", {"option": "١"}, {}, 400),
    ("option: of another poll", "POST", "/p/{fresh}", {"option": "7"}, {}, 400),
    ("option: 10 kB", "POST", "/p/{fresh}", {"option": "1" * 10_000}, {}, 400),
    ("option: two values at once", "POST", "/p/{fresh}", {"option": ["1", "2"]}, {}, 400),
    ("option: null byte", "POST", "/p/{fresh}", {"option": "1\x00"}, {}, 400),
    ("body: invalid UTF-8", "POST", "/p/{fresh}", b"option=%FF%FE%FD", {"Content-Type": "application/x-www-form-urlencoded"}, 400),
    ("body: raw bytes, no form", "POST", "/p/{fresh}", b"\xff\xfe\x00garbage", {"Content-Type": "application/octet-stream"}, 400),
    ("body: JSON instead of a form", "POST", "/p/{fresh}", b'{"option": "1"}', {"Content-Type": "application/json"}, 400),
    ("body: 200 kB", "POST", "/p/{fresh}", {"option": "1", "pad": "x" * 200_000}, {}, 413),
    ("answer: link already used", "POST", "/p/{used}", {"option": "2"}, {}, 409),
    ("answer: closed poll", "POST", "/p/{closed}", {"option": "1"}, {}, 410),
    ("answer: poll not open yet", "POST", "/p/{draft}", {"option": "1"}, {}, 403),
    ("method: PUT on a link", "PUT", "/p/{fresh}", {"option": "1"}, {}, 405),
    ("method: DELETE on a link", "DELETE", "/p/{fresh}", None, {}, 405),
    ("method: PATCH on a link", "PATCH", "/p/{fresh}", {"option": "1"}, {}, 405),
    ("method: POST to public results", "POST", "/results/target", {"x": "1"}, {}, 405),
    ("method: POST to the results API", "POST", "/api/v1/polls/target/results", {"x": "1"}, {}, 405),
    ("method: GET logout", "GET", "/logout", None, {}, 405),
    ("results: unknown slug", "GET", "/results/nope", None, {}, 404),
    ("results: markup slug", "GET", "/results/%3Cscript%3Ealert(1)%3C%2Fscript%3E", None, {}, 404),
    ("results: traversal slug", "GET", "/results/..%2F..%2Fetc%2Fpasswd", None, {}, 404),
    ("results: a draft poll", "GET", "/results/later", None, {}, 404),
    ("api: a draft poll", "GET", "/api/v1/polls/later/results", None, {}, 404),
    ("api: unknown slug", "GET", "/api/v1/polls/nope/results", None, {}, 404),
    ("api: SQL slug", "GET", "/api/v1/polls/x'%20OR%201=1--/results", None, {}, 404),
    ("export: not logged in", "GET", "/api/v1/polls/target/answers.csv", None, {}, 401),
    ("export: a forged bearer token", "GET", "/api/v1/polls/target/answers.csv", None,
     {"Authorization": "Bearer " + "A" * 43}, 401),
    ("export: a bearer token of 10 kB", "GET", "/api/v1/polls/target/links.csv", None,
     {"Authorization": "Bearer " + "A" * 10_000}, 401),
    ("dashboard: not logged in", "GET", "/dashboard/target", None, {}, 302),
    ("admin: not logged in", "GET", "/admin/audit", None, {}, 302),
    ("login: no fields", "POST", "/login", {}, {}, 400),
    ("login: 10 kB name", "POST", "/login", {"name": "n" * 10_000, "password": "x"}, {}, 400),
    ("login: SQL name", "POST", "/login", {"name": "admin' --", "password": "x"}, {}, 401),
    ("login: markup name", "POST", "/login", {"name": MARKUP, "password": "x"}, {}, 401),
    ("login: right password, wrong case name", "POST", "/login", {"name": "ADMIN", "password": "correct horse battery"}, {}, 401),
    ("unknown page", "GET", "/wp-admin/setup-config.php", None, {}, 404),
]


@pytest.mark.parametrize(("name", "method", "path", "data", "headers", "status"), WEB_CASES,
                         ids=[case[0] for case in WEB_CASES])
def test_hostile_web_input_is_refused_and_changes_nothing(client, session, world, name, method, path, data,
                                                          headers, status):
    before = snapshot(session)
    url = path.format(fresh_upper=world["fresh"].upper(), **world)
    kwargs = {"headers": headers}
    if isinstance(data, bytes):
        kwargs["data"] = data
    elif data is not None:
        kwargs["data"] = data
    response = client.open(url, method=method, **kwargs)
    assert response.status_code == status, name
    body = response.get_data(as_text=True)
    assert MARKUP not in body and "<script>alert" not in body
    assert "Traceback" not in body
    assert snapshot(session) == before


def test_there_are_at_least_fifty_cases():
    assert len(WEB_CASES) + len(CSV_CASES) >= 50


def test_stored_markup_is_shown_as_text_to_admins(client, session, world, login):
    client.post("/login", data={"name": MARKUP, "password": "whatever it is"})
    login("admin", name="auditor")
    page = client.get("/admin/audit").get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert MARKUP not in page


def test_malformed_query_parameters_are_ignored_safely(client, world, login):
    login("admin", name="reader")
    for url in ["/dashboard/target?option=%3Cscript%3E", "/dashboard/target?lang=%3Cscript%3E",
                "/results/target?option=' OR 1=1", "/results/target?lang=xx-YY",
                "/dashboard/target/panel?option=999999999999999999999"]:
        response = client.get(url)
        assert response.status_code == 200, url
        assert "<script>" not in response.get_data(as_text=True).replace('<script src="', "")


# CSV import: (name, file bytes, exit code, text in the output)
CSV_CASES = [
    ("phone that is a formula", b"phone\n=cmd|' /C calc'!A0\n", 0, "line 2: not a"),
    ("markup governorate", b"phone,governorate\n07701234567,<script>x</script>\n", 0, "unknown governorate"),
    ("SQL in the phone", b"phone\n07701234567'; DROP TABLE recipients;--\n", 0, "line 2:"),
    ("binary garbage", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", 1, "not UTF-8"),
    ("UTF-16 file", "phone\n07701234567\n".encode("utf-16"), 1, "not UTF-8"),
    ("header only", b"phone,sex\n", 0, "0 rows"),
    ("huge field", b"phone,note\n07701234567," + b"x" * 300_000 + b"\n", 1, "cannot be read as CSV"),
    ("letters in the phone", b"phone\n0770ABC4567\n", 0, "line 2: not a"),
    ("negative age", b"phone,age\n07701234567,-5\n", 0, "age must be a whole number"),
    ("age overflow", b"phone,age\n07701234567,99999999999999999999\n", 0, "outside 18-120"),
]


@pytest.mark.parametrize(("name", "content", "code", "text"), CSV_CASES, ids=[case[0] for case in CSV_CASES])
def test_hostile_csv_is_reported_in_one_line(runner, session, world, tmp_path, name, content, code, text):
    before = snapshot(session)
    path = tmp_path / "hostile.csv"
    path.write_bytes(content)
    result = runner.invoke(args=["audience", "import", "target", str(path)])
    assert result.exit_code == code, result.output
    assert text in result.output
    after = snapshot(session)
    assert after["recipients"] == before["recipients"]  # no row of these files is a valid recipient
    if code:
        assert len(result.output.strip().splitlines()) == 1


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(token=st.text(max_size=40), option=st.one_of(st.none(), st.text(max_size=12)))
def test_fuzzed_answers_never_fail_and_never_count_twice(client, session, world, token, option):
    data = {} if option is None else {"option": option}
    for url in (f"/p/{token}", f"/p/{world['fresh']}"):
        if "/" in token[:1] or "?" in token or "#" in token:
            continue
        response = client.post(url.replace("\x00", ""), data=data)
        assert response.status_code in (201, 400, 404, 405, 308, 409, 429), (token, option)
    answered = fresh(session).scalar(sa.select(sa.func.count()).where(Link.answered_on.is_not(None)))
    assert answered == session.scalar(sa.select(sa.func.count()).select_from(Answer)) <= 2


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.lists(st.text(max_size=20), min_size=1, max_size=6), max_size=8))
def test_fuzzed_csv_import_reports_or_imports_valid_rows_only(runner, session, world, tmp_path, rows):
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["phone", "governorate", "sex", "age", "language", "extra"])
    writer.writerows(rows)
    path = tmp_path / "fuzz.csv"
    path.write_text(buffer.getvalue(), encoding="utf-8")
    result = runner.invoke(args=["audience", "import", "target", str(path)])
    assert result.exit_code in (0, 1)
    phones = fresh(session).scalars(sa.select(Recipient.phone)).all()
    assert all(phone.startswith("+") and phone[1:].isdigit() for phone in phones)
    assert json.dumps(phones)  # everything stored is plain text
