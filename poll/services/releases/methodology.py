"""A poll's methodology statement: the AAPOR Transparency Initiative's items, filled from the poll's own data.

Who sponsored and sent it, when it was in the field, by what mode, to what
frame and how many, every question's exact wording in order and in each
language, the outcome rates, how it was weighted and to what, what the
intervals mean, the quality checks, and its limitations. The figures come
from a results document (`results.document`, or the public snapshot), so the
statement says what the page beside it shows.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so

from poll.errors import Invalid
from poll.i18n import LANGUAGES
from poll.models import AuditEvent, Link, Poll, utcnow
from poll.services.answering import tallies
from poll.services.definition.polls import experiment_of, questions_of
from poll.services.messaging import outbox
from poll.services.releases import references
from poll.stats import weighting
from poll.vocabulary import MessageKind, PollStatus

# The statement's prose, in English as the JSON export gives it; the page says the same in the reader's
# language (templates/results/methodology.html), and a test holds the English page to these words.
MODE = ("SMS to mobile numbers, each with a personal link that can be used once; answered on a web form in the "
        "phone's browser, or by replying to the SMS.")
LIMITATIONS = (
    "Self-selection: people chose whether to answer, and those who did may think differently from those who did "
    "not in ways weighting cannot see.",
    "Coverage: only people with a mobile phone whose number was in the list could be invited; people without a "
    "phone, or sharing one, are missed or under-represented.",
    "Forwarded links: a link may be answered by someone other than the person it was sent to.",
    "Measurement: answers to a politically sensitive question may be withheld or misreported, more so where "
    "people fear being identified.",
)
INTERVALS = ("The weighted estimate's 95% interval is model-based: it assumes that, within each governorate, sex "
             "and age band, the people who answered think like those who did not, and it is widened by the design "
             "effect of the weights. It does not cover self-selection beyond those groups, coverage or measurement "
             "error. Raw shares describe only the people who answered and carry no interval.")
# The interval's method, by name (AAPOR Transparency Initiative).
INTERVAL_METHOD = ("Wilson score interval of the weighted share at Kish's effective sample size (the number of "
                   "answers over the design effect of the weights, 1 + CV²); on public pages the variance of the "
                   "privacy noise is added")

PRIVACY = ("The public figures are differentially private: each release adds random noise, drawn by the OpenDP "
           "library, to a few tables of counts, and every public figure is computed from those noisy counts. "
           "Whatever else someone knows, a release changes what can be inferred about any one person's answers by "
           "at most a factor of e to the power epsilon, and all releases of this poll together by at most e to the "
           "power of their epsilons added up. The weighted estimate's interval includes the noise.")


def statement(session: so.Session, poll: Poll, document: dict, *, sms_sender: str,
              dates: tuple[datetime, datetime | None] | None = None, contact: str = "") -> dict:
    """The methodology statement of `poll` whose results are `document`: JSON-ready, in English.

    `dates` are its `field_dates`, when the caller has them already; `contact` whom to ask about the poll.
    """
    opened, closed = dates or field_dates(session, poll, now=utcnow())
    weighted = document.get("weighting")
    return {
        "poll": poll.slug,
        "sponsor": dict(poll.sender),
        "sms_sender": poll.sms_sender or sms_sender,
        "field_dates": {"opened": _iso(opened), "closed": _iso(closed)},
        "status": poll.status,
        "mode": MODE,
        "population": POPULATION,
        "frame": {
            "audience": poll.audience.name if poll.audience else None,
            "source": SIMULATED_LIST if "simulation" in document else LIST_SOURCE,
            "invited": document["invited"], "sent": document["sent"], "delivered": document["delivered"],
            "answered": document["answered"],
        },
        "sample_design": ELIGIBILITY,
        "invitations": invitations(session, poll),
        "channels": document.get("channels"),
        "contact": contact or None,
        # When the retention purge destroyed the numbers, links and SMS texts (services.audience.retention); None: not yet.
        "contacts_destroyed_at": _iso(poll.contacts_purged_at),
        "questions": [
            {"position": n, **{key: value for key, value in asdict(question).items() if value not in (None, {}, ())}}
            for n, question in enumerate(questions_of(poll), start=1)
        ],
        "experiment": _experiment(poll),
        "rates": document.get("rates"),
        "weighting": None if weighted is None else {
            "variables": list(weighted.get("targets") or ("governorate", "sex", "age_band")),
            "method": "raking (iterative proportional fitting) of the answers to the population margins, weights "
                      f"trimmed to {weighting.TRIM_LOWER:g}-{weighting.TRIM_UPPER:g} times the mean",
            **weighted,
            "not_weighted_on": not_weighted_on(poll, weighted),
        },
        "strata_sources": document.get("strata_sources", {}),
        "intervals": INTERVALS,
        "interval_method": interval_method(weighted),
        "selection_range": document.get("selection_range"),
        "privacy": document.get("privacy"),
        "privacy_meaning": PRIVACY if document.get("privacy") else None,
        "quality": {"refused_attempts": document.get("refused", {}),
                    "small_groups": "figures of fewer than 10 answers, or of answers all alike, are not shown"},
        "limitations": list(LIMITATIONS),
        "simulated": "simulation" in document,
    }


def interval_method(weighted: dict | None) -> str:
    """How the weighted shares' interval is made: the operators' figures say (services.releases.results WEIGHTED_INTERVAL);
    the public ones are Kish's with the noise added."""
    chosen = (weighted or {}).get("interval")
    return chosen["why"] if chosen else INTERVAL_METHOD


