"""Synthetic sweep studies at the scale of real searches, for tests and `python -m benchmarks` (no training).

`add_trials(study, n_trials)` writes trials shaped like the sweep's (docs/storage.md: the trial config and every
`test/<metric>` as user attrs) with Optuna's public `create_trial` / `Study.add_trials`: continuous β (log-uniform,
as TPE samples it), latent_dim 2–64, arch mlp/conv, reduction sum/mean, a few AE baselines, every configuration
repeated over `seeds` seeds, and a share of FAIL and PRUNED trials.

Collapse follows a known rule, so tests can check what the report finds: a VAE collapses when
log10(effective β) + noise > log10(`true_boundary(arch, latent_dim)`), noise ~ Normal(0, `spread` decades)
drawn per trial (spread 0 = a sharp boundary, every run on the right side of it).
"""
from __future__ import annotations

import math
from common.results import CONFIG, FAIL_REASON, WANDB_RUN_ID, TrialResult, stored_key
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from common.collapse import effective_beta

PIXELS = 28 * 28
LATENT_DIMS = (2, 4, 8, 16, 32, 64)
ARCHS = ("mlp", "conv")
BETA_RANGE = (1e-3, 10.0)
MAX_AU = 20  # MNIST needs about this many dims; larger latent spaces leave the rest at the prior


def true_boundary(arch: str, latent_dim: int) -> float:
    """The effective β above which synthetic VAEs collapse: higher for conv and for larger latent spaces."""
    return (40.0 if arch == "mlp" else 80.0) * (1.0 + 0.25 * math.log2(latent_dim / 2))


def base_config(**overrides: Any) -> dict[str, Any]:
    config = {"dataset": "mnist5k", "binarize": "none", "model": "vae", "arch": "mlp", "latent_dim": 8,
              "likelihood": "bernoulli", "variance_param": "logvar", "reduction": "sum", "beta": 1.0,
              "epochs": 8, "batch_size": 128, "learning_rate": 1e-3, "seed": 0, "hidden": [256, 128]}
    config.update(overrides)
    return config


def metrics(config: dict[str, Any], rng: np.random.Generator, spread: float = 0.05) -> dict[str, Any]:
    """`test/*` metrics shaped like vae.train's for one finished trial."""
    latent, arch = int(config["latent_dim"]), config["arch"]
    small = 25.0 * max(0.0, 3 - math.log2(latent))  # latent 2 and 4 reconstruct worse
    if config["model"] == "ae":
        recon = 62.0 + small + rng.normal(0, 1.5)
        return {"recon_nll": recon, "kl": None, "nelbo": None, "iwae_nll": None, "kl_per_dim": None,
                "active_units": None, "mutual_info": None, "recon_diversity": 0.85 + rng.normal(0, 0.02),
                "sharpness": 0.8 + rng.normal(0, 0.03)}
    effective = effective_beta(config["beta"], config["reduction"], PIXELS)
    boundary = true_boundary(arch, latent)
    noise = rng.normal(0, spread) if spread else 0.0
    if math.log10(effective) + noise > math.log10(boundary):
        per_dim = np.abs(rng.normal(0, 2e-4, latent))
        mi = float(rng.normal(0, 3e-5))  # the estimator's noise around 0
        return {"recon_nll": 205.0 + rng.normal(0, 1.0), "kl": float(per_dim.sum()), "kl_per_dim": per_dim.tolist(),
                "nelbo": 205.0 + float(per_dim.sum()), "iwae_nll": 205.0, "active_units": 0, "mutual_info": mi,
                "recon_diversity": 0.004 + abs(rng.normal(0, 0.002)), "sharpness": 0.03 + abs(rng.normal(0, 0.01))}
    strength = min(1.0, max(0.0, math.log10(max(effective, 1.0)) / math.log10(boundary)))
    used = int(np.clip(round(min(latent, MAX_AU) * (1 - 0.85 * strength) + rng.normal(0, 0.7)), 1, latent))
    total = (30.0 - 18.0 * strength) * min(1.0, used / 6) + rng.normal(0, 0.5)
    weights = 0.7 ** np.arange(used)
    per_dim = np.concatenate([total * weights / weights.sum(), np.abs(rng.normal(0, 2e-3, latent - used))])
    rng.shuffle(per_dim)
    kl = float(per_dim.sum())
    recon = 85.0 + small + 60.0 * strength ** 2 + rng.normal(0, 1.5)
    return {"recon_nll": recon, "kl": kl, "kl_per_dim": per_dim.tolist(), "nelbo": recon + kl,
            "iwae_nll": recon + 0.93 * kl, "active_units": used, "mutual_info": min(kl, math.log(1000)) - 0.05,
            "recon_diversity": 0.7 - 0.45 * strength + rng.normal(0, 0.02),
            "sharpness": 0.5 - 0.3 * strength + rng.normal(0, 0.02)}


def space() -> dict[str, Any]:
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    return {"beta": FloatDistribution(*BETA_RANGE, log=True),
            "latent_dim": CategoricalDistribution(list(LATENT_DIMS)), "arch": CategoricalDistribution(list(ARCHS)),
            "reduction": CategoricalDistribution(["sum", "mean"]), "model": CategoricalDistribution(["vae", "ae"]),
            "seed": CategoricalDistribution(list(range(10)))}


