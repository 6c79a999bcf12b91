"""Sending: messages that say how to answer by SMS, reminders that say what they are, and sends refused before
they can harm."""

import logging
import threading
from datetime import timedelta

import flask
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from poll import create_app
from poll.cli import cli
from poll.db import begin_write
from poll.errors import SendRefused
from poll.models import OutboxMessage
from poll.services.definition import polls
from poll.services.messaging import outbox
from tests.helpers import fresh, rows

# A poll of one question with short labels, and no SMS text of its own: the default message.
TEA = {"sms": {}, "question": {"en": "Tea?", "ar": "شاي؟", "ku": "چا؟"}, "options": [
    {"code": "1", "label": {"en": "Yes", "ar": "نعم", "ku": "بەڵێ"}},
    {"code": "2", "label": {"en": "No", "ar": "لا", "ku": "نەخێر"}},
    {"code": "3", "label": {"en": "Don't know", "ar": "لا أعرف", "ku": "نازانم"}}]}


def texts(session, kind: str = "invitation") -> list[str]:
    return fresh(session).scalars(
        sa.select(OutboxMessage.text).where(OutboxMessage.kind == kind).order_by(OutboxMessage.id)).all()


# --- how to answer by SMS ---------------------------------------------------------------------------------


def test_an_invitation_says_how_to_reply_by_sms_in_its_language(runner, session, make_poll, make_links):
    poll = make_poll("tea", **TEA)
    for language in ("en", "ar", "ku"):
        make_links(poll, count=1, language=language)
    assert "3 messages queued" in runner.invoke(args=["sms", "queue", "tea"]).output
    english, arabic, kurdish = texts(session)
    assert "\nOr reply 1 Yes, 2 No, 3 Don't know\nReply STOP to stop messages" in english
    # Arabic and Kurdish readers see Arabic-Indic digits; a reply in either digits is read (sms.replies).
    assert "\nأو أرسل ١ نعم، ٢ لا، ٣ لا أعرف\n" in arabic
    assert "\nیان بنێرە ١ بەڵێ، ٢ نەخێر، ٣ نازانم\n" in kurdish


def test_the_articles_poll_says_how_to_reply_with_labels_cut_short_but_never_alike(session, make_poll):
    poll = make_poll("article")
    english = outbox.compose(poll, "en", "https://poll.example.iq/p/x")
    assert "\nOr reply 1 End the mission by all..., 2 End the mission through..., 3 Support the continuation...\n" \
        in english
    kurdish = outbox.options_line(poll, "ku").removeprefix("یان بنێرە ").split("، ")
    assert len(set(kurdish)) == 3 and all(len(choice) < 45 for choice in kurdish)
    assert outbox.compose(poll, "en", "https://poll.example.iq/p/x").isascii()  # still GSM-7: 160 a segment


def test_a_template_places_the_options_where_it_names_them(make_poll):
    poll = make_poll("placed", **TEA | {"sms": {"en": "{question} {options}. Or open {link}"}})
    assert outbox.compose(poll, "en", "https://poll.example.iq/p/x").startswith(
        "Tea? Or reply 1 Yes, 2 No, 3 Don't know. Or open https://poll.example.iq/p/x\n")


def test_preview_shows_reminders_and_the_segments_and_cost_of_the_longest_message(runner, make_poll, make_links):
    make_links(make_poll("pre"), count=10, language="ar")
    out = runner.invoke(args=["sms", "preview", "pre"]).output
    assert "[ku, reminder] بیرخستنەوە: " in out
    assert "longest: [ku, reminder] 5 segment(s), 0.05 USD a message" in out
    assert "total: 0.40 USD" in out  # the invitations: 10 Arabic ones of 4 segments


# --- reminders --------------------------------------------------------------------------------------------


def test_a_reminder_says_it_is_a_reminder_in_its_language(app, runner, session, make_poll, make_links):
    poll = make_poll("remind", **TEA)
    for language in ("en", "ar", "ku"):
        make_links(poll, count=1, language=language)
    runner.invoke(args=["sms", "queue", "remind"])
    runner.invoke(args=["dispatch", "--once"])
    assert "3 reminders queued" in runner.invoke(args=["sms", "remind", "remind", "--after", "0"]).output
    invitations, reminders = texts(session), texts(session, "reminder")
    assert [reminder.split(": ", 1)[0] for reminder in reminders] == ["Reminder", "تذكير", "بیرخستنەوە"]
    # After the word "reminder", the invitation's own words, the same personal link among them.
    assert [reminder.split(": ", 1)[1] for reminder in reminders] == invitations


