"""What education does to an SMS poll's estimate, and what asking it buys: Monte Carlo across the scenarios.

For each shipped scenario, two worlds: one where education drives neither who
answers nor what they think (`without_education`), and the scenario as
shipped, where it drives both. In each, the weighted estimate raked on
governorate, sex and age band only, and raked on education too, as a poll
whose form asks it could (its population shares taken as known: the most
asking can buy). Governorate, sex and age-band targets carry error
(`montecarlo.TARGET_ERROR`); "range holds truth" is how often the sensitivity
range at odds of answering up to 2, and up to 3, within groups held the truth, "MUBP range
holds truth" how often the Andridge-Little range (phi from 0 to 1) did, a
replication without it counting as a miss, and "MUBP at phi 0 / 0.5 / 1" its
mean estimates. The table is the README's.

    python -m poll.simulate.comparison [REPLICATIONS]
"""

from __future__ import annotations

import copy
import sys
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from poll.simulate import montecarlo, reference, scenario
from poll.simulate.scenario import EDUCATION, OPTIONS, Scenario
from poll.stats import sensitivity

SUPPORT = OPTIONS.index("3")  # the share the table follows: support for the continuation of the mission
COMPARED = ("baseline", "mobilized-opponents", "kurdistan-surge", "forwarded-links", "ballot-stuffing")


def without_education(chosen: Scenario) -> Scenario:
    """`chosen` in a world where education moves neither answering nor opinion (its shares are kept)."""
    values = copy.deepcopy(dict(chosen.values))
    values["opinion"]["support_shift_education"] = {level: 0.0 for level in EDUCATION}
    values["response"]["open_by_education"] = {level: 1.0 for level in EDUCATION}
    return Scenario(name=chosen.name, description=chosen.description, values=values)


@dataclass(frozen=True)
class Row:
    scenario: str
    world: str  # "education inert" or "education drives both"
    raked_on: str
    mc: montecarlo.MonteCarlo


def rows(replications: int, *, population_size: int = 100_000, sample_size: int = 60_000, seed: int = 7,
         names: tuple[str, ...] = COMPARED, progress: bool = True) -> list[Row]:
    """The Monte Carlo runs behind the table: per scenario, both worlds, raked without and with education."""
    plans = [(name, world, made, rake)
             for name in names
             for world, made in (("education inert", without_education(scenario.load(name))),
                                 ("education drives both", scenario.load(name)))
             for rake in (False, True)]
    out = []
    for name, world, made, rake in tqdm(plans, desc="Monte Carlo runs", unit="run", disable=not progress or None):
        mc = montecarlo.run(made, population_size=population_size, sample_size=sample_size,
                            replications=replications, seed=seed, rake_education=rake)
        out.append(Row(name, world, "+ education" if rake else "governorate, sex, age", mc))
    return out


