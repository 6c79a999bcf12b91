"""The operator workspace: polls run from the browser, and the operators who may run them.

Admins act, viewers read: every page is open to any operator, every POST
needs an admin (403 otherwise) and carries the CSRF token. Each step calls
the same service as its `poll` command (services.lifecycle,
services.access.operators) with the operator who took it, so the audit trail names
them. A step that issues links or queues messages is confirmed first: the
page says what it will do, counted by doing it in a savepoint and undoing it.
"""

from __future__ import annotations

import re
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import flask
from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    get_flashed_messages,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext
from flask_babel import lazy_gettext as _l

from poll import iraq
from poll.db import begin_write, get_session
from poll.errors import NotFound, PollError, SendRefused
from poll.i18n import LANGUAGES, choose_language, current_language, pick
from poll.models import Poll, utcnow
from poll.services import lifecycle
from poll.services.access import operators
from poll.services.answering.answers import Ballot
from poll.services.audience import audiences
from poll.services.definition import polls
from poll.services.messaging import outbox
from poll.services.releases import references, release
from poll.web import words
from poll.web.auth import admin_required, login_required
from poll.web.questions import shown_questions

bp = Blueprint("workspace", __name__, url_prefix="/admin")

# What a poll's page suggests next, by where the poll is.
NEXT = {
    "audience": _l("Load its audience: a CSV file of phone numbers."),
    "invite": _l("Issue a personal link to each recipient."),
    "open": _l("Open the poll, so that its links take answers."),
    "queue": _l("Queue the invitation SMS."),
    "watch": _l("Watch the answers arrive on the dashboard; send reminders to those who have not answered."),
    "scheduled": _l("Wait for the poll to open at its set time."),
    "done": _l("The poll is closed: read and download its results."),
}
ACTION_NAMES = {
    "invite": _l("Issue personal links"),
    "queue": _l("Queue the invitation SMS"),
    "open": _l("Open the poll"),
    "close": _l("Close the poll"),
    "remind": _l("Send reminders"),
    "retry": _l("Send the failed messages again"),
}
ACTION_EFFECTS = {
    "invite": _l("Each recipient without a personal link gets one. No message is sent."),
    "queue": _l("One invitation SMS is queued for each link that has none; numbers that opted out are skipped."),
    "open": _l("The poll takes answers from now on, by link and by SMS."),
    "close": _l("The poll takes no more answers from now on."),
    "remind": _l("A reminder is queued to each recipient whose last message is older than the hours below."),
    "retry": _l("The failed messages are queued again; numbers that opted out stay out."),
}
DONE = {
    "invite": _l("%(count)s personal links issued."),
    "queue": _l("%(count)s messages queued."),
    "open": _l("The poll is open."),
    "close": _l("The poll is closed."),
    "remind": _l("%(count)s reminders queued."),
    "retry": _l("%(count)s failed messages queued again."),
}
OPERATOR_DONE = {
    "disable": _l("%(name)s is disabled; their sessions and tokens are revoked."),
    "enable": _l("%(name)s is enabled."),
    "reset-password": _l("The password of %(name)s is reset; their sessions and tokens are revoked."),
    "delete": _l("%(name)s is deleted; the audit trail keeps their name."),
    "revoke-tokens": _l("The API tokens of %(name)s are revoked."),
}
OPERATOR_STEPS = (*OPERATOR_DONE, "token")


def uploads(view):
    """Mark `view` as taking a file: its requests may be as large as POLL_UPLOAD_MAX_BYTES (see `Request`)."""
    view.takes_uploads = True
    return view


class Request(flask.Request):
    """A request whose size limit is POLL_UPLOAD_MAX_BYTES for the views that take files, else MAX_CONTENT_LENGTH.

    The limit must be known before anything reads the body, and the CSRF
    check reads the form before any view runs: the matched view says it.
    """

    @property
    def max_content_length(self) -> int | None:
        if self._max_content_length is None and flask.current_app:
            view = flask.current_app.view_functions.get(self.endpoint or "")
            if getattr(view, "takes_uploads", False):
                return int(flask.current_app.config["UPLOAD_MAX_BYTES"])
        return super().max_content_length

    @max_content_length.setter
    def max_content_length(self, value: int | None) -> None:
        self._max_content_length = value


@bp.app_template_global()
def stratum_label(stratum: str, code: str) -> str:
    """A category of a stratum as the reader calls it: a governorate's name, men or women, an age band."""
    if stratum == "governorate":
        found = iraq.find_governorate(code)
        return found.name(current_language().code) if found else code
    if stratum == "sex":
        return str(words.SEX.get(code, code))
    return code


def _settings() -> lifecycle.Settings:
    return lifecycle.Settings.of(current_app.config)


