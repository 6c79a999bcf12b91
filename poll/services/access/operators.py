"""Operators: accounts with a role, passwords hashed with scrypt, logins, sessions and API tokens.

A browser session and an API token are both rows of `operator_sessions`:
the client holds a random secret, the server a digest of it, so either can
be revoked on the server whatever the client kept. Logging out, a new
password, disabling or deleting an operator revoke what the rules below say.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
import sqlalchemy.orm as so
from werkzeug.security import check_password_hash, generate_password_hash

from poll.errors import Invalid, NotFound
from poll.models import Operator, OperatorSession
from poll.services.access import audit
from poll.vocabulary import Role, SessionKind

NAME = re.compile(r"[A-Za-z0-9_.-]{2,64}")
MIN_PASSWORD = 10
# Checked against when the name is unknown, so a wrong name costs the same time as a wrong password: the scrypt
# hash of no one's password, with werkzeug's parameters for scrypt. Written out, since making it took a tenth of a
# second of every process's start (each command, each server worker).
_DUMMY_HASH = ("scrypt:32768:8:1$eFIGBtbKqClmEhgP$57e4908d6e2a9303a194fa9003de3332c7f89bdbd6aa0436a52df1ceb51b2d7e"
               "bce9377fb165b33ab4e0c743513ba5c30657a3d106d3a4670fc9ee3f2cc0c537")
# A session's last use is written at most this often: a dashboard refreshes every few seconds.
TOUCH_EVERY = timedelta(minutes=1)


def create_operator(session: so.Session, name: str, password: str, role: str, *, by: Operator | None = None) -> Operator:
    """A new operator; raises Invalid for a bad name, a short password, an unknown role or a taken name."""
    if not NAME.fullmatch(name):
        raise Invalid("operator names are 2-64 letters, digits, dots, dashes or underscores")
    if role not in (Role.ADMIN, Role.VIEWER):
        raise Invalid("role must be admin or viewer")
    _check_password_rule(password)
    if session.scalar(sa.select(Operator.id).where(Operator.name == name)) is not None:
        raise Invalid(f"an operator named {name!r} exists already")
    operator = Operator(name=name, password_hash=_hash(password), role=role)
    session.add(operator)
    session.flush()
    audit.record(session, "operator-created", name, by=by, detail={"role": role, **_via(by)})
    return operator


def _check_password_rule(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise Invalid(f"the password needs at least {MIN_PASSWORD} characters")


def _hash(password: str) -> str:
    return generate_password_hash(password, method="scrypt")


def _via(by: Operator | None) -> dict:
    return {} if by else {"via": "cli"}


def get_by_name(session: so.Session, name: str) -> Operator:
    """The operator called `name`; raises NotFound."""
    operator = session.scalar(sa.select(Operator).where(Operator.name == name))
    if operator is None:
        raise NotFound(f"no operator named {name!r} (see `poll operators list`)")
    return operator


def list_operators(session: so.Session) -> list[tuple[Operator, int]]:
    """Every operator, by name, with how many live sessions and tokens they hold at `now`."""
    live = (
        sa.select(OperatorSession.operator_id, sa.func.count().label("live"))
        .where(OperatorSession.revoked_at.is_(None))
        .group_by(OperatorSession.operator_id)
        .subquery()
    )
    return [
        (operator, live_count or 0)
        for operator, live_count in session.execute(
            sa.select(Operator, live.c.live).outerjoin(live, live.c.operator_id == Operator.id).order_by(Operator.name)
        )
    ]


def check_password(session: so.Session, name: str, password: str) -> Operator | None:
    """The enabled operator whose password `password` is, else None. Reads only.

    The scrypt check takes tens of milliseconds; keeping it out of any write
    transaction lets concurrent logins queue on SQLite's lock only for the
    short write that follows (`record_login`).
    """
    operator = session.scalar(sa.select(Operator).where(Operator.name == name))
    if operator is None:
        check_password_hash(_DUMMY_HASH, password)
        return None
    if not check_password_hash(operator.password_hash, password) or operator.is_disabled:
        return None
    return operator


def record_login(session: so.Session, name: str, operator: Operator | None, *, now: datetime) -> None:
    """Put a login, or a failed one under the name tried, into the audit trail."""
    if operator is None:
        known = session.scalar(sa.select(Operator).where(Operator.name == name))
        audit.record(session, "login-failed", name[:64], by=known)
        return
    operator.last_login_at = now
    audit.record(session, "login", operator.name, by=operator)


@dataclass(frozen=True)
class Lifetimes:
    """How long a browser session lives: since its last use, and at most since login."""

    idle: timedelta
    absolute: timedelta


def start_session(session: so.Session, operator: Operator, kind: SessionKind, *, now: datetime,
                  lifetimes: Lifetimes | None = None) -> str:
    """A new session (browser) or token (API) for `operator`; returns its secret, which is stored only as a digest."""
    secret = secrets.token_urlsafe(32)
    expires_at = now + lifetimes.absolute if lifetimes and kind == SessionKind.BROWSER else None
    session.add(OperatorSession(operator_id=operator.id, kind=kind, secret_digest=_digest(secret),
                                created_at=now, last_seen_at=now, expires_at=expires_at))
    session.flush()
    return secret


def _digest(secret: str) -> str:
    # The secrets are 256 random bits: a plain SHA-256 is enough to make a stolen table useless.
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class Authenticated:
    operator: Operator
    session_id: int
    needs_touch: bool


def authenticate(session: so.Session, secret: str, kind: SessionKind, *, now: datetime,
                 idle: timedelta | None = None) -> Authenticated | None:
    """Who holds `secret`, if it is a live session or token of an enabled operator.

    A browser session dies `idle` after its last use and at its absolute
    expiry; an API token only when revoked.
    """
    if not secret or len(secret) > 128:
        return None
    row = session.execute(
        sa.select(OperatorSession, Operator)
        .join(Operator, Operator.id == OperatorSession.operator_id)
        .where(OperatorSession.secret_digest == _digest(secret), OperatorSession.kind == kind)
    ).first()
    if row is None:
        return None
    grant, operator = row
    if grant.revoked_at is not None or operator.is_disabled:
        return None
    if grant.expires_at is not None and now >= grant.expires_at:
        return None
    if idle is not None and now - grant.last_seen_at >= idle:
        return None
    return Authenticated(operator, grant.id, needs_touch=now - grant.last_seen_at >= TOUCH_EVERY)


def touch(session: so.Session, session_id: int, *, now: datetime) -> None:
    """Note that a session or token was used at `now` (what its idle lifetime counts from)."""
    session.execute(sa.update(OperatorSession).where(OperatorSession.id == session_id).values(last_seen_at=now))


def revoke(session: so.Session, operator: Operator, *, now: datetime, kinds: tuple[SessionKind, ...] = tuple(SessionKind)) -> int:
    """End every live session (and/or token) of `operator`; returns how many."""
    result = session.execute(
        sa.update(OperatorSession)
        .where(OperatorSession.operator_id == operator.id, OperatorSession.revoked_at.is_(None),
               OperatorSession.kind.in_(list(kinds)))
        .values(revoked_at=now)
    )
    return result.rowcount


def logout(session: so.Session, operator: Operator, *, now: datetime) -> None:
    """Log `operator` out of every browser (API tokens stay), audited."""
    ended = revoke(session, operator, now=now, kinds=(SessionKind.BROWSER,))
    audit.record(session, "logout", operator.name, by=operator, detail={"sessions_ended": ended})


def issue_token(session: so.Session, operator: Operator, *, now: datetime, by: Operator | None = None) -> str:
    """A new API token for `operator`, returned once (only its digest is kept), audited."""
    if operator.is_disabled:
        raise Invalid(f"operator {operator.name!r} is disabled: enable them first")
    secret = start_session(session, operator, SessionKind.API, now=now)
    audit.record(session, "token-issued", operator.name, by=by, detail=_via(by))
    return secret


def revoke_tokens(session: so.Session, operator: Operator, *, now: datetime, by: Operator | None = None) -> int:
    """Revoke every API token of `operator`, audited; returns how many."""
    ended = revoke(session, operator, now=now, kinds=(SessionKind.API,))
    audit.record(session, "tokens-revoked", operator.name, by=by, detail={"revoked": ended, **_via(by)})
    return ended


def set_disabled(session: so.Session, operator: Operator, disabled: bool, *, now: datetime,
                 by: Operator | None = None) -> None:
    """Disable `operator` (ending every session and token) or enable them again, audited."""
    if disabled:
        _keep_an_admin(session, operator, "disable")
    operator.is_disabled = disabled
    ended = revoke(session, operator, now=now) if disabled else 0
    audit.record(session, "operator-disabled" if disabled else "operator-enabled", operator.name, by=by,
                 detail={"sessions_ended": ended, **_via(by)} if disabled else _via(by))
    session.flush()


def reset_password(session: so.Session, operator: Operator, password: str, *, now: datetime,
                   by: Operator | None = None) -> None:
    """Give `operator` a new password and end every session and token they had, audited."""
    _check_password_rule(password)
    operator.password_hash = _hash(password)
    ended = revoke(session, operator, now=now)
    audit.record(session, "password-reset", operator.name, by=by, detail={"sessions_ended": ended, **_via(by)})
    session.flush()


def delete_operator(session: so.Session, operator: Operator, *, by: Operator | None = None) -> None:
    """Delete `operator`; their audit entries keep their name. Audited."""
    _keep_an_admin(session, operator, "delete")
    name = operator.name
    session.delete(operator)
    session.flush()
    audit.record(session, "operator-deleted", name, by=by, detail=_via(by))


def _keep_an_admin(session: so.Session, operator: Operator, verb: str) -> None:
    # Without an enabled admin nobody could see links or the audit trail again but from the command line.
    if operator.role != Role.ADMIN or operator.is_disabled:
        return
    others = session.scalar(
        sa.select(sa.func.count()).where(Operator.role == Role.ADMIN, Operator.is_disabled.is_(False),
                                         Operator.id != operator.id)
    )
    if not others:
        raise Invalid(f"cannot {verb} {operator.name!r}: they are the last enabled admin (create another first)")