def not_weighted_on(poll: Poll, weighted: dict) -> list[dict]:
    """The profile questions the weighted estimate is not weighted on (no sourced target), each with why."""
    targets = weighted.get("targets") or {}
    return [{"variable": name, "why": f"no sourced target for {name}: not weighted on it"}
            for name in references.profile_questions_names(poll) if name not in targets]


POPULATION = ("Adults (18 and over) with a mobile phone in Iraq's 18 governorates, the Kurdistan Region included; "
              "the estimate is weighted to all adults there.")
LIST_SOURCE = ("A list of mobile numbers imported by the operator. This server does not know where the numbers "
               "came from or whom they leave out, so the list is no probability sample of a defined population and "
               "its coverage is unknown; ask the contact.")
SIMULATED_LIST = "A random sample of a simulated population of Iraqi adult mobile subscribers."
ELIGIBILITY = ("Every number in the list was sent a link; there was no sampling within it. Anyone holding a link "
               "could answer: age is asked, but being 18 or over is not screened, so answers from minors are not "
               "removed.")
LINK_PLACEHOLDER = "[personal link]"


def invitations(session: so.Session, poll: Poll) -> dict:
    """The invitation SMS in each language (reminders repeat it), and how many of each kind were sent, when."""
    texts = {}
    for language in LANGUAGES:
        try:
            texts[language] = outbox.compose(poll, language, LINK_PLACEHOLDER)
        except Invalid:
            texts[language] = None
    timing = {}
    # Invitations by the links' own send times (a simulation sends without the outbox): how many from the kept
    # counter, the first and last by index, so the statement costs the same at a million links as at ten.
    sent = tallies.counters(session, poll).get("sent", 0)
    if sent:
        sent_links = sa.select(Link.sent_at).where(Link.poll_id == poll.id, Link.sent_at.is_not(None))
        first = session.scalar(sent_links.order_by(Link.sent_at).limit(1))
        last = session.scalar(sent_links.order_by(Link.sent_at.desc()).limit(1))
        timing[str(MessageKind.INVITATION)] = {"sent": sent, "first": _iso(first), "last": _iso(last)}
    # Reminders by the audit trail's record of each batch queued (a few entries a poll).
    batches = session.execute(
        sa.select(AuditEvent.occurred_at, AuditEvent.detail)
        .where(AuditEvent.subject == poll.slug, AuditEvent.action == "reminders-queued")
        .order_by(AuditEvent.occurred_at)
    ).all()
    queued = [(at, int((detail or {}).get("queued") or 0)) for at, detail in batches]
    queued = [(at, number) for at, number in queued if number]
    if queued:
        timing[str(MessageKind.REMINDER)] = {"sent": sum(number for _at, number in queued),
                                             "first": _iso(queued[0][0]), "last": _iso(queued[-1][0])}
    return {"texts": texts, "reminders": "a reminder says it is one, then repeats the invitation's text and link", "sent": timing}


def _experiment(poll: Poll) -> dict | None:
    # How the headline was asked in each variant, exactly, and how links were given one.
    experiment = experiment_of(poll)
    if experiment is None:
        return None
    headline = next(question for question in questions_of(poll) if question.is_headline)
    return {
        "assignment": "each link was given one variant at random (seeded), balanced within governorate, sex and "
                      "age band; the answer keeps its variant",
        "reference": experiment.variants[0].name,
        "comparison": "shares among those who answered, unweighted; differences from the reference with "
                      "Newcombe's hybrid score 95% interval",
        "variants": [
            {"name": variant.name, "changes": variant.kind, "label": variant.question_label(headline),
             "steps": [{"codes": list(step.codes), "label": step.label} for step in variant.steps],
             "then": variant.then or None,
             "choices": [{"code": c.code, "label": c.label} for c in variant.headline(headline).choices]}
            for variant in experiment.variants
        ],
    }


def field_dates(session: so.Session, poll: Poll, *, now: datetime) -> tuple[datetime, datetime | None]:
    """When `poll` first opened (or opens), and when it closed: None while it has not closed by `now`.

    The earlier of the audit trail's first opening and the schedule's
    `opens_at` (opening again moves it), else the poll's creation; a
    scheduled opening still to come is given as it is.
    """
    first, last = {}, {}
    for action, earliest, latest in session.execute(
        sa.select(AuditEvent.action, sa.func.min(AuditEvent.occurred_at), sa.func.max(AuditEvent.occurred_at))
        .where(AuditEvent.subject == poll.slug, AuditEvent.action.in_(("poll-opened", "poll-closed")))
        .group_by(AuditEvent.action)
    ):
        first[action], last[action] = earliest, latest
    scheduled = poll.opens_at
    if scheduled is not None and scheduled > now:
        opened = scheduled  # not open yet: when it will be
    else:
        opened = min((d for d in (first.get("poll-opened"), scheduled) if d is not None), default=poll.created_at)
    if poll.status == PollStatus.CLOSED:
        closed = poll.closes_at if poll.closes_at is not None and poll.closes_at <= now else last.get("poll-closed")
        closed = closed or poll.closes_at or now
    else:
        closed = poll.closes_at if poll.closes_at is not None and poll.closes_at <= now else None
    return opened, closed


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="minutes") if moment else None
