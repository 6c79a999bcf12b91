"""Operator login and logout, who the operator of a request is, and the decorators that guard operator pages.

A browser holds its session's secret in Flask's signed cookie; a script sends
an API token as `Authorization: Bearer <token>` (to /api/ only). Either is
checked against `operator_sessions` on every request, so logging out,
a new password or disabling an operator take effect at once, whatever the
client kept.

Guessing passwords is throttled per client address, per account and
address, and per account from anywhere. A browser that has logged in to an
account before carries a signed device cookie: it is exempt from those
limits and has one of its own, so an attacker who guesses from the owner's
shared address, or from many addresses, cannot lock the owner out of their
usual browser.
"""

from __future__ import annotations

import functools
import secrets
from datetime import timedelta
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import lazy_gettext as _l
from flask_limiter.util import get_remote_address
from flask_wtf import FlaskForm
from itsdangerous import BadSignature, URLSafeTimedSerializer
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from poll.db import begin_write, get_session
from poll.extensions import limiter
from poll.i18n import choose_language
from poll.models import utcnow
from poll.services.access import operators
from poll.vocabulary import SessionKind
from poll.web.errors import problem, wants_json

bp = Blueprint("auth", __name__)

DEVICE_COOKIE = "poll_device"
# Endpoints no operator uses: Kannel's callbacks, the health check, static files.
_NO_OPERATOR = {"sms.kannel_mo", "sms.kannel_dlr", "health.healthz", "static"}
DEVICE_LIFETIME = timedelta(days=365)


class LoginForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=64)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=256)])


def lifetimes() -> operators.Lifetimes:
    """The browser session lifetimes configured (POLL_SESSION_IDLE_MINUTES, POLL_SESSION_MAX_HOURS)."""
    config = current_app.config
    return operators.Lifetimes(idle=timedelta(minutes=float(config["SESSION_IDLE_MINUTES"])),
                               absolute=timedelta(hours=float(config["SESSION_MAX_HOURS"])))


BACKGROUND_HEADER = "X-Poll-Background"


@bp.before_app_request
def _load_operator() -> None:
    g.operator = None
    if request.endpoint in _NO_OPERATOR:
        return
    header = request.environ.get("HTTP_AUTHORIZATION", "")  # from the environ: a missing header's look-up raises
    if header[:7].lower() == "bearer " and request.path.startswith("/api/"):
        secret, kind, idle = header[7:].strip(), SessionKind.API, None
    else:
        secret, kind = session.get("sid"), SessionKind.BROWSER
        if not secret:  # most requests: a respondent's
            return
        idle = lifetimes().idle
    db = get_session()
    now = utcnow()
    found = operators.authenticate(db, secret, kind, now=now, idle=idle)
    db.commit()  # end the read: the view starts its own transaction
    if found is None:
        if kind == SessionKind.BROWSER:
            session.clear()
        return
    g.operator = found.operator
    # The dashboard's own refreshes (dashboard.js) are not the operator at work: they do not keep the session
    # alive past its idle limit, or a dashboard left open would never log out.
    if found.needs_touch and request.headers.get(BACKGROUND_HEADER) != "1":
        begin_write(db)
        operators.touch(db, found.session_id, now=now)
        db.commit()


def login_required(view):
    """Send visitors who are not logged in to the login page (401 under /api/); 403 for a viewer where an admin is needed."""

    @functools.wraps(view)
    def guarded(*args, **kwargs):
        if g.operator is None:
            if wants_json():
                return problem(401, "Log in, or send an API token as 'Authorization: Bearer <token>' "
                               "(`poll operators token NAME` makes one).", kind="login-required",
                               headers={"WWW-Authenticate": 'Bearer realm="poll"'})
            operator_language()
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        operator_language()
        return view(*args, **kwargs)

    return guarded


def operator_language():
    """The language of an operator page: the one chosen by the switch (`lang`), remembered in the session for
    every later page, the login page and the next login included; else the last one chosen."""
    language = choose_language(request.args.get("lang") or session.get("lang"))
    if request.args.get("lang") and session.get("lang") != language.code:
        session["lang"] = language.code
    return language


