"""The JSON API and the exports: public aggregates, and answer data for logged-in operators.

Errors are problem documents (`application/problem+json`); without a login
or API token the exports answer 401, never a redirect to the HTML login.
"""

from __future__ import annotations

from collections.abc import Iterator

import sqlalchemy.orm as so
from flask import Blueprint, Response, g, jsonify, request

from poll.db import begin_write, get_session, new_session
from poll.errors import Invalid, NotFound
from poll.i18n import normalize
from poll.models import Poll
from poll.services.access import audit
from poll.services.definition import polls
from poll.services.releases import release
from poll.services.releases.release import DELIMITERS, csv_chunks, json_lines
from poll.web import openapi
from poll.web.auth import admin_required, login_required
from poll.web.errors import problem
from poll.web.results import public_figures

bp = Blueprint("api", __name__, url_prefix="/api/v1")

FORMATS = {"csv": ("text/csv", "csv"), "json": ("application/x-ndjson", "jsonl")}
# Statistical packages' files of the answers, labelled in the page's language (?lang=ar|ku|en).
FILES = {"sav": ("application/x-spss-sav", "sav"), "dta": ("application/x-stata-dta", "dta")}


def _not_found(slug: str):
    return problem(404, f"There is no poll with slug {slug!r}.", kind="not-found")


@bp.get("/polls/<slug>/results")
def poll_results(slug: str):
    """Results of a poll as JSON: public, aggregates only, small cells suppressed."""
    session = get_session()
    try:
        poll = polls.get_published_poll(session, slug)
    except NotFound:
        return _not_found(slug)
    response = jsonify(public_figures(session, poll).document)
    response.headers["Cache-Control"] = "public, max-age=60"
    return response


@bp.get("/openapi.json")
def openapi_document():
    """The OpenAPI document of this API."""
    return jsonify(openapi.document())


@bp.get("/polls/<slug>/answers.<fmt>")
@login_required
def answers_export(slug: str, fmt: str):
    """Every answer's anonymous fields, streamed as CSV or JSON lines."""
    return _export(slug, fmt, "answers", release.answer_rows)


# What each column of the answers export means, and syntax that labels the CSV: the form's, no answer.
DOCUMENTS = {"html": ("text/html", "codebook.html"), "csv": ("text/csv", "codebook.csv"),
             "sps": ("text/plain", "answers.sps"), "do": ("text/plain", "answers.do")}


@bp.get("/polls/<slug>/codebook.<fmt>")
@login_required
def codebook_export(slug: str, fmt: str):
    """The codebook of the answers export, as HTML or CSV, labelled in ?lang."""
    return _document(slug, fmt, "codebook", ("html", "csv"))


@bp.get("/polls/<slug>/syntax.<fmt>")
@login_required
def syntax_export(slug: str, fmt: str):
    """SPSS (.sps) or Stata (.do) syntax that labels the answers CSV (?delimiter as the CSV's), in ?lang."""
    return _document(slug, fmt, "syntax", ("sps", "do"))


def _document(slug: str, fmt: str, what: str, formats: tuple[str, ...]):
    session = get_session()
    begin_write(session)
    try:
        poll: Poll = polls.get_poll(session, slug)
    except NotFound:
        return _not_found(slug)
    if fmt not in formats:
        return problem(404, f"The {what} comes as " + " or ".join(f".{name}" for name in formats) + ".",
                       kind="unknown-format")
    delimiter = request.args.get("delimiter", ",")
    if delimiter not in DELIMITERS:
        return problem(400, "delimiter is one of , ; tab (as %3B for ;).", kind="bad-csv-option")
    language = normalize(request.args.get("lang")) or poll.default_language
    body = (release.answers_codebook(poll, fmt, language) if what == "codebook"
            else release.answers_syntax(poll, fmt, language, delimiter))
    audit.record(session, "export", slug, by=g.operator, detail={"what": what, "format": fmt})
    session.commit()
    mimetype, name = DOCUMENTS[fmt]
    return Response(body, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{slug}-{name}"'})


@bp.get("/polls/<slug>/links.<fmt>")
@admin_required
def links_export(slug: str, fmt: str):
    """Every link with its recipient's phone and state: admins only."""
    return _export(slug, fmt, "links", release.link_rows)


@bp.get("/polls/<slug>/results.<fmt>")
@login_required
def results_export(slug: str, fmt: str):
    """The results table as CSV or JSON lines, a row per answer."""
    return _export(slug, fmt, "results", release.result_rows)


def _export(slug: str, fmt: str, what: str, rows_of):
    session = get_session()
    begin_write(session)  # the export is audited before it streams
    try:
        poll: Poll = polls.get_poll(session, slug)
    except NotFound:
        return _not_found(slug)
    if fmt not in FORMATS and not (what == "answers" and fmt in FILES):
        return problem(404, "Exports come as .csv or .json (JSON lines); the answers also as .sav and .dta.",
                       kind="unknown-format")
    delimiter, bom = request.args.get("delimiter", ","), request.args.get("bom", "0")
    if delimiter not in DELIMITERS or bom not in ("0", "1"):
        return problem(400, "delimiter is one of , ; tab (as %3B for ;) and bom is 0 or 1.", kind="bad-csv-option")
    try:
        # How an anonymous poll's answers are shown is decided in the request's own transaction (it may grow
        # the poll's shown set); the rows then stream through a session of their own.
        shape = release.answers_shape(session, poll, g.operator) if what == "answers" else None
    except Invalid as refusal:
        return problem(409, str(refusal), kind="too-few-to-export")
    audit.record(session, "export", slug, by=g.operator, detail={"what": what, "format": fmt})
    release.record_export(session, poll, g.operator, what, fmt)
    if fmt in FILES:
        language = normalize(request.args.get("lang")) or poll.default_language
        body = release.answer_file(session, poll, fmt, language, shape)
        session.commit()
        mimetype, extension = FILES[fmt]
        return Response(body, mimetype=mimetype,
                        headers={"Content-Disposition": f'attachment; filename="{slug}-answers.{extension}"'})
    session.commit()
    reader = new_session()
    rows_poll = reader.get(Poll, poll.id)
    header, rows = rows_of(reader, rows_poll, shape)
    body = csv_chunks(header, rows, delimiter=delimiter, bom=bom == "1") if fmt == "csv" else json_lines(header, rows)
    mimetype, extension = FORMATS[fmt]
    return Response(_closing(body, reader), mimetype=mimetype,
                    headers={"Content-Disposition": f'attachment; filename="{slug}-{what}.{extension}"'})


def _closing(body: Iterator[str], reader: so.Session) -> Iterator[str]:
    # Closed when the body ends or the server closes the response early (the client went away).
    try:
        yield from body
    finally:
        reader.close()
