"""Exactly one answer per link and one poll per slug, against simultaneous submits and creates."""

import threading
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from poll.db import begin_write
from poll.errors import Invalid
from poll.models import Answer, AuditEvent, Link, Poll, Receipt, Recipient, utcnow
from poll.services.answering import tallies
from poll.services.definition import polls
from poll.services.messaging import inbound
from poll.vocabulary import Outcome
from tests.helpers import fresh
from tests.kannel import eventually
from tests.servers import gunicorn

LINKS = 40
SUBMITS_PER_LINK = 8


def send(url: str, fields: dict[str, str] | None) -> int:
    """The status of a POST of `fields` to `url`, or of a GET when there are none."""
    data = urllib.parse.urlencode(fields).encode() if fields is not None else None
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=60) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.mark.slow
def test_concurrent_double_submits_record_one_answer_per_link(database_url, session, make_poll, make_links):
    tokens = make_links(make_poll(), count=LINKS)
    with gunicorn(database_url, workers=4) as base:
        # Every submit for a link waits at the link's barrier, so they really race.
        barriers = {token: threading.Barrier(SUBMITS_PER_LINK) for token in tokens}

        def submit(job: tuple[str, int]) -> int:
            token, attempt = job
            barriers[token].wait(timeout=60)
            # The article's whole form, so every question's tally races too.
            return send(f"{base}/p/{token}", {"option": str(1 + attempt % 3), "sex": "MF"[attempt % 2],
                                              "age": str(20 + attempt), "governorate": "IQ-BA",
                                              "employment": str(1 + attempt % 7), "education": str(1 + attempt % 5)})

        jobs = [(token, attempt) for token in tokens for attempt in range(SUBMITS_PER_LINK)]
        with ThreadPoolExecutor(max_workers=SUBMITS_PER_LINK * 4) as pool:
            statuses = Counter(pool.map(submit, jobs))

    assert statuses == {201: LINKS, 409: LINKS * (SUBMITS_PER_LINK - 1)}
    assert fresh(session).scalar(sa.select(sa.func.count()).select_from(Answer)) == LINKS
    assert session.scalar(sa.select(sa.func.count()).select_from(Receipt)) == LINKS
    answered = session.scalar(sa.select(sa.func.count()).where(Link.answered_on.is_not(None)))
    assert answered == LINKS
    # The tallies kept by the racing transactions equal a recount, every question's among them.
    poll = session.scalar(sa.select(Poll))
    kept = tallies.kept(session, poll)
    assert kept == tallies.recount(session, poll)
    assert sum(n for (_q, _o, value), n in kept["values"].items() if value == "") == LINKS * 5
    assert kept["counters"]["answered"] == LINKS
    assert kept["counters"]["refused:already-answered"] == LINKS * (SUBMITS_PER_LINK - 1)


LOGINS = 40


@pytest.mark.slow
def test_concurrent_wrong_logins_are_each_refused_and_audited(database_url, session, make_operator):
    name, _ = make_operator("besieged")
    limits = {"POLL_RATE_LIMIT_LOGIN_CLIENT": "1000 per minute", "POLL_RATE_LIMIT_LOGIN_ACCOUNT": "1000 per minute",
              "POLL_RATE_LIMIT_LOGIN_ACCOUNT_ANYWHERE": "1000 per minute", "POLL_WTF_CSRF_ENABLED": "false"}
    with gunicorn(database_url, workers=4, env=limits) as base:
        barrier = threading.Barrier(LOGINS)

        def attempt(number: int) -> int:
            barrier.wait(timeout=60)
            return send(f"{base}/login", {"name": name, "password": f"wrong guess {number}"})

        with ThreadPoolExecutor(max_workers=LOGINS) as pool:
            statuses = Counter(pool.map(attempt, range(LOGINS)))

    assert statuses == {401: LOGINS}
    failed = fresh(session).scalar(sa.select(sa.func.count()).where(AuditEvent.action == "login-failed"))
    assert failed == LOGINS



def create_in_its_own_transaction(app, definition: dict) -> str:
    """`poll polls create` as one unit of work in a session of its own: "created" or the refusal."""
    with app.extensions["poll.db"]() as session:
        begin_write(session)
        try:
            polls.create_poll(session, definition)
            session.commit()
            return "created"
        except Invalid as exc:
            session.rollback()
            return str(exc)


