"""Refused answer attempts: an append-only log kept for the funnel and the audit trail."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so

from poll.models import Refusal
from poll.services import tallies


def record(session: so.Session, poll_id: int | None, kind: str, *, channel: str, at: datetime) -> None:
    """Log one refused attempt (never the token that was tried)."""
    session.add(Refusal(poll_id=poll_id, kind=kind, channel=channel, occurred_at=at))
    if poll_id is not None:
        tallies.bump(session, poll_id, {f"refused:{kind}": 1})
    session.flush()


def record_many(session: so.Session, poll_id: int | None, kind: str, *, channel: str, times: Iterable[datetime]) -> int:
    """Log many refused attempts of one kind in bulk; returns how many."""
    rows = [{"poll_id": poll_id, "kind": kind, "channel": channel, "occurred_at": at} for at in times]
    if rows:
        session.execute(sa.insert(Refusal), rows)
        if poll_id is not None:
            tallies.bump(session, poll_id, {f"refused:{kind}": len(rows)})
    return len(rows)
