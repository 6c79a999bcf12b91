"""The server's front page and its icon: what this server is, and where to go from here."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for

from poll.i18n import choose_language

bp = Blueprint("home", __name__)


@bp.get("/")
def index():
    """What this server is, with links to the public results and the operator login."""
    choose_language(request.args.get("lang"))
    return render_template("home.html"), 200, {"Cache-Control": "public, max-age=300"}


@bp.get("/favicon.ico")
def favicon():
    """Browsers ask for /favicon.ico whatever the page says: send them to the icon."""
    return redirect(url_for("static", filename="favicon.svg"), code=301)
