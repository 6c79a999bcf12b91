"""Attacks on the respondents' privacy and on the operators' accounts, each played as an attacker would.

Each test names the finding it answers (issue: privacy under attack). The
re-identification and differencing attacks on figures live in
tests/test_disclosure.py.
"""

from __future__ import annotations

import contextlib
import csv
import io
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from limits import parse

from poll.logs import mask
from poll.models import Answer, AuditEvent, Link, Refusal
from poll.web import throttle
from tests.helpers import fresh, rows

SECRET = "s3cret-for-tests"


# Finding 7: HEAD was handled as an answer.

def test_head_on_a_link_records_nothing_even_with_a_body(client, session, make_poll, make_links):
    token = make_links(make_poll())[0]
    response = client.open(f"/p/{token}", method="HEAD", data={"option": "1"})
    assert response.status_code == 200 and response.get_data() == b""
    response = client.open(f"/p/{token}", method="HEAD")
    assert response.status_code == 200
    assert rows(session, Answer) == 0 and rows(session, Refusal) == 0
    assert session.scalar(sa.select(Link.answered_on)) is None


def test_head_on_an_unknown_link_records_no_refusal(client, session):
    assert client.open("/p/" + "Q" * 22, method="HEAD").status_code == 404
    assert rows(session, Refusal) == 0
    assert client.get("/p/" + "Q" * 22).status_code == 404
    assert rows(session, Refusal) == 1


# Finding 10: the language links echoed the raw path.

@pytest.mark.parametrize("path", ["/%5Cevil.example/x", "/%5C%5Cevil.example", "//evil.example/x",
                                  "/p/%5Cevil.example", "/results/%5Cevil.example"])
def test_language_links_never_point_off_site(client, path):
    body = client.get(path).get_data(as_text=True)
    links = [part.split('"', 1)[0] for part in body.split('<a href="')[1:]]
    assert links, body
    for href in links:
        assert not href.startswith(("/\\", "//", "\\", "http")), href
    assert 'href="?lang=en"' in body


def test_language_links_keep_the_other_query_arguments(client, make_poll):
    make_poll("shown")
    body = client.get("/results/shown?option=2&lang=ar").get_data(as_text=True)
    assert 'href="?option=2&amp;lang=en"' in body


# Finding 11: integers too large for the database gave 500.

@pytest.mark.parametrize("before", ["99999999999999999999999", "9223372036854775808", "2147483648", "-1", "1e3",
                                    "abc"])
def test_audit_paging_refuses_what_is_not_an_id(client, login, before):
    login("admin")
    response = client.get(f"/admin/audit?before={before}")
    assert response.status_code == 400


def test_audit_paging_takes_the_largest_id(client, login):
    login("admin")
    assert client.get("/admin/audit?before=2147483647").status_code == 200


@pytest.mark.parametrize("message", ["99999999999999999999999", "9223372036854775808", "2147483648", "x"])
def test_delivery_reports_with_impossible_ids_are_refused(app, client, message):
    app.config["SMS_SECRET"] = SECRET
    response = client.get(f"/sms/kannel/dlr?secret={SECRET}&message={message}&status=1")
    assert response.status_code == 400


# Finding 12: draft polls were public.

def test_a_draft_is_not_public_until_it_opens(client, session, make_poll, make_links):
    poll = make_poll("soon", status="draft")
    assert client.get("/results/soon").status_code == 404
    assert client.get("/api/v1/polls/soon/results").status_code == 404
    from poll.services.definition import polls

    polls.open_poll(session, poll)
    session.commit()
    assert client.get("/results/soon").status_code == 200
    assert client.get("/api/v1/polls/soon/results").status_code == 200


# Finding 13: CSV exports wrote formulas from labels as they were.

@pytest.mark.parametrize("label", ['=HYPERLINK("http://evil.example","x")', "+cmd|' /C calc'!A0", "@SUM(1+1)*cmd",
                                   "-2+3", "\tleading tab"])
def test_csv_exports_neutralise_formulas(client, runner, make_poll, login, label):
    make_poll("formula", options=[{"code": "1", "label": {"en": label}}, {"code": "2", "label": {"en": "no"}}])
    login("viewer")
    body = client.get("/api/v1/polls/formula/results.csv").get_data(as_text=True)
    cells = [cell for row in csv.reader(io.StringIO(body)) for cell in row]
    assert "'" + label in cells and label not in cells
    result = runner.invoke(args=["export", "formula", "--what", "results"])
    cells = [cell for row in csv.reader(io.StringIO(result.output)) for cell in row]
    assert "'" + label in cells and label not in cells


