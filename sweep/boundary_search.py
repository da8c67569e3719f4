"""The boundary search on the study's queue: each group's next β, chosen from its finished runs and enqueued once.

`refill` runs when a launcher finds no queued trial. Under the study's lock (`optuna_adapter.study_lock`: launchers
on several machines take turns), for every group with no run queued or running, it asks `sweep.bisection.next_beta`
for the next β from the group's finished runs and enqueues it (user attr `boundary_group`). The choice is a
function of what the database holds, so a launcher killed at any moment loses nothing: the next one to look makes
the same choice. A β a group has already run (or failed at) is never queued again: that group stops there.

A run belongs to a group when its parameters equal the group's (every key but β), include points too; its verdict
is "no active unit" (`common.collapse.no_active_units` on `test/active_units`).
"""
from __future__ import annotations

from typing import Any, Iterable

import optuna
from optuna.trial import TrialState

from common.collapse import no_active_units
from common.results import BOUNDARY_GROUP, RETRY_OF, TrialResult
from sweep import optuna_adapter
from sweep.bisection import Decision, next_beta
from sweep.config import SweepConfig
from sweep.search import optuna_value

IN_FLIGHT = (TrialState.WAITING, TrialState.RUNNING)


def members(trials: Iterable[optuna.trial.FrozenTrial], group: dict[str, Any]) -> list[optuna.trial.FrozenTrial]:
    """The trials whose parameters, β aside, are the group's (interrupted ones that were re-queued left out)."""
    trials = list(trials)
    retried = {t.user_attrs[RETRY_OF] for t in trials if RETRY_OF in t.user_attrs}
    wanted = {key: optuna_value(value) for key, value in group.items()}
    found = []
    for trial in trials:
        params = optuna_adapter.enqueued_params(trial)
        if trial.number not in retried and "beta" in params and \
                all(params.get(key) == value for key, value in wanted.items()):
            found.append(trial)
    return found


def verdicts(group_trials: Iterable[optuna.trial.FrozenTrial]) -> list[tuple[float, bool]]:
    """(β, no active unit) of every finished run of a group that recorded its active units."""
    runs = []
    for trial in group_trials:
        if trial.state == TrialState.COMPLETE:
            collapsed = no_active_units(TrialResult.from_stored(trial.user_attrs).active_units)
            if collapsed is not None:
                runs.append((float(optuna_adapter.enqueued_params(trial)["beta"]), collapsed))
    return runs


def decide(config: SweepConfig, group_trials: list[optuna.trial.FrozenTrial]) -> Decision:
    """The group's next step (a β already tried is never proposed again: the group is then `stuck`)."""
    if any(trial.state in IN_FLIGHT for trial in group_trials):
        return Decision(None, "running")
    search, beta = config.search, config.dimensions()["beta"]
    spent = sum(BOUNDARY_GROUP in trial.user_attrs for trial in group_trials)
    decision = next_beta(verdicts(group_trials), beta.low, beta.high, search.boundary_ratio,
                         search.boundary_trials, spent)
    tried = {float(optuna_adapter.enqueued_params(trial)["beta"]) for trial in group_trials}
    if decision.beta is not None and decision.beta in tried:
        return Decision(None, "stuck")
    return decision


def refill(study: optuna.Study, storage: optuna.storages.BaseStorage, config: SweepConfig) -> int:
    """Enqueue the next β of every group that needs one; returns how many were enqueued."""
    call = getattr(getattr(storage, "policy", None), "call", lambda function: function())
    added = 0
    with optuna_adapter.study_lock(storage, study, call):
        trials = study.get_trials(deepcopy=False)
        for index, group in enumerate(config.boundary_groups()):
            decision = decide(config, members(trials, group))
            if decision.beta is not None:
                params = {key: optuna_value(value) for key, value in group.items()}
                study.enqueue_trial({**params, "beta": decision.beta}, user_attrs={BOUNDARY_GROUP: index})
                added += 1
    return added


def remaining(study: optuna.Study, config: SweepConfig) -> int:
    """The most trials the search may still finish: queued and running ones, plus each unfinished group's budget
    left (a group that is done adds none)."""
    trials = study.get_trials(deepcopy=False)
    left = sum(trial.state in IN_FLIGHT for trial in trials)
    for group in config.boundary_groups():
        group_trials = members(trials, group)
        decision = decide(config, group_trials)
        if decision.beta is not None or decision.reason == "running":
            spent = sum(BOUNDARY_GROUP in trial.user_attrs for trial in group_trials)
            left += max(0, config.search.boundary_trials - spent)
    return left
