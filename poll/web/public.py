"""What the public results page shows, in the reader's language: the estimate first, then who answered.

The page leads with the weighted estimate and its model-based interval where
weighting worked, and with the raw shares, without an interval, where it did
not: an interval computed as if those who answered were a random sample
would claim a precision a self-selected poll does not have. Percentages
shown side by side are rounded by largest remainder, so they sum to 100.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext as _

from poll import iraq
from poll.i18n import Language, pick
from poll.services.releases import release
from poll.services.releases.release import Category, Publication, Results
from poll.stats.proportions import rounded_percentages
from poll.web import words


@dataclass(frozen=True)
class Bar:
    """One answer's figure: its label, its percentage as shown, the exact share and its interval if it has one."""

    code: str
    label: str
    percent: float
    share: float
    interval: tuple[float, float] | None = None
    count: int | None = None


@dataclass(frozen=True)
class Headline:
    """The headline's figures: `weighted` says whether `bars` are the weighted estimate or the raw shares."""

    weighted: bool
    bars: list[Bar]
    raw: list[Bar]


@dataclass(frozen=True)
class Group:
    """A group of respondents a reader may look at on its own (U-Report's filters): sex, age band or governorate."""

    key: str  # "sex:F", as the page's `group` parameter
    stratum: str
    name: str


@dataclass(frozen=True)
class GroupFigures:
    group: Group
    answered: int
    invited: int
    bars: list[Bar] | None  # None: hidden, too few answered (or to keep another group hidden)


@dataclass(frozen=True)
class Entry:
    """A poll in the list of results: whether it is simulated, and its last public release's N and leading answer."""

    poll: object
    simulated: bool
    answered: int | None  # None: nothing released yet
    weighted: bool = False
    leading: Bar | None = None  # the answer with the largest share, None while the answers are withheld


def entry(poll, published: Publication | None, language: Language) -> Entry:
    """How the list of results names `poll`, from its last public release (`published`) alone."""
    if published is None:
        return Entry(poll, False, None)
    simulated = is_simulated(published)
    outcome = release.public_results(poll, published)
    shown = headline(outcome, [pick(option.label, language) for option in outcome.options])
    leading = max(shown.bars, key=lambda bar: bar.share) if shown else None
    return Entry(poll, simulated, outcome.answered, shown.weighted if shown else False, leading)


def is_simulated(published: Publication | None) -> bool:
    """Whether a public release is of simulated answers: every page showing it must say so."""
    return published is not None and bool(published.document.get("simulation"))


def headline(outcome: Results, labels: list[str]) -> Headline | None:
    """The headline's bars, or None while its answers are withheld."""
    if outcome.withheld:
        return None
    options = outcome.options
    raw = _bars(options, labels, [o.share for o in options], counts=[o.count for o in options])
    if all(o.weighted_share is not None for o in options):
        return Headline(True, _bars(options, labels, [o.weighted_share for o in options],
                                    intervals=[o.weighted_ci95 for o in options]), raw)
    return Headline(False, raw, raw)


def question_bars(outcome: Results, language: Language) -> dict[str, list[Bar]]:
    """Per choice question after the headline, the bars of its choices that are shown with a share."""
    out = {}
    for question in outcome.questions:
        if question["role"] == "headline" or not question.get("options"):
            continue
        shown = [option for option in question["options"] if option.get("share") is not None]
        if not shown:
            continue
        percents = rounded_percentages([option["share"] for option in shown])
        out[question["name"]] = [
            Bar(option["code"], pick(option["labels"], language), percent, option["share"],
                tuple(option["ci95"]) if option.get("ci95") else None, option["count"])
            for option, percent in zip(shown, percents, strict=True)
        ]
    return out


def summary(outcome: Results, shown: Headline | None) -> str:
    """The figures in one line, for a link preview: how many answered, and each answer's share as the page shows it."""
    answered = _("%(answered)s answered", answered=f"{outcome.answered:,}")
    if shown is None:
        return answered + "."
    return answered + ": " + " · ".join(f"{bar.label} {bar.percent:.0f}%" for bar in shown.bars)


def groups(outcome: Results, language: Language) -> list[Group]:
    """Every sex, age band and governorate the breakdowns have, in that order, named in `language`."""
    out = []
    for stratum in iraq.STRATA:
        for category in outcome.breakdowns.get(stratum, []):
            out.append(Group(f"{stratum}:{category.code}", stratum, category_name(stratum, category.code, language)))
    return out


def group_figures(outcome: Results, labels: list[str], key: str | None, language: Language) -> GroupFigures | None:
    """The figures of the group `key` ("sex:F"), or None when there is no such group."""
    stratum, _sep, code = (key or "").partition(":")
    category: Category | None = next((c for c in outcome.breakdowns.get(stratum, []) if c.code == code), None)
    if category is None:
        return None
    group = Group(key, stratum, category_name(stratum, code, language))
    bars = None if category.is_suppressed else _bars(outcome.options, labels, category.shares)
    return GroupFigures(group, category.answered, category.invited, bars)


def category_name(stratum: str, code: str, language: Language) -> str:
    """A governorate's, sex's or age band's name in `language`."""
    if stratum == "governorate":
        found = iraq.find_governorate(code)
        return found.name(language.code) if found else code
    if stratum == "sex":
        return str(words.SEX.get(code, code))
    return _("aged %(band)s", band=code)


def sender(poll, language: Language, default: str) -> str:
    """Who sent the poll, as the page says it: the poll's sender in `language`, else its SMS sender ID."""
    return pick(poll.sender, language) if poll.sender else (poll.sms_sender or default)


def _bars(options, labels, shares, *, intervals=None, counts=None) -> list[Bar]:
    percents = rounded_percentages([float(share) for share in shares])
    intervals = intervals or [None] * len(options)
    counts = counts or [None] * len(options)
    return [
        Bar(option.code, label, percent, float(share), tuple(interval) if interval else None, count)
        for option, label, share, percent, interval, count in zip(
            options, labels, shares, percents, intervals, counts, strict=True)
    ]
