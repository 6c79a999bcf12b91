"""Model-based governorate estimates (MRP, `stats.mrp`) for operators and for the public.

**Operators** see estimates fitted to exact answers, within the disclosure
rule. A logistic model's answers enter its fit only through each level's
count of the answer (its sufficient statistics: per governorate, per sex,
per age band, per region), so the fit is given levels that are shown groups
or hidden groups pooled: governorates hidden by suppression, and answers of
unknown governorate, are one pooled level (a safe group, since hidden
categories are hidden together); likewise for sex and age band. Every count
the fit can reflect is then a shown breakdown's or the pooled rest's,
already known from the totals. A governorate without a level of its own is
estimated from similar governorates alone (the prior, post-stratified), so
its estimate says nothing of its few answers. What the fit also sees is how
many answered in each governorate x sex x age band cell (no answer), as the
weighting's design effect does.

**The public** sees estimates fitted to a release's noisy margins only
(post-processing: no budget spent): each governorate x sex x age band cell's
counts are built from the three noisy tables, taking an answer's strata as
independent given the answer, as the public weighting does; the intervals
are widened by the noise on each governorate's own answers.

Operators' fits are kept per poll and shown set, and made again once the
answers have grown by 2% (`fitted_answers` says how many a fit saw): the
dashboard refreshes every few seconds while a fit takes about a second.
"""

from __future__ import annotations

import hashlib
import math
import weakref
from collections import OrderedDict

import numpy as np

from poll import iraq
from poll.models import Poll, SimulationRun
from poll.stats import mrp, proportions

LEVEL = 0.90  # the interval pages show
Z90 = 1.6448536269514722
POOLED = "pooled"  # the level of answers whose category is hidden or not known
NOTE_NOT_FITTED = "No model-based governorate estimates: {reason}."

# Fits kept per poll, run and shown set: (the answers fitted, the fit or why there is none).
# Per database (its engine): the kept fits by poll, run, shown set and options, oldest first.
_caches: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class _AnyDatabase:
    """The key of fits made without naming their database."""


_ANY_DATABASE = _AnyDatabase()
CACHE_SIZE = 64
# A kept fit serves until the answers have grown by this share: a fit takes about a second, and the
# dashboard's panel is refreshed every few seconds while answers arrive.
REFIT_GROWTH = 0.02


def frame(margins: dict[str, dict[str, float]], levels: dict[str, str | None], sexes: dict[str, str],
          bands: dict[str, str], joint: dict[tuple[str, str], float] | None = None) -> mrp.Frame:
    """The adult population by governorate x sex x age band, as the model's levels name them.

    No table of adults by governorate and sex and age is in the sources, only
    margins: the cells are what raking a uniform table to them gives, the
    governorate's share times the sex and age band shares (the same sex and
    age mix in every governorate). With the census margins, the sex and age
    band shares are the adult joint table (`iraq.sex_by_age_band`), given as `joint`.
    `levels`, `sexes` and `bands` map a category to its level in the model (absent: no level of its own).
    """
    rows = []
    for governorate in iraq.governorates():
        share = margins["governorate"].get(governorate.code, 0.0)
        for sex in iraq.categories("sex"):
            for band in iraq.categories("age_band"):
                cell = joint[(sex, band)] if joint else margins["sex"].get(sex, 0.0) * margins["age_band"].get(band, 0.0)
                rows.append((governorate.code, levels.get(governorate.code), sexes.get(sex, POOLED),
                             bands.get(band, POOLED), governorate.region, share * cell))
    codes, level, sex, band, region, weight = zip(*rows, strict=True)
    return mrp.Frame(governorate=codes, level=level, sex=sex, age_band=band, region=region,
                     weight=np.array(weight, dtype=float))


def _population(run: SimulationRun | None, levels: dict[str, str], sexes: dict[str, str],
                bands: dict[str, str]) -> mrp.Frame:
    # A simulation's own population margins, else the census's with the adult sex-by-age table.
    if run is not None:
        return frame(run.margins, levels, sexes, bands)
    return frame(iraq.census_margins(), levels, sexes, bands, joint=iraq.sex_by_age_band())


