"""The answer's echo across POST → redirect → GET: a short-lived sealed value in the URL, readable only by the server.

After an answer is recorded, the respondent's browser is sent to GET the
link's page again (so Back and Reload never ask to send the form again),
with `sent=<sealed>` in the URL to say "recorded" and to name the answer
given. The form works without cookies, so the echo cannot live in one.

The URL stays in the phone's history, so the sealed value must not say more
than the page said before: the answer is encrypted (a keystream of
HMAC-SHA256 over the server's secret, the link's token and a random nonce),
padded to one length whatever the answer, bound to the link by its tag, and
good for ECHO_MINUTES. After that the link looks as it would without it: for
an anonymous poll, unused. Without the token, which logs never hold, even the
server's key does not open it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
from datetime import datetime, timezone

from flask import current_app

ECHO_MINUTES = 15
_NONCE, _STAMP, _BODY, _TAG = 16, 8, 32, 16


def seal(token: str, code: str, *, now: datetime) -> str:
    """`code`, the answer recorded on link `token`, sealed for the redirect's URL."""
    raw = code.encode()
    body = bytes([len(raw)]) + raw if len(raw) < _BODY else b"\0"  # too long to echo: say "recorded" only
    body = body.ljust(_BODY, b"\0")
    nonce = secrets.token_bytes(_NONCE)
    stamp = struct.pack(">q", int(_utc(now).timestamp()))
    cipher = bytes(a ^ b for a, b in zip(body, _stream(token, nonce), strict=True))
    tag = _tag(token, nonce + stamp + cipher)
    return base64.urlsafe_b64encode(nonce + stamp + cipher + tag).decode().rstrip("=")


def open_(token: str, sealed: str | None, *, now: datetime) -> str | None:
    """The answer code sealed for link `token` ("" when it was too long to carry), or None when `sealed` is
    missing, forged, of another link or older than ECHO_MINUTES."""
    if not sealed or len(sealed) > 200:
        return None
    try:
        data = base64.urlsafe_b64decode(sealed + "=" * (-len(sealed) % 4))
    except (ValueError, TypeError):
        return None
    if len(data) != _NONCE + _STAMP + _BODY + _TAG:
        return None
    nonce, stamp = data[:_NONCE], data[_NONCE:_NONCE + _STAMP]
    cipher, tag = data[_NONCE + _STAMP:-_TAG], data[-_TAG:]
    if not hmac.compare_digest(tag, _tag(token, nonce + stamp + cipher)):
        return None
    age = _utc(now).timestamp() - struct.unpack(">q", stamp)[0]
    if not 0 <= age <= ECHO_MINUTES * 60:
        return None
    body = bytes(a ^ b for a, b in zip(cipher, _stream(token, nonce), strict=True))
    return body[1:1 + body[0]].decode(errors="replace")


def _key(purpose: bytes) -> bytes:
    secret = current_app.config["SECRET_KEY"]
    return hmac.new(secret.encode() if isinstance(secret, str) else secret, b"answer-echo:" + purpose,
                    hashlib.sha256).digest()


def _stream(token: str, nonce: bytes) -> bytes:
    return hmac.new(_key(b"stream"), token.encode() + b"\0" + nonce, hashlib.sha256).digest()[:_BODY]


def _tag(token: str, data: bytes) -> bytes:
    return hmac.new(_key(b"tag"), token.encode() + b"\0" + data, hashlib.sha256).digest()[:_TAG]


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
