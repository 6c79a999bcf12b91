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
- PostgreSQL itself crashes: its claims, budgets and records do not wait for
  the WAL's flush (`_without_flush_wait`), so the last of them may be lost,
  and those messages go again: sent twice, never lost.

With routes (POLL_SMS_ROUTES, sms.routes) each route has a thread of its
own, with its own kept connection to the gateway, that claims the route's
numbers, only while fewer than POLL_SMS_WINDOW of that route's messages are
in flight (claimed and not yet acknowledged by the SMSC), takes each
message's segments from its route's shared budget before sending it
(services.messaging.sms_routes), sends, and records each answer: the routes'
caps replace POLL_SMS_RATE, and a route that has to wait (for its budget, its
window, or a slow SMSC) does not hold up the others. Sent one after another,
the routes shared one route's speed: smsbox answers a message only once
bearerbox has it, and that wait, not our work, was most of each send. Replies to phones never wait
in the outbox: Kannel sends them at once, ahead of every invitation still
here, and they are charged to their route's budget (web.sms).

It also keeps the retention rule, as the one process every sending
installation runs: when it starts and then every `Settings.purge_every`
seconds it destroys the contact data of polls closed longer than their
retention period (services.audience.retention).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta

import sqlalchemy as sa
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
SYNCHRONOUS_COMMIT_OFF = sa.text("SET LOCAL synchronous_commit TO OFF")


