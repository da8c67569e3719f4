"""The measured staircase: at which effective β each latent unit switches off, from a study's own runs.

Runs that differ only in β, reduction and seed form a group (reduction=mean is reduction=sum with β × D, so both
lie on one axis of effective β). In a run with `active_units` = a, units 1…a count as on (unit 1: the last one
left on as β grows) and the others as off. Unit u switches off between `on_up_to`, the largest effective β of a
run where it was on, and `off_from`, the smallest where it was off:
- `bracket`: on_up_to < off_from; the estimate is their geometric mean;
- `overlap`: runs disagree (seeds, noise, slow convergence): it was on at a larger β than it was off; the estimate
  is the geometric mean of the overlap zone;
- `above`: on in every run (it switches off above the largest β tried); `below`: off in every run.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from analysis.findings.seeds import config_columns
from analysis.read.frame import finished_vaes as finished_vae_rows
from common.results import KEY

AXIS = ("beta", "reduction", "model")  # not group keys: β and reduction make effective β; only VAEs are used


def finished_vaes(frame: pd.DataFrame) -> pd.DataFrame:
    """Finished VAEs with active units and an effective β recorded: the runs a staircase is read from."""
    done = finished_vae_rows(frame)
    return done[done[KEY.active_units].notna() & (done["effective_beta"] > 0)]


def group_keys(frame: pd.DataFrame) -> list[str]:
    """The keys that make runs different experiments: every configuration key but β, reduction and model."""
    return [name for name in config_columns(frame) if name not in AXIS]


def groups(frame: pd.DataFrame):
    """(group label dict, its runs) for each group of finished VAE runs with active units recorded."""
    runs = finished_vaes(frame)
    keys = group_keys(frame)
    if runs.empty:
        return
    if not keys:
        yield {}, runs
        return
    label = runs[keys].astype(str).agg("|".join, axis=1)
    for _, part in runs.groupby(label.to_numpy(), sort=True):
        yield {key: part[key].iloc[0] for key in keys}, part


def unit_switch_off(effective_beta: np.ndarray, active_units: np.ndarray, unit: int) -> dict:
    """Where unit `unit` (1 = the last one on) switches off: the module docstring's fields."""
    beta = np.asarray(effective_beta, float)
    on = np.asarray(active_units, float) >= unit
    on_up_to = float(beta[on].max()) if on.any() else math.nan
    off_from = float(beta[~on].min()) if (~on).any() else math.nan
    if not on.any():
        method, estimate = "below", math.nan
    elif on.all():
        method, estimate = "above", math.nan
    else:
        method = "bracket" if on_up_to < off_from else "overlap"
        estimate = math.sqrt(on_up_to * off_from)
    return {"unit": unit, "on_up_to": on_up_to, "off_from": off_from, "estimate": estimate, "method": method}


def switch_offs(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per group and latent unit: the group's keys, `unit`, `on_up_to`, `off_from`, `estimate`,
    `method`, `runs` (effective β throughout)."""
    rows = []
    for label, part in groups(frame):
        latent = int(pd.to_numeric(part["latent_dim"], errors="coerce").max())
        beta, units = part["effective_beta"].to_numpy(float), part[KEY.active_units].to_numpy(float)
        rows += [{**label, **unit_switch_off(beta, units, unit), "runs": len(part)} for unit in range(1, latent + 1)]
    columns = [*group_keys(frame), "unit", "on_up_to", "off_from", "estimate", "method", "runs"]
    return pd.DataFrame(rows, columns=columns)
