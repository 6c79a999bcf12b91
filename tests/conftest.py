"""Fixtures: an app on its own fresh database per test, a client, a CLI runner, factories.

The backend is SQLite unless POLL_TEST_POSTGRES_URL names a PostgreSQL server
(scripts/test runs the suite once each way). Either way the schema is built
once by the real migrations into a template, and each test gets a copy.
"""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from poll import create_app, db
from poll.models import Link, Poll, Recipient
from poll.services.access import operators
from poll.services.audience import audiences, links
from poll.services.definition import polls
from tests import logs
from tests.databases import Databases
from tests.helpers import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, POSTGRES_URL, require


@pytest.fixture(scope="session", autouse=True)
def server_logs(tmp_path_factory):
    """Gather every log the suite's servers and the app write; at the end, fail if one holds a phone or a token.

    The app's own log in this process (every logger, at whatever level a test
    lets through) goes to one file; servers started by tests/servers.py and
    tests/kannel.py write theirs beside it (tests/logs.py).
    """
    logs.start(tmp_path_factory.mktemp("server-logs"))
    handler = logging.FileHandler(logs.path("app"), encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    logging.getLogger().addHandler(handler)
    issue = links.new_tokens
    links.new_tokens = lambda count: logs.issued(issue(count))
    yield
    links.new_tokens = issue
    logging.getLogger().removeHandler(handler)
    handler.close()
    report = logs.scan(logs.registered(), logs.tokens())
    problems = report.problems()
    assert not problems, (f"{len(problems)} problems in the servers' logs ({report.lines} lines read):\n"
                          + "\n".join(problems[:50]))


@pytest.fixture(scope="session")
def databases(tmp_path_factory):
    """The backend under test, handing out one fresh database per test, copied from one built by the migrations."""
    factory = Databases.on(POSTGRES_URL, tmp_path_factory.mktemp("databases"))
    engine = db.make_engine(factory.template())
    db.upgrade(engine)
    engine.dispose()
    yield factory
    factory.close()


@pytest.fixture
def database_url(databases) -> Iterator[str]:
    url = databases.copy()
    yield url
    databases.drop(url)


@pytest.fixture
def app(database_url, tmp_path):
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": database_url,
            "SECRET_KEY": "test-secret",
            "BASE_URL": "https://poll.example.iq",
            # CSRF is on everywhere but here; tests/test_security.py turns it back on.
            "WTF_CSRF_ENABLED": False,
        }
    )
    app.instance_path = str(tmp_path / "instance")
    yield app
    engine = app.extensions["poll.db"].kw["bind"]
    # A connection still out (a response never closed) would be dropped with the database later.
    assert engine.pool.checkedout() == 0, "a test left a database connection checked out"
    engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    """Flask's CLI runner: the app's `app.cli` holds every `poll` command."""
    return app.test_cli_runner()


@pytest.fixture
def session(app):
    """A session of the test's database, outside any request or app context.

    No app context is held open, so each request of the test client gets its
    own context and session, as it would in production.
    """
    session = app.extensions["poll.db"]()
    yield session
    session.close()


@pytest.fixture
def make_poll(session) -> Callable[..., Poll]:
    """Create a poll (the article's poll by default), open unless told otherwise."""
    counter = itertools.count(1)

    def make(slug: str | None = None, *, status: str = "open", anonymous: bool = True, **changes) -> Poll:
        session.commit()  # what the test did so far, and a fresh view: requests may have committed since
        definition = polls.builtin_definition()
        definition["slug"] = slug or f"poll-{next(counter)}"
        definition["anonymous"] = anonymous
        if {"question", "options"} & changes.keys():
            # A one-question poll of the older shape, the article's headline unless told otherwise.
            headline = definition.pop("questions")[0]
            definition |= {"question": headline["label"], "options": headline["choices"]}
        definition.update(changes)
        poll = polls.create_poll(session, definition)
        if status == "open":
            polls.open_poll(session, poll)
        elif status == "closed":
            polls.open_poll(session, poll)
            polls.close_poll(session, poll)
        session.commit()
        return poll

    return make


@pytest.fixture
def make_links(session) -> Callable[..., list[str]]:
    """Give `poll` `count` recipients with links; returns their tokens in issue order."""
    seeds = itertools.count(100)

    def make(poll: Poll, count: int = 1, **recipient) -> list[str]:
        session.commit()  # what the test did so far, and a fresh view: requests may have committed since
        audience = polls.audience_of(session, poll)
        start = audiences.audience_size(session, poll)
        for number in range(start, start + count):
            phone = f"+964770{next(seeds) * 1000 + number:07d}"
            values = {"governorate": "IQ-BG", "sex": "F", "age": 34, "age_band": "30-44"} | recipient
            session.add(Recipient(audience_id=audience.id, phone=phone, **values))
        session.flush()
        links.issue_links(session, poll)
        session.commit()
        tokens = session.scalars(
            sa.select(Link.token).where(Link.poll_id == poll.id).order_by(Link.id)
        ).all()
        session.commit()  # end the read, so later reads see what requests commit
        return tokens[start:]

    return make


@pytest.fixture
def simulated(runner, make_poll) -> dict:
    """The article's poll as "sim", simulated in-process (30,000 people, 20,000 invited, seed 4): its JSON summary."""
    make_poll("sim", status="draft")
    result = runner.invoke(args=["simulate", "sim", "--population", "30000", "--sample", "20000", "--seed", "4", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.fixture
def make_operator(session) -> Callable[..., tuple[str, str]]:
    """Create an operator; returns (name, password)."""

    def make(name: str = "ops", role: str = "admin", password: str = "correct horse battery") -> tuple[str, str]:
        session.commit()  # what the test did so far, and a fresh view: requests may have committed since
        operators.create_operator(session, name, password, role)
        session.commit()
        return name, password

    return make


@pytest.fixture
def login(client, make_operator):
    """Log the test client in as a new operator of `role` (admin by default)."""

    def log_in(role: str = "admin", name: str | None = None) -> None:
        name, password = make_operator(name or role, role)
        response = client.post("/login", data={"name": name, "password": password})
        assert response.status_code == 302, response.get_data(as_text=True)

    return log_in


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20240110)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where tests leave screenshots and other things for people to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium, headless, driven by Playwright."""
    require("Chromium", CHROMIUM.exists(), "apt-get install chromium (scripts/test does it as root)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def phone(browser):
    """A phone-size browser page (390 x 844, touch) set to Arabic, as an Iraqi phone is."""
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True, has_touch=True,
        locale="ar-IQ",
    )
    page = context.new_page()
    yield page
    context.close()
