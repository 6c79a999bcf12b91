"""The dispatcher: sends the outbox through a gateway, at a steady pace, and rides out gateway outages.

Unlike a request or a command, it commits as it goes: it owns its sessions
(one per step, from the factory it is given) so that a claim is committed
before any message leaves, and each answer as soon as it is known.

Faults it is built for:
- The gateway is down (no answer, or a 5xx "try again later"): the message
  it was sending and the rest of its claim go back to the queue with no
  attempt spent, and the dispatcher pauses as a whole, doubling the pause up
  to `Settings.max_pause`, then tries one message. Messages fail only when
  the gateway refuses them (4xx), or when they wait past the operator's
  horizon (POLL_SMS_GIVE_UP_HOURS); `poll sms retry` queues failures again.
- The dispatcher is killed: its claimed messages stay "sending" until their
  lease runs out (POLL_SMS_LEASE_SECONDS, seconds), then another dispatcher
  takes them. It renews the lease of what it has not sent yet as it goes.
  One killed between the gateway's acceptance and the record sends that
  message twice; nothing is lost.
- Delivery reports overtake the record of the send: states only move forward
  (services.messaging.outbox).

With routes (POLL_SMS_ROUTES, sms.routes) it claims each route's numbers
apart, only while fewer than POLL_SMS_WINDOW of that route's messages are
in flight (claimed and not yet acknowledged by the SMSC), and takes each
message's segments from its route's shared budget before sending it
(services.messaging.sms_routes): the routes' caps replace POLL_SMS_RATE, and a route
that has to wait does not hold up the others. Replies to phones never wait
in the outbox: Kannel sends them at once, ahead of every invitation still
here, and they are charged to their route's budget (web.sms).

It also keeps the retention rule, as the one process every sending
installation runs: when it starts and then every `Settings.purge_every`
seconds it destroys the contact data of polls closed longer than their
retention period (services.audience.retention).
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta

import sqlalchemy.orm as so

from poll.db import dialects
from poll.models import utcnow
from poll.services.audience import retention
from poll.services.messaging import outbox, sms_routes
from poll.sms.gateways import Answer, Gateway
from poll.sms.routes import Route

log = logging.getLogger("poll.sms")
# Seconds between looks at a full in-flight window.
WINDOW_LOOK = 0.1


@dataclass(frozen=True)
class Settings:
    rate: float  # messages per second
    batch: int  # messages claimed at a time
    lease: timedelta  # how long a claim holds before another dispatcher may take it over
    horizon: timedelta  # how long a queued message may wait before it fails
    dlr_url: Callable[[int], str]  # where the delivery reports of a message go
    max_pause: float = 60.0  # seconds, the longest wait for a gateway that is down
    idle: float = 1.0  # seconds between looks at an empty outbox
    retention_days: float | None = None  # POLL_RETENTION_DAYS: None keeps contact data until purged by hand
    purge_every: float = 3600.0  # seconds between looks for polls past their retention period
    routes: tuple[Route, ...] = ()  # POLL_SMS_ROUTES: none sends as before, at `rate`, with no window
    window: int = 100  # POLL_SMS_WINDOW: at most this many of a route's messages in flight
    window_timeout: timedelta = timedelta(minutes=2)  # an unacknowledged message stops counting in flight after it
    longest: int = 16  # segments of the longest message (POLL_SMS_MAX_SEGMENTS): no bucket may be smaller


@dataclass
class Report:
    """What a dispatcher did."""

    handed: int = 0  # accepted by the gateway
    refused: int = 0
    outages: int = 0  # times it found the gateway unavailable
    unavailable: bool = False  # the gateway was down when it stopped
    purged: list[str] = field(default_factory=list)  # polls whose contact data it destroyed (retention)

    counts: dict[str, int] = field(default_factory=dict)


class Pacer:
    """Spaces calls to at most `rate` a second."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.interval, self.clock, self.sleep = 1.0 / rate, clock, sleep
        self.next = clock()

    def wait(self) -> None:
        now = self.clock()
        if self.next > now:
            self.sleep(self.next - now)  # pacing the send rate
        self.next = max(self.next, now) + self.interval


