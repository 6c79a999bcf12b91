"""Logs that never carry a personal link's token or a secret.

A token in a log is an answer waiting to be cast by whoever reads the log;
Kannel's callbacks carry POLL_SMS_SECRET in their query, and its get-url the
sender's number beside the reply's text, so every query value under /sms/ is
masked. Every log this
project configures passes through `mask`: the development server's request
lines (werkzeug), the app's own logger, the log gateway, and gunicorn's access
and error logs (`scripts/serve` runs gunicorn with `--logger-class
poll.logs.GunicornLogger`).
"""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote

from gunicorn.glogging import Logger as _GunicornLogger
from gunicorn.glogging import SafeAtoms

MASK = "…"
# A link or a handset's number runs to the end of the path: a decoded space does not end it, only the
# request line's " HTTP/", a query, a fragment or a quote (over-masking a line is the safe side).
_LINK = re.compile(r"(?P<keep>/p/|/phone/)(?:(?!\sHTTP/)[^?#\"'&<>\n])+", re.IGNORECASE)
_PARAM = re.compile(r"(?P<keep>\b(?:secret|password|token|sid|sent)=)[^&\s\"'<>]+", re.IGNORECASE)
_AUTH = re.compile(r"(?P<keep>\bBearer\s+)\S+", re.IGNORECASE)
# Each pattern with what a text must hold for it to match: most log lines need only the first, which is quick.
_SECRETS = ((_LINK, lambda lowered: "/p/" in lowered or "/phone/" in lowered),
            (_PARAM, lambda lowered: "=" in lowered),
            (_AUTH, lambda lowered: "bearer" in lowered))


# A URL under /sms/ and its query: Kannel's get-url puts the sender's number and
# the reply's text there (from=…&text=…), which side by side are an answer.
# The path may come percent-encoded (`/%73ms/`): the router would decode it.
_SMS_QUERY = re.compile(r"(?P<path>(?:/|%2f)(?:s|%73)(?:m|%6d)(?:s|%73)(?:/|%2f)[^\s?#\"'<>]*\?)"
                        r"(?P<query>[^\s#\"'<>]*)", re.IGNORECASE)
_QUERY_VALUE = re.compile(r"(?P<name>(?:^|[&;])[^&;=]*=)[^&;]*")


def mask(text: str) -> str:
    """`text` with link tokens, the simulated handset's number (/phone/<number>), secret query values, bearer
    tokens and every query value under /sms/ replaced by "…".

    Percent-encoding is decoded first, as often as it was applied: the
    router reads `/%70/<token>` as `/p/<token>`, and so must the mask. The
    values under /sms/ are masked before each decoding too, while a decoded
    space cannot yet cut a value short.
    """
    text = _mask_sms_queries(text)
    for _ in range(3):
        decoded = unquote(text)
        if decoded == text:
            break
        text = _mask_sms_queries(decoded)
    lowered = text.lower()
    for pattern, may_match in _SECRETS:
        if may_match(lowered):
            text = pattern.sub(_masked, text)
    return text


def _masked(found: re.Match) -> str:
    return found["keep"] + MASK


def _mask_sms_queries(text: str) -> str:
    return _SMS_QUERY.sub(lambda found: found["path"] + _QUERY_VALUE.sub(
        lambda value: value["name"] + MASK, found["query"]), text)


class MaskingFilter(logging.Filter):
    """Rewrites a log record's message with `mask`, arguments included."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask(message)
        if masked != message:
            record.msg, record.args = masked, ()
        return True


_FILTER = MaskingFilter()


def init_app(app) -> None:
    """Mask the app's logger and the development server's request log (`poll serve`)."""
    # Filters of a logger see only what is logged on it, not on its children:
    # modules log through app.logger ("poll") or mask what they log themselves.
    for logger in (app.logger, logging.getLogger("werkzeug")):
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


class _MaskedAtoms(SafeAtoms):
    """The access log's atoms, with the headers that carry a credential never shown.

    The rest is masked once, as the whole line (`_FILTER` on the access
    log): masking each atom the line's format reads as well cost more than
    the line itself, on every request.
    """

    _HIDDEN = frozenset({"{authorization}i", "{cookie}i", "{http_authorization}e", "{http_cookie}e"})

    def __getitem__(self, key):
        if key.lower() in self._HIDDEN:
            return MASK
        return super().__getitem__(key)


class GunicornLogger(_GunicornLogger):
    """gunicorn's logger with every access-log line and error message masked."""

    atoms_wrapper_class = _MaskedAtoms

    def setup(self, cfg) -> None:
        super().setup(cfg)
        for logger in (self.error_log, self.access_log):
            logger.addFilter(_FILTER)
