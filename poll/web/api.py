"""The JSON API and the exports: public aggregates, and answer data for logged-in operators.

Errors are problem documents (`application/problem+json`); without a login
or API token the exports answer 401, never a redirect to the HTML login.
"""

from __future__ import annotations

from flask import Blueprint, Response, g, jsonify, stream_with_context

from poll.db import begin_write, get_session
from poll.errors import NotFound
from poll.models import Poll
from poll.reports import results_json
from poll.services import audit, exports, polls, results
from poll.web.auth import admin_required, login_required
from poll.web.errors import problem

bp = Blueprint("api", __name__, url_prefix="/api/v1")

FORMATS = {"csv": ("text/csv", "csv"), "json": ("application/x-ndjson", "jsonl")}


def _not_found(slug: str):
    return problem(404, f"There is no poll with slug {slug!r}.", kind="not-found")


@bp.get("/polls/<slug>/results")
def poll_results(slug: str):
    """Results of a poll as JSON: public, aggregates only, small cells suppressed."""
    try:
        poll = polls.get_published_poll(get_session(), slug)
    except NotFound:
        return _not_found(slug)
    outcome = results.poll_results(get_session(), poll, with_timeline=False)
    return jsonify(exports.public_document(results_json(outcome), outcome))


@bp.get("/openapi.json")
def openapi():
    """The OpenAPI document of this API."""
    return jsonify(exports.openapi_document())


@bp.get("/polls/<slug>/answers.<fmt>")
@login_required
def answers_export(slug: str, fmt: str):
    """Every answer's anonymous fields, streamed as CSV or JSON lines."""
    return _export(slug, fmt, "answers", exports.answer_rows)


@bp.get("/polls/<slug>/links.<fmt>")
@admin_required
def links_export(slug: str, fmt: str):
    """Every link with its recipient's phone and state: admins only."""
    return _export(slug, fmt, "links", exports.link_rows)


@bp.get("/polls/<slug>/results.<fmt>")
@login_required
def results_export(slug: str, fmt: str):
    """The results table as CSV or JSON lines, a row per answer."""
    return _export(slug, fmt, "results", exports.result_rows)


def _export(slug: str, fmt: str, what: str, rows_of):
    session = get_session()
    begin_write(session)  # the export is audited before it streams
    try:
        poll: Poll = polls.get_poll(session, slug)
    except NotFound:
        return _not_found(slug)
    if fmt not in FORMATS:
        return problem(404, "Exports come as .csv or .json (JSON lines).", kind="unknown-format")
    audit.record(session, "export", slug, by=g.operator, detail={"what": what, "format": fmt})
    session.commit()
    header, rows = rows_of(session, poll)
    body = exports.csv_chunks(header, rows) if fmt == "csv" else exports.json_lines(header, rows)
    mimetype, extension = FORMATS[fmt]
    return Response(stream_with_context(body), mimetype=mimetype,
                    headers={"Content-Disposition": f'attachment; filename="{slug}-{what}.{extension}"'})