# Finding 14: bidi controls in the audit trail, and pages that could be cached.

def test_audit_entries_show_bidi_controls_instead_of_obeying_them(client, session, login):
    client.post("/login", data={"name": "admin\u202egnp.exe", "password": "whatever it is"})
    login("admin", name="auditor")
    page = client.get("/admin/audit").get_data(as_text=True)
    assert "\u202e" not in page
    assert "admin&lt;U+202E&gt;gnp.exe" in page or "admin<U+202E>gnp.exe" in page
    assert "\u202e" not in "".join(fresh(session).scalars(sa.select(AuditEvent.subject)))


@pytest.mark.parametrize("url", ["/dashboard/sim", "/admin/audit", "/api/v1/polls/sim/answers.csv",
                                 "/api/v1/polls/sim/links.csv", "/phone/07701000100", "/login"])
def test_operator_pages_and_exports_are_never_cached(client, make_poll, make_links, login, url):
    make_links(make_poll("sim"))
    login("admin")
    with client.get(url) as response:
        response.get_data()
        assert response.headers["Cache-Control"] == "no-store"


# Finding 15 (part): API errors are problems, and 405 says what is allowed.

def test_api_errors_are_problem_documents(client):
    response = client.get("/api/v1/polls/nope/results")
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["status"] == 404
    response = client.post("/api/v1/polls/nope/results")
    assert response.status_code == 405
    assert response.headers["Allow"] and "GET" in response.headers["Allow"]
    assert response.mimetype == "application/problem+json"


def test_405_on_pages_carries_allow_too(client):
    response = client.get("/logout")
    assert response.status_code == 405 and "POST" in response.headers["Allow"]


# Finding 3: logout did not end the session; operators could not be managed.

def saved_cookie(client) -> str:
    return client.get_cookie("session").value


def replay(app, cookie: str, url: str) -> int:
    other = app.test_client()
    other.set_cookie("session", cookie, domain="localhost")
    return status(other, url)


def status(client, url: str, **kwargs) -> int:
    """The status of GET `url`, the body read: a streamed export holds its database connection until then."""
    with client.get(url, **kwargs) as response:
        response.get_data()
        return response.status_code


def test_a_cookie_saved_before_logout_opens_nothing_after(app, client, make_poll, make_links, login):
    make_links(make_poll("sim"))
    login("admin")
    cookie = saved_cookie(client)
    assert replay(app, cookie, "/dashboard/sim") == 200
    assert replay(app, cookie, "/api/v1/polls/sim/links.csv") == 200
    client.post("/logout")
    assert replay(app, cookie, "/dashboard/sim") == 302
    assert replay(app, cookie, "/api/v1/polls/sim/links.csv") == 401


def test_logout_ends_the_operators_other_browsers_too(app, client, make_operator):
    name, password = make_operator("twice", "viewer")
    phone, laptop = app.test_client(), app.test_client()
    for browser in (phone, laptop):
        assert browser.post("/login", data={"name": name, "password": password}).status_code == 302
    assert laptop.get("/dashboard/").status_code == 200
    phone.post("/logout")
    assert laptop.get("/dashboard/").status_code == 302


