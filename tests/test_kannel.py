"""SMS through a real Kannel on loopback: invitations out, delivery reports and replies back."""

import os
import subprocess
import sys

import pytest
import sqlalchemy as sa

from poll.models import Answer, InboundMessage, Link, OptOut, Recipient
from poll.services import polls, tallies
from tests.conftest import require
from tests.kannel import BEARERBOX, FAKESMSC, PASSWORD, SMSBOX, USERNAME, Kannel, eventually
from tests.servers import free_port, gunicorn

pytestmark = pytest.mark.slow
SECRET = "kannel-callback-secret"


@pytest.fixture
def kannel(tmp_path):
    require("Kannel", all(path.exists() for path in (BEARERBOX, SMSBOX, FAKESMSC)),
            "apt-get install kannel kannel-extras (scripts/test does it as root)")
    box = Kannel(tmp_path, app_port=free_port(), secret=SECRET)
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
    }


def poll_command(database_url: str, kannel: Kannel, *args: str) -> str:
    env = os.environ | app_env(kannel) | {"POLL_DATABASE_URL": database_url, "POLL_SECRET_KEY": "test-secret"}
    result = subprocess.run([sys.executable, "-m", "poll.cli", *args], env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def count(session, statement) -> int:
    session.rollback()
    return session.scalar(statement)


def test_invitations_replies_and_delivery_reports_through_kannel(
    database_url, session, make_poll, make_links, kannel
):
    poll = make_poll("sms")
    tokens = make_links(poll, count=4, language="ar")
    session.rollback()
    phones = session.scalars(sa.select(Recipient.phone).order_by(Recipient.id)).all()
    with gunicorn(database_url, workers=2, port=kannel.app_port, env=app_env(kannel)):
        assert "4 messages queued" in poll_command(database_url, kannel, "sms", "queue", "sms")
        out = poll_command(database_url, kannel, "dispatch", "--once")
        assert "4 messages handed to the kannel gateway" in out

        received = eventually(lambda: len(kannel.received()) == 4 and kannel.received(), what="4 SMS at fakesmsc")
        for phone, token in zip(phones, tokens, strict=True):
            text = next(t for t in received if t.startswith(phone))
            assert f"/p/{token}" in text
            assert "هل أنت مع استمرار مهمة التحالف الدولي في العراق؟" in text

        delivered = sa.select(sa.func.count()).where(Link.delivered_at.is_not(None))
        eventually(lambda: count(session, delivered) == 4, what="delivery reports")

        # One reply at a time: fakesmsc reads its input a line per read.
        handled = sa.select(sa.func.count()).select_from(InboundMessage)
        for number, (phone, text) in enumerate(
            [(phones[0], "2"), (phones[1], "٣"), (phones[2], "توقف"), (phones[0], "1")], start=1
        ):
            kannel.inject(phone[1:], text)  # Kannel hands on the sender without "+"
            eventually(lambda n=number: count(session, handled) == n, what=f"reply {number} handled")

    session.rollback()
    codes = sorted(session.scalars(
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


def test_a_reply_sent_while_the_app_is_down_is_recorded_once(database_url, session, make_poll, make_links, kannel):
    poll = make_poll("down")
    make_links(poll, count=1)
    session.rollback()
    phone = session.scalar(sa.select(Recipient.phone))
    # The app is not running: smsbox cannot fetch the get-url and keeps retrying.
    kannel.inject(phone[1:], "1")
    eventually(lambda: "Couldn't fetch" in (kannel.folder / "smsbox.log").read_text(errors="replace"),
               what="smsbox to fail a fetch")
    with gunicorn(database_url, workers=2, port=kannel.app_port, env=app_env(kannel)):
        answers = sa.select(sa.func.count()).select_from(Answer)
        eventually(lambda: count(session, answers) == 1, what="the retried reply")
        eventually(lambda: "تم تسجيل إجابتك" in " ".join(kannel.received()), what="the thank-you SMS")
    assert count(session, sa.select(sa.func.count()).select_from(Answer)) == 1
    assert count(session, sa.select(sa.func.count()).select_from(InboundMessage)) == 1
