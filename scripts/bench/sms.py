"""SMS routes at a country's scale: per carrier, segments a second through its own SMSC, ours against a floor.

One bearerbox with an SMSC per route (fakesmsc each), smsbox, and the app
under gunicorn taking the delivery reports. Ours: D dispatchers on one
outbox with POLL_SMS_ROUTES (each route's shared budget, its in-flight
window of W messages, which only the SMSC's acknowledgements open). The
floor: the same messages sent straight to smsbox's sendsms with the same
parameters, one kept HTTP connection per route, each route paced at its
cap by a clock of its own (no database, no window, no budget to share).
Per route it prints segments a second for both and their ratio, whether
ours held the cap within 5%, and the most messages it ever had in flight.
Usage: python scripts/bench/sms.py [--messages N] [--dispatchers D] [--window W] [--routes ROUTES]
                                   [--postgres SERVER_URL] [--floor-messages N]
The national-size run is --messages 1000000 --dispatchers 4 --postgres URL --floor-messages 50000: an hour
or more, on a machine of its own. Ours prints its pace each minute.
"""

from __future__ import annotations

import argparse
import http.client
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))
from _common import open_poll_with_links, report  # noqa: E402

from poll import db  # noqa: E402
from poll.models import OutboxMessage, utcnow  # noqa: E402
from poll.runners.dispatcher import Dispatcher, Settings  # noqa: E402
from poll.services.definition import polls  # noqa: E402
from poll.services.messaging import outbox, sms_routes
from poll.sms import routes  # noqa: E402
from poll.sms.gateways import KannelGateway  # noqa: E402
from tests.databases import Databases  # noqa: E402
from tests.kannel import PASSWORD, USERNAME, Kannel, eventually  # noqa: E402
from tests.servers import free_port, gunicorn  # noqa: E402

# Iraq's carriers by prefix (data/iraq.toml), at caps a 2-core machine can carry; "other" takes 73, 74 and 76.
ROUTES = "zain:78,79=240; asiacell:77=200; korek:75=120; other:*=40"
SECRET = "bench-secret"
TOLERANCE = 0.05
PROGRESS_SECONDS = 60


def prepare(url: str, count: int) -> list[tuple[str, str, int]]:
    """The article's poll with `count` simulated recipients, their invitations queued: (phone, text, segments)."""
    engine = open_poll_with_links(url, count)
    with sa.orm.Session(engine) as session:
        poll = polls.get_poll(session, polls.BUILTIN)
        outbox.queue_invitations(session, poll, "http://127.0.0.1:5000", max_segments=5, sender="POLL")
        session.commit()
        rows = session.execute(sa.select(OutboxMessage.phone, OutboxMessage.text, OutboxMessage.segments)
                               .order_by(OutboxMessage.id)).all()
    engine.dispose()
    return [tuple(row) for row in rows]


def floor(messages: list[tuple[str, str, int]], configured: tuple[routes.Route, ...], sendsms: str,
          dlr: str) -> dict[str, tuple[int, float]]:
    """Each route's messages straight to sendsms, paced at its cap: {route: (segments, seconds)}."""
    by_route = defaultdict(list)
    for message in messages:
        by_route[routes.route_for(configured, message[0]).name].append(message)
    parts = urllib.parse.urlsplit(sendsms)
    start = time.monotonic()

    def send(route: routes.Route) -> tuple[str, tuple[int, float]]:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        spent = 0
        for phone, text, segments in by_route[route.name]:
            due = start + spent / route.cap  # message i leaves once the cap has paid for those before it
            if due > time.monotonic():
                time.sleep(due - time.monotonic())  # pacing the route at its cap
            query = urllib.parse.urlencode({
                "username": USERNAME, "password": PASSWORD, "to": phone, "text": text, "from": "POLL",
                "charset": "UTF-8", "coding": "2", "dlr-mask": "27", "dlr-url": dlr, "smsc": route.name})
            connection.request("GET", f"{parts.path}?{query}")
            response = connection.getresponse()
            response.read()
            assert 200 <= response.status < 300, response.status
            spent += segments
        connection.close()
        return route.name, (spent, time.monotonic() - start)

    with ThreadPoolExecutor(len(configured)) as pool:
        return dict(pool.map(send, [route for route in configured if by_route[route.name]]))


