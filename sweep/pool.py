"""One launcher's share of a sweep: hand trials to the workers until the study is complete.

`--workers 1` runs each trial in the launcher's own process. `--workers N` starts N worker processes (spawned,
so each has its own TensorFlow, with cores // N threads); the launcher alone takes trials from the study
(`sweep.queue.next_trial`) and sends each to an idle worker over a pipe, so no two workers can take the same
trial even on SQLite. A worker that dies mid-trial is replaced and its trial re-queued (failed after
`search.max_retries` deaths: `sweep.queue.process_died`). If the launcher dies, its workers get SIGTERM (Linux
parent-death signal), re-queue their trials and exit. A worker that meets a fault of the machine re-queues its
trial and reports it: the launcher then stops the others (their trials re-queued) and exits with code 75.

The sweep is complete when nothing is left to start and no trial is running anywhere: a launcher with nothing
to do waits for trials that other launchers are running (they finish, or go stale and come back to the queue).
"""
from __future__ import annotations

import ctypes
import math
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import time
from typing import Any, Callable

import optuna

from common.cli import EXIT_MACHINE
from common.errors import MachineFault
from common.interrupts import blocked_in_children, interrupts_deferred, stop_on_signals, unblock
from common.machine import usable_cores
from sweep import optuna_adapter, stop_notes
from sweep.config import SweepConfig
from sweep.failures import INTERRUPTED_REASON, death_cause
from sweep.heartbeat import Heartbeat, fail_stale
from sweep.queue import interrupt, next_trial, process_died, run_trial
from sweep.retry import StorageUnavailable
from sweep.storage import running

STOP = None  # message to a worker: no more trials
INTERRUPT_GRACE_S = 30  # after Ctrl-C / SIGTERM, how long busy workers get to re-queue their trials and exit
Events = Any  # sweep.progress.SweepProgress (epoch / trial_done / waiting)


def run_sweep(study: optuna.Study, storage: optuna.storages.BaseStorage, config: SweepConfig,
              make_objective: Callable[[Callable[[int, int, int], None]], Callable], progress: Events,
              workers: int = 1) -> None:
    heartbeat = Heartbeat(storage, config.heartbeat_seconds)
    try:
        if workers == 1:
            _run_inline(study, storage, config, make_objective(progress.epoch), progress, heartbeat)
        else:
            _Pool(study, storage, config, progress, heartbeat, workers).run()
    except KeyboardInterrupt:  # whatever it was doing: every trial it handed out and that still runs is re-queued
        for trial_id in sorted(heartbeat.trial_ids):
            interrupt(study, storage, trial_id, INTERRUPTED_REASON)
        raise
    finally:
        heartbeat.stop()


def _wait_for_others(study: optuna.Study, config: SweepConfig, progress: Events) -> bool:
    """True if trials are running elsewhere (after waiting a heartbeat for them); False if the sweep is done."""
    others = running(study)
    if others == 0:
        return False
    progress.waiting(others)
    time.sleep(config.heartbeat_seconds)
    return True


def _run_inline(study, storage, config, objective, progress, heartbeat: Heartbeat) -> None:
    while True:
        fail_stale(study, storage, config.heartbeat_seconds, config.search.max_retries)
        with interrupts_deferred():  # a trial taken is a trial recorded as ours
            trial = next_trial(study, storage, config)
            if trial is not None:
                heartbeat.add(optuna_adapter.trial_id(trial))
        if trial is None:
            if _wait_for_others(study, config, progress):
                continue
            return
        trial_id = optuna_adapter.trial_id(trial)
        try:
            frozen = run_trial(study, storage, trial, objective)
        except StorageUnavailable:  # the trial goes stale: the next launch must not count this as a death
            stop_notes.leave(study.study_name, trial_id)
            raise
        finally:
            heartbeat.discard(trial_id)
        progress.trial_done(study, frozen)


