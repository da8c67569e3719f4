"""Where collapse begins, from runs: the β boundary between working and collapsed runs, with how it was found.

`locate(beta, collapsed)` takes one group's runs (β on any one scale, e.g. effective β) and their verdicts:
- `bracket`: every collapsed run has a larger β than every other run. The boundary lies between the largest
  working and the smallest collapsed β; the estimate is their geometric mean.
- `logistic`: the two overlap. P(collapsed) = sigmoid(b0 + b1 log10 β) is fitted by maximum likelihood; the
  boundary is where P = 1/2 (log10 β = -b0/b1), with a 95% interval from the delta method on the fit's covariance.
- `overlap`: they overlap only in a narrow zone (nearly separable data, e.g. seeds of one configuration that
  disagree), where the fit's interval is unbounded: the boundary lies in the zone between the smallest collapsed
  and the largest working β (outside it every run agrees); the estimate is its geometric mean.
- `above` / `below`: no collapsed run (the boundary is above the largest β tried) or no working run (below the
  smallest); `unordered`: collapse does not become more likely with β; `none`: no runs.
Used by the adaptive search (`sweep.bisection`) and by the report (`analysis.findings.boundary`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

Z95 = 1.959964
MAX_DECADES = 2.0  # a logistic interval wider than this (in log10 β) is reported as the overlap zone instead
LOCATED = ("bracket", "logistic", "overlap")


@dataclass(frozen=True)
class Boundary:
    method: str  # bracket | logistic | overlap | above | below | unordered | none
    runs: int
    collapsed: int
    largest_working: float  # largest β of a run that did not collapse (NaN: none)
    smallest_collapsed: float  # NaN: none
    estimate: float = math.nan
    low: float = math.nan
    high: float = math.nan

    @property
    def located(self) -> bool:
        return self.method in LOCATED


def logistic_fit(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Maximum-likelihood (b0, b1) of P(y=1) = sigmoid(b0 + b1 x) and their covariance (inverse Fisher info)."""
    from scipy.optimize import minimize  # here: importing this module (the sweep, the report's CLI) stays light
    from scipy.special import expit

    design = np.column_stack([np.ones_like(x), x])

    def loss(coef: np.ndarray) -> tuple[float, np.ndarray]:
        eta = design @ coef
        p = expit(eta)
        return float(np.sum(np.logaddexp(0, eta) - y * eta)), design.T @ (p - y)

    coef = minimize(loss, np.zeros(2), jac=True, method="BFGS").x
    p = expit(design @ coef)
    info = design.T @ (design * (p * (1 - p))[:, None])
    return coef, np.linalg.pinv(info)


def locate(beta, collapsed) -> Boundary:
    beta = np.asarray(beta, dtype=float)
    bad = np.asarray(collapsed, dtype=bool)
    keep = np.isfinite(beta) & (beta > 0)
    beta, bad = beta[keep], bad[keep]
    good_max = float(beta[~bad].max()) if (~bad).any() else math.nan
    bad_min = float(beta[bad].min()) if bad.any() else math.nan
    base = dict(runs=int(len(beta)), collapsed=int(bad.sum()), largest_working=good_max, smallest_collapsed=bad_min)
    if not len(beta):
        return Boundary("none", **base)
    if not bad.any():
        return Boundary("above", **base)
    if bad.all():
        return Boundary("below", **base)
    if good_max < bad_min:
        return Boundary("bracket", **base, estimate=math.sqrt(good_max * bad_min), low=good_max, high=bad_min)
    x = np.log10(beta)
    coef, cov = logistic_fit(x, bad.astype(float))
    if coef[1] <= 0:
        return Boundary("unordered", **base)
    center = -coef[0] / coef[1]
    gradient = np.array([-1 / coef[1], coef[0] / coef[1] ** 2])
    se = math.sqrt(max(float(gradient @ cov @ gradient), 0.0))
    if 2 * Z95 * se > MAX_DECADES or not math.isfinite(se):
        return Boundary("overlap", **base, estimate=math.sqrt(good_max * bad_min), low=bad_min, high=good_max)
    return Boundary("logistic", **base, estimate=float(10 ** center), low=float(10 ** (center - Z95 * se)),
                    high=float(10 ** (center + Z95 * se)))
