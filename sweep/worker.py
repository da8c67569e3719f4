"""Taking trials from the study and running them: the queue discipline of every launcher.

A launcher (one `python -m sweep.launch`) is the only process on its machine that takes trials from the study:
grid points are popped from the queue (WAITING -> RUNNING, a row-locked update), TPE/random trials are asked
for while the budget lasts. Parameters are drawn right away, so an interrupted trial can be re-queued with them.
The trial then runs in the launcher itself (`--workers 1`) or in one of its worker processes (`sweep.pool`).

While a trial runs, the launcher records its heartbeat. A trial that ends by Ctrl-C / SIGTERM, or whose worker
process dies, is failed with a `fail_reason` and re-queued at once; one whose launcher died is found stale by
the next launcher that looks (after 3 missed heartbeats) and re-queued then (`sweep.storage.requeue_stale`).
"""
from __future__ import annotations

import math
import threading
from typing import Callable

import optuna
from optuna.trial import TrialState

from sweep.config import SweepConfig
from sweep.search import suggest
from sweep.storage import counted, requeue, running, waiting

Objective = Callable[[optuna.Trial], float]


def next_trial(study: optuna.Study, storage: optuna.storages.BaseStorage,
               config: SweepConfig) -> optuna.Trial | None:
    """The next trial for this launcher, marked RUNNING with its parameters drawn; None if nothing is left
    to start (other launchers may still be running trials)."""
    cap = config.search.n_trials
    if config.search.method == "grid":
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
    """Take the oldest queued trial: the state change WAITING -> RUNNING succeeds for one launcher only."""
    for frozen in study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
        try:
            if storage.set_trial_state_values(frozen._trial_id, state=TrialState.RUNNING):
                return optuna.Trial(study, frozen._trial_id)
        except optuna.exceptions.UpdateFinishedTrialError:
            continue
    return None


def run_trial(study: optuna.Study, storage: optuna.storages.BaseStorage, trial: optuna.Trial,
              objective: Objective) -> optuna.trial.FrozenTrial:
    """Run `objective` on a RUNNING trial and record how it ended. Errors other than an interruption end the
    trial FAILED with the reason and the sweep goes on; Ctrl-C / SIGTERM re-queue the trial and propagate."""
    try:
        value = objective(trial)
    except optuna.TrialPruned:
        return study.tell(trial, state=TrialState.PRUNED)
    except KeyboardInterrupt:
        interrupt(study, storage, trial._trial_id, "interrupted (Ctrl-C or SIGTERM) while running")
        raise
    except Exception as error:  # noqa: BLE001 - one broken trial must not end the sweep
        reason = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
        if "fail_reason" not in storage.get_trial(trial._trial_id).user_attrs:
            trial.set_user_attr("fail_reason", reason)
        return study.tell(trial, state=TrialState.FAIL)
    if math.isnan(value):  # a non-finite loss: the objective stored the fail_reason (+inf: an AE, see objective)
        return study.tell(trial, state=TrialState.FAIL)
    return study.tell(trial, value)


def interrupt(study: optuna.Study, storage: optuna.storages.BaseStorage, trial_id: int, reason: str) -> bool:
    """Fail a RUNNING trial that will not finish and queue a fresh one with its parameters.
    False if it had already finished (or another launcher already failed it)."""
    try:
        storage.set_trial_user_attr(trial_id, "fail_reason", reason)
        storage.set_trial_state_values(trial_id, state=TrialState.FAIL)
    except optuna.exceptions.UpdateFinishedTrialError:
        return False
    requeue(study, storage.get_trial(trial_id), reason)
    return True


def fail_stale(study: optuna.Study) -> None:
    """Fail (and, through the storage's callback, re-queue) trials whose launcher stopped sending heartbeats."""
    optuna.storages.fail_stale_trials(study)


class Heartbeat:
    """Records a heartbeat for every trial this launcher has handed out, every `interval` seconds."""

    def __init__(self, storage: optuna.storages.BaseStorage, interval: float):
        self.storage, self.interval = storage, interval
        self.trial_ids: set[int] = set()
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._beat, name="sweep-heartbeat", daemon=True)
        self.thread.start()

    def add(self, trial_id: int) -> None:
        with self.lock:
            self.trial_ids.add(trial_id)
        self._record(trial_id)

    def discard(self, trial_id: int) -> None:
        with self.lock:
            self.trial_ids.discard(trial_id)

    def _record(self, trial_id: int) -> None:
        try:
            self.storage.record_heartbeat(trial_id)
        except Exception:  # noqa: BLE001 - a missed beat is harmless; the next one retries
            pass

    def _beat(self) -> None:
        while not self.stopped.wait(self.interval):
            with self.lock:
                ids = list(self.trial_ids)
            for trial_id in ids:
                self._record(trial_id)

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=5)
