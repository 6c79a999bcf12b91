"""The release ledger: every release of a poll's answers, to whom and when (`models.Release`).

The release gate (`services.releases.release`) writes it; it reads it back to know
what was released before: the public privacy budget already spent, and the
shapes earlier answers exports were generalised to.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from poll.models import Poll, Release, utcnow

PUBLIC = "public"


def record(session: so.Session, poll: Poll, kind: str, audience: str, *, epsilon: float | None = None,
           detail: dict[str, Any] | None = None) -> Release:
    """Append one release of `poll` of `kind` to `audience` ("public", or an operator's name)."""
    entry = Release(poll_id=poll.id, kind=kind, audience=audience, epsilon=epsilon, detail=detail or {})
    session.add(entry)
    session.flush()
    return entry


def count_view(session: so.Session, poll: Poll, kind: str, audience: str) -> None:
    """Count one more look at a live view (the dashboard, `poll results`): one row per poll, kind and audience."""
    now = utcnow()
    updated = session.execute(
        sa.update(Release).where(Release.poll_id == poll.id, Release.kind == kind, Release.audience == audience)
        .values(times=Release.times + 1, last_at=now)
    ).rowcount
    if not updated:
        record(session, poll, kind, audience)


def entries(session: so.Session, poll: Poll, kind: str | None = None) -> list[Release]:
    """`poll`'s releases, oldest first, of `kind` if given."""
    query = sa.select(Release).where(Release.poll_id == poll.id).order_by(Release.id)
    if kind is not None:
        query = query.where(Release.kind == kind)
    return list(session.scalars(query))


def epsilon_spent(session: so.Session, poll: Poll) -> float:
    """The privacy-loss budget `poll`'s public releases have spent so far."""
    return float(session.scalar(sa.select(sa.func.coalesce(sa.func.sum(Release.epsilon), 0.0))
                                .where(Release.poll_id == poll.id)) or 0.0)


def forget(session: so.Session, poll: Poll) -> None:
    """Drop `poll`'s ledger (when its answers are cleared: nothing of them is left to join)."""
    session.execute(sa.delete(Release).where(Release.poll_id == poll.id))
