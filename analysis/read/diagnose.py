"""The collapse flag on the trial table: `status` and `evidence` per row, by the rule of `common.collapse`.

Trials that did not finish get their Optuna state as status (`failed`, `running`, `pruned`, `waiting`) and
the fail reason, if any, as evidence.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import pandas as pd

from common.collapse import Thresholds, verdict
from common.results import FAIL_REASON, stored_key

STATE_STATUS = {"FAIL": "failed", "RUNNING": "running", "PRUNED": "pruned", "WAITING": "waiting"}


def _latent_dim(row: Mapping[str, Any]) -> Any:
    latent = row.get("latent_dim")
    if latent is None or (isinstance(latent, float) and math.isnan(latent)):
        per_dim = row.get("kl_per_dim")
        if per_dim is not None and not isinstance(per_dim, float):
            return len(per_dim)
    return latent


def diagnose_row(row: Mapping[str, Any], thresholds: Thresholds = Thresholds()) -> tuple[str, str]:
    """(status, evidence) for one trial row (a dict or a DataFrame row)."""
    state = str(row.get("state") or "COMPLETE")
    if state != "COMPLETE":
        reason = row.get(FAIL_REASON)
        reason = reason if isinstance(reason, str) and reason else ""
        return STATE_STATUS.get(state, state.lower()), f"trial {state}" + (f": {reason}" if reason else "")
    return verdict(row.get(stored_key("active_units")), row.get(stored_key("recon_diversity")), _latent_dim(row),
                   str(row.get("model") or "vae"), thresholds)


def diagnose(frame: pd.DataFrame, thresholds: Thresholds = Thresholds()) -> pd.DataFrame:
    """A copy of `frame` with `status` and `evidence` columns (and the thresholds in `.attrs`)."""
    result = frame.copy()
    pairs = [diagnose_row(row, thresholds) for row in result.to_dict("records")]
    result["status"] = [status for status, _ in pairs]
    result["evidence"] = [evidence for _, evidence in pairs]
    result.attrs["thresholds"] = thresholds.as_dict()
    return result
