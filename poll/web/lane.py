"""The answer page's two commonest requests, served before Flask's request machinery.

After a national send nearly every request is one of two: a phone opening its
personal link (GET /p/<token>) and the same phone sending the whole form
(POST). For these two, Flask's request and response objects, its routing and
the app's hooks (CSRF, the limiter, the operator's session, the headers)
cost as much as the page's own work. The lane serves them on the WSGI
environ itself, through the same services and the same kept pages as
`poll.web.respond`, and with the same headers.

Anything else goes to the Flask app untouched, which does the same work the
long way: a request with a cookie (an operator's session), a query beyond
`?lang=`, a token that is not a link, a page this process has not rendered
yet, a link that cannot take the answer, a form that is not whole, a post over
its limit. A post the lane has read and counted but cannot record (another
request answered the link first) goes on with its body and the mark that it
was counted, so the app refuses it as it would have. So does a request
whose database work here failed (a database busy or gone): the failed
transaction was rolled back, and the app meets the error its own way, with
its error page.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from urllib.parse import parse_qsl, urlencode

from flask import Flask
from werkzeug.datastructures import LanguageAccept, MIMEAccept
from werkzeug.http import parse_accept_header
from werkzeug.utils import redirect

from poll.db.direct import Driver
from poll.i18n import LANGUAGES, Language, normalize
from poll.models import utcnow
from poll.services.answering import answers
from poll.vocabulary import Channel, Outcome
from poll.web import echo, headers, previewers, respond, throttle

_log = logging.getLogger(__name__)
_PATH = re.compile(r"/p/([A-Za-z0-9_-]{1,64})")
_QUERY = re.compile(r"(?:lang=[A-Za-z_-]{0,16})?")
_FORM = "application/x-www-form-urlencoded"
_BODY_LIMIT = 8 * 1024  # a whole form is a few hundred bytes; anything bigger takes the app's own checks

Response = tuple[str, list[tuple[str, str]], bytes]


class AnswerLane:
    """WSGI middleware: serve a plain GET or POST of a personal link here, everything else through `app`."""

    def __init__(self, app: Flask, wsgi_app: Callable) -> None:
        self.app = app
        self.wsgi_app = wsgi_app
        self._engine = app.extensions["poll.db"].kw["bind"]
        # As respond's and the app's hooks set them on these pages (poll.web.headers).
        self._headers = headers.completed(respond.PRIVATE_HEADERS, app.config["BASE_URL"])

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        served = self._serve(environ) if self._takes(environ) else None
        if served is None:
            return self.wsgi_app(environ, start_response)
        status, headers, body = served
        start_response(status, headers)
        return [body]

    def _takes(self, environ: dict) -> bool:
        method = environ["REQUEST_METHOD"]
        if method not in ("GET", "POST") or "HTTP_COOKIE" in environ:
            return False
        if not _PATH.fullmatch(environ.get("PATH_INFO", "")) or not _QUERY.fullmatch(environ.get("QUERY_STRING", "")):
            return False
        if method == "POST":
            length = environ.get("CONTENT_LENGTH") or ""
            return (environ.get("CONTENT_TYPE") == _FORM and length.isdigit()
                    and int(length) <= _BODY_LIMIT and not environ.get("HTTP_TRANSFER_ENCODING"))
        return True

    def _serve(self, environ: dict) -> Response | None:
        posting = environ["REQUEST_METHOD"] == "POST"
        body = environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"])) if posting else b""
        try:
            served = self._served(environ, body) if posting else self._served(environ)
        except Exception as exc:  # noqa: BLE001 - whatever failed was rolled back: the app does it again, its way
            _log.warning("the answer lane handed a request to the app after %s", type(exc).__name__)
            served = None
        if served is None and posting:
            environ["wsgi.input"] = io.BytesIO(body)  # the app reads the post again
        return served

    def _served(self, environ: dict, body: bytes | None = None) -> Response | None:
        posted = None if body is None else _form(body)
        if body is not None and posted is None:
            return None
        query = environ["QUERY_STRING"]
        # As request.values.get("lang"): the query's, else the form's (its hidden field).
        explicit = query[5:] if query else (posted or {}).get("lang", [None])[0]
        token, now = environ["PATH_INFO"][3:], utcnow()
        with self.app.app_context(), self._connection() as db:
            if posted is None:
                # A person's look is the link's first open, recorded with the look where the backend can:
                # should the app serve the page after all, it finds the link opened already.
                link = answers.look(db, token, now, a_persons_look=not previewers.is_preview(environ))
            else:
                link = answers.find_link(db, token)
            if link is None:
                return None
            language, negotiated = self._language(environ, explicit, link)
            if posted is None:
                served = self._look(link, language, now)
            else:
                served = self._answer(environ, db, link, language, posted, now)
        if served is not None:
            served[1].append(("Vary", "Accept-Language, Cookie" if negotiated else "Cookie"))
        return served

    def _look(self, link: answers.LinkState, language: Language, now: datetime) -> Response | None:
        # A fresh form, the same for every link of the poll, as respond shows it.
        if answers.shown_refusal(link, now) is not None:
            return None
        page = respond.kept_page(link, language, "respond/form.html")
        return self._page(200, page) if page is not None else None

    def _answer(self, environ: dict, db: Driver, link: answers.LinkState, language: Language,
                posted: dict[str, list[str]], now: datetime) -> Response | None:
        if answers.availability(link, now) is not None:
            return None
        submission = link.ballot.read(link.variant, posted)
        if not submission.is_complete:
            return None
        code = submission.values.get(link.ballot.headline.name)
        navigating = any(value == "text/html"
                         for value, _quality in parse_accept_header(environ.get("HTTP_ACCEPT"), MIMEAccept))
        page = None if navigating else respond.kept_page(link, language, "respond/recorded.html", chosen=code)
        if not navigating and page is None:
            return None
        if not throttle.allow("RATE_LIMIT_LINK_POSTS", "link-posts", link.link_id):
            return None  # the app counts it again (a post already over its limit) and refuses it
        environ[respond.COUNTED] = True  # from here, what is handed on was counted
        outcome = answers.record_answer(db, link, code, channel=Channel.WEB, now=now, values=submission.values)
        if outcome is not Outcome.RECORDED:
            return None
        if navigating:
            query = urlencode({"lang": language.code, "sent": echo.seal(link.token, str(code or ""), now=now)})
            moved = redirect(f"{environ.get('SCRIPT_NAME', '')}/p/{link.token}?{query}", 303)
            return self._page(303, moved.get_data(as_text=True), [("Location", moved.headers["Location"])])
        return self._page(201, page)

    def _language(self, environ: dict, explicit: str | None, link: answers.LinkState) -> tuple[Language, bool]:
        # As i18n.choose_language picks it: the switch, the recipient's, the browser's, the poll's, the app's.
        code = normalize(explicit) or normalize(link.language)
        negotiated = code is None
        if negotiated:
            accepted = parse_accept_header(environ.get("HTTP_ACCEPT_LANGUAGE"), LanguageAccept)
            code = normalize(accepted.best_match(["ar", "ckb", "ku", "en"]))
        return LANGUAGES[code or normalize(link.ballot.default_language)
                         or self.app.config["DEFAULT_LANGUAGE"]], negotiated

    def _page(self, status: int, page: str, extra: list[tuple[str, str]] = ()) -> Response:
        body = page.encode()
        return _STATUS[status], [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body))),
                                 *extra, *self._headers], body

    @contextlib.contextmanager
    def _connection(self) -> Iterator[Driver]:
        driver = Driver.checkout(self._engine)
        try:
            yield driver
        finally:
            driver.release()


_STATUS = {200: "200 OK", 201: "201 CREATED", 303: "303 SEE OTHER"}


def _form(body: bytes) -> dict[str, list[str]] | None:
    """A urlencoded body's fields as werkzeug reads them (request.form.to_dict(flat=False)); None if not UTF-8."""
    try:
        text = body.decode()
    except UnicodeDecodeError:
        return None
    posted: dict[str, list[str]] = {}
    for name, value in parse_qsl(text, keep_blank_values=True, errors="werkzeug.url_quote"):
        posted.setdefault(name, []).append(value)
    return posted