def _poll_or_404(session, slug: str) -> Poll:
    try:
        return polls.get_poll(session, slug)
    except NotFound:
        abort(404)


def next_step(poll: Poll, counts: dict[str, int], recipients: int, messages: int, now: datetime) -> str:
    """What an operator should do next with `poll`: a key of NEXT."""
    phase = poll.phase(now)
    if phase == "closed":
        return "done"
    if not recipients:
        return "audience"
    if counts.get("invited", 0) < recipients:
        return "invite"
    if phase == "draft":
        return "open"
    if phase == "scheduled":
        return "scheduled"
    if not messages and not counts.get("answered", 0):
        return "queue"
    return "watch"


@bp.get("/polls")
@login_required
def poll_list():
    """Every poll: its title, status, field dates, invited, answered and response rate, and what to do next."""
    session = get_session()
    now = utcnow()
    rows = [
        (poll, counts, next_step(poll, counts, audiences.audience_size(session, poll),
                                 lifecycle.messages_of(session, poll), now))
        for poll, counts in release.polls_at_a_glance(session, polls.list_polls(session))
    ]
    session.rollback()
    return render_template("admin/polls.html", rows=rows, next_words=NEXT)


@bp.route("/polls/new", methods=["GET", "POST"])
@login_required
@uploads
def new_poll():
    """The form to create a poll (GET), and its creation from an uploaded file or a built-in (POST, admins)."""
    if request.method == "GET":
        return render_template("admin/new.html", builtins=polls.BUILTINS, problems=[], form={})
    if not g.operator.is_admin:
        abort(403, description="This needs an admin.")
    builtin = (request.form.get("builtin") or "").strip()
    upload = request.files.get("file")
    sms_sender = (request.form.get("sms_sender") or "").strip() or None
    contact = {code: text.strip() for code in LANGUAGES if (text := request.form.get(f"contact_{code}") or "").strip()}
    warnings: list[str] = []
    session = get_session()
    begin_write(session)
    try:
        if builtin and upload and upload.filename:
            raise PollError(str(_l("Give either a file or a built-in poll, not both.")))
        if builtin:
            definition = polls.builtin_definition(builtin)
        elif upload and upload.filename:
            definition = _read_upload(upload, warnings)
        else:
            raise PollError(str(_l("Choose a file (.xlsx or .toml) or a built-in poll.")))
        poll = lifecycle.create(session, definition, by=g.operator, warnings=warnings, sms_sender=sms_sender,
                                contact=contact)
    except PollError as exc:
        session.rollback()
        return render_template("admin/new.html", builtins=polls.BUILTINS, problems=_problems(exc),
                               form=request.form), 400
    session.commit()
    for warning in warnings:
        flash(warning, "warning")
    flash(str(_l("Poll %(slug)s created as a draft.", slug=poll.slug)), "done")
    return redirect(url_for("workspace.poll_page", slug=poll.slug), code=303)


def _read_upload(upload, warnings: list[str]) -> dict:
    # The readers take a path (pyxform opens the workbook itself): the upload is kept in a temporary file
    # named with its own suffix, and gone when this returns.
    suffix = Path(upload.filename or "").suffix.lower()
    if suffix not in (".xlsx", ".toml"):
        raise PollError(str(_l("The file must be an XLSForm (.xlsx) or a poll definition (.toml).")))
    with tempfile.TemporaryDirectory(prefix="poll-upload-") as folder:
        path = Path(folder) / f"form{suffix}"
        upload.save(path)
        return polls.read_definition(path, warnings)


# Where one problem of a file ends and the next begins: the readers join them as "survey sheet, row 4: ...; ...".
_NEXT_PROBLEM = re.compile(r"(?:\n|;\s+)(?=\w+ sheet, row \d+)")


def _said(exc: PollError) -> str:
    """A refusal in the reader's language where the service gave it as an interface string (SendRefused)."""
    if isinstance(exc, SendRefused):
        return gettext(exc.reason, **exc.values)
    return str(exc)


def _problems(exc: PollError) -> list[str]:
    """Every problem a file's reader found, one an item."""
    return [part.strip() for part in _NEXT_PROBLEM.split(str(exc)) if part.strip()]


@bp.get("/polls/<slug>")
@login_required
def poll_page(slug: str):
    """A poll's state, what to do next, the steps it can take, and links to its preview, dashboard and files."""
    session = get_session()
    poll = _poll_or_404(session, slug)
    counts = release.polls_at_a_glance(session, [poll])[0][1]
    recipients = audiences.audience_size(session, poll)
    page = render_template(
        "admin/poll.html", poll=poll, counts=counts, recipients=recipients,
        next_key=next_step(poll, counts, recipients, lifecycle.messages_of(session, poll), utcnow()),
        next_words=NEXT, actions=lifecycle.ACTIONS,
        action_names=ACTION_NAMES, composition=lifecycle.composition(session, poll),
        sender=outbox.sender_of(poll, _settings().sender), flashes=get_flashed_messages(with_categories=True),
    )
    session.rollback()
    return page


