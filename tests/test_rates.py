"""Outcome rates as AAPOR's Standard Definitions give them, from polls run the ways operators run them."""

from __future__ import annotations

import html
import itertools
import json
from datetime import timedelta

import pytest
import sqlalchemy as sa

from poll.models import Link, OutboxMessage, utcnow
from poll.services.answering import tallies
from poll.services.definition import polls
from poll.services.messaging import outbox
from poll.services.releases import results
from tests.helpers import fresh

SECRET = "s3cret-for-tests"


def answer(client, tokens: list[str]) -> None:
    """Answer each link, the options in turn (so the answers are not withheld as all alike)."""
    options = itertools.cycle("123")
    for token in tokens:
        assert client.post(f"/p/{token}", data={"option": next(options)}).status_code == 201


def rates_of(runner, slug: str) -> dict:
    result = runner.invoke(args=["results", slug, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)["rates"]


def test_links_handed_out_without_the_outbox_are_all_in_the_base(client, runner, session, make_poll, make_links,
                                                                 login):
    # 15 links handed out by `poll links` (no SMS queued), 10 answered: 66.7% answered, on every page.
    tokens = make_links(make_poll("handed"), count=15)
    listed = runner.invoke(args=["links", "handed"])
    assert listed.exit_code == 0 and len(listed.output.split()) == 15
    answer(client, tokens[:10])
    rates = rates_of(runner, "handed")
    assert rates["dispositions"]["not_sent"] == 5 and rates["dispositions"]["complete"] == 10
    assert round(100 * rates["RR1"], 1) == round(100 * rates["RR2"], 1) == 66.7
    assert rates["COOP1"] == 1  # every one who opened a link answered it
    methodology = html.unescape(client.get("/results/handed/methodology?lang=en").get_data(as_text=True))
    assert "RR1: completes of every link issued" in methodology
    rr1 = methodology.split("RR1: completes of every link issued")[1].split("</tr>")[0]
    assert "66.7%" in rr1 and "100.0%" not in rr1
    public = client.get("/results/handed?lang=en").get_data(as_text=True)
    assert "66.7%" in public
    login()
    assert "66.7%" in client.get("/dashboard/handed?lang=en").get_data(as_text=True)


@pytest.fixture
def outage(app, client, runner, session, make_poll, make_links):
    """40 links queued; an outage makes the gateway give up on 16 of them; of the 24 sent, the network reports 4
    unknown numbers, 4 other failures (a phone off), 14 delivered, 2 nothing; 12 of the delivered answer."""
    app.config["SMS_SECRET"] = SECRET
    tokens = make_links(make_poll("outage"), count=40, language="en")
    assert "40 messages queued" in runner.invoke(args=["sms", "queue", "outage"]).output
    pairs = fresh(session).execute(sa.select(OutboxMessage.id, Link.token).join(Link, Link.id == OutboxMessage.link_id)
                                   .order_by(OutboxMessage.id)).all()
    assert [token for _id, token in pairs] == tokens
    ids = [message_id for message_id, _token in pairs]
    session.execute(sa.update(OutboxMessage).where(OutboxMessage.id.in_(ids[:16]))
                    .values(queued_at=utcnow() - timedelta(hours=25)))
    session.commit()
    assert runner.invoke(args=["dispatch", "--once"]).exit_code == 0

    def report(message_id: int, status: int, answer: str | None = None) -> None:
        query = {"secret": SECRET, "message": message_id, "status": status} | ({"answer": answer} if answer else {})
        assert client.get("/sms/kannel/dlr", query_string=query).status_code == 200

    for message_id in ids[16:20]:
        report(message_id, 2, "id:7 sub:001 dlvrd:000 stat:UNDELIV err:001 text:Dear")
    for message_id in ids[20:24]:
        report(message_id, 2, "id:8 sub:001 dlvrd:000 stat:UNDELIV err:027 text:Dear")
    for message_id in ids[24:38]:
        report(message_id, 1)
    answer(client, tokens[24:36])
    return "outage"


def test_an_outage_counts_unsent_and_failed_links_as_of_unknown_eligibility(runner, session, outage):
    rates = rates_of(runner, outage)
    cases = rates["dispositions"]
    assert (cases["complete"], cases["non_contact"]) == (12, 2)
    assert cases["not_sent"] == 16  # the gateway gave up: no invitation sent, still a case
    assert cases["not_eligible"] == 4  # only the numbers the network called unknown
    assert cases["unknown"] == 4 + 2  # a phone off, or no report: eligibility unknown
    # 12 of the 36 links not known to be out of service, where counting every failure out said 85.7%.
    assert round(100 * rates["RR1"], 1) == 33.3
    assert rates["e"] == pytest.approx(14 / 18) and not rates["e_by_construction"]
    assert rates["RR3"] == pytest.approx(12 / (14 + 14 / 18 * 22))
    assert rates["rate_name"] == "participation rate"


def test_retrying_an_unknown_number_takes_it_out_of_the_evidence(runner, session, outage):
    poll = polls.get_poll(fresh(session), outage)
    assert tallies.counters(session, poll)["failed:unknown-number"] == 4
    assert tallies.kept(session, poll) == tallies.recount(session, poll)
    assert "24 failed messages queued again" in runner.invoke(args=["sms", "retry", outage]).output
    poll = polls.get_poll(fresh(session), outage)
    assert tallies.counters(session, poll)["failed:unknown-number"] == 0
    assert tallies.kept(session, poll) == tallies.recount(session, poll)


@pytest.mark.parametrize(("answer", "unknown"), [
    ("id:1 sub:001 dlvrd:000 stat:UNDELIV err:001 text:x", True),
    ("Unknown subscriber", True),
    ("number not allocated", True),
    ("id:1 sub:001 dlvrd:000 stat:UNDELIV err:027 text:x", False),  # absent subscriber: a phone switched off
    ("id:1 stat:UNDELIV err:0011 text:x", False),
    ("", False),
    (None, False),
])
def test_only_an_unknown_or_unallocated_number_is_evidence_of_a_non_working_one(answer, unknown):
    assert outbox.says_unknown_number(answer) is unknown


def test_a_simulated_poll_states_response_rates_and_a_list_participation_rates(runner, simulated):
    assert rates_of(runner, "sim")["rate_name"] == "response rate"
    assert results.aapor.document(results.aapor.Dispositions(1, 0, 0, 0, 0, 0))["rate_name"] == "participation rate"
