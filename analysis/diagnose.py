"""The collapse flag (docs/metrics.md), with its thresholds as parameters and the evidence behind each flag.

VAE rows (finished trials):
- `collapsed` if active_units <= `Thresholds.active_units_collapsed` (default 0: no unit carries information)
  or recon_diversity < `Thresholds.recon_diversity_collapsed` (default 0.05: every reconstruction is about the
  same image, usually the mean image);
- `partial` if active_units < latent_dim x `Thresholds.partial_fraction` (default 1/4);
- `healthy` otherwise; `unknown` when neither metric was recorded.

AE rows (`model == "ae"`): an autoencoder has no KL term, so "active units" and posterior collapse do not apply.
They are judged on recon_diversity only: `collapsed` if it is below the threshold (the AE failed to reconstruct
anything but an average image), otherwise the status is `ae` — kept apart from `healthy` so that counts of healthy
VAEs are never inflated by the baseline.

Trials that did not finish get their Optuna state as status (`failed`, `running`, `pruned`, `waiting`) and
the fail reason, if any, as evidence.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Mapping

import pandas as pd

HEALTHY, PARTIAL, COLLAPSED, AE, UNKNOWN = "healthy", "partial", "collapsed", "ae", "unknown"
VAE_STATUSES = (HEALTHY, PARTIAL, COLLAPSED)
STATE_STATUS = {"FAIL": "failed", "RUNNING": "running", "PRUNED": "pruned", "WAITING": "waiting"}


@dataclass(frozen=True)
class Thresholds:
    """Where the collapse flag draws its lines (recorded in the report)."""

    active_units_collapsed: int = 0
    recon_diversity_collapsed: float = 0.05
    partial_fraction: float = 0.25

    def describe(self) -> str:
        return (f"collapsed: active_units <= {self.active_units_collapsed} or recon_diversity < "
                f"{self.recon_diversity_collapsed:g}; partial: active_units < latent_dim x "
                f"{self.partial_fraction:g}; healthy otherwise")

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def _number(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.nan
    return number


def _latent_dim(row: Mapping[str, Any]) -> float:
    latent = _number(row.get("latent_dim"))
    if math.isnan(latent):
        per_dim = row.get("kl_per_dim")
        if per_dim is not None and not isinstance(per_dim, float):
            latent = float(len(per_dim))
    return latent


def diagnose_row(row: Mapping[str, Any], thresholds: Thresholds = Thresholds()) -> tuple[str, str]:
    """(status, evidence) for one trial row (a dict or a DataFrame row)."""
    state = str(row.get("state") or "COMPLETE")
    if state != "COMPLETE":
        reason = row.get("fail_reason")
        reason = reason if isinstance(reason, str) and reason else ""
        return STATE_STATUS.get(state, state.lower()), f"trial {state}" + (f": {reason}" if reason else "")
    units = _number(row.get("test/active_units"))
    diversity = _number(row.get("test/recon_diversity"))
    div_limit = thresholds.recon_diversity_collapsed
    low_diversity = not math.isnan(diversity) and diversity < div_limit
    if str(row.get("model") or "vae") == "ae":
        if math.isnan(diversity):
            return AE, "autoencoder (no KL term); recon_diversity not recorded"
        if low_diversity:
            return COLLAPSED, f"autoencoder: recon_diversity {diversity:.3g} < {div_limit:g}"
        return AE, f"autoencoder (no KL term): recon_diversity {diversity:.3g} >= {div_limit:g}"
    if math.isnan(units) and math.isnan(diversity):
        return UNKNOWN, "neither test/active_units nor test/recon_diversity recorded"
    reasons = []
    if not math.isnan(units) and units <= thresholds.active_units_collapsed:
        reasons.append(f"active_units {units:.0f} <= {thresholds.active_units_collapsed}")
    if low_diversity:
        reasons.append(f"recon_diversity {diversity:.3g} < {div_limit:g}")
    if reasons:
        return COLLAPSED, "; ".join(reasons)
    latent = _latent_dim(row)
    div_text = f"recon_diversity {diversity:.3g} >= {div_limit:g}" if not math.isnan(diversity) else ""
    if not math.isnan(units) and not math.isnan(latent):
        limit = latent * thresholds.partial_fraction
        if units < limit:
            return PARTIAL, f"active_units {units:.0f} < {limit:g} (latent_dim {latent:.0f} x " \
                            f"{thresholds.partial_fraction:g})" + (f"; {div_text}" if div_text else "")
        units_text = f"active_units {units:.0f} >= {limit:g} (latent_dim {latent:.0f} x {thresholds.partial_fraction:g})"
    elif not math.isnan(units):
        units_text = f"active_units {units:.0f} (latent_dim unknown)"
    else:
        units_text = "active_units not recorded"
    return HEALTHY, "; ".join(part for part in (units_text, div_text) if part)


def diagnose(frame: pd.DataFrame, thresholds: Thresholds = Thresholds()) -> pd.DataFrame:
    """A copy of `frame` with `status` and `evidence` columns (and the thresholds in `.attrs`)."""
    result = frame.copy()
    pairs = [diagnose_row(row, thresholds) for row in result.to_dict("records")]
    result["status"] = [status for status, _ in pairs]
    result["evidence"] = [evidence for _, evidence in pairs]
    result.attrs["thresholds"] = thresholds.as_dict()
    return result
