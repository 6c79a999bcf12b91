"""Retention: once a poll is over, whom it was sent to is forgotten, and what they answered is kept."""

import itertools
import json
from datetime import timedelta

import pytest
import sqlalchemy as sa

from poll.errors import Invalid
from poll.models import AuditEvent, Link, OutboxMessage, Poll, Recipient, SmsConversation, utcnow
from poll.services.access import audit
from poll.services.audience import retention
from poll.services.definition import polls
from tests.helpers import fresh, rows

SECRET = "s3cret-for-retention"


def everything_written(session) -> str:
    """Every text value of every table, one per line: where a phone number or a token could hide."""
    values = []
    for table in sa.inspect(session.get_bind()).get_table_names():
        for row in fresh(session).execute(sa.text(f'SELECT * FROM "{table}"')):  # names from the schema itself
            values += [json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else str(value)
                       for value in row if value is not None]
    return "\n".join(values)


@pytest.fixture
def finished(app, client, runner, session, make_poll, make_links):
    """A poll answered on the web and by SMS (one conversation left open), its messages sent and a handset
    looked at, then closed: its phone numbers and tokens."""
    app.config["SMS_SECRET"] = SECRET
    poll = make_poll("over")
    tokens = make_links(poll, count=12, language="ar", governorate=None, sex=None, age=None, age_band=None)
    phones = fresh(session).scalars(sa.select(Recipient.phone).order_by(Recipient.id)).all()
    session.execute(sa.update(Recipient).values(attributes={"name": "Zainab Hassan"}))
    session.commit()
    assert "12 messages queued" in runner.invoke(args=["sms", "queue", "over"]).output
    runner.invoke(args=["dispatch", "--once"])
    for token in tokens[:8]:
        client.post(f"/p/{token}", data={"option": "1"})
    number = itertools.count()
    for phone in phones[8:11]:
        client.get("/sms/kannel/mo", query_string={"secret": SECRET, "from": phone[1:], "text": "2",
                                                  "id": f"r-{next(number)}"})
    audit.record(session, "phone-viewed", phones[11], detail={"messages": 1})
    session.commit()
    assert rows(session, SmsConversation) == 3  # each asked the next question, and is waiting
    runner.invoke(args=["polls", "close", "over"])
    return phones, tokens