def _seed(*arrays) -> int:
    # The same counts give the same draws: a page shown twice shows the same interval.
    digest = hashlib.sha256(b"".join(np.ascontiguousarray(a).tobytes() for a in arrays)).digest()
    return int.from_bytes(digest[:8], "big")


def operator_figures(poll: Poll, cells, position: dict[int, int], masks: dict[str, np.ndarray],
                     run: SimulationRun | None, breakdown: list, *, database: object = None) -> dict:
    """The governorate estimates operators see, fitted to exact answers on shown levels (see the module).

    `database` (the session's engine) keeps fits apart between databases, whose polls share ids.
    """
    shown = {stratum: {code for code, is_shown in zip(iraq.categories(stratum), masks[stratum], strict=False)
                       if is_shown} for stratum in iraq.STRATA}
    regions = {g.code: g.region for g in iraq.governorates()}
    table: dict[tuple[str, str, str], np.ndarray] = {}
    option_count = len(position)
    for option_id, gov, sex, age, _channel, number in cells:
        key = (gov if gov in shown["governorate"] else POOLED, sex if sex in shown["sex"] else POOLED,
               age if age in shown["age_band"] else POOLED)
        row = table.setdefault(key, np.zeros(option_count))
        row[position[option_id]] += number
    keys = sorted(table)
    counts = np.array([table[key] for key in keys]).reshape(len(keys), option_count)
    sample = mrp.Sample(governorate=[k[0] for k in keys], sex=[k[1] for k in keys], age_band=[k[2] for k in keys],
                        region=[regions.get(k[0], POOLED) for k in keys], counts=counts)
    population = _population(run, {code: code for code in shown["governorate"]}, {s: s for s in shown["sex"]},
                             {b: b for b in shown["age_band"]})
    # Beside each estimate, what the governorate's breakdown shows (`breakdown`: its Categories).
    raw = {c.code: c.shares for c in breakdown if c.shares is not None}
    answered = {c.code: c.answered for c in breakdown if c.shares is not None}
    # One fit per poll and shown set, refitted once the answers have grown by REFIT_GROWTH since it was made.
    structure = (poll.id, run.id if run else None, tuple(sorted(code for codes in shown.values() for code in codes)),
                 option_count)
    total = int(counts.sum())
    cache: OrderedDict[tuple, tuple[int, mrp.Fitted | str]] = _caches.setdefault(database or _ANY_DATABASE,
                                                                                 OrderedDict())
    kept = cache.get(structure)
    if kept is None or total >= kept[0] * (1 + REFIT_GROWTH) or total < kept[0]:
        kept = (total, _fit(sample, population))
        cache[structure] = kept
        while len(cache) > CACHE_SIZE:
            cache.popitem(last=False)
    cache.move_to_end(structure)
    return _figures(poll, kept[1], answered, raw=raw) | {"fitted_answers": kept[0]}


