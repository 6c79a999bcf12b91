"""Each SMS route's shared speed budget and in-flight window, kept in the database for every dispatcher.

The budget is a token bucket per route (`SmsRoute`): it fills at the
route's cap in segments a second up to `burst` seconds' worth, and a
dispatcher takes a message's segments from it with one conditional UPDATE
before handing the message over. The UPDATE succeeds for one taker at a
time and only while the bucket holds enough, so over any stretch of T
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
    """Give each route a bucket row (empty, filling from `now`); rows that exist are left as they are."""
    known = set(session.scalars(sa.select(SmsRoute.name).where(SmsRoute.name.in_([r.name for r in routes]))))
    for route in routes:
        if route.name not in known:
            session.add(SmsRoute(name=route.name, tokens=0.0, refilled_at=now))
    session.flush()


def _filled(route: Route, now: float, longest: int):
    # The bucket's level at `now`: what it held plus what the cap added since, at most a burst. A clock behind the
    # last refill (another machine's) adds nothing rather than taking away.
    elapsed = sa.case((SmsRoute.refilled_at < now, now - SmsRoute.refilled_at), else_=0.0)
    level = SmsRoute.tokens + elapsed * route.cap
    most = burst(route, longest)
    return sa.case((level > most, most), else_=level)


def take(session: so.Session, route: Route, segments: int, *, now: float, longest: int = 16) -> float:
    """Take `segments` from `route`'s bucket: 0.0 if taken, else how many seconds until it will hold enough.

    One conditional UPDATE; the caller commits at once, so other
    dispatchers see the bucket as it is now.
    """
    level = _filled(route, now, longest)
    taken = session.execute(
        sa.update(SmsRoute)
        .where(SmsRoute.name == route.name, level >= segments)
        .values(tokens=level - segments, refilled_at=sa.case((SmsRoute.refilled_at < now, now),
                                                            else_=SmsRoute.refilled_at))
        .returning(SmsRoute.name)
    ).first()
    if taken is not None:
        return 0.0
    held = session.scalar(sa.select(level).where(SmsRoute.name == route.name))
    if held is None:
        raise LookupError(f"SMS route {route.name!r} has no bucket: call sms_routes.ensure first")
    return max((segments - held) / route.cap, 1e-3)


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