# --- refusing a harmful send ------------------------------------------------------------------------------


def test_a_draft_poll_is_not_sent(runner, session, make_poll, make_links):
    make_links(make_poll("draft", status="draft"), count=3)
    result = runner.invoke(args=["sms", "queue", "draft"])
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "Error: Poll draft is a draft: open it (or schedule it) before sending its messages."]
    assert rows(session, OutboxMessage) == 0


def test_a_poll_without_a_sender_text_sends_no_bare_colon(runner, session, make_poll, make_links):
    # An XLSForm gives a poll no sender text; the default message then begins with the question itself.
    make_links(make_poll("nosender", sender={}, **TEA), count=1, language="en")
    assert "1 messages queued" in runner.invoke(args=["sms", "queue", "nosender"]).output
    assert texts(session)[0].startswith("Tea? https://poll.example.iq/p/")


def test_a_template_naming_a_missing_sender_or_an_empty_sender_id_is_refused(app, runner, session, make_poll,
                                                                             make_links):
    make_links(make_poll("colon", sender={}, **TEA | {"sms": {"en": "{sender}: {question} {link}"}}), count=1)
    result = runner.invoke(args=["sms", "queue", "colon"])
    assert result.exit_code == 1 and "names a sender, but the poll has none" in result.output
    app.config["SMS_SENDER"] = " "
    make_links(make_poll("anonymous-sender", **TEA), count=1)
    result = runner.invoke(args=["sms", "queue", "anonymous-sender"])
    assert result.exit_code == 1 and "has no sender ID" in result.output
    assert rows(session, OutboxMessage) == 0


@pytest.mark.parametrize("base_url", ["http://127.0.0.1:5000", "https://127.0.0.1", "https://localhost:8443",
                                      "http://poll.example.iq", "https://[::1]/"])
def test_a_real_gateway_refuses_links_phones_cannot_open_safely(app, runner, session, make_poll, make_links, base_url):
    make_links(make_poll("local", **TEA), count=2)
    app.config |= {"SMS_GATEWAY": "kannel", "BASE_URL": base_url.rstrip("/")}
    for command in (["sms", "queue", "local"], ["sms", "remind", "local"], ["sms", "retry", "local"]):
        result = runner.invoke(args=command)
        assert result.exit_code == 1, command
        assert result.output.splitlines() == [
            f"Error: Links would point to {base_url.rstrip('/')}, which phones cannot open safely: set the public "
            "https address with `poll init --base-url` or POLL_BASE_URL."]
    assert rows(session, OutboxMessage) == 0


def test_local_links_go_through_a_real_gateway_only_when_allowed_and_always_through_the_simulated_one(
        app, runner, session, make_poll, make_links):
    make_links(make_poll("rehearsal", **TEA), count=2)
    app.config["BASE_URL"] = "http://127.0.0.1:5000"
    assert "2 messages queued" in runner.invoke(args=["sms", "queue", "rehearsal"]).output  # simulated
    app.config |= {"SMS_GATEWAY": "kannel", "SMS_ALLOW_LOCAL_LINKS": True}
    make_links(polls.get_poll(fresh(session), "rehearsal"), count=1)
    assert "1 messages queued" in runner.invoke(args=["sms", "queue", "rehearsal"]).output


def test_a_refusal_carries_a_reason_a_page_can_translate(session, make_poll):
    poll = make_poll("why", status="draft")
    with pytest.raises(SendRefused) as refused:
        outbox.queue_invitations(session, poll, "https://poll.example.iq", max_segments=5, sender="POLL")
    assert refused.value.reason == "Poll %(slug)s is a draft: open it (or schedule it) before sending its messages."
    assert refused.value.values == {"slug": "why"}


# --- the public address, kept with the instance -----------------------------------------------------------


