"""The audit trail: append-only records of operator actions and logins."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from poll.models import AuditEvent, Operator
from poll.text import reveal_controls


def record(
    session: so.Session, action: str, subject: str = "", *, by: Operator | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append one event, e.g. record(session, "poll-opened", "coalition-2024", by=operator).

    `by` is None for the command line (its detail says "via": "cli") and for
    failed logins under unknown names. Texts are kept with their invisible
    format characters spelled out, so an entry reads as what was typed.
    """
    session.add(AuditEvent(
        action=action, subject=reveal_controls(subject)[:128],
        operator_id=by.id if by else None, actor=by.name if by else "",
        detail={key: reveal_controls(value) if isinstance(value, str) else value
                for key, value in (detail or {}).items()},
    ))
    session.flush()


def recent(session: so.Session, *, limit: int = 200, before_id: int | None = None) -> list[AuditEvent]:
    """The newest events first, `limit` at a time, older than `before_id` when paging."""
    query = sa.select(AuditEvent).order_by(AuditEvent.id.desc())
    if before_id is not None:
        query = query.where(AuditEvent.id < before_id)
    return list(session.scalars(query.limit(limit)))
