"""The Optuna behaviour the sweep relies on that has no public API, in one place.

Each function states the behaviour it relies on; tests/test_optuna_adapter.py pins every one of them, so an Optuna
release that changes one fails that test instead of a sweep.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator

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
    """The parameters a trial runs with: those it was enqueued with (complete from the moment it is queued, while
    `params` fills one key at a time as the trial draws them), else its drawn params (a sampled trial)."""
    return dict(trial.system_attrs.get(FIXED_PARAMS_ATTR) or trial.params or {})


LOCK_NAMESPACE = 0x56414542  # "VAEB": the first key of the study lock's PostgreSQL advisory lock


@contextmanager
def study_lock(storage: optuna.storages.BaseStorage, study: optuna.Study,
               call: Callable[..., Any] = lambda function: function()) -> Iterator[None]:
    """Hold a lock on `study` while the body reads its trials and enqueues new ones, so that launchers on other
    machines do the same one after another: a PostgreSQL transaction-level advisory lock on (LOCK_NAMESPACE,
    the study's id), on a connection of the storage's engine of its own, taken through `call` (a retry policy).
    Optuna's own writes take row locks (creating a trial locks the study's row), which an advisory lock does not
    touch, so the body may write. The server releases the lock when the transaction ends, or when the
    connection drops (a launcher killed, the database restarted).
    Other databases: no lock (SQLite serves one launcher; several launchers need PostgreSQL)."""
    engine = getattr(storage, "engine", None)
    if engine is None or engine.dialect.name != "postgresql":
        yield
        return
    import sqlalchemy

    def acquire() -> sqlalchemy.engine.Connection:
        connection = engine.connect()
        try:
            connection.execute(sqlalchemy.text("SELECT pg_advisory_xact_lock(:namespace, :study)"),
                               {"namespace": LOCK_NAMESPACE, "study": study._study_id})
        except BaseException:
            connection.close()
            raise
        return connection

    connection = call(acquire)
    try:
        yield
    finally:
        try:
            connection.rollback()  # ends the transaction: releases the lock (it wrote nothing)
            connection.close()
        except sqlalchemy.exc.DBAPIError:
            pass  # the connection is gone, and with it the lock


def stale_trial_ids(study: optuna.Study) -> list[int]:
    """Ids of the study's RUNNING trials whose last heartbeat is older than the storage's grace period: the list
    `optuna.storages.fail_stale_trials` fails (it offers no way to record why before the trial is finished)."""
    return study._storage._get_stale_trial_ids(study._study_id)
