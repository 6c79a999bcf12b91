"""The kept counters and tallies always equal a recount of the rows."""

import pytest
import sqlalchemy as sa

from poll.models import Answer, Link, utcnow
from poll.services.answering import tallies
from poll.services.definition import polls


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
