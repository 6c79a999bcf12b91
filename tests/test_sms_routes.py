"""SMS routes: numbers to carriers' SMSCs by prefix, each route's shared speed cap, and its in-flight window."""

import threading
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from poll.db import begin_write
from poll.models import OutboxMessage, Recipient, SmsRoute, utcnow
from poll.runners.dispatcher import WINDOW_LOOK, Dispatcher, Settings
from poll.services.answering import tallies
from poll.services.definition import polls
from poll.services.messaging import outbox, sms_routes
from poll.sms import encoding, routes
from poll.sms.gateways import Answer, KannelGateway, Sent
from poll.vocabulary import MessageState
from tests.helpers import fresh
from tests.servers import ScriptedSendsms

IRAQ = "zain:78,79=240; asiacell:77=240; korek:75=120"


def test_routes_are_read_from_one_line_and_numbers_take_the_longest_prefix():
    parsed = routes.parse(IRAQ + "; zain-780:0780=50; other:*=10")
    assert [(r.name, r.prefixes, r.cap) for r in parsed] == [
        ("zain", ("78", "79"), 240.0), ("asiacell", ("77",), 240.0), ("korek", ("75",), 120.0),
        ("zain-780", ("780",), 50.0), ("other", ("*",), 10.0)]
    named = {phone: routes.route_for(parsed, phone).name for phone in
             ("+9647812345678", "+9647801234567", "+9647712345678", "+9647512345678", "+9647412345678")}
    assert named == {"+9647812345678": "zain", "+9647801234567": "zain-780", "+9647712345678": "asiacell",
                     "+9647512345678": "korek", "+9647412345678": "other"}
    assert routes.route_for(routes.parse(IRAQ), "+9647412345678") is None  # no "*" route: no route at all
    assert routes.parse("") == routes.parse(" ; ") == ()


@pytest.mark.parametrize(("text", "said"), [
    ("zain=240", "is not NAME:PREFIXES=CAP"),
    ("zain:78=fast", "is not a positive number"),
    ("zain:78=0", "is not a positive number"),
    ("zain:78=240;zain:79=240", "given twice"),
    ("zain:78=240;other:78=10", "both take the prefix '78'"),
    ("zain:7x=240", r"is not digits after \+964"),
    ("Zain SMSC:78=240", "use letters, digits"),
])
def test_a_wrong_route_is_refused_saying_which_part(text, said):
    with pytest.raises(ValueError, match=said):
        routes.parse(text)