def markdown(found: list[Row]) -> str:
    """The runs as a Markdown table of the "support" share: truth, raw and weighted bias, RMSE, coverage."""
    lines = [
        "| scenario | world | raked on | true | raw bias | raw RMSE | raw cover | weighted bias | weighted RMSE "
        "| weighted cover | range holds truth (k 2 / 3) | MUBP range holds truth | MUBP at phi 0 / 0.5 / 1 | weighted on |",
        "|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for row in found:
        mc = row.mc
        raw, weighted = mc.raw, mc.weighted
        cells = [row.scenario, row.world, row.raked_on, f"{100 * mc.true_shares[SUPPORT]:.1f}%",
                 _points(raw.bias[SUPPORT]), _points(raw.rmse[SUPPORT], sign=False), _share(raw.coverage[SUPPORT]),
                 _points(weighted.bias[SUPPORT]), _points(weighted.rmse[SUPPORT], sign=False),
                 _share(weighted.coverage[SUPPORT]), _range_coverage(mc), _share(_index_coverage(mc)),
                 _index_means(mc),
                 f"{mc.replications - mc.weighting_failures}/{mc.replications}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


@dataclass(frozen=True)
class ReferenceRow:
    scenario: str
    mc: reference.ReferenceMonteCarlo


def reference_rows(replications: int, *, population_size: int = 100_000, sample_size: int = 60_000, seed: int = 7,
                   names: tuple[str, ...] = COMPARED, reference_size: int = reference.REFERENCE_SIZE,
                   progress: bool = True) -> list[ReferenceRow]:
    """Per scenario as shipped (education drives both), the poll weighed against a simulated reference survey."""
    return [ReferenceRow(name, reference.run(scenario.load(name), population_size=population_size,
                                             sample_size=sample_size, replications=replications, seed=seed,
                                             reference_size=reference_size))
            for name in tqdm(names, desc="Monte Carlo runs", unit="run", disable=not progress or None)]


REFERENCE_LABELS = {"demography": "governorate, sex, age", "education": "+ education (reference survey)",
                    "propensity": "propensity (reference survey)"}


def reference_markdown(found: list[ReferenceRow]) -> str:
    """The runs as a Markdown table of the "support" share: per weighting, bias, RMSE, and the coverage and mean
    width of Wilson's interval at Kish's n beside those of the linearised (calibration-aware) one."""
    lines = [
        "| scenario | weighted on | true | bias | RMSE | Kish cover | Kish width | linearised cover "
        "| linearised width | weighted |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for row in found:
        mc = row.mc
        for name, figures in mc.estimators.items():
            cells = [row.scenario, REFERENCE_LABELS[name], f"{100 * mc.true_shares[SUPPORT]:.1f}%",
                     _points(figures.bias[SUPPORT]), _points(figures.rmse[SUPPORT], sign=False),
                     _share(figures.coverage["kish"][SUPPORT]), _points(figures.width["kish"][SUPPORT], sign=False),
                     _share(figures.coverage["linearised"][SUPPORT]),
                     _points(figures.width["linearised"][SUPPORT], sign=False),
                     f"{mc.replications - figures.failures}/{mc.replications}"]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


SHOWN_RATIOS = (2.0, sensitivity.WIDEST)  # the sensitivity ranges the table follows: a large ratio, and the widest


def _range_coverage(mc: montecarlo.MonteCarlo) -> str:
    # How often the sensitivity ranges at SHOWN_RATIOS held the true "support" share, as "a / b".
    found = mc.range_coverage or {}
    return " / ".join(_share(float(found[ratio][SUPPORT]) if ratio in found else float("nan"))
                      for ratio in SHOWN_RATIOS)


def _index_coverage(mc: montecarlo.MonteCarlo) -> float:
    # How often the MUBP range held the true "support" share.
    return float("nan") if mc.index_coverage is None else float(mc.index_coverage[SUPPORT])


def _index_means(mc: montecarlo.MonteCarlo) -> str:
    # The mean "support" share at phi 0, 0.5 and 1, where the index was available.
    if mc.index_means is None:
        return "—"
    return " / ".join("—" if np.isnan(v) else f"{100 * v:.1f}%" for v in mc.index_means[SUPPORT])


def _points(value: float, *, sign: bool = True) -> str:
    return "—" if np.isnan(value) else f"{100 * value:+.1f}" if sign else f"{100 * value:.1f}"


def _share(value: float) -> str:
    return "—" if np.isnan(value) else f"{100 * value:.0f}%"


@dataclass(frozen=True)
class MrpRow:
    scenario: str
    world: str
    found: montecarlo.GovernorateMrp


def mrp_rows(replications: int, *, population_size: int = 100_000, sample_size: int = 60_000, seed: int = 7,
             names: tuple[str, ...] = COMPARED, progress: bool = True) -> list[MrpRow]:
    """MRP's governorate estimates over the same replications as `rows` (the first `replications` of them), per
    scenario in both worlds. A replication costs about a second and a half (three fits and their draws), so
    this column is given fewer replications than the others."""
    plans = [(name, world, made) for name in names
             for world, made in (("education inert", without_education(scenario.load(name))),
                                 ("education drives both", scenario.load(name)))]
    return [MrpRow(name, world, montecarlo.governorate_mrp(made, population_size=population_size,
                                                         sample_size=sample_size, replications=replications,
                                                         seed=seed))
            for name, world, made in tqdm(plans, desc="MRP runs", unit="run", disable=not progress or None)]


def mrp_markdown(found: list[MrpRow]) -> str:
    """The MRP runs as a Markdown table of the "support" share: overall and per governorate (the mean over the
    18 of each one's bias, RMSE and 90%/95% coverage, the raw shares' RMSE beside, the fewest covered)."""
    lines = [
        "| scenario | world | MRP overall bias | overall cover 90% / 95% | governorates: mean abs bias | mean RMSE "
        "(raw) | mean cover 90% / 95% | lowest cover 90% | replications | s per replication |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for row in found:
        mrp = row.found
        cover90, cover95 = mrp.coverage[0.90][:, SUPPORT], mrp.coverage[0.95][:, SUPPORT]
        lowest = int(np.argmin(cover90))
        cells = [row.scenario, row.world, _points(mrp.overall_bias[SUPPORT]),
                 f"{_share(mrp.overall_coverage[0.90][SUPPORT])} / {_share(mrp.overall_coverage[0.95][SUPPORT])}",
                 _points(np.abs(mrp.bias[:, SUPPORT]).mean(), sign=False),
                 f"{_points(mrp.rmse[:, SUPPORT].mean(), sign=False)} "
                 f"({_points(np.nanmean(mrp.raw_rmse[:, SUPPORT]), sign=False)})",
                 f"{_share(cover90.mean())} / {_share(cover95.mean())}",
                 f"{_share(cover90[lowest])} ({mrp.governorates[lowest]})",
                 f"{mrp.replications}/{mrp.replications + mrp.failures}", f"{mrp.seconds_per_replication:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    print(markdown(rows(count)))
    print()
    print(reference_markdown(reference_rows(count)))
    # MRP's column: fewer replications (the second argument, default 30), each fitting three models.
    print()
    print(mrp_markdown(mrp_rows(int(sys.argv[2]) if len(sys.argv) > 2 else 30)))
