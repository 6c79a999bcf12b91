"""SMS: segments and encodings, reading replies, the outbox and dispatcher, Kannel's callbacks."""

import itertools
import json
import re
import threading
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from poll.db import begin_write
from poll.errors import Invalid
from poll.models import (
    Answer,
    AuditEvent,
    InboundMessage,
    Link,
    Option,
    OptOut,
    OutboxMessage,
    Poll,
    Recipient,
    SmsConversation,
    utcnow,
)
from poll.runners.dispatcher import Dispatcher, Settings
from poll.services.answering import tallies
from poll.services.audience import links
from poll.services.definition import polls
from poll.services.messaging import inbound, outbox
from poll.services.releases import results
from poll.sms import encoding, gateways, replies
from poll.sms.gateways import KannelGateway, Outgoing, SimulatedGateway
from poll.vocabulary import MessageState
from tests.helpers import fresh, rows
from tests.servers import ScriptedSendsms, free_port, gunicorn

SECRET = "s3cret-for-tests"


@pytest.mark.parametrize(
    ("text", "name", "units", "segments"),
    [
        ("a" * 160, "GSM-7", 160, 1),
        ("a" * 161, "GSM-7", 161, 2),
        ("a" * 306, "GSM-7", 306, 2),
        ("a" * 307, "GSM-7", 307, 3),
        ("[]" * 40, "GSM-7", 160, 1),  # extension characters take two slots
        ("€" * 81, "GSM-7", 162, 2),
        ("ع" * 70, "UCS-2", 70, 1),
        ("ع" * 71, "UCS-2", 71, 2),
        ("a" * 69 + "ع", "UCS-2", 70, 1),  # one Arabic letter makes the whole message UCS-2
        ("😀" * 35, "UCS-2", 70, 1),  # outside the BMP: two units each
        ("", "GSM-7", 0, 1),
    ],
)
def test_encoding_and_segments(text, name, units, segments):
    result = encoding.analyze(text)
    assert (result.name, result.units, result.segments) == (name, units, segments)


@pytest.mark.parametrize(
    ("text", "kind", "code"),
    [("1", "answer", "1"), (" 2 ", "answer", "2"), ("٣", "answer", "3"), ("۲", "answer", "2"),
     ("3 please", "answer", "3"), ("STOP", "stop", None), ("stop", "stop", None), ("توقف", "stop", None),
     ("إيقاف", "stop", None), ("وەستان", "stop", None), ("hello", "unknown", None), ("9", "unknown", None),
     ("", "unknown", None), ("\x00\xff", "unknown", None), ("نعم", "answer", "1"), ("لا", "answer", "2"),
     ("1 1", "answer", "1"), ("نعم 1", "answer", "1"), ("2 و", "answer", "2"),
     # More than one answer named: which one is meant cannot be told.
     ("1,2", "several", None), ("1 2", "several", None), ("1، 2", "several", None), ("1 و 2", "several", None),
     ("1و2", "several", None), ("١ و٢", "several", None), ("1 and 2", "several", None), ("1/3", "several", None),
     ("1-2", "several", None), ("3 یان 2", "several", None), ("نعم 2", "several", None), ("1 9", "several", None)],
)
def test_reading_replies(text, kind, code):
    assert replies.read(text, ["1", "2", "3"], {"yes": "1", "no": "2"}) == replies.Reply(kind, code)


def test_yes_no_only_where_the_poll_allows():
    assert replies.read("نعم", ["1", "2", "3"]).kind == "unknown"


def test_template_without_the_link_is_refused(make_poll):
    with pytest.raises(Invalid, match="no {link} placeholder"):
        make_poll(sms={"ar": "{question}"})
    with pytest.raises(Invalid, match="unknown placeholder {name}"):
        make_poll(sms={"en": "{name} {link}"})


@pytest.mark.parametrize(
    ("template", "named"),
    [("{link!r:>300000000}", "{link!r:>300000000}"), ("{link} {link:>300000000}", "{link:>300000000}"),
     ("{sender.__class__.__mro__} {link}", "{sender.__class__.__mro__}"), ("{link} {question[0]}", "{question[0]}"),
     ("{link!s}", "{link!s}"), ("{link:{sender}}", "{link:{sender}}")],
)
def test_a_template_placeholder_is_a_plain_name_and_nothing_more(make_poll, runner, tmp_path, template, named):
    with pytest.raises(Invalid, match=re.escape(named) + ": a placeholder is a plain name"):
        make_poll(sms={"en": template})
    definition = tmp_path / "poll.toml"
    definition.write_text(
        'slug = "tpl"\nquestion = { en = "Q?" }\noptions = [{ code = "1", label = { en = "Yes" } }, '
        '{ code = "2", label = { en = "No" } }]\n[sms]\nen = ' + json.dumps(template) + "\n")
    result = runner.invoke(args=["polls", "create", str(definition)])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [f"Error: sms.en has placeholder {named}: a placeholder is a plain "
                                                   "name, one of {link}, {options}, {question}, {sender}"]


def test_a_template_with_a_lone_brace_is_refused_in_one_line(make_poll):
    with pytest.raises(Invalid, match="not a valid template"):
        make_poll(sms={"en": "{link} }"})


def test_preview_shows_encoding_segments_and_cost(runner, make_poll, make_links):
    make_links(make_poll("pre"), count=10, language="ar")
    out = runner.invoke(args=["sms", "preview", "pre"]).output
    assert "[ar]" in out and "UCS-2" in out and "10 recipients" in out
    assert "[en]" in out and "GSM-7" in out
    assert "https://poll.example.iq/p/" in out
    assert "total: 0.40 USD" in out  # 10 x 4 segments x 0.01 (the Arabic message says how to reply by SMS)


def test_a_message_over_the_segment_limit_is_not_queued(runner, session, app, make_poll, make_links):
    make_links(make_poll("long"), count=2)
    app.config["SMS_MAX_SEGMENTS"] = 1
    result = runner.invoke(args=["sms", "queue", "long"])
    assert result.exit_code == 1 and "segments (limit 1)" in result.output
    assert fresh(session).scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) == 0


