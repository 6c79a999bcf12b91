"""Attacks from outside the app's own reasoning: an operator, a member of the public or a reader of the logs
trying to learn how (or whether) a given phone answered an anonymous poll.

Each test plays one attack end to end through the app's outputs. Where the
defence holds, the test says so and keeps it held; where it does not, the
test fails until it does.
"""

from __future__ import annotations

import json

import sqlalchemy as sa

from poll.models import Recipient
from tests.helpers import fresh

SECRET = "s3cret-for-tests"


def mo(client, **params):
    """An SMS from a phone, as Kannel's get-url hands it over."""
    return client.get("/sms/kannel/mo", query_string={"secret": SECRET, **params})


def phones_of(session, poll) -> list[str]:
    """The phones of `poll`'s audience, in the order their links were issued."""
    from poll.models import Link

    return list(fresh(session).scalars(
        sa.select(Recipient.phone).join(Link, Link.recipient_id == Recipient.id)
        .where(Link.poll_id == poll.id).order_by(Link.id)))


# Who answered, told by a STOP.
#
# An admin learns that a phone opted out (its invitation to any later poll is cancelled: the links list shows it
# never sent, the simulated phone view shows nothing). The outcome rates then count that phone's STOP as a
# refusal only if its link was not answered, so the rates, exact for operators and for the public, say whether
# that phone answered: the one thing "Who answered stays untold" promises no one can learn.

def test_a_known_stop_does_not_tell_whether_that_phone_answered(app, client, runner, session, make_poll,
                                                                  make_links, login):
    app.config["SMS_SECRET"] = SECRET
    seen = {}
    for world, answering in (("x-answered", 0), ("y-answered", 1)):
        poll = make_poll(world)
        tokens = make_links(poll, count=14)
        assert runner.invoke(args=["sms", "queue", world]).exit_code == 0
        assert runner.invoke(args=["dispatch", "--once"]).exit_code == 0
        phones = phones_of(session, poll)
        # Twelve others answer alike in both worlds; of X (the first) and Y (the second) exactly one answers.
        for number, token in enumerate(tokens[2:]):
            assert client.post(f"/p/{token}", data={"option": "123"[number % 3]}).status_code == 201
        assert client.post(f"/p/{tokens[answering]}", data={"option": "2"}).status_code == 201
        # X sends STOP: the admin will know (and Y did not).
        assert mo(client, **{"from": phones[0][1:], "text": "STOP", "id": f"stop-{world}"}).status_code == 200
        operator = json.loads(runner.invoke(args=["results", world, "--json"]).output)
        public = client.get(f"/api/v1/polls/{world}/results").get_json()
        seen[world] = (operator["answered"], operator["rates"]["dispositions"], public["answered"],
                       public["rates"]["dispositions"])
    # Both worlds have 13 answers; all an operator or the public sees must be alike.
    assert seen["x-answered"] == seen["y-answered"]