class _Pool:
    """N spawned worker processes fed one trial at a time."""

    def __init__(self, study, storage, config: SweepConfig, progress: Events, heartbeat: Heartbeat, size: int):
        self.study, self.storage, self.config, self.progress, self.heartbeat = study, storage, config, progress, heartbeat
        self.context = multiprocessing.get_context("spawn")
        self.threads = max(1, usable_cores() // size)
        self.size = size
        self.settled = True  # a trial of ours ended (or none was handed out yet): hand out trials again
        self.workers: list = []
        self.busy: dict[Any, int] = {}  # worker -> trial id

    def _start(self):
        parent_end, child_end = self.context.Pipe()
        process = self.context.Process(target=worker_main, name="sweep-worker", daemon=False,
                                       args=(self.config.model_dump(), self.study.study_name, self.storage.url,
                                             child_end, self.threads, os.getpid()))
        with blocked_in_children():
            process.start()
        child_end.close()
        return process, parent_end

    def run(self) -> None:
        try:
            while len(self.workers) < self.size:
                self.workers.append(self._start())
            self._loop()
        except KeyboardInterrupt:
            self._interrupt_workers()
            raise
        except StorageUnavailable:  # their trials cannot be recorded either: they go stale and get re-queued
            self._kill_workers()
            raise
        except MachineFault:  # a worker met it (its trial is re-queued): the others re-queue theirs and stop
            self._interrupt_workers()
            raise
        finally:
            self._stop_workers()

    def _loop(self) -> None:
        planned_at = -math.inf
        while True:
            # Hand out trials (which reads the study, and in a boundary search re-plans every group) only when a
            # trial of ours ended or a heartbeat interval passed: not on every epoch message of a busy worker.
            if self.settled or time.monotonic() - planned_at >= self.config.heartbeat_seconds:
                self._plan()
                planned_at, self.settled = time.monotonic(), False
            if not self.busy:
                if _wait_for_others(self.study, self.config, self.progress):
                    self.settled = True
                    continue
                return
            ends = {w[1]: w for w in self.busy} | {w[0].sentinel: w for w in self.busy}
            for ready in multiprocessing.connection.wait(list(ends), timeout=self.config.heartbeat_seconds):
                worker = ends[ready]
                if worker in self.busy:
                    self._receive(worker)

    def _plan(self) -> None:
        fail_stale(self.study, self.storage, self.config.heartbeat_seconds, self.config.search.max_retries)
        for worker in [w for w in self.workers if w not in self.busy]:
            with interrupts_deferred():  # a trial taken is a trial recorded as ours
                trial = next_trial(self.study, self.storage, self.config)
                if trial is None:
                    break
                trial_id = optuna_adapter.trial_id(trial)
                self.heartbeat.add(trial_id)
                try:
                    worker[1].send(trial_id)
                except (OSError, ValueError):  # it died while idle: a fresh one takes the trial
                    worker = self._restart(worker)
                    worker[1].send(trial_id)
                self.busy[worker] = trial_id

    def _receive(self, worker) -> None:
        process, conn = worker
        try:
            while conn.poll():
                kind, *payload = conn.recv()
                if kind == "epoch":
                    self.progress.epoch(*payload)
                elif kind == "unavailable":  # the worker gave up on the storage: so does the launcher
                    raise StorageUnavailable(payload[0])
                elif kind == "fault":  # a fault of the machine (a full disk): the launcher stops
                    raise MachineFault(payload[0])
                elif kind == "warning":
                    self.progress.warn(payload[0])
                elif kind == "done":
                    self.settled = True
                    trial_id = self.busy.pop(worker)
                    self.heartbeat.discard(trial_id)
                    self.progress.trial_done(self.study, self.storage.get_trial(trial_id))
                    return
        except (EOFError, OSError):
            pass
        if not process.is_alive():
            self._replace_dead(worker)

    def _replace_dead(self, worker) -> None:
        process, _ = worker
        process.join(timeout=1)
        self.settled = True
        trial_id = self.busy.pop(worker)
        self.heartbeat.discard(trial_id)
        if process_died(self.study, self.storage, trial_id, death_cause(process.exitcode),
                        self.config.search.max_retries):
            self.progress.trial_done(self.study, self.storage.get_trial(trial_id))
        self._restart(worker)

    def _restart(self, worker):
        worker[1].close()
        fresh = self._start()
        self.workers[self.workers.index(worker)] = fresh
        return fresh

    def _interrupt_workers(self) -> None:
        """Ctrl-C: each busy worker re-queues its running trial and exits; anything left RUNNING is re-queued here.
        Idle (or still starting) workers are stopped by `_stop_workers`."""
        for process, _ in self.busy:
            if process.is_alive():
                os.kill(process.pid, signal.SIGINT)
        deadline = time.monotonic() + INTERRUPT_GRACE_S
        for process, _ in self.busy:
            process.join(timeout=max(0.0, deadline - time.monotonic()))
            if process.is_alive():  # a stop must not hang on a stuck worker: its trial is re-queued below
                process.kill()
                process.join(timeout=5)
        for trial_id in self.busy.values():
            interrupt(self.study, self.storage, trial_id, INTERRUPTED_REASON)

    def _kill_workers(self) -> None:
        for process, _ in self.workers:
            if process.is_alive():
                process.kill()
            process.join(timeout=5)

    def _stop_workers(self) -> None:
        for process, conn in self.workers:
            try:
                conn.send(STOP)
            except (OSError, ValueError):
                pass
        for process, _ in self.workers:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()


def _die_with_parent(launcher_pid: int) -> None:
    """Linux: SIGTERM this process when the launcher dies (even by kill -9), so its trial is re-queued."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != launcher_pid:  # it died before we asked
        sys.exit(0)


def worker_main(config_data: dict, study_name: str, url: str, conn, threads: int, launcher_pid: int) -> None:
    """A worker process: run the trials the launcher sends until told to stop. SIGINT / SIGTERM stop it as they
    stop the launcher (`common.interrupts`: once, never inside a storage call)."""
    with stop_on_signals():
        unblock()  # started with both blocked (`_Pool._start`); one that came meanwhile is raised now
        try:
            _die_with_parent(launcher_pid)
            _work(config_data, study_name, url, conn, threads)
        except KeyboardInterrupt:  # run_trial already re-queued the running trial
            sys.exit(130)
        except EOFError:  # the launcher is gone
            sys.exit(0)


def _work(config_data: dict, study_name: str, url: str, conn, threads: int) -> None:
    os.environ["VAE_SWEEPS_THREADS"] = str(threads)
    from sweep.cli import quiet_logging
    from sweep.objective import Objective
    from sweep.search import make_pruner, make_sampler
    from sweep.storage import make_storage
    from sweep.tracking import Tracker
    from common.errors import UserError

    quiet_logging()
    config = SweepConfig.model_validate(config_data)
    try:
        storage = make_storage(url, config.heartbeat_seconds, config.storage_retry_seconds)
        study = optuna.load_study(study_name=study_name, storage=storage, sampler=make_sampler(config),
                                  pruner=make_pruner(config))
        tracker = Tracker.create(config.wandb.project, config.study, config.wandb.mode, config.out,
                                 config.wandb.entity, warn=lambda line: conn.send(("warning", line)))
        objective = Objective(config, tracker, lambda *epoch: conn.send(("epoch", *epoch)))
        while (trial_id := conn.recv()) is not STOP:
            run_trial(study, storage, optuna_adapter.attach(study, trial_id), objective)
            conn.send(("done", trial_id))
    except (MachineFault, UserError) as error:  # its trial is re-queued, or goes stale and is re-queued later
        try:
            kind = "fault" if isinstance(error, MachineFault) and not isinstance(error, StorageUnavailable) \
                else "unavailable"
            conn.send((kind, str(error)))
        except (OSError, ValueError):
            pass
        sys.exit(EXIT_MACHINE)