@pytest.fixture
def queued(runner, session, make_poll, make_links):
    tokens = make_links(make_poll("out"), count=3, language="en")
    assert "3 messages queued" in runner.invoke(args=["sms", "queue", "out"]).output
    session.rollback()
    return tokens


def test_queueing_is_idempotent_and_texts_carry_the_link(runner, session, queued):
    assert "0 messages queued" in runner.invoke(args=["sms", "queue", "out"]).output
    texts = fresh(session).scalars(sa.select(OutboxMessage.text).order_by(OutboxMessage.id)).all()
    assert [text.rsplit("/p/", 1)[1].split("\n")[0] for text in texts] == queued
    assert all(text.startswith("Dear citizen") and text.endswith("\nReply STOP to stop messages") for text in texts)
    # The sender ID: the poll names none, so POLL_SMS_SENDER's.
    assert set(fresh(session).scalars(sa.select(OutboxMessage.sender))) == {"POLL"}



def test_a_large_audience_is_queued_a_batch_at_a_time_each_link_once(runner, session, make_poll, make_links,
                                                                     monkeypatch):
    monkeypatch.setattr(outbox, "QUEUE_BATCH", 2)
    tokens = make_links(make_poll("batches"), count=7, language="en")
    stopped = fresh(session).scalars(sa.select(Recipient.phone).order_by(Recipient.id).offset(3).limit(1)).one()
    session.add(OptOut(phone=stopped))
    session.commit()
    assert "6 messages queued" in runner.invoke(args=["sms", "queue", "batches"]).output
    texts = fresh(session).scalars(sa.select(OutboxMessage.text).order_by(OutboxMessage.id)).all()
    assert [text.rsplit("/p/", 1)[1].split("\n")[0] for text in texts] == tokens[:3] + tokens[4:]

def test_dispatch_once_sends_everything_and_marks_links_sent(runner, session, queued):
    out = runner.invoke(args=["dispatch", "--once", "--rate", "1000"]).output
    assert "3 messages handed to the simulated gateway; outbox: sent 3" in out
    assert fresh(session).scalar(sa.text("SELECT count(*) FROM links WHERE sent_at IS NOT NULL")) == 3
    assert "outbox: sent 3" in runner.invoke(args=["dispatch", "--once"]).output  # nothing sent twice


def claim_now(app, **kwargs):
    with app.extensions["poll.db"]() as session:
        begin_write(session)
        claimed = outbox.claim(session, batch=kwargs.get("batch", 100), now=kwargs.get("now", utcnow()),
                               lease=timedelta(seconds=30), horizon=timedelta(hours=24))
        ids = [message.id for message in claimed]
        session.commit()
    return ids


def test_a_dead_dispatchers_claims_are_taken_over_after_the_lease(app, session, queued):
    first = claim_now(app)
    assert len(first) == 3
    assert claim_now(app) == []  # still leased
    again = claim_now(app, now=utcnow() + timedelta(seconds=31))
    assert again == first
    messages = fresh(session).scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id)).all()
    assert [m.attempts for m in messages] == [0, 0, 0]  # a claim is not an attempt: only the gateway's answers are
    assert [m.idempotency_key for m in messages] == [f"inv-{m.link_id}" for m in messages]


