"""The JSON API and the exports: public aggregates, and answer data for logged-in operators."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator

from flask import Blueprint, Response, g, jsonify, stream_with_context

from poll.db import get_session
from poll.errors import NotFound
from poll.reports import results_json
from poll.services import audit, exports, polls, results
from poll.web.auth import admin_required, login_required

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def _poll_or_404(slug: str):
    try:
        return polls.get_poll(get_session(), slug)
    except NotFound:
        return None


def _not_found(slug: str):
    return jsonify(error="not-found", message=f"no poll with slug {slug!r}"), 404


@bp.get("/polls/<slug>/results")
def poll_results(slug: str):
    """Results of a poll as JSON: public, aggregates only, small cells suppressed."""
    poll = _poll_or_404(slug)
    if poll is None:
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
    poll = _poll_or_404(slug)
    if poll is None:
        return _not_found(slug)
    if fmt not in ("csv", "json"):
        return jsonify(error="bad-format", message="use .csv or .json"), 404
    session = get_session()
    audit.record(session, "export", slug, operator_id=g.operator.id, detail={"what": what, "format": fmt})
    session.commit()
    header, rows = rows_of(session, poll)
    body = _csv(header, rows) if fmt == "csv" else _json_lines(header, rows)
    mimetype = "text/csv" if fmt == "csv" else "application/x-ndjson"
    filename = f"{slug}-{what}.{'csv' if fmt == 'csv' else 'jsonl'}"
    return Response(stream_with_context(body), mimetype=mimetype,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def _csv(header: list[str], rows: Iterator[tuple]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    for count, row in enumerate(rows, start=1):
        writer.writerow(row)
        if count % 1000 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _json_lines(header: list[str], rows: Iterator[tuple]) -> Iterator[str]:
    for row in rows:
        yield json.dumps(dict(zip(header, row, strict=True)), ensure_ascii=False, default=str) + "\n"
