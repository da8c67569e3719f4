"""Taking trials from the study and running them: the queue discipline of every launcher.

A launcher (one `python -m sweep.launch`) is the only process on its machine that takes trials from the study:
grid points are popped from the queue (WAITING -> RUNNING, a row-locked update), TPE/random trials are asked
for while the budget lasts, a boundary search queues each group's next β when the queue is empty
(`sweep.boundary_search`). Parameters are drawn right away, so an interrupted trial can be re-queued with them.
The trial then runs in the launcher itself (`--workers 1`) or in one of its worker processes (`sweep.pool`).

A trial that ends by Ctrl-C / SIGTERM or a fault of the machine, or whose worker process dies, is failed with a
`fail_reason` and re-queued at once (`sweep.failures` decides); one whose launcher died is found stale by the next
launcher (`sweep.heartbeat`). A trial whose own process died `search.max_retries` + 1 times is failed for good.
"""
from __future__ import annotations

import math
from typing import Callable

import optuna
from optuna.trial import TrialState

from common.results import FAIL_REASON, MACHINE_FAULT, RUNNER, WORKER_DEATHS
from sweep import boundary_search, optuna_adapter, stop_notes
from sweep.config import SweepConfig
from sweep.failures import classify, died_reason
from sweep.retry import StorageUnavailable
from sweep.search import suggest
from sweep.storage import counted, requeue, running, waiting

Objective = Callable[[optuna.Trial], float]


def next_trial(study: optuna.Study, storage: optuna.storages.BaseStorage,
               config: SweepConfig) -> optuna.Trial | None:
    """The next trial for this launcher, marked RUNNING with its parameters drawn; None if nothing is left
    to start (other launchers may still be running trials)."""
    cap = config.search.n_trials
    if config.search.method == "boundary":  # the include points, re-queued runs, then each group's next β
        trial = pop_waiting(study, storage)
        if trial is None and boundary_search.refill(study, storage, config):
            trial = pop_waiting(study, storage)
    elif config.search.method == "grid":
        if cap is not None and len(counted(study)) >= cap:
            return None
        trial = pop_waiting(study, storage)
    elif waiting(study) or len(counted(study)) + running(study) < cap:
        trial = study.ask()  # a re-queued trial first, else a new one from the sampler
    else:
        return None
    if trial is not None:
        suggest(trial, config)
    return trial


def pop_waiting(study: optuna.Study, storage: optuna.storages.BaseStorage) -> optuna.Trial | None:
    """Take the oldest queued trial: the state change WAITING -> RUNNING succeeds for one launcher only.
    Its heartbeat is recorded first, so a launcher that dies (or loses the database) right after taking it
    leaves a trial that goes stale, never one that stays RUNNING without a heartbeat for ever."""
    for frozen in study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
        trial_id = optuna_adapter.trial_id(frozen)
        storage.record_heartbeat(trial_id)
        if optuna_adapter.claim(storage, trial_id):
            return optuna_adapter.attach(study, trial_id)
    return None


def run_trial(study: optuna.Study, storage: optuna.storages.BaseStorage, trial: optuna.Trial,
              objective: Objective) -> optuna.trial.FrozenTrial:
    """Run `objective` on a RUNNING trial and record how it ended (`sweep.failures.classify`): a pruned or
    broken trial ends PRUNED / FAILED with its reason and the sweep goes on; Ctrl-C / SIGTERM re-queue the
    trial and propagate; a fault of the machine re-queues it and raises its `MachineFault`; a storage gone past its
    retry window (or unwritable) propagates: the trial goes stale, then the next launcher re-queues it."""
    trial_id = optuna_adapter.trial_id(trial)
    try:
        value = objective(trial)
    except BaseException as error:  # noqa: BLE001 - one broken trial must not end the sweep
        outcome = classify(error)
        if outcome.requeue:
            try:
                interrupt(study, storage, trial_id, outcome.reason, machine=outcome.fault is not None)
            except StorageUnavailable:
                if outcome.fault is None:
                    raise
                # the storage is on the same full disk: the trial goes stale and the next launch re-queues it
                stop_notes.leave(study.study_name, trial_id)
        if outcome.fault is not None:
            raise outcome.fault from None
        if outcome.stop_sweep:
            raise
        if outcome.state == "PRUNED":
            return _tell(study, trial, state=TrialState.PRUNED)
        return _tell(study, trial, state=TrialState.FAIL, reason=outcome.reason)
    if math.isnan(value):  # the objective is undefined for this trial; the objective stored why
        return _tell(study, trial, state=TrialState.FAIL)
    # +inf completes: an AE under a density objective (never the best trial; see sweep.objective)
    return _tell(study, trial, value)


def _tell(study: optuna.Study, trial: optuna.Trial, value: float | None = None, state: TrialState | None = None,
          reason: str | None = None) -> optuna.trial.FrozenTrial:
    """`study.tell`; if another launcher already failed the trial as stale (its heartbeats were late, e.g. over a
    database outage), that verdict stands: its parameters were re-queued and run again."""
    if reason is not None:
        try:
            trial.set_user_attr(FAIL_REASON, reason)
        except optuna.exceptions.UpdateFinishedTrialError:
            pass
    return study.tell(trial, value, state=state, skip_if_finished=True)


def interrupt(study: optuna.Study, storage: optuna.storages.BaseStorage, trial_id: int, reason: str,
              machine: bool = False) -> bool:
    """Fail a RUNNING trial that will not finish and queue a fresh one with its parameters (`machine`: it was
    stopped by a fault of the machine). False if it had already finished (or another launcher already failed it)."""
    try:
        storage.set_trial_user_attr(trial_id, FAIL_REASON, reason)
        if machine:
            storage.set_trial_user_attr(trial_id, MACHINE_FAULT, True)
        optuna_adapter.fail(storage, trial_id)
    except optuna.exceptions.UpdateFinishedTrialError:
        return False
    requeue(study, storage.get_trial(trial_id), reason)
    return True


def process_died(study: optuna.Study, storage: optuna.storages.BaseStorage, trial_id: int, cause: str,
                 max_retries: int) -> bool:
    """The process running a trial died with it (`cause`: `sweep.failures.death_cause`): re-queue the trial, or
    fail it for good once its grid point has killed its process `max_retries` + 1 times (the count is carried
    from re-run to re-run, `WORKER_DEATHS`). False if it had already finished."""
    try:
        frozen = storage.get_trial(trial_id)
        who = "launcher" if (frozen.user_attrs.get(RUNNER) or {}).get("in_launcher") else "worker"
        deaths = int(frozen.user_attrs.get(WORKER_DEATHS, 0)) + 1
        storage.set_trial_user_attr(trial_id, WORKER_DEATHS, deaths)
        if deaths <= max_retries:
            return interrupt(study, storage, trial_id, f"{who} process died ({cause})")
        storage.set_trial_user_attr(trial_id, FAIL_REASON, died_reason(who, deaths, cause))
        optuna_adapter.fail(storage, trial_id)
    except optuna.exceptions.UpdateFinishedTrialError:
        return False
    return True
