"""Many workers, crashes and resumes, for real: `python -m sweep.launch` subprocesses on SQLite (two launchers
sharing a PostgreSQL sweep: tests/test_slurm_example.py; PostgreSQL outages: tests/test_sweep_outage.py).

Each grid point must end COMPLETE exactly once; every other trial must be an interrupted one that was re-queued.
"""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from analysis.load import trials as load_trials
from common.wandb_adapter import read_run
from conftest import REPO
from sweep.optuna_adapter import enqueued_params

GRID = ["--set", "search.space.beta=[0.5, 4.0]"]  # x reduction [sum, mean] = 4 points
# Small trials on the 8x8 digits: what these tests check is the queue, not the model.
TINY = ["--set", "trial.dataset=digits", "--set", "trial.hidden=[64]", "--set", "trial.iwae_samples=2"]
LONG_TRIALS = ["--set", "trial.epochs=100"]  # a few seconds each: long enough to be signalled mid-trial
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


def complete_count(database: Path) -> int:
    try:
        with sqlite3.connect(database) as connection:
            return connection.execute("select count(*) from trials where state = 'COMPLETE'").fetchone()[0]
    except sqlite3.Error:
        return 0


def start_and_wait_for_first_trial(out: Path, *extra: str) -> subprocess.Popen:
    """Start a sweep whose trials take a few seconds; return once the first one is COMPLETE."""
    process = subprocess.Popen(launch_command(out, *LONG_TRIALS, *extra), cwd=REPO, env=ENV,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while complete_count(out / "sweeps.db") < 1:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.2)
    return process


def wait_for_exit(process: subprocess.Popen, timeout: float = 120) -> tuple[str, str]:
    """`communicate`, but a launcher that does not stop fails the test with what was still running."""
    try:
        return process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        state = "still running" if process.poll() is None else f"exited {process.returncode}, pipes held open"
        table = subprocess.run(["ps", "-eo", "pid,ppid,stat,etime,args"], capture_output=True, text=True).stdout
        related = [line for line in table.splitlines() if "sweep" in line or "wandb" in line or "spawn" in line]
        process.kill()
        _, stderr = process.communicate()
        pytest.fail(f"launcher {state} {timeout} s after the signal; processes: {related}; stderr: {stderr[-2000:]}")


def sqlite_url(out: Path) -> str:
    return f"sqlite:///{out / 'sweeps.db'}"


def wait_for_a_running_trial_with_its_wandb_run(out: Path) -> None:
    """The kill must land mid-training: after the next trial has started its W&B run (it records the run id)."""
    deadline = time.monotonic() + 120
    while not any(t.state.name == "RUNNING" and "wandb_run_id" in t.user_attrs for t in trials(sqlite_url(out))):
        assert time.monotonic() < deadline
        time.sleep(0.2)


def test_kill_9_of_the_launcher_then_relaunch_finishes_the_sweep(tmp_path):
    process = start_and_wait_for_first_trial(tmp_path)
    first = trials(sqlite_url(tmp_path))[0]
    wait_for_a_running_trial_with_its_wandb_run(tmp_path)
    process.send_signal(signal.SIGKILL)
    process.communicate()
    interrupted = [t for t in trials(sqlite_url(tmp_path)) if t.state.name == "RUNNING"]
    assert len(interrupted) == 1
    run_dirs = list((tmp_path / "wandb").glob(f"offline-run-*-{interrupted[0].user_attrs['wandb_run_id']}"))
    assert read_run(next(run_dirs[0].glob("*.wandb"))).exit_code is None  # not left looking finished

    result = launch(tmp_path, *LONG_TRIALS)  # the same command again
    assert result.returncode == 0, result.stderr[-2000:]
    after = trials(sqlite_url(tmp_path))
    assert_each_point_complete_once(after)
    assert after[0].number == first.number and after[0].state == first.state
    assert after[0].value == first.value and after[0].user_attrs == first.user_attrs
    assert after[0].datetime_complete == first.datetime_complete  # not re-run
    retry = next(t for t in after if t.user_attrs.get("retry_of") == interrupted[0].number)
    assert "heartbeats" in retry.user_attrs["retry_reason"]
    assert retry.params == interrupted[0].params
    frame = load_trials(sqlite_url(tmp_path), "smoke")  # the analysis sees the re-run, not the interrupted one
    assert len(frame) == 4 and set(frame["state"]) == {"COMPLETE"}
    assert frame.attrs["study_attrs"]["reruns"] == 1


def test_ctrl_c_keeps_finished_trials_and_requeues_the_running_ones(tmp_path):
    process = start_and_wait_for_first_trial(tmp_path, "--workers", "2")
    # with 2 workers trial 1 may finish before trial 0: whichever finished before the signal must stay finished
    finished = {t.number for t in trials(sqlite_url(tmp_path)) if t.state.name == "COMPLETE"}
    process.send_signal(signal.SIGINT)
    _, stderr = wait_for_exit(process)
    assert process.returncode == 130, stderr[-2000:]
    assert "Traceback" not in stderr
    stopped = trials(sqlite_url(tmp_path))
    assert finished and all(stopped[number].state.name == "COMPLETE" for number in finished)
    failed = [t for t in stopped if t.state.name == "FAIL"]
    assert failed and all("interrupted" in t.user_attrs["fail_reason"] for t in failed)
    assert not [t for t in stopped if t.state.name == "RUNNING"]
    # each interrupted trial is queued again with its parameters; running such a queue to the end after a signal
    # is tests/test_sweep_signals.py's relaunch, after a kill -9 the relaunch above
    queued = {t.user_attrs["retry_of"]: t for t in stopped if t.state.name == "WAITING" and "retry_of" in t.user_attrs}
    assert sorted(queued) == [t.number for t in failed]
    assert all(enqueued_params(queued[t.number]) == t.params for t in failed)
    points = [t.user_attrs["grid_point"] for t in stopped if t.state.name in ("COMPLETE", "WAITING")]
    assert sorted(points) == [0, 1, 2, 3]  # finished + queued: every point once, nothing lost


def test_a_killed_worker_process_is_replaced_and_its_trial_requeued(tmp_path):
    """Two local workers run the grid; one of them is killed while the sweep runs."""
    process = start_and_wait_for_first_trial(tmp_path, "--workers", "2")
    workers = [pid for pid in map(int, subprocess.run(["pgrep", "-P", str(process.pid)], capture_output=True,
                                                      text=True).stdout.split())
               if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]
    assert len(workers) == 2
    os.kill(workers[0], signal.SIGKILL)
    stdout, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr[-2000:]
    assert "; 2 workers;" in stdout
    all_trials = trials(sqlite_url(tmp_path))
    assert_each_point_complete_once(all_trials)
    died = [t for t in all_trials if t.state.name == "FAIL"]
    assert len(died) <= 1 and all("worker process died" in t.user_attrs["fail_reason"] for t in died)
    for trial in all_trials:  # each finished trial has its own offline W&B run
        if trial.state.name == "COMPLETE":
            assert len(list((tmp_path / "wandb").glob(f"offline-run-*-{trial.user_attrs['wandb_run_id']}"))) == 1


@pytest.mark.parametrize("workers", ["0", "-1"])
def test_workers_must_be_positive(tmp_path, workers):
    result = launch(tmp_path, "--workers", workers)
    assert result.returncode == 2 and "--workers" in result.stderr and "Traceback" not in result.stderr
    assert not tmp_path.joinpath("sweeps.db").exists()
