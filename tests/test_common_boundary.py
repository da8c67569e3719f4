"""common.boundary: the boundary estimator (bracket, logistic fit, the cases it cannot locate) on known answers."""
from __future__ import annotations

import math

import numpy as np
import pytest

from common.boundary import locate


def test_boundary_brackets_a_known_threshold():
    beta = np.geomspace(1, 1000, 25)
    found = locate(beta, beta > 50)
    assert found.method == "bracket" and found.located
    assert found.low == beta[beta <= 50].max() and found.high == beta[beta > 50].min()
    assert found.low < 50 < found.high and math.isclose(found.estimate, math.sqrt(found.low * found.high))


def test_boundary_logistic_fit_recovers_a_known_midpoint():
    rng = np.random.default_rng(1)
    beta = 10 ** rng.uniform(0, 3, 3000)
    collapsed = rng.random(3000) < 1 / (1 + np.exp(-(np.log10(beta) - np.log10(30)) / 0.15))
    found = locate(beta, collapsed)
    assert found.method == "logistic"
    assert found.low < 30 < found.high and found.high / found.low < 1.3
    assert abs(math.log10(found.estimate / 30)) < 0.05


@pytest.mark.parametrize("collapsed, method", [(False, "above"), (True, "below")])
def test_boundary_says_when_the_data_cannot_locate_it(collapsed, method):
    found = locate(np.array([1.0, 10.0, 100.0]), np.array([collapsed] * 3))
    assert found.method == method and not found.located and math.isnan(found.estimate)