def _without_flush_wait(session: so.Session) -> None:
    """On PostgreSQL, let this transaction's commit return before the WAL's flush.

    For the dispatcher's claims, budgets and send records: each holds a row
    every route's thread of every dispatcher takes (the route's, or the poll's
    "sent" counter), and waiting for the flush while holding it let one
    transaction through per flush. A database crash (not a dispatcher's) may
    then lose the last of them: a claim or record lost that way puts its
    messages back to go again, so they may be sent twice, never lost.
    """
    if dialects.of(session).name == "postgresql":
        session.execute(SYNCHRONOUS_COMMIT_OFF)


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
        self._lock = threading.Lock()  # the report and the outage pause, shared by the routes' threads
        self._gate = threading.Lock()  # held while the dispatcher pauses for a gateway outage: no route claims
        self._outages = 0  # outages met so far: a route's outage pauses once, not again for each route
        self._pause = 0.0  # the last pause; while set, each route tries one message at a time

    def run(self, *, once: bool = False, should_stop: Callable[[], bool] = lambda: False) -> Report:
        """Send until stopped; with `once`, until nothing is due or the gateway is down."""
        report = Report()
        if self.settings.routes:
            self._prepare_routes()
            self._run_routes(report, once, should_stop)
            with self.sessions() as session:
                report.counts = outbox.state_counts(session)
            return report
        pause = 0.0
        purged_at = None
        while not should_stop():
            if purged_at is None or self.clock() - purged_at >= self.settings.purge_every:
                report.purged += self._purge_due()
                purged_at = self.clock()
            claimed = self._claim(1 if pause else self.settings.batch)
            if not claimed:
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
        with self.sessions() as session:
            dialects.of(session).begin_write(session)
            claimed = outbox.claim(session, batch=batch, now=utcnow(), lease=self.settings.lease,
                                   horizon=self.settings.horizon)
            jobs = [outbox.outgoing(message, self.settings.dlr_url(message.id)) for message in claimed]
            session.commit()
        return jobs

    def _run_routes(self, report: Report, once: bool, should_stop: Callable[[], bool]) -> None:
        """Run a thread per route until each is done (see the module's notes); purge on schedule meanwhile."""
        report.purged += self._purge_due()
        purged_at = self.clock()
        stop = threading.Event()
        failures: list[BaseException] = []

        def work(route: Route) -> None:
            try:
                self._route_loop(route, report, once, lambda: stop.is_set() or should_stop(), stop)
            except BaseException as error:  # re-raised by the dispatcher's own thread, once every route stopped
                failures.append(error)
                stop.set()

        threads = [threading.Thread(target=work, args=(route,), name=f"sms-route-{route.name}", daemon=True)
                   for route in self.settings.routes]
        for thread in threads:
            thread.start()
        for thread in threads:
            while thread.is_alive():
                thread.join(timeout=1.0)
                if self.clock() - purged_at >= self.settings.purge_every:
                    report.purged += self._purge_due()
                    purged_at = self.clock()
        if failures:
            raise failures[0]

    def _route_loop(self, route: Route, report: Report, once: bool, should_stop: Callable[[], bool],
                    stop: threading.Event) -> None:
        """One route's claims and sends; with `once`, until nothing of it is due or the gateway is down."""
        close = getattr(self.gateway, "close", None)
        try:
            while not should_stop():
                with self._gate:  # waits out another route's pause for an outage
                    outages, probing = self._outages, bool(self._pause)
                claimed, window_full = self._claim_route(route, 1 if probing else self.settings.batch)
                if not claimed:
                    if window_full:
                        self.sleep(WINDOW_LOOK)  # the SMSC's acknowledgements open the window within moments
                        continue
                    if once:
                        break
                    self.sleep(self.settings.idle)  # an idle route looks for new messages now and then
                    continue
                if self._send_route(route, claimed, report):
                    with self._lock:
                        self._pause = 0.0
                    continue
                if once:
                    with self._lock:
                        report.outages += 1
                        report.unavailable = True
                    stop.set()
                    break
                self._outage(report, outages)
        finally:
            if close is not None:
                close()  # this thread's kept connection

    def _outage(self, report: Report, seen: int) -> None:
        """Pause every route, doubling the pause, unless another route already paused for this outage."""
        with self._gate:
            if self._outages != seen:
                return  # another route met the same outage and has waited it out meanwhile
            self._outages += 1
            with self._lock:
                report.outages += 1
                self._pause = min(max(2 * self._pause, 1.0), self.settings.max_pause)
                pause = self._pause
            log.warning("the %s gateway is unavailable: pausing %.0f s", self.gateway.name, pause)
            self.sleep(pause)  # waiting out the outage before one message tries again

    def _claim_route(self, route: Route, batch: int) -> tuple[list, bool]:
        """Claim `route`'s due messages, as many as its window has room for; and whether a full window held
        some back."""
        settings = self.settings
        with self.sessions() as session:
            dialects.of(session).begin_write(session)
            _without_flush_wait(session)  # the claim holds the route's row, which every claim and budget waits on
            now = utcnow()
            room = sms_routes.room(session, route, window=settings.window, now=now, timeout=settings.window_timeout)
            # A claim takes at most a quarter of the window, so that several dispatchers share a route.
            claimed = outbox.claim(session, batch=min(batch, room, max(settings.window // 4, 1)), now=now,
                                   lease=settings.lease, horizon=settings.horizon, sms_routes=settings.routes,
                                   route=route, expire=route is settings.routes[0]) if room else []
            jobs = [outbox.outgoing(message, settings.dlr_url(message.id)) for message in claimed]
            session.commit()
        return jobs, not room and self._due_on(route)

    def _due_on(self, route: Route) -> bool:
        with self.sessions() as session:
            return outbox.has_due(session, now=utcnow(), lease=self.settings.lease, sms_routes=self.settings.routes,
                                  route=route)

    def _budget(self, route: Route, jobs: list) -> Iterator[tuple[int, object]]:
        """`jobs` (all of `route`) as the route's budget pays for them: a run of them at a time, in one
        transaction (sms_routes.take_many), waiting for the bucket to refill between runs."""
        position = 0
        while position < len(jobs):
            with self.sessions() as session:
                dialects.of(session).begin_write(session)
                _without_flush_wait(session)  # a budget lost in a database crash is a moment over the cap, no more
                count, wait = sms_routes.take_many(session, route, [job.segments for job in jobs[position:]],
                                                   now=self.wall(), longest=self.settings.longest)
                session.commit()
            for _ in range(count):
                yield position, jobs[position]
                position += 1
            if wait:
                self.sleep(wait)  # the route is at its cap: waiting for its bucket to refill

    def _send_route(self, route: Route, jobs: list, report: Report) -> bool:
        """Send a claim of `route`'s messages; False if the gateway turned out to be unavailable (the rest go
        back)."""
        return self._send(jobs, report, self._budget(route, jobs))

    def _send(self, jobs: list, report: Report, order: Iterator[tuple[int, object]] | None = None) -> bool:
        """Send a claim's messages (in `order`, else as claimed, paced at the rate); False if the gateway turned
        out to be unavailable (the rest go back)."""
        renew_every = self.settings.lease.total_seconds() / 3
        renewed = self.clock()
        sent: set[int] = set()
        for position, job in enumerate(jobs) if order is None else order:
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
                # The record holds its poll's "sent" counter, one row every route's thread of every dispatcher
                # writes: waiting for the WAL's flush while holding it let one record through per flush, and the
                # acknowledgements queued behind.
                _without_flush_wait(session)
                outbox.record(session, job.message_id, result, now=utcnow())
                if self.clock() - renewed >= renew_every:
                    outbox.renew(session, [later.message_id for place, later in enumerate(jobs) if place not in sent],
                                 now=utcnow())
                    renewed = self.clock()
                session.commit()
            with self._lock:
                if result.accepted:
                    report.handed += 1
                else:
                    report.refused += 1
        return True
