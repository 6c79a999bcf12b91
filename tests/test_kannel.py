"""SMS through a real Kannel on loopback: invitations out, delivery reports and replies back."""

import os
import subprocess
import sys

import pytest
import sqlalchemy as sa

from poll.models import Answer, InboundMessage, Link, OptOut, OutboxMessage, Recipient, SmsConversation
from poll.services.answering import tallies
from poll.services.definition import polls
from poll.sms.gateways import KannelGateway
from tests import logs
from tests.helpers import fresh, require
from tests.kannel import BEARERBOX, FAKESMSC, PASSWORD, SMSBOX, USERNAME, DownApp, Kannel, eventually
from tests.servers import free_port, gunicorn

pytestmark = pytest.mark.slow
SECRET = "kannel-callback-secret"


@pytest.fixture
def kannel(request, tmp_path):
    """Kannel handing incoming SMS to the app by post-url, or as a test parametrizes it ("get-url")."""
    require("Kannel", all(path.exists() for path in (BEARERBOX, SMSBOX, FAKESMSC)),
            "apt-get install kannel kannel-extras (scripts/test does it as root)")
    box = Kannel(tmp_path, app_port=free_port(), secret=SECRET, mo_by=getattr(request, "param", "post-url"))
    box.start()
    yield box
    box.stop()


def app_env(kannel: Kannel) -> dict[str, str]:
    return {
        "POLL_SMS_GATEWAY": "kannel",
        "POLL_KANNEL_SENDSMS_URL": kannel.sendsms_url,
        "POLL_KANNEL_USERNAME": USERNAME,
        "POLL_KANNEL_PASSWORD": PASSWORD,
        "POLL_SMS_SECRET": SECRET,
        "POLL_BASE_URL": f"http://127.0.0.1:{kannel.app_port}",
        # A rehearsal against fakesmsc: links to this machine are what the test wants.
        "POLL_SMS_ALLOW_LOCAL_LINKS": "true",
    }


