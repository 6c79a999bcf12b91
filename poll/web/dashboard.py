"""The operator dashboard: every figure of a poll, refreshed while the poll is open."""

from __future__ import annotations

from flask import Blueprint, abort, g, render_template, request

from poll.db import begin_write, get_session
from poll.errors import NotFound
from poll.i18n import current_language
from poll.models import utcnow
from poll.services import polls, results, tallies
from poll.web import figures
from poll.web.auth import login_required

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")


@bp.get("/")
@login_required
def index():
    """Every poll with its status and counts."""
    session = get_session()
    rows = [(poll, results.funnel(session, poll)) for poll in polls.list_polls(session)]
    return render_template("dashboard/index.html", rows=rows, server_refused=_server_refusals(session))


def _server_refusals(session) -> dict[str, int]:
    # Attempts that named no poll (links that do not exist), by kind.
    return {name.removeprefix("refused:"): value for name, value in tallies.server_counters(session).items()
            if name.startswith("refused:") and value}


@bp.get("/<slug>")
@login_required
def poll_page(slug: str):
    """The whole dashboard of poll `slug`."""
    return _render("dashboard/poll.html", slug)


@bp.get("/<slug>/panel")
@login_required
def panel(slug: str):
    """The figures alone, for the page's script to swap in while the poll is open."""
    return _render("dashboard/_panel.html", slug)


def _render(template: str, slug: str):
    session = get_session()
    begin_write(session)  # the figures may grow the poll's shown set (services.suppression)
    try:
        poll = polls.get_poll(session, slug)
    except NotFound:
        abort(404)
    outcome = results.poll_results(session, poll)
    session.commit()
    language = current_language()
    charts = figures.build(outcome, language, map_option=request.args.get("option"))
    return render_template(
        template,
        poll=poll,
        results=outcome,
        charts=charts,
        labels=figures.option_labels(outcome, language),
        is_live=poll.phase(utcnow()) == "open",
        now=utcnow(),
        operator=g.operator,
        server_refused=_server_refusals(session),
    )
