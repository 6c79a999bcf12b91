"""Public figures made from a differentially private release: the tables to noise, and the document from them.

A release noises a few count tables of the answers (`tables_to_release`):
each stratum by headline option, each choice question's choices, and a split
ballot's variants by option. Everything public is then computed from those
noisy counts alone (`document`): the headline's counts and shares (the three
strata tables' totals combined), the weighted estimate (raking a table built
from the noisy margins), the breakdowns and each question's shares. Being
post-processing, none of it spends more of the budget, and no figure, however
precise, can be solved for one person's answer beyond what the budget allows.

Intervals include the noise: the weighted estimate's is model-based (the
design effect's effective n, as the dashboard's) widened by the noise's own
spread, found by noising the released counts again. A figure is shown only
where the noise leaves it readable (`readable`); that is a rule about
precision, not privacy, since the guarantee holds whatever is shown.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np

from poll import iraq
from poll.models import Poll, SimulationRun
from poll.questionnaire import Question, asked_under
from poll.services.definition.polls import experiment_of, questions_of
from poll.services.releases import governorate_estimates, question_results, results
from poll.stats import disclosure, privacy, proportions, weighting
from poll.stats.proportions import rounded_percentages
from poll.vocabulary import QuestionType

# Relative shares of a release's budget: the headline's answers on their own, then each stratum by answer (the
# breakdowns and the weighting; their totals sharpen the headline's), the questions after the headline (split
# evenly between them) and a split ballot's variants.
OPTIONS = "options"
OPTIONS_SHARE = 0.35
STRATUM_SHARE = 0.15
QUESTIONS_SHARE = 0.15
VARIANT_SHARE = 0.1
# A share is shown when its noise is at most this many points (one standard deviation).
READABLE_SD = 0.05
Z95 = 1.959963984540054


def question_key(question: Question) -> str:
    return "question:" + question.name


def tables_to_release(poll: Poll, tables, values: question_results.ValueTable
                      ) -> tuple[dict[str, privacy.Table], dict[str, float]]:
    """The exact tables a release noises, and each one's share of the budget."""
    out: dict[str, privacy.Table] = {OPTIONS: privacy.Table(tables[iraq.STRATA[0]][1].sum(axis=0, keepdims=True))}
    shares: dict[str, float] = {OPTIONS: OPTIONS_SHARE}
    for stratum in iraq.STRATA:
        out[stratum] = privacy.Table(tables[stratum][1])
        shares[stratum] = STRATUM_SHARE
    asked = [q for q in questions_of(poll) if not q.is_headline and q.takes_choices]
    for question in asked:
        counts = [int(values.row(question, choice.code).sum()) for choice in question.choices]
        if question.type == QuestionType.SELECT_MULTIPLE:
            # A person ticks any number of choices, and counts once among those who answered (the last cell).
            out[question_key(question)] = privacy.Table(
                np.array([*counts, int(values.row(question, "").sum())]), sensitivity=len(counts) + 1)
        else:
            out[question_key(question)] = privacy.Table(np.array(counts))
        shares[question_key(question)] = QUESTIONS_SHARE / len(asked)
    if experiment_of(poll) is not None:
        out[results.VARIANT] = privacy.Table(tables[results.VARIANT][1])
        shares[results.VARIANT] = VARIANT_SHARE
    return out, shares