def test_the_dispatcher_refuses_wrong_routes_in_one_line(app, runner):
    app.config["SMS_ROUTES"] = "zain:78=fast"
    result = runner.invoke(args=["dispatch", "--once"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: POLL_SMS_ROUTES or POLL_SMS_WINDOW: SMS route 'zain': the cap 'fast' is not a positive number of "
        "segments a second"]


def test_a_routes_budget_holds_its_cap_however_many_dispatchers_draw_on_it(app):
    """Four takers race for one route's bucket over simulated half a minute: the route carries its cap, within 5%."""
    route = routes.parse("zain:78=120")[0]
    factory = app.extensions["poll.db"]
    with factory() as session:
        sms_routes.ensure(session, (route,), now=1000.0)
        session.commit()
    taken, now, step = 0, 1000.0, 0.05
    with factory() as session:
        while now < 1030.0:
            for _taker in range(4):  # each would send a 2-segment message now if the bucket let it
                taken += 2 * sms_routes.take_many(session, route, [2], now=now)[0]
            now += step
    assert 0.95 * 120 * 30 <= taken <= 120 * 30 + sms_routes.burst(route)


def test_a_taker_is_told_how_long_to_wait_and_a_reply_charged_makes_it_wait_longer(app):
    route = routes.parse("korek:75=100")[0]
    with app.extensions["poll.db"]() as session:
        sms_routes.ensure(session, (route,), now=0.0)
        assert sms_routes.take_many(session, route, [4], now=0.0) == (0, pytest.approx(0.04))
        # 5 segments in: the run it pays for (4 + 1) goes, the third waits.
        assert sms_routes.take_many(session, route, [4, 1, 1], now=0.05) == (2, 0.0)
        sms_routes.charge(session, route, 10, now=0.05)  # a reply Kannel sent by itself
        assert session.get(SmsRoute, "korek").tokens == pytest.approx(-10)
        assert sms_routes.take_many(session, route, [1], now=0.05) == (0, pytest.approx(0.11))
        # A clock behind the last refill (another machine's) adds nothing and takes nothing away.
        assert sms_routes.take_many(session, route, [1], now=0.0) == (0, pytest.approx(0.11))


def spread(session, prefixes: list[str]) -> None:
    """Give the outbox's numbers the carriers' prefixes in turn (the fixtures make Asiacell numbers)."""
    ids = session.scalars(sa.select(OutboxMessage.id).order_by(OutboxMessage.id)).all()
    for position, message_id in enumerate(ids):
        prefix = prefixes[position % len(prefixes)]
        session.execute(sa.update(OutboxMessage).where(OutboxMessage.id == message_id)
                        .values(phone=f"+964{prefix}{message_id:08d}"))
    session.commit()


@pytest.fixture
def mixed(runner, session, make_poll, make_links):
    make_links(make_poll("routes"), count=30, language="en")
    assert "30 messages queued" in runner.invoke(args=["sms", "queue", "routes"]).output
    session.rollback()
    spread(session, ["78", "77", "75", "79", "74"])
    return session


class Smsc:
    """A gateway that remembers each message's route and, when asked, acknowledges them as an SMSC would."""

    name = "recording"

    def __init__(self, app):
        self.factory = app.extensions["poll.db"]
        self.sent: list[tuple[str | None, str]] = []
        self.unacked: dict[int, list[int]] = {}  # by the sending thread: each route's thread has its own
        self.most_in_flight: dict[str, int] = {}

    def send(self, message):
        self.sent.append((message.smsc, message.phone))
        self.unacked.setdefault(threading.get_ident(), []).append(message.message_id)
        with self.factory() as session:  # read from the database while dispatching, as an operator would
            counted = sms_routes.in_flight(session, message.smsc, now=utcnow(), timeout=timedelta(minutes=2))
        self.most_in_flight[message.smsc] = max(self.most_in_flight.get(message.smsc, 0), counted)
        return Sent(Answer.ACCEPTED, gateway_id=message.idempotency_key)

    def acknowledge(self, seconds: float = WINDOW_LOOK) -> None:
        """Delivery report 8 for everything the waiting thread sent so far, when it waits for its full window
        (that wait stands for the time they take): each route's SMSC answers its own thread, and only then, so
        that each window fills whatever the other routes do.

        As the app takes them: in a write transaction, while the routes' threads send and record in theirs.
        """
        if seconds != WINDOW_LOOK:
            return  # a wait for the route's budget: the wall clock refills it
        acknowledged = self.unacked.pop(threading.get_ident(), [])
        with self.factory() as session:
            begin_write(session)
            for message_id in acknowledged:
                outbox.delivery_report(session, message_id, 8, now=utcnow())
            session.commit()


def routed(app, gateway, **settings) -> Dispatcher:
    values = {"rate": 1.0, "batch": 50, "lease": timedelta(seconds=30), "horizon": timedelta(hours=24),
              "dlr_url": lambda message_id: "http://127.0.0.1:9/dlr", "routes": routes.parse(IRAQ),
              "window": 4} | settings
    return Dispatcher(app.extensions["poll.db"], gateway, Settings(**values), sleep=gateway.acknowledge)


def test_each_number_goes_by_its_carriers_route_and_no_route_fails_it_clearly(app, mixed):
    gateway = Smsc(app)
    report = routed(app, gateway).run(once=True)
    assert report.handed == 24
    by_route = {(smsc, phone[4:6]) for smsc, phone in gateway.sent}
    assert by_route == {("zain", "78"), ("zain", "79"), ("asiacell", "77"), ("korek", "75")}
    failed = fresh(mixed).scalars(sa.select(OutboxMessage).where(OutboxMessage.state == MessageState.FAILED)).all()
    assert {m.phone[4:6] for m in failed} == {"74"} and len(failed) == 6
    assert {m.last_error for m in failed} == {"no SMS route takes this number's prefix (POLL_SMS_ROUTES)"}
    poll = polls.get_poll(mixed, "routes")
    assert tallies.kept(mixed, poll) == tallies.recount(mixed, poll)


def test_no_route_holds_more_than_its_window_of_unacknowledged_messages(app, mixed):
    gateway = Smsc(app)
    routed(app, gateway, routes=routes.parse(IRAQ + "; other:*=50"), window=4).run(once=True)
    assert len(gateway.sent) == 30
    assert gateway.most_in_flight == {"zain": 4, "asiacell": 4, "korek": 4, "other": 4}


def test_a_claim_takes_only_what_the_window_has_room_for_and_acknowledgements_open_it(app, mixed):
    route = routes.parse(IRAQ)[0]

    def claim(now):
        with app.extensions["poll.db"]() as session:
            begin_write(session)
            sms_routes.ensure(session, routes.parse(IRAQ), now=0.0)
            room = sms_routes.room(session, route, window=5, now=now, timeout=timedelta(minutes=2))
            claimed = outbox.claim(session, batch=room, now=now, lease=timedelta(seconds=30),
                                   horizon=timedelta(hours=24), sms_routes=routes.parse(IRAQ), route=route)
            ids = [message.id for message in claimed]
            session.commit()
        return ids

    first = claim(utcnow())
    assert len(first) == 5 and claim(utcnow()) == []
    with app.extensions["poll.db"]() as session:
        outbox.delivery_report(session, first[0], 8, now=utcnow())
        outbox.delivery_report(session, first[1], 1, now=utcnow())
        session.commit()
    assert len(claim(utcnow())) == 2
    # An acknowledgement that never comes stops holding its place after the window's timeout.
    assert len(claim(utcnow() + timedelta(minutes=3))) == 5


def test_a_reply_kannel_sends_at_once_is_charged_to_its_route_and_keeps_no_number(app, client, session, make_poll,
                                                                                    make_links):
    app.config |= {"SMS_SECRET": "s3cret", "SMS_ROUTES": IRAQ}
    make_links(make_poll("reply"), count=1, language="en")
    phone = fresh(session).scalar(sa.select(Recipient.phone))  # an Asiacell number
    with app.extensions["poll.db"]() as s:
        sms_routes.ensure(s, routes.parse(IRAQ), now=time.time() + 60)  # full refills wait a minute: none here
        s.commit()
    response = client.get("/sms/kannel/mo", query_string={"secret": "s3cret", "from": phone[1:], "text": "1",
                                                           "id": "mo-1"})
    assert response.status_code == 200
    segments = encoding.analyze(response.get_data(as_text=True)).segments
    buckets = dict(fresh(session).execute(sa.select(SmsRoute.name, SmsRoute.tokens)).all())
    assert buckets == {"zain": 0.0, "asiacell": -segments, "korek": 0.0}
    assert fresh(session).scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) == 0


