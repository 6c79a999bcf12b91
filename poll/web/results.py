"""Public results: the published polls, each poll's figures and its methodology statement.

Aggregates only, small cells suppressed, and the caveats of a self-selected
poll; every figure comes from the poll's public snapshot (services.releases.publication).
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy.orm as so
from flask import Blueprint, current_app, render_template, request, url_for

from poll.db import begin_write, get_session
from poll.errors import NotFound
from poll.i18n import choose_language
from poll.models import Poll, utcnow
from poll.services.definition import polls
from poll.services.releases import release
from poll.vocabulary import PollStatus
from poll.web import figures, public

bp = Blueprint("results", __name__, url_prefix="/results")
PUBLIC_CACHE = {"Cache-Control": "public, max-age=60"}


@bp.get("", strict_slashes=False)
def index():
    """The polls the public may see, newest first, each with its last release's N and leading answer."""
    language = choose_language(request.args.get("lang"))
    session = get_session()
    listed = [poll for poll in polls.list_polls(session) if poll.status != PollStatus.DRAFT]
    listed.sort(key=lambda poll: poll.created_at, reverse=True)
    entries = [public.entry(poll, release.last_public(session, poll), language) for poll in listed]
    return render_template("results/index.html", entries=entries), 200, PUBLIC_CACHE


@bp.get("/<slug>", endpoint="public")
def poll_page(slug: str):
    """The shareable summary of poll `slug`: the question, the estimate, who answered, each question's figures."""
    found = _published(slug)
    if found is None:
        return render_template("errors/page.html", code=404), 404
    poll, published, outcome, language = found
    labels = figures.option_labels(outcome, language)
    shown = public.headline(outcome, labels)
    now = utcnow()
    page = render_template(
        "results/public.html",
        poll=poll,
        results=outcome,
        published=published,
        published_at=published.published_at,
        simulated=public.is_simulated(published),
        charts=figures.build(outcome, language, map_option=request.args.get("option"), public=True),
        labels=labels,
        headline=shown,
        description=public.summary(outcome, shown),
        groups=public.groups(outcome, language),
        question_bars=public.question_bars(outcome, language),
        share_url=f"{current_app.config['BASE_URL'].rstrip('/')}{url_for('results.public', slug=poll.slug)}",
        group=public.group_figures(outcome, labels, request.args.get("group"), language),
        sender=public.sender(poll, language, current_app.config["SMS_SENDER"]),
        field_dates=release.field_dates(get_session(), poll, now=now),
        now=now,
    )
    return page, 200, PUBLIC_CACHE


@bp.get("/<slug>/methodology")
def methodology_page(slug: str):
    """Poll `slug`'s methodology statement, from the same snapshot as its public figures."""
    found = _published(slug)
    if found is None:
        return render_template("errors/page.html", code=404), 404
    poll, published, outcome, _language = found
    dates = release.field_dates(get_session(), poll, now=utcnow())
    statement = release.public_methodology(get_session(), poll, published, sms_sender=current_app.config["SMS_SENDER"],
                                           dates=dates, contact=current_app.config["CONTACT"])
    return render_template("results/methodology.html", poll=poll, results=outcome, statement=statement,
                           field_dates=dates, published_at=published.published_at,
                           simulated=public.is_simulated(published)), 200, PUBLIC_CACHE


def _published(slug: str):
    # The poll, its snapshot read back as Results, and the page's language; None when the public may not see it.
    session = get_session()
    try:
        poll = polls.get_published_poll(session, slug)
    except NotFound:
        choose_language(request.args.get("lang"))
        return None
    language = choose_language(request.args.get("lang"), None, poll.default_language)
    published = public_figures(session, poll)
    return poll, published, release.public_results(poll, published), language


def public_figures(session: so.Session, poll: Poll) -> release.Publication:
    """The poll's public snapshot, refreshed first when due (then as a writer, in a transaction of its own)."""
    now, interval = utcnow(), refresh_interval()
    if release.public_is_due(session, poll, now=now, refresh_after=interval):
        session.rollback()  # end the read: a refresh writes, and on SQLite takes the write lock from its start
        begin_write(session)
    published = release.public(session, poll, now=now, refresh_after=interval)
    session.commit()
    return published


def refresh_interval() -> timedelta:
    """How long public figures stay as they are at least (POLL_PUBLIC_REFRESH_MINUTES)."""
    return timedelta(minutes=float(current_app.config["PUBLIC_REFRESH_MINUTES"]))
