"""The Optuna behaviour the sweep relies on that has no public API, in one place.

Each function states the behaviour it relies on; tests/test_optuna_adapter.py pins every one of them, so an Optuna
release that changes one fails that test instead of a sweep.
"""
from __future__ import annotations

from typing import Any

import optuna
from optuna.storages._heartbeat import BaseHeartbeat  # RDBStorage's heartbeat interface (no public alias)
from optuna.trial import TrialState

FIXED_PARAMS_ATTR = "fixed_params"  # system attr where `Study.enqueue_trial` keeps the parameters it was given
# What `optuna.storages.fail_stale_trials` calls on a storage besides the public BaseStorage methods: a wrapping
# storage must pass these through for stale trials to be found.
STALE_TRIAL_METHODS = ("_get_stale_trial_ids",)


def storage_methods() -> set[str]:
    """Every method a storage that wraps an RDBStorage must forward: BaseStorage's, the heartbeat interface's
    and `STALE_TRIAL_METHODS`."""
    return {name for base in (optuna.storages.BaseStorage, BaseHeartbeat) for name, value in vars(base).items()
            if callable(value) and not name.startswith("__")} | set(STALE_TRIAL_METHODS)


def trial_id(trial: optuna.Trial | optuna.trial.FrozenTrial) -> int:
    """The storage's id of a trial (what BaseStorage methods take); equal to
    `storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)` without the round trip."""
    return trial._trial_id


def attach(study: optuna.Study, trial_id: int) -> optuna.Trial:
    """A live `optuna.Trial` for a RUNNING trial taken from the queue (or sent to a worker process) by id."""
    return optuna.Trial(study, trial_id)


def claim(storage: optuna.storages.BaseStorage, trial_id: int) -> bool:
    """WAITING -> RUNNING: True for exactly one caller; False (or UpdateFinishedTrialError, treated as False) for
    everyone else, because the storage changes the state only of a WAITING trial."""
    try:
        return storage.set_trial_state_values(trial_id, state=TrialState.RUNNING)
    except optuna.exceptions.UpdateFinishedTrialError:
        return False


def fail(storage: optuna.storages.BaseStorage, trial_id: int) -> None:
    """End a RUNNING trial as FAIL from any process (not only the one holding the `optuna.Trial`); raises
    UpdateFinishedTrialError if it had already finished."""
    storage.set_trial_state_values(trial_id, state=TrialState.FAIL)


def enqueued_params(trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    """The parameters a trial runs with: its drawn params, else (if it never drew them) those it was enqueued with."""
    return dict(trial.params or trial.system_attrs.get(FIXED_PARAMS_ATTR) or {})