def test_concurrent_dispatchers_never_claim_the_same_message(app, session, make_poll, make_links, runner):
    make_links(make_poll("many"), count=60)
    runner.invoke(args=["sms", "queue", "many"])
    results, barrier = [], threading.Barrier(3)

    def work():
        barrier.wait(timeout=30)
        results.append(claim_now(app, batch=25))

    threads = [threading.Thread(target=work) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    claimed = [message for batch in results for message in batch]
    assert len(claimed) == len(set(claimed)) == 60


def dispatcher_for(app, url: str, sleeps: list | None = None, **settings) -> Dispatcher:
    """A dispatcher against `url`, with its pauses recorded in `sleeps` instead of slept."""
    values = {"rate": 1000.0, "batch": 10, "lease": timedelta(seconds=30), "horizon": timedelta(hours=24),
              "dlr_url": lambda message_id: "http://127.0.0.1:9/dlr", "max_pause": 8.0} | settings
    return Dispatcher(app.extensions["poll.db"], KannelGateway(url, "u", "p", timeout=5), Settings(**values),
                      sleep=(sleeps.append if sleeps is not None else lambda seconds: None))


def test_an_unreachable_gateway_spends_no_attempt_and_fails_nothing(app, session, queued):
    report = dispatcher_for(app, f"http://127.0.0.1:{free_port()}/cgi-bin/sendsms").run(once=True)
    assert report.unavailable and report.handed == 0
    messages = fresh(session).scalars(sa.select(OutboxMessage)).all()
    assert {(m.state, m.attempts) for m in messages} == {(MessageState.QUEUED, 0)}


def test_the_dispatcher_pauses_as_a_whole_while_the_gateway_is_down(app, session, queued):
    sleeps: list[float] = []
    with ScriptedSendsms([503, 503, 503, 503]) as smsbox:
        dispatcher = dispatcher_for(app, smsbox.url, sleeps)

        def drained() -> bool:
            with app.extensions["poll.db"]() as s:
                return outbox.state_counts(s).get(MessageState.SENT, 0) == 3

        report = dispatcher.run(should_stop=drained)
    assert report.handed == 3 and report.outages == 4
    # Each outage doubles the pause, and one message at a time tries the gateway again.
    assert [pause for pause in sleeps if pause >= 1] == [1.0, 2.0, 4.0, 8.0]
    assert len(smsbox.received) == 4 + 3
    assert [m.attempts for m in fresh(session).scalars(sa.select(OutboxMessage))] == [1, 1, 1]


def test_a_refusal_fails_the_message_at_once_and_is_counted(app, session, queued):
    with ScriptedSendsms([403]) as smsbox:
        report = dispatcher_for(app, smsbox.url).run(once=True)
    assert report.refused == 1 and report.handed == 2
    failed = fresh(session).scalars(sa.select(OutboxMessage).where(OutboxMessage.state == MessageState.FAILED)).one()
    assert failed.attempts == 1 and "403" in failed.last_error
    poll = polls.get_poll(session, "out")
    assert tallies.kept(session, poll) == tallies.recount(session, poll)


def test_messages_fail_only_past_the_horizon_and_can_be_sent_again(app, runner, session, queued):
    with app.extensions["poll.db"]() as s:
        s.execute(sa.update(OutboxMessage).values(queued_at=utcnow() - timedelta(hours=25)))
        s.commit()
    report = dispatcher_for(app, f"http://127.0.0.1:{free_port()}/cgi-bin/sendsms").run(once=True)
    assert report.handed == 0 and not report.unavailable  # nothing due: all failed before a send was tried
    session.rollback()
    poll = polls.get_poll(session, "out")
    assert {m.state for m in session.scalars(sa.select(OutboxMessage))} == {MessageState.FAILED}
    assert tallies.counters(session, poll)["failed"] == 3
    result = runner.invoke(args=["sms", "retry", "out"])
    assert "3 failed messages queued again" in result.output
    assert {(m.state, m.attempts) for m in fresh(session).scalars(sa.select(OutboxMessage))} == {(MessageState.QUEUED, 0)}
    assert tallies.kept(session, poll) == tallies.recount(session, poll)
    assert session.scalar(sa.select(AuditEvent.action).where(AuditEvent.action == "messages-retried"))


def mo(client, **params):
    return client.get("/sms/kannel/mo", query_string={"secret": SECRET, **params})


@pytest.fixture
def sms_app(app):
    app.config["SMS_SECRET"] = SECRET
    return app


ONE_QUESTION = {"question": {"en": "Tea?", "ar": "شاي؟"}, "options": [
    {"code": "1", "label": {"en": "Yes", "ar": "نعم"}}, {"code": "2", "label": {"en": "No", "ar": "لا"}},
    {"code": "3", "label": {"en": "Maybe", "ar": "ربما"}}]}


@pytest.fixture
def phone(session, make_poll, make_links):
    # A poll of one question: a reply answers it, and that is all.
    make_links(make_poll("reply", **ONE_QUESTION), count=1, language="en")
    return fresh(session).scalar(sa.select(Recipient.phone))


def test_sms_reply_answers_once_and_replays_are_deduplicated(sms_app, client, session, phone):
    first = mo(client, **{"from": phone[1:], "text": "2", "id": "k-1"})
    assert first.status_code == 200 and "recorded" in first.get_data(as_text=True)
    replay = mo(client, **{"from": phone[1:], "text": "2", "id": "k-1"})
    # The poll is anonymous: the reply sent was not kept, and the retry is told the answer is in.
    assert "already recorded" in replay.get_data(as_text=True)
    second = mo(client, **{"from": phone, "text": "1", "id": "k-2"})
    assert "already recorded" in second.get_data(as_text=True)
    assert fresh(session).scalar(sa.select(sa.func.count()).select_from(Answer)) == 1
    assert session.scalar(sa.select(Answer.channel)) == "sms"
    assert session.scalar(sa.select(sa.func.count()).select_from(InboundMessage)) == 2


@pytest.mark.parametrize("text", ["1,2", "1 2", "1، 3", "2 و 3", "1/2", "1 and 3"])
def test_a_reply_naming_several_answers_records_nothing_and_asks_for_one(sms_app, client, session, phone, text):
    reply = mo(client, **{"from": phone[1:], "text": text, "id": "m-1"}).get_data(as_text=True)
    assert reply == "Please give only one answer.\nPlease reply with one of: 1 Yes, 2 No, 3 Maybe"
    assert rows(session, Answer) == 0
    assert "recorded" in mo(client, **{"from": phone[1:], "text": "2", "id": "m-2"}).get_data(as_text=True)
    assert fresh(session).scalar(sa.select(Answer.option_id)) == polls.get_poll(session, "reply").options[1].id


def test_several_answers_are_refused_alike_for_the_headline_and_a_later_question(sms_app, client, session,
                                                                                 make_poll, make_links):
    make_links(make_poll("talk-ar"), count=1, language="ar", governorate=None, sex=None, age=None, age_band=None)
    phone = fresh(session).scalar(sa.select(Recipient.phone))
    number = itertools.count()
    headline = say(client, phone, "١ و ٢", number)
    assert headline.startswith("يرجى اختيار إجابة واحدة فقط.\n") and rows(session, Answer) == 0
    assert "2/6" in say(client, phone, "2", number)  # one answer: recorded, and the next question asked
    later = say(client, phone, "١ و ٢", number)
    assert later.startswith("يرجى اختيار إجابة واحدة فقط.\n") and "2/6" in later  # the same question again


def test_a_multiple_choice_by_sms_takes_several_answers(sms_app, client, session, make_poll, make_links):
    drinks = {"name": "drinks", "type": "select_multiple", "label": {"en": "Which?"}, "required": False,
              "choices": [{"code": "t", "label": {"en": "Tea"}}, {"code": "c", "label": {"en": "Coffee"}},
                          {"code": "w", "label": {"en": "Water"}}]}
    headline = polls.builtin_definition()["questions"][0]
    phones = []
    for slug in ("many-1", "many-2"):
        make_links(make_poll(slug, questions=[headline, drinks]), count=1, language="en")
        phones.append(fresh(session).scalar(sa.select(Recipient.phone).order_by(Recipient.id.desc()).limit(1)))
    number = itertools.count()
    for phone, text in zip(phones, ("1, 3", "1 و 3"), strict=True):
        assert "Which?" in say(client, phone, "2", number)
        assert "Your answers have been recorded" in say(client, phone, text, number)
    assert fresh(session).scalars(sa.select(Answer.values)).all() == [{"drinks": ["t", "w"]}] * 2


def posted(client, text: bytes, sender: str | None, gateway_id: str, secret: str = SECRET, coding: str | None = None):
    """An MO as Kannel's post-url delivers it: the text as the body, the sender in X-Kannel-From, the id in the URL."""
    headers = {"X-Kannel-To": "12345"} | ({"X-Kannel-From": sender} if sender else {})
    headers |= {"X-Kannel-Coding": coding} if coding else {}
    return client.post(f"/sms/kannel/mo?secret={secret}&id={gateway_id}", data=text, headers=headers,
                       content_type="text/plain")


def test_a_posted_reply_is_handled_like_a_fetched_one(sms_app, client, session, phone):
    first = posted(client, "٢".encode("utf-16-be"), phone[1:], "p-1", coding="2")
    assert first.status_code == 200 and "recorded" in first.get_data(as_text=True)
    # The same message fetched by a get-url is the same message: deduplicated on its id.
    assert "already recorded" in mo(client, **{"from": phone[1:], "text": "2", "id": "p-1"}).get_data(as_text=True)
    assert "already recorded" in posted(client, b"1", phone, "p-2").get_data(as_text=True)
    assert fresh(session).scalar(sa.select(sa.func.count()).select_from(Answer)) == 1
    assert session.scalar(sa.select(Option.code).join(Answer, Answer.option_id == Option.id)) == "2"
    assert session.scalar(sa.select(sa.func.count()).select_from(InboundMessage)) == 2


def test_posted_replies_without_the_secret_or_the_sender_are_refused(sms_app, client, session, phone):
    assert posted(client, b"1", phone, "p-1", secret="wrong").status_code == 403
    response = posted(client, b"1", None, "p-2")
    assert response.status_code == 400 and "required" in response.get_data(as_text=True)
    assert posted(client, b"1", phone, "").status_code == 400
    assert fresh(session).scalar(sa.select(sa.func.count()).select_from(InboundMessage)) == 0


@pytest.mark.parametrize("secret", [None, "", "wrong", SECRET + "x"])
def test_forged_callbacks_are_refused(sms_app, client, session, phone, secret):
    params = {"from": phone, "text": "1", "id": "f-1"} | ({} if secret is None else {"secret": secret})
    assert client.get("/sms/kannel/mo", query_string=params).status_code == 403
    assert client.get("/sms/kannel/dlr", query_string={"message": 1, "status": 1, "secret": secret or ""}).status_code == 403
    assert fresh(session).scalar(sa.select(sa.func.count()).select_from(InboundMessage)) == 0


def test_callbacks_are_off_without_a_configured_secret(client, phone):
    response = client.get("/sms/kannel/mo", query_string={"secret": "", "from": phone, "text": "1", "id": "x"})
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("params", "status", "text"),
    [
        ({"from": "9647999999999", "text": "1", "id": "u-1"}, 200, "لا يوجد استطلاع"),
        ({"from": "not a number", "text": "1", "id": "u-2"}, 200, "لا يوجد استطلاع"),
        ({"text": "1", "id": "u-3"}, 400, "required"),
        ({"from": "9647700000000", "text": "1"}, 400, "required"),
        ({"from": "9647700000000", "text": "x" * 2000, "id": "u-4"}, 400, "required"),
    ],
)
def test_odd_replies_get_clear_answers(sms_app, client, session, phone, params, status, text):
    response = mo(client, **params)
    assert response.status_code == status
    assert text in response.get_data(as_text=True)
    assert fresh(session).scalar(sa.select(sa.func.count()).select_from(Answer)) == 0


