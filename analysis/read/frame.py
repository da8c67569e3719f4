"""One trial table for every source: the column layout shared by an Optuna study and offline W&B run files.

Columns, in order: `number`, `state`, `study`, the trial config (`beta`, `latent_dim`, `reduction`, `arch`,
`model`, `likelihood`, `dataset` always, then the other swept parameters, then every other config key),
every `test/<metric>` (None -> NaN; the calibration ladder's `test/sample_kid_ladder*` float arrays), `kl_per_dim`
(a float numpy array per row, NaN where absent), `effective_beta`,
`train_seconds`, `eval_seconds`, `epochs_run`, `examples_per_second`, `wandb_run_id`, `artifact_dir`, `fail_reason`,
`status`, `evidence` (from `analysis.read.diagnose`).
`frame.attrs`: `source`, `study`, `swept` (parameter names that were searched or that vary),
`study_attrs` (Optuna study user attrs, if any), `thresholds`, `incomplete_folders` (artifact folders whose run
stopped while writing them: their `artifact_dir` is blanked, so no figure reads them).
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np
import pandas as pd

from analysis.read.diagnose import diagnose
from common.collapse import Thresholds
from common.results import (ARTIFACT_DIR, FAIL_REASON, KL_PER_DIM_KEY, LADDER_KEYS, RUN_FIGURES, RUN_NOTES,
                            SCALAR_TEST_KEYS, WANDB_RUN_ID, TrialResult, folder_complete)

CORE_PARAMS = ("beta", "latent_dim", "reduction", "arch", "model", "likelihood", "dataset")
TEXT_INFO = (WANDB_RUN_ID, ARTIFACT_DIR, FAIL_REASON, *RUN_NOTES)
INFO_COLUMNS = (*RUN_FIGURES, *TEXT_INFO)
NOT_CONFIG = {"study", "trial_number"}


@dataclass
class TrialRecord:
    """What any source knows about one trial, before normalisation."""

    number: int
    state: str
    config: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)  # Optuna user attrs or the W&B summary
    study: str | None = None  # W&B group, when runs of several groups are read together


def finished(frame: pd.DataFrame) -> pd.DataFrame:
    """The trials that finished (Optuna state COMPLETE)."""
    return frame[frame["state"] == "COMPLETE"]


def finished_vaes(frame: pd.DataFrame) -> pd.DataFrame:
    """The finished trials that are VAEs (an AE has no KL term; a missing model is a VAE)."""
    done = finished(frame)
    return done[done["model"].fillna("vae") != "ae"]


def to_float(value: Any) -> float:
    if value is None or isinstance(value, (list, dict, tuple)):
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def per_dim_array(value: Any) -> Any:
    if isinstance(value, (list, tuple, np.ndarray)) and len(value) > 0:
        return np.array([to_float(item) for item in value], dtype=float)
    return math.nan


def _effective_beta(row: dict[str, Any], recorded: Any) -> float:
    """The recorded effective β (`common.collapse.effective_beta` at training time); β itself for a `sum` run
    that did not record it. NaN for autoencoders, which have no KL term to weight."""
    if row.get("model") == "ae":
        return math.nan
    if not math.isnan(to_float(recorded)):
        return to_float(recorded)
    return to_float(row.get("beta")) if row.get("reduction", "sum") == "sum" else math.nan


def _row(record: TrialRecord, study: str | None) -> dict[str, Any]:
    stored = TrialResult.from_stored(record.values).stored()
    row: dict[str, Any] = {"number": int(record.number), "state": record.state, "study": record.study or study}
    row.update({key: value for key, value in record.config.items() if key not in NOT_CONFIG})
    row.update(record.params)
    row.update({key: to_float(stored[key]) for key in SCALAR_TEST_KEYS})
    row["kl_per_dim"] = per_dim_array(stored[KL_PER_DIM_KEY])
    row.update({key: per_dim_array(stored[key]) for key in LADDER_KEYS})
    row.update({key: to_float(stored[key]) for key in RUN_FIGURES})
    row["effective_beta"] = _effective_beta(row, stored["effective_beta"])
    for key in TEXT_INFO:
        value = record.values.get(key)
        row[key] = str(value) if value not in (None, "") else None
    return row


def _ordered(columns: Iterable[str], swept: list[str]) -> list[str]:
    columns = list(columns)
    head = ["number", "state", "study"]
    params = [name for name in (*CORE_PARAMS, *sorted(swept)) if name in columns]
    params = list(dict.fromkeys(params))
    metrics = sorted(name for name in columns if name.startswith("test/"))
    tail = ["kl_per_dim", *INFO_COLUMNS]
    known = set(head) | set(params) | set(metrics) | set(tail)
    other = sorted(name for name in columns if name not in known)
    return head + params + other + metrics + tail


def varying(frame: pd.DataFrame, candidates: Iterable[str]) -> list[str]:
    """Names among `candidates` whose values differ between rows (lists compared as text)."""
    names = []
    for name in candidates:
        if name in frame and frame[name].map(repr).nunique() > 1:
            names.append(name)
    return names


def build_frame(records: list[TrialRecord], *, source: str, study: str | None,
                swept: Iterable[str] = (), study_attrs: dict[str, Any] | None = None,
                thresholds: Thresholds = Thresholds()) -> pd.DataFrame:
    """Normalise the records into the shared layout and add `status`/`evidence`."""
    rows = [_row(record, study) for record in sorted(records, key=lambda record: record.number)]
    frame = pd.DataFrame(rows)
    for name in CORE_PARAMS:
        if name not in frame:
            frame[name] = None
    for name in SCALAR_TEST_KEYS:
        if name not in frame:
            frame[name] = math.nan
    config_names = {key for record in records for key in record.config if key not in NOT_CONFIG}
    candidates = config_names | {key for record in records for key in record.params}
    swept_names = list(dict.fromkeys([*swept, *(key for record in records for key in record.params),
                                      *varying(frame[frame["state"] == "COMPLETE"], sorted(candidates))]))
    frame = frame[_ordered(frame.columns, swept_names)]
    frame = diagnose(frame, thresholds)
    incomplete = [folder for folder in frame[ARTIFACT_DIR] if isinstance(folder, str) and os.path.isdir(folder)
                  and not folder_complete(folder)] if ARTIFACT_DIR in frame else []
    if incomplete:
        frame[ARTIFACT_DIR] = frame[ARTIFACT_DIR].where(~frame[ARTIFACT_DIR].isin(incomplete), None)
    frame.attrs.update(source=source, study=study, swept=swept_names, study_attrs=study_attrs or {},
                       incomplete_folders=incomplete)
    return frame
