"""The search space in Optuna's terms: sampler, pruner, and the parameters one trial draws.

Grid searches do not rely on `GridSampler` (which runs duplicates when several workers share a study): every
grid point is enqueued once (`sweep.storage`) and workers pop queued trials. The sampler of a grid study only
ever sees those fixed parameters.

Values Optuna cannot store as categorical choices (lists such as `hidden: [[64], [256, 128]]`) travel as JSON
strings and are decoded before the trial config is built.
"""
from __future__ import annotations

import json
from common.results import GRID_POINT
from typing import Any

import optuna

from sweep.config import Range, SweepConfig, field_kind



def optuna_value(value: Any) -> Any:
    """A parameter value as Optuna stores it (lists and mappings as JSON text)."""
    return json.dumps(value) if isinstance(value, (list, dict)) else value


def config_value(value: Any) -> Any:
    """Inverse of `optuna_value`."""
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def grid_params(config: SweepConfig) -> list[dict[str, Any]]:
    """Every grid point with its values in Optuna's form, in config order."""
    return [{key: optuna_value(value) for key, value in point.items()} for point in config.grid_points()]


def distributions(config: SweepConfig) -> dict[str, optuna.distributions.BaseDistribution]:
    result: dict[str, optuna.distributions.BaseDistribution] = {}
    for key, dim in config.searched().items():
        if isinstance(dim, Range) and config.search.method == "boundary":  # wide enough for the include points
            betas = [dim.low, dim.high, *(point[key] for point in config.grid_points())]
            result[key] = optuna.distributions.FloatDistribution(min(betas), max(betas), log=True)
        elif isinstance(dim, Range):
            if field_kind(key) == "int":
                result[key] = optuna.distributions.IntDistribution(
                    int(dim.low), int(dim.high), log=dim.log, step=int(dim.step or 1))
            else:
                result[key] = optuna.distributions.FloatDistribution(dim.low, dim.high, log=dim.log, step=dim.step)
        else:
            result[key] = optuna.distributions.CategoricalDistribution([optuna_value(value) for value in dim])
    return result


def suggest(trial: optuna.Trial, config: SweepConfig) -> dict[str, Any]:
    """Draw (or, for an enqueued trial, read) every searched key; values in TrialConfig's form."""
    drawn: dict[str, Any] = {}
    for key, dist in distributions(config).items():
        if isinstance(dist, optuna.distributions.FloatDistribution):
            value = trial.suggest_float(key, dist.low, dist.high, log=dist.log, step=dist.step)
        elif isinstance(dist, optuna.distributions.IntDistribution):
            value = trial.suggest_int(key, dist.low, dist.high, log=dist.log, step=dist.step)
        else:
            value = trial.suggest_categorical(key, dist.choices)
        drawn[key] = config_value(value)
    return drawn


def make_sampler(config: SweepConfig) -> optuna.samplers.BaseSampler:
    search = config.search
    if search.method == "tpe":
        return optuna.samplers.TPESampler(seed=search.seed, n_startup_trials=search.startup_trials,
                                          constant_liar=True)
    # random, and grid (whose trials all come from the queue with fixed parameters)
    return optuna.samplers.RandomSampler(seed=search.seed)


def make_pruner(config: SweepConfig) -> optuna.pruners.BasePruner:
    search = config.search
    if search.pruner == "median":
        # Compare from the second epoch on: the first is noisy for every trial.
        return optuna.pruners.MedianPruner(n_startup_trials=search.startup_trials, n_warmup_steps=1)
    if search.pruner == "hyperband":
        epochs = config.search.space.get("epochs")
        max_resource: int | str = "auto" if epochs is not None else config.trial.epochs
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max_resource, reduction_factor=3)
    return optuna.pruners.NopPruner()


def planned_trials(config: SweepConfig) -> int:
    """How many finished trials make the sweep complete: the grid size (capped by n_trials) or n_trials; for a
    boundary search the most it may run (the include points and `boundary_trials` per group)."""
    if config.search.method == "boundary":
        return len(config.grid_points()) + len(config.boundary_groups()) * config.search.boundary_trials
    if config.search.method == "grid":
        size = len(config.grid_points())
        return min(size, config.search.n_trials) if config.search.n_trials else size
    assert config.search.n_trials is not None  # checked by sweep.config
    return config.search.n_trials
