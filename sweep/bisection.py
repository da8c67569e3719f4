"""The boundary search's decision, a pure function: one group's finished runs -> the next β to run, or done.

The criterion is "no active unit" (`common.collapse.no_active_units`). The configured range [low, high] is the
bracket the search starts from: `low` is assumed to work and `high` to collapse. Each step runs the geometric
midpoint of the current bracket (the largest working β tried, else `low`; the smallest collapsed β tried, else
`high`), so every run halves the bracket's width in log β. When the bracket is narrow enough (high/low ≤ `ratio`),
an end that is still only assumed is run to confirm it; a confirmation that disagrees ends the search with the
boundary outside the range (`below` / `above`). A boundary inside the range thus costs
⌈log2(log(high/low) / log(ratio))⌉ runs and no run at the ends.

Noisy runs (a working β above a collapsed one) switch to the logistic estimate of `common.boundary.locate`: the
search runs the midpoint of the widest gap between the β values tried in the zone where runs disagree (with one
agreeing neighbour on each side), until the estimate's interval is within `ratio` or the budget is spent.

The decision depends only on the finished runs, so every launcher that asks with the same runs gets the same β.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from common.boundary import locate

# A gap narrower than this (as a ratio of β) is not split further: its midpoint would repeat a β tried.
SMALLEST_GAP = 1.0 + 1e-9


@dataclass(frozen=True)
class Decision:
    beta: float | None  # the next β to run; None: the group is done
    reason: str  # bisect | confirm low | confirm high | refine | bracket | below | above | logistic | budget | stuck


def next_beta(runs: Sequence[tuple[float, bool]], low: float, high: float, ratio: float, budget: int,
              spent: int) -> Decision:
    """`runs`: the group's finished (β, collapsed) pairs, any order, include points too; `spent`: how many of
    them (or of its failed runs) the search itself started, against `budget`."""
    decision = _step(runs, low, high, ratio)
    return Decision(None, "budget") if decision.beta is not None and spent >= budget else decision


def _step(runs: Sequence[tuple[float, bool]], low: float, high: float, ratio: float) -> Decision:
    working = [beta for beta, collapsed in runs if not collapsed]
    collapsed = [beta for beta, bad in runs if bad]
    if working and collapsed and max(working) > min(collapsed):
        return _refine(runs, low, high, ratio)
    if collapsed and min(collapsed) <= low:
        return Decision(None, "below")
    if working and max(working) >= high:
        return Decision(None, "above")
    left = max([low, *working])
    right = min([high, *collapsed])
    if right / left > ratio:
        return Decision(math.sqrt(left * right), "bisect")
    if left not in working:
        return Decision(low, "confirm low")
    if right not in collapsed:
        return Decision(high, "confirm high")
    return Decision(None, "bracket")


def _refine(runs: Sequence[tuple[float, bool]], low: float, high: float, ratio: float) -> Decision:
    """Runs disagree: stop once the logistic (or overlap-zone) estimate is within `ratio`, else split the widest
    gap between the β values tried around the zone of disagreement."""
    found = locate([beta for beta, _ in runs], [bad for _, bad in runs])
    if found.located and found.high / found.low <= ratio:
        return Decision(None, "logistic")
    tried = sorted({beta for beta, _ in runs})
    zone_low, zone_high = found.smallest_collapsed, found.largest_working
    below = [beta for beta in tried if beta < zone_low]
    above = [beta for beta in tried if beta > zone_high]
    start = below[-1] if below else min(zone_low, max(low, tried[0] / ratio))
    end = above[0] if above else max(zone_high, min(high, tried[-1] * ratio))
    points = sorted({start, end, *(beta for beta in tried if start <= beta <= end)})
    gaps = [(right / left, left, right) for left, right in zip(points, points[1:])]
    widest, left, right = max(gaps)
    if widest <= SMALLEST_GAP:
        return Decision(None, "stuck")
    return Decision(math.sqrt(left * right), "refine")