def poll_command(database_url: str, kannel: Kannel, *args: str) -> str:
    env = os.environ | app_env(kannel) | {"POLL_DATABASE_URL": database_url, "POLL_SECRET_KEY": "test-secret"}
    result = subprocess.run([sys.executable, "-m", "poll.cli", *args], env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def count(session, statement) -> int:
    return fresh(session).scalar(statement)


@pytest.mark.parametrize("kannel", ["get-url"], indirect=True)  # the get-url contract keeps working
def test_invitations_replies_and_delivery_reports_through_kannel(
    database_url, session, make_poll, make_links, kannel
):
    headline = polls.builtin_definition()["questions"][0]
    poll = make_poll("sms", sms_sender="OpinionIQ", question=headline["label"], options=headline["choices"])
    tokens = make_links(poll, count=4, language="ar")
    phones = fresh(session).scalars(sa.select(Recipient.phone).order_by(Recipient.id)).all()
    # This smsbox has no global-sender: each message must carry its own sender ID, or Kannel refuses it.
    with gunicorn(database_url, workers=2, port=kannel.app_port, env=app_env(kannel)):
        # Not a rehearsal: links to this machine would reach real phones, and the send is refused whole.
        env = os.environ | app_env(kannel) | {"POLL_DATABASE_URL": database_url, "POLL_SECRET_KEY": "test-secret",
                                              "POLL_SMS_ALLOW_LOCAL_LINKS": "false"}
        refused = subprocess.run([sys.executable, "-m", "poll.cli", "sms", "queue", "sms"], env=env,
                                 capture_output=True, text=True, timeout=120)
        assert refused.returncode == 1
        assert refused.stderr.splitlines() == [
            f"Error: Links would point to http://127.0.0.1:{kannel.app_port}, which phones cannot open safely: set "
            "the public https address with `poll init --base-url` or POLL_BASE_URL."]
        assert count(session, sa.select(sa.func.count()).select_from(OutboxMessage)) == 0
        assert "4 messages queued" in poll_command(database_url, kannel, "sms", "queue", "sms")
        out = poll_command(database_url, kannel, "dispatch", "--once")
        assert "4 messages handed to the kannel gateway" in out

        received = eventually(lambda: len(kannel.received()) == 4 and kannel.received(), what="4 SMS at fakesmsc")
        for phone, token in zip(phones, tokens, strict=True):
            text = next(t for t in received if t.startswith(phone))
            assert f"/p/{token}" in text
            assert "هل أنت مع استمرار مهمة التحالف الدولي في العراق؟" in text
            assert "\nأو أرسل ١ إنهاء المهمة بكل الوسائل، ٢ إنهاء المهمة عبر الحوار، ٣ أؤيد استمرار المهمة\n" in text
            assert text.endswith("لإيقاف الرسائل أرسل STOP")  # how to answer and to stop, in its language
        assert {sender for sender, _receiver, _text in kannel.messages()} == {"OpinionIQ"}

        delivered = sa.select(sa.func.count()).where(Link.delivered_at.is_not(None))
        eventually(lambda: count(session, delivered) == 4, what="delivery reports")

        # One reply at a time: fakesmsc reads its input a line per read.
        handled = sa.select(sa.func.count()).select_from(InboundMessage)
        for number, (phone, text) in enumerate(
            [(phones[0], "2"), (phones[1], "٣"), (phones[2], "توقف"), (phones[0], "1")], start=1
        ):
            kannel.inject(phone[1:], text)  # Kannel hands on the sender without "+"
            eventually(lambda n=number: count(session, handled) == n, what=f"reply {number} handled")

    codes = sorted(fresh(session).scalars(
        sa.text("SELECT o.code FROM answers a JOIN options o ON o.id = a.option_id WHERE a.channel = 'sms'")).all())
    assert codes == ["2", "3"]
    assert session.get(OptOut, phones[2]) is not None
    poll = polls.get_poll(session, "sms")
    assert tallies.kept(session, poll) == tallies.recount(session, poll)
    # The replies went back to the phones as SMS, in Arabic.
    replies = [t for t in kannel.received() if "تم تسجيل إجابتك" in t or "مسجلة مسبقاً" in t]
    assert len(replies) == 3
    # Kannel's own logs, as this project configures it, hold neither a personal link nor the secret.
    logs = kannel.gateway_logs()
    assert SECRET not in logs and not any(token in logs for token in tokens)


def test_an_sms_conversation_through_kannel_to_the_end_and_one_stopped_in_the_middle(
    database_url, session, make_poll, make_links, kannel
):
    poll = make_poll("talk")
    make_links(poll, count=2, language="ar", governorate=None, sex=None, age=None, age_band=None)
    whole, stopped = fresh(session).scalars(sa.select(Recipient.phone).order_by(Recipient.id)).all()
    handled = sa.select(sa.func.count()).select_from(InboundMessage)
    steps = [(whole, "3", "2/6"), (whole, "٢", "3/6"), (whole, "٣٣", "4/6"), (whole, "1", "5/6"),
             (whole, "0", "6/6"), (whole, "5", "تم تسجيل إجاباتك"),
             (stopped, "1", "2/6"), (stopped, "توقف", "لن تصلك")]
    with gunicorn(database_url, workers=2, port=kannel.app_port, env=app_env(kannel)):
        converse(kannel, session, handled, steps)
    # A question with its numbered choices and how to answer is longer than one SMS, and arrives whole.
    assert any(message.endswith("أرسل رقم إجابتك. أرسل 0 لتخطي هذا السؤال.") and "\n7 " in message
               for _sender, _receiver, message in kannel.messages())
    responses = {values is not None: (values, g) for values, g in fresh(session).execute(
        sa.select(Answer.values, Answer.governorate))}
    assert responses[True] == ({"sex": "F", "age": 33, "governorate": "IQ-BG", "education": "5"}, "IQ-BG")
    assert responses[False] == (None, None)  # stopped after the headline: counted, and nothing more
    assert tallies.kept(session, poll) == tallies.recount(session, poll)


def test_a_reply_sent_while_the_app_is_down_is_recorded_once(database_url, session, make_poll, make_links, kannel):
    poll = make_poll("down")
    make_links(poll, count=1)
    phone = fresh(session).scalar(sa.select(Recipient.phone))
    # The app is down: smsbox cannot hand the reply over, and tries again and again.
    down = DownApp(kannel.app_port)
    kannel.inject(phone[1:], "1")
    eventually(lambda: down.attempts >= 3, what="smsbox to fail three callbacks")
    down.close()
    with gunicorn(database_url, workers=2, port=kannel.app_port, env=app_env(kannel)):
        answers = sa.select(sa.func.count()).select_from(Answer)
        eventually(lambda: count(session, answers) == 1, what="the retried reply")
        eventually(lambda: "تم تسجيل إجابتك" in " ".join(kannel.received()), what="the thank-you SMS")
    assert count(session, sa.select(sa.func.count()).select_from(Answer)) == 1
    assert count(session, sa.select(sa.func.count()).select_from(InboundMessage)) == 1
    # Kannel's own logs of the outage hold neither the number nor the secret its callbacks carry.
    gateway_logs = kannel.gateway_logs()
    assert phone[1:] not in gateway_logs and SECRET not in gateway_logs


# The dispatcher under faults, through the real gateway.

def dispatch_process(database_url: str, kannel: Kannel, **settings: str) -> subprocess.Popen:
    env = os.environ | app_env(kannel) | {"POLL_DATABASE_URL": database_url, "POLL_SECRET_KEY": "test-secret"}
    env |= {f"POLL_{name.upper()}": value for name, value in settings.items()}
    with logs.path("dispatch").open("ab") as output:  # searched by the suite's log check
        return subprocess.Popen([sys.executable, "-m", "poll.cli", "dispatch"], env=env, stdout=output,
                                stderr=subprocess.STDOUT)


def states(session) -> dict[str, int]:
    return dict(fresh(session).execute(sa.select(OutboxMessage.state, sa.func.count()).group_by(OutboxMessage.state)).all())


def test_killed_dispatchers_lose_nothing_and_their_claims_come_back_in_seconds(
    database_url, session, make_poll, make_links, kannel
):
    poll = make_poll("killed")
    make_links(poll, count=120, language="ar")
    phones = set(fresh(session).scalars(sa.select(Recipient.phone)))
    settings = {"sms_lease_seconds": "2", "sms_rate": "60", "sms_batch": "20"}
    kills = 0
    with gunicorn(database_url, workers=2, port=kannel.app_port, env=app_env(kannel)):
        poll_command(database_url, kannel, "sms", "queue", "killed")
        workers = [dispatch_process(database_url, kannel, **settings) for _ in range(2)]
        try:
            handed = sa.select(sa.func.count()).where(OutboxMessage.sent_at.is_not(None))
            while count(session, handed) < 100:
                before = count(session, handed)
                eventually(lambda b=before: count(session, handed) >= b + 15, what="15 more sends")
                victim = workers.pop(0)
                victim.kill()  # SIGKILL: no chance to release its claim
                victim.wait()
                kills += 1
                workers.append(dispatch_process(database_url, kannel, **settings))
            eventually(lambda: states(session) == {"delivered": 120}, timeout=90, what="every message delivered")
        finally:
            for worker in workers:
                worker.kill()
                worker.wait()
    def receivers() -> list[str]:
        return [text.split(" ", 1)[0] for text in kannel.received()]

    # fakesmsc logs what it got a moment after acknowledging it: wait for every number to show up.
    received = eventually(lambda: set(receivers()) == phones and receivers(), what="every number at fakesmsc")
    assert set(received) == phones  # nothing lost
    assert len(received) - len(phones) <= kills  # a kill between acceptance and record may send one twice
    assert kills >= 4
    poll = polls.get_poll(session, "killed")
    assert tallies.kept(session, poll) == tallies.recount(session, poll)


def test_a_gateway_outage_spends_no_attempt_and_everything_goes_once_it_is_back(
    database_url, session, make_poll, make_links, kannel
):
    poll = make_poll("outage")
    make_links(poll, count=60, language="ar")
    with gunicorn(database_url, workers=2, port=kannel.app_port, env=app_env(kannel)):
        poll_command(database_url, kannel, "sms", "queue", "outage")
        worker = dispatch_process(database_url, kannel, sms_rate="10", sms_batch="10", sms_max_pause_seconds="1")
        try:
            sent = sa.select(sa.func.count()).where(OutboxMessage.sent_at.is_not(None))
            eventually(lambda: count(session, sent) >= 10, what="the first sends")
            kannel.stop_smsbox()
            # The dispatcher meets the outage, puts its claim back and pauses: nothing fails meanwhile.
            waiting = sa.select(sa.func.count()).where(OutboxMessage.state == "queued", OutboxMessage.attempts == 0)
            eventually(lambda: count(session, waiting) >= 60 - count(session, sent) > 0, what="claims released")
            assert states(session).get("failed", 0) == 0
            kannel.start_smsbox()
            eventually(lambda: states(session) == {"delivered": 60}, timeout=90, what="every message delivered")
        finally:
            worker.kill()
            worker.wait()
    assert set(fresh(session).scalars(sa.select(OutboxMessage.attempts))) == {1}  # the outage cost no attempt
    poll = polls.get_poll(session, "outage")
    assert tallies.kept(session, poll) == tallies.recount(session, poll)


class WaitsForTheReport(KannelGateway):
    """smsbox, but the dispatcher hears its answer only once the delivery report is in: reports come first."""

    def __init__(self, url: str, session_factory):
        super().__init__(url, USERNAME, PASSWORD)
        self.session_factory = session_factory

    def send(self, message):
        result = super().send(message)

        def delivered() -> bool:
            with self.session_factory() as session:
                return session.get(OutboxMessage, message.message_id).state == "delivered"

        eventually(delivered, what=f"the report of message {message.message_id}")
        return result


def test_delivery_reports_that_overtake_the_send_never_move_a_message_back(
    app, database_url, session, make_poll, make_links, kannel
):
    from datetime import timedelta

    from poll.runners.dispatcher import Dispatcher, Settings

    poll = make_poll("overtaken")
    make_links(poll, count=12, language="ar")
    secret = SECRET
    with gunicorn(database_url, workers=2, port=kannel.app_port, env=app_env(kannel)) as base:
        poll_command(database_url, kannel, "sms", "queue", "overtaken")
        factory = app.extensions["poll.db"]
        settings = Settings(rate=50, batch=12, lease=timedelta(seconds=30), horizon=timedelta(hours=1),
                            dlr_url=lambda i: f"{base}/sms/kannel/dlr?secret={secret}&message={i}&status=%d")
        report = Dispatcher(factory, WaitsForTheReport(kannel.sendsms_url, factory), settings).run(once=True)
    assert report.handed == 12
    assert states(session) == {"delivered": 12}
    assert fresh(session).scalar(sa.select(sa.func.count()).where(Link.sent_at.is_not(None))) == 12
    assert session.scalar(sa.select(sa.func.count()).where(OutboxMessage.sent_at.is_(None))) == 0
    poll = polls.get_poll(session, "overtaken")
    counters = tallies.counters(session, poll)
    assert counters["sent"] == counters["delivered"] == 12
    assert tallies.kept(session, poll) == tallies.recount(session, poll)


def test_a_feature_phone_conversation_answered_by_words_in_arabic_and_kurdish(
    database_url, session, make_poll, make_links, kannel
):
    poll = make_poll("words")
    make_links(poll, count=2, language="ar", governorate=None, sex=None, age=None, age_band=None)
    arabic, kurdish = fresh(session).scalars(sa.select(Recipient.phone).order_by(Recipient.id)).all()
    session.execute(sa.update(Recipient).where(Recipient.phone == kurdish).values(language="ku"))
    session.commit()
    handled = sa.select(sa.func.count()).select_from(InboundMessage)
    # What a phone without a browser types: the labels it was shown, in its own language and keypad's letters.
    steps = [(arabic, "نعم", "يُرجى الرد بأحد الأرقام: 1 إنهاء المهمة بكل الوسائل، 2"),
             (arabic, "انهاء المهمة عبر الحوار", "2/6"), (arabic, "انثى", "3/6"), (arabic, "٤١", "4/6"),
             (arabic, "نينوى", "5/6"), (arabic, "0", "6/6"), (arabic, "0", "تم تسجيل إجاباتك"),
             (kurdish, "پشتگیری لە بەردەوامبوونی ئەرکەکە دەکەم", "2/6"), (kurdish, "نێر", "3/6"),
             (kurdish, "٣٠", "4/6"), (kurdish, "هەولێر", "5/6"), (kurdish, "0", "6/6"), (kurdish, "0", "تۆمار کران")]
    with gunicorn(database_url, workers=2, port=kannel.app_port, env=app_env(kannel)):
        converse(kannel, session, handled, steps)
    responses = sorted(fresh(session).execute(sa.select(Answer.values, Answer.governorate, Answer.sex)).all(),
                       key=lambda row: row[1])
    assert [tuple(row) for row in responses] == [({"sex": "M", "age": 30, "governorate": "IQ-AR"}, "IQ-AR", "M"),
                                                 ({"sex": "F", "age": 41, "governorate": "IQ-NI"}, "IQ-NI", "F")]
    assert sorted(fresh(session).scalars(
        sa.text("SELECT o.code FROM answers a JOIN options o ON o.id = a.option_id")).all()) == ["2", "3"]
    assert tallies.kept(session, poll) == tallies.recount(session, poll)


def test_an_answer_resent_while_the_app_is_down_answers_nothing_more(
    database_url, session, make_poll, make_links, kannel
):
    poll = make_poll("resent")
    make_links(poll, count=1, language="ar", governorate=None, sex=None, age=None, age_band=None)
    phone = fresh(session).scalar(sa.select(Recipient.phone))
    # The app is down: the phone hears nothing, and sends its answer again a little later. (smsbox logs no
    # failed fetch at the log level that keeps secrets out of its log: the app's port counts the attempts.)
    down = DownApp(kannel.app_port)
    try:
        kannel.inject(phone[1:], "2")
        eventually(lambda: down.attempts >= 1, what="smsbox to fail a fetch")
        kannel.inject(phone[1:], "2")
    finally:
        down.close()
    handled = sa.select(sa.func.count()).select_from(InboundMessage)
    with gunicorn(database_url, workers=2, port=kannel.app_port, env=app_env(kannel)):
        eventually(lambda: count(session, handled) >= 1, what="the first reply")
        # smsbox retries each kept reply on its own queue delay: a loaded machine may take a few rounds.
        eventually(lambda: sum("2/6" in message for _s, _r, message in kannel.messages()) == 2, timeout=180,
                   what="the question after the headline, sent for both copies")
    # Both copies were sent before the question: neither answers it.
    assert fresh(session).scalar(sa.select(SmsConversation.values)) == {"answer": "2"}
    assert count(session, sa.select(sa.func.count()).select_from(Answer)) == 1
    assert sum("مسجلة مسبقاً" in message for _s, _r, message in kannel.messages()) == 1


def converse(kannel, session, handled, steps) -> None:
    """Send each (phone, text) through fakesmsc in turn, and wait for its reply SMS to say `expected`."""
    for number, (phone, text, expected) in enumerate(steps, start=1):
        before = len(kannel.messages())  # so each step waits for an SMS of its own
        kannel.inject(phone[1:], text)
        eventually(lambda n=number: count(session, handled) == n, what=f"reply {number} handled")
        eventually(lambda phone=phone, expected=expected, before=before: any(
            receiver == phone[1:] and expected in message
            for _sender, receiver, message in kannel.messages()[before:]), what=f"the SMS saying {expected!r}")
