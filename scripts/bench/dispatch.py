"""Dispatch throughput through Kannel to fakesmsc: `poll dispatch`'s path against a bare sendsms loop.

Both send the same N Arabic invitation texts to smsbox's /cgi-bin/sendsms on
loopback (Kannel's bearerbox, smsbox and fakesmsc from Debian). Ours claims
from the SQLite outbox, sends, and records each result; the floor only loops
over HTTP GETs. Prints messages per second and the ratio.
Usage: python scripts/bench/dispatch.py [--messages N]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import urllib.parse
import urllib.request
from datetime import timedelta
from pathlib import Path

import numpy as np
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))
from _common import report, timed  # noqa: E402

from poll import db  # noqa: E402
from poll.services import audiences, invitations, outbox, polls  # noqa: E402
from poll.simulate import population  # noqa: E402
from poll.sms.gateways import KannelGateway  # noqa: E402
from tests.kannel import PASSWORD, USERNAME, Kannel, eventually  # noqa: E402


def prepare(path: Path, count: int) -> list[tuple[str, str]]:
    engine = db.make_engine(f"sqlite:///{path}")
    db.upgrade(engine)
    with sa.orm.Session(engine) as session:
        poll = polls.create_poll(session, polls.builtin_definition())
        polls.open_poll(session, poll)
        audiences.add_population(session, poll, population.generate(count, np.random.default_rng(1)))
        invitations.issue_links(session, poll)
        outbox.queue_invitations(session, poll, "http://127.0.0.1:5000", max_segments=5)
        session.commit()
        rows = session.execute(sa.text("SELECT phone, text FROM outbox_messages ORDER BY id")).all()
    engine.dispose()
    return [tuple(row) for row in rows]


def ours(path: Path, gateway: KannelGateway) -> int:
    engine = db.make_engine(f"sqlite:///{path}")
    factory = sa.orm.sessionmaker(bind=engine)
    sent = 0
    while claimed := outbox.dispatch_batch(factory, gateway, batch=200, lease=timedelta(minutes=5), max_attempts=3,
                                           dlr_url=lambda i: f"http://127.0.0.1:9/dlr?message={i}&status=%d"):
        sent += claimed
    engine.dispose()
    return sent


def floor(messages: list[tuple[str, str]], url: str) -> int:
    for phone, text in messages:
        query = urllib.parse.urlencode({"username": USERNAME, "password": PASSWORD, "to": phone, "text": text,
                                        "charset": "UTF-8", "coding": "2", "dlr-mask": "27",
                                        "dlr-url": "http://127.0.0.1:9/dlr?status=%d"})
        with urllib.request.urlopen(f"{url}?{query}", timeout=10) as response:
            response.read()
    return len(messages)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, "bench.db")
        messages = prepare(path, args.messages)
        kannel = Kannel(Path(folder), app_port=9, secret="x")
        kannel.start()
        try:
            gateway = KannelGateway(kannel.sendsms_url, USERNAME, PASSWORD)
            floor_seconds, _ = timed(floor, messages, kannel.sendsms_url)
            ours_seconds, sent = timed(ours, path, gateway)
            assert sent == args.messages, sent
            eventually(lambda: len(kannel.received()) >= 2 * args.messages, timeout=300, what="fakesmsc")
        finally:
            kannel.stop()
    ours_rate, floor_rate = args.messages / ours_seconds, args.messages / floor_seconds
    report("dispatch", [{"case": f"{args.messages:,} SMS via Kannel to fakesmsc", "ours": ours_rate,
                         "floor": floor_rate, "ratio": ours_rate / floor_rate, "unit": "messages/s"}],
           "ratio = ours / bare sendsms loop")


if __name__ == "__main__":
    main()
