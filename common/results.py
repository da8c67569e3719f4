"""One trial's result: the typed record `vae.train.run` returns, and the one mapping of its fields to every store.

A test metric `m` (docs/metrics.md) is stored as `test/m`, a run figure or note under its own name. The same
mapping fills the Optuna user attrs (`sweep.objective`), the W&B summary (`sweep.tracking`) and `metrics.json`
(plain names), and reads any of them back (`TrialResult.from_stored`, used by `analysis.read.frame`), studies written
before this record existed included. The keys the sweep adds around a result (config, artifact folder, W&B run,
why a trial failed or was re-run) are defined here too, once.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import SimpleNamespace
from typing import Any

TEST, FIGURE, NOTE = "test", "figure", "note"


def _test() -> Any:
    return field(default=None, metadata={"kind": TEST})


def _figure() -> Any:
    return field(default=None, metadata={"kind": FIGURE})


def _note() -> Any:
    return field(default=None, metadata={"kind": NOTE})


@dataclass
class TrialResult:
    """What one training run measured. None: not measured (an AE has no KL; no labels, no sample metrics)."""

    # test metrics, in nats per example where they are information (docs/metrics.md)
    recon_nll: float | None = _test()
    kl: float | None = _test()
    nelbo: float | None = _test()
    iwae_nll: float | None = _test()
    iwae_nll_se: float | None = _test()  # standard error over the images it was computed on (iwae_examples)
    kl_per_dim: list[float] | None = _test()
    active_units: int | None = _test()
    mutual_info: float | None = _test()
    mutual_info_se: float | None = _test()
    recon_diversity: float | None = _test()
    sharpness: float | None = _test()
    # sample quality of decoded N(0, I) draws (vae.quality, docs/samples.md), in the features `sample_features` names
    sample_kid: float | None = _test()
    sample_kid_std: float | None = _test()  # its sampling spread
    sample_fd_cnn: float | None = _test()
    sample_coverage: float | None = _test()
    sample_kid_ladder: list[float] | None = _test()  # KID of the calibration sets, vae.ladder.RUNGS order
    sample_kid_ladder_std: list[float] | None = _test()  # ... and their sampling spreads
    classifier_accuracy: float | None = _test()
    sample_fd: float | None = _test()  # older studies only: FD in an MLP's features, not comparable with the above
    # figures of the run
    effective_beta: float | None = _figure()
    train_seconds: float | None = _figure()
    eval_seconds: float | None = _figure()
    eval_cpu_seconds: float | None = _figure()  # CPU seconds of this process (all threads): load-independent
    epoch_seconds: float | None = _figure()  # the fastest epoch's training pass, validation excluded
    epoch_cpu_seconds: float | None = _figure()
    iwae_examples: int | None = _figure()  # test images of iwae_nll and mutual_info (a seeded subsample)
    epochs_run: int | None = _figure()
    examples_per_second: float | None = _figure()
    sample_metrics_seconds: float | None = _figure()
    sample_count: int | None = _figure()  # prior samples (and test images) the sample metrics compared
    # text: which feature extractor the sample metrics used; why they are missing (no labels, ...), why the image-only
    # outputs are (vector data)
    sample_features: str | None = _note()
    sample_quality_skipped: str | None = _note()
    image_outputs_skipped: str | None = _note()
    # not stored under a key: the per-epoch rows go to W&B and history.csv, the folder is ARTIFACT_DIR
    history: list[dict[str, float]] = field(default_factory=list, repr=False)
    artifact_dir: Path | None = None

    def as_dict(self) -> dict[str, Any]:
        """Every measured field under its plain name, JSON-safe (metrics.json, the CLI's printout)."""
        return {spec.name: json_safe(getattr(self, spec.name)) for spec in _stored_fields()}

    def stored(self) -> dict[str, Any]:
        """Every measured field under its stored key, JSON-safe (Optuna user attrs, the W&B summary)."""
        return {stored_key(spec.name): json_safe(getattr(self, spec.name)) for spec in _stored_fields()}

    @classmethod
    def from_stored(cls, values: dict[str, Any]) -> "TrialResult":
        """Read back what `stored()` or `as_dict()` wrote (missing keys stay None; other keys are ignored)."""
        found = {}
        for spec in _stored_fields():
            found[spec.name] = values.get(stored_key(spec.name), values.get(spec.name))
        return cls(**found)


def _stored_fields():
    return [spec for spec in fields(TrialResult) if "kind" in spec.metadata]


def stored_key(name: str) -> str:
    """The key a TrialResult field is stored under: `test/<name>` for test metrics, else the name."""
    kinds = {spec.name: spec.metadata["kind"] for spec in _stored_fields()}
    return f"test/{name}" if kinds[name] == TEST else name


KEY = SimpleNamespace(**{spec.name: stored_key(spec.name) for spec in _stored_fields()})
KEY.__doc__ = "Every stored key by its field name: `KEY.kl == 'test/kl'` (a misspelt name fails at once)."


def json_safe(value: Any) -> Any:
    """NaN/inf -> None, numpy scalars -> Python, lists element-wise (Optuna user attrs are strict JSON)."""
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


TEST_METRICS = tuple(spec.name for spec in _stored_fields() if spec.metadata["kind"] == TEST)
RUN_FIGURES = tuple(spec.name for spec in _stored_fields() if spec.metadata["kind"] == FIGURE)
RUN_NOTES = tuple(spec.name for spec in _stored_fields() if spec.metadata["kind"] == NOTE)
LIST_METRICS = ("kl_per_dim", "sample_kid_ladder", "sample_kid_ladder_std")
SCALAR_TEST_KEYS = tuple(stored_key(name) for name in TEST_METRICS if name not in LIST_METRICS)
KL_PER_DIM_KEY = stored_key("kl_per_dim")
IMAGE_OUTPUTS_SKIPPED = stored_key("image_outputs_skipped")
LADDER_KEYS = tuple(stored_key(name) for name in LIST_METRICS if name != "kl_per_dim")

# Per-epoch rows (W&B history, history.csv): the training pass's means, then the validation split's metrics.
EPOCH = "epoch"
TRAIN_LOSS, TRAIN_RECON, TRAIN_KL = "train/loss", "train/recon", "train/kl"
VAL_NELBO, VAL_RECON_NLL, VAL_KL, VAL_ACTIVE_UNITS = "val/nelbo", "val/recon_nll", "val/kl", "val/active_units"
EPOCH_KEYS = (EPOCH, TRAIN_LOSS, TRAIN_RECON, TRAIN_KL, VAL_NELBO, VAL_RECON_NLL, VAL_KL, VAL_ACTIVE_UNITS)

# What the sweep stores around a result (Optuna user attrs; the W&B summary holds the last four as well).
CONFIG = "config"  # the trial's whole TrialConfig
GRID_POINT = "grid_point"  # an enqueued grid trial's index in the grid
BOUNDARY_GROUP = "boundary_group"  # a trial the boundary search queued: its group's index (sweep.boundary_search)
RETRY_OF = "retry_of"  # a re-queued trial: the number of the interrupted trial it replaces
RETRY_REASON = "retry_reason"  # ... and why that one was interrupted
ARTIFACT_DIR = "artifact_dir"  # the trial's folder of artifacts
WANDB_RUN_ID = "wandb_run_id"
FAIL_REASON = "fail_reason"  # why a trial did not complete
TRIAL_STATE = "trial_state"  # W&B summary: COMPLETE / FAIL / PRUNED / INTERRUPTED
MACHINE_FAULT = "machine_fault"  # true: stopped by a fault of the machine (full disk, ...), not its config; re-queued
WORKER_DEATHS = "worker_deaths"  # how often the process running this grid point died with it (carried by re-runs)
RUNNER = "runner"  # the process running the trial: {"host", "pid", "in_launcher"} (in_launcher: --workers 1)
WANDB_UNLOGGED = "wandb_unlogged"  # true: W&B was off or broke during the trial (`python -m sweep.relog` logs it)
WANDB_RELOGGED = "wandb_relogged"  # study attr: the trials `python -m sweep.relog` has logged since

# A trial folder's results; written last, so a folder without it is incomplete (its run stopped while writing it).
METRICS_FILE = "metrics.json"


def folder_complete(folder: str | os.PathLike) -> bool:
    """The trial folder was written to the end (it holds `METRICS_FILE`)."""
    return os.path.isfile(os.path.join(folder, METRICS_FILE))
