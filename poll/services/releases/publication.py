"""Public figures: differentially private releases of a poll's answers, within a stated budget.

The operator dashboard is live and exact. What the public sees (`/results/<slug>`
and the results API) is the newest release: its figures are computed from
count tables noised by OpenDP (`stats.privacy`, `services.releases.noisy_figures`),
so that, whatever anyone else knows, they change the odds of any one person's
answer by at most a factor of e^epsilon. Each poll states its budget: epsilon
in all (`Poll.epsilon_total`, default 1), shared evenly by at most
`Poll.release_limit` releases (default 2: one interim, one final). Interim releases come at most
every POLL_PUBLIC_REFRESH_MINUTES, once at least ten have answered, each
when the number who answered has at least doubled since the one before;
one release is kept for the poll's close (the final figures). Every release
is in the ledger (`services.releases.ledger`) with what it spent.

Between releases only the funnel (links sent, delivered, answered) moves:
it counts links, which say who was sent what, never what anyone answered.
Since every release is noised afresh and the budget bounds their number,
the snapshot and complementary-suppression checks that public figures once
needed are no longer used for them; operators' exact views still keep them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
import sqlalchemy.orm as so

from poll import iraq
from poll.models import Poll, PublicSnapshot
from poll.services.answering import tallies
from poll.services.releases import ledger, noisy_figures, results
from poll.services.simulations.runs import latest_run
from poll.stats import aapor, disclosure, privacy
from poll.vocabulary import Phase

PUBLIC_RELEASE = "public-release"  # its ledger kind


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
            code=o["code"], label=o["labels"], count=o["count"], share=o["share"], ci95=None,
            weighted_share=o["weighted_share"],
            weighted_ci95=tuple(o["weighted_ci95"]) if o["weighted_ci95"] else None, true_share=None,
        )
        for o in document["options"]
    ]
    w = document.get("weighting")
    weighting = results.Weighting(
        margins=w["margins"], respondents=w["respondents"], converged=w["converged"], iterations=w["iterations"],
        max_gap=0.0, design_effect=w["design_effect"], effective_n=w["effective_n"],
        largest_weight=w.get("largest_weight", 1.0), merged=w.get("merged", ""),
    ) if w else None
    codes = [o.code for o in options]
    breakdowns = {
        stratum: [
            results.Category(
                code=c["code"], invited=c.get("invited", 0), answered=c["answered"] or 0,
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
        probability_sample=document.get("rates", {}).get("rate_name") == aapor.RESPONSE_RATE,
        experiment=document.get("experiment"), notes=list(document.get("notes", [])),
        selection=document.get("selection_range"),
        governorate_estimates=document.get("governorate_estimates"),
    )


@dataclass(frozen=True)
class Budget:
    """A poll's public privacy budget: what it allows, what is spent, and whether a release is due now."""

    epsilon_total: float
    release_limit: int
    releases: int
    spent: float
    due: bool
    final: bool  # the due release is the poll's final one (made after it closed)

    @property
    def per_release(self) -> float:
        return self.epsilon_total / self.release_limit

    def document(self) -> dict:
        """What the public document says of the budget."""
        return {"epsilon_total": self.epsilon_total, "epsilon_per_release": round(self.per_release, 6),
                "release_limit": self.release_limit, "releases": self.releases, "epsilon_spent": round(self.spent, 6),
                "mechanism": privacy.MECHANISM, "unit": "one respondent (all of their answers)"}


def budget(session: so.Session, poll: Poll, *, now: datetime, answered: int, last: dict | None) -> Budget:
    """`poll`'s budget at `now`, with `answered` answers and `last` the newest release's basis (None: none yet)."""
    releases = len(ledger.entries(session, poll, PUBLIC_RELEASE))
    spent = ledger.epsilon_spent(session, poll)
    left = poll.release_limit - releases
    closed = poll.phase(now) == Phase.CLOSED
    last = last or {}
    if left <= 0 or answered < disclosure.MIN_GROUP or last.get("final"):
        due = final = False
    elif closed:
        due = final = True
    else:
        # Interim: one release is kept for the close, and each interim needs the answers to have doubled.
        due, final = left >= 2 and answered >= 2 * int(last.get("answered", 0)), False
    return Budget(float(poll.epsilon_total), int(poll.release_limit), releases, spent, due, final)