class SlowSmsc(Smsc):
    """An SMSC whose `slow` route takes each message only once every message of the other routes has gone."""

    def __init__(self, app, slow: str, others: int):
        super().__init__(app)
        self.slow, self.others, self.fast_done = slow, others, threading.Event()

    def send(self, message):
        if message.smsc == self.slow:
            self.waited = self.fast_done.wait(timeout=20)  # False: the other routes waited for this one
        result = super().send(message)
        if sum(smsc != self.slow for smsc, _ in self.sent) == self.others:
            self.fast_done.set()
        return result


def test_a_slow_route_does_not_hold_up_the_others(app, mixed):
    """Each route sends from a thread of its own: one whose SMSC stalls lets every other route's messages by."""
    gateway = SlowSmsc(app, slow="zain", others=18)  # the first route, 12 of the 30 numbers
    report = routed(app, gateway, routes=routes.parse("zain:78,79=1000; asiacell:77=1000; korek:75=1000; other:*=1000"),
                    window=50).run(once=True)
    assert report.handed == 30 and gateway.waited
    first_slow = next(place for place, (smsc, _) in enumerate(gateway.sent) if smsc == "zain")
    assert first_slow == 18  # the stalled route's first message went only after all the others


def test_an_outage_met_by_several_routes_pauses_them_all_once_and_costs_no_attempt(app, mixed):
    sleeps: list[float] = []
    with ScriptedSendsms([503, 503, 503]) as smsbox:
        settings = Settings(rate=1.0, batch=50, lease=timedelta(seconds=30), horizon=timedelta(hours=24),
                            dlr_url=lambda message_id: "http://127.0.0.1:9/dlr", idle=0.5, max_pause=8.0,
                            routes=routes.parse(IRAQ + "; other:*=240"), window=50)

        def drained() -> bool:
            with app.extensions["poll.db"]() as session:
                return outbox.state_counts(session).get(MessageState.SENT, 0) == 30

        report = Dispatcher(app.extensions["poll.db"], KannelGateway(smsbox.url, "u", "p", timeout=5), settings,
                            sleep=sleeps.append).run(should_stop=drained)
    assert report.handed == 30 and 1 <= report.outages <= 3
    # However many routes met it at once, each outage paused every route once: doubling while nothing got
    # through, from one second again after a message did.
    pauses = [pause for pause in sleeps if pause >= 1]
    assert len(pauses) == report.outages
    assert all(pause in (1.0, 2 * before) for before, pause in zip([0.0, *pauses], pauses, strict=False))
    assert {m.attempts for m in fresh(mixed).scalars(sa.select(OutboxMessage))} == {1}
    assert len(smsbox.received) == 30 + 3