def document(poll: Poll, noisy: dict[str, privacy.NoisyTable], run: SimulationRun | None,
             counts: dict[str, int]) -> dict:
    """The public figures of a release, JSON-ready: options, weighting, breakdowns, questions and experiment."""
    options = poll.options
    codes = [option.code for option in options]
    totals, total_variance = privacy.combined_totals([noisy[name] for name in (OPTIONS, *iraq.STRATA)])
    option_counts = np.clip(np.rint(totals), 0, None).astype(int)
    answered = int(option_counts.sum())
    option_shares = _round_shares(option_counts)
    share_sd = math.sqrt(float(total_variance.max())) / answered if answered else math.inf
    withheld = answered < disclosure.MIN_GROUP or share_sd > READABLE_SD
    out = {
        "withheld": withheld,
        "answered_estimate": answered,
        "options": [
            {"code": option.code, "label": option.label.get("en") or next(iter(option.label.values())),
             "labels": dict(option.label), "count": None if withheld else int(count),
             "share": None if withheld else share, "ci95": None,
             "raw_share": None if withheld else share,
             "weighted_share": None, "weighted_ci95": None, "true_share": None}
            for option, count, share in zip(options, option_counts, option_shares, strict=True)
        ],
        "breakdowns": {stratum: _breakdown(stratum, noisy[stratum], codes, counts) for stratum in iraq.STRATA},
        "notes": [],
    }
    if not withheld:
        weighted = _weighted(noisy, len(options), run, _rng(noisy))
        if weighted is None:
            out["notes"].append(results.NOTE_NO_WEIGHTING)
        else:
            shares, intervals, w = weighted
            for option, share, interval in zip(out["options"], _round_shares(shares), intervals, strict=True):
                option["weighted_share"], option["weighted_ci95"] = share, [_round(v) for v in interval]
            out["weighting"] = w
            out["selection_range"] = _selection(noisy, len(options), run, shares, intervals, codes)
        out["governorate_estimates"] = governorate_estimates.public_figures(poll, noisy, run,
                                                                            out["breakdowns"]["governorate"])
    else:
        out["notes"].append(NOTE_TOO_NOISY)
    out["questions"] = _questions(poll, noisy, out)
    if experiment_of(poll) is not None:
        out["experiment"] = _experiment(poll, noisy[results.VARIANT], codes, counts)
    return out


NOTE_NOT_RELEASED = ("No figures of the answers are public yet: they are released, with noise that protects each "
                     "answer, once at least ten have answered.")
NOTE_TOO_NOISY = ("Too few answers for the public figures: with the noise that protects each answer they would "
                  "say nothing reliable yet.")


def _round(value: float) -> float:
    # Public figures carry no more digits than their noise and sampling could support.
    return round(float(value), 3)


def _round_shares(amounts) -> list[float]:
    # The shares of a whole, each to 0.1 point, rounded by largest remainder so that they still sum to 1.
    total = float(sum(amounts))
    if total <= 0:
        return [0.0 for _ in amounts]
    return [round(percent / 100, 3) for percent in rounded_percentages([float(v) / total for v in amounts], 1)]


def _rng(noisy: dict[str, privacy.NoisyTable]) -> np.random.Generator:
    # The bootstrap that sizes the noise is seeded from the released counts: the same release, the same interval.
    digest = hashlib.sha256(b"".join(table.counts.tobytes() for table in noisy.values())).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "big"))


def _readable(count: float, variance: float) -> bool:
    # `variance`: the noise's on one count of the group; a share of the group moves about as much over `count`.
    return count >= disclosure.MIN_GROUP and math.sqrt(variance) / count <= READABLE_SD


def _breakdown(stratum: str, table: privacy.NoisyTable, codes: list[str], counts: dict[str, int]) -> list[dict]:
    # Each category's noisy answers and shares ("not known", the last row, is no category of its own).
    categories = []
    for code, row in zip(iraq.categories(stratum), table.clipped(), strict=False):
        answered = float(row.sum())
        shown = _readable(answered, table.variance)
        invited = counts.get(f"invited:{stratum}:{code}", 0)
        categories.append({"code": code, "invited": invited, "answered": int(round(answered)) if shown else None,
                           "response_rate": round(answered / invited, 3) if shown and invited else None,
                           "shares": dict(zip(codes, _round_shares(row), strict=True))
                           if shown else None, "suppressed": not shown})
    return categories