class Dispatcher:
    """Claims due messages, sends them, records the answers; see the module's notes on faults."""

    def __init__(self, sessions: so.sessionmaker, gateway: Gateway, settings: Settings, *,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                 wall: Callable[[], float] = time.time):
        self.sessions, self.gateway, self.settings = sessions, gateway, settings
        self.clock, self.sleep, self.wall = clock, sleep, wall  # wall: the clock every dispatcher's budget shares
        self.pacer = Pacer(settings.rate, clock, sleep)
        self.window_full = False  # the last claim found due messages held back by a full window

    def run(self, *, once: bool = False, should_stop: Callable[[], bool] = lambda: False) -> Report:
        """Send until stopped; with `once`, until nothing is due or the gateway is down."""
        report = Report()
        pause = 0.0
        purged_at = None
        if self.settings.routes:
            self._prepare_routes()
        while not should_stop():
            if purged_at is None or self.clock() - purged_at >= self.settings.purge_every:
                report.purged += self._purge_due()
                purged_at = self.clock()
            claimed = self._claim(1 if pause else self.settings.batch)
            if not claimed:
                if self.window_full:
                    self.sleep(WINDOW_LOOK)  # the SMSC's acknowledgements open the window within moments
                    continue
                if once:
                    break
                self.sleep(self.settings.idle)  # an idle dispatcher looks for new messages now and then
                continue
            if self._send(claimed, report):
                pause = 0.0
                continue
            report.outages += 1
            if once:
                report.unavailable = True
                break
            pause = min(max(2 * pause, 1.0), self.settings.max_pause)
            log.warning("the %s gateway is unavailable: pausing %.0f s", self.gateway.name, pause)
            self.sleep(pause)  # waiting out the outage before one message tries again
        with self.sessions() as session:
            report.counts = outbox.state_counts(session)
        return report

    def _purge_due(self) -> list[str]:
        with self.sessions() as session:
            dialects.of(session).begin_write(session)
            purged = retention.purge_due(session, default_days=self.settings.retention_days, now=utcnow(),
                                         via="dispatcher")
            session.commit()
        if purged:
            log.info("contact data of %d closed poll(s) destroyed: %s", len(purged), ", ".join(purged))
        return purged

    def _prepare_routes(self) -> None:
        with self.sessions() as session:
            dialects.of(session).begin_write(session)
            sms_routes.ensure(session, self.settings.routes, now=self.wall())
            refused = outbox.refuse_unrouted(session, self.settings.routes, now=utcnow(), lease=self.settings.lease)
            session.commit()
        if refused:
            log.warning("%d message(s) to numbers no SMS route takes failed: add a route for them "
                        "(POLL_SMS_ROUTES), then `poll sms retry`", refused)

    def _claim(self, batch: int) -> list:
        if self.settings.routes:
            return self._claim_routes(batch)
        with self.sessions() as session:
            dialects.of(session).begin_write(session)
            claimed = outbox.claim(session, batch=batch, now=utcnow(), lease=self.settings.lease,
                                   horizon=self.settings.horizon)
            jobs = [outbox.outgoing(message, self.settings.dlr_url(message.id)) for message in claimed]
            session.commit()
        return jobs

    def _claim_routes(self, batch: int) -> list:
        """Claim for each route in turn, as many as its window has room for; the jobs interleaved by route."""
        settings, claims = self.settings, []
        self.window_full = False
        for route in settings.routes:
            with self.sessions() as session:
                dialects.of(session).begin_write(session)
                now = utcnow()
                room = sms_routes.room(session, route, window=settings.window, now=now,
                                       timeout=settings.window_timeout)
                # A claim takes at most a quarter of the window, so that several dispatchers share a route.
                claimed = outbox.claim(session, batch=min(batch, room, max(settings.window // 4, 1)), now=now,
                                       lease=settings.lease,
                                       horizon=settings.horizon, sms_routes=settings.routes,
                                       route=route, expire=route is settings.routes[0]) if room else []
                claims.append([outbox.outgoing(message, settings.dlr_url(message.id)) for message in claimed])
                session.commit()
            if not room and self._due_on(route):
                self.window_full = True
            if batch == 1 and claims[-1]:
                break  # trying the gateway again after an outage: one message is enough
        return [job for round_ in itertools.zip_longest(*claims) for job in round_ if job is not None]

    def _due_on(self, route: Route) -> bool:
        with self.sessions() as session:
            return outbox.has_due(session, now=utcnow(), lease=self.settings.lease, sms_routes=self.settings.routes,
                                  route=route)

    def _budget(self, jobs: list) -> Iterator[tuple[int, object]]:
        """`jobs` in an order each route's budget allows now: a route that must wait lets the others by.

        Each route's budget pays for a run of its waiting jobs at once, in one
        transaction (sms_routes.take_many).
        """
        routes = {route.name: route for route in self.settings.routes}
        waiting = {name: [(position, job) for position, job in enumerate(jobs) if job.smsc == name]
                   for name in routes}
        paid: list[tuple[int, object]] = []
        while paid or any(waiting.values()):
            if paid:
                yield paid.pop(0)
                continue
            waits = []
            for name, queue in waiting.items():
                if not queue:
                    continue
                with self.sessions() as session:
                    dialects.of(session).begin_write(session)
                    count, wait = sms_routes.take_many(session, routes[name], [job.segments for _, job in queue],
                                                       now=self.wall(), longest=self.settings.longest)
                    session.commit()
                paid += queue[:count]
                del queue[:count]
                if wait:
                    waits.append(wait)
            if not paid:
                self.sleep(min(waits))  # every route with work is at its cap: waiting for the first to refill

    def _send(self, jobs: list, report: Report) -> bool:
        """Send a claim's messages; False if the gateway turned out to be unavailable (the rest go back)."""
        renew_every = self.settings.lease.total_seconds() / 3
        renewed = self.clock()
        sent: set[int] = set()
        order = self._budget(jobs) if self.settings.routes else enumerate(jobs)
        for position, job in order:
            if not self.settings.routes:
                self.pacer.wait()
            result = self.gateway.send(job)
            sent.add(position)
            with self.sessions() as session:
                dialects.of(session).begin_write(session)
                if result.answer is Answer.UNAVAILABLE:
                    outbox.release(session, [later.message_id for place, later in enumerate(jobs)
                                             if place not in sent or place == position])
                    session.commit()
                    return False
                outbox.record(session, job.message_id, result, now=utcnow())
                if self.clock() - renewed >= renew_every:
                    outbox.renew(session, [later.message_id for place, later in enumerate(jobs) if place not in sent],
                                 now=utcnow())
                    renewed = self.clock()
                session.commit()
            if result.accepted:
                report.handed += 1
            else:
                report.refused += 1
        return True
