"""Faults of the machine are not faults of the trial: a disk that fills up for real, the real W&B service killed,
and one chaos run of two launchers through all of it at once (plus a PostgreSQL restart and a kill -9).

The first two run the launcher in-process with the fake trainer of tests/test_sweep_flow.py (no TensorFlow): the
faults are real (a full tmpfs under the output folder and its SQLite file, a SIGKILLed `wandb-core`), only the
training is not. The chaos run is real end to end (`python -m sweep.launch` subprocesses, tiny digits trials).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import psutil
import pytest
import yaml

from common.results import folder_complete
from conftest import REPO, run_in_process
from small_disk import small_disk
from sweep import launch, objective, relog
from test_sweep_flow import FakeNonFinite, fake_run
from test_sweep_workers import ENV, assert_each_point_complete_once, trials

GRID = {"beta": [1.0, 2.0], "reduction": ["sum", "mean"]}  # 4 points, in this order: (1, sum), (1, mean), (2, sum), ...


@pytest.fixture(autouse=True)
def wandb_root(monkeypatch, tmp_path):
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wandb-root"))
    monkeypatch.setenv("WANDB_SILENT", "true")
    return tmp_path / "wandb-root"


def config_file(folder: Path, out: Path, wandb: str = "disabled", space: dict | None = None) -> str:
    data = {"study": "t", "out": str(out), "wandb": {"mode": wandb}, "heartbeat_seconds": 1,
            "search": {"method": "grid", "space": space or GRID}, "trial": {"epochs": 3, "latent_dim": 2}}
    path = folder / "sweep.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def trainer_that(monkeypatch, action, when) -> list:
    """The fake trainer, which first does `action()` in the trial whose config matches `when` (once)."""
    done: list = []

    def run(config, out_dir=None, on_epoch=None, verbose=0):
        if when(config) and not done:
            done.append(action())
        return fake_run(config, out_dir, on_epoch, verbose)

    monkeypatch.setattr(objective, "load_trainer", lambda: (run, FakeNonFinite))
    return done


def errors(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("error:")]


# The launcher with the fake trainer, run as `python -m sweep.launch` would be; in the trial whose beta is argv[1]
# (if any) the trainer first fills the disk under the output folder (argv[2]) with a ballast file.
FULL_DISK_DRIVER = """
import os, sys
from sweep import launch, objective
from small_disk import fill
from test_sweep_flow import FakeNonFinite, fake_run
beta, ballast = float(sys.argv[1]), os.path.join(sys.argv[2], "ballast")
def run(config, out_dir=None, on_epoch=None, verbose=0):
    if config.beta == beta and not os.path.exists(ballast):
        fill(ballast)
    return fake_run(config, out_dir, on_epoch, verbose)