@bp.route("/polls/<slug>/preview", methods=["GET", "POST"])
@login_required
def preview(slug: str):
    """The respondent's page as it will be, submittable, recording nothing; and every SMS the poll will send.

    A poll with a split-ballot experiment is previewed one way of asking at a time (`variant`, the first by
    default), each as the links of that way show it.
    """
    session = get_session()
    poll = _poll_or_404(session, slug)
    if request.method == "POST" and not g.operator.is_admin:
        abort(403, description="This needs an admin.")
    # The page's language is the one asked for (the switch, or the form's hidden field), else the operator's.
    language = choose_language(request.values.get("lang") or flask.session.get("lang"), None, poll.default_language)
    ballot = Ballot.of(poll)
    ways = list(ballot.experiment.variants) if ballot.experiment is not None else []
    variant = request.values.get("variant") or (ways[0].name if ways else None)
    if variant is not None and variant not in [way.name for way in ways]:
        abort(404, description="This poll has no such way of asking.")
    questions = ballot.form_questions(variant)
    posted = request.form.to_dict(flat=False) if request.method == "POST" else None
    posted = {name: values for name, values in (posted or {}).items()
              if name not in ("csrf_token", "lang", "variant")}
    submission = ballot.read(variant, posted) if request.method == "POST" else None
    errors = submission.errors if submission is not None else {}
    chosen = None
    if submission is not None and submission.is_complete:
        label = ballot.option_label(variant, submission.values.get(ballot.headline.name))
        chosen = pick(label, language) if label else None
    settings = _settings()
    messages = outbox.preview(session, poll, settings.base_url, settings.price)
    page = render_template(
        "admin/preview.html", poll=poll, ballot=ballot, chosen=chosen, submitted=submission is not None,
        questions=shown_questions(questions, language, posted if errors else None, errors),
        flow=shown_questions(questions, language), errors=errors,
        question=pick(ballot.question_text(variant), language), ways=ways, variant=variant,
        way_names={way.name: words.way(number, way.kind) for number, way in enumerate(ways, start=1)},
        sender=pick(poll.sender, language) if poll.sender else "",
        messages=messages, currency=settings.currency, price=settings.price,
        max_segments=settings.max_segments, total=sum(item.cost for item in messages),
    )
    session.rollback()  # a preview records nothing: no answer, no tally, no ledger entry
    return page, 400 if errors else 200


@bp.post("/polls/<slug>/audience")
@admin_required
@uploads
def audience(slug: str):
    """Import an audience CSV: every bad line with its errors, the valid rows kept, totals against the census."""
    session = get_session()
    begin_write(session)
    poll = _poll_or_404(session, slug)
    upload = request.files.get("file")
    try:
        if upload is None or not upload.filename:
            raise PollError(str(_l("Choose a CSV file of the audience.")))
        report = lifecycle.import_audience(session, poll, upload.stream, by=g.operator,
                                           batch_size=current_app.config["BULK_BATCH_SIZE"])
    except PollError as exc:
        session.rollback()
        return render_template("admin/audience.html", poll=poll, report=None, problem=str(exc),
                               composition=None), 400
    session.commit()
    return render_template("admin/audience.html", poll=poll, report=report, problem=None,
                           composition=lifecycle.composition(session, poll))


@bp.post("/polls/<slug>/reference")
@admin_required
@uploads
def reference(slug: str):
    """Store the poll's weighting reference (margins, or a survey's microdata) with its source; audited."""
    session = get_session()
    begin_write(session)
    poll = _poll_or_404(session, slug)
    upload = request.files.get("file")
    try:
        if upload is None or not upload.filename:
            raise PollError(str(_l("Choose a reference file: margins (CSV or TOML) or a survey's microdata (CSV).")))
        found = references.read(poll, upload.read(), upload.filename, source=request.form.get("source"),
                                year=references.parse_year(request.form.get("year", "")))
        references.set_reference(session, poll, found, by=g.operator)
    except PollError as exc:
        session.rollback()
        return render_template("admin/reference.html", poll=poll, lines=None, problem=str(exc)), 400
    lines = references.describe(references.reference_of(session, poll), poll)
    session.commit()
    return render_template("admin/reference.html", poll=poll, lines=lines, problem=None)


