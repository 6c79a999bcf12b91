"""Static files with a version in their URL, so browsers keep them for a year instead of asking on every view.

Each `url_for("static", ...)` gets `v=`, a digest of the file's content: a
changed stylesheet has a new URL, so a long lifetime never serves an old one.
A request whose `v` is the file's current digest is answered as immutable for
a year; any other (an old page's, or none) revalidates as before.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

from flask import Flask, request

YEAR = 365 * 24 * 3600


def init_app(app: Flask) -> None:
    """Version every static URL and give a versioned request a year's cache lifetime."""
    folder = Path(app.static_folder)

    @cache
    def digest(filename: str) -> str | None:
        path = (folder / filename).resolve()
        if folder.resolve() not in path.parents or not path.is_file():
            return None
        return hashlib.sha256(path.read_bytes()).hexdigest()[:12]

    @app.url_defaults
    def _version(endpoint: str, values: dict) -> None:
        if endpoint == "static" and "v" not in values and (found := digest(values.get("filename", ""))):
            values["v"] = found

    @app.after_request
    def _lifetime(response):
        if request.endpoint == "static" and response.status_code == 200 and request.args.get("v") and \
                request.args["v"] == digest(request.view_args.get("filename", "")):
            response.cache_control.public = True
            response.cache_control.max_age = YEAR
            response.cache_control.immutable = True
            response.cache_control.no_cache = None
        return response