def draws(n_trials: int, seeds: int = 5, fail_share: float = 0.03, prune_share: float = 0.05,
          ae_share: float = 0.05, spread: float = 0.05, rng_seed: int = 0) -> Iterator[tuple[str, dict, dict]]:
    """(state, params, recorded values) for `n_trials` trials: configurations drawn as TPE would (log-uniform β),
    each run with seeds 0..`seeds`-1; a share of FAIL and PRUNED trials."""
    rng = np.random.default_rng(rng_seed)
    produced = 0
    while produced < n_trials:
        model = "ae" if rng.random() < ae_share else "vae"
        point = {"beta": float(np.exp(rng.uniform(*np.log(BETA_RANGE)))) if model == "vae" else 1.0,
                 "latent_dim": int(rng.choice(LATENT_DIMS)), "arch": str(rng.choice(ARCHS)),
                 "reduction": str(rng.choice(["sum", "mean"])) if model == "vae" else "sum", "model": model}
        for seed in range(min(seeds, n_trials - produced)):
            produced += 1
            params = {**point, "seed": seed}
            config = base_config(**params)
            draw = rng.random()
            if draw < fail_share:
                yield "FAIL", params, {CONFIG: config, FAIL_REASON: "non-finite loss at epoch 3"}
                continue
            result = metrics(config, rng, spread)
            if draw < fail_share + prune_share:
                yield "PRUNED", params, {CONFIG: config, "pruned_at": result["recon_nll"] + 40}
                continue
            stored = TrialResult(**result).stored()
            values = {CONFIG: config, **{key: value for key, value in stored.items() if value is not None}}
            beta = None if model == "ae" else effective_beta(config["beta"], config["reduction"], PIXELS)
            values.update(effective_beta=beta, train_seconds=30.0, eval_seconds=2.0, epochs_run=8,
                          examples_per_second=4000.0, wandb_run_id=f"syn{produced}")
            yield "COMPLETE", params, values


def add_trials(study: Any, n_trials: int, seeds: int = 5, **options: Any) -> None:
    """Add `n_trials` synthetic trials (see `draws`) to an Optuna `study` in one `add_trials` call."""
    from optuna.trial import TrialState, create_trial

    distributions = space()
    study.set_user_attr("search_space", {"beta": list(BETA_RANGE), "latent_dim": list(LATENT_DIMS),
                                         "arch": list(ARCHS), "reduction": ["sum", "mean"], "model": ["vae", "ae"],
                                         "seed": list(range(seeds))})
    study.set_user_attr("method", "tpe")
    trials = []
    for state, params, attrs in draws(n_trials, seeds, **options):
        common = {"params": params, "distributions": distributions}
        if state == "PRUNED":
            pruned_at = attrs.pop("pruned_at")
            trials.append(create_trial(state=TrialState.PRUNED, user_attrs=attrs, intermediate_values={0: pruned_at},
                                       **common))
        elif state == "FAIL":
            trials.append(create_trial(state=TrialState.FAIL, user_attrs=attrs, **common))
        else:
            value = attrs.get(stored_key("nelbo"), attrs[stored_key("recon_nll")])
            trials.append(create_trial(value=value, user_attrs=attrs, **common))
    study.add_trials(trials)


WANDB_WRITER = r"""
import json, sys
import wandb
from common.wandb_adapter import settings
spec = json.load(open(sys.argv[1]))
for number, run_spec in enumerate(spec["runs"]):
    run = wandb.init(mode="offline", dir=spec["dir"], project="vae-sweeps", group=spec["group"], job_type="trial",
                     name=f"trial-{number}",
                     config={**run_spec["config"], "study": spec["group"], "trial_number": number},
                     settings=settings())
    for key, value in run_spec["summary"].items():
        run.summary[key] = value
    run.finish(exit_code=run_spec["exit_code"])
"""


def write_wandb_runs(target: Path, n_runs: int, group: str = "synthetic", **options: Any) -> Path:
    """`n_runs` offline W&B runs (written by wandb itself, in one subprocess) under `target`, as the sweep's
    tracking records them: config, `test/*` summary with `test/kl_per_dim` as a list; FAIL runs exit 1."""
    import json
    import os
    import subprocess
    import sys

    target.mkdir(parents=True, exist_ok=True)
    runs = []
    for state, params, values in draws(n_runs, **options):
        config = values.pop(CONFIG)
        values.pop("pruned_at", None)
        runs.append({"config": config, "summary": {k: v for k, v in values.items() if k != WANDB_RUN_ID},
                     "exit_code": 0 if state == "COMPLETE" else 1})
    spec = target / "spec.json"
    spec.write_text(json.dumps({"dir": str(target), "group": group, "runs": runs}))
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true", "WANDB_DIR": str(target)}
    done = subprocess.run([sys.executable, "-c", WANDB_WRITER, str(spec)], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"writing W&B runs failed: {done.stderr.strip().splitlines()[-1:]}")
    return target


def make_study(storage: str, n_trials: int, study_name: str = "synthetic", **options: Any) -> str:
    """Create `study_name` in `storage` (any Optuna URL) with `n_trials` synthetic trials; return the name."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name=study_name, storage=storage, direction="minimize")
    add_trials(study, n_trials, **options)
    return study_name
