"""Refused answer attempts: an append-only log kept for the funnel and the audit trail."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so

from poll.models import Refusal
from poll.services.answering import tallies


def record(session: so.Session, poll_id: int | None, kind: str, *, channel: str, at: datetime) -> None:
    """Log one refused attempt (never the token that was tried), counted for its poll or, without one, server-wide."""
    session.add(Refusal(poll_id=poll_id, kind=kind, channel=channel, occurred_at=at))
    _count(session, poll_id, kind, 1)
    session.flush()


def _count(session: so.Session, poll_id: int | None, kind: str, number: int) -> None:
    if poll_id is None:
        tallies.bump_server(session, {f"refused:{kind}": number})
    else:
        tallies.bump(session, poll_id, {f"refused:{kind}": number})


def record_many(session: so.Session, poll_id: int | None, kind: str, *, channel: str, times: Iterable[datetime]) -> int:
    """Log many refused attempts of one kind in bulk; returns how many."""
    rows = [{"poll_id": poll_id, "kind": kind, "channel": channel, "occurred_at": at} for at in times]
    if rows:
        session.execute(sa.insert(Refusal), rows)
        _count(session, poll_id, kind, len(rows))
    return len(rows)
