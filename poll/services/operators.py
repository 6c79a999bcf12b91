"""Operators: accounts with a role, passwords hashed with scrypt, and logins."""

from __future__ import annotations

import re

import sqlalchemy as sa
import sqlalchemy.orm as so
from werkzeug.security import check_password_hash, generate_password_hash

from poll.errors import Invalid
from poll.models import Operator, Role, utcnow
from poll.services import audit

NAME = re.compile(r"[A-Za-z0-9_.-]{2,64}")
MIN_PASSWORD = 10
# Checked against when the name is unknown, so a wrong name costs the same time as a wrong password.
_DUMMY_HASH = generate_password_hash("not a password of anyone's", method="scrypt")


def create_operator(session: so.Session, name: str, password: str, role: str) -> Operator:
    """A new operator; raises Invalid for a bad name, a short password, an unknown role or a taken name."""
    if not NAME.fullmatch(name):
        raise Invalid("operator names are 2-64 letters, digits, dots, dashes or underscores")
    if role not in (Role.ADMIN, Role.VIEWER):
        raise Invalid("role must be admin or viewer")
    if len(password) < MIN_PASSWORD:
        raise Invalid(f"the password needs at least {MIN_PASSWORD} characters")
    if session.scalar(sa.select(Operator.id).where(Operator.name == name)) is not None:
        raise Invalid(f"an operator named {name!r} exists already")
    operator = Operator(name=name, password_hash=generate_password_hash(password, method="scrypt"), role=role)
    session.add(operator)
    session.flush()
    audit.record(session, "operator-created", name, detail={"role": role})
    return operator


def authenticate(session: so.Session, name: str, password: str) -> Operator | None:
    """The operator if `password` is theirs, else None; each attempt goes into the audit trail."""
    operator = session.scalar(sa.select(Operator).where(Operator.name == name))
    if operator is None:
        check_password_hash(_DUMMY_HASH, password)
        audit.record(session, "login-failed", name[:64])
        return None
    if not check_password_hash(operator.password_hash, password):
        audit.record(session, "login-failed", name, operator_id=operator.id)
        return None
    operator.last_login_at = utcnow()
    audit.record(session, "login", name, operator_id=operator.id)
    return operator


def get_operator(session: so.Session, operator_id: int) -> Operator | None:
    """The operator with `operator_id`, or None."""
    return session.get(Operator, operator_id)


def list_operators(session: so.Session) -> list[Operator]:
    """Every operator, by name."""
    return list(session.scalars(sa.select(Operator).order_by(Operator.name)))
