"""Admin pages: the audit trail of operator actions and refused answer attempts.

Every operator may read the trail (a viewer sees, and acts on nothing); phone numbers in it are masked as
on the phone view, so reading it ties no number to anything.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, Response, abort, g, render_template, request, url_for

from poll.db import begin_write, get_session
from poll.i18n import current_language
from poll.models import AuditEvent, Refusal
from poll.services.access import audit
from poll.services.definition import polls
from poll.services.releases.release import csv_chunks
from poll.web import words
from poll.web.auth import login_required
from poll.web.params import whole_number

bp = Blueprint("admin", __name__, url_prefix="/admin")
PAGE = 100


def _filters() -> audit.Filters:
    # GET parameters, so a filtered trail is a link to keep or send; too long to be a name is a 400.
    values = {name: request.args.get(name, "").strip() for name in ("poll", "operator", "action")}
    for name, value in values.items():
        if len(value) > 128:
            abort(400, description=f"{name} is at most 128 characters")
    return audit.Filters(**values)


@bp.get("/audit")
@login_required
def audit_trail():
    """Operator actions, newest first, narrowed by poll, operator and action; and the latest refused attempts."""
    session = get_session()
    filters = _filters()
    before = whole_number("before")
    events = audit.search(session, filters, limit=PAGE, before_id=before)
    refused = session.scalars(sa.select(Refusal).order_by(Refusal.id.desc()).limit(PAGE)).all()
    chosen = {name: value for name, value in vars(filters).items() if value}
    return render_template(
        "admin/audit.html", events=events, refused=refused, page=PAGE, filters=filters,
        rows=[_row(event) for event in events],
        poll_slugs=[poll.slug for poll in polls.list_polls(session)], actors=audit.actors(session),
        actions=sorted(words.AUDIT_ACTION, key=lambda key: str(words.AUDIT_ACTION[key])),
        export_url=url_for("admin.audit_export", **chosen, lang=current_language().code),
        older_url=url_for("admin.audit_trail", **chosen, before=events[-1].id if events else None,
                          lang=current_language().code),
    )


@bp.get("/audit.csv")
@login_required
def audit_export():
    """The filtered trail as CSV, every row, details in words and phone numbers masked; the export is audited."""
    session = get_session()
    begin_write(session)
    filters = _filters()
    events = audit.search(session, filters, limit=None)
    rows = [_row(event) for event in events]
    audit.record(session, "audit-exported", filters.poll, by=g.operator,
                 detail={**{name: value for name, value in vars(filters).items() if value}, "rows": len(rows)})
    session.commit()
    header = ["time", "operator", "action", "action_name", "subject", "details"]
    body = csv_chunks(header, ([row["time"], row["actor"], row["action"], row["action_name"], row["subject"],
                                "; ".join(f"{name}: {value}" for name, value in row["details"])] for row in rows),
                      bom=True)
    return Response(body, mimetype="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="audit-trail.csv"'})


def _row(event: AuditEvent) -> dict:
    # One event as people read it, on the page and in the export alike.
    return {
        "at": event.occurred_at,
        "time": event.occurred_at.isoformat(timespec="seconds"),
        "actor": event.actor or (str(words.AUDIT_VIA["cli"]) if event.detail.get("via") == "cli" else ""),
        "action": event.action,
        "action_name": words.word(words.AUDIT_ACTION, event.action),
        "subject": audit.mask_phones(event.subject),
        "details": words.audit_details({key: value for key, value in event.detail.items()
                                        if not (key == "via" and not event.actor)}),
    }