def test_garbage_bytes_and_help(sms_app, client, session, phone):
    response = client.get(f"/sms/kannel/mo?secret={SECRET}&from={phone[1:]}&id=g-1&text=%FF%FE%00%01%C3%28")
    assert response.status_code == 200
    assert "Please reply with one of: 1 Yes, 2 No, 3 Maybe" in response.get_data(as_text=True)


def test_reply_to_a_closed_poll_is_refused(sms_app, client, session, phone):
    polls.close_poll(session, polls.get_poll(session, "reply"))
    session.commit()
    response = mo(client, **{"from": phone[1:], "text": "1", "id": "c-1"})
    assert "closed" in response.get_data(as_text=True)
    assert fresh(session).scalar(sa.select(sa.func.count()).select_from(Answer)) == 0


def test_stop_opts_out_and_the_dispatcher_honours_it(sms_app, client, runner, session, phone):
    runner.invoke(args=["sms", "queue", "reply"])
    response = mo(client, **{"from": phone[1:], "text": "STOP", "id": "s-1"})
    assert "no more messages" in response.get_data(as_text=True)
    assert fresh(session).get(OptOut, phone) is not None
    assert session.scalar(sa.select(OutboxMessage.state)) == MessageState.CANCELLED
    assert "handed to the simulated gateway; outbox: cancelled 1" in runner.invoke(args=["dispatch", "--once"]).output


def test_delivery_reports_mark_links_delivered_or_failed(sms_app, client, runner, session, queued):
    runner.invoke(args=["dispatch", "--once"])
    first, second = fresh(session).scalars(sa.select(OutboxMessage.id).order_by(OutboxMessage.id)).all()[:2]
    for status in (8, 1):
        assert client.get("/sms/kannel/dlr", query_string={"secret": SECRET, "message": first,
                                                           "status": status}).status_code == 200
    assert client.get("/sms/kannel/dlr", query_string={"secret": SECRET, "message": second,
                                                       "status": 16}).status_code == 200
    assert client.get("/sms/kannel/dlr", query_string={"secret": SECRET, "message": 999999,
                                                       "status": 1}).status_code == 404
    assert client.get("/sms/kannel/dlr", query_string={"secret": SECRET, "message": "x"}).status_code == 400
    states = dict(fresh(session).execute(sa.select(OutboxMessage.id, OutboxMessage.state)).all())
    assert states[first] == "delivered" and states[second] == "failed"
    poll = polls.get_poll(session, "out")
    counts = tallies.counters(session, poll)
    assert (counts["delivered"], counts["failed"]) == (1, 1)



def test_an_acknowledgement_is_one_update_or_the_whole_record_when_it_overtakes_the_send(sms_app, client, session,
                                                                                        queued):
    """Report 8 after the dispatcher's record only marks the message acknowledged; one that overtakes the record
    (the message still "sending") records the send, counted once, and a repeat changes nothing."""
    claimed = claim_now(sms_app)
    for _ in range(2):
        assert client.get("/sms/kannel/dlr", query_string={"secret": SECRET, "message": claimed[0],
                                                           "status": 8}).status_code == 200
    message = fresh(session).get(OutboxMessage, claimed[0])
    assert message.state == MessageState.SENT and message.acked_at and message.sent_at
    assert fresh(session).get(Link, message.link_id).sent_at is not None
    with sms_app.extensions["poll.db"]() as other:
        outbox.record(other, claimed[1], gateways.Sent(gateways.Answer.ACCEPTED, gateway_id="g"), now=utcnow())
        other.commit()
    assert client.get("/sms/kannel/dlr", query_string={"secret": SECRET, "message": claimed[1],
                                                       "status": 8}).status_code == 200
    assert fresh(session).get(OutboxMessage, claimed[1]).acked_at is not None
    assert client.get("/sms/kannel/dlr", query_string={"secret": SECRET, "message": 999999,
                                                       "status": 8}).status_code == 404
    poll = polls.get_poll(session, "out")
    assert tallies.counters(session, poll)["sent"] == 2
    assert tallies.kept(session, poll) == tallies.recount(session, poll)

