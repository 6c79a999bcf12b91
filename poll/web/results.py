"""Public results: aggregates only, small cells suppressed, and the caveats of a self-selected poll."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy.orm as so
from flask import Blueprint, current_app, render_template, request

from poll.db import begin_write, get_session
from poll.errors import NotFound
from poll.i18n import choose_language
from poll.models import Poll, utcnow
from poll.services import polls, publication
from poll.web import figures

bp = Blueprint("results", __name__, url_prefix="/results")


@bp.get("/<slug>")
def public(slug: str):
    """The shareable summary of poll `slug`."""
    session = get_session()
    try:
        poll = polls.get_published_poll(session, slug)
    except NotFound:
        choose_language(request.args.get("lang"))
        return render_template("errors/error.html", code=404), 404
    language = choose_language(request.args.get("lang"), None, poll.default_language)
    published = public_figures(session, poll)
    outcome = publication.as_results(poll, published.document)
    page = render_template(
        "results/public.html",
        poll=poll,
        results=outcome,
        published_at=published.published_at,
        refresh_minutes=current_app.config["PUBLIC_REFRESH_MINUTES"],
        charts=figures.build(outcome, language, map_option=request.args.get("option"), public=True),
        labels=figures.option_labels(outcome, language),
    )
    return page, 200, {"Cache-Control": "public, max-age=60"}


def public_figures(session: so.Session, poll: Poll) -> publication.Publication:
    """The poll's public snapshot, refreshed first when due (then as a writer, in a transaction of its own)."""
    now, interval = utcnow(), refresh_interval()
    if publication.is_due(session, poll, now=now, refresh_after=interval):
        session.rollback()  # end the read: a refresh writes, and on SQLite takes the write lock from its start
        begin_write(session)
    published = publication.current(session, poll, now=now, refresh_after=interval)
    session.commit()
    return published


def refresh_interval() -> timedelta:
    """How long public figures stay as they are at least (POLL_PUBLIC_REFRESH_MINUTES)."""
    return timedelta(minutes=float(current_app.config["PUBLIC_REFRESH_MINUTES"]))