def test_the_base_url_is_kept_with_the_instance_and_the_environment_wins(app, runner, tmp_path, monkeypatch):
    instance = tmp_path / "instance"
    result = runner.invoke(args=["init", "--base-url", "https://poll.example.iq/"])
    assert result.exit_code == 0, result.output
    assert "links will be built from https://poll.example.iq" in result.output
    assert (instance / "base_url").read_text() == "https://poll.example.iq\n"
    # A second terminal, with no POLL_BASE_URL: the same address.
    monkeypatch.setattr(flask.Flask, "auto_find_instance_path", lambda self: str(instance))
    monkeypatch.delenv("POLL_BASE_URL", raising=False)
    assert create_app({"SECRET_KEY": "k"}).config["BASE_URL"] == "https://poll.example.iq"
    monkeypatch.setenv("POLL_BASE_URL", "https://other.example.iq")
    assert create_app({"SECRET_KEY": "k"}).config["BASE_URL"] == "https://other.example.iq"
    monkeypatch.setattr(flask.Flask, "auto_find_instance_path", lambda self: str(tmp_path / "elsewhere"))
    monkeypatch.delenv("POLL_BASE_URL")
    assert create_app({"SECRET_KEY": "k"}).config["BASE_URL"] == "http://127.0.0.1:5000"


@pytest.mark.parametrize("url", ["poll.example.iq", "ftp://poll.example.iq", "https://", "https://x.iq/?a=1"])
def test_a_base_url_that_is_no_address_is_refused_in_one_line(runner, tmp_path, url):
    result = runner.invoke(args=["init", "--base-url", url])
    assert result.exit_code == 1
    assert result.output.splitlines() == [f"Error: --base-url {url!r} is not an address like https://poll.example.iq"]
    assert not (tmp_path / "instance" / "base_url").exists()


# --- two sends at once, and no traceback ------------------------------------------------------------------


@pytest.mark.parametrize("send", ["queue", "remind"])
def test_two_sends_of_one_poll_at_once_queue_each_message_once_without_an_error(app, runner, session, make_poll,
                                                                                make_links, send):
    poll = make_poll("twice", **TEA)
    make_links(poll, count=5)
    if send == "remind":
        runner.invoke(args=["sms", "queue", "twice"])
        runner.invoke(args=["dispatch", "--once"])
    sessions = app.extensions["poll.db"]

    def queue(session) -> int:
        begin_write(session)
        target = polls.get_poll(session, "twice")
        if send == "queue":
            return outbox.queue_invitations(session, target, "https://poll.example.iq", max_segments=5,
                                            sender="POLL")
        return outbox.queue_reminders(session, target, "https://poll.example.iq", after=timedelta(0),
                                      max_reminders=1, now=outbox.utcnow(), sender="POLL")

    outcome = {}

    def second() -> None:
        with sessions() as other:
            try:
                outcome["queued"] = queue(other)
                other.commit()
            except Exception as exc:  # what the test is about: none may escape
                outcome["error"] = exc

    with sessions() as first:
        assert queue(first) == 5
        thread = threading.Thread(target=second)
        thread.start()
        thread.join(timeout=2)
        assert thread.is_alive(), "the second send waits for the first"
        first.commit()
    thread.join(timeout=60)
    assert outcome == {"queued": 0}
    assert rows(session, OutboxMessage) == (5 if send == "queue" else 10)


def test_an_unexpected_error_prints_one_line_without_personal_data(make_poll, database_url, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("duplicate key (phone)=(+9647701234567) text https://poll.example.iq/p/SECRETTOKEN")

    make_poll("boom")
    monkeypatch.setattr(outbox, "queue_invitations", broken)
    monkeypatch.setenv("POLL_DATABASE_URL", database_url)
    monkeypatch.setenv("POLL_SECRET_KEY", "test-secret")
    monkeypatch.setenv("POLL_BASE_URL", "https://poll.example.iq")
    with caplog.at_level(logging.ERROR, logger="poll"):
        result = CliRunner().invoke(cli, ["sms", "queue", "boom"])
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "Error: the command stopped on an unexpected RuntimeError; what it had not finished was rolled back. "
        "Run it again, and report the error's name if it happens again."]
    assert "9647701234567" not in caplog.text and "SECRETTOKEN" not in caplog.text
    assert "RuntimeError" in caplog.text

