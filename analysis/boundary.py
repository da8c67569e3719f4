"""Where collapse begins: the effective-β boundary per arch and latent size, estimated from the runs.

Per group the runs are split into collapsed and not collapsed (healthy or partial). Then:
- `bracket`: every collapsed run has a larger effective β than every other run. The boundary lies between the
  largest not-collapsed and the smallest collapsed effective β; the estimate is their geometric mean.
- `logistic`: the two overlap. P(collapsed) = sigmoid(b0 + b1 log10 β_eff) is fitted by maximum likelihood; the
  boundary is where P = 1/2 (log10 β = -b0/b1), with a 95% interval from the delta method on the fit's covariance.
- `overlap`: they overlap only in a narrow zone (nearly separable data, e.g. seeds of one configuration that
  disagree), where the fit's interval is unbounded: the boundary lies in the zone between the smallest collapsed
  and the largest not-collapsed effective β (outside it every run agrees); the estimate is its geometric mean.
- `above` / `below`: no collapsed run (the boundary is above the largest β tried) or no working run (below the
  smallest); `unordered`: collapse does not become more likely with β in this group.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import expit

from common.collapse import COLLAPSED, HEALTHY, PARTIAL
from analysis.numbers import count, fmt, plural, span, table

Z95 = 1.959964
MAX_DECADES = 2.0  # a logistic interval wider than this (in log10 β) is reported as the overlap zone instead


@dataclass(frozen=True)
class Boundary:
    method: str  # bracket | logistic | above | below | unordered | none
    runs: int
    collapsed: int
    largest_working: float  # largest effective β of a run that did not collapse (NaN: none)
    smallest_collapsed: float  # NaN: none
    estimate: float = math.nan
    low: float = math.nan
    high: float = math.nan

    @property
    def located(self) -> bool:
        return self.method in ("bracket", "logistic", "overlap")


def logistic_fit(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Maximum-likelihood (b0, b1) of P(y=1) = sigmoid(b0 + b1 x) and their covariance (inverse Fisher info)."""
    design = np.column_stack([np.ones_like(x), x])

    def loss(coef: np.ndarray) -> tuple[float, np.ndarray]:
        eta = design @ coef
        p = expit(eta)
        return float(np.sum(np.logaddexp(0, eta) - y * eta)), design.T @ (p - y)

    coef = minimize(loss, np.zeros(2), jac=True, method="BFGS").x
    p = expit(design @ coef)
    info = design.T @ (design * (p * (1 - p))[:, None])
    return coef, np.linalg.pinv(info)


def locate(effective_beta: np.ndarray, collapsed: np.ndarray) -> Boundary:
    beta = np.asarray(effective_beta, dtype=float)
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


def boundaries(df: pd.DataFrame, by: tuple[str, ...] = ("arch", "latent_dim")) -> pd.DataFrame:
    """One row per group of finished VAE runs: the group's keys and the fields of its `Boundary`."""
    vae = df[(df["state"] == "COMPLETE") & (df["model"].fillna("vae") != "ae")]
    vae = vae[vae["status"].isin([COLLAPSED, PARTIAL, HEALTHY])]
    keys = [name for name in by if name in vae and vae[name].notna().any()]
    rows = []
    groups = vae.groupby(keys, sort=True) if keys else [((), vae)]
    for key, part in groups:
        key = key if isinstance(key, tuple) else (key,)
        found = locate(part["effective_beta"].to_numpy(dtype=float), (part["status"] == COLLAPSED).to_numpy())
        rows.append({**dict(zip(keys, key)), **found.__dict__, "located": found.located})
    return pd.DataFrame(rows)


BOUNDARY_HOW = {"bracket": "between the largest working and the smallest collapsed run",
                "logistic": "logistic fit, 95% interval", "overlap": "seeds/runs disagree in this range"}


def _boundary_cell(row: pd.Series) -> tuple[str, str]:
    if row["method"] == "above":
        return f"not located: no run collapsed (largest effective β tried {fmt(row['largest_working'])})", ""
    if row["method"] == "below":
        return f"not located: every run collapsed (smallest effective β tried {fmt(row['smallest_collapsed'])})", ""
    if row["method"] in ("unordered", "none"):
        return "not located: collapse does not grow with effective β here", ""
    interval = fmt(row["low"]) if np.isclose(row["low"], row["high"]) else f"{fmt(row['low'])}–{fmt(row['high'])}"
    return f"≈ {fmt(row['estimate'])} ({interval})", BOUNDARY_HOW[row["method"]]


def findings(df: pd.DataFrame) -> str:
    """Where collapse begins, per arch and latent size: the effective-β boundary and how it was located."""
    found = boundaries(df)
    if found.empty:
        return "**Where collapse begins**: no finished VAE runs with a collapse verdict."
    keys = [name for name in ("arch", "latent_dim") if name in found]
    rows = []
    for _, row in found.iterrows():
        boundary, how = _boundary_cell(row)
        rows.append({**{name: row[name] for name in keys}, "runs": count(int(row["runs"])),
                     "collapsed": count(int(row["collapsed"])), "collapse begins at effective β": boundary,
                     "how": how})
    located = found[found["located"]]
    text = (f"**Where collapse begins** (effective β, per {' and '.join(keys) or 'study'}): located for "
            f"{len(located)} of {plural(len(found), 'group')}")
    if not located.empty:
        text += f", {'estimates ' if len(located) > 1 else 'at '}{span(located['estimate'])}"
    missing = found[~found["located"]]
    if not missing.empty:
        text += (f". In {plural(len(missing), 'group')} the data cannot locate it: "
                 f"{int((missing['method'] == 'above').sum())} with no collapsed run (the boundary lies above the "
                 f"largest β tried), {int((missing['method'] == 'below').sum())} with no working run")
    text += (". A wide range means no run was tried between the last working and the first collapsed β; more "
             "trials there would narrow it.\n\n")
    return text + table(pd.DataFrame(rows))