def test_simulated_handset_shows_its_messages(client, runner, session, queued, login):
    runner.invoke(args=["dispatch", "--once"])
    phone = fresh(session).scalar(sa.select(OutboxMessage.phone).order_by(OutboxMessage.id))
    login("admin")
    body = client.get(f"/phone/{phone}?lang=en").get_data(as_text=True)
    assert f'<a href="https://poll.example.iq/p/{queued[0]}">' in body
    assert "+964 7•• ••• •" + phone[-3:] in body  # the number shown masked
    assert client.get("/phone/12345").status_code == 404


def test_the_simulated_handset_does_not_tell_who_answered_an_anonymous_poll(client, runner, session, queued, login):
    # In an anonymous poll every real person is reminded, answered or not: neither the count nor the inbox tells.
    runner.invoke(args=["dispatch", "--once"])
    assert client.post(f"/p/{queued[0]}", data={"option": "1"}).status_code == 201
    assert "3 reminders queued" in runner.invoke(args=["sms", "remind", "out", "--after", "0"]).output
    runner.invoke(args=["dispatch", "--once"])
    phones = fresh(session).scalars(sa.select(Recipient.phone).order_by(Recipient.id)).all()
    login("admin")
    inboxes = [client.get(f"/phone/{phone}?lang=en").get_data(as_text=True) for phone in phones]
    assert [inbox.count('class="bubble"') for inbox in inboxes] == [1, 1, 1]


def test_simulated_gateway_accepts_with_its_key():
    sent = SimulatedGateway().send(Outgoing(1, "+9647701234567", "hi", "inv-1", "http://x"))
    assert sent.accepted and sent.gateway_id == "inv-1"


def test_reminders_go_to_non_responders_at_most_the_configured_number(app, client, runner, session, queued):
    # A poll that is not anonymous may remind only those who have not answered (its links say who did anyway).
    session.execute(sa.update(Poll).where(Poll.slug == "out").values(is_anonymous=False))
    session.commit()
    runner.invoke(args=["dispatch", "--once"])
    client.post(f"/p/{queued[0]}", data={"option": "1"})
    assert "0 reminders queued" in runner.invoke(args=["sms", "remind", "out", "--after", "1"]).output
    assert "2 reminders queued" in runner.invoke(args=["sms", "remind", "out", "--after", "0"]).output
    assert "0 reminders queued" in runner.invoke(args=["sms", "remind", "out", "--after", "0"]).output  # pending
    runner.invoke(args=["dispatch", "--once"])
    assert "0 reminders queued" in runner.invoke(args=["sms", "remind", "out", "--after", "0"]).output  # limit 1
    app.config["SMS_MAX_REMINDERS"] = 2
    assert "2 reminders queued" in runner.invoke(args=["sms", "remind", "out", "--after", "0"]).output
    kinds = sorted(fresh(session).execute(sa.select(OutboxMessage.kind, OutboxMessage.idempotency_key)).all())
    assert [kind for kind, _ in kinds] == ["invitation"] * 3 + ["reminder"] * 4
    assert sorted(key.rsplit("-", 1)[-1] for kind, key in kinds if kind == "reminder") == ["r1", "r1", "r2", "r2"]


# --- the questions after the headline, by SMS --------------------------------------------------------------


@pytest.fixture
def talker(session, make_poll, make_links):
    """A phone invited to the article's whole form, with no strata in the audience."""
    make_links(make_poll("talk"), count=1, language="en", governorate=None, sex=None, age=None, age_band=None)
    return fresh(session).scalar(sa.select(Recipient.phone))


def say(client, phone: str, text: str, number: itertools.count) -> str:
    response = mo(client, **{"from": phone[1:], "text": text, "id": f"t-{next(number)}"})
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_an_sms_conversation_asks_each_question_then_keeps_one_whole_response(sms_app, client, session, talker):
    number = itertools.count()
    first = say(client, talker, "2", number)
    # The headline counts at once; the next question follows with numbered choices.
    assert "recorded" in first and "2/6 Sex" in first and "1 Male" in first and "3 Prefer not to say" in first
    assert "0 to skip" in first
    poll = polls.get_poll(fresh(session), "talk")
    assert tallies.counters(session, poll)["answered"] == 1
    assert tallies.counters(session, poll)["partial"] == 1  # the headline alone, until the rest arrive
    assert "3/6 Age" in say(client, talker, "2", number)
    again = say(client, talker, "seven", number)
    assert "whole number" in again and "3/6 Age" in again  # asked again, with why
    assert "4/6 Governorate" in say(client, talker, "٤١", number)
    assert "5/6" in say(client, talker, "2", number)  # Nineveh, the second governorate
    assert "6/6" in say(client, talker, "0", number)  # employment skipped
    assert "Your answers have been recorded" in say(client, talker, "4", number)
    answer = fresh(session).scalar(sa.select(Answer))
    assert answer.values == {"sex": "F", "age": 41, "governorate": "IQ-NI", "education": "4"}
    assert (answer.governorate, answer.sex, answer.age_band) == ("IQ-NI", "F", "30-44")
    assert tallies.counters(session, poll)["partial"] == 0  # whole now: a complete in the AAPOR rates
    assert tallies.kept(session, poll) == tallies.recount(session, poll)
    # Nothing of the conversation is left beside the phone, and the anonymous poll kept no texts.
    assert rows(session, SmsConversation) == 0
    assert fresh(session).scalars(sa.select(InboundMessage.phone)).all() == [None] * 7
    # A later reply answers nothing more.
    assert "already recorded" in say(client, talker, "1", number)


