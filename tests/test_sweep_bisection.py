"""sweep.bisection: the boundary search's decision on a stub objective with a known threshold, monotone and noisy."""
from __future__ import annotations

import math

import numpy as np
import pytest

from common.boundary import locate
from sweep.bisection import next_beta


def search(collapses, low, high, ratio=1.25, budget=8, runs=()):
    """Run the decision loop against `collapses(beta) -> bool`; (final reason, every (β, collapsed) run)."""
    runs, spent = list(runs), 0
    while True:
        decision = next_beta(runs, low, high, ratio, budget, spent)
        if decision.beta is None:
            return decision.reason, runs
        assert decision.beta not in {beta for beta, _ in runs}, "a β was proposed twice"
        runs.append((decision.beta, collapses(decision.beta)))
        spent += 1


@pytest.mark.parametrize("threshold", [0.013, 1.7, 30.0, 999.0])
def test_a_monotone_threshold_is_bracketed_to_the_ratio_in_the_known_number_of_runs(threshold):
    low, high, ratio = 0.01, 1000.0, 1.25
    reason, runs = search(lambda beta: beta >= threshold, low, high, ratio, budget=20)
    working = max(beta for beta, bad in runs if not bad)
    collapsed = min(beta for beta, bad in runs if bad)
    assert reason == "bracket" and working < threshold <= collapsed and collapsed / working <= ratio
    # each run halves log(high/low): ceil(log2(log(1e5) / log(1.25))) = 6 runs, plus one confirming an end
    # of the range when the threshold lies in the last bracket next to it
    halvings = math.ceil(math.log2(math.log(high / low) / math.log(ratio)))
    last_cell = (high / low) ** (1 / 2 ** halvings)
    near_end = threshold < low * last_cell or threshold >= high / last_cell
    assert len(runs) == halvings + near_end
    found = locate(*zip(*runs))
    assert found.method == "bracket" and found.low == working and found.high == collapsed


@pytest.mark.parametrize("threshold, reason", [(0.001, "below"), (5000.0, "above")])
def test_a_threshold_outside_the_range_is_reported_after_confirming_the_end(threshold, reason):
    found, runs = search(lambda beta: beta >= threshold, 0.01, 1000.0)
    assert found == reason
    assert runs[-1][0] == (0.01 if reason == "below" else 1000.0)  # the end itself was run, and disagreed
    assert len(runs) == 7


def test_the_budget_stops_the_search_and_include_points_narrow_the_start():
    reason, runs = search(lambda beta: beta >= 30.0, 0.01, 1000.0, budget=3)
    assert reason == "budget" and len(runs) == 3
    # include points already tried (a working 10 and a collapsed 100) are the starting bracket: no search run
    # lands outside them, and they do not count against the budget
    given = [(10.0, False), (100.0, True)]
    reason, runs = search(lambda beta: beta >= 30.0, 0.01, 1000.0, budget=4, runs=given)
    added = runs[len(given):]
    assert reason == "bracket" and all(10 < beta < 100 for beta, _ in added) and len(added) == 4
    assert math.isclose(added[0][0], math.sqrt(1000))


def test_a_noisy_threshold_is_found_within_the_noise():
    """Collapse when log10 β + noise > log10 30, noise ~ N(0, 0.1 decades) per run: over 50 seeded searches the
    estimate stays within 0.25 decades (2.5 σ) of 30, and the typical error is about half the noise."""
    errors = []
    for seed in range(50):
        rng = np.random.default_rng(seed)
        reason, runs = search(lambda beta: math.log10(beta) + rng.normal(0, 0.1) > math.log10(30), 0.1, 1e4)
        found = locate(*zip(*runs))
        assert found.located and reason in ("bracket", "logistic", "budget")
        errors.append(abs(math.log10(found.estimate / 30)))
    assert max(errors) < 0.25 and np.median(errors) < 0.1


def test_runs_that_disagree_switch_to_the_logistic_estimate():
    """Earlier runs (include points, other seeds) that contradict each other: the search refines the zone where
    they disagree until the logistic estimate's 95 % interval is within the ratio or the budget is spent."""
    rng = np.random.default_rng(0)
    given = [(20.0, True), (45.0, False), (5.0, False), (200.0, True)]  # 20 collapsed, 45 not: noisy around 30
    decision = next_beta(given, 1.0, 1000.0, 1.25, 30, 0)
    assert decision.reason == "refine" and 5.0 < decision.beta < 200.0
    noisy = lambda beta: math.log10(beta) + rng.normal(0, 0.05) > math.log10(30)  # noqa: E731
    reason, runs = search(noisy, 1.0, 1000.0, ratio=1.25, budget=30, runs=given)
    found = locate(*zip(*runs))
    assert found.method in ("logistic", "overlap") and found.low < 30 < found.high
    assert reason == "budget" or found.high / found.low <= 1.25