objective.load_trainer = lambda: (run, FakeNonFinite)
sys.exit(launch.main(sys.argv[3:]))
"""


def copied(database: Path, to: Path) -> str:
    """The URL of a copy of `database` (SQLite resolves /proc/<pid>/root to this namespace's root)."""
    shutil.copyfile(database, to)
    return f"sqlite:///{to}"


def test_a_full_disk_stops_the_sweep_with_75_and_the_same_command_then_finishes_it(tmp_path):
    """The output folder and its SQLite file on a 4 MB tmpfs that fills up in the middle of the third trial."""
    with small_disk(tmp_path / "disk", size="4m") as disk:
        out = disk.folder / "runs"
        command = [config_file(tmp_path, out), "--no-report", "--workers", "1"]
        env = {**ENV, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests")])}

        def launch_in_namespace(fill_at_beta: float) -> subprocess.CompletedProcess:
            return subprocess.run(disk.command(sys.executable, "-c", FULL_DISK_DRIVER, str(fill_at_beta),
                                               str(disk.folder), *command),
                                  cwd=REPO, env=env, capture_output=True, text=True, timeout=300)

        stopped = launch_in_namespace(2.0)
        assert stopped.returncode == 75, stopped.stderr[-2000:]
        assert "Traceback" not in stopped.stderr
        [line] = errors(stopped.stderr)
        assert str(out) in line and "free space" in line and "run the same command again" in line, line
        before = trials(copied(disk.outside("runs/sweeps.db"), tmp_path / "before.db"), "t")
        assert [t.state.name for t in before[:2]] == ["COMPLETE", "COMPLETE"]
        assert not any(t.state.name == "FAIL" and "retry_of" not in t.user_attrs for t in before)  # no verdict
        assert not disk.outside(f"runs/t/trial-{before[2].number}").exists()  # its folder: complete or absent

        disk.outside("ballast").unlink()  # space freed: the same command goes on
        resumed = launch_in_namespace(0.0)
        assert resumed.returncode == 0, resumed.stderr[-2000:]
        after = trials(copied(disk.outside("runs/sweeps.db"), tmp_path / "after.db"), "t")
        assert_each_point_complete_once(after)
        assert [(t.number, t.datetime_complete) for t in after[:2]] == [(t.number, t.datetime_complete)
                                                                       for t in before[:2]]  # not run again
        assert all(folder_complete(disk.outside(Path(t.user_attrs["artifact_dir"]).relative_to(disk.folder)))
                   for t in after if t.state.name == "COMPLETE")
    print(stopped.stderr.splitlines()[-1], resumed.stdout.splitlines()[-2:], sep="\n")


def wandb_services() -> list[psutil.Process]:
    return [child for child in psutil.Process().children(recursive=True) if child.name() == "wandb-core"]


def test_a_killed_wandb_service_switches_wandb_off_and_relog_logs_what_it_missed(tmp_path, capsys, monkeypatch,
                                                                                 wandb_root):
    from analysis.wandb_file import read_run

    command = [config_file(tmp_path, tmp_path / "runs", wandb="offline", space={"beta": [1.0, 2.0, 4.0]}),
               "--no-report", "--workers", "1"]
    killed = trainer_that(monkeypatch, lambda: [service.kill() for service in wandb_services()],
                          lambda config: config.beta == 2.0)  # mid-trial: its W&B run has started
    result = run_in_process(launch.main, *command, capsys=capsys)
    assert killed and killed[0], "no wandb-core process to kill"
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Traceback" not in result.stderr + result.stdout
    warnings = [line for line in result.stderr.splitlines() if "W&B" in line]
    assert len(warnings) == 1 and "stopped working" in warnings[0] and "sweep.relog" in warnings[0], warnings
    url = f"sqlite:///{tmp_path / 'runs' / 'sweeps.db'}"
    study = optuna.load_study(study_name="t", storage=url)
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 3
    assert [bool(t.user_attrs.get("wandb_unlogged")) for t in study.trials] == [False, True, True]

    relogged = run_in_process(relog.main, *command[:1], capsys=capsys)
    assert relogged.returncode == 0, relogged.stderr[-2000:]
    assert "2 of 2 trials" in relogged.stdout
    import wandb

    wandb.teardown()  # the service may still be writing the run files when finish() returns
    runs = {}
    for path in sorted(wandb_root.glob("wandb/offline-run-*/run-*.wandb")):
        run = read_run(path)
        if run.exit_code == 0:
            runs[run.name] = run
    assert set(runs) == {"trial-0", "trial-1", "trial-2"}
    for trial in study.trials:
        run = runs[f"trial-{trial.number}"]
        assert run.summary["test/nelbo"] == pytest.approx(trial.value)
        assert [row["epoch"] for row in run.history if "epoch" in row] == [0, 1, 2]
        assert run.group == "t" and run.config["trial_number"] == trial.number
    assert runs["trial-1"].run_id == study.trials[1].user_attrs["wandb_run_id"]  # the broken run, now complete
    again = run_in_process(relog.main, *command[:1], capsys=capsys)
    assert again.returncode == 0 and "0 of 0 trials" in again.stdout  # each trial is logged once