@bp.post("/polls/<slug>/<action>")
@admin_required
def step(slug: str, action: str):
    """A step of the poll's life: first what it will do (without `confirm`), then, confirmed, done."""
    if action not in lifecycle.ACTIONS:
        abort(404)
    session = get_session()
    begin_write(session)
    poll = _poll_or_404(session, slug)
    settings = _settings()
    now = datetime.now(UTC)
    after = _hours(request.form.get("after"))
    if after is None:
        session.rollback()
        return _confirmation(poll, action, lifecycle.Plan(action, refusal=str(_l("Give the hours as a number from 0 to 720."))),
                             24.0, 400)
    if not request.form.get("confirm"):
        plan = lifecycle.plan(session, poll, action, settings, now=now, remind_after=timedelta(hours=after))
        session.rollback()
        if plan.refused is not None:
            plan.refusal = _said(plan.refused)
        return _confirmation(poll, action, plan, after, 409 if plan.refusal else 200)
    try:
        done = lifecycle.perform(session, poll, action, settings, by=g.operator, now=now,
                                 remind_after=timedelta(hours=after))
    except PollError as exc:
        session.rollback()
        plan = lifecycle.Plan(action, sender=outbox.sender_of(poll, settings.sender), base_url=settings.base_url,
                              refusal=_said(exc))
        return _confirmation(poll, action, plan, after, 409)
    session.commit()
    flash(str(DONE[action] % {"count": f"{done.count:,}"}), "done")
    return redirect(url_for("workspace.poll_page", slug=poll.slug), code=303)


def _hours(text: str | None) -> float | None:
    if text is None or not text.strip():
        return 24.0
    try:
        value = float(text)
    except ValueError:
        return None
    return value if 0 <= value <= 720 else None


def _confirmation(poll: Poll, action: str, plan: lifecycle.Plan, after: float, status: int):
    return render_template("admin/confirm.html", poll=poll, action=action, plan=plan, after=after,
                           name=ACTION_NAMES[action], effect=ACTION_EFFECTS[action]), status


@bp.get("/operators")
@login_required
def operator_list():
    """Every operator: role, enabled or not, last login, live sessions and tokens; and the forms to manage them."""
    session = get_session()
    rows = operators.list_operators(session)
    session.rollback()
    return render_template("admin/operators.html", rows=rows, token=None, token_for=None,
                           flashes=get_flashed_messages(with_categories=True))


@bp.post("/operators")
@admin_required
def create_operator():
    """Create an operator with a name, a password and a role."""
    session = get_session()
    begin_write(session)
    try:
        operator = operators.create_operator(session, (request.form.get("name") or "").strip(),
                                             request.form.get("password") or "", request.form.get("role") or "",
                                             by=g.operator)
    except PollError as exc:
        session.rollback()
        return _operators_refused(str(exc))
    session.commit()
    flash(str(_l("Operator %(name)s created.", name=operator.name)), "done")
    return redirect(url_for("workspace.operator_list"), code=303)


@bp.post("/operators/<name>/<what>")
@admin_required
def operator_step(name: str, what: str):
    """Disable, enable, reset the password of, delete, or make or revoke API tokens of an operator."""
    if what not in OPERATOR_STEPS:
        abort(404)
    session = get_session()
    begin_write(session)
    now = utcnow()
    try:
        operator = operators.get_by_name(session, name)
    except NotFound:
        session.rollback()
        abort(404)
    try:
        if what in ("disable", "enable"):
            operators.set_disabled(session, operator, what == "disable", now=now, by=g.operator)
        elif what == "reset-password":
            operators.reset_password(session, operator, request.form.get("password") or "", now=now, by=g.operator)
        elif what == "delete":
            operators.delete_operator(session, operator, by=g.operator)
        elif what == "revoke-tokens":
            operators.revoke_tokens(session, operator, now=now, by=g.operator)
        else:
            token = operators.issue_token(session, operator, now=now, by=g.operator)
            session.commit()
            # Shown once, on this page only: the server keeps its digest, never the token.
            rows = operators.list_operators(session)
            session.rollback()
            return render_template("admin/operators.html", rows=rows, token=token, token_for=name, flashes=[])
    except PollError as exc:
        session.rollback()
        return _operators_refused(str(exc))
    session.commit()
    flash(str(OPERATOR_DONE[what] % {"name": name}), "done")
    if what != "delete" and operator.id == g.operator.id and what in ("disable", "reset-password"):
        return redirect(url_for("auth.login"), code=303)  # their own session has just ended
    return redirect(url_for("workspace.operator_list"), code=303)


def _operators_refused(reason: str):
    session = get_session()
    rows = operators.list_operators(session)
    session.rollback()
    return render_template("admin/operators.html", rows=rows, token=None, token_for=None,
                           flashes=[("error", reason)]), 400

