"""Test data for the analysis tests: a real SQLite Optuna study written the way the sweep writes it
(docs/storage.md), tiny artifact folders with reconstructions.npz, and the answers the report must find.

The grid: beta {0.1, 1, 4} x reduction {sum, mean} x arch {mlp, conv}, latent_dim 8, plus one AE and one
failed trial. `sum` runs are healthy; `mean` runs collapse for beta >= 1 (effective beta = beta x 784) and
are partial at beta 0.1.
"""
from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from common.cli import PROJECT_ROOT as ROOT, child_env

PIXELS = 28 * 28
LATENT = 8
BETAS = (0.1, 1.0, 4.0)
STUDY = "t-study"
EXPECTED = {"collapsed_mean": 4, "partial_mean": 2, "healthy_sum": 6, "vae_runs": 12, "failed": 1, "ae": 1}


def trial_config(**overrides: Any) -> dict[str, Any]:
    config = {"dataset": "mnist5k", "binarize": "none", "model": "vae", "arch": "mlp", "latent_dim": LATENT,
              "likelihood": "bernoulli", "variance_param": "logvar", "reduction": "sum", "beta": 1.0,
              "epochs": 2, "batch_size": 128, "learning_rate": 1e-3, "seed": 0, "hidden": [64, 32]}
    config.update(overrides)
    return config


def fake_metrics(config: dict[str, Any]) -> dict[str, Any]:
    """Metrics shaped like vae.train's, with known collapse status."""
    if config["model"] == "ae":
        return {"recon_nll": 70.0, "kl": None, "nelbo": None, "iwae_nll": None, "kl_per_dim": None,
                "active_units": None, "mutual_info": None, "recon_diversity": 0.9, "sharpness": 0.8}
    beta, mean = config["beta"], config["reduction"] == "mean"
    if mean and beta >= 1.0:
        per_dim = [1e-4] * LATENT
        units, diversity, sharp, recon = 0, 0.01, 0.05, 205.0
    elif mean:
        per_dim = [1.2] + [1e-3] * (LATENT - 1)
        units, diversity, sharp, recon = 1, 0.3, 0.2, 160.0
    else:
        per_dim = [3.0 / (1 + i) / beta for i in range(LATENT)]
        units, diversity, sharp, recon = 7 - int(beta), 0.7 - 0.05 * beta, 0.45, 90.0 + 5 * beta
    kl = float(sum(per_dim))
    return {"recon_nll": recon, "kl": kl, "nelbo": recon + kl, "iwae_nll": recon + 0.9 * kl,
            "kl_per_dim": per_dim, "active_units": units, "mutual_info": min(kl, math.log(500)),
            "recon_diversity": diversity, "sharpness": sharp}