def _weighted(noisy: dict[str, privacy.NoisyTable], option_count: int, run: SimulationRun | None,
              rng: np.random.Generator):
    # Raking a table of governorate x sex x age band x option built from the three noisy margins (each answer's
    # categories taken as independent given the answer), with the noise's spread added to the model's.
    margins = run.margins if run else iraq.census_margins()
    targets = [np.array([margins[name].get(label, 0.0) for label in iraq.categories(name)]) for name in iraq.STRATA]

    def estimate(tables: dict[str, np.ndarray]):
        known = [np.clip(tables[name][:-1], 0, None).astype(float) for name in iraq.STRATA]
        return _rake_margins(known, targets, option_count)

    found = estimate({name: noisy[name].counts for name in iraq.STRATA})
    if found is None or not found[0].rake.converged:
        return None
    fitted, merged = found
    sd = privacy.noise_sd(lambda tables: _shares_of(estimate(tables)),
                          {name: noisy[name] for name in iraq.STRATA}, rng)
    if sd is None:
        return None
    n_eff = fitted.effective_n
    intervals = []
    for share, noise in zip(fitted.shares, sd, strict=True):
        half = Z95 * math.sqrt(share * (1 - share) / n_eff + float(noise) ** 2) if n_eff > 0 else math.inf
        intervals.append((max(0.0, share - half), min(1.0, share + half)))
    description = {
        "margins": "simulated population" if run else "census", "respondents": int(round(noisy_known(noisy))),
        "converged": True, "iterations": fitted.rake.iterations, "design_effect": round(fitted.design_effect, 2),
        "effective_n": round(n_eff), "largest_weight": round(fitted.largest_weight, 1),
        "trimmed_to": [weighting.TRIM_LOWER, weighting.TRIM_UPPER], "merged": merged, "balance": {},
        "weight_spread": {}, "poststratified": None, "from_noisy_margins": True,
        "noise_sd": [_round(v) for v in sd],
        "targets": iraq.margin_sources() if run is None else {
            stratum: {"what": "the simulated population's own shares", "source": "simulation"}
            for stratum in iraq.STRATA},
    }
    return fitted.shares, intervals, description


def _selection(noisy: dict[str, privacy.NoisyTable], option_count: int, run: SimulationRun | None, shares,
               intervals, codes: list[str]) -> dict | None:
    # The sensitivity range beside the weighted estimate, from the same cells raked from the noisy margins and
    # the released estimate: post-processing of the release, so it discloses nothing more.
    margins = run.margins if run else iraq.census_margins()
    targets = [np.array([margins[name].get(label, 0.0) for label in iraq.categories(name)]) for name in iraq.STRATA]
    known = [np.clip(noisy[name].counts[:-1], 0, None).astype(float) for name in iraq.STRATA]
    cells = _margin_cells(known, option_count)
    found = _rake_margins(known, targets, option_count)
    if cells is None or found is None:
        return None
    categories, counts, chosen = cells
    fitted = found[0]
    return results.selection_ranges(categories, fitted.weights * counts, chosen, shares,
                                    intervals, codes)


def noisy_known(noisy: dict[str, privacy.NoisyTable]) -> float:
    """How many answers have a known sex (the noisy count), for describing the weighting's base."""
    return float(noisy["sex"].clipped()[:-1].sum())


def _shares_of(found):
    return None if found is None or not found[0].rake.converged else found[0].shares


def _rake_margins(known: list[np.ndarray], targets: list[np.ndarray], option_count: int):
    # known[k]: a stratum's categories x options, noisy and clipped. Cells of the product table per option.
    cells = _margin_cells(known, option_count)
    if cells is None:
        return None
    categories, counts, chosen = cells
    try:
        return weighting.estimate_merging(categories, targets, counts, chosen, option_count, iraq.weighting_merges())
    except weighting.RakingError:
        return None


def _margin_cells(known: list[np.ndarray], option_count: int):
    # The product table's cells (each stratum's category, their seeded counts, the option), or None if empty.
    totals = np.mean([table.sum(axis=0) for table in known], axis=0)
    if totals.sum() <= 0:
        return None
    shapes = [len(table) for table in known]
    grid = np.stack(np.meshgrid(*(np.arange(n) for n in shapes), indexing="ij"), axis=-1).reshape(-1, len(shapes))
    categories, counts, chosen = [[] for _ in known], [], []
    for option in range(option_count):
        if totals[option] <= 0:
            continue
        seed = np.full(len(grid), totals[option])
        for k, table in enumerate(known):
            column = table[:, option]
            seed = seed * (column[grid[:, k]] / column.sum() if column.sum() > 0 else 0.0)
        keep = seed > 1e-9
        for k in range(len(known)):
            categories[k].append(grid[keep, k])
        counts.append(seed[keep])
        chosen.append(np.full(int(keep.sum()), option))
    if not counts:
        return None
    return [np.concatenate(c) for c in categories], np.concatenate(counts), np.concatenate(chosen)