def public_figures(poll: Poll, noisy: dict, run: SimulationRun | None, breakdown: list[dict]) -> dict:
    """The governorate estimates of a public release, fitted to its noisy margins (see the module)."""
    known = [np.clip(noisy[name].counts[:-1], 0, None).astype(float) for name in iraq.STRATA]
    gov_codes, sex_codes, band_codes = (iraq.categories(name) for name in iraq.STRATA)
    option_count = known[0].shape[1]
    totals = np.mean([table.sum(axis=0) for table in known], axis=0)
    rows, keys = [], []
    # Each option's answers spread over the cells as its three noisy margins say, independently.
    for g, gov in enumerate(gov_codes):
        for s, sex in enumerate(sex_codes):
            for a, band in enumerate(band_codes):
                cell = np.zeros(option_count)
                for k in range(option_count):
                    parts = [table[:, k] for table in known]
                    if totals[k] <= 0 or any(part.sum() <= 0 for part in parts):
                        continue
                    cell[k] = totals[k] * np.prod([part[i] / part.sum() for part, i in zip(parts, (g, s, a),
                                                                                           strict=True)])
                if cell.sum() > 1e-9:
                    rows.append(cell)
                    keys.append((gov, sex, band))
    regions = {g.code: g.region for g in iraq.governorates()}
    sample = mrp.Sample(governorate=[k[0] for k in keys], sex=[k[1] for k in keys], age_band=[k[2] for k in keys],
                        region=[regions[k[0]] for k in keys],
                        counts=np.array(rows).reshape(len(rows), option_count))
    levels = {code: code for code, row in zip(gov_codes, known[0], strict=True) if row.sum() >= 1}
    population = _population(run, levels, {s: s for s in sex_codes}, {b: b for b in band_codes})
    # Beside each estimate, what the release's breakdown shows (`breakdown`: its categories, noisy).
    codes = [option.code for option in poll.options]
    raw = {c["code"]: [c["shares"][code] for code in codes] for c in breakdown if c["shares"]}
    answered = {c["code"]: c["answered"] for c in breakdown if c["shares"]}
    sizes = {code: float(row.sum()) for code, row in zip(gov_codes, known[0], strict=True)}
    figures = _figures(poll, _fit(sample, population), answered, raw=raw,
                       noise=(noisy["governorate"].variance, sizes))
    figures["from_noisy_margins"] = True
    return figures


def _round(value: float) -> float:
    # To 0.1 point, as the weighted figures: no more digits than a model-based estimate can mean.
    return round(float(value), 3)


def _round_set(shares) -> list[float]:
    # A governorate's shares as `_round` gives them, rounded together so that they still sum to 1.
    return [round(percent / 100, 3) for percent in proportions.shown_percentages([float(v) for v in shares])]


def _fit(sample: mrp.Sample, population: mrp.Frame) -> mrp.Fitted | str:
    # The fit, or why there is none (as the results say it).
    try:
        return mrp.estimate(sample, population, seed=_seed(sample.counts))
    except mrp.NotFitted as error:
        return NOTE_NOT_FITTED.format(reason=str(error))


def _figures(poll: Poll, fitted: mrp.Fitted | str, answered: dict[str, int], *,
             raw: dict[str, list[float]], noise: tuple[float, dict[str, float]] | None = None) -> dict:
    codes = [option.code for option in poll.options]
    out = {"method": "multilevel regression and post-stratification", "description": mrp.DESCRIPTION,
           "level": LEVEL, "error": None, "governorates": [], "overall": None}
    if isinstance(fitted, str):
        out["error"] = fitted
        return out
    for code, found in fitted.governorates.items():
        intervals = found.intervals[LEVEL]
        if noise is not None and not found.from_prior:
            # The noise on this governorate's own answers, added in quadrature (a share moves by sd / n).
            extra = Z90 * math.sqrt(noise[0]) / max(noise[1][code], 1.0)
            intervals = [(max(0.0, share - math.hypot(share - low, extra)), min(1.0, share + math.hypot(high - share,
                                                                                                       extra)))
                         for share, (low, high) in zip(found.shares, intervals, strict=True)]
        out["governorates"].append({
            "code": code, "answered": answered.get(code) if code in raw else None,
            "raw_shares": dict(zip(codes, _round_set(raw[code]), strict=True)) if code in raw else None,
            "shares": dict(zip(codes, _round_set(found.shares), strict=True)),
            "interval": {c: [_round(low), _round(high)] for c, (low, high) in zip(codes, intervals, strict=True)},
            "from_prior": found.from_prior,
        })
    out["overall"] = {"shares": dict(zip(codes, _round_set(fitted.overall.shares), strict=True)),
                      "interval": {c: [_round(low), _round(high)]
                                   for c, (low, high) in zip(codes, fitted.overall.intervals[LEVEL], strict=True)}}
    return out