def write_artifacts(folder: Path, collapsed: bool, seed: int) -> None:
    """reconstructions.npz (and a metrics.json) of 6 tiny 28x28 images."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    originals = (rng.random((6, 28, 28, 1)) > 0.7).astype("float32")
    if collapsed:
        recons = np.repeat(originals.mean(axis=0, keepdims=True), 6, axis=0)
    else:
        recons = np.clip(0.8 * originals + 0.1, 0, 1).astype("float32")
    np.savez(folder / "reconstructions.npz", originals=originals, reconstructions=recons)
    (folder / "metrics.json").write_text("{}\n")  # last: the folder is complete (common.results.folder_complete)


def make_study(root: Path, with_running: bool = False) -> tuple[str, str]:
    """Write the test study into root/sweeps.db (and artifacts under root/STUDY/); return (storage, study)."""
    import optuna
    from optuna.distributions import CategoricalDistribution
    from optuna.trial import TrialState, create_trial

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = f"sqlite:///{root / 'sweeps.db'}"
    space = {"beta": list(BETAS), "reduction": ["sum", "mean"], "arch": ["mlp", "conv"]}
    study = optuna.create_study(study_name=STUDY, storage=storage, direction="minimize")
    study.set_user_attr("search_space", space)
    study.set_user_attr("method", "grid")
    study.set_user_attr("grid_size", 13)
    study.set_user_attr("trial_defaults", trial_config())
    dists = {name: CategoricalDistribution(values) for name, values in space.items()}
    points = [{"beta": b, "reduction": r, "arch": a} for b in BETAS for r in ("sum", "mean") for a in ("mlp", "conv")]
    points.append({"beta": 1.0, "reduction": "sum", "arch": "mlp", "model": "ae"})
    for number, params in enumerate(points):
        config = trial_config(**params)
        metrics = fake_metrics(config)
        folder = root / STUDY / f"trial-{number}"
        write_artifacts(folder, collapsed=metrics["recon_diversity"] < 0.05, seed=number)
        attrs = {f"test/{key}": value for key, value in metrics.items()}
        effective = None if config["model"] == "ae" else config["beta"] * (PIXELS if config["reduction"] == "mean" else 1)
        attrs.update(train_seconds=1.5, epochs_run=2, examples_per_second=3000.0, effective_beta=effective,
                     wandb_run_id=f"run{number}", artifact_dir=str(folder), config=config)
        swept = {key: params[key] for key in space}
        value = metrics["nelbo"] if metrics["nelbo"] is not None else metrics["recon_nll"]
        study.add_trial(create_trial(params=swept, distributions=dists, value=value, user_attrs=attrs))
    failed = trial_config(likelihood="gaussian", beta=1.0)
    study.add_trial(create_trial(params={"beta": 1.0, "reduction": "sum", "arch": "conv"}, distributions=dists,
                                 state=TrialState.FAIL,
                                 user_attrs={"config": failed, "fail_reason": "non-finite loss at epoch 0"}))
    if with_running:
        study.add_trial(create_trial(params={"beta": 4.0, "reduction": "sum", "arch": "conv"}, distributions=dists,
                                     state=TrialState.RUNNING, user_attrs={"config": trial_config()}))
    return storage, STUDY


def only_failed_study(root: Path) -> tuple[str, str]:
    import optuna
    from optuna.trial import TrialState, create_trial

    storage = f"sqlite:///{root / 'failed.db'}"
    study = optuna.create_study(study_name="broken", storage=storage)
    for _ in range(2):
        study.add_trial(create_trial(state=TrialState.FAIL, user_attrs={"fail_reason": "loss is nan"}))
    return storage, "broken"


def env(tmp: Path) -> dict[str, str]:
    """Environment for subprocesses: the repo importable, W&B offline into tmp, quiet and single-threaded."""
    return child_env(WANDB_MODE="offline", WANDB_DIR=str(tmp), WANDB_SILENT="true", OMP_NUM_THREADS="1",
                     MPLBACKEND="Agg")


def run_report(args: list[str], tmp: Path, timeout: int = 400) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "analysis.report", *args], cwd=ROOT, env=env(tmp),
                          capture_output=True, text=True, timeout=timeout)


WANDB_WRITER = r'''
import json, sys
import wandb
from common.wandb_adapter import settings
spec = json.load(open(sys.argv[1]))
for trial in spec["trials"]:
    run = wandb.init(mode="offline", dir=spec["dir"], project="vae-sweeps", group=trial["group"],
                     job_type="trial", name=f"trial-{trial['number']}",
                     config={**trial["config"], "study": trial["group"], "trial_number": trial["number"]},
                     settings=settings())
    for epoch, row in enumerate(trial["history"]):
        run.log({"epoch": epoch, **row})
    for key, value in trial["summary"].items():
        run.summary[key] = value
    if trial.get("kl_per_dim"):
        run.log({"kl_per_dim": wandb.Table(columns=["dim", "kl"],
                                           data=[[i, v] for i, v in enumerate(trial["kl_per_dim"])])})
    run.finish(exit_code=trial.get("exit_code", 0))
'''


def wandb_trials(root: Path, group: str = STUDY, numbers: tuple[int, ...] = (0, 6, 12)) -> list[dict[str, Any]]:
    """The same trials as make_study (by number) as W&B runs would record them (docs/storage.md: Weights & Biases)."""
    points = [{"beta": b, "reduction": r, "arch": a} for b in BETAS for r in ("sum", "mean") for a in ("mlp", "conv")]
    points.append({"beta": 1.0, "reduction": "sum", "arch": "mlp", "model": "ae"})
    trials = []
    for number in numbers:
        config = trial_config(**points[number])
        metrics = fake_metrics(config)
        folder = root / group / f"trial-{number}"
        write_artifacts(folder, collapsed=metrics["recon_diversity"] < 0.05, seed=number)
        summary = {f"test/{key}": value for key, value in metrics.items() if key != "kl_per_dim"}
        effective = None if config["model"] == "ae" else config["beta"] * (PIXELS if config["reduction"] == "mean" else 1)
        summary.update(effective_beta=effective, train_seconds=1.5, epochs_run=2, examples_per_second=3000.0,
                       artifact_dir=str(folder))
        history = [{"train/loss": 200.0 - e, "val/nelbo": 210.0 - e, "val/kl": metrics["kl"] or float("nan")}
                   for e in range(2)]
        trials.append({"number": number, "group": group, "config": config, "summary": summary,
                       "history": history, "kl_per_dim": metrics["kl_per_dim"]})
    return trials


def write_wandb_runs(root: Path, trials: list[dict[str, Any]]) -> Path:
    """Create real offline W&B runs (in a subprocess, like the sweep's trials) under root/wandb-runs."""
    import json

    target = root / "wandb-runs"
    target.mkdir(parents=True, exist_ok=True)
    spec = root / "wandb-spec.json"
    spec.write_text(json.dumps({"dir": str(target), "trials": trials}))
    done = subprocess.run([sys.executable, "-c", WANDB_WRITER, str(spec)], env=env(target), capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return target
