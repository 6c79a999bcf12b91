"""The release gate: every figure or row of a poll's answers that leaves the database goes through here.

Pages, the API, the `poll` commands and every export call this module and
nothing else that reads answers (a layer test holds them to it). Each
release keeps the rule for its audience and is written in the poll's ledger
(`services.releases.ledger`), with who it went to and when:

- **Operators** see exact figures under the disclosure rule: groups of at
  least ten answers that do not all choose the same option, hidden categories
  hidden together and for good (`services.releases.suppression`), weighted figures
  only from enough answers and to 0.1 point (`services.releases.results`). Live views
  (the dashboard, `poll results`) are counted per operator; exports are
  recorded one by one with the shape their rows were generalised to, so a
  later export stays safe joined with every earlier one
  (`services.releases.answer_table`).
- **The public** sees differentially private releases within the poll's
  budget (`services.releases.publication`): each is recorded with the epsilon it spent.

A new output is written as a function here, or it cannot reach the answers.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import sqlalchemy.orm as so

from poll.models import Operator, Poll, PublicSnapshot
from poll.services.answering import tallies
from poll.services.releases import answer_table, codebook, exports, ledger, methodology, publication, results
from poll.services.releases.exports import DELIMITERS, csv_chunks, json_lines
from poll.services.releases.noisy_figures import NOTE_NOT_RELEASED, NOTE_TOO_NOISY
from poll.services.releases.publication import Publication
from poll.services.releases.results import (
    NOTE_NO_POPULATION,
    NOTE_NO_WEIGHTING,
    NOTE_NOT_CONVERGED,
    NOTE_REFERENCE_FAILED,
    NOTE_TOO_FEW_TO_WEIGHT,
    NOTE_WITHHELD,
    SMALL_CELL,
    Category,
    OptionResult,
    Results,
)

# Ledger kinds (public releases: `publication.PUBLIC_RELEASE`).
DASHBOARD = "dashboard"
RESULTS = "results"  # `poll results` and the operators' results JSON
ANSWERS_EXPORT = "answers-export"
RESULTS_EXPORT = "results-export"
LINKS_EXPORT = "links-export"
METHODOLOGY = "methodology"

# The types pages draw, and the formats rows are written in.
__all__ = ["SMALL_CELL", "Category", "OptionResult", "Publication", "Results", "DELIMITERS", "csv_chunks", "json_lines",
           "NOTE_NOT_RELEASED", "NOTE_TOO_NOISY", "NOTE_NO_POPULATION", "NOTE_NO_WEIGHTING", "NOTE_NOT_CONVERGED",
           "NOTE_TOO_FEW_TO_WEIGHT", "NOTE_WITHHELD", "NOTE_REFERENCE_FAILED"]


def audience_of(operator: Operator | None) -> str:
    """Who a release goes to, as the ledger names them: the operator, or "" for the command line."""
    return operator.name if operator is not None else ""


# Operators: exact figures under the disclosure rule.

def dashboard(session: so.Session, poll: Poll, operator: Operator | None) -> Results:
    """Every figure of the dashboard, live. May grow the poll's shown set: begin as a writer; the caller commits."""
    outcome = results.poll_results(session, poll)
    ledger.count_view(session, poll, DASHBOARD, audience_of(operator))
    return outcome


def operator_results(session: so.Session, poll: Poll, operator: Operator | None, *,
                     with_timeline: bool = True) -> Results:
    """The results as `poll results` gives them, live; counted in the ledger."""
    outcome = results.poll_results(session, poll, with_timeline=with_timeline)
    ledger.count_view(session, poll, RESULTS, audience_of(operator))
    return outcome


def operator_document(session: so.Session, poll: Poll, operator: Operator | None) -> dict:
    """`operator_results` as JSON (`document`)."""
    return document(operator_results(session, poll, operator))


def document(outcome: Results) -> dict:
    """Operators' results as JSON: the API's shape (`results.document`)."""
    return results.document(outcome)


def polls_at_a_glance(session: so.Session, polls: list[Poll]) -> list[tuple[Poll, dict[str, int]]]:
    """Each poll with its funnel counts (links invited, sent, delivered, opened, answered): no answer's content."""
    return [(poll, results.funnel(session, poll)) for poll in polls]


def server_refusals(session: so.Session) -> dict[str, int]:
    """Attempts that named no poll (links that do not exist), by kind."""
    return {name.removeprefix("refused:"): value for name, value in tallies.server_counters(session).items()
            if name.startswith("refused:") and value}


