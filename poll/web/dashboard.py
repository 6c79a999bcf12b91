"""The operator dashboard: every figure of a poll, refreshed while the poll is open."""

from __future__ import annotations

from flask import Blueprint, abort, g, render_template, request

from poll.db import begin_write, get_session
from poll.errors import NotFound
from poll.i18n import current_language
from poll.models import utcnow
from poll.services.definition import polls
from poll.services.releases import release
from poll.web import figures
from poll.web.auth import login_required

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")


@bp.get("/")
@login_required
def index():
    """Every poll with its status and counts."""
    session = get_session()
    rows = release.polls_at_a_glance(session, polls.list_polls(session))
    return render_template("dashboard/index.html", rows=rows, server_refused=release.server_refusals(session))


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
    begin_write(session)  # the figures may grow the poll's shown set (services.releases.suppression)
    try:
        poll = polls.get_poll(session, slug)
    except NotFound:
        abort(404)
    outcome = release.dashboard(session, poll, g.operator)
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
        server_refused=release.server_refusals(session),
    )
