"""Logins, CSRF, rate limits (in memory and shared through Redis), headers and cookies."""

import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections import Counter

import pytest
import sqlalchemy as sa

from poll import create_app
from tests.helpers import fresh, require
from tests.servers import free_port, gunicorn


@pytest.fixture
def strict_app(database_url, tmp_path):
    """The app as deployed: CSRF on, HTTPS base URL."""
    app = create_app({"TESTING": True, "DATABASE_URL": database_url, "SECRET_KEY": "s",
                      "BASE_URL": "https://poll.example.iq"})
    app.instance_path = str(tmp_path)
    return app


def test_login_form_needs_its_csrf_token(strict_app, make_operator):
    name, password = make_operator("csrf-check")
    client = strict_app.test_client()
    assert client.post("/login", data={"name": name, "password": password}).status_code == 400
    page = client.get("/login").get_data(as_text=True)
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    response = client.post("/login", data={"name": name, "password": password, "csrf_token": token})
    assert response.status_code == 302


def test_logout_needs_a_post_with_csrf(strict_app, make_operator):
    client = strict_app.test_client()
    assert client.get("/logout").status_code == 405
    assert client.post("/logout").status_code == 400


def test_login_starts_a_fresh_session(client, make_operator):
    name, password = make_operator("fresh")
    with client.session_transaction() as before:
        before["planted"] = "by an attacker"
    client.post("/login", data={"name": name, "password": password})
    with client.session_transaction() as after:
        assert "planted" not in after and "sid" in after


def test_cookies_are_httponly_samesite_and_secure_over_https(strict_app, make_operator):
    name, password = make_operator("cookies")
    strict_app.config["WTF_CSRF_ENABLED"] = False
    response = strict_app.test_client().post("/login", data={"name": name, "password": password})
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie


def test_every_page_sends_the_security_headers(strict_app):
    for url in ["/login", "/results/nope", "/p/AAAAAAAAAAAAAAAAAAAAAA", "/healthz"]:
        headers = strict_app.test_client().get(url).headers
        policy = headers["Content-Security-Policy"]
        assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert "unsafe-inline" not in policy
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Strict-Transport-Security"].startswith("max-age=")


@pytest.fixture
def redis_url():
    """A real redis-server on a free loopback port, for the test's lifetime."""
    binary = shutil.which("redis-server")
    require("redis-server", binary is not None, "apt-get install redis-server (scripts/test does it as root)")
    import redis

    port = free_port()
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                "--appendonly", "no"], stdout=subprocess.DEVNULL)
    client = redis.Redis(port=port)
    deadline = time.monotonic() + 20
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError("redis-server did not start") from None
            time.sleep(0.05)  # polling a port that is not open yet, bounded by the deadline
    yield f"redis://127.0.0.1:{port}/0"
    process.terminate()
    process.wait(timeout=10)


@pytest.mark.slow
def test_limits_hold_across_gunicorn_workers_through_redis(database_url, redis_url, monkeypatch):
    monkeypatch.setenv("POLL_RATELIMIT_STORAGE_URI", redis_url)
    monkeypatch.setenv("POLL_RATE_LIMIT_UNKNOWN_LINKS", "20 per minute")
    with gunicorn(database_url, workers=4) as base:
        statuses = Counter()
        for i in range(40):
            try:
                with urllib.request.urlopen(f"{base}/p/{'B' * 20}{i:02d}", timeout=10) as response:
                    statuses[response.status] += 1
            except urllib.error.HTTPError as error:
                statuses[error.code] += 1
    # Four processes, one shared count: exactly 20 misses pass, the rest are refused.
    assert statuses == {404: 20, 429: 20}


def test_the_dashboards_own_refreshes_do_not_keep_a_session_alive(app, client, session, login, make_poll):
    from datetime import timedelta

    from poll.models import OperatorSession, utcnow

    make_poll("idle")
    login()
    earlier = utcnow() - timedelta(minutes=20)
    fresh(session).execute(sa.update(OperatorSession).values(last_seen_at=earlier))
    session.commit()
    assert client.get("/dashboard/idle/panel", headers={"X-Poll-Background": "1"}).status_code == 200
    assert fresh(session).scalar(sa.select(OperatorSession.last_seen_at)) == earlier
    assert client.get("/dashboard/idle").status_code == 200  # the operator at work: the session is touched
    assert fresh(session).scalar(sa.select(OperatorSession.last_seen_at)) > earlier


def test_an_unknown_name_costs_the_same_scrypt_check_as_a_wrong_password():
    from werkzeug.security import check_password_hash

    from poll.services.access import operators

    # The same method and work factors as a real operator's hash, so the two refusals take the same time.
    method = operators._DUMMY_HASH.split("$")[0]
    assert method == operators._hash("a long enough password").split("$")[0]
    assert not check_password_hash(operators._DUMMY_HASH, "a long enough password")
