"""Public figures: snapshots of a poll's results, refreshed only when no answer can be isolated by comparing two.

The operator dashboard is live. What the public sees (`/results/<slug>` and
the results API) is the newest snapshot: made on the first public look at an
opened poll, refreshed at most every POLL_PUBLIC_REFRESH_MINUTES, and only
when everything that differs from the previous snapshot covers enough
answers (`stats.disclosure.change_may_be_shown`). Until then the previous
snapshot stays, however many looks there are: a look before and a look after
one answer show the same figures.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import sqlalchemy as sa
import sqlalchemy.orm as so

from poll.models import Poll, PublicSnapshot
from poll.services import results, suppression, tallies
from poll.stats import aapor, disclosure


@dataclass(frozen=True)
class Publication:
    """A public snapshot as readers get it."""

    document: dict
    published_at: datetime
    version: int


def is_due(session: so.Session, poll: Poll, *, now: datetime, refresh_after: timedelta) -> bool:
    """Whether `poll`'s public figures should be looked at again (no snapshot yet, or the interval passed). Reads only."""
    checked = session.scalar(sa.select(PublicSnapshot.checked_at).where(PublicSnapshot.poll_id == poll.id))
    return checked is None or now - checked >= refresh_after


def current(session: so.Session, poll: Poll, *, now: datetime, refresh_after: timedelta) -> Publication:
    """The public figures of `poll`: the snapshot, refreshed first if it is due and the change is safe.

    A refresh writes: when `is_due`, call this in a transaction begun as a
    writer (`db.begin_write`); the caller commits.
    """
    # One refresher at a time per poll: on PostgreSQL the poll's row lock, on SQLite the write lock.
    poll = session.get(Poll, poll.id, with_for_update=True, populate_existing=True)
    snapshot = session.get(PublicSnapshot, poll.id, populate_existing=True)
    if snapshot is None or now - snapshot.checked_at >= refresh_after:
        snapshot = _refresh(session, poll, snapshot, now)
    return Publication(snapshot.document, snapshot.published_at, snapshot.version)


def as_results(poll: Poll, document: dict) -> results.Results:
    """A public document read back as Results, so public pages draw it with the dashboard's charts."""
    options = [
        results.OptionResult(
            code=o["code"], label=o["labels"], count=o["count"], share=o["share"],
            ci95=tuple(o["ci95"]) if o["ci95"] else None, weighted_share=o["weighted_share"],
            weighted_ci95=tuple(o["weighted_ci95"]) if o["weighted_ci95"] else None, true_share=o["true_share"],
        )
        for o in document["options"]
    ]
    w = document.get("weighting")
    weighting = results.Weighting(
        margins=w["margins"], respondents=w["respondents"], converged=w["converged"], iterations=w["iterations"],
        max_gap=0.0, design_effect=w["design_effect"], effective_n=w["effective_n"],
        largest_weight=w.get("largest_weight", 1.0), merged=w.get("merged", ""),
        balance=w.get("balance", {}), spread=w.get("weight_spread", {}),
        poststratified=(w.get("poststratified") or {}).get("shares", {}),
        poststratified_n=(w.get("poststratified") or {}).get("effective_n"),
    ) if w else None
    codes = [o.code for o in options]
    breakdowns = {
        stratum: [
            results.Category(
                code=c["code"], invited=c["invited"], answered=c["answered"] or 0,
                shares=[c["shares"][code] for code in codes] if c["shares"] else None, true_shares=None,
            )
            for c in categories
        ]
        for stratum, categories in document["breakdowns"].items()
    }
    return results.Results(
        poll=poll, invited=document["invited"], sent=document["sent"], delivered=document["delivered"],
        opened=document["opened"], answered=document["answered"], refused=document["refused"], options=options,
        weighting=weighting, run=None, breakdowns=breakdowns, withheld=document["withheld"],
        questions=document.get("questions", []), strata_sources=document.get("strata_sources", {}),
        dispositions=aapor.Dispositions(**document["rates"]["dispositions"]) if "rates" in document else None,
        partials_folded=bool(document.get("rates", {}).get("partials_counted_as_complete")),
        experiment=document.get("experiment"),
    )


