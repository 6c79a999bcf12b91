"""Turn a poll's Results into the charts and rows the dashboard and public pages show."""

from __future__ import annotations

from dataclasses import dataclass, field

from flask_babel import gettext as _
from flask_babel import ngettext
from markupsafe import Markup

from poll import iraq
from poll.i18n import Language, pick, when
from poll.services.releases.release import SMALL_CELL, Category, Results
from poll.web import charts, words


@dataclass
class Figures:
    headline: Markup
    funnel: Markup
    timeline: Markup
    response_map: Markup
    share_map: Markup
    map_option: str
    sex: Markup
    age: Markup
    montecarlo: list[tuple[str, Markup, Markup]]
    map_title: str = ""  # which answer the share map shows, for a caption readers can see
    # Per governorate, the model-based estimate of the map's answer beside its raw share (`estimate_rows`).
    estimates: list[dict] = field(default_factory=list)


def option_labels(results: Results, language: Language) -> list[str]:
    """Each option's label in `language`."""
    return [pick(option.label, language) for option in results.options]


def build(results: Results, language: Language, *, map_option: str | None = None, public: bool = False) -> Figures:
    """Every chart of the results, in `language`; `public` leaves out the truth where no simulation shows it."""
    rtl = language.direction == "rtl"
    labels = option_labels(results, language)
    codes = [option.code for option in results.options]
    chosen = map_option if map_option in codes else codes[-1]
    chosen_index = codes.index(chosen)
    if results.withheld:
        headline = charts.notice(
            _("No answers yet.") if results.answered == 0 else
            _("Shares are shown from %(n)s answers that do not all choose the same answer.", n=SMALL_CELL),
            rtl=rtl, title=_("Answers: share with 95% interval"),
        )
    else:
        headline = charts.share_bars(
            [
                charts.ShareRow(f"{o.code}. {label}", o.share, o.ci95, o.weighted_share, o.true_share, o.weighted_ci95)
                for o, label in zip(results.options, labels, strict=True)
            ],
            rtl=rtl,
            title=_("Answers: share with 95% interval"),
            legend={"raw": _("raw share"), "weighted": _("weighted"), "true": _("true share")},
        )
    steps = [
        (_("invited"), results.invited),
        (_("sent"), results.sent),
        (_("delivered"), results.delivered),
        (_("opened"), results.opened),
        (_("answered"), results.answered),
    ]
    governorates = results.breakdowns.get("governorate", [])
    top_rate = max((c.response_rate or 0.0 for c in governorates), default=0.0)
    response_map = charts.tile_map(
        {
            c.code: charts.Tile(
                _name(c.code, language),
                None if c.invited == 0 else c.response_rate,
                "" if c.invited == 0 else f"{100 * (c.response_rate or 0):.1f}%",
                "" if c.invited == 0 else _("of %(n)s", n=f"{c.invited:,}"),
            )
            for c in governorates
        },
        rtl=rtl,
        title=_("Response rate by governorate"),
        high=top_rate or 1.0,
        hue="#3c6e9f",
        scale=("0%", f"{100 * (top_rate or 1.0):.1f}%"),
    )
    map_title = _("Share answering %(answer)s, by governorate", answer=labels[chosen_index])
    share_map = charts.tile_map(
        {
            c.code: charts.Tile(
                _name(c.code, language),
                None if c.is_suppressed else c.shares[chosen_index],
                _("hidden") if c.is_suppressed else f"{100 * c.shares[chosen_index]:.0f}%",
                "" if c.is_suppressed else f"n={c.answered:,}",
            )
            for c in governorates
        },
        rtl=rtl,
        title=map_title,
        high=1.0,
        hue=charts.colour(chosen_index),
    )
    return Figures(
        headline=headline,
        funnel=charts.funnel(steps, rtl=rtl, title=_("From invitation to answer")),
        timeline=charts.timeline(results.timeline, rtl=rtl, title=_("Answers over time"), empty=_("No answers yet"),
                                 time_label=lambda moment: when(moment, language), peak_label=_busiest),
        response_map=response_map,
        share_map=share_map,
        map_option=chosen,
        sex=_stacked(results.breakdowns.get("sex", []), language, {code: str(name) for code, name in words.SEX.items()}, rtl),
        age=_stacked(results.breakdowns.get("age_band", []), language, {}, rtl),
        montecarlo=_montecarlo(results, labels, rtl),
        map_title=map_title,
        estimates=estimate_rows(results, chosen, language),
    )


def _montecarlo(results: Results, labels: list[str], rtl: bool) -> list[tuple[str, Markup, Markup]]:
    # Per answer: the spread of raw and of weighted estimates over the replications, truth marked.
    run = results.montecarlo
    if run is None:
        return []
    estimates = run.extras.get("estimates", {})
    out = []
    for option, label in zip(results.options, labels, strict=True):
        truth = run.truth["overall"].get(option.code, 0.0)
        raw = estimates.get("raw", {}).get(option.code, [])
        weighted = estimates.get("weighted", {}).get(option.code, [])
        span = charts.histogram_span([raw, weighted], truth)  # raw and weighted on one axis, side by side
        out.append((
            f"{option.code}. {label}",
            charts.histogram(raw, truth, rtl=rtl, title=_("Raw estimates over the replications"), span=span),
            charts.histogram(weighted, truth, rtl=rtl, title=_("Weighted estimates over the replications"),
                             span=span),
        ))
    return out


def _busiest(count: int, hours: int) -> str:
    # "the busiest 6 hours: 120 answers": what the tallest bar stands for.
    if hours % 24 == 0:
        span = ngettext("%(num)s day", "%(num)s days", hours // 24)
    else:
        span = ngettext("%(num)s hour", "%(num)s hours", hours)
    return _("Tallest bar: %(count)s answers in %(span)s", count=f"{count:,}", span=span)


def _name(code: str, language: Language) -> str:
    found = iraq.find_governorate(code)
    return found.name(language.code) if found else code


def _stacked(categories: list[Category], language: Language, names: dict[str, str], rtl: bool) -> Markup:
    return charts.stacked(
        [(names.get(c.code, c.code), c.shares, c.is_suppressed) for c in categories],
        rtl=rtl,
        title=_("Answers by group"),
        small=_("hidden: too few answers, or all the same"),
    )


def estimate_rows(results: Results, code: str, language: Language) -> list[dict]:
    """Per governorate, for answer `code`: its name, answers, raw share and model-based estimate with interval,
    most answers first (as percentages to a whole point: the interval is wider than any decimal)."""
    found = results.governorate_estimates
    if not found or found.get("error"):
        return []
    rows = []
    for entry in found["governorates"]:
        low, high = entry["interval"][code]
        raw = entry["raw_shares"][code] if entry["raw_shares"] else None
        rows.append({"name": _name(entry["code"], language), "answered": entry["answered"],
                     "raw": None if raw is None else f"{raw:.0%}", "estimate": f"{entry['shares'][code]:.0%}",
                     "low": f"{low:.0%}", "high": f"{high:.0%}", "from_prior": entry["from_prior"]})
    return sorted(rows, key=lambda row: -(row["answered"] or 0))
