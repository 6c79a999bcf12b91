"""A Monte Carlo run's summary as an aligned plain-text table and as a JSON document."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from poll.simulate.montecarlo import TARGET_ERROR, MonteCarlo
from poll.simulate.scenario import OPTIONS
from poll.stats import proportions


def _pct(percent: float | None) -> str:
    return "—" if percent is None else f"{percent:5.1f}%"


def montecarlo_table(mc: MonteCarlo, scenario: str, labels: Mapping[str, str]) -> str:
    """Bias, RMSE and interval coverage of raw and weighted estimates, as aligned text."""
    lines = [
        f"Monte Carlo: scenario {scenario}, {mc.replications:,} replications, population {mc.population_size:,}, "
        f"sample {mc.sample_size:,}, {mc.answers_mean:,.0f} answers on average",
        "",
        f"  {'answer':<40}{'true':>8}  {'raw: mean':>10}{'bias':>8}{'rmse':>8}{'cover':>7}"
        f"  {'weighted: mean':>15}{'bias':>8}{'rmse':>8}{'cover':>7}",
    ]
    raw, weighted = mc.raw, mc.weighted
    # Each column is one set of shares: rounded together, so that it sums to 100%.
    true, raw_mean, weighted_mean = (proportions.shown_percentages([float(share) for share in shares])
                                     for shares in (mc.true_shares, raw.mean, weighted.mean))
    for i, code in enumerate(OPTIONS):
        lines.append(
            f"  {code + ' ' + labels.get(code, '')[:36]:<40}{_pct(true[i]):>8}  "
            f"{_pct(raw_mean[i]):>10}{100 * raw.bias[i]:+8.1f}{100 * raw.rmse[i]:8.1f}{100 * raw.coverage[i]:6.0f}%"
            f"  {_pct(weighted_mean[i]):>15}{100 * weighted.bias[i]:+8.1f}{100 * weighted.rmse[i]:8.1f}"
            f"{100 * weighted.coverage[i]:6.0f}%"
        )
    lines.append("")
    lines.append("  bias and rmse in percentage points; cover = share of 95% intervals that held the true share")
    lines.append(f"  weighted: raked on {', '.join(mc.weighted_on)}")
    lines += range_lines(mc, labels)
    if mc.experiment is not None:
        lines += ["", *power_lines(mc, labels)]
    lines.append(f"  weighted figures rest on {weighted_replications(mc):,} of {mc.replications:,} replications: "
                 f"{mc.weighting_failures:,} could not be weighted even with categories merged, "
                 f"{mc.weighting_merged:,} only with governorates merged into regions")
    return "\n".join(lines)


def power_lines(mc: MonteCarlo, labels: Mapping[str, str]) -> list[str]:
    """The split-ballot design's power: per variant and answer, the true difference, the mean estimate, how
    often its interval left out 0 and how often it held the truth."""
    power = mc.experiment
    lines = [f"  ways of asking against {power.names[0]}: {'variant':<12}{'answer':<28}{'true':>7}{'mean':>7}"
             f"{'detected':>10}{'cover':>7}"]
    for v, name in enumerate(power.names[1:]):
        for i, code in enumerate(OPTIONS):
            lines.append(f"  {'':<{len(power.names[0]) + 26}}{name[:11]:<12}{(code + ' ' + labels.get(code, ''))[:27]:<28}"
                         f"{100 * power.true_difference[v, i]:+7.1f}{100 * power.mean_difference[v, i]:+7.1f}"
                         f"{100 * power.detected[v, i]:9.0f}%{100 * power.coverage[v, i]:6.0f}%")
    lines.append("  differences in percentage points; detected = share of replications whose 95% interval "
                 "(Newcombe) left out 0: the power where the true difference is not 0, false alarms where it is")
    return lines


def range_lines(mc: MonteCarlo, labels: Mapping[str, str]) -> list[str]:
    """How often the sensitivity range held the truth, per odds ratio of answering and answer; and what the
    weighting's targets assumed."""
    lines = []
    if mc.target_error:
        lines.append("  targets drawn around the truth in each replication (relative error: "
                     + ", ".join(f"{name} {100 * error:.0f}%" for name, error in TARGET_ERROR.items()
                                 if name in mc.weighted_on) + ")")
    if mc.weighting_unconverged:
        lines.append(f"  {mc.weighting_unconverged:,} replications did not converge: counted unweighted, as published")
    for ratio, coverage in (mc.range_coverage or {}).items():
        held = ", ".join(f"{code} {100 * coverage[i]:.0f}%" for i, code in enumerate(OPTIONS))
        lines.append(f"  range held the truth, answering odds up to {ratio:g}x within groups: {held}")
    if mc.index_coverage is not None:
        held = ", ".join(f"{code} {100 * mc.index_coverage[i]:.0f}%" for i, code in enumerate(OPTIONS))
        lines.append(f"  MUBP range (Andridge-Little, phi 0 to 1) held the truth: {held}")
    return lines


def weighted_replications(mc: MonteCarlo) -> int:
    """How many replications the weighted bias, RMSE and coverage are computed over."""
    return mc.replications - mc.weighting_failures


def montecarlo_json(mc: MonteCarlo, scenario: str) -> dict:
    """The Monte Carlo summary for machines."""

    def block(estimates, i):
        return {
            "mean": float(estimates.mean[i]),
            "bias": float(estimates.bias[i]),
            "rmse": float(estimates.rmse[i]),
            "coverage": float(estimates.coverage[i]),
        }

    return {
        "scenario": scenario,
        "replications": mc.replications,
        "population": mc.population_size,
        "invited": mc.sample_size,
        "answered": mc.answers_mean,
        "weighting_failures": mc.weighting_failures,
        "weighting_merged": mc.weighting_merged,
        "weighted_replications": weighted_replications(mc),
        "weighted_on": list(mc.weighted_on),
        "weighting_unconverged": mc.weighting_unconverged,
        "target_error": {name: error for name, error in TARGET_ERROR.items() if name in mc.weighted_on}
        if mc.target_error else None,
        "options": [
            {"code": code, "true_share": float(mc.true_shares[i]), "raw": block(mc.raw, i),
             "weighted": block(mc.weighted, i),
             "range_coverage": {f"{ratio:g}": float(coverage[i]) for ratio, coverage in
                                (mc.range_coverage or {}).items()},
             "index_coverage": None if mc.index_coverage is None or np.isnan(mc.index_coverage[i])
             else float(mc.index_coverage[i])}
            for i, code in enumerate(OPTIONS)
        ],
        **({"experiment": _power_json(mc)} if mc.experiment is not None else {}),
    }


def _power_json(mc: MonteCarlo) -> dict:
    power = mc.experiment
    return {
        "reference": power.names[0],
        "variants": [
            {"name": name, "options": [
                {"code": code, "true_difference": float(power.true_difference[v, i]),
                 "mean_difference": float(power.mean_difference[v, i]), "detected": float(power.detected[v, i]),
                 "coverage": float(power.coverage[v, i])}
                for i, code in enumerate(OPTIONS)]}
            for v, name in enumerate(power.names[1:])
        ],
    }
