"""Kannel on loopback for tests: bearerbox, the fakesmsc SMSC simulator and smsbox, with our own config."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from tests import logs
from tests.servers import free_port

BEARERBOX = Path("/usr/sbin/bearerbox")
SMSBOX = Path("/usr/sbin/smsbox")
FAKESMSC = Path("/usr/lib/kannel/test/fakesmsc")
USERNAME, PASSWORD = "poll", "poll-test-pass"


@dataclass
class Kannel:
    folder: Path
    app_port: int
    secret: str
    mo_by: str = "post-url"  # how smsbox hands an incoming SMS to the app: "post-url" or "get-url"
    ports: dict[str, int] = field(default_factory=dict)
    fakesmscs: dict[str, subprocess.Popen] = field(default_factory=dict)
    processes: list[subprocess.Popen] = field(default_factory=list)
    logs: list = field(default_factory=list)
    fakesmsc: subprocess.Popen | None = None
    smsbox: subprocess.Popen | None = None
    # Several SMSCs, one per route (its smsc-id), each with a fakesmsc of its own; none: one SMSC for everything.
    smscs: tuple[str, ...] = ()

    @property
    def sendsms_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['sendsms']}/cgi-bin/sendsms"

    def config(self) -> str:
        if self.mo_by == "get-url":  # the older contract: sender and text in the query string
            mo = (f'get-url = "http://127.0.0.1:{self.app_port}/sms/kannel/mo?secret={self.secret}'
                  '&from=%p&to=%P&text=%a&id=%I&ts=%T&coding=%c"')
        else:  # the text as the body, the sender in X-Kannel-From: nothing personal in the URL
            mo = f'post-url = "http://127.0.0.1:{self.app_port}/sms/kannel/mo?secret={self.secret}&id=%I"\nsend-sender = true'
        return f"""group = core
admin-port = {self.ports['admin']}
admin-password = test-admin
admin-deny-ip = "*.*.*.*"
admin-allow-ip = "127.0.0.1"
smsbox-port = {self.ports['smsbox']}
box-deny-ip = "*.*.*.*"
box-allow-ip = "127.0.0.1"
dlr-storage = internal
log-level = 2

{self._smsc_groups()}
group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = {self.ports['smsbox']}
sendsms-port = {self.ports['sendsms']}
sendsms-interface = 127.0.0.1
http-request-retry = 60
http-queue-delay = 1
log-level = 4
reply-couldnotfetch = ""
reply-couldnotrepresent = ""
reply-requestfailed = ""
reply-emptymessage = ""

group = sendsms-user
username = {USERNAME}
password = {PASSWORD}
user-deny-ip = "*.*.*.*"
user-allow-ip = "127.0.0.1"
max-messages = 5
concatenation = true

group = sms-service
keyword = default
catch-all = true
{mo}
max-messages = 6
concatenation = true
accept-x-kannel-headers = true
omit-empty = true
"""

    def _smsc_groups(self) -> str:
        # One group per route: smsc-id names it for sendsms's smsc=, allowed-smsc-id keeps other routes' messages
        # off it (a reply goes out through the SMSC its message came in by).
        if not self.smscs:
            return f"""group = smsc
smsc = fake
smsc-id = FAKE
port = {self.ports['smsc']}
connect-allow-ip = 127.0.0.1
"""
        return "\n".join(f"""group = smsc
