"""SIGINT / SIGTERM at every moment of `python -m sweep.launch`: exit 130, finished trials kept, running ones re-queued.

Each test runs the real launcher in its own process (and process group). To hit a moment exactly, the process
sends the signal to itself (or to its whole process group, as a terminal's Ctrl-C does) from inside a function
of that moment: a thin driver wraps the function and then calls `sweep.launch.main` as `python -m` would.
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

from conftest import REPO

TINY = ["--set", "trial.dataset=digits", "--set", "trial.hidden=[16]", "--set", "trial.latent_dim=2",
        "--set", "trial.iwae_samples=2", "--set", "trial.epochs=2", "--set", "heartbeat_seconds=1",
        "--set", "search.space.beta=[1.0, 4.0]", "--set", "search.space.reduction=[sum]"]  # 2 grid points
ENV = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true", "TF_CPP_MIN_LOG_LEVEL": "3"}

DRIVER = """
import functools, importlib, os, signal, sys, threading
module_name, attribute, call, delay, signum, target = sys.argv[1:7]
owner = importlib.import_module(module_name)
holder, name = (getattr(owner, attribute.split(".")[0]), attribute.split(".")[1]) if "." in attribute \\
    else (owner, attribute)
original = getattr(holder, name)
calls = []

@functools.wraps(original)
def wrapped(*args, **kwargs):
    calls.append(1)
    if len(calls) == int(call):
        send = functools.partial(os.killpg, os.getpgid(0)) if target == "group" else functools.partial(os.kill, os.getpid())
        if float(delay):  # a while into the call (from another thread)
            threading.Timer(float(delay), send, [int(signum)]).start()
        else:
            send(int(signum))
    return original(*args, **kwargs)

setattr(holder, name, wrapped)
from sweep.launch import main
sys.argv = ["python -m sweep.launch", *sys.argv[7:]]
sys.exit(main())
"""


def launch_args(out: Path, *extra: str) -> list[str]:
    return ["configs/smoke.yaml", "--out", str(out), "--wandb-mode", "offline", *TINY, "--workers", "1", *extra]


def run_signalled(out: Path, moment: str, call: int, signum: int, *extra: str, target: str = "self",
                  delay: float = 0.0, ignore_sigint: bool = False) -> subprocess.CompletedProcess:
    """The launcher, signalled on the `call`-th call of `moment` ("module:function" or "module:Class.method"),
    at its start or `delay` seconds into it; `target="group"` signals the launcher's whole process group."""
    module, attribute = moment.split(":")
    command = [sys.executable, "-c", DRIVER, module, attribute, str(call), str(delay), str(int(signum)), target,
               *launch_args(out, *extra)]

    def start() -> None:
        if ignore_sigint:  # what a background job of a non-interactive shell inherits
            signal.signal(signal.SIGINT, signal.SIG_IGN)

    return subprocess.run(command, cwd=REPO, env=ENV, capture_output=True, text=True, timeout=300,
                          start_new_session=True, preexec_fn=start)


def relaunch(out: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sweep.launch", *launch_args(out, *extra)], cwd=REPO, env=ENV,
                          capture_output=True, text=True, timeout=300)


def trials(out: Path) -> list[optuna.trial.FrozenTrial]:
    if not (out / "sweeps.db").exists():
        return []
    try:
        return optuna.load_study(study_name="smoke", storage=f"sqlite:///{out / 'sweeps.db'}").get_trials()
    except KeyError:  # no such study
        return []


def assert_stopped_cleanly(result: subprocess.CompletedProcess, out: Path) -> list[optuna.trial.FrozenTrial]:
    assert result.returncode == 130, (result.returncode, result.stdout[-2000:], result.stderr[-3000:])
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert "to resume, run the same command again: python -m sweep.launch " in result.stderr
    stopped = trials(out)
    assert not [t.number for t in stopped if t.state.name == "RUNNING"]
    retried = {t.user_attrs["retry_of"] for t in stopped if "retry_of" in t.user_attrs}
    for trial in stopped:
        if trial.state.name == "FAIL":  # every interrupted trial has a queued re-run with its parameters
            assert "interrupted" in trial.user_attrs["fail_reason"] and trial.number in retried
    return stopped


