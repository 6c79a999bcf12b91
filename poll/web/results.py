"""Public results: aggregates only, small cells suppressed, and the caveats of a self-selected poll."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from poll.db import get_session
from poll.errors import NotFound
from poll.i18n import choose_language
from poll.services import polls, results
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
    outcome = results.poll_results(session, poll)
    return render_template(
        "results/public.html",
        poll=poll,
        results=outcome,
        charts=figures.build(outcome, language, map_option=request.args.get("option"), public=True),
        labels=figures.option_labels(outcome, language),
    )
