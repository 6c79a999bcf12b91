"""Dispatch throughput through Kannel to fakesmsc: `poll dispatch`'s path against a bare sendsms loop.

Both send the same N Arabic invitation texts to smsbox's /cgi-bin/sendsms on
loopback (Kannel's bearerbox, smsbox and fakesmsc from Debian). Ours claims
from the outbox, sends, and records each result; the floor only loops over
HTTP GETs. On PostgreSQL (--postgres SERVER_URL) it also runs several
dispatchers at once on one outbox against as many bare loops, and checks
that fakesmsc got every message exactly once.
Usage: python scripts/bench/dispatch.py [--messages N] [--workers W] [--postgres SERVER_URL]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import urllib.parse
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))
from _common import open_poll_with_links, report, timed  # noqa: E402

from poll import db  # noqa: E402
from poll.runners.dispatcher import Dispatcher, Settings  # noqa: E402
from poll.services.definition import polls  # noqa: E402
from poll.services.messaging import outbox
from poll.sms.gateways import KannelGateway  # noqa: E402
from tests.databases import Databases  # noqa: E402
from tests.kannel import PASSWORD, USERNAME, Kannel, eventually  # noqa: E402


def prepare(url: str, count: int) -> list[tuple[str, str]]:
    engine = open_poll_with_links(url, count)
    with sa.orm.Session(engine) as session:
        poll = polls.get_poll(session, polls.BUILTIN)
        outbox.queue_invitations(session, poll, "http://127.0.0.1:5000", max_segments=5, sender="POLL")
        session.commit()
        rows = session.execute(sa.text("SELECT phone, text FROM outbox_messages ORDER BY id")).all()
    engine.dispose()
    return [tuple(row) for row in rows]


def ours(url: str, gateway: KannelGateway, workers: int) -> int:
    """Drain the outbox with `workers` dispatchers at once; returns how many messages they sent."""
    engine = db.make_engine(url)
    factory = sa.orm.sessionmaker(bind=engine)

    settings = Settings(rate=1e9, batch=50, lease=timedelta(seconds=30), horizon=timedelta(hours=24),
                        dlr_url=lambda i: f"http://127.0.0.1:9/dlr?message={i}&status=%d")

    def dispatcher() -> int:
        return Dispatcher(factory, gateway, settings).run(once=True).handed

    with ThreadPoolExecutor(workers) as pool:
        sent = sum(pool.map(lambda _: dispatcher(), range(workers)))
    engine.dispose()
    return sent


def floor(messages: list[tuple[str, str]], url: str, workers: int) -> int:
    """Send `messages` with `workers` bare sendsms loops, each its share."""

    def loop(share: list[tuple[str, str]]) -> int:
        for phone, text in share:
            query = urllib.parse.urlencode({"username": USERNAME, "password": PASSWORD, "to": phone, "text": text,
                                            "from": "POLL",
                                            "charset": "UTF-8", "coding": "2", "dlr-mask": "27",
                                            "dlr-url": "http://127.0.0.1:9/dlr?status=%d"})
            with urllib.request.urlopen(f"{url}?{query}", timeout=10) as response:
                response.read()
        return len(share)

    with ThreadPoolExecutor(workers) as pool:
        return sum(pool.map(loop, [messages[i::workers] for i in range(workers)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=4, help="Dispatchers at once on PostgreSQL.")
    parser.add_argument("--postgres", metavar="SERVER_URL", help="Run on PostgreSQL instead of SQLite.")
    args = parser.parse_args()
    # SQLite takes one dispatcher (see `poll dispatch --help`); PostgreSQL several.
    cases = [1, args.workers] if args.postgres and args.workers > 1 else [1]
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        databases = Databases.on(args.postgres, folder)
        messages = prepare(databases.template(), args.messages)
        kannel = Kannel(folder, app_port=9, secret="x")
        kannel.start()
        try:
            gateway = KannelGateway(kannel.sendsms_url, USERNAME, PASSWORD)
            expected = Counter()
            for workers in cases:
                floor_seconds, _ = timed(floor, messages, kannel.sendsms_url, workers)
                url = databases.copy(f"ours_{workers}")
                ours_seconds, sent = timed(ours, url, gateway, workers)
                assert sent == args.messages, f"{sent} of {args.messages} sent"
                expected.update(f"{phone} {text}" for phone, text in messages * 2)
                rows.append({"case": f"{args.messages:,} SMS via Kannel, {workers} at once, {databases.name}",
                             "ours": args.messages / ours_seconds, "floor": args.messages / floor_seconds,
                             "ratio": floor_seconds / ours_seconds, "unit": "messages/s"})
            total = sum(expected.values())
            eventually(lambda: len(kannel.received()) >= total, timeout=300, what="fakesmsc")
            duplicates = Counter(kannel.received()) - expected
            assert not duplicates, f"sent more than once: {list(duplicates)[:3]}"
        finally:
            kannel.stop()
            databases.close()
    name = "dispatch-postgresql" if args.postgres else "dispatch"
    report(name, rows, "ratio = ours / bare sendsms loops")


if __name__ == "__main__":
    main()