def assert_relaunch_completes(out: Path, finished_before: dict[int, float], *extra: str) -> None:
    result = relaunch(out, "--no-report", *extra)
    assert result.returncode == 0, result.stderr[-3000:]
    after = trials(out)
    complete = [t for t in after if t.state.name == "COMPLETE"]
    assert sorted(t.user_attrs["grid_point"] for t in complete) == [0, 1]
    for number, value in finished_before.items():  # kept, not run again
        assert after[number].state.name == "COMPLETE" and after[number].value == value
    if finished_before:
        assert f"{len(finished_before)} of 2 trials already finished, resuming" in result.stdout


def finished(stopped: list[optuna.trial.FrozenTrial]) -> dict[int, float]:
    return {t.number: t.value for t in stopped if t.state.name == "COMPLETE"}


def test_at_start_up_before_anything_is_stored(tmp_path):
    result = run_signalled(tmp_path, "sweep.launch:check_datasets", 1, signal.SIGTERM, "--no-report")
    assert assert_stopped_cleanly(result, tmp_path) == []


def test_while_the_study_is_created_it_is_still_completed(tmp_path):
    """A signal while the grid is being queued takes effect once the study is ready (no half-created study)."""
    result = run_signalled(tmp_path, "sweep.storage:enqueue_grid", 1, signal.SIGINT, "--no-report")
    stopped = assert_stopped_cleanly(result, tmp_path)
    assert [t.state.name for t in stopped] == ["WAITING", "WAITING"]
    study = optuna.load_study(study_name="smoke", storage=f"sqlite:///{tmp_path / 'sweeps.db'}")
    assert study.user_attrs["ready"] is True  # a relaunch will not wait for a creator that is gone


def test_while_taking_the_next_trial_after_one_finished(tmp_path):
    result = run_signalled(tmp_path, "sweep.pool:next_trial", 2, signal.SIGTERM, "--no-report")
    stopped = assert_stopped_cleanly(result, tmp_path)
    assert [t.state.name for t in stopped[:2]] == ["COMPLETE", "FAIL"]  # the trial just taken is re-queued
    assert_relaunch_completes(tmp_path, finished(stopped))


def test_during_a_trial_started_with_sigint_ignored(tmp_path):
    """As a background job of a script (`... &`): SIGINT was ignored when the launcher started. (A relaunch from
    this state, one trial finished and one re-queued, is the test above.)"""
    result = run_signalled(tmp_path, "vae.fit:Trainer.run_epoch", 3, signal.SIGINT, "--no-report",
                           ignore_sigint=True)  # epoch 1 of the second trial
    stopped = assert_stopped_cleanly(result, tmp_path)
    assert [t.state.name for t in stopped[:2]] == ["COMPLETE", "FAIL"]


def test_ctrl_c_while_the_workers_start(tmp_path):
    """Ctrl-C reaches the launcher and the first worker, which is still starting."""
    result = run_signalled(tmp_path, "sweep.pool:_Pool._start", 2, signal.SIGINT, "--no-report", "--workers", "2",
                           target="group")
    stopped = assert_stopped_cleanly(result, tmp_path)
    assert [t.state.name for t in stopped] == ["WAITING", "WAITING"]  # no trial had been handed out yet


def test_during_the_report(tmp_path):
    """Ctrl-C while the report runs: every trial stays finished, no notebook kernel is left behind."""
    result = run_signalled(tmp_path, "sweep.launch:run_report", 1, signal.SIGINT, delay=3.0, target="group")
    stopped = assert_stopped_cleanly(result, tmp_path)
    assert [t.state.name for t in stopped] == ["COMPLETE", "COMPLETE"]
    deadline = time.monotonic() + 30
    while kernels_of(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not kernels_of(tmp_path)


def kernels_of(out: Path) -> list[int]:
    """Notebook kernels whose working folder is the report folder of this sweep."""
    report = str(out / "smoke" / "report")
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.readlink(entry / "cwd") == report and b"ipykernel" in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found
