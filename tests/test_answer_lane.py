"""The answer lane (poll.web.lane) answers a phone's plain look and whole answer exactly as the app would.

Each case sends the same request for two fresh links of one poll: one through
the lane, one straight to the Flask app behind it. The two responses must be
the same but for the token, and so must what each wrote.
"""

import re
import sqlite3
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa
from flask import request, request_started
from werkzeug.test import Client

from poll.models import Answer, Link, Receipt
from poll.services.answering import tallies
from tests.helpers import fresh
from tests.kannel import eventually
from tests.test_concurrency import lock_waits

WHOLE_FORM = {"option": "2", "sex": "F", "age": "34", "governorate": "IQ-BA", "employment": "4", "education": "3"}
_SENT = re.compile(r"sent=[A-Za-z0-9_-]+")


class Served:
    """The paths of the requests that reached Flask's request machinery (its `request_started` signal)."""

    def __init__(self, app):
        self.app, self.paths = app, []

    def __enter__(self):
        request_started.connect(self._note, self.app)
        return self.paths

    def __exit__(self, *_exc):
        request_started.disconnect(self._note, self.app)

    def _note(self, _sender, **_extra):
        self.paths.append(request.path)


def _send(client, method: str, token: str, query: str, headers: dict, form: dict | None):
    return client.open(f"/p/{token}" + (f"?{query}" if query else ""), method=method, headers=headers,
                       data=form)


def _shown(response, token: str) -> tuple:
    # The response as a client sees it, its token and the sealed echo (random each time) left out.
    def clean(text: str) -> str:
        return _SENT.sub("sent=…", text.replace(token, "TOKEN"))

    headers = [(name, clean(value)) for name, value in response.headers.items()]
    return response.status_code, headers, clean(response.get_data(as_text=True))


@pytest.mark.parametrize(
    ("method", "query", "headers", "form"),
    [
        ("GET", "", {}, None),  # the recipient has no language: the browser's is taken, and the page says so
        ("GET", "", {"Accept-Language": "ckb, en;q=0.5"}, None),
        ("GET", "lang=en", {}, None),
        ("POST", "", {}, WHOLE_FORM),  # a script or a load test: the thanks at once, 201
        ("POST", "", {"Accept": "text/html,application/xhtml+xml"}, WHOLE_FORM),  # a browser: 303 to a reloadable page
        ("POST", "lang=ku", {}, WHOLE_FORM),
        ("POST", "", {}, WHOLE_FORM | {"lang": "en"}),  # the form's own hidden language field
    ],
)
def test_the_lane_answers_a_look_and_an_answer_as_the_app_does(app, client, session, make_poll, make_links,
                                                              method, query, headers, form):
    warm, through_lane, through_app = make_links(make_poll(), 3)
    _send(client, method, warm, query, headers, form)  # the app renders the page once and keeps it
    with Served(app) as reached_flask:
        by_lane = _send(client, method, through_lane, query, headers, form)
    assert reached_flask == []
    by_app = _send(Client(app.wsgi_app.wsgi_app), method, through_app, query, headers, form)

    assert _shown(by_lane, through_lane) == _shown(by_app, through_app)
    assert by_lane.status_code == {"GET": 200, "POST": 303 if "Accept" in headers else 201}[method]
    links = {link.token: link for link in fresh(session).scalars(sa.select(Link))}
    assert (links[through_lane].opened_on, links[through_lane].answered_on) == \
        (links[through_app].opened_on, links[through_app].answered_on)
    assert links[through_lane].opened_on is not None
    assert tallies.kept(session, links[warm].poll) == tallies.recount(session, links[warm].poll)