def ours(url: str, configured: tuple[routes.Route, ...], sendsms: str, dlr_base: str, dispatchers: int,
         window: int) -> tuple[dict[str, tuple[int, float]], dict[str, int], int]:
    """Drain the outbox with `dispatchers` dispatchers at once: {route: (segments, seconds)}, the most in flight
    per route, and how many messages they handed over."""
    engine = db.make_engine(url)
    factory = sa.orm.sessionmaker(bind=engine)
    gateway = KannelGateway(sendsms, USERNAME, PASSWORD)
    settings = Settings(rate=1e9, batch=100, lease=timedelta(seconds=30), horizon=timedelta(hours=24),
                        routes=configured, window=window, longest=5,
                        dlr_url=lambda i: f"{dlr_base}/sms/kannel/dlr?secret={SECRET}&message={i}&status=%d")
    most: dict[str, int] = defaultdict(int)
    done = threading.Event()

    def watch() -> None:  # each route's messages in flight, read from the database while dispatching
        sent, since = 0, time.monotonic()
        with factory() as session:
            while not done.is_set():
                for route in configured:
                    most[route.name] = max(most[route.name], sms_routes.in_flight(
                        session, route.name, now=utcnow(), timeout=settings.window_timeout))
                if time.monotonic() - since >= PROGRESS_SECONDS:  # a long run says whether its pace holds
                    now_sent = session.scalar(sa.select(sa.func.count()).where(OutboxMessage.sent_at.is_not(None)))
                    print(f"{now_sent:,} sent; the last {PROGRESS_SECONDS} s at "
                          f"{(now_sent - sent) / (time.monotonic() - since):,.1f} messages/s", flush=True)
                    sent, since = now_sent, time.monotonic()
                session.rollback()
                time.sleep(0.05)  # sampling, not waiting for anything

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    start_wall = time.time()
    with ThreadPoolExecutor(dispatchers) as pool:
        handed = sum(pool.map(lambda _: Dispatcher(factory, gateway, settings).run(once=True).handed,
                              range(dispatchers)))
    done.set()
    watcher.join()
    with factory() as session:
        delays = sorted((acked - claimed).total_seconds() for acked, claimed in session.execute(
            sa.select(OutboxMessage.acked_at, OutboxMessage.sent_at).where(OutboxMessage.acked_at.is_not(None))))
        print(f"acknowledged {len(delays)}: from the send to the SMSC's acknowledgement, median "
              f"{delays[len(delays) // 2] if delays else float('nan'):.2f} s, slowest {max(delays, default=0):.2f} s")
        rows = session.execute(
            sa.select(OutboxMessage.route, sa.func.sum(OutboxMessage.segments), sa.func.max(OutboxMessage.sent_at))
            .group_by(OutboxMessage.route)).all()
    engine.dispose()
    rates = {route: (int(segments), last.timestamp() - start_wall) for route, segments, last in rows}
    return rates, dict(most), handed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--dispatchers", type=int, default=None,
                        help="Dispatchers at once (default 4 on PostgreSQL, 1 on SQLite).")
    parser.add_argument("--window", type=int, default=50, help="Messages in flight per route (POLL_SMS_WINDOW).")
    parser.add_argument("--routes", default=ROUTES, help=f"POLL_SMS_ROUTES (default {ROUTES!r}).")
    parser.add_argument("--postgres", metavar="SERVER_URL", help="Run on PostgreSQL instead of SQLite.")
    parser.add_argument("--floor-messages", type=int, default=None,
                        help="Send only the first N of the same messages through the floor (default all): its "
                             "pace is its own clock's, whatever the size of the outbox.")
    args = parser.parse_args()
    configured = routes.parse(args.routes)
    dispatchers = args.dispatchers or (4 if args.postgres else 1)
    rows, notes = [], []
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        databases = Databases.on(args.postgres, folder)
        messages = prepare(databases.template(), args.messages)
        url = databases.copy("ours")
        kannel = Kannel(folder, app_port=free_port(), secret=SECRET, smscs=tuple(r.name for r in configured))
        kannel.start()
        try:
            env = {"POLL_SMS_SECRET": SECRET, "POLL_SMS_GATEWAY": "kannel"}
            with gunicorn(url, workers=2, port=kannel.app_port, env=env) as base:
                # Ours first: the floor's delivery reports would otherwise still be queued in smsbox ahead of
                # the acknowledgements that open our window. The floor's go to the app's health check: answered
                # at once, and not a failure smsbox would fetch again and again (http-request-retry), as a 404 is.
                our_rates, most, handed = ours(url, configured, kannel.sendsms_url, base, dispatchers, args.window)
                floor_sample = messages[:args.floor_messages] if args.floor_messages else messages
                floor_rates = floor(floor_sample, configured, kannel.sendsms_url, f"{base}/healthz")
            assert handed == len(messages), f"{handed} of {len(messages)} sent"
            total = len(messages) + len(floor_sample)
            eventually(lambda: sum(len(kannel.received(r.name)) for r in configured) >= total, timeout=600,
                       what="every message at its SMSC")
        finally:
            kannel.stop()
            databases.close()
    for route in configured:
        if route.name not in our_rates:
            continue
        segments, seconds = our_rates[route.name]
        floor_segments, floor_seconds = floor_rates[route.name]
        rate, floor_rate = segments / seconds, floor_segments / floor_seconds
        held = rate <= route.cap * (1 + TOLERANCE)
        rows.append({"case": f"{route.name} (cap {route.cap:g}), {dispatchers} at once, {databases.name}",
                     "ours": rate, "floor": floor_rate, "ratio": rate / floor_rate, "unit": "segments/s",
                     "cap": route.cap, "cap_held": held, "most_in_flight": most.get(route.name, 0),
                     "window": args.window, "segments": segments})
        notes.append(f"{route.name}: {rate:,.1f} segments/s against a cap of {route.cap:g} "
                     f"({'held' if held else 'EXCEEDED'} within {TOLERANCE:.0%}); at most "
                     f"{most.get(route.name, 0)} in flight (window {args.window})")
    name = "sms-postgresql" if args.postgres else "sms"
    report(name, rows, "ratio = ours / sendsms paced per route", notes)


if __name__ == "__main__":
    main()
