"""SMS routes through a real Kannel: one bearerbox, an SMSC per carrier, each with its fakesmsc."""

import os
import subprocess
import sys
import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from poll.models import InboundMessage, OutboxMessage, Recipient, utcnow
from poll.services.answering import tallies
from poll.services.definition import polls
from poll.services.messaging import sms_routes
from tests.helpers import fresh, require
from tests.kannel import BEARERBOX, FAKESMSC, SMSBOX, Kannel, eventually
from tests.servers import free_port, gunicorn
from tests.test_kannel import SECRET, app_env, count, poll_command

pytestmark = pytest.mark.slow
CARRIERS = {"zain": "78", "asiacell": "77", "korek": "75"}
ROUTES = "zain:78,79=150; asiacell:77=150; korek:75=100"


@pytest.fixture
def carriers(tmp_path):
    require("Kannel", all(path.exists() for path in (BEARERBOX, SMSBOX, FAKESMSC)),
            "apt-get install kannel kannel-extras (scripts/test does it as root)")
    box = Kannel(tmp_path, app_port=free_port(), secret=SECRET, smscs=tuple(CARRIERS))
    box.start()
    yield box
    box.stop()


def spread(session) -> None:
    """Give the poll's recipients the three carriers' prefixes in turn (the fixtures make Asiacell numbers)."""
    ids = session.scalars(sa.select(Recipient.id).order_by(Recipient.id)).all()
    prefixes = list(CARRIERS.values())
    for position, recipient_id in enumerate(ids):
        session.execute(sa.update(Recipient).where(Recipient.id == recipient_id)
                        .values(phone=f"+964{prefixes[position % 3]}{recipient_id:08d}"))
    session.commit()


def routed_env(window: int) -> dict[str, str]:
    return {"POLL_SMS_ROUTES": ROUTES, "POLL_SMS_WINDOW": str(window)}


def dispatch(database_url: str, kannel: Kannel, window: int) -> subprocess.Popen:
    env = os.environ | app_env(kannel) | routed_env(window) | {"POLL_DATABASE_URL": database_url,
                                                               "POLL_SECRET_KEY": "test-secret"}
    return subprocess.Popen([sys.executable, "-m", "poll.cli", "dispatch", "--once"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_each_carriers_numbers_arrive_at_that_carriers_smsc(database_url, session, make_poll, make_links, carriers):
    make_links(make_poll("carriers"), count=30, language="en")
    spread(session)
    phones = set(fresh(session).scalars(sa.select(Recipient.phone)))
    with gunicorn(database_url, workers=2, port=carriers.app_port, env=app_env(carriers)):
        poll_command(database_url, carriers, "sms", "queue", "carriers")
        worker = dispatch(database_url, carriers, window=5)
        output, _ = worker.communicate(timeout=120)
        assert worker.returncode == 0, output
        assert "30 messages handed to the kannel gateway" in output
        eventually(lambda: fresh(session).scalar(sa.select(sa.func.count()).where(
            OutboxMessage.state == "delivered")) == 30, what="every delivery report")
    for carrier, prefix in CARRIERS.items():
        got = eventually(lambda c=carrier: len(carriers.received(c)) == 10 and carriers.received(c),
                         what=f"10 SMS at {carrier}'s SMSC")
        assert {text.split(" ", 1)[0] for text in got} == {p for p in phones if p.startswith(f"+964{prefix}")}
    routed = dict(fresh(session).execute(
        sa.select(OutboxMessage.route, sa.func.count()).group_by(OutboxMessage.route)).all())
    assert routed == {"zain": 10, "asiacell": 10, "korek": 10}
    poll = polls.get_poll(session, "carriers")
    assert tallies.kept(session, poll) == tallies.recount(session, poll)


def test_a_reply_overtakes_a_thousand_invitations_and_no_window_overflows(
    database_url, session, make_poll, make_links, carriers
):
    window = 20
    poll = make_poll("bulk")
    make_links(poll, count=1000, language="en")
    spread(session)
    zain = fresh(session).scalars(sa.select(Recipient.phone).where(Recipient.phone.like("+96478%"))
                                  .order_by(Recipient.id.desc())).first()  # its invitation is among the last
    most: dict[str, int] = {}
    done = threading.Event()

    def watch() -> None:  # the in-flight count of each route, read from the database while dispatching
        while not done.is_set():
            with session.get_bind().connect() as connection, sa.orm.Session(connection) as look:
                for name in CARRIERS:
                    counted = sms_routes.in_flight(look, name, now=utcnow(), timeout=timedelta(minutes=2))
                    most[name] = max(most.get(name, 0), counted)

    with gunicorn(database_url, workers=2, port=carriers.app_port, env=app_env(carriers)):
        poll_command(database_url, carriers, "sms", "queue", "bulk")
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        worker = dispatch(database_url, carriers, window=window)
        try:
            eventually(lambda: len(carriers.received("zain")) >= 20, what="the first invitations at Zain")
            before = len(carriers.received("zain"))
            carriers.inject(zain[1:], "1", smsc="zain")  # a phone answers by SMS while the invitations go out
            eventually(lambda: count(session, sa.select(sa.func.count()).select_from(InboundMessage)) == 1,
                       what="the reply handled")
            output, _ = worker.communicate(timeout=300)
        finally:
            done.set()
            if worker.poll() is None:
                worker.kill()
                worker.wait()
        watcher.join(timeout=10)
        assert worker.returncode == 0, output
    texts = eventually(lambda: len(carriers.received("zain")) == 334 + 1 and carriers.received("zain"),
                       what="every invitation and the reply at Zain")
    reply = next(place for place, text in enumerate(texts) if text.startswith(zain[1:]) and "/p/" not in text)
    # Behind the reply: only what was already at Zain's SMSC or in its window when the phone answered.
    assert reply <= before + window + 30
    assert len(texts) - reply > 150  # the invitations still in the outbox went after it
    assert most and max(most.values()) <= window
    assert set(most) == set(CARRIERS)
