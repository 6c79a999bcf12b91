"""SMS gateways behind one small interface: simulated (default), Kannel's smsbox, or a log.

A gateway takes one message and answers: accepted, refused (for good: this
message will never pass), or unavailable (no answer, or "try again later":
the gateway itself is down, and it says nothing about the message).
"""

from __future__ import annotations

import enum
import http.client
import logging
import threading
import urllib.parse
from dataclasses import dataclass
from typing import Protocol

from poll import phones
from poll.logs import mask

log = logging.getLogger("poll.sms")


@dataclass(frozen=True)
class Outgoing:
    message_id: int
    phone: str  # E.164
    text: str
    idempotency_key: str
    dlr_url: str  # where delivery reports for this message go
    sender: str | None = None  # the sender ID the phone shows (alphanumeric, or a number)
    smsc: str | None = None  # the route's smsc-id (sms.routes); None: whichever SMSC the gateway picks
    segments: int = 1  # what the message costs its route's budget


class Answer(enum.StrEnum):
    ACCEPTED = "accepted"
    REFUSED = "refused"  # this message, for good (bad number, not routable, authentication)
    UNAVAILABLE = "unavailable"  # the gateway, for now (unreachable, or a 5xx "try again later")


@dataclass(frozen=True)
class Sent:
    answer: Answer
    gateway_id: str | None = None
    error: str = ""

    @property
    def accepted(self) -> bool:
        return self.answer is Answer.ACCEPTED


class Gateway(Protocol):
    name: str

    def send(self, message: Outgoing) -> Sent: ...


class SimulatedGateway:
    """Accepts everything: the outbox row is the handset's inbox (/phone/<number>), and the simulator decides delivery."""

    name = "simulated"

    def send(self, message: Outgoing) -> Sent:
        return Sent(Answer.ACCEPTED, gateway_id=message.idempotency_key)


class LogGateway:
    """Writes each message to the log instead of sending it."""

    name = "log"

    def send(self, message: Outgoing) -> Sent:
        # The number masked like the phone view's heading: no log line holds a phone number.
        log.info("SMS to %s [%s]: %s", phones.mask(message.phone), message.idempotency_key, mask(message.text))
        return Sent(Answer.ACCEPTED, gateway_id=message.idempotency_key)


class KannelGateway:
    """Kannel's smsbox: GET /cgi-bin/sendsms, Unicode as UCS-2, delivery reports to our dlr-url.

    Each thread keeps its HTTP connection to smsbox open between messages: a
    new TCP connection per message costs more than smsbox's own work on it.
    A kept connection that smsbox has closed meanwhile is opened again once;
    only a fresh connection that fails says the gateway is unavailable.
    """

    name = "kannel"
    # Delivered (1), failed (2), SMSC accepted (8), SMSC rejected (16).
    DLR_MASK = 27

    def __init__(self, url: str, username: str, password: str, *, timeout: float = 10.0):
        self.url, self.username, self.password, self.timeout = url, username, password, timeout
        parts = urllib.parse.urlsplit(url)
        self._address, self._path = (parts.hostname or "127.0.0.1", parts.port or 80), parts.path or "/"
        self._kept = threading.local()

    def send(self, message: Outgoing) -> Sent:
        params = {
            "username": self.username,
            "password": self.password,
            "to": message.phone,
            "text": message.text,
            "charset": "UTF-8",
            "dlr-mask": str(self.DLR_MASK),
            "dlr-url": message.dlr_url,
        }
        if message.sender:
            # Without one, an smsbox that has no global-sender refuses every message.
            params["from"] = message.sender
        if not message.text.isascii():
            params["coding"] = "2"  # UCS-2: Arabic and Kurdish need it
        if message.smsc:
            params["smsc"] = message.smsc  # the route: bearerbox sends it through that smsc-id's binds only
        target = f"{self._path}?{urllib.parse.urlencode(params)}"
        while True:
            connection = getattr(self._kept, "connection", None)
            fresh = connection is None
            if fresh:
                connection = self._kept.connection = http.client.HTTPConnection(*self._address, timeout=self.timeout)
            try:
                connection.request("GET", target)
                response = connection.getresponse()
                body = response.read().decode("utf-8", "replace").strip()[:200]
            except (http.client.HTTPException, OSError) as error:
                self.close()
                if not fresh:
                    continue  # smsbox closed the kept connection while it was idle: once more, on a new one
                return Sent(Answer.UNAVAILABLE, error=f"cannot reach smsbox: {error}"[:200])
            if response.will_close:
                self.close()
            break
        if 200 <= response.status < 300:
            return Sent(Answer.ACCEPTED, gateway_id=message.idempotency_key, error=body)
        # smsbox: 4xx refuse this message (auth, routing, fields); 5xx say it cannot send now.
        answer = Answer.REFUSED if 400 <= response.status < 500 else Answer.UNAVAILABLE
        return Sent(answer, error=f"{response.status} {body}")

    def close(self) -> None:
        """Close this thread's kept connection (the next message opens another)."""
        connection = getattr(self._kept, "connection", None)
        self._kept.connection = None
        if connection is not None:
            connection.close()


def from_config(config) -> Gateway:
    """The gateway POLL_SMS_GATEWAY names; raises ValueError for an unknown name."""
    name = config["SMS_GATEWAY"]
    if name == "simulated":
        return SimulatedGateway()
    if name == "log":
        return LogGateway()
    if name == "kannel":
        return KannelGateway(config["KANNEL_SENDSMS_URL"], config["KANNEL_USERNAME"], config["KANNEL_PASSWORD"])
    raise ValueError(f"unknown SMS gateway {name!r}: use simulated, kannel or log")
