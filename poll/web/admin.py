"""Admin pages: the audit trail of operator actions and refused answer attempts."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, render_template

from poll.db import get_session
from poll.models import Refusal
from poll.services.access import audit
from poll.web.auth import admin_required
from poll.web.params import whole_number

bp = Blueprint("admin", __name__, url_prefix="/admin")
PAGE = 100


@bp.get("/audit")
@admin_required
def audit_trail():
    """Operator actions, newest first, and the latest refused answer attempts."""
    session = get_session()
    before = whole_number("before")
    events = audit.recent(session, limit=PAGE, before_id=before)
    refused = session.scalars(sa.select(Refusal).order_by(Refusal.id.desc()).limit(PAGE)).all()
    return render_template("admin/audit.html", events=events, refused=refused, page=PAGE)
