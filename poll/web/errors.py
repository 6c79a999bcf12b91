"""Error pages in the visitor's language, for every HTTP error the app can raise."""

from flask import Flask, render_template
from werkzeug.exceptions import HTTPException, InternalServerError


def init_app(app: Flask) -> None:
    """Render HTTP errors as pages of our own instead of Werkzeug's English ones."""
    app.register_error_handler(HTTPException, _http_error)


def _http_error(error: HTTPException):
    if isinstance(error, InternalServerError):
        code = 500
    else:
        code = error.code or 500
    return render_template("errors/error.html", code=code), code
