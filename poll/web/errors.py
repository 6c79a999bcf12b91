"""Error pages in the visitor's language, and JSON problems under /api/.

Every HTTP error the app raises keeps the headers that belong to it (Allow on
405, Retry-After on 429). Under /api/ errors are RFC 9457 problem documents
(`application/problem+json`), since scripts read them; elsewhere they are
pages for people.
"""

from __future__ import annotations

import sqlite3

import psycopg
import sqlalchemy as sa
from flask import Flask, current_app, g, jsonify, render_template, request
from werkzeug.exceptions import HTTPException, InternalServerError, ServiceUnavailable

API_PREFIX = "/api/"
RESPONDENT_PREFIX = "/p/"

TITLES = {
    400: "Bad request",
    401: "Login required",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request too large",
    429: "Too many requests",
    500: "Internal error",
    503: "Busy",
}


def init_app(app: Flask) -> None:
    """Render HTTP errors as our own pages, and a busy database as 503 rather than 500."""
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(sa.exc.OperationalError, _database_busy)
    # The respondent's pages run their statements on the driver's cursor (poll.db.direct): its own errors.
    for driver_error in (sqlite3.OperationalError, psycopg.OperationalError):
        app.register_error_handler(driver_error, _driver_busy)


def problem(status: int, detail: str, *, kind: str | None = None, headers: dict | None = None):
    """An application/problem+json response: {type, title, status, detail}."""
    response = jsonify(type=f"about:blank#{kind}" if kind else "about:blank",
                       title=TITLES.get(status, "Error"), status=status, detail=detail)
    response.status_code = status
    response.mimetype = "application/problem+json"
    response.headers.update(headers or {})
    return response


def wants_json() -> bool:
    """Whether this request is an API call (its errors are JSON, not pages)."""
    return request.path.startswith(API_PREFIX)


def _http_error(error: HTTPException):
    code = 500 if isinstance(error, InternalServerError) else (error.code or 500)
    headers = {name: value for name, value in error.get_headers() if name.lower() != "content-type"}
    if wants_json():
        return problem(code, error.description or TITLES.get(code, "Error"), headers=headers)
    return render_template(error_template(), code=code), code, headers


def error_template() -> str:
    """The error page for this request's reader: an operator, a respondent following a link, or anyone else."""
    if g.get("operator") is not None:
        return "errors/operator.html"
    if request.path.startswith(RESPONDENT_PREFIX):
        return "errors/error.html"  # speaks of the link in the message
    return "errors/page.html"


# What a database says when it is busy or out of reach, as opposed to a mistake in a statement.
_UNAVAILABLE = ("database is locked", "database is busy", "unable to open database", "could not connect",
                "server closed the connection", "terminating connection", "connection refused")


def _database_busy(error: sa.exc.OperationalError):
    # SQLite answers "database is locked" when a writer held the lock past the
    # busy timeout, PostgreSQL may be restarting: say so and ask to retry,
    # instead of an opaque 500. Anything else is a fault of ours and stays a 500.
    return _unavailable(error, error.orig or error, invalidated=error.connection_invalidated)


def _driver_busy(error: sqlite3.OperationalError | psycopg.OperationalError):
    # The same, raised by the driver itself; a PostgreSQL connection lost on the way is unavailable too.
    return _unavailable(error, error, invalidated=isinstance(error, psycopg.OperationalError))


def _unavailable(error: Exception, cause: object, *, invalidated: bool):
    reason = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
    if not (invalidated or any(part in reason.lower() for part in _UNAVAILABLE)):
        raise error
    current_app.logger.warning("database unavailable: %s", reason)
    return _http_error(ServiceUnavailable(retry_after=5))
