"""The audit trail: append-only records of operator actions and logins."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from poll.models import AuditEvent


def record(
    session: so.Session, action: str, subject: str = "", *, operator_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append one event, e.g. record(session, "poll-opened", "coalition-2024", operator_id=3)."""
    session.add(AuditEvent(action=action, subject=subject[:128], operator_id=operator_id, detail=detail or {}))
    session.flush()


def recent(session: so.Session, *, limit: int = 200, before_id: int | None = None) -> list[AuditEvent]:
    """The newest events first, `limit` at a time, older than `before_id` when paging."""
    query = sa.select(AuditEvent).options(so.joinedload(AuditEvent.operator)).order_by(AuditEvent.id.desc())
    if before_id is not None:
        query = query.where(AuditEvent.id < before_id)
    return list(session.scalars(query.limit(limit)))