@pytest.mark.parametrize(
    ("method", "path", "headers", "form", "status"),
    [
        ("HEAD", "/p/{token}", {}, None, 200),
        ("GET", "/p/{token}", {"Cookie": "session=x"}, None, 200),  # a browser with a cookie: an operator's, perhaps
        ("GET", "/p/{token}?lang=en&x=1", {}, None, 200),
        ("GET", "/p/AAAAAAAAAAAAAAAAAAAAAA", {}, None, 404),  # no such link: counted where guesses are
        ("POST", "/p/{token}", {}, WHOLE_FORM | {"option": "9"}, 400),  # not an answer this poll takes
        ("POST", "/p/{token}", {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
         "option=2&sex=F&age=34&governorate=IQ-BA&employment=4&education=3", 201),
    ],
)
def test_what_the_lane_does_not_take_goes_to_the_app(app, client, make_poll, make_links, method, path, headers,
                                                     form, status):
    warm, token = make_links(make_poll(), 2)
    client.get(f"/p/{warm}")
    client.post(f"/p/{warm}", data=WHOLE_FORM)  # both pages kept: what follows goes to the app for its own reason
    if "Cookie" in headers:
        name, value = headers.pop("Cookie").split("=")
        client.set_cookie(name, value)
    with Served(app) as reached_flask:
        response = client.open(path.format(token=token), method=method, headers=headers, data=form)
    assert response.status_code == status
    assert reached_flask == [path.format(token=token).split("?")[0]]


def test_an_answered_link_goes_to_the_app_which_refuses_it(app, client, session, make_poll, make_links):
    poll = make_poll()
    warm, token = make_links(poll, 2)
    client.post(f"/p/{warm}", data=WHOLE_FORM)
    assert client.post(f"/p/{token}", data=WHOLE_FORM).status_code == 201
    with Served(app) as reached_flask:
        assert client.post(f"/p/{token}", data=WHOLE_FORM).status_code == 409
    assert reached_flask == [f"/p/{token}"]
    assert tallies.counters(fresh(session), poll)["refused:already-answered"] == 1


def test_a_post_the_lane_counted_and_handed_on_is_not_counted_twice(app, client, session, database_url, make_poll,
                                                                    make_links):
    # Another request answers the link while the lane's answer waits for it: the lane hands the post to the app,
    # which refuses it as answered already. The post was counted once against the link's limit (of one here): a
    # second count would have turned it away as one post too many.
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite's writers take turns from BEGIN: the PostgreSQL run of the suite covers this")
    app.config["RATE_LIMIT_LINK_POSTS"] = "1 per hour"
    warm, token = make_links(make_poll(), 2)
    client.post(f"/p/{warm}", data=WHOLE_FORM)
    link_id = fresh(session).scalar(sa.select(Link.id).where(Link.token == token))
    session.execute(sa.insert(Receipt).values(link_id=link_id))  # the other answer, not committed yet
    with ThreadPoolExecutor(max_workers=1) as pool, Served(app) as reached_flask:
        racing = pool.submit(client.post, f"/p/{token}", data=WHOLE_FORM)
        eventually(lambda: lock_waits(app), what="the lane's answer to wait on the other")
        session.commit()
        assert racing.result(timeout=60).status_code == 409
    assert reached_flask == [f"/p/{token}"]
    assert fresh(session).scalar(sa.select(sa.func.count()).select_from(Answer)) == 1


def test_a_look_the_database_is_too_busy_for_gets_the_apps_busy_page(app, client, database_url, make_poll,
                                                                       make_links):
    # The lane's write fails on a database held by another writer; what it began is rolled back and the app
    # meets the same error with its 503 page, asking to retry, not a bare 500.
    if not database_url.startswith("sqlite"):
        pytest.skip("a writer holding SQLite's lock past the busy timeout; PostgreSQL's writers do not block a look")
    warm, token = make_links(make_poll(), 2)
    client.get(f"/p/{warm}")
    engine = app.extensions["poll.db"].kw["bind"]
    engine.dispose()
    sa.event.listen(engine, "connect", lambda connection, _record: connection.execute("PRAGMA busy_timeout=50"))
    holder = sqlite3.connect(engine.url.database, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        with Served(app) as reached_flask:
            response = client.get(f"/p/{token}")
    finally:
        holder.rollback()
        holder.close()
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    assert reached_flask == [f"/p/{token}"]
    assert client.get(f"/p/{token}").status_code == 200  # the lock gone, the link opens
