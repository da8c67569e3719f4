"""Measured against exact: which trials the linear-Gaussian theory covers, its predictions from each trial's own
training split (`analysis.findings.theory`), and the agreement as numbers with their tolerances (docs/theory.md).

The theory covers a finished VAE with arch=linear, likelihood=gaussian (σ fixed), gaussian_mean=identity,
free_bits=0 and binarize=none. The prediction uses the eigenvalues of the training split's covariance; the
measurements are on the test split, so they differ from it by the test sample's own fluctuation as well as by
training that has not fully converged.
"""
from __future__ import annotations

import functools
import math

import numpy as np
import pandas as pd

from analysis.findings import staircase, theory
from common.errors import UserError
from common.results import KEY

REQUIRED = (("model", "vae"), ("arch", "linear"), ("likelihood", "gaussian"), ("gaussian_mean", "identity"),
            ("free_bits", 0.0), ("binarize", "none"))
DEFAULTS = {"model": "vae", "gaussian_mean": "sigmoid", "free_bits": 0.0, "binarize": "none"}  # older studies
# Tolerances (docs/theory.md says why): a measurement may stray SAMPLING_SDS times the test sample's own SD from the
# exact value, a unit's KL by CONVERGENCE nats more (training converges slowly where λᵢ ≈ βσ² and at small β); the
# band of λᵢ/βσ² around the active-unit cut-off in which a unit's activity is not judged exactly.
SAMPLING_SDS = 3.0
CONVERGENCE = 0.05
SLOW_BAND = 1.25
KL_LAW_MIN = 0.1  # nats: runs in which a unit carries at least this much estimate its switch-off from its KL


def _settings(runs: pd.DataFrame) -> pd.DataFrame:
    """The REQUIRED keys of each run, with the defaults of studies that predate a key filled in."""
    columns = {key: runs[key] if key in runs else pd.Series(None, index=runs.index, dtype=object)
               for key, _ in REQUIRED}
    return pd.DataFrame({key: column.where(column.notna(), DEFAULTS.get(key)) for key, column in columns.items()})


def why_not(settings: pd.Series) -> list[str]:
    """The settings of one trial that put it outside the theory (empty: it qualifies)."""
    return [f"{key}={settings[key]}" + (" (needs linear)" if key == "arch" else "")
            for key, needed in REQUIRED if settings[key] != needed]


def qualifying(frame: pd.DataFrame) -> pd.DataFrame:
    runs = staircase.finished_vaes(frame)
    if runs.empty:
        return runs
    settings = _settings(runs)
    return runs[np.logical_and.reduce([settings[key] == needed for key, needed in REQUIRED])]


@functools.lru_cache(maxsize=16)
def split_facts(dataset: str, seed: int, val_fraction: float, test_fraction: float) -> tuple[np.ndarray, int]:
    """(eigenvalues of the covariance of the training split a trial with these settings trained on, the number of
    test examples it was measured on)."""
    from vae import data
    from vae.config import TrialConfig

    config = TrialConfig(dataset=dataset, seed=seed, val_fraction=val_fraction, test_fraction=test_fraction,
                         likelihood="gaussian", gaussian_mean="identity")
    stored = data.load_dataset(dataset)
    splits = data.split(stored.images, config, stored.labels, stored.divisor)
    return theory.spectrum(np.asarray(splits.train)), len(splits.test)


def _facts(row: pd.Series) -> tuple[np.ndarray, int]:
    return split_facts(str(row["dataset"]), int(row.get("seed", 0)), float(row.get("val_fraction", 0.1)),
                       float(row.get("test_fraction", 0.1)))


def spectrum_of(row: pd.Series) -> np.ndarray:
    return _facts(row)[0]


def test_size(row: pd.Series) -> int:
    return _facts(row)[1]


def slow(eigenvalues: np.ndarray, latent_dim: int, beta: float, sigma: float) -> np.ndarray:
    """Per unit: its λᵢ lies within a factor SLOW_BAND of the active-unit cut-off βσ²/0.99."""
    ratio = theory.switch_off(eigenvalues, latent_dim, sigma) / beta
    return (ratio > 1 / SLOW_BAND) & (ratio < SLOW_BAND)


def kl_tolerance(eigenvalues: np.ndarray, latent_dim: int, beta: float, sigma: float, count: int) -> np.ndarray:
    """Per unit, how far its KL measured on `count` test examples may stray from the exact value: SAMPLING_SDS
    of its sampling SD plus CONVERGENCE; a unit in the slow band may carry up to what a unit at the band's edge
    carries, ½ ln SLOW_BAND."""
    tolerance = SAMPLING_SDS * theory.kl_per_dim_sd(eigenvalues, latent_dim, beta, sigma, count) + CONVERGENCE
    return np.where(slow(eigenvalues, latent_dim, beta, sigma), np.maximum(tolerance, 0.5 * math.log(SLOW_BAND)),
                    tolerance)