def _release(session: so.Session, poll: Poll, plan: Budget, now: datetime) -> tuple[dict, dict]:
    counts = tallies.counters(session, poll)
    tables, values = results.all_tables(session, poll, tallies.stratum_cells(session, poll))
    exact, shares = noisy_figures.tables_to_release(poll, tables, values)
    noisy = privacy.release(exact, plan.per_release, shares)
    spent = sum(table.epsilon for table in noisy.values())
    version = plan.releases + 1
    ledger.record(session, poll, PUBLIC_RELEASE, ledger.PUBLIC, epsilon=spent, detail={
        "version": version, "final": plan.final,
        "tables": {name: {"epsilon": table.epsilon, "scale": table.scale} for name, table in noisy.items()}})
    figures = noisy_figures.document(poll, noisy, latest_run(session, poll), counts)
    document = _base(session, poll, counts) | figures
    document["privacy"] = dataclasses.replace(plan, releases=version, spent=plan.spent + spent).document()
    document["published_at"] = now.isoformat(timespec="seconds")
    document["final"] = plan.final
    return document, {"answered": counts["answered"], "final": plan.final, "version": version}


def _base(session: so.Session, poll: Poll, counts: dict[str, int]) -> dict:
    # What every public document carries besides the noisy figures: the poll, its funnel and rates.
    run = latest_run(session, poll)
    document = {"poll": poll.slug, "status": poll.status, "small_cell": disclosure.MIN_GROUP,
                "self_selected": True, "strata_sources": results.strata_sources(poll, counts)}
    if run is not None:
        # A simulation's seed reproduces every simulated respondent and answer: operators may know it, the public not.
        document["simulation"] = {"scenario": run.scenario, "mode": run.mode, "population": run.population_size,
                                  "sample": run.sample_size, "simulated": True}
    return document | _funnel(session, poll, counts)


def _funnel(session: so.Session, poll: Poll, counts: dict[str, int]) -> dict:
    cases = results.dispositions(counts, results.stops_counted(session, poll))
    # Partial responses are counted with the completes: when only some answers are followed by more
    # questions, the partials would tell the first answer of the few still answering by SMS.
    folded = dataclasses.replace(cases, complete=cases.complete + cases.partial, partial=0)
    return {"invited": counts["invited"], "sent": counts["sent"], "delivered": counts["delivered"],
            "opened": counts["opened"], "answered": counts["answered"],
            "refused": {name.removeprefix("refused:"): v for name, v in counts.items()
                        if name.startswith("refused:") and v},
            "rates": aapor.document(folded, probability_sample=latest_run(session, poll) is not None)
            | {"partials_counted_as_complete": True}}


def _unreleased(session: so.Session, poll: Poll, counts: dict[str, int], plan: Budget) -> dict:
    # Before the first release: the funnel, and no figure of the answers.
    document = _base(session, poll, counts) | {
        "withheld": True, "answered_estimate": None, "notes": [noisy_figures.NOTE_NOT_RELEASED],
        "breakdowns": {stratum: [{"code": code, "invited": counts.get(f"invited:{stratum}:{code}", 0),
                                  "answered": None, "response_rate": None, "shares": None, "suppressed": True}
                                 for code in iraq.categories(stratum)] for stratum in iraq.STRATA},
        "options": [{"code": option.code, "label": option.label.get("en") or next(iter(option.label.values())),
                     "labels": dict(option.label), "count": None, "share": None, "ci95": None, "raw_share": None,
                     "weighted_share": None, "weighted_ci95": None, "true_share": None} for option in poll.options],
        "questions": [], "privacy": plan.document(), "published_at": None, "final": False,
    }
    return document


def _refresh(session: so.Session, poll: Poll, snapshot: PublicSnapshot | None, now: datetime) -> PublicSnapshot:
    # Either a new differentially private release, when one is due and the budget allows it, or the funnel
    # refreshed beside the last release's figures (links are counted exactly: they say who was sent what, and
    # how many answered, never what anyone answered).
    counts = tallies.counters(session, poll)
    plan = budget(session, poll, now=now, answered=counts["answered"],
                  last=snapshot.basis if snapshot is not None else None)
    if plan.due:
        document, basis = _release(session, poll, plan, now)
    elif snapshot is not None:
        document, basis = dict(snapshot.document), dict(snapshot.basis)
        document |= _funnel(session, poll, counts)
        document["privacy"] = plan.document()
    else:
        document, basis = _unreleased(session, poll, counts, plan), {}
    if snapshot is None:
        snapshot = PublicSnapshot(poll_id=poll.id, version=1, published_at=now, checked_at=now, document=document,
                                  basis=basis)
        session.add(snapshot)
    else:
        if plan.due:
            snapshot.version += 1
            snapshot.published_at = now
        snapshot.checked_at = now
        snapshot.document, snapshot.basis = document, basis
    session.flush()
    return snapshot


def forget(session: so.Session, poll: Poll) -> None:
    """Drop `poll`'s snapshot (when its answers are cleared)."""
    session.execute(sa.delete(PublicSnapshot).where(PublicSnapshot.poll_id == poll.id))