def test_a_purge_destroys_every_number_and_token_of_the_poll_and_keeps_the_results(runner, session, finished):
    phones, tokens = finished
    written = everything_written(session)
    assert all(phone[1:] in written for phone in phones) and all(token in written for token in tokens)
    before = runner.invoke(args=["results", "over", "--json"]).output

    result = runner.invoke(args=["polls", "purge", "over", "--yes"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("poll over: 12 numbers, 12 links, 12 outbox messages")

    written = everything_written(session)
    assert [phone for phone in phones if phone[1:] in written] == []
    assert [token for token in tokens if token in written] == []
    assert "Zainab" not in written
    assert rows(session, SmsConversation) == 0
    assert runner.invoke(args=["results", "over", "--json"]).output == before
    poll = polls.get_poll(fresh(session), "over")
    assert poll.contacts_purged_at is not None
    assert session.scalar(sa.select(AuditEvent.detail).where(AuditEvent.action == "contacts-purged"))["via"] == "cli"


def test_a_purged_link_answers_nothing(client, runner, session, finished):
    _phones, tokens = finished
    runner.invoke(args=["polls", "purge", "over", "--yes"])
    assert client.get(f"/p/{tokens[11]}").status_code == 404
    purged = fresh(session).scalar(sa.select(Link.token).order_by(Link.id).limit(1))
    assert client.get(f"/p/{purged}").status_code == 404


def test_purge_asks_first_and_refuses_an_open_poll(runner, session, make_poll, make_links):
    make_links(make_poll("asked"), count=2)
    result = runner.invoke(args=["polls", "purge", "asked", "--yes"])
    assert result.exit_code == 1
    assert result.output.splitlines() == ["Error: poll asked is not closed: close it first (`poll polls close asked`)"]
    runner.invoke(args=["polls", "close", "asked"])
    result = runner.invoke(args=["polls", "purge", "asked"], input="n\n")
    assert result.exit_code == 1 and "This cannot be undone" in result.output
    assert fresh(session).scalar(sa.select(Poll.contacts_purged_at).where(Poll.slug == "asked")) is None
    assert not any(phone.startswith(retention.PURGED) for phone in session.scalars(sa.select(Recipient.phone)))


def test_the_dispatcher_purges_polls_past_their_retention_and_only_those(app, runner, session, make_poll, make_links):
    for slug, closed_days_ago, own_days in (("old", 31, None), ("recent", 29, None), ("own", 3, 2), ("open", None, 0)):
        poll = make_poll(slug)
        make_links(poll, count=2)
        if closed_days_ago is not None:
            session.execute(sa.update(Poll).where(Poll.slug == slug).values(
                status="closed", closes_at=utcnow() - timedelta(days=closed_days_ago), retention_days=own_days))
        else:
            session.execute(sa.update(Poll).where(Poll.slug == slug).values(retention_days=own_days))
        session.commit()
    app.config["RETENTION_DAYS"] = 30
    result = runner.invoke(args=["dispatch", "--once"])
    assert "contact data destroyed (retention): old, own" in result.output
    purged = dict(fresh(session).execute(sa.select(Poll.slug, Poll.contacts_purged_at.is_not(None))).all())
    assert purged == {"old": True, "recent": False, "own": True, "open": False}
    kept = fresh(session).scalars(
        sa.select(Recipient.phone).join(Link, Link.recipient_id == Recipient.id).join(Poll, Poll.id == Link.poll_id)
        .where(Poll.slug.in_(["recent", "open"]))).all()
    assert len(kept) == 4 and all(phone.startswith("+964") for phone in kept)


def test_a_queued_message_of_a_purged_poll_is_never_sent(runner, session, make_poll, make_links):
    make_links(make_poll("queued"), count=3)
    runner.invoke(args=["sms", "queue", "queued"])
    runner.invoke(args=["polls", "close", "queued"])
    runner.invoke(args=["polls", "purge", "queued", "--yes"])
    assert set(fresh(session).scalars(sa.select(OutboxMessage.state))) == {"cancelled"}
    assert "0 messages handed" in runner.invoke(args=["dispatch", "--once"]).output


def test_a_poll_definition_may_set_its_own_retention_period(make_poll):
    assert make_poll("kept-two-days", retention_days=2).retention_days == 2
    with pytest.raises(Invalid, match="retention_days is a whole number of days"):
        make_poll("kept-forever", retention_days=-1)


def test_the_methodology_statement_says_when_the_contact_data_were_destroyed(client, runner, session, finished):
    def statement() -> dict:
        exported = runner.invoke(args=["export", "over", "--what", "methodology", "--format", "json"])
        assert exported.exit_code == 0, exported.output
        return json.loads(exported.output)

    def page(language: str) -> str:
        response = client.get(f"/results/over/methodology?lang={language}")
        assert response.status_code == 200
        return response.get_data(as_text=True)

    assert statement()["contacts_destroyed_at"] is None
    assert "have not been destroyed yet" in page("en")
    assert runner.invoke(args=["polls", "purge", "over", "--yes"]).exit_code == 0
    purged_at = polls.get_poll(fresh(session), "over").contacts_purged_at
    assert statement()["contacts_destroyed_at"] == purged_at.isoformat(timespec="minutes")
    said = {"en": "were destroyed on", "ar": "أُتلفت أرقام الهواتف والروابط الشخصية",
            "ku": "لەناوبران؛ وەڵامەکان ماونەتەوە"}
    for language, words in said.items():
        assert words in page(language)