def _refresh(session: so.Session, poll: Poll, snapshot: PublicSnapshot | None, now: datetime) -> PublicSnapshot:
    cells = tallies.stratum_cells(session, poll)
    tables, _values = results.all_tables(session, poll, cells)
    masks = suppression.masks(session, poll, tables)
    if snapshot is not None and not _may_follow(snapshot.basis, tables):
        snapshot.checked_at = now  # not yet: too few new answers to show without isolating some
        session.flush()
        return snapshot
    outcome = results.poll_results(session, poll, with_timeline=False, cells=cells, shown=masks)
    document = public_document(results.document(outcome), outcome) | {
        "published_at": now.isoformat(timespec="seconds"),
    }
    basis = {
        "withheld": outcome.withheld,
        "tables": {stratum: table.tolist() for stratum, (_codes, table) in tables.items()},
        "shown": {stratum: mask.tolist() for stratum, mask in masks.items()},
    }
    if snapshot is None:
        snapshot = PublicSnapshot(poll_id=poll.id, version=1, published_at=now, checked_at=now, document=document,
                                  basis=basis)
        session.add(snapshot)
    else:
        snapshot.version += 1
        snapshot.published_at = snapshot.checked_at = now
        snapshot.document, snapshot.basis = document, basis
    session.flush()
    return snapshot


def _may_follow(before: dict, tables: dict[str, tuple[list[str], np.ndarray]]) -> bool:
    # Whether figures of `tables` may follow the snapshot whose counts and shown categories were `before`.
    if before["withheld"]:
        return True  # nothing of the answers' options was shown: only this publication counts
    return all(
        disclosure.change_may_be_shown(table, np.array(before["tables"][stratum]),
                                       np.array(before["shown"][stratum], dtype=bool),
                                       every_option=stratum in suppression.EVERY_OPTION)
        for stratum, (_codes, table) in tables.items()
        if stratum in before["tables"]  # a breakdown the snapshot did not have showed nothing
    )


def public_document(document: dict, outcome: results.Results) -> dict:
    """The results JSON with breakdowns: suppressed categories show neither shares nor answers."""
    document = dict(document)
    codes = [o.code for o in outcome.options]
    document["breakdowns"] = {
        stratum: [
            {
                "code": category.code,
                "invited": category.invited,
                "answered": None if category.is_suppressed else category.answered,
                "response_rate": None if category.is_suppressed else category.response_rate,
                "shares": None if category.is_suppressed else dict(zip(codes, category.shares, strict=True)),
                "suppressed": category.is_suppressed,
            }
            for category in categories
        ]
        for stratum, categories in outcome.breakdowns.items()
    }
    if "rates" in document:
        # Public rates count partial responses with the completes: when only some answers are followed by
        # more questions, the partials would tell the first answer of the few still answering by SMS.
        cases = aapor.Dispositions(**document["rates"]["dispositions"])
        folded = dataclasses.replace(cases, complete=cases.complete + cases.partial, partial=0)
        document["rates"] = aapor.document(folded) | {"partials_counted_as_complete": True}
    document["small_cell"] = results.SMALL_CELL
    document["self_selected"] = True
    if "simulation" in document:
        # A simulation's seed reproduces every simulated respondent and answer: operators may know it, the public not.
        document["simulation"] = {key: value for key, value in document["simulation"].items() if key != "seed"}
    return document


def forget(session: so.Session, poll: Poll) -> None:
    """Drop `poll`'s snapshot (when its answers are cleared)."""
    session.execute(sa.delete(PublicSnapshot).where(PublicSnapshot.poll_id == poll.id))
