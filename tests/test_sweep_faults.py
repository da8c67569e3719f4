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
from postgres_server import postgres_server
from small_disk import small_disk
from sweep import launch, objective, relog
from test_sweep_flow import FakeNonFinite, fake_run
from test_sweep_outage import outage, query
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
        assert not any(t.user_attrs.get("worker_deaths") for t in after)  # stopped by the machine, not a death
        assert [(t.number, t.datetime_complete) for t in after[:2]] == [(t.number, t.datetime_complete)
                                                                       for t in before[:2]]  # not run again
        assert all(folder_complete(disk.outside(Path(t.user_attrs["artifact_dir"]).relative_to(disk.folder)))
                   for t in after if t.state.name == "COMPLETE")


def wandb_services() -> list[psutil.Process]:
    return [child for child in psutil.Process().children(recursive=True) if child.name() == "wandb-core"]


def test_a_killed_wandb_service_switches_wandb_off_and_relog_logs_what_it_missed(tmp_path, capsys, monkeypatch,
                                                                                 wandb_root):
    from common.wandb_adapter import read_run

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


CHAOS_GRID = ["--set", "search.space.beta=[0.5, 1.0, 2.0, 4.0]"]  # x reduction [sum, mean] = 8 points
CHAOS_TRIALS = ["--set", "trial.dataset=digits", "--set", "trial.hidden=[16]", "--set", "trial.iwae_samples=2",
                "--set", "trial.epochs=3", "--set", "trial.sample_metrics=false", "--set", "heartbeat_seconds=1",
                "--set", "storage_retry_seconds=60"]
RUNNERS = ("select r.value_json from trials t join trial_user_attributes r on r.trial_id = t.trial_id "
           "and r.key = 'runner' where t.state = 'RUNNING'")


def running_in(url: str, *processes: subprocess.Popen) -> bool:
    """Each of `processes` runs a trial (it has started it: its runner is recorded)."""
    pids = {json.loads(value)["pid"] for (value,) in query(url, RUNNERS)}
    return all(process.pid in pids for process in processes)


def wait(condition, logs: dict[str, Path], timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, {name: log.read_text()[-1000:] for name, log in logs.items()}
        time.sleep(0.1)


def test_chaos_two_launchers_through_a_full_disk_a_kill_9_a_dead_wandb_and_a_database_restart(tmp_path):
    """One sweep of 2 launchers on PostgreSQL: A's disk fills up for 10 s, B is killed -9 mid-trial, B's relaunch
    loses its W&B service and then its database for 2 s mid-trial. Each launcher is relaunched at most once; at the
    end every grid point is COMPLETE exactly once and no traceback reached the console."""
    logs: dict[str, Path] = {}

    def start(name: str, prefix: list[str], out: Path) -> subprocess.Popen:
        logs[name] = tmp_path / f"{name}.txt"
        command = [*prefix, sys.executable, "-m", "sweep.launch", "configs/smoke.yaml", "--storage", url,
                   "--out", str(out), "--no-report", "--workers", "1", *CHAOS_GRID, *CHAOS_TRIALS]
        return subprocess.Popen(command, cwd=REPO, env=ENV, stdout=logs[name].open("w"), stderr=subprocess.STDOUT)

    with small_disk(tmp_path / "disk", size="32m") as disk, postgres_server() as url:
        a_out, b_out = disk.folder / "runs", tmp_path / "b"
        a, b = start("a", disk.command(cwd=REPO), a_out), start("b", [], b_out)
        wait(lambda: running_in(url, a, b), logs)  # both are in a trial
        ballast = disk.fill()
        filled = time.monotonic()
        b.kill()
        b.wait()
        b2 = start("b2", [], b_out)
        assert a.wait(timeout=120) == 75, logs["a"].read_text()[-2000:]
        wait(lambda: any(child.name() == "wandb-core" for child in psutil.Process(b2.pid).children(recursive=True)),
             logs)
        for child in psutil.Process(b2.pid).children(recursive=True):
            if child.name() == "wandb-core":
                child.kill()
        wait(lambda: running_in(url, b2), logs)
        outage(url, 2)
        time.sleep(max(0.0, 10 - (time.monotonic() - filled)))
        ballast.unlink()
        a2 = start("a2", disk.command(cwd=REPO), a_out)
        codes = {name: process.wait(timeout=600) for name, process in (("a2", a2), ("b2", b2))}
        texts = {name: log.read_text() for name, log in logs.items()}
        all_trials = trials(url)
        folders = [disk.outside(Path(t.user_attrs["artifact_dir"]).relative_to(disk.folder))
                   if Path(t.user_attrs["artifact_dir"]).is_relative_to(disk.folder) else t.user_attrs["artifact_dir"]
                   for t in all_trials if t.state.name == "COMPLETE"]
        assert all(folder_complete(folder) for folder in folders)
    assert b.returncode == -signal.SIGKILL and codes == {"a2": 0, "b2": 0}, {**codes, **texts}
    assert_each_point_complete_once(all_trials, points=8)
    assert not [name for name, text in texts.items() if "Traceback" in text], texts
    [line] = errors(texts["a"])
    assert "No space left on device writing" in line and str(a_out) in line and "free space" in line, line
    assert [line for line in texts["b2"].splitlines() if "W&B stopped working" in line], texts["b2"]
    assert "reachable again" in texts["b2"] and not errors(texts["b2"])
    assert any(t.user_attrs.get("machine_fault") for t in all_trials)  # A's trial: re-queued, not failed
    assert any("stopped by the machine were re-run" in texts[name] or "stopped by the machine was re-run"
               in texts[name] for name in ("a2", "b2"))