def compare(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per qualifying trial: measured and exact KL per unit (sorted, largest first), active units, total
    KL and recon NLL, with the errors. Empty when no trial qualifies; raises UserError when the data are gone."""
    rows = []
    for _, run in qualifying(frame).iterrows():
        lam = spectrum_of(run)
        latent, beta, sigma = int(run["latent_dim"]), float(run["effective_beta"]), float(run["gaussian_sigma"])
        measured = np.sort(np.asarray(run["kl_per_dim"], float))[::-1]
        exact = theory.kl_per_dim(lam, latent, beta, sigma)
        tolerance = kl_tolerance(lam, latent, beta, sigma, test_size(run))
        nll_sd = theory.recon_nll_sd(lam, latent, beta, sigma, test_size(run))
        rows.append({
            "number": run["number"], "reduction": run["reduction"], "beta": run["beta"], "effective_beta": beta,
            "latent_dim": latent, "sigma": sigma, "d": len(lam), "n_test": test_size(run),
            "kl_measured": measured, "kl_exact": exact,
            "kl_error": float(np.max(np.abs(measured - exact))),
            "kl_within": bool(np.all(np.abs(measured - exact) <= tolerance)),
            "active_units": int(run[KEY.active_units]),
            "active_units_exact": theory.active_units(lam, latent, beta, sigma),
            "slow_units": int(slow(lam, latent, beta, sigma).sum()),
            "kl": float(run[KEY.kl]), "kl_total_exact": float(exact.sum()),
            "recon_nll": float(run[KEY.recon_nll]), "recon_nll_exact": theory.recon_nll(lam, latent, beta, sigma),
            "recon_nll_sd": nll_sd,
        })
    return pd.DataFrame(rows)


def thresholds(frame: pd.DataFrame) -> pd.DataFrame:
    """Per group of qualifying runs and unit: the exact switch-off (effective β, 0.99·λᵢ/σ²), the measured
    staircase bracket (`analysis.findings.staircase`), whether the exact value lies in it (`inside`) or within a factor
    SLOW_BAND of it, where a lagging unit can put the measured switch-off (`near`), and the switch-off the unit's
    measured KL implies by the theory's law KL = ½ ln(λ/βσ²): 0.99·β·e^(2·KL), median over the runs in which the
    unit carries at least KL_LAW_MIN nats."""
    rows = []
    for label, part in staircase.groups(qualifying(frame)):
        exact = np.median([theory.switch_off(spectrum_of(run), int(run["latent_dim"]), float(run["gaussian_sigma"]))
                           for _, run in part.iterrows()], axis=0)
        kl = np.vstack([np.sort(np.asarray(value, float))[::-1] for value in part["kl_per_dim"]])
        beta, units = part["effective_beta"].to_numpy(float), part[KEY.active_units].to_numpy(float)
        for unit in range(1, len(exact) + 1):
            found = staircase.unit_switch_off(beta, units, unit)
            carrying = kl[:, unit - 1] >= KL_LAW_MIN
            law = 0.99 * float(np.median(beta[carrying] * np.exp(2 * kl[carrying, unit - 1]))) if carrying.any() \
                else math.nan
            low, high = sorted((found["on_up_to"], found["off_from"]))
            inside = found["method"] == "bracket" and low <= exact[unit - 1] <= high
            near = found["method"] in ("bracket", "overlap") and low / SLOW_BAND <= exact[unit - 1] <= high * SLOW_BAND
            rows.append({**label, **found, "exact": exact[unit - 1], "inside": bool(inside), "near": bool(near),
                         "from_kl": law, "from_kl_runs": int(carrying.sum())})
    return pd.DataFrame(rows)


def agreement(comparison: pd.DataFrame, switches: pd.DataFrame) -> dict[str, float]:
    """The agreement as numbers: worst and median KL-per-unit error, runs with every unit within its tolerance,
    exact active-unit counts (and those off by no more than their slow units), switch-offs inside their bracket,
    the KL-law switch-offs' largest ratio to the exact one, the largest total-KL and recon-NLL differences (the
    latter also in test-sample SDs, and the runs within SAMPLING_SDS of them)."""
    errors = np.concatenate([np.abs(m - e) for m, e in zip(comparison["kl_measured"], comparison["kl_exact"])])
    au_off = (comparison["active_units"] - comparison["active_units_exact"]).abs()
    bracketed = switches[switches["method"] == "bracket"] if not switches.empty else switches
    located = switches[switches["method"].isin(["bracket", "overlap"])] if not switches.empty else switches
    law = switches.dropna(subset=["from_kl"]) if not switches.empty else switches
    ratio = (law["from_kl"] / law["exact"]).to_numpy(float) if not law.empty else np.array([math.nan])
    nll_error = (comparison["recon_nll"] - comparison["recon_nll_exact"]).abs()
    return {
        "runs": len(comparison), "kl_max_error": float(errors.max()), "kl_median_error": float(np.median(errors)),
        "kl_within": int(comparison["kl_within"].sum()),
        "au_exact": int((au_off == 0).sum()), "au_within_slow": int((au_off <= comparison["slow_units"]).sum()),
        "units_bracketed": len(bracketed), "units_inside": int(bracketed["inside"].sum()) if len(bracketed) else 0,
        "units_located": len(located), "units_near": int(located["near"].sum()) if len(located) else 0,
        "kl_law_units": len(law), "kl_law_worst_ratio": float(ratio[np.argmax(np.abs(np.log(ratio)))]),
        "kl_total_max_error": float((comparison["kl"] - comparison["kl_total_exact"]).abs().max()),
        "recon_nll_max_error": float(nll_error.max()),
        "recon_nll_max_sds": float((nll_error / comparison["recon_nll_sd"]).max()),
        "recon_nll_within": int((nll_error <= SAMPLING_SDS * comparison["recon_nll_sd"]).sum()),
    }


def check(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, float]] | str:
    """(comparison, thresholds, agreement), or why the theory does not apply to this study (a sentence)."""
    runs = staircase.finished_vaes(frame)
    if runs.empty:
        return "no finished VAE run with active units recorded"
    if qualifying(frame).empty:
        reasons = sorted({", ".join(why_not(row)) for _, row in _settings(runs).drop_duplicates().iterrows()})
        return "no run qualifies (" + "; ".join(reasons[:3]) + (" …" if len(reasons) > 3 else "") + ")"
    try:
        comparison, switches = compare(frame), thresholds(frame)
    except UserError as error:
        return f"the training data cannot be read again ({error})"
    return comparison, switches, agreement(comparison, switches)
