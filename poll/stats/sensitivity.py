"""How far selection that no weighting sees could move a weighted share: a stated sensitivity range.

Weighting to governorate, sex and age band assumes that, within each of their
groups, those who answered think like those who did not. When opinion itself
makes people answer (opponents mobilised, supporters silent), no weighting on
demography can see it, and the weighted estimate's interval is then narrow
around the wrong value. What the data cannot tell, a stated assumption can
bound: *if those who chose an answer were up to k times more, or k times less,
likely to answer than the others of their group*, the share would lie in this
range.

Computed exactly by reweighting: each respondent who chose the answer
counts k times (or 1/k times) what they counted, and the weights are raked
again to the margins the weighted estimate met, so those still hold. (Keeping
each full cross-classified cell's total instead would leave cells where no
one chose the answer unmoved; in a poll of a few thousand answers spread
over 144 cells, that hides most of the shift.)
The range runs from the share at 1/k to the share at k, widened on each side
by the weighted estimate's own 95% margin (carried through the same odds
ratio), so that it is a statement of both the selection it allows and the
sampling error. Each answer's range is
computed on its own (that answer against all the others).

This is the simpler of the sensitivity analyses in the literature: a fixed
odds ratio of answering within groups, as in Rosenbaum's sensitivity bounds;
Andridge and Little's SMUB/MUBP index (2019) models the same question with a
proxy built from the weighting variables. Ours needs nothing but the
weighted cells, so it can be derived from released figures alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from poll.stats import weighting

# The odds ratios of answering that the range allows, stated beside it: 1.5 (a moderate difference in who
# answers) and 2 (a large one: twice as likely).
RATIOS = (1.5, 2.0)
WIDEST = RATIOS[-1]


@dataclass(frozen=True)
class Range:
    """Per answer, the lowest and highest share under odds ratios of answering up to `ratio`."""

    ratio: float
    low: np.ndarray
    high: np.ndarray

    def holds(self, truth: np.ndarray) -> np.ndarray:
        """Per answer, whether the range holds `truth`."""
        return (self.low <= truth) & (truth <= self.high)


def shifted_shares(categories: Sequence[np.ndarray], weights: np.ndarray, options: np.ndarray, option_count: int,
                   ratio: float) -> np.ndarray:
    """Each answer's weighted share were those choosing it `ratio` times less likely to answer than others alike on
    every weighting margin (so each of them stands for `ratio` times as many); a `ratio` under 1: more likely.

    `weights` are the cells' total weights (respondents x their weight); `categories[k]` each cell's category on
    margin k, `options` its answer. The reweighted cells are raked back to the margins `weights` meet.
    """
    weights = np.asarray(weights, dtype=float)
    shares = np.zeros(option_count)
    if weights.sum() <= 0:
        return shares
    categories = [np.asarray(codes, dtype=np.int64) for codes in categories]
    margins = [np.bincount(codes, weights=weights) for codes in categories]
    for option in range(option_count):
        chosen = options == option
        if not chosen.any():
            continue
        moved = weighting.rake(categories, margins, base_weights=np.where(chosen, ratio * weights, weights),
                               tolerance=1e-9, max_iterations=500).weights
        shares[option] = float(moved[chosen].sum() / moved.sum())
    return shares


def selection_range(categories: Sequence[np.ndarray], weights: np.ndarray, options: np.ndarray, option_count: int,
                    ratio: float, *, shares: np.ndarray | None = None,
                    intervals: np.ndarray | None = None) -> Range:
    """Each answer's range of shares under odds ratios of answering from 1/`ratio` to `ratio` within groups.

    With the weighted `shares` and their 95% `intervals` (options x 2), the range is widened by the interval's
    margin on each side: the selection the ratio allows, and the sampling error besides.
    """
    low = shifted_shares(categories, weights, options, option_count, 1 / ratio)
    high = shifted_shares(categories, weights, options, option_count, ratio)
    if shares is not None and intervals is not None:
        # The interval's margins carried through the same odds ratio (applied to the whole share, where the
        # range itself applies it group by group): the ratio stretches a margin as it stretches the share.
        shares, intervals = np.asarray(shares, dtype=float), np.asarray(intervals, dtype=float)
        low = low - (_at_odds(shares, 1 / ratio) - _at_odds(intervals[:, 0], 1 / ratio))
        high = high + (_at_odds(intervals[:, 1], ratio) - _at_odds(shares, ratio))
    return Range(ratio, np.clip(low, 0.0, 1.0), np.clip(high, 0.0, 1.0))


def _at_odds(share: np.ndarray, ratio: float) -> np.ndarray:
    # A share whose odds are multiplied by `ratio`.
    share = np.clip(share, 0.0, 1.0)
    return ratio * share / (ratio * share + 1 - share)
