"""Pruning: TPE with a median / hyperband pruner vs TPE without pruning, at the same number of trials.

Optuna is driven directly: each trial runs `vae.train.run(config, on_epoch=...)`, reports `val/nelbo` every epoch
and raises `optuna.TrialPruned` when the pruner says so (it propagates out of `run`). Every arm uses the same
seeded TPE sampler and search space; `epochs` counts the epochs actually trained, `best` is the lowest test nelbo
of a completed trial (the sweep's objective).
"""
from __future__ import annotations

from dataclasses import dataclass

from common.results import VAL_NELBO
from vae.config import TrialConfig

STARTUP_TRIALS = 4


def search_space(trial) -> dict:
    """Learning rate and KL warm-up are value-only (no re-compilation); latent_dim gives 3 model structures."""
    return {"learning_rate": trial.suggest_float("learning_rate", 1e-5, 3e-2, log=True),
            "kl_warmup_epochs": trial.suggest_int("kl_warmup_epochs", 0, 4),
            "latent_dim": trial.suggest_categorical("latent_dim", [8, 16, 32])}


def make_pruner(name: str, epochs: int):
    import optuna

    if name == "none":
        return optuna.pruners.NopPruner()
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=STARTUP_TRIALS, n_warmup_steps=1)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=epochs, reduction_factor=3)
    raise ValueError(name)


@dataclass
class PruningArm:
    pruner: str
    trials: int
    epochs: int
    best_nelbo: float
    pruned: int


def run_arm(pruner: str, trials: int, epochs: int, seed: int = 0) -> PruningArm:
    import optuna

    from vae.train import run

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    spent = {"epochs": 0}
    base = TrialConfig(epochs=epochs, hidden=[256, 128], iwae_samples=10)

    def objective(trial) -> float:
        config = base.model_copy(update=search_space(trial))

        def on_epoch(epoch: int, row: dict) -> None:
            spent["epochs"] += 1
            trial.report(row[VAL_NELBO], epoch)
            if trial.should_prune():
                raise optuna.TrialPruned(f"epoch {epoch}")

        return run(config, on_epoch=on_epoch).nelbo

    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=STARTUP_TRIALS)
    study = optuna.create_study(direction="minimize", sampler=sampler, pruner=make_pruner(pruner, epochs))
    study.optimize(objective, n_trials=trials, catch=(Exception,))
    complete = [t.value for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE and t.value is not None]
    pruned = sum(t.state == optuna.trial.TrialState.PRUNED for t in study.trials)
    return PruningArm(pruner, trials, spent["epochs"], min(complete, default=float("nan")), pruned)


def measure(trials: int, epochs: int, log=print) -> dict[str, PruningArm]:
    arms = {}
    for name in ("none", "median", "hyperband"):
        arms[name] = run_arm(name, trials, epochs)
        arm = arms[name]
        log(f"  pruner {name:9s}: {arm.epochs} epochs over {arm.trials} trials ({arm.pruned} pruned), "
            f"best test nelbo {arm.best_nelbo:.2f}")
    return arms