def _questions(poll: Poll, noisy: dict[str, privacy.NoisyTable], out: dict) -> list[dict]:
    figures = []
    questions = questions_of(poll)
    asked = asked_under(questions)
    headline_codes = [option.code for option in poll.options]
    for question in questions:
        after = sorted(asked.get(question.name, headline_codes), key=headline_codes.index)
        base = {"name": question.name, "type": str(question.type), "role": question.role and str(question.role),
                "label": question.label.get("en") or next(iter(question.label.values())),
                "labels": dict(question.label),
                "asked_after": None if question.is_headline or len(after) == len(headline_codes) else after}
        if question.is_headline:
            figures.append(base | {"answered": None if out["withheld"] else out["answered_estimate"],
                                   "options": out["options"]})
            continue
        table = noisy.get(question_key(question))
        if table is None:  # numbers and texts: nothing of them is public
            figures.append(base | {"answered": None, **({"summary": None} if question.type == QuestionType.INTEGER
                                                        else {})})
            continue
        counts = table.clipped()
        if question.type == QuestionType.SELECT_MULTIPLE:
            answered, counts = float(counts[-1]), counts[:-1]
        else:
            answered = float(counts.sum())
        shown = _readable(answered, table.variance)
        if question.type == QuestionType.SELECT_MULTIPLE:  # each choice's share of those who answered, alone
            shares = [_round(min(count / answered, 1.0)) if answered else 0.0 for count in counts]
        else:
            shares = _round_shares(counts)
        base["answered"] = int(round(answered)) if shown else None
        base["options"] = [
            {"code": choice.code, "label": choice.label.get("en") or next(iter(choice.label.values())),
             "labels": dict(choice.label), "suppressed": not shown, "count": int(round(count)) if shown else None,
             "share": share if shown else None, "ci95": None, "headline": None}
            for choice, count, share in zip(question.choices, counts, shares, strict=True)
        ]
        figures.append(base)
    return figures


def _experiment(poll: Poll, table: privacy.NoisyTable, codes: list[str], counts: dict[str, int]) -> dict:
    # Per way of asking, its noisy answers and shares, and each share's difference from the reference with an
    # interval that includes the noise (random assignment makes the difference worth an interval).
    experiment = experiment_of(poll)
    rows = table.clipped()
    figures = []
    reference = rows[0]
    reference_n = float(reference.sum())
    for position, variant in enumerate(experiment.variants):
        row = rows[position]
        n = float(row.sum())
        shown = _readable(n, table.variance)
        entry = {"name": variant.name, "changes": variant.kind,
                 "invited": counts.get(f"invited:variant:{variant.name}", 0),
                 "answered": int(round(n)) if shown else None, "suppressed": not shown, "options": None,
                 "differences": None}
        if shown:
            entry["options"] = [{"code": code, "count": int(round(count)), "share": share, "ci95": None}
                                for code, count, share in zip(codes, row, _round_shares(row), strict=True)]
        if position and shown and _readable(reference_n, table.variance):
            differences = []
            for code, count, base in zip(codes, row, reference, strict=True):
                p1, p0 = count / n, base / reference_n
                variance = (p1 * (1 - p1) / n + p0 * (1 - p0) / reference_n
                            + table.variance / n ** 2 + table.variance / reference_n ** 2)
                half = Z95 * math.sqrt(variance)
                differences.append({"code": code, "difference": _round(p1 - p0),
                                    "ci95": [_round(p1 - p0 - half), _round(p1 - p0 + half)],
                                    "p": proportions.difference_p(p1 - p0, variance)})
            entry["differences"] = differences
        figures.append(entry)
    results.holm_marked(figures)
    for d in (d for entry in figures for d in (entry["differences"] or [])):
        d["p"] = _round(d["p"])  # marked from the exact value, published to the digits it can mean
    return {"reference": experiment.variants[0].name, "variants": figures,
            "note": results.EXPERIMENT_DESCRIPTION, "multiplicity": results.MULTIPLICITY, "noisy": True}

