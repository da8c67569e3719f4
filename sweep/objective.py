"""One trial: TrialConfig in, `vae.train.run` with a W&B run around it, results into Optuna's user attrs.

`train_tracked` is shared by the Optuna objective (`sweep.launch`) and `python -m sweep.trial`. TensorFlow is
imported on the first trial only (inside `vae.train.run`), so validation and `--help` stay fast.
"""
from __future__ import annotations

import gc
import math
import multiprocessing
import os
import shutil
import socket
from pathlib import Path
from typing import Callable

import optuna

from common.errors import disk_fault
from common.results import (ARTIFACT_DIR, CONFIG, FAIL_REASON, RUNNER, VAL_NELBO, WANDB_RUN_ID, WANDB_UNLOGGED,
                            TrialResult, folder_complete)
from sweep.config import SAMPLE_OBJECTIVES, SweepConfig
from sweep.failures import NonFiniteTrial, classify
from sweep.retry import StorageAway, deferred
from sweep.search import suggest
from sweep.tracking import Tracker, TrialRun
from vae.config import TrialConfig, build_trial_config

DENSITY_OBJECTIVES = ("nelbo", "iwae_nll")  # undefined for the AE, which is not a density model
EpochHook = Callable[[int, dict[str, float]], None]


def objective_value(result: TrialResult, model: str, objective: str = "nelbo") -> float:
    """The trial's value (minimised): the test metric `objective` (search.objective).

    Like with like: an AE has no ELBO, so under nelbo / iwae_nll its value is +inf: the trial completes with
    all its metrics, but it is never the study's best (dashboard, progress bar) and TPE ranks it last. Its
    recon NLL is not comparable with a VAE's nelbo. Under sample_kid / sample_fd_cnn every trial, AE included, has a
    real value. NaN (the trial fails) if the metric is missing otherwise, e.g. sample_kid on a dataset without
    labels."""
    value = getattr(result, objective)
    if value is None and model == "ae" and objective in DENSITY_OBJECTIVES:
        return math.inf
    return float("nan") if value is None else float(value)


def undefined_reason(result: TrialResult, objective: str) -> str:
    """Why a VAE trial has no value for `objective` (its user attr fail_reason)."""
    detail = result.sample_quality_skipped if objective in SAMPLE_OBJECTIVES else None
    return f"objective {objective} is undefined for this trial" + (f": {detail}" if detail else "")


def load_trainer():
    """`(vae.train.run, vae.train.NonFiniteLoss)`, imported on first use (tests replace this function)."""
    import vae.tf_runtime  # noqa: F401 - imports TensorFlow with its C++ banner muted
    from vae.train import NonFiniteLoss, run

    freeze_imports()
    return run, NonFiniteLoss


def freeze_imports() -> None:
    """Once per process, after TensorFlow's import: move what exists now (mostly TensorFlow's and Keras' modules)
    out of the garbage collector's sight (`gc.freeze`). The full collection after each trial (`release_models`)
    then walks only what trials created, not every module object again (timings: BENCHMARKS.md, "The main job")."""
    if gc.get_freeze_count() == 0:
        gc.collect()
        gc.freeze()


def train_tracked(config: TrialConfig, out_dir: Path, run: TrialRun, hook: EpochHook | None = None):
    """Train one model, logging each epoch to `run`; the run ends marked by how the trial ended. A trial folder is
    complete or absent: one left incomplete by a trial that did not finish is removed."""
    train, NonFiniteLoss = load_trainer()

    def on_epoch(epoch: int, row: dict[str, float]) -> None:
        run.log_epoch(row)
        if hook is not None:
            hook(epoch, row)

    try:
        try:
            result = train(config, out_dir=out_dir, on_epoch=on_epoch, verbose=0)
        except NonFiniteLoss as error:
            raise NonFiniteTrial(str(error)) from None
    except BaseException as error:
        fault = disk_fault(error, out_dir) if isinstance(error, Exception) else None  # a write without a file name
        outcome = classify(fault or error)
        if out_dir.is_dir() and not folder_complete(out_dir):
            shutil.rmtree(out_dir, ignore_errors=True)  # on a full disk this also gives back what it took
        run.finish_failed(outcome.state, outcome.reason)
        if fault is not None and fault is not error:
            raise fault from None
        raise
    finally:
        release_models()
    run.finish_complete(result)
    return result


def release_models() -> None:
    """Collect the finished trial's garbage. Models live in vae.fit's trainer cache (at most `vae.fit.CACHE_SIZE`
    structures), so memory stays bounded without `keras.backend.clear_session()`, which would cost time per trial
    and make the next trial of a cached structure rebuild it (measured in BENCHMARKS.md, "Sweep overhead")."""
    gc.collect()


def runner() -> dict[str, object]:
    """This process, as a trial records it: `in_launcher` under `--workers 1` (not a worker the launcher spawned),
    so that its launcher's death counts as the trial's (`sweep.heartbeat`)."""
    return {"host": socket.gethostname(), "pid": os.getpid(),
            "in_launcher": multiprocessing.parent_process() is None}


class Objective:
    """The Optuna objective of one sweep (one per worker process)."""

    def __init__(self, config: SweepConfig, tracker: Tracker, on_epoch: Callable[[int, int, int], None] | None = None):
        self.config, self.tracker, self.on_epoch = config, tracker, on_epoch
        self.defaults = config.trial_defaults()
        self.objective = config.search.objective
        self.root = Path(config.out).resolve() / config.study

    def __call__(self, trial: optuna.Trial) -> float:
        params = suggest(trial, self.config)
        config = build_trial_config({**self.defaults, **params}, source=f"trial {trial.number}")
        out_dir = self.root / f"trial-{trial.number}"
        trial.set_user_attr(CONFIG, config.flat())
        trial.set_user_attr(ARTIFACT_DIR, str(out_dir))
        trial.set_user_attr(RUNNER, runner())
        run = self.tracker.start(f"trial-{trial.number}",
                                 {**config.flat(), "study": self.config.study, "trial_number": trial.number})
        if run.id is not None:
            trial.set_user_attr(WANDB_RUN_ID, run.id)

        pending: list[tuple[float, int]] = []  # epoch reports not yet written (the database was away)

        def report(epoch: int, row: dict[str, float]) -> None:
            if self.on_epoch is not None:
                self.on_epoch(trial.number, epoch, config.epochs)
            if config.model == "ae" or self.objective in SAMPLE_OBJECTIVES:
                return  # no per-epoch value of the objective: never pruned, and not in the pruner's medians
            value = row.get(VAL_NELBO)  # for iwae_nll too: its upper bound, cheap enough for every epoch
            if value is None or not math.isfinite(value):
                return
            pending.append((float(value), epoch))
            try:
                with deferred():  # the database is away: keep training, write the reports later
                    flush(pending)
                    prune = trial.should_prune()
            except StorageAway:
                return
            if prune:
                raise optuna.TrialPruned(f"pruned at epoch {epoch}: val/nelbo {value:.2f}")

        def flush(reports: list[tuple[float, int]]) -> None:
            while reports:
                trial.report(*reports[0])
                reports.pop(0)

        result = train_tracked(config, out_dir, run, report)
        flush(pending)
        if not run.logged and self.tracker.mode != "disabled":
            trial.set_user_attr(WANDB_UNLOGGED, True)
        for key, value in result.stored().items():
            trial.set_user_attr(key, value)
        value = objective_value(result, config.model, self.objective)
        if math.isnan(value):
            trial.set_user_attr(FAIL_REASON, undefined_reason(result, self.objective))
        return value
