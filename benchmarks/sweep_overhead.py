"""Sweep overhead: wall time of a small grid sweep (`python -m sweep.launch`, W&B offline) ÷ the sum of its trials'
training + test-evaluation time; and the same grid with 2 workers vs 1.

Two ratios are reported: the whole command (Python and TensorFlow start-up included), and the trial loop alone
(first trial start → last trial end, from the Optuna storage), which isolates the per-trial overhead of the sweep
(Optuna storage, W&B run, artifacts). `--workers 2` is used when the launcher supports it; otherwise two launchers
run the same command on the same study, which is how the launcher says to run parallel workers (the second one
starts once the first has created the storage: see `_wait_for_storage`).
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

REPO = Path(__file__).resolve().parents[1]


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
    return {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true", "TF_CPP_MIN_LOG_LEVEL": "3",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}


def _command(config: Path, out: Path, eval_log: Path, workers: int) -> list[str]:
    return [sys.executable, "-m", "benchmarks.sweep_probe", str(eval_log), "--", str(config), "--out", str(out),
            "--wandb-mode", "offline", "--no-report", "--workers", str(workers)]


def workers_flag_supported(config: Path, out: Path) -> tuple[bool, str]:
    probe = subprocess.run([sys.executable, "-m", "sweep.launch", str(config), "--out", str(out), "--workers", "2",
                            "--n-trials", "0", "--no-report", "--wandb-mode", "disabled"],
                           capture_output=True, text=True, env=_env(), cwd=REPO, timeout=600)
    message = next((line for line in probe.stderr.splitlines() if line.startswith("error:")), "")
    return not ("workers" in message and probe.returncode == 2), message.removeprefix("error: ")


def run_sweep(workdir: Path, workers: int, quick: bool) -> SweepRun:
    config = workdir / "sweep.yaml"
    config.write_text(yaml.safe_dump(tiny_grid(quick)))
    out, eval_log = workdir / f"out-{workers}", workdir / f"eval-{workers}.log"
    if workers == 1:
        how, commands = "--workers 1", [_command(config, out, eval_log, 1)]
    else:
        supported, message = workers_flag_supported(config, workdir / "probe")
        if supported:
            how, commands = f"--workers {workers}", [_command(config, out, eval_log, workers)]
        else:
            how = f"{workers} launchers (--workers {workers}: {message})"
            commands = [_command(config, out, eval_log, 1) for _ in range(workers)]
    started = time.perf_counter()
    processes = []
    for index, command in enumerate(commands):
        if index == 1:
            _wait_for_storage(out / "sweeps.db", processes[0])
        processes.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                          env=_env(), cwd=REPO))
    errors = [process.communicate()[1] for process in processes]
    wall = time.perf_counter() - started
    if any(process.returncode for process in processes):
        failed = [error for process, error in zip(processes, errors) if process.returncode]
        lines = [line for line in failed[0].splitlines() if line.startswith("error:")] or failed[0].splitlines()[-1:]
        return SweepRun(workers, f"not run: exit {[p.returncode for p in processes]}: {' '.join(lines)[:200]}")
    return _summarise(SweepRun(workers, how, wall_s=wall), out, eval_log)


def _wait_for_storage(database: Path, first: subprocess.Popen, settle_s: float = 2.0) -> None:
    """Later launchers start once the first has created the SQLite storage and the study: launchers that create
    the same new SQLite file at the same instant collide in Optuna's schema set-up (alembic_version UNIQUE)."""
    while not database.exists() and first.poll() is None:
        time.sleep(0.1)
    time.sleep(settle_s)


def _summarise(run: SweepRun, out: Path, eval_log: Path) -> SweepRun:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name="bench", storage=f"sqlite:///{out / 'sweeps.db'}")
    done = [trial for trial in study.trials if trial.state == optuna.trial.TrialState.COMPLETE]
    evaluations = [float(line) for line in eval_log.read_text().split()] if eval_log.exists() else []
    run.trials = len(done)
    run.busy_s = sum(trial.user_attrs.get("train_seconds", 0.0) for trial in done) + sum(evaluations)
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
