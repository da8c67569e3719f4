"""Sweep overhead: wall time of a small grid sweep (`python -m sweep.launch`, W&B offline) ÷ the sum of its trials'
training + test-evaluation time; and the same grid with 2 workers vs 1.

Two ratios are reported: the whole command (Python and TensorFlow start-up included), and the trial loop alone
(first trial start → last trial end, from the Optuna storage), which isolates the per-trial overhead of the sweep
(Optuna storage, W&B run, artifacts). Busy time is what each trial records itself: `train_seconds` +
`eval_seconds` (test metrics incl. IWAE). The 2-worker run is `--workers 2` on the same grid.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from common.storage_url import sqlite_url
from common.cli import PROJECT_ROOT as REPO, child_env



def tiny_grid(quick: bool) -> dict:
    """Grid over value-only keys (one compiled model per worker process), mlp, small enough to be cheap."""
    return {
        "study": "bench", "storage": None, "out": "runs",
        "wandb": {"project": "vae-sweeps-bench", "mode": "offline"},
        "search": {"method": "grid", "pruner": "none",
                   "space": {"beta": [0.5, 1.0, 4.0] if quick else [0.25, 0.5, 1.0, 2.0, 4.0, 8.0]}},
        "trial": {"dataset": "mnist5k", "model": "vae", "arch": "mlp", "hidden": [256, 128], "latent_dim": 8,
                  "epochs": 6 if quick else 15, "batch_size": 128, "learning_rate": 1.0e-3, "seed": 0,
                  "iwae_samples": 20},
    }


@dataclass
class SweepRun:
    workers: int
    how: str  # "--workers N", "N launchers", or "not run: <reason>"
    wall_s: float = float("nan")
    loop_s: float = float("nan")
    busy_s: float = float("nan")  # Σ train_seconds + Σ evaluation seconds
    trials: int = 0

    @property
    def ratio(self) -> float:
        return self.wall_s / self.busy_s

    @property
    def loop_ratio(self) -> float:
        return self.loop_s / self.busy_s


def _env() -> dict:
    return child_env(WANDB_MODE="offline", WANDB_SILENT="true", TF_CPP_MIN_LOG_LEVEL="3")


def run_sweep(workdir: Path, workers: int, quick: bool) -> SweepRun:
    config = workdir / "sweep.yaml"
    config.write_text(yaml.safe_dump(tiny_grid(quick)))
    out = workdir / f"out-{workers}"
    command = [sys.executable, "-m", "sweep.launch", str(config), "--out", str(out), "--wandb-mode", "offline",
               "--no-report", "--workers", str(workers)]
    started = time.perf_counter()
    result = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=_env(),
                            cwd=REPO)
    wall = time.perf_counter() - started
    if result.returncode:
        lines = [line for line in result.stderr.splitlines() if line.startswith("error:")] or \
            result.stderr.splitlines()[-1:]
        return SweepRun(workers, f"not run: exit {result.returncode}: {' '.join(lines)[:200]}")
    return _summarise(SweepRun(workers, f"--workers {workers}", wall_s=wall), out)


def _summarise(run: SweepRun, out: Path) -> SweepRun:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name="bench", storage=sqlite_url(out / "sweeps.db"))
    done = [trial for trial in study.trials if trial.state == optuna.trial.TrialState.COMPLETE]
    run.trials = len(done)
    run.busy_s = sum(trial.user_attrs.get("train_seconds", 0.0) + trial.user_attrs.get("eval_seconds", 0.0)
                     for trial in done)
    if done:
        first = min(trial.datetime_start for trial in done)
        last = max(trial.datetime_complete for trial in done)
        run.loop_s = (last - first).total_seconds()
    return run


def measure(quick: bool, log=print) -> tuple[SweepRun, SweepRun]:
    with tempfile.TemporaryDirectory(prefix="vae-bench-sweep-") as tmp:
        one = run_sweep(Path(tmp), 1, quick)
        log(f"  sweep 1 worker: {one.how}, wall {one.wall_s:.1f} s, busy {one.busy_s:.1f} s, {one.trials} trials")
        two = run_sweep(Path(tmp), 2, quick)
        log(f"  sweep 2 workers: {two.how}, wall {two.wall_s:.1f} s, busy {two.busy_s:.1f} s, {two.trials} trials")
    return one, two
