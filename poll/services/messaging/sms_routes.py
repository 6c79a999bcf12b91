"""Each SMS route's shared speed budget and in-flight window, kept in the database for every dispatcher.

The budget is a token bucket per route (`SmsRoute`): it fills at the
route's cap in segments a second up to `burst` seconds' worth, and a
dispatcher takes its messages' segments from it (under the row's lock)
before handing them over, and only while the bucket holds enough for
them, so over any stretch of T
seconds a route carries at most cap × T segments plus one burst, however
many dispatchers draw on it. Replies that Kannel sends straight back to a
phone (web.sms) are charged to the same bucket after the fact.

The window: a message is in flight from its claim until the SMSC
acknowledges it (Kannel's delivery report 8) or it ends (delivered, failed).
A dispatcher claims for a route only while fewer than W of its messages
are in flight (`room`), under the route row's lock, so Kannel's queue never
holds more than W of a route's messages whatever the size of the outbox.
A message whose acknowledgement never comes stops counting after
`timeout`, so a lost report cannot close the window for good.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
import sqlalchemy.orm as so

from poll.db import insert_or_skip
from poll.models import OutboxMessage, SmsRoute
from poll.sms import encoding, routes
from poll.sms.routes import Route
from poll.vocabulary import MessageState

# The bucket holds at most this many seconds of a route's cap: short enough that a burst stays within 5% of
# the cap over half a minute, long enough to take the longest message (POLL_SMS_MAX_SEGMENTS) at a low cap.
BURST_SECONDS = 1.0
IN_FLIGHT = (MessageState.SENDING, MessageState.SENT)


def burst(route: Route, longest: int = 16) -> float:
    """The most segments `route`'s bucket holds: one second of its cap, and never less than `longest` message."""
    return max(route.cap * BURST_SECONDS, float(longest))


def ensure(session: so.Session, routes: tuple[Route, ...], *, now: float) -> None:
    """Give each route a bucket row (empty, filling from `now`); rows that exist, or that another dispatcher
    starting at the same moment makes, are left as they are."""
    if routes:
        session.execute(insert_or_skip(session, SmsRoute, ["name"]),
                        [{"name": route.name, "tokens": 0.0, "refilled_at": now} for route in routes])


def _filled(route: Route, now: float, longest: int):
    # The bucket's level at `now`: what it held plus what the cap added since, at most a burst. A clock behind the
    # last refill (another machine's) adds nothing rather than taking away.
    elapsed = sa.case((SmsRoute.refilled_at < now, now - SmsRoute.refilled_at), else_=0.0)
    level = SmsRoute.tokens + elapsed * route.cap
    most = burst(route, longest)
    return sa.case((level > most, most), else_=level)


def take_many(session: so.Session, route: Route, segments: list[int], *, now: float,
              longest: int = 16) -> tuple[int, float]:
    """Take from `route`'s bucket for as many of `segments` (messages, in order) as it pays for now.

    Returns how many messages were paid for, and if none, how many seconds
    until the first will be. One transaction for a run of messages: the
    bucket's row is locked while it is read and written (on SQLite the
    write transaction is the lock), so concurrent takers queue.
    """
    level = session.scalar(sa.select(_filled(route, now, longest)).where(SmsRoute.name == route.name)
                           .with_for_update())
    if level is None:
        raise LookupError(f"SMS route {route.name!r} has no bucket: call sms_routes.ensure first")
    paid, spent = 0, 0
    for cost in segments:
        if spent + cost > level:
            break
        paid, spent = paid + 1, spent + cost
    if not paid:
        return 0, max((segments[0] - level) / route.cap, 1e-3)
    session.execute(
        sa.update(SmsRoute).where(SmsRoute.name == route.name)
        .values(tokens=_filled(route, now, longest) - spent,
                refilled_at=sa.case((SmsRoute.refilled_at < now, now), else_=SmsRoute.refilled_at))
    )
    return paid, 0.0


def charge(session: so.Session, route: Route, segments: int, *, now: float, longest: int = 16) -> None:
    """Charge `segments` already sent (a reply Kannel sent itself) to `route`'s bucket, even below empty.

    The dispatchers then wait until the cap has paid for them. A route
    without a bucket row yet is left alone: no dispatcher has used it.
    """
    level = _filled(route, now, longest)
    session.execute(
        sa.update(SmsRoute).where(SmsRoute.name == route.name)
        .values(tokens=level - segments, refilled_at=sa.case((SmsRoute.refilled_at < now, now),
                                                            else_=SmsRoute.refilled_at))
    )


def charge_reply(session: so.Session, configured: tuple[Route, ...], phone: str, text: str, *, now: float) -> None:
    """Charge a reply SMS to `phone` that Kannel sends itself to the route of `phone`, if it has one.

    Replies never wait in the outbox (Kannel sends the callback's answer at
    once, ahead of every invitation still queued here), and no row keeps
    the number beside the reply; only its segments are counted, so the
    route's cap holds replies included.
    """
    route = routes.route_for(configured, phone)
    if route is not None and text:
        charge(session, route, encoding.analyze(text).segments, now=now)


def in_flight(session: so.Session, route: str, *, now: datetime, timeout: timedelta) -> int:
    """How many of `route`'s messages are claimed or handed over and not yet acknowledged by the SMSC."""
    return session.scalar(
        sa.select(sa.func.count()).select_from(OutboxMessage).where(
            OutboxMessage.route == route, OutboxMessage.acked_at.is_(None), OutboxMessage.state.in_(IN_FLIGHT),
            OutboxMessage.claimed_at >= now - timeout,
        )
    ) or 0


def room(session: so.Session, route: Route, *, window: int, now: datetime, timeout: timedelta) -> int:
    """How many more of `route`'s messages may be claimed now; holds the route's row until the transaction ends.

    On PostgreSQL the row lock makes dispatchers count and claim one after
    another, so two cannot both fill the last places; SQLite's write
    transaction already does.
    """
    session.execute(sa.select(SmsRoute.name).where(SmsRoute.name == route.name).with_for_update())
    return max(window - in_flight(session, route.name, now=now, timeout=timeout), 0)
