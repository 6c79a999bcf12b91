"""Operator login and logout, and the decorators that guard operator pages."""

from __future__ import annotations

import functools
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, g, redirect, render_template, request, session, url_for
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from poll.db import get_session
from poll.extensions import limiter
from poll.i18n import choose_language
from poll.services import audit, operators

bp = Blueprint("auth", __name__)


class LoginForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=64)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=256)])


@bp.before_app_request
def _load_operator() -> None:
    g.operator = None
    operator_id = session.get("operator_id")
    if operator_id is not None:
        g.operator = operators.get_operator(get_session(), operator_id)
        if g.operator is None:
            session.clear()


def login_required(view):
    """Send visitors who are not logged in to the login page; 403 for a viewer where an admin is needed."""

    @functools.wraps(view)
    def guarded(*args, **kwargs):
        choose_language(request.args.get("lang") or session.get("lang"))
        if g.operator is None:
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return guarded


def admin_required(view):
    """Like login_required, and the operator must be an admin."""

    @functools.wraps(view)
    @login_required
    def guarded(*args, **kwargs):
        if not g.operator.is_admin:
            abort(403)
        return view(*args, **kwargs)

    return guarded


def _login_name() -> str:
    return "login:" + (request.form.get("name") or "").strip()[:64]


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["RATE_LIMIT_LOGIN_CLIENT"], methods=["POST"], scope="login-client",
               deduct_when=lambda response: response.status_code == 401)
@limiter.limit(lambda: current_app.config["RATE_LIMIT_LOGIN_ACCOUNT"], methods=["POST"], key_func=_login_name,
               scope="login-account", deduct_when=lambda response: response.status_code == 401)
def login():
    """The operator login form."""
    language = choose_language(request.args.get("lang") or session.get("lang"))
    form = LoginForm()
    failed = False
    if form.validate_on_submit():
        db = get_session()
        operator = operators.authenticate(db, form.name.data.strip(), form.password.data)
        db.commit()
        if operator is not None:
            # A fresh session on login: nothing from before survives (session fixation).
            session.clear()
            session["operator_id"] = operator.id
            session["lang"] = language.code
            return redirect(_safe_next(request.args.get("next")))
        failed = True
    status = 401 if failed else 400 if form.errors else 200
    return render_template("auth/login.html", form=form, failed=failed), status


@bp.post("/logout")
def logout():
    """End the operator's session."""
    if g.operator is not None:
        db = get_session()
        audit.record(db, "logout", g.operator.name, operator_id=g.operator.id)
        db.commit()
    session.clear()
    return redirect(url_for("auth.login"))


def _safe_next(target: str | None) -> str:
    # Only a path on this site: never an absolute URL to somewhere else.
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return url_for("dashboard.index")
