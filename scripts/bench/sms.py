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
Ours is D `poll dispatch --once` processes, as an operator runs them; it prints its pace each minute.
Usage: python scripts/bench/sms.py [--messages N] [--dispatchers D] [--window W] [--routes ROUTES]
                                   [--postgres SERVER_URL] [--floor-messages N] [--minutes M]
The national-size run is --messages 1000000 --dispatchers 4 --postgres URL --floor-messages 50000: an hour
or more, on a machine of its own (--minutes 15 measures its pace with a million queued, and cancels the rest).
"""

from __future__ import annotations

import argparse
import http.client
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))
from _common import open_poll_with_links, report  # noqa: E402

from poll import db  # noqa: E402
from poll.models import OutboxMessage, utcnow  # noqa: E402
from poll.runners.dispatcher import Settings  # noqa: E402
from poll.services.definition import polls  # noqa: E402
from poll.services.messaging import outbox, sms_routes
from poll.sms import routes  # noqa: E402
from poll.vocabulary import MessageState  # noqa: E402
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


def ours(url: str, routes_text: str, sendsms: str, dlr_base: str, dispatchers: int, window: int,
         minutes: float | None) -> tuple[dict[str, tuple[int, float]], dict[str, int], int]:
    """Drain the outbox with `dispatchers` `poll dispatch --once` processes at once (what an operator runs), or
    send for `minutes` and cancel the rest: {route: (segments, seconds)} up to then, the most in flight per
    route, and how many messages were handed over in all."""
    configured = routes.parse(routes_text)
    engine = db.make_engine(url)
    factory = sa.orm.sessionmaker(bind=engine)
    environment = os.environ | {
        "POLL_DATABASE_URL": url, "POLL_SECRET_KEY": "bench", "POLL_SMS_GATEWAY": "kannel",
        "POLL_KANNEL_SENDSMS_URL": sendsms, "POLL_KANNEL_USERNAME": USERNAME, "POLL_KANNEL_PASSWORD": PASSWORD,
        "POLL_SMS_SECRET": SECRET, "POLL_BASE_URL": dlr_base, "POLL_SMS_ROUTES": routes_text,
        "POLL_SMS_WINDOW": str(window), "POLL_SMS_RATE": "1000000000", "POLL_SMS_BATCH": "100",
        "PYTHONPATH": str(ROOT)}
    most: dict[str, int] = defaultdict(int)
    done = threading.Event()

    def watch() -> None:  # each route's messages in flight, read from the database while dispatching
        sent, since = 0, time.monotonic()
        with factory() as session:
            while not done.is_set():
                for route in configured:
                    most[route.name] = max(most[route.name], sms_routes.in_flight(
                        session, route.name, now=utcnow(), timeout=Settings.window_timeout))
                if time.monotonic() - since >= PROGRESS_SECONDS:  # a long run says whether its pace holds
                    now_sent = session.scalar(sa.select(sa.func.count()).where(OutboxMessage.sent_at.is_not(None)))
                    print(f"{now_sent:,} sent; the last {PROGRESS_SECONDS} s at "
                          f"{(now_sent - sent) / (time.monotonic() - since):,.1f} messages/s", flush=True)
                    sent, since = now_sent, time.monotonic()
                session.rollback()
                time.sleep(0.05)  # sampling, not waiting for anything

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    start = utcnow()
    processes = [subprocess.Popen([str(Path(sys.executable).with_name("poll")), "dispatch", "--once"],
                                  env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(dispatchers)]
    deadline = None
    if minutes is not None:
        try:
            processes[0].wait(timeout=60 * minutes)
        except subprocess.TimeoutExpired:
            # Time is up: what is still queued is cancelled, and each dispatcher ends once its claims are sent.
            deadline = utcnow()
            with factory() as session:
                session.execute(sa.update(OutboxMessage).where(OutboxMessage.state == MessageState.QUEUED)
                                .values(state=MessageState.CANCELLED))
                session.commit()
    for process in processes:
        _out, err = process.communicate()
        assert process.returncode == 0, err[-2000:]
    done.set()
    watcher.join()
    until = deadline or utcnow()
    with factory() as session:
        delays = sorted((acked - claimed).total_seconds() for acked, claimed in session.execute(
            sa.select(OutboxMessage.acked_at, OutboxMessage.sent_at).where(OutboxMessage.acked_at.is_not(None))))
        print(f"acknowledged {len(delays)}: from the send to the SMSC's acknowledgement, median "
              f"{delays[len(delays) // 2] if delays else float('nan'):.2f} s, slowest {max(delays, default=0):.2f} s")
        handed = session.scalar(sa.select(sa.func.count()).where(OutboxMessage.sent_at.is_not(None)))
        rows = session.execute(
            sa.select(OutboxMessage.route, sa.func.sum(OutboxMessage.segments), sa.func.max(OutboxMessage.sent_at))
            .where(OutboxMessage.sent_at <= until).group_by(OutboxMessage.route)).all()
    engine.dispose()
    rates = {route: (int(segments), (last - start).total_seconds()) for route, segments, last in rows}
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
    parser.add_argument("--minutes", type=float, default=None,
                        help="Send for this long, then cancel what is still queued (default: send everything).")
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
                our_rates, most, handed = ours(url, args.routes, kannel.sendsms_url, base, dispatchers, args.window,
                                               args.minutes)
                floor_sample = messages[:args.floor_messages] if args.floor_messages else messages
                floor_rates = floor(floor_sample, configured, kannel.sendsms_url, f"{base}/healthz")
            assert handed == len(messages) or args.minutes, f"{handed} of {len(messages)} sent"
            total = handed + len(floor_sample)
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
        of = f", {len(messages):,} queued" if args.minutes else ""
        rows.append({"case": f"{route.name} (cap {route.cap:g}), {dispatchers} at once{of}, {databases.name}",
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
