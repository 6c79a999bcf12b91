"""Simulated phones answering a running server over real HTTP, spread over (accelerated) time.

Each event is a request a phone's browser would make: open a link (GET; an
answer opens it first), send an answer (POST option=CODE to the same URL). Loopback only, bounded in
count and time, and it stops by itself.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass


class LiveError(Exception):
    """The server cannot be used: not on loopback, or not answering."""


@dataclass(frozen=True, order=True)
class Event:
    at: float  # seconds after the start, in simulated time
    kind: str  # "open" (a look, left unanswered), "answer", "duplicate", "guess"
    token: str
    fields: tuple[tuple[str, str], ...] = ()  # what the form posts: ("option", "2"), ("age", "35")...


def check_target(base_url: str, timeout: float = 5.0) -> str:
    """The base URL without a trailing slash, once it is known to be a live poll server on loopback."""
    parts = urllib.parse.urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise LiveError(f"--live needs an http:// URL, not {base_url!r}")
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(parts.hostname, parts.port or 80)}
    except socket.gaierror as exc:
        raise LiveError(f"cannot resolve {parts.hostname}: {exc.strerror}") from None
    if not all(ipaddress.ip_address(address.split("%")[0]).is_loopback for address in addresses):
        raise LiveError(f"--live sends load only to this machine: {parts.hostname} is not a loopback address")
    base = base_url.rstrip("/")
    try:
        with urllib.request.urlopen(f"{base}/healthz", timeout=timeout) as response:
            if response.status != 200:
                raise LiveError(f"{base} answered {response.status} to /healthz: is it a poll server?")
    except urllib.error.HTTPError as exc:
        raise LiveError(f"{base} answered {exc.code} to /healthz: is it a poll server?") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise LiveError(f"cannot reach {base}: {reason} (start it with `poll serve` or scripts/run)") from None
    return base


def play(
    base: str,
    events: list[Event],
    *,
    speed: float,
    concurrency: int,
    max_seconds: float,
    on_done: Callable[[], None] = lambda: None,
    stop: threading.Event | None = None,
) -> Counter:
    """Send `events` at their times divided by `speed`; returns a count of (kind, HTTP status).

    A duplicate through a link is sent only once that link's answer has been
    sent, as a phone would. Events not sent within `max_seconds`, or once
    `stop` is set (a cancelled job), are counted as ("dropped", 0).
    """
    events = sorted(events)
    answered = {event.token: threading.Event() for event in events if event.kind == "answer"}
    start = time.monotonic()
    statuses: Counter = Counter()
    lock = threading.Lock()
    stop = stop if stop is not None else threading.Event()

    def send(event: Event) -> None:
        delay = start + event.at / speed - time.monotonic()
        if delay > 0:
            stop.wait(delay)  # the event's scheduled time
        if event.kind == "duplicate" and event.token in answered:
            answered[event.token].wait(max(0.0, start + max_seconds - time.monotonic()))
        if stop.is_set() or time.monotonic() - start > max_seconds:
            result = ("dropped", 0)
        else:
            result = (event.kind, _request(base, event))
        if event.kind == "answer":
            answered[event.token].set()
        with lock:
            statuses[result] += 1
        on_done()

    timer = threading.Timer(max_seconds, stop.set)
    timer.start()
    try:
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            list(pool.map(send, events))
    finally:
        timer.cancel()
    return statuses


def _request(base: str, event: Event) -> int:
    url = f"{base}/p/{event.token}"
    try:
        if event.kind in ("guess", "open"):
            return _open(urllib.request.Request(url))
        if event.kind == "answer":
            _open(urllib.request.Request(url))  # the phone opens the link first
        data = urllib.parse.urlencode(event.fields).encode()
        return _open(urllib.request.Request(url, data=data))
    except (urllib.error.URLError, OSError):
        return 0


def _open(request: urllib.request.Request) -> int:
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
