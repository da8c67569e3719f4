"""Many workers, crashes and resumes, for real: `python -m sweep.launch` subprocesses on SQLite (two launchers
sharing a PostgreSQL sweep: tests/test_slurm_example.py; PostgreSQL outages: tests/test_sweep_outage.py).

Each grid point must end COMPLETE exactly once; every other trial must be an interrupted one that was re-queued.
"""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

import optuna
import psutil
import pytest

from analysis.read.load import trials as load_trials
from common.wandb_adapter import read_run
from conftest import REPO
from sweep.optuna_adapter import enqueued_params

GRID = ["--set", "search.space.beta=[0.5, 4.0]"]  # x reduction [sum, mean] = 4 points
# Small trials on the 8x8 digits: what these tests check is the queue, not the model.
TINY = ["--set", "trial.dataset=digits", "--set", "trial.hidden=[64]", "--set", "trial.iwae_samples=2"]
LONG_TRIALS = ["--set", "trial.epochs=30"]  # a second or more each: trials overlap in two workers
ENV = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true", "TF_CPP_MIN_LOG_LEVEL": "3"}


def launch_command(out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "sweep.launch", "configs/smoke.yaml", "--out", str(out), "--no-report",
            "--set", "heartbeat_seconds=1", *GRID, *TINY, "--workers", "1", *extra]


def launch(out: Path, *extra: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(launch_command(out, *extra), cwd=REPO, env={**ENV, **(env or {})}, capture_output=True,
                          text=True, timeout=600)


def trials(url: str, study: str = "smoke") -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=study, storage=url).get_trials(deepcopy=False)


def assert_each_point_complete_once(all_trials: list[optuna.trial.FrozenTrial], points: int = 4) -> None:
    complete = [t for t in all_trials if t.state.name == "COMPLETE"]
    assert sorted(t.user_attrs["grid_point"] for t in complete) == list(range(points)), \
        [(t.number, t.state.name, t.user_attrs.get("grid_point")) for t in all_trials]
    requeued = {t.user_attrs["retry_of"] for t in all_trials if "retry_of" in t.user_attrs}
    for trial in all_trials:
        if trial.state.name != "COMPLETE":
            assert trial.state.name == "FAIL" and trial.number in requeued, (trial.number, trial.state)


def sqlite_url(out: Path) -> str:
    return f"sqlite:///{out / 'sweeps.db'}"


# A fifth grid point, long (300 epochs): the poison trial. Its process is SIGKILLed each time it starts it (as the
# kernel's OOM killer would), always mid-training: the other four points take about a second each.
POISON = ["--set", "search.include=[{beta: 1.0, epochs: 300}]", "--set", "search.max_retries=1"]
POISON_POINT = 4


def running_at(database: Path, point: int) -> list[tuple[int, dict, bool]]:
    """(number, runner, has a W&B run) of the RUNNING trials of grid point `point`."""
    query = ("select t.number, r.value_json, exists(select 1 from trial_user_attributes w where "
             "w.trial_id = t.trial_id and w.key = 'wandb_run_id') from trials t "
             "join trial_user_attributes g on g.trial_id = t.trial_id and g.key = 'grid_point' "
             "join trial_user_attributes r on r.trial_id = t.trial_id and r.key = 'runner' "
             "where t.state = 'RUNNING' and g.value_json = ?")
    try:
        with sqlite3.connect(database, timeout=0.5) as connection:
            rows = connection.execute(query, (str(point),)).fetchall()
    except sqlite3.Error:
        return []
    return [(number, json.loads(runner), bool(wandb)) for number, runner, wandb in rows]


@contextmanager
def killing_whoever_runs(database: Path, point: int):
    """SIGKILL the process running grid point `point` (a worker, or the launcher itself under --workers 1) once it
    has started its W&B run, each time; yields {trial number: pid killed}. Only processes this test started."""
    killed: dict[int, int] = {}
    stop = threading.Event()
    mine = psutil.Process()

    def watch() -> None:
        while not stop.wait(0.1):
            for number, runner, started in running_at(database, point):
                pid = runner["pid"]
                if number in killed or not started or pid not in {p.pid for p in mine.children(recursive=True)}:
                    continue
                os.kill(pid, signal.SIGKILL)
                killed[number] = pid

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield killed
    finally:
        stop.set()
        watcher.join()


def assert_poisoned(all_trials: list[optuna.trial.FrozenTrial], who: str, cause: str) -> None:
    """Points 0-3 COMPLETE once; the poison point re-run once, then failed with its reason."""
    complete = sorted(t.user_attrs["grid_point"] for t in all_trials if t.state.name == "COMPLETE")
    assert complete == [0, 1, 2, 3], [(t.number, t.state.name, t.user_attrs) for t in all_trials]
    first, last = [t for t in all_trials if t.user_attrs["grid_point"] == POISON_POINT]
    assert first.state.name == last.state.name == "FAIL"
    assert first.user_attrs["fail_reason"] == f"{who} process died ({cause})" and first.user_attrs["worker_deaths"] == 1
    assert last.user_attrs["retry_of"] == first.number and last.params == first.params
    assert last.user_attrs["fail_reason"] == f"{who} died 2 times ({cause})" and last.user_attrs["worker_deaths"] == 2