def test_simultaneous_creates_of_one_slug_make_one_poll_and_refuse_the_rest(app, session):
    barrier = threading.Barrier(4)

    def create(_attempt: int) -> str:
        barrier.wait(timeout=60)
        return create_in_its_own_transaction(app, polls.builtin_definition())

    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = Counter(pool.map(create, range(4)))
    assert outcomes == {"created": 1, "a poll with slug 'coalition-2024' exists already": 3}
    assert fresh(session).scalar(sa.select(sa.func.count()).select_from(Poll)) == 1


def lock_waits(app) -> int:
    """How many connections to this test's PostgreSQL database wait for a lock (a fresh snapshot each call)."""
    with app.extensions["poll.db"]() as watcher:
        return watcher.scalar(sa.text("SELECT count(*) FROM pg_stat_activity "
                                      "WHERE datname = current_database() AND wait_event_type = 'Lock'"))


def test_a_create_that_loses_the_race_at_the_unique_slug_is_refused_in_one_line(app, session, database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite's writers take turns from BEGIN: the PostgreSQL run of the suite covers this")
    polls.create_poll(session, polls.builtin_definition())  # inserted, not committed: the other insert waits on it
    with ThreadPoolExecutor(max_workers=1) as pool:
        loser = pool.submit(create_in_its_own_transaction, app, polls.builtin_definition())
        eventually(lambda: lock_waits(app), what="the second insert to wait")
        session.commit()
        assert loser.result(timeout=60) == "a poll with slug 'coalition-2024' exists already"
    assert fresh(session).scalar(sa.select(sa.func.count()).select_from(Poll)) == 1


def test_an_sms_answer_that_loses_the_race_to_its_own_copy_hears_the_question_the_copy_asks(
    app, session, database_url, make_poll, make_links
):
    # A phone sends its answer twice and both copies arrive at once: the one that waits on the other's answer is
    # told the answer is in and asked the question that follows, not left without it.
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite's writers take turns from BEGIN: the PostgreSQL run of the suite covers this")
    make_links(make_poll("copies"), count=1, language="en", governorate=None, sex=None, age=None, age_band=None)
    phone = fresh(session).scalar(sa.select(Recipient.phone))
    talk = inbound.Conversations(secret="a-secret-for-tests", hours=24)

    def handle(db, gateway_id: str) -> inbound.Handled:
        return inbound.handle(db, gateway_id=gateway_id, sender=phone, text="2", now=utcnow(), talk=talk)

    def second_copy() -> inbound.Handled:
        with app.extensions["poll.db"]() as other:
            begin_write(other)
            handled = handle(other, "copy-2")
            other.commit()
            return handled

    begin_write(session)
    first = handle(session, "copy-1")  # answered, its conversation started, not committed: the copy waits on it
    with ThreadPoolExecutor(max_workers=1) as pool:
        loser = pool.submit(second_copy)
        eventually(lambda: lock_waits(app), what="the copy's answer to wait")
        session.commit()
        second = loser.result(timeout=60)
    assert first.outcome is Outcome.RECORDED and first.asked.number == 2
    assert second.outcome is Outcome.ALREADY_ANSWERED
    assert second.asked is not None and second.asked.number == 2
    assert fresh(session).scalar(sa.select(sa.func.count()).select_from(Answer)) == 1


@pytest.mark.slow
def test_a_first_look_and_an_answer_racing_on_one_link_both_go_through(database_url, session, make_poll, make_links):
    # A first look marks the link opened and counts it; an answer marks it answered and counts that. Each takes the
    # link's row and the poll's counters: taken in opposite orders, the two deadlocked on PostgreSQL.
    tokens = make_links(make_poll(), count=LINKS)
    with gunicorn(database_url, workers=4) as base:
        barriers = {token: threading.Barrier(4) for token in tokens}

        def visit(job: tuple[str, int]) -> int:
            token, attempt = job
            barriers[token].wait(timeout=60)
            if attempt % 2:
                return send(f"{base}/p/{token}", {"option": "1", "sex": "F", "age": "30", "governorate": "IQ-BA",
                                                  "employment": "1", "education": "1"})
            return send(f"{base}/p/{token}", None)

        jobs = [(token, attempt) for token in tokens for attempt in range(4)]
        with ThreadPoolExecutor(max_workers=32) as pool:
            statuses = Counter(pool.map(visit, jobs))

    assert statuses == {200: LINKS * 2, 201: LINKS, 409: LINKS}
    poll = fresh(session).scalar(sa.select(Poll))
    opened = session.scalar(sa.select(sa.func.count()).where(Link.opened_on.is_not(None)))
    assert opened == LINKS
    assert tallies.counters(session, poll)["answered"] == LINKS
    assert tallies.counters(session, poll)["opened"] == LINKS