def test_stop_in_the_middle_ends_the_conversation_and_keeps_what_was_answered(sms_app, client, session, talker):
    number = itertools.count()
    say(client, talker, "1", number)
    say(client, talker, "1", number)  # sex: male
    assert "no more messages" in say(client, talker, "STOP", number)
    assert rows(session, SmsConversation) == 0
    assert session.get(OptOut, talker) is not None
    answer = fresh(session).scalar(sa.select(Answer))
    assert answer.values is None  # a partial response: the headline, counted at once
    poll = polls.get_poll(session, "talk")
    assert tallies.kept(session, poll) == tallies.recount(session, poll)
    rates = results.poll_results(session, poll).rates
    assert rates["dispositions"]["partial"] == 1 and rates["dispositions"]["complete"] == 0
    assert (rates["RR1"], rates["RR2"]) == (0, 1)  # the one case answered, the headline alone



def test_a_retried_reply_to_an_anonymous_poll_is_asked_again_from_no_kept_text(sms_app, client, session, talker):
    number = itertools.count()
    first = say(client, talker, "2", number)
    assert "2/6" in first
    # Nothing kept beside the gateway id says which question came next, so nothing of the answer.
    assert fresh(session).scalars(sa.select(InboundMessage.reply)).all() == [""]
    retried = mo(client, **{"from": talker[1:], "text": "2", "id": "t-0"}).get_data(as_text=True)
    assert "already recorded" in retried and "2/6" in retried  # where the phone stands, from the conversation
    assert rows(session, Answer) == 1


def test_a_conversation_expires(sms_app, client, session, talker):
    number = itertools.count()
    say(client, talker, "1", number)
    fresh(session).execute(sa.update(SmsConversation).values(expires_at=utcnow() - timedelta(minutes=1)))
    session.commit()
    # After the session's hours the phone is no longer in a conversation: "2" is a second answer, refused.
    assert "already recorded" in say(client, talker, "2", number)
    assert rows(session, SmsConversation) == 0


def test_the_conversation_table_holds_no_phone_number(sms_app, client, session, talker):
    say(client, talker, "3", itertools.count())
    (row,) = fresh(session).execute(sa.select(SmsConversation.__table__)).all()
    assert talker not in str(tuple(row)) and talker[1:] not in str(tuple(row))


# --- replies every phone can send, to the poll they are meant for ---------------------------------------------


WORD_CODES = {"question": {"en": "Tea?", "ar": "هل تشرب الشاي؟", "ku": "چا دەخۆیتەوە؟"}, "options": [
    {"code": "yes", "label": {"en": "Yes", "ar": "نعم", "ku": "بەڵێ"}},
    {"code": "no", "label": {"en": "No", "ar": "لا", "ku": "نەخێر"}}]}


