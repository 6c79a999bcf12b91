"""Which categories of a poll's breakdowns are shown, one growing set for every view of the poll.

A category hidden in one view and shown in another (a governorate hidden on
the dashboard but shown in a public snapshot, or merged into "other" in an
export) could be subtracted out. So every view reads the same set
(`models.ShownCategory`): it starts as `stats.disclosure.protect` decides,
and then only grows (`stats.disclosure.extend`), never hiding what it showed.
"""

from __future__ import annotations

import numpy as np
import sqlalchemy as sa
import sqlalchemy.orm as so

from poll.db import insert_or_skip
from poll.models import Poll, ShownCategory
from poll.stats import disclosure

Tables = dict[str, tuple[list[str], np.ndarray]]


VARIANT = "variant"  # the breakdown of the headline by split-ballot variant
# Breakdowns whose groups cross every other one (a split ballot's variants are dealt within every stratum): each
# of their groups, and their hidden ones together, must hold every option (`disclosure.is_safe`).
EVERY_OPTION = frozenset({VARIANT})


def masks(session: so.Session, poll: Poll, tables: Tables) -> dict[str, np.ndarray]:
    """Per stratum, which categories of `tables` (codes, counts; "not known" last) are shown.

    When the set grows, the new categories are written in the session's
    transaction, for the caller to commit: on SQLite, begin it as a writer
    (`db.begin_write`), as the views and commands that show results do.
    """
    recorded = _recorded(session, poll)
    shown = _masks(recorded, tables)
    rows = [{"poll_id": poll.id, "stratum": stratum, "code": code}
            for stratum, (codes, _table) in tables.items()
            for code, is_shown in zip(codes, shown[stratum], strict=True)
            if is_shown and code not in recorded.get(stratum, set())]
    if rows:
        session.execute(insert_or_skip(session, ShownCategory, ["poll_id", "stratum", "code"]), rows)
    return shown


def _recorded(session: so.Session, poll: Poll) -> dict[str, set[str]]:
    recorded: dict[str, set[str]] = {}
    for stratum, code in session.execute(
        sa.select(ShownCategory.stratum, ShownCategory.code).where(ShownCategory.poll_id == poll.id)
    ):
        recorded.setdefault(stratum, set()).add(code)
    return recorded


def _masks(recorded: dict[str, set[str]], tables: Tables) -> dict[str, np.ndarray]:
    out = {}
    for stratum, (codes, table) in tables.items():
        before = np.array([code in recorded.get(stratum, set()) for code in codes], dtype=bool)
        out[stratum] = disclosure.extend(table, before, never=[len(codes) - 1], every_option=stratum in EVERY_OPTION)
    return out


def forget(session: so.Session, poll: Poll) -> None:
    """Start `poll`'s shown set afresh (when its answers are cleared)."""
    session.execute(sa.delete(ShownCategory).where(ShownCategory.poll_id == poll.id))
