"""The kept counters and tallies always equal a recount of the rows."""

import pytest
import sqlalchemy as sa

from poll.db import dialects
from poll.db.bulk import upsert_add
from poll.db.direct import Driver
from poll.models import TALLY_SHARDS, Answer, AnswerTally, Link, PollCounter, utcnow
from poll.services.answering import answers, tallies
from poll.services.definition import polls
from poll.vocabulary import Outcome


def assert_kept_equals_recount(session, slug):
    session.rollback()
    poll = polls.get_poll(session, slug)
    kept, recount = tallies.kept(session, poll), tallies.recount(session, poll)
    assert kept == recount
    return kept


def test_tallies_after_web_answers_and_refusals(client, session, make_poll, make_links):
    poll = make_poll("web")
    tokens = make_links(poll, count=6, governorate="IQ-AR", sex="M", age_band="18-29", age=20)
    for i, token in enumerate(tokens[:4]):
        assert client.post(f"/p/{token}", data={"option": str(1 + i % 3)}).status_code == 201
    client.post(f"/p/{tokens[0]}", data={"option": "2"})  # already answered
    client.post(f"/p/{tokens[5]}", data={"option": "9"})  # invalid option
    kept = assert_kept_equals_recount(session, "web")
    assert kept["counters"]["answered"] == 4
    assert kept["counters"]["refused:already-answered"] == 1
    assert kept["counters"]["refused:invalid-option"] == 1
    assert sum(kept["strata"].values()) == 4


def test_tallies_after_web_answers_with_unknown_strata_and_opened_links(client, session, make_poll, make_links):
    poll = make_poll("bare", anonymous=False)
    tokens = make_links(poll, count=3, governorate=None, sex=None, age_band=None, age=None)
    opened = session.scalars(sa.select(Link).where(Link.token == tokens[0])).one()
    opened.opened_on = utcnow().date()  # as when the simulator or a gateway saw the link opened
    tallies.bump(session, poll.id, {"opened": 1})
    session.commit()
    for token in tokens:
        assert client.post(f"/p/{token}", data={"option": "1"}).status_code == 201
    kept = assert_kept_equals_recount(session, "bare")
    assert kept["counters"]["answered"] == 3 and kept["counters"]["opened"] == 3
    rows = session.execute(sa.select(Answer.governorate, Answer.sex, Answer.age_band, Answer.link_id)).all()
    assert {row[:3] for row in rows} == {(None, None, None)}
    assert all(row.link_id is not None for row in rows)


@pytest.mark.parametrize("name", ["baseline", "forwarded-links", "ballot-stuffing"])
def test_tallies_after_a_simulation(runner, session, make_poll, name):
    make_poll("sim", status="draft")
    result = runner.invoke(args=["simulate", "sim", "--population", "20000", "--sample", "8000", "--seed", "3",
                            "--scenario", name, "--json"])
    assert result.exit_code == 0, result.output
    kept = assert_kept_equals_recount(session, "sim")
    assert kept["counters"]["invited"] == 8000


def test_tallies_are_cleared_with_a_reset(runner, session, make_poll):
    make_poll("again", status="draft")
    args = ["simulate", "again", "--population", "5000", "--sample", "2000", "--seed", "1", "--json"]
    runner.invoke(args=args)
    runner.invoke(args=[*args, "--reset"])
    kept = assert_kept_equals_recount(session, "again")
    assert kept["counters"]["invited"] == 2000


def test_a_stop_count_is_counted_again_at_each_new_stop_and_otherwise_kept_for_its_minute(session, make_poll,
                                                                                           make_links):
    from poll.models import OptOut, Recipient

    poll = make_poll("stops", anonymous=False)
    make_links(poll, 4)
    session.execute(sa.update(Link).where(Link.poll_id == poll.id).values(sent_at=utcnow()))
    phones = session.scalars(sa.select(Recipient.phone).order_by(Recipient.id)).all()
    session.add(OptOut(phone=phones[0]))
    session.flush()
    seconds = iter([1000.0, 1001.0, 1002.0, 1061.0])
    clock = lambda: next(seconds)  # noqa: E731
    assert tallies.stopped_unopened(session, poll, clock=clock) == 1
    session.add(OptOut(phone=phones[1]))
    session.flush()
    assert tallies.stopped_unopened(session, poll, clock=clock) == 2  # a new STOP is counted at once
    # A stopped link opened later is what the cheap check cannot see: the count of a moment ago, for its minute.
    stopped = session.scalar(sa.select(Recipient.id).where(Recipient.phone == phones[1]))
    session.execute(sa.update(Link).where(Link.recipient_id == stopped).values(opened_on=utcnow().date()))
    assert tallies.stopped_unopened(session, poll, clock=clock) == 2
    assert tallies.stopped_unopened(session, poll, clock=clock) == 1  # its minute is over
    assert tallies.stopped_unopened(session, poll, max_age=0) == 1


def test_answers_on_several_connections_count_in_their_shards_and_are_read_summed(app, session, make_poll,
                                                                                   make_links):
    # On PostgreSQL each connection adds to its own shard of every counter and tally, so that concurrent answers
    # do not queue for one row each; SQLite's one writer keeps one shard. Read back, the shards are one count.
    poll = make_poll("shards")
    tokens = make_links(poll, count=4)
    engine = app.extensions["poll.db"].kw["bind"]
    backend = dialects.named(engine.dialect.name)
    used = set()
    with app.app_context():
        for pair in (tokens[:2], tokens[2:]):
            driver = Driver.checkout(engine)  # a connection of its own for each pair of answers
            try:
                used.add(backend.shard(driver))
                for token in pair:
                    link = answers.find_link(driver, token)
                    values = link.ballot.read(link.variant, {"option": ["2"], "sex": ["M"]}).values
                    assert answers.record_answer(driver, link, "2", channel="web", now=utcnow(),
                                                 values=values) is Outcome.RECORDED
            finally:
                driver.release()
            engine.dispose()  # the next pair on another connection
    session.rollback()
    shards = set(session.scalars(sa.select(PollCounter.shard).where(PollCounter.name == "answered")))
    assert shards == used
    if engine.dialect.name == "sqlite":
        assert used == {0}
    assert all(0 <= shard < TALLY_SHARDS for shard in used)
    kept = assert_kept_equals_recount(session, "shards")
    assert kept["counters"]["answered"] == 4 and kept["values"][
        (poll.questions[1].id, poll.options[1].id, "M")] == 4


def test_counts_kept_in_several_shards_read_as_one(session, make_poll):
    # Corrections and bulk loads add to shard 0, answers to their connection's shard: a cell is their sum, and one
    # whose shards cancel out (an answer moved to another stratum) is not shown.
    poll = make_poll("summed")
    option = poll.options[0].id
    for shard, change in ((0, 2), (5, 3), (9, -5)):
        tallies.bump(session, poll.id, {"answered": change} if change > 0 else {})
        upsert_add(session, AnswerTally, [{"poll_id": poll.id, "option_id": option, "governorate": "IQ-BA",
                                           "sex": "F", "age_band": "30-44", "channel": "web", "count": change,
                                           "shard": shard}],
                   ["poll_id", "option_id", "governorate", "sex", "age_band", "channel"], "count")
        upsert_add(session, PollCounter, [{"poll_id": poll.id, "name": "opened", "value": 4, "shard": shard}],
                   ["poll_id", "name"], "value")
    session.commit()
    assert tallies.counters(session, poll)["opened"] == 12
    assert tallies.counters(session, poll)["answered"] == 5
    assert tallies.stratum_cells(session, poll) == []
