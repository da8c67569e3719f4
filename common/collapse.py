"""The collapse rule, one for training's verdict, the sweep's table and the report: effective β and the flag.

Effective β: a reconstruction term averaged over D values (`reduction: mean`, what Keras' BCE/MSE do) is the summed
negative log-likelihood divided by D, which trains the same model as the sum with the KL weighted by β·D.

The flag (docs/metrics.md), for a finished VAE:
- `collapsed` if active_units <= `Thresholds.active_units_collapsed` (default 0: no unit carries information)
  or recon_diversity < `Thresholds.recon_diversity_collapsed` (default 0.05: every reconstruction is about the
  same image, usually the mean image);
- `partial` if active_units < latent_dim x `Thresholds.partial_fraction` (default 1/4);
- `healthy` otherwise; `unknown` when neither metric was recorded.
An AE has no KL term, so active units do not apply: `collapsed` if its recon_diversity is below the threshold,
else `ae` (kept apart from `healthy`, so counts of healthy VAEs never include the baseline).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

HEALTHY, PARTIAL, COLLAPSED, AE, UNKNOWN = "healthy", "partial", "collapsed", "ae", "unknown"


def reduction_factor(reduction: str, num_values: int) -> int:
    """How many times the KL weight a reduction multiplies: 1 for `sum`, the number of values D for `mean`."""
    if reduction == "sum":
        return 1
    if reduction == "mean":
        return int(num_values)
    raise ValueError(f"unknown reduction {reduction!r}")


def effective_beta(beta: float, reduction: str, num_values: int) -> float:
    """The KL weight relative to a summed reconstruction term: β for `sum`, β·D for `mean` over D values."""
    return float(beta) * reduction_factor(reduction, num_values)


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


def no_active_units(active_units, thresholds: Thresholds = Thresholds()) -> bool | None:
    """The active-unit half of the flag, the criterion of where collapse begins (docs/boundary.md): True when no
    latent unit is active (active_units <= the threshold, 0 by default); None when not recorded."""
    units = _number(active_units)
    return None if math.isnan(units) else units <= thresholds.active_units_collapsed


def _number(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def verdict(active_units, recon_diversity, latent_dim, model: str = "vae",
            thresholds: Thresholds = Thresholds()) -> tuple[str, str]:
    """(status, evidence) of a finished run from its test metrics (None / NaN: not recorded)."""
    units, diversity, latent = _number(active_units), _number(recon_diversity), _number(latent_dim)
    div_limit = thresholds.recon_diversity_collapsed
    low_diversity = not math.isnan(diversity) and diversity < div_limit
    if model == "ae":
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