@pytest.mark.parametrize("command", [["disable", "victim"], ["reset-password", "victim"], ["delete", "victim"]])
def test_disabling_resetting_or_deleting_ends_every_session_and_token(app, client, runner, make_operator, command,
                                                                     monkeypatch):
    make_operator("keeper", "admin")
    name, password = make_operator("victim", "admin")
    client.post("/login", data={"name": name, "password": password})
    token = runner.invoke(args=["operators", "token", "victim"]).output.split()[0]
    assert client.get("/dashboard/").status_code == 200
    assert app.test_client().get("/api/v1/polls/x/links.csv", headers={"Authorization": f"Bearer {token}"}).status_code == 404
    monkeypatch.setenv("POLL_OPERATOR_PASSWORD", "a brand new password")
    result = runner.invoke(args=["operators", *command])
    assert result.exit_code == 0, result.output
    assert client.get("/dashboard/").status_code == 302
    assert app.test_client().get("/api/v1/polls/x/links.csv", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_a_disabled_operator_cannot_log_in_until_enabled(client, runner, make_operator):
    make_operator("keeper", "admin")
    name, password = make_operator("paused", "viewer")
    assert runner.invoke(args=["operators", "disable", name]).exit_code == 0
    assert client.post("/login", data={"name": name, "password": password}).status_code == 401
    assert runner.invoke(args=["operators", "enable", name]).exit_code == 0
    assert client.post("/login", data={"name": name, "password": password}).status_code == 302


def test_operator_commands_are_listed_refused_clearly_and_audited(session, runner, make_operator):
    make_operator("solo", "admin")
    make_operator("reader", "viewer")
    listing = runner.invoke(args=["operators", "list"]).output
    assert "solo\tadmin\tenabled" in listing and "reader\tviewer\tenabled" in listing
    refused = runner.invoke(args=["operators", "delete", "solo"])
    assert refused.exit_code == 1 and "last enabled admin" in refused.output
    assert runner.invoke(args=["operators", "disable", "nobody"]).exit_code == 1
    assert runner.invoke(args=["operators", "disable", "reader"]).exit_code == 0
    assert runner.invoke(args=["operators", "delete", "reader"]).exit_code == 0
    actions = fresh(session).scalars(sa.select(AuditEvent.action).where(AuditEvent.subject == "reader")).all()
    assert {"operator-created", "operator-disabled", "operator-deleted"} <= set(actions)


def test_idle_and_absolute_lifetimes_end_a_session(app, client, login):
    login("viewer")
    assert client.get("/dashboard/").status_code == 200
    app.config["SESSION_IDLE_MINUTES"] = 0
    assert client.get("/dashboard/").status_code == 302
    app.config["SESSION_IDLE_MINUTES"] = 30
    login("viewer", name="again")
    assert client.get("/dashboard/").status_code == 200
    from poll.models import OperatorSession
    from poll.models import utcnow as now

    with app.extensions["poll.db"]() as db:
        db.execute(sa.update(OperatorSession).values(expires_at=now()))
        db.commit()
    assert client.get("/dashboard/").status_code == 302


# Finding 15: scripts need API access without a browser.

def test_an_api_token_is_shown_once_stored_hashed_and_revocable(app, session, runner, make_poll, make_links,
                                                               make_operator):
    make_links(make_poll("sim"))
    make_operator("script", "admin")
    result = runner.invoke(args=["operators", "token", "script"])
    token = result.output.split()[0]
    assert len(token) >= 40
    from poll.models import OperatorSession

    assert token not in "".join(fresh(session).scalars(sa.select(OperatorSession.secret_digest)))
    headers = {"Authorization": f"Bearer {token}"}
    assert status(app.test_client(), "/api/v1/polls/sim/links.csv", headers=headers) == 200
    assert app.test_client().get("/dashboard/sim", headers=headers).status_code == 302  # tokens are for the API
    assert runner.invoke(args=["operators", "token", "script", "--revoke"]).exit_code == 0
    assert app.test_client().get("/api/v1/polls/sim/links.csv", headers=headers).status_code == 401
    actions = fresh(session).scalars(sa.select(AuditEvent.action)).all()
    assert "token-issued" in actions and "tokens-revoked" in actions


def test_a_viewers_token_cannot_reach_admin_exports(app, runner, make_poll, make_links, make_operator):
    make_links(make_poll("sim"))
    make_operator("reader", "viewer")
    token = runner.invoke(args=["operators", "token", "reader"]).output.split()[0]
    response = app.test_client().get("/api/v1/polls/sim/links.csv", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403 and response.mimetype == "application/problem+json"


# Finding 8: ten wrong passwords from one address locked the account everywhere.

def test_guessing_from_one_address_does_not_lock_the_owner_out(app, make_operator):
    app.config["RATE_LIMIT_LOGIN_ACCOUNT"] = "3 per minute"
    name, password = make_operator("target")
    attacker, owner = app.test_client(), app.test_client()
    for _ in range(3):
        response = attacker.post("/login", data={"name": name, "password": "nope nope nope"},
                                 environ_base={"REMOTE_ADDR": "10.0.0.66"})
        assert response.status_code == 401
    blocked = attacker.post("/login", data={"name": name, "password": password}, environ_base={"REMOTE_ADDR": "10.0.0.66"})
    assert blocked.status_code == 429
    response = owner.post("/login", data={"name": name, "password": password}, environ_base={"REMOTE_ADDR": "10.0.0.7"})
    assert response.status_code == 302


def test_guessing_from_many_addresses_spares_the_owners_usual_browser(app, make_operator):
    app.config["RATE_LIMIT_LOGIN_ACCOUNT_ANYWHERE"] = "3 per minute"
    name, password = make_operator("target")
    owner = app.test_client()
    assert owner.post("/login", data={"name": name, "password": password}).status_code == 302
    owner.post("/logout")
    for number in range(3):
        response = app.test_client().post("/login", data={"name": name, "password": "nope nope nope"},
                                          environ_base={"REMOTE_ADDR": f"10.1.0.{number}"})
        assert response.status_code == 401
    stranger = app.test_client().post("/login", data={"name": name, "password": password},
                                      environ_base={"REMOTE_ADDR": "10.2.0.1"})
    assert stranger.status_code == 429  # a new browser waits: the account is under attack
    assert owner.post("/login", data={"name": name, "password": password}).status_code == 302
    forged = app.test_client()
    forged.set_cookie("poll_device", "forged.value.here", domain="localhost")
    assert forged.post("/login", data={"name": name, "password": password}).status_code == 429


def test_every_failed_login_is_in_the_audit_trail(client, session, make_operator):
    name, _ = make_operator("counted")
    for number in range(5):
        client.post("/login", data={"name": name, "password": f"wrong {number} wrong"},
                    environ_base={"REMOTE_ADDR": f"10.3.0.{number}"})
    client.post("/login", data={"name": "nobody-here", "password": "whatever it is"})
    failed = fresh(session).scalars(sa.select(AuditEvent.subject).where(AuditEvent.action == "login-failed")).all()
    assert failed.count(name) == 5 and "nobody-here" in failed


# Finding 9: the unknown-link limit blocked valid links behind a shared address.

def test_guessing_is_limited_per_address_but_real_links_always_open(app, client, session, make_poll, make_links,
                                                                     login):
    app.config["RATE_LIMIT_UNKNOWN_LINKS"] = "5 per minute"
    poll = make_poll()
    first, second = make_links(poll, count=2)
    statuses = [client.get(f"/p/{'A' * 21}{i % 10}").status_code for i in range(8)]
    assert statuses == [404] * 5 + [429] * 3
    # A phone behind the same carrier address opens and answers its real link.
    assert client.get(f"/p/{first}").status_code == 200
    assert client.post(f"/p/{first}", data={"option": "1"}).status_code == 201
    assert client.head(f"/p/{'B' * 22}").status_code == 429  # HEAD cannot probe past the limit either
    # Another address may guess its own quota.
    assert client.get(f"/p/{'C' * 22}", environ_base={"REMOTE_ADDR": "10.9.8.7"}).status_code == 404
    from poll.services.answering import tallies

    session.rollback()
    server = tallies.server_counters(session)
    assert server == {"refused:unknown-link": 6, "refused:rate-limited": 3}
    assert client.post(f"/p/{second}", data={"option": "2"}).status_code == 201
    login("viewer")  # where operators look: every refused attempt is counted there
    page = client.get(f"/dashboard/{poll.slug}?lang=en").get_data(as_text=True)
    assert "Links that do not exist (all polls)" in page
    assert "unknown link: <strong>6</strong>" in page and "too many attempts, turned away: <strong>3</strong>" in page


def test_a_link_takes_only_so_many_posts_and_each_refusal_is_counted(app, client, session, make_poll, make_links):
    app.config["RATE_LIMIT_LINK_POSTS"] = "3 per minute"
    poll = make_poll()
    token = make_links(poll)[0]
    statuses = [client.post(f"/p/{token}", data={"option": "1"}, environ_base={"REMOTE_ADDR": f"10.4.0.{i}"}).status_code
                for i in range(5)]
    assert statuses == [201, 409, 409, 429, 429]
    from poll.services.answering import tallies

    session.rollback()
    counters = tallies.counters(session, poll)
    assert counters["refused:rate-limited"] == 2 and counters["refused:already-answered"] == 2
    assert tallies.kept(session, poll) == tallies.recount(session, poll)


# Finding 2: a viewer could read anyone's personal link and answer for them, unrecorded.

@pytest.fixture
def delivered(runner, session, make_poll, make_links):
    """An open poll whose invitation SMS went out through the simulated gateway; returns (phone, token)."""
    poll = make_poll("sent")
    token = make_links(poll)[0]
    assert runner.invoke(args=["sms", "queue", "sent"]).exit_code == 0
    assert runner.invoke(args=["dispatch", "--once"]).exit_code == 0
    from poll.models import OutboxMessage

    return fresh(session).scalar(sa.select(OutboxMessage.phone)), token


def test_a_viewer_cannot_open_a_phone_and_its_link(client, delivered, login):
    phone, token = delivered
    login("viewer")
    response = client.get(f"/phone/{phone}")
    assert response.status_code == 403 and token not in response.get_data(as_text=True)


def test_every_view_of_a_link_and_every_operator_answer_is_audited(client, session, runner, delivered, login):
    phone, token = delivered
    login("admin", name="curious")
    assert token in client.get(f"/phone/{phone}").get_data(as_text=True)
    assert client.get(f"/p/{token}").status_code == 200  # whether it was answered: seen, and on record
    assert client.post(f"/p/{token}", data={"option": "2"}).status_code == 201
    assert runner.invoke(args=["links", "sent"]).exit_code == 0
    events = {(event.action, event.actor) for event in fresh(session).scalars(sa.select(AuditEvent))}
    assert ("phone-viewed", "curious") in events
    assert ("link-used-by-operator", "curious") in events
    assert ("link-opened-by-operator", "curious") in events
    assert ("links-printed", "") in events
    details = " ".join(str(event.detail) + event.subject for event in session.scalars(sa.select(AuditEvent)))
    assert token not in details  # the audit trail names the link, never its token


# Finding 16: `poll simulate --reset` deleted a real poll's recipients, links and answers.

def test_reset_refuses_to_delete_real_recipients_and_answers(client, runner, session, make_poll, make_links):
    token = make_links(make_poll("real"), count=3)[0]
    assert client.post(f"/p/{token}", data={"option": "1"}).status_code == 201
    result = runner.invoke(args=["simulate", "real", "--population", "200", "--sample", "20", "--reset"])
    assert result.exit_code == 1
    assert "3 recipients that were imported" in result.output and "--discard-real-data" in result.output
    assert rows(session, Answer) == 1 and rows(session, Link) == 3
    result = runner.invoke(args=["simulate", "real", "--population", "200", "--sample", "20", "--reset",
                            "--discard-real-data"])
    assert result.exit_code == 0, result.output
    event = fresh(session).scalars(sa.select(AuditEvent).where(AuditEvent.action == "simulation-reset")).one()
    assert event.detail["real_recipients"] == 3 and event.detail["answers"] == 1


def test_reset_of_a_simulated_poll_needs_no_extra_word_and_is_audited(runner, session, make_poll):
    make_poll("sim", status="draft")
    args = ["simulate", "sim", "--population", "300", "--sample", "50", "--seed", "3"]
    assert runner.invoke(args=args).exit_code == 0
    assert runner.invoke(args=[*args, "--reset"]).exit_code == 0
    assert fresh(session).scalar(sa.select(sa.func.count()).where(AuditEvent.action == "simulation-reset")) == 1


# Finding 5: tokens and secrets in logs; SMS replies kept beside their numbers.

@pytest.mark.slow
def test_gunicorn_logs_neither_tokens_nor_secrets(database_url, make_poll, make_links, tmp_path):
    import urllib.request

    from tests.servers import gunicorn

    token = make_links(make_poll())[0]
    log = tmp_path / "access.log"
    with gunicorn(database_url, workers=1, access_log=log, env={"POLL_SMS_SECRET": SECRET}) as base:
        for url in (f"{base}/p/{token}", f"{base}/p/{token}?lang=en", f"{base}/sms/kannel/dlr?secret={SECRET}&message=1&status=1",
                    f"{base}/sms/kannel/mo?secret={SECRET}&from=%2B9647701234567&to=12345&text=2&id=k-9&ts=1",
                    f"{base}/p/{'Z' * 22}", f"{base}/%70/{token}", f"{base}/p%2F{token}", f"{base}/%2570/{token}"):
            try:
                urllib.request.urlopen(urllib.request.Request(url, headers={"Referer": f"{base}/p/{token}",
                                                                           "Authorization": "Bearer topsecret"}),
                                       timeout=10).read()
            except urllib.error.HTTPError:
                pass
    text = log.read_text()
    assert text.count("/p/…") >= 5 and "secret=…" in text
    assert token not in text and SECRET not in text and "Z" * 22 not in text and "topsecret" not in text
    assert "/sms/kannel/mo?secret=…&from=…&to=…&text=…&id=…&ts=…" in text and "7701234567" not in text


def test_every_access_log_line_is_masked_and_credential_headers_never_shown(tmp_path):
    import datetime

    from gunicorn.config import Config

    from poll.logs import GunicornLogger

    config = Config()
    config.set("accesslog", str(tmp_path / "access.log"))
    config.set("access_log_format", '"%(r)s" %({Cookie}i)s %({Authorization}i)s "%({Referer}i)s" %(s)s %({Missing}i)s')
    logger = GunicornLogger(config)
    response = SimpleNamespace(status="200 OK", status_code=200, sent=10, response_length=10, headers=[])
    request = SimpleNamespace(headers=[("COOKIE", "session=s3cr3t"), ("AUTHORIZATION", "Bearer t0p"),
                                       ("REFERER", f"https://x/p/{'B' * 22}")])
    environ = {"REQUEST_METHOD": "GET", "RAW_URI": f"/%70/{'A' * 22}", "PATH_INFO": f"/p/{'A' * 22}",
               "QUERY_STRING": "", "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1"}
    logger.access(response, request, environ, datetime.timedelta(seconds=0.01))
    for handler in logger.access_log.handlers:
        handler.flush()
    assert (tmp_path / "access.log").read_text().strip() == '"GET /p/… HTTP/1.1" … … "https://x/p/…" 200 -'


@pytest.mark.parametrize("line", [
    '"GET /sms/kannel/mo?secret=S&from=%2B9647701234567&to=12345&text=%D9%A2&id=k-1&ts=1 HTTP/1.1" 200 -',
    '"GET /sms/kannel/mo?secret=S&from=9647701234567&text=hello%20there&id=k-1 HTTP/1.1" 200 -',
    '"GET /%73ms/kannel/mo?from=9647701234567&text=hello%2520there HTTP/1.1" 200 -',
    '"GET /sms%2Fkannel/mo?from=07701234567;text=2 HTTP/1.1" 400 -',
])
def test_every_query_value_under_sms_is_masked(line):
    masked = mask(line)
    assert "from=…" in masked and "text=…" in masked
    assert "7701234567" not in masked and "there" not in masked and "٢" not in masked and "%D9" not in masked


def test_the_simulated_handsets_number_is_masked_in_its_url():
    assert mask('"GET /phone/%2B9647701234567?lang=en HTTP/1.1" 200') == '"GET /phone/…?lang=en HTTP/1.1" 200'


def test_the_development_servers_request_log_is_masked(app, make_poll, make_links, caplog):
    import threading
    import urllib.error
    import urllib.request

    from werkzeug.serving import make_server

    token = make_links(make_poll())[0]
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with caplog.at_level("INFO", logger="werkzeug"):
            urllib.request.urlopen(f"http://127.0.0.1:{server.port}/p/{token}", timeout=10).read()
            with contextlib.suppress(urllib.error.HTTPError):  # no secret configured: 403, and logged all the same
                urllib.request.urlopen(f"http://127.0.0.1:{server.port}/sms/kannel/mo?from=9647701234567&text=2",
                                       timeout=10).read()
    finally:
        server.shutdown()
    messages = " ".join(record.getMessage() for record in caplog.records)
    assert "/p/…" in messages and token not in messages
    assert "/sms/kannel/mo?from=…&text=…" in messages and "7701234567" not in messages


@pytest.mark.slow
def test_poll_serve_logs_neither_tokens_nor_sms_query_values(database_url, make_poll, make_links):
    import urllib.error
    import urllib.request

    from tests import logs
    from tests.servers import poll_serve

    token = make_links(make_poll())[0]
    with poll_serve(database_url, env={"POLL_SMS_SECRET": SECRET}) as base:
        for url in (f"{base}/p/{token}", f"{base}/sms/kannel/mo?secret={SECRET}&from=%2B9647701234567&text=2&id=k-1"):
            with contextlib.suppress(urllib.error.HTTPError):
                urllib.request.urlopen(url, timeout=10).read()
    text = logs.latest("poll-serve").read_text(encoding="utf-8")
    assert "/p/…" in text and "/sms/kannel/mo?secret=…&from=…&text=…&id=…" in text
    assert token not in text and SECRET not in text and "7701234567" not in text


def test_the_log_gateway_masks_the_link_it_would_send(caplog):
    from poll.sms.gateways import LogGateway, Outgoing

    with caplog.at_level("INFO", logger="poll.sms"):
        LogGateway().send(Outgoing(1, "+9647701234567", "Answer: https://poll.example.iq/p/abcdefghijklmnopqrstuv",
                                   "inv-1", "https://poll.example.iq/sms/kannel/dlr?secret=x"))
    assert "abcdefghijklmnopqrstuv" not in caplog.text and "/p/…" in caplog.text


def test_an_sms_answer_is_kept_without_its_number_or_text(app, client, session, make_poll, make_links):
    from poll.models import InboundMessage, Recipient

    app.config["SMS_SECRET"] = SECRET
    make_links(make_poll())
    phone = fresh(session).scalar(sa.select(Recipient.phone))
    response = client.get("/sms/kannel/mo", query_string={"secret": SECRET, "from": phone[1:], "text": "2", "id": "m-1"})
    assert response.status_code == 200
    kept = fresh(session).scalars(sa.select(InboundMessage)).one()
    assert kept.outcome == "recorded" and kept.phone is None and kept.text is None
    assert rows(session, Answer) == 1
    # Nor the SMS sent back, which names the question that follows this answer.
    assert kept.reply == ""
    # A retry of the same message is still recognised: counted once, and told where the phone stands.
    again = client.get("/sms/kannel/mo", query_string={"secret": SECRET, "from": phone[1:], "text": "2", "id": "m-1"})
    assert "2/6" in again.get_data(as_text=True) and "2/6" in response.get_data(as_text=True)
    assert rows(session, Answer) == 1


def test_guessing_from_the_owners_own_address_spares_the_owners_browser(app, make_operator):
    app.config["RATE_LIMIT_LOGIN_ACCOUNT"] = "3 per minute"
    app.config["RATE_LIMIT_LOGIN_CLIENT"] = "5 per minute"
    name, password = make_operator("shared")
    owner, attacker = app.test_client(), app.test_client()
    nat = {"REMOTE_ADDR": "10.8.0.1"}  # one carrier address for both
    assert owner.post("/login", data={"name": name, "password": password}, environ_base=nat).status_code == 302
    owner.post("/logout", environ_base=nat)
    for _ in range(6):
        attacker.post("/login", data={"name": name, "password": "nope nope nope"}, environ_base=nat)
    assert attacker.post("/login", data={"name": name, "password": password}, environ_base=nat).status_code == 429
    assert owner.post("/login", data={"name": name, "password": password}, environ_base=nat).status_code == 302


def test_a_links_post_limit_counts_from_its_first_post_whatever_the_clock():
    # A fixed window per key from its first hit, as the limits library keeps: no boundary of the clock's
    # minutes lets a burst through, and keys whose window passed are swept out.
    now = [59.5]
    windows = throttle.FixedWindows(clock=lambda: now[0])
    limit = parse("2 per minute")
    assert [windows.hit(limit, "link-posts", 7) for _ in range(3)] == [True, True, False]
    now[0] = 60.5  # a new clock minute, the same window
    assert windows.hit(limit, "link-posts", 7) is False
    now[0] = 119.6  # the window has passed
    assert windows.hit(limit, "link-posts", 7) is True

    class Small(throttle.FixedWindows):
        SWEEP_AT = 3

    small = Small(clock=lambda: now[0])
    for key in (1, 2):
        small.hit(limit, "link-posts", key)
    now[0] = 500.0
    assert small.hit(limit, "link-posts", 3) is True  # the third key sweeps out the two whose window passed
    assert len(small._hits) == 1