def send(client, transport: str, phone: str, text: str, gateway_id: str, sent_at: datetime | None = None) -> str:
    """One MO through the callback as Kannel's get-url (query) or post-url (body and headers) hands it over."""
    if transport == "get":
        ts = {} if sent_at is None else {"ts": str(int(sent_at.timestamp()))}
        response = mo(client, **{"from": phone[1:], "text": text, "id": gateway_id} | ts)
    else:
        headers = {"X-Kannel-From": phone[1:], "X-Kannel-Coding": "2"}
        headers |= {} if sent_at is None else {"X-Kannel-Time": sent_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")}
        response = client.post(f"/sms/kannel/mo?secret={SECRET}&id={gateway_id}", data=text.encode("utf-16-be"),
                               headers=headers, content_type="text/plain")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def invite(session, poll, phone: str, language: str = "en") -> None:
    """Give a phone already invited elsewhere a link to `poll` too (issued after its other links)."""
    session.commit()
    session.add(Recipient(audience_id=polls.audience_of(session, poll).id, phone=phone, language=language))
    session.flush()
    links.issue_links(session, poll)
    session.commit()


def answered_codes(session, slug: str) -> list[str]:
    poll = polls.get_poll(fresh(session), slug)
    return session.scalars(sa.select(Option.code).join(Answer, Answer.option_id == Option.id)
                           .where(Answer.poll_id == poll.id).order_by(Option.code)).all()


TRANSPORTS = pytest.mark.parametrize("transport", ["get", "post"])


@TRANSPORTS
def test_reply_words_in_each_language_answer_a_poll_whose_codes_are_words(sms_app, client, session, make_poll,
                                                                          make_links, transport):
    said = ["نعم", "نەخێر", "بەلێ", "Yes", "٢", "أي", "no thanks"]
    make_links(make_poll("words", **WORD_CODES), count=len(said), language="ar")
    phones = fresh(session).scalars(sa.select(Recipient.phone).order_by(Recipient.id)).all()
    for number, (phone, text) in enumerate(zip(phones, said, strict=True)):
        assert "تم تسجيل" in send(client, transport, phone, text, f"w-{number}")
    assert answered_codes(session, "words") == sorted(["yes", "no", "yes", "yes", "no", "yes", "no"])


@TRANSPORTS
def test_how_to_reply_lists_numbers_with_their_labels_in_the_messages_language(sms_app, client, session,
                                                                              make_poll, make_links, transport):
    make_links(make_poll("words", **WORD_CODES), count=1, language="ar")
    make_links(polls.get_poll(session, "words"), count=1, language="ku")
    arabic, kurdish = fresh(session).scalars(sa.select(Recipient.phone).order_by(Recipient.id)).all()
    assert send(client, transport, arabic, "ربما", "h-1") == "يُرجى الرد بأحد الأرقام: 1 نعم، 2 لا"
    assert send(client, transport, kurdish, "?", "h-2") == "تکایە بە یەکێک لەمانە وەڵام بدەرەوە: 1 بەڵێ، 2 نەخێر"
    assert rows(session, Answer) == 0


@TRANSPORTS
def test_a_conversation_is_answered_by_words_in_arabic_and_kurdish(sms_app, client, session, make_poll, make_links,
                                                                   transport):
    make_links(make_poll("talk-words"), count=2, language="ar", governorate=None, sex=None, age=None, age_band=None)
    arabic, kurdish = fresh(session).scalars(sa.select(Recipient.phone).order_by(Recipient.id)).all()
    session.execute(sa.update(Recipient).where(Recipient.phone == kurdish).values(language="ku"))
    session.commit()
    for phone, words in ((arabic, ["إنهاء المهمة عبر الحوار", "انثى", "٣٥", "البصرة"]),
                         (kurdish, ["کۆتایی هێنان بە ئەرکەکە لە ڕێگەی گفتوگۆوە", "مێ", "٣٥", "بەسرە"])):
        for number, text in enumerate(words):
            assert "/6" in send(client, transport, phone, text, f"{phone}-{number}")
    values = fresh(session).scalars(sa.select(Answer.values)).all()
    assert answered_codes(session, "talk-words") == ["2", "2"]
    assert rows(session, SmsConversation) == 2 and values == [None, None]  # still asking: employment is next
    assert [(c.values["sex"], c.values["age"], c.values["governorate"])
            for c in session.scalars(sa.select(SmsConversation))] == [("F", 35, "IQ-BA")] * 2


@TRANSPORTS
@pytest.mark.parametrize("text", ["1 2", "1,2", "نعم لا", "yes no", "بەڵێ، نەخێر"])
def test_a_reply_naming_both_answers_is_refused_whatever_the_codes(sms_app, client, session, make_poll, make_links,
                                                                   transport, text):
    make_links(make_poll("words", **WORD_CODES), count=1, language="en")
    phone = fresh(session).scalar(sa.select(Recipient.phone))
    assert send(client, transport, phone, text, "b-1") == "Please give only one answer.\nPlease reply with one of: 1 Yes, 2 No"
    assert rows(session, Answer) == 0


@TRANSPORTS
def test_a_later_question_refuses_two_answers_given_by_their_labels(sms_app, client, session, talker, transport):
    assert "2/6 Sex" in send(client, transport, talker, "2", "l-1")
    again = send(client, transport, talker, "Male Female", "l-2")
    assert again.startswith("Please give only one answer.\n2/6 Sex")
    assert "3/6 Age" in send(client, transport, talker, "female", "l-3")


@TRANSPORTS
def test_a_phone_in_two_open_polls_is_asked_which_and_never_answers_the_wrong_one(sms_app, client, session,
                                                                                  make_poll, make_links, transport):
    make_links(make_poll("tea", title={"en": "Tea poll"}, **ONE_QUESTION), count=1, language="en")
    phone = fresh(session).scalar(sa.select(Recipient.phone))
    invite(session, make_poll("coffee", title={"en": "Coffee poll"}, **WORD_CODES), phone)
    which = send(client, transport, phone, "1", "2p-1")
    assert which == ("This number has 2 polls open. Reply with the poll's letter and your answer, e.g. A 1:\n"
                     "A Tea poll\nB Coffee poll")
    assert rows(session, Answer) == 0  # a bare answer is recorded in neither
    asked = send(client, transport, phone, "A", "2p-2")
    assert asked == "Tea?\n1 Yes\n2 No\n3 Maybe\nReply A followed by the number of your answer, e.g. A 1."
    assert send(client, transport, phone, "A 1 2", "2p-3") == "Please give only one answer.\n" + asked
    assert "recorded" in send(client, transport, phone, "a 3", "2p-3b")
    assert answered_codes(session, "tea") == ["3"] and answered_codes(session, "coffee") == []
    # Only the coffee poll waits now, but a bare "3" may be the tea answer sent again: it is asked, not guessed.
    assert send(client, transport, phone, "3", "2p-4") == which
    assert "recorded" in send(client, transport, phone, "ب ١", "2p-5")  # a letter in Arabic
    assert answered_codes(session, "coffee") == ["yes"]
    assert "already recorded" in send(client, transport, phone, "2", "2p-6")  # neither waits: nothing to ask
    assert answered_codes(session, "tea") == ["3"] and answered_codes(session, "coffee") == ["yes"]


@TRANSPORTS
def test_a_second_polls_invitation_does_not_take_over_an_open_conversation(sms_app, client, session, talker,
                                                                           make_poll, transport):
    assert "2/6 Sex" in send(client, transport, talker, "2", "o-1")
    invite(session, make_poll("later", **ONE_QUESTION), talker)
    assert "3/6 Age" in send(client, transport, talker, "2", "o-2")  # Female: the talk poll's sex question
    assert answered_codes(session, "later") == []
    # Naming the later poll by its letter mid-way: it waits, and the question being asked is asked again.
    assert send(client, transport, talker, "B 1", "o-2b").startswith("Please answer this poll's questions first.\n3/6")
    assert "4/6" in send(client, transport, talker, "A 40", "o-2c")  # its own letter is fine
    conversation = fresh(session).scalar(sa.select(SmsConversation))
    assert conversation.values == {"answer": "2", "sex": "F", "age": 40}
    for number, text in enumerate(["1", "0", "0"]):
        send(client, transport, talker, text, f"o-{3 + number}")
    assert fresh(session).scalar(sa.select(Answer.values).where(Answer.poll_id == polls.get_poll(session, "talk").id))
    # The conversation over, the later poll waits: it is answered by its letter, never by a bare reply.
    assert "B " in send(client, transport, talker, "1", "o-9") and answered_codes(session, "later") == []
    assert "recorded" in send(client, transport, talker, "B 1", "o-10")
    assert answered_codes(session, "later") == ["1"]


@TRANSPORTS
def test_after_stop_nothing_more_is_asked_or_recorded(sms_app, client, session, talker, make_poll, make_links,
                                                      transport):
    assert "2/6" in send(client, transport, talker, "1", "x-1")
    assert "no more messages" in send(client, transport, talker, "STOP", "x-2")
    late = send(client, transport, talker, "2", "x-3")
    assert late == "You have opted out: we will ask this number nothing more." and "/6" not in late
    # A number that said STOP before answering: its later answer is not taken, and nothing is asked.
    make_links(make_poll("quiet"), count=1, language="en")
    quiet = fresh(session).scalar(sa.select(Recipient.phone).order_by(Recipient.id.desc()).limit(1))
    send(client, transport, quiet, "توقف", "x-4")
    assert send(client, transport, quiet, "1", "x-5") == "You have opted out: we will ask this number nothing more."
    assert answered_codes(session, "quiet") == [] and rows(session, SmsConversation) == 0
    assert fresh(session).scalar(sa.select(Answer.values)) is None  # the talk poll's headline, kept as it was
    # What an opted-out number said is kept beside it no more than an answer would be.
    kept = session.scalars(sa.select(InboundMessage.text).where(InboundMessage.phone.is_not(None))).all()
    assert sorted(kept) == ["STOP", "توقف"]


@TRANSPORTS
def test_a_resent_answer_is_not_taken_as_the_next_questions_answer(sms_app, client, session, talker, transport):
    before = utcnow() - timedelta(minutes=2)
    assert "2/6 Sex" in send(client, transport, talker, "2", "r-1", sent_at=before)
    # The phone heard nothing and sent "2" again before the question reached it: a new id, an earlier time.
    resent = send(client, transport, talker, "2", "r-2", sent_at=before + timedelta(seconds=30))
    assert resent == "Your answer is already recorded.\n" + resent.split("\n", 1)[1] and "2/6 Sex" in resent
    assert fresh(session).scalar(sa.select(SmsConversation.values)) == {"answer": "2"}
    # Sent after the question: an answer to it (a real answer to "Sex" may well be "2").
    assert "3/6 Age" in send(client, transport, talker, "2", "r-3", sent_at=utcnow() + timedelta(seconds=1))
    assert fresh(session).scalar(sa.select(SmsConversation.values)) == {"answer": "2", "sex": "F"}


def test_a_gateway_time_that_is_nonsense_is_taken_as_now(sms_app, client, session, talker):
    steps = [("2", "", "2/6"), ("2", "-5", "3/6"), ("41", "9" * 30, "4/6"), ("2", "soon", "5/6"),
             ("0", "946684799", "6/6")]  # the last a second before 2000
    for number, (text, ts, asked) in enumerate(steps):
        response = mo(client, **{"from": talker[1:], "text": text, "id": f"n-{number}", "ts": ts})
        assert response.status_code == 200 and asked in response.get_data(as_text=True)  # each one taken as new


@TRANSPORTS
def test_a_late_reply_is_told_the_poll_is_done_not_how_to_answer_it(sms_app, client, session, talker, transport):
    send(client, transport, talker, "1", "e-1")
    fresh(session).execute(sa.update(SmsConversation).values(expires_at=utcnow() - timedelta(minutes=1)))
    session.commit()
    assert send(client, transport, talker, "41", "e-2") == "Your answer is already recorded."
    polls.close_poll(session, polls.get_poll(session, "talk"))
    session.commit()
    assert send(client, transport, talker, "Baghdad", "e-3") == "This poll is closed."


def test_the_losing_copy_of_a_racing_reply_gets_the_same_next_question(sms_app, client, session, talker, monkeypatch):
    winner = mo(client, **{"from": talker[1:], "text": "2", "id": "race-1"}).get_data(as_text=True)
    assert "2/6 Sex" in winner
    # The copy that raced it did its work before the winner's row was there, then lost the insert.
    real, seen = inbound.previous, []

    def not_yet(session_, gateway_id):
        seen.append(gateway_id)
        return None if len(seen) == 1 else real(session_, gateway_id)

    monkeypatch.setattr(inbound, "previous", not_yet)
    loser = mo(client, **{"from": talker[1:], "text": "2", "id": "race-1"}).get_data(as_text=True)
    assert loser == "Your answer is already recorded.\n" + winner.split("\n", 1)[1]
    assert fresh(session).scalar(sa.select(SmsConversation.values)) == {"answer": "2"}


def racing_pairs(base: str, requests: list[list[dict[str, str]]]) -> list[list[str]]:
    """Each group of MO requests sent at the same moment (a barrier per group), through a real server."""
    barriers = [threading.Barrier(len(group)) for group in requests]

    def fetch(job: tuple[int, dict[str, str]]) -> str:
        index, params = job
        barriers[index].wait(timeout=60)
        url = f"{base}/sms/kannel/mo?" + urllib.parse.urlencode({"secret": SECRET, **params})
        with urllib.request.urlopen(url, timeout=60) as response:
            return response.read().decode()

    jobs = [(index, params) for index, group in enumerate(requests) for params in group]
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        replies_ = list(pool.map(fetch, jobs))
    sizes = itertools.accumulate(len(group) for group in requests)
    return [replies_[end - len(group):end] for end, group in zip(sizes, requests, strict=True)]


@pytest.mark.slow
def test_copies_of_a_reply_at_the_same_moment_all_get_the_next_question(database_url, session, make_poll,
                                                                        make_links):
    make_links(make_poll("burst"), count=12, language="en", governorate=None, sex=None, age=None, age_band=None)
    phones = fresh(session).scalars(sa.select(Recipient.phone).order_by(Recipient.id)).all()
    with gunicorn(database_url, workers=4, env={"POLL_SMS_SECRET": SECRET}) as base:
        # The gateway delivers one message twice at once (the same id).
        pairs = racing_pairs(base, [[{"from": phone[1:], "text": "2", "id": f"same-{phone}"}] * 2 for phone in phones])
        assert all("2/6 Sex" in reply for pair in pairs for reply in pair)
        assert fresh(session).scalar(sa.select(sa.func.count()).select_from(Answer)) == len(phones)
        # The phone sends its answer twice at once (two ids, one time), after the question: one answer taken.
        fresh(session).execute(sa.update(SmsConversation).values(asked_at=utcnow() - timedelta(seconds=10)))
        session.commit()
        ts = str(int((utcnow() - timedelta(seconds=5)).timestamp()))
        pairs = racing_pairs(base, [[{"from": phone[1:], "text": "2", "id": f"copy-{n}-{phone}", "ts": ts}
                                     for n in range(2)] for phone in phones])
        assert all("3/6 Age" in reply for pair in pairs for reply in pair)
    conversations = fresh(session).scalars(sa.select(SmsConversation)).all()
    assert [(c.asking, c.values) for c in conversations] == [("age", {"answer": "2", "sex": "F"})] * len(phones)
    poll = polls.get_poll(session, "burst")
    assert tallies.kept(session, poll) == tallies.recount(session, poll)
