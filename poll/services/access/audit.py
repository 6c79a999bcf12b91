"""The audit trail: append-only records of operator actions and logins."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from poll import phones
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


@dataclass(frozen=True)
class Filters:
    """What the audit trail is narrowed to; an empty field does not narrow it.

    `poll` matches the events whose subject is that poll's slug (its creation, audience, sends, exports...)
    and the jobs started for it; `operator` the name recorded with the event, which outlives a deleted operator.
    """

    poll: str = ""
    operator: str = ""
    action: str = ""


# Long enough runs of digits are phone numbers (E.164 or local): "+9647701234567", "07701234567".
_PHONE = re.compile(r"\+?[0-9]{9,15}")


def mask_phones(text: str) -> str:
    """`text` with every phone number in it masked as the phone view shows it ("+964 7•• ••• •567")."""
    return _PHONE.sub(lambda found: phones.mask(found[0]), text)


def search(session: so.Session, filters: Filters, *, limit: int | None = 200,
           before_id: int | None = None) -> list[AuditEvent]:
    """The events that pass `filters`, newest first, `limit` at a time (None: all), older than `before_id`."""
    query = sa.select(AuditEvent).order_by(AuditEvent.id.desc())
    if filters.poll:
        query = query.where(sa.or_(AuditEvent.subject == filters.poll,
                                   AuditEvent.detail["poll"].as_string() == filters.poll))
    if filters.operator:
        query = query.where(AuditEvent.actor == filters.operator)
    if filters.action:
        query = query.where(AuditEvent.action == filters.action)
    if before_id is not None:
        query = query.where(AuditEvent.id < before_id)
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


def actors(session: so.Session) -> list[str]:
    """Every name that events were recorded under, deleted operators' too, in order."""
    return list(session.scalars(sa.select(AuditEvent.actor).where(AuditEvent.actor != "").distinct()
                                .order_by(AuditEvent.actor)))