def admin_required(view):
    """Like login_required, and the operator must be an admin."""

    @functools.wraps(view)
    @login_required
    def guarded(*args, **kwargs):
        if not g.operator.is_admin:
            abort(403, description="This needs an admin.")
        return view(*args, **kwargs)

    return guarded


def _name_tried() -> str:
    return (request.form.get("name") or "").strip()[:64]


def _device_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="poll-device")


def _device() -> str | None:
    """The id of this browser if it logged in before as the account it is trying now, else None."""
    cookie = request.cookies.get(DEVICE_COOKIE)
    if not cookie or request.method != "POST":
        return None
    try:
        name, device = _device_serializer().loads(cookie, max_age=int(DEVICE_LIFETIME.total_seconds()))
    except (BadSignature, ValueError, TypeError):
        return None
    return device if name == _name_tried() else None


def _known_device() -> bool:
    return _device() is not None


def _config(name: str):
    return lambda: current_app.config[name]


def _failed(response) -> bool:
    return response.status_code == 401


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_config("RATE_LIMIT_LOGIN_CLIENT"), methods=["POST"], scope="login-client",
               exempt_when=_known_device, deduct_when=_failed)
@limiter.limit(_config("RATE_LIMIT_LOGIN_ACCOUNT"), methods=["POST"], scope="login-account-client",
               key_func=lambda: f"{_name_tried()}@{get_remote_address()}", exempt_when=_known_device,
               deduct_when=_failed)
@limiter.limit(_config("RATE_LIMIT_LOGIN_ACCOUNT_ANYWHERE"), methods=["POST"], scope="login-account",
               key_func=_name_tried, exempt_when=_known_device, deduct_when=_failed)
# A browser that logged in to the account before skips the limits above (an attacker sharing its address,
# or guessing from anywhere, cannot lock it out) and has one of its own.
@limiter.limit(_config("RATE_LIMIT_LOGIN_ACCOUNT"), methods=["POST"], scope="login-device",
               key_func=lambda: f"{_name_tried()}#{_device()}", exempt_when=lambda: not _known_device(),
               deduct_when=_failed)
def login():
    """The operator login form."""
    language = operator_language()
    form = LoginForm()
    failed = False
    if form.validate_on_submit():
        db = get_session()
        name = form.name.data.strip()
        operator = operators.check_password(db, name, form.password.data)
        db.rollback()  # the scrypt check is done: take the write lock only for the writes
        begin_write(db)
        now = utcnow()
        operators.record_login(db, name, operator, now=now)
        secret = operators.start_session(db, operator, SessionKind.BROWSER, now=now, lifetimes=lifetimes()) if operator else None
        db.commit()
        if operator is not None:
            # A fresh session on login: nothing from before survives (session fixation).
            session.clear()
            session["sid"] = secret
            session["lang"] = language.code
            session.permanent = True
            response = redirect(_safe_next(request.args.get("next")))
            response.set_cookie(
                DEVICE_COOKIE, _device_serializer().dumps([operator.name, _device() or secrets.token_urlsafe(12)]),
                max_age=int(DEVICE_LIFETIME.total_seconds()),
                httponly=True, secure=current_app.config["SESSION_COOKIE_SECURE"], samesite="Lax",
            )
            return response
        failed = True
    status = 401 if failed else 400 if form.errors else 200
    return render_template("auth/login.html", form=form, failed=failed), status


@bp.post("/logout")
def logout():
    """End the operator's sessions: this browser's and every other browser's."""
    if g.operator is not None:
        db = get_session()
        begin_write(db)
        operators.logout(db, g.operator, now=utcnow())
        db.commit()
    language = session.get("lang")
    session.clear()
    if language:  # the reader's language is no secret of the session: the login page stays in it
        session["lang"] = language
    return redirect(url_for("auth.login"))


def _safe_next(target: str | None) -> str:
    # Only a path on this site: never an absolute URL to somewhere else.
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc \
            and "\\" not in target:
        return target
    return url_for("dashboard.index")