def test_a_trial_that_kills_its_launcher_each_time_fails_after_its_retries(tmp_path):
    """--workers 1: the trial runs inside the launcher, so the launcher dies; the study counts the deaths."""
    with killing_whoever_runs(tmp_path / "sweeps.db", POISON_POINT) as killed:
        first = launch(tmp_path, *POISON)
        assert first.returncode == -signal.SIGKILL, first.stderr[-2000:]
        finished = [t for t in trials(sqlite_url(tmp_path)) if t.state.name == "COMPLETE"]
        [lost] = [t for t in trials(sqlite_url(tmp_path)) if t.state.name == "RUNNING"]
        run_dirs = list((tmp_path / "wandb").glob(f"offline-run-*-{lost.user_attrs['wandb_run_id']}"))
        assert read_run(next(run_dirs[0].glob("*.wandb"))).exit_code is None  # not left looking finished
        second = launch(tmp_path, *POISON)  # re-queues it (one death), takes it again, and dies with it
        assert second.returncode == -signal.SIGKILL, second.stderr[-2000:]
        last = launch(tmp_path, *POISON)
    assert last.returncode == 0, last.stderr[-2000:]
    assert len(killed) == 2 and "Traceback" not in last.stderr
    assert "5 of 5 trials finished: 4 done, 1 failed" in last.stdout
    after = trials(sqlite_url(tmp_path))
    assert_poisoned(after, "launcher", "its heartbeats stopped: killed (out of memory?) or cut off from the storage")
    assert [(t.number, t.user_attrs, t.datetime_complete) for t in finished] == [
        (t.number, t.user_attrs, t.datetime_complete) for t in after if t.number in {f.number for f in finished}]
    frame = load_trials(sqlite_url(tmp_path), "smoke")  # the analysis sees the last verdict, not the deaths
    assert len(frame) == 5 and sorted(frame["state"]) == ["COMPLETE"] * 4 + ["FAIL"]
    assert frame.attrs["study_attrs"]["reruns"] == 1


def test_a_trial_that_kills_its_worker_each_time_fails_after_its_retries(tmp_path):
    """--workers 2: the dead worker is replaced, its trial re-queued once, then failed; the rest finish, exit 0."""
    with killing_whoever_runs(tmp_path / "sweeps.db", POISON_POINT) as killed:
        result = launch(tmp_path, *POISON, "--workers", "2")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "; 2 workers;" in result.stdout and "5 of 5 trials finished: 4 done, 1 failed" in result.stdout
    assert len(set(killed.values())) == 2 and "Traceback" not in result.stderr
    all_trials = trials(sqlite_url(tmp_path))
    assert_poisoned(all_trials, "worker", "signal 9: out of memory?")
    for trial in all_trials:  # each finished trial has its own offline W&B run
        if trial.state.name == "COMPLETE":
            assert len(list((tmp_path / "wandb").glob(f"offline-run-*-{trial.user_attrs['wandb_run_id']}"))) == 1


# The launcher, which sends itself SIGINT (as Ctrl-C would) when a worker reports an epoch of a trial that is not its
# last, once a trial has finished: a finished trial to keep and a running one to re-queue, whatever the timing.
CTRL_C_DRIVER = """
import os, signal, sys
from sweep import launch, progress
done, epoch_of = progress.SweepProgress.trial_done, progress.SweepProgress.epoch
def trial_done(self, study, trial):
    self.finished = True
    done(self, study, trial)
def epoch(self, number, epoch, epochs):
    epoch_of(self, number, epoch, epochs)
    if getattr(self, "finished", False) and epoch < epochs - 1:
        os.kill(os.getpid(), signal.SIGINT)
progress.SweepProgress.trial_done, progress.SweepProgress.epoch = trial_done, epoch
sys.exit(launch.main(sys.argv[1:]))
"""


def test_ctrl_c_keeps_finished_trials_and_requeues_the_running_ones(tmp_path):
    command = launch_command(tmp_path, *LONG_TRIALS, "--workers", "2")
    stopped = subprocess.run([sys.executable, "-c", CTRL_C_DRIVER, *command[3:]], cwd=REPO, env=ENV,
                             capture_output=True, text=True, timeout=600)
    assert stopped.returncode == 130, stopped.stderr[-2000:]
    assert "Traceback" not in stopped.stderr
    stopped_trials = trials(sqlite_url(tmp_path))
    finished = [t for t in stopped_trials if t.state.name == "COMPLETE"]
    failed = [t for t in stopped_trials if t.state.name == "FAIL"]
    assert finished and failed and all("interrupted" in t.user_attrs["fail_reason"] for t in failed)
    assert not [t for t in stopped_trials if t.state.name == "RUNNING"]
    # each interrupted trial is queued again with its parameters; running such a queue to the end after a signal
    # is tests/test_sweep_signals.py's relaunch, after a kill -9 the relaunch above
    queued = {t.user_attrs["retry_of"]: t for t in stopped_trials
              if t.state.name == "WAITING" and "retry_of" in t.user_attrs}
    assert sorted(queued) == [t.number for t in failed]
    assert all(enqueued_params(queued[t.number]) == t.params for t in failed)
    points = [t.user_attrs["grid_point"] for t in stopped_trials if t.state.name in ("COMPLETE", "WAITING")]
    assert sorted(points) == [0, 1, 2, 3]  # finished + queued: every point once, nothing lost


@pytest.mark.parametrize("workers", ["0", "-1"])
def test_workers_must_be_positive(tmp_path, workers):
    result = launch(tmp_path, "--workers", workers)
    assert result.returncode == 2 and "--workers" in result.stderr and "Traceback" not in result.stderr
    assert not tmp_path.joinpath("sweeps.db").exists()