# Exports, each recorded with what it showed.

def answers_shape(session: so.Session, poll: Poll, operator: Operator | None) -> answer_table.Shape | None:
    """How `poll`'s answer rows will be shown to `operator` (None: exactly, a poll that is not anonymous).

    Raises Invalid when an anonymous poll's answers cannot be shown safely.
    May grow the shown set and writes the ledger: the caller commits.
    """
    return exports.anonymised_shape(session, poll, audience_of(operator)) if poll.is_anonymous else None


def record_export(session: so.Session, poll: Poll, operator: Operator | None, what: str, fmt: str) -> None:
    """Write an export of `what` ("answers", "results", "links") in `fmt` to the ledger."""
    kind = {"answers": ANSWERS_EXPORT, "results": RESULTS_EXPORT, "links": LINKS_EXPORT}[what]
    ledger.record(session, poll, kind, audience_of(operator), detail={"format": fmt})


def answer_rows(session: so.Session, poll: Poll, shape: answer_table.Shape | None
                ) -> tuple[list[str], Iterator[tuple]]:
    """The answers, one row per response, as `shape` shows them (see `answers_shape`)."""
    return exports.answer_rows(session, poll, shape)


def answer_file(session: so.Session, poll: Poll, fmt: str, language: str,
                shape: answer_table.Shape | None) -> bytes:
    """The answers as an SPSS or Stata file (see `answers_shape`)."""
    return exports.answer_file(session, poll, fmt, language, shape)


def answers_codebook(poll: Poll, fmt: str, language: str) -> str:
    """What each column of the answers export means, as HTML or CSV (the form's, no answer: see `codebook`)."""
    return codebook.codebook(poll, fmt, language)


def answers_syntax(poll: Poll, fmt: str, language: str, delimiter: str = ",") -> str:
    """SPSS (sps) or Stata (do) syntax that labels the answers CSV (no answer: see `codebook`)."""
    return codebook.syntax(poll, fmt, language, delimiter)


def result_rows(session: so.Session, poll: Poll, shape=None) -> tuple[list[str], Iterator[tuple]]:
    """The results table, a row per answer option, as operators see it."""
    return exports.result_rows(session, poll)


def link_rows(session: so.Session, poll: Poll, shape=None) -> tuple[list[str], Iterator[tuple]]:
    """Each link's recipient and delivery, for admins: nothing of what anyone answered."""
    return exports.link_rows(session, poll)


def methodology_statement(session: so.Session, poll: Poll, operator: Operator | None, *, sms_sender: str,
                          contact: str = "") -> dict:
    """The methodology statement with the operators' figures (`poll export --what methodology`)."""
    document = results.document(operator_results(session, poll, operator, with_timeline=False))
    return methodology.statement(session, poll, document, sms_sender=sms_sender, contact=contact)


# The public: differentially private releases.

def public_is_due(session: so.Session, poll: Poll, *, now: datetime, refresh_after: timedelta) -> bool:
    """Whether the public figures should be looked at again now (then `public` writes). Reads only."""
    return publication.is_due(session, poll, now=now, refresh_after=refresh_after)


def public(session: so.Session, poll: Poll, *, now: datetime, refresh_after: timedelta) -> Publication:
    """The public figures of `poll`: its newest differentially private release (made first when due)."""
    return publication.current(session, poll, now=now, refresh_after=refresh_after)


def last_public(session: so.Session, poll: Poll) -> Publication | None:
    """The poll's public release as it stands, refreshing nothing (None before the first): for lists of polls,
    which must not spend a poll's privacy budget by being looked at."""
    snapshot = session.get(PublicSnapshot, poll.id)
    return Publication(snapshot.document, snapshot.published_at, snapshot.version) if snapshot is not None else None


def public_results(poll: Poll, published: Publication) -> Results:
    """A public release read back as Results, for the pages' charts."""
    return publication.as_results(poll, published.document)


def public_methodology(session: so.Session, poll: Poll, published: Publication, *, sms_sender: str,
                       dates, contact: str = "") -> dict:
    """The methodology statement beside the public figures, from the same release."""
    return methodology.statement(session, poll, published.document, sms_sender=sms_sender, dates=dates,
                                 contact=contact)


def field_dates(session: so.Session, poll: Poll, *, now: datetime):
    """When `poll` was opened and closed (from its audit trail and schedule)."""
    return methodology.field_dates(session, poll, now=now)