smsc = fake
smsc-id = {smsc}
allowed-smsc-id = {smsc}
port = {self.ports[f'smsc-{smsc}']}
connect-allow-ip = 127.0.0.1
""" for smsc in self.smscs)

    def start(self) -> None:
        smscs = [f"smsc-{smsc}" for smsc in self.smscs] or ["smsc"]
        self.ports = {name: free_port() for name in ("admin", "smsbox", "sendsms", *smscs)}
        conf = self.folder / "kannel.conf"
        conf.write_text(self.config())
        # The order of Kannel's own check_fakesmsc.sh: bearerbox, then the SMSC, then smsbox.
        # bearerbox -v 2: warnings and errors only. At "info" smsbox logs every message it
        # sends, personal links included, and at "debug" every callback URL with its secret.
        self._spawn([str(BEARERBOX), "-v", "2", str(conf)], "bearerbox.log")
        for smsc in smscs:
            wait_for_port(self.ports[smsc])
            fakesmsc = subprocess.Popen(
                [str(FAKESMSC), "-H", "127.0.0.1", "-r", str(self.ports[smsc]), "-m", "-1"],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._log(self._phones_log(smsc)),
            )
            self.processes.append(fakesmsc)
            self.fakesmscs[smsc.removeprefix("smsc-")] = fakesmsc
            self.fakesmsc = self.fakesmsc or fakesmsc
        self.start_smsbox()

    @staticmethod
    def _phones_log(smsc: str) -> str:
        return "fakesmsc.log" if smsc == "smsc" else f"fakesmsc-{smsc.removeprefix('smsc-')}.log"

    def start_smsbox(self) -> None:
        """Start smsbox (again): sendsms answers once it listens.

        -v 4 (and log-level 4): panics only. smsbox logs each callback it
        cannot deliver at ERROR with its whole URL, the secret in it, every
        few seconds for as long as the app is down.
        """
        self.smsbox = self._spawn([str(SMSBOX), "-v", "4", str(self.folder / "kannel.conf")], "smsbox.log")
        wait_for_port(self.ports["sendsms"])

    def stop_smsbox(self) -> None:
        """Stop smsbox, as an outage of the gateway would: sendsms stops answering."""
        self.smsbox.terminate()
        self.smsbox.wait(timeout=30)
        self.processes.remove(self.smsbox)

    def _log(self, name: str):
        if not name.startswith("fakesmsc"):  # the phones' side, not the gateway's: it holds their numbers and messages
            logs.register(self.folder / name)
        handle = (self.folder / name).open("ab")
        self.logs.append(handle)
        return handle

    def _spawn(self, command: list[str], log: str) -> subprocess.Popen:
        process = subprocess.Popen(command, stdout=self._log(log), stderr=subprocess.STDOUT)
        self.processes.append(process)
        return process

    def gateway_logs(self) -> str:
        """What bearerbox and smsbox logged (fakesmsc is the phones' side, not ours)."""
        return "".join((self.folder / name).read_text(errors="replace") for name in ("bearerbox.log", "smsbox.log"))

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for fakesmsc in self.fakesmscs.values():
            fakesmsc.stdin.close()
        for handle in self.logs:
            handle.close()

    def inject(self, sender: str, text: str, smsc: str | None = None) -> None:
        """A phone sends an SMS (through the SMSC `smsc`, else the first): fakesmsc hands it on as UCS-2."""
        body = urllib.parse.quote(text.encode("utf-16-be"), safe="")
        fakesmsc = self.fakesmscs[smsc] if smsc else self.fakesmsc
        fakesmsc.stdin.write(f"{sender} 12345 ucs2 {body}\n".encode())
        fakesmsc.stdin.flush()

    def received(self, smsc: str | None = None) -> list[str]:
        """Messages fakesmsc has received so far, as "RECEIVER TEXT", long ones put back together."""
        return [f"{receiver} {text}" for _sender, receiver, text in self.messages(smsc)]

    def messages(self, smsc: str | None = None) -> list[tuple[str, str, str]]:
        """Messages fakesmsc (the one of SMSC `smsc`, else the first) has received so far, as (sender, receiver,
        text), in the order it got them, long ones put back together."""
        texts, parts = [], {}
        name = self._phones_log(f"smsc-{smsc}" if smsc else f"smsc-{self.smscs[0]}" if self.smscs else "smsc")
        for line in (self.folder / name).read_text(errors="replace").splitlines():
            if "Got message" not in line or not line.endswith(">"):
                continue  # not a message, or one fakesmsc is still writing
            fields = line.split("<", 1)[1].rsplit(">", 1)[0].split(" ", 3)
            if (len(fields) < 4 or fields[2] not in ("text", "data", "udh", "ucs-2")) and texts:
                # fakesmsc's protocol is a line a message: a plain-text reply's line breaks reach it as
                # messages of their own, each the next line of the one before.
                sender, receiver, text = texts[-1]
                texts[-1] = (sender, receiver, f"{text}\n{' '.join(fields)}")
                continue
            sender, receiver, kind, rest = fields
            if kind == "udh":
                # A part of a concatenated message: UDH 05 00 03 <reference> <total> <number>.
                udh, _data, body = rest.split(" ", 2)
                header = urllib.parse.unquote_to_bytes(udh)
                reference, total, number = header[3], header[4], header[5]
                pieces = parts.setdefault((receiver, reference), {})
                pieces[number] = _octets(body)
                if len(pieces) == total:
                    whole = b"".join(pieces[i] for i in range(1, total + 1))
                    texts.append((sender, receiver, _decode(whole)))
                    del parts[(receiver, reference)]
            elif kind == "ucs-2":
                texts.append((sender, receiver, _octets(rest).decode("utf-16-be")))
            else:
                texts.append((sender, receiver, urllib.parse.unquote(rest.replace("+", " "))))
        return texts


def _octets(logged: str) -> bytes:
    # fakesmsc logs octets URL-encoded, with "+" for the byte 0x20.
    return urllib.parse.unquote_to_bytes(logged.replace("+", "%20"))


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-16-be")
    except UnicodeDecodeError:
        return data.decode("latin-1")


class DownApp:
    """The app's port while the app is down: each connection is taken and closed unanswered, and counted."""

    def __init__(self, port: int):
        self.listener = socket.create_server(("127.0.0.1", port))
        self.attempts = 0
        self.thread = threading.Thread(target=self._refuse, daemon=True)
        self.thread.start()

    def _refuse(self) -> None:
        while True:
            try:
                connection, _address = self.listener.accept()
            except OSError:  # closed: the app is coming back
                return
            connection.close()
            self.attempts += 1

    def close(self) -> None:
        self.listener.close()
        self.thread.join(timeout=5)


def wait_for_port(port: int, timeout: float = 30) -> None:
    """Return once something listens on 127.0.0.1:`port`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)  # polling a port that is not open yet, bounded by the deadline
    raise RuntimeError(f"nothing listens on port {port} after {timeout} s")


def eventually(check, timeout: float = 60, what: str = "condition"):
    """Poll `check` until it returns a truthy value; raise after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last value {value!r}")
        time.sleep(0.1)  # polling for an effect of another process, bounded by the deadline
