"""Heartbeats of the trials a launcher has handed out, and failing the trials whose heartbeats stopped.

A running trial's launcher records a heartbeat every `heartbeat_seconds`; a trial that missed 3 is stale: its
launcher died (or lost the database) and the next launcher that looks fails it and re-queues its parameters.
A launcher that ran the trial in its own process (`--workers 1`) died with it: that counts as a death of the
trial's process (`sweep.queue.process_died`), so a trial that kills every launcher taking it ends FAIL after
`search.max_retries` re-runs, unless the launcher left a note that a fault of the machine stopped it
(`sweep.stop_notes`). Right after a database outage every launcher's heartbeats are late, so a launcher
that has just seen the storage come back waits a grace period before judging others.
"""
from __future__ import annotations

import threading

import optuna

from common.results import RUNNER
from sweep import optuna_adapter, stop_notes
from sweep.failures import death_cause
from sweep.queue import interrupt, process_died
from sweep.retry import MAX_DELAY_S, StorageUnavailable
from sweep.retry_storage import RetryingStorage
from sweep.storage import GRACE_HEARTBEATS


def fail_stale(study: optuna.Study, storage: optuna.storages.BaseStorage, heartbeat_seconds: float,
               max_retries: int) -> None:
    """Fail and re-queue the trials whose launcher stopped sending heartbeats."""
    hold_off = GRACE_HEARTBEATS * heartbeat_seconds + MAX_DELAY_S
    if isinstance(storage, RetryingStorage) and storage.policy.recently_recovered(hold_off):
        return
    for trial_id in optuna_adapter.stale_trial_ids(study):
        trial = storage.get_trial(trial_id)
        runner = trial.user_attrs.get(RUNNER) or {}
        if runner.get("in_launcher") and stop_notes.take(study.study_name, trial_id, runner):
            interrupt(study, storage, trial_id, f"trial {trial.number}'s launcher was stopped by a fault of the "
                      f"machine (the storage unreachable or unwritable)", machine=True)
        elif runner.get("in_launcher"):
            process_died(study, storage, trial_id, death_cause(None), max_retries)
        else:
            interrupt(study, storage, trial_id,
                      f"trial {trial.number} stopped sending heartbeats (its launcher was killed or lost)")


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
            self.storage.record_heartbeat(trial_id)  # waits out a database outage (sweep.retry)
        except StorageUnavailable:
            pass  # the launcher's own next storage call ends it
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
