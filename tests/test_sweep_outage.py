"""Launchers ride out a database outage: a real PostgreSQL stopped (`pg_ctl stop -m fast`) and started again under
a running 2-launcher sweep, an outage longer than `storage_retry_seconds`, and an SQLite file locked by another
process. Tiny trials (digits, 3 epochs), 1 s heartbeats."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from conftest import REPO
from postgres_server import PASSWORD, postgres_server
from test_sweep_retry import hold_exclusive_lock
from test_sweep_workers import ENV, GRID, assert_each_point_complete_once, sqlite_url, trials

TINY = ["--set", "trial.dataset=digits", "--set", "trial.hidden=[32]", "--set", "trial.iwae_samples=2",
        "--set", "heartbeat_seconds=1"]
STORAGE_UNAVAILABLE_EXIT = 75  # README "Running on many machines"


def start(out: Path, *extra: str) -> subprocess.Popen:
    out.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "sweep.launch", "configs/smoke.yaml", "--out", str(out), "--no-report",
               *GRID, *TINY, "--workers", "1", *extra]
    return subprocess.Popen(command, cwd=REPO, env=ENV, stdout=(out / "stdout.txt").open("w"),
                            stderr=(out / "stderr.txt").open("w"), text=True)


def output(out: Path) -> str:
    return (out / "stdout.txt").read_text() + (out / "stderr.txt").read_text()


def query(url: str, sql: str) -> list[tuple]:
    """Read the study's tables directly; [] while the server is away or the tables do not exist yet."""
    try:
        with psycopg.connect(url, connect_timeout=2) as connection:
            return connection.execute(sql).fetchall()
    except psycopg.Error:
        return []


def wait_for(condition, processes, timeout: float = 300, every: float = 0.2) -> bool:
    """Poll `condition` until true; False if every launcher exited first."""
    deadline = time.monotonic() + timeout
    while not condition():
        if all(process.poll() is not None for process in processes):
            return False
        assert time.monotonic() < deadline, "timed out"
        time.sleep(every)
    return True


def outage(url, seconds: float) -> None:
    url.stop()
    time.sleep(seconds)
    url.start()


RUNNING = "select count(*) from trials where state = 'RUNNING'"
BEING_TOLD = ("select count(*) from trials t join trial_user_attributes a on a.trial_id = t.trial_id "
              "where t.state = 'RUNNING' and a.key = 'test/nelbo'")


def test_two_launchers_ride_out_postgresql_restarts_at_start_up_mid_trial_and_while_telling(tmp_path):
    outs = [tmp_path / f"machine-{index}" for index in range(2)]
    with postgres_server() as url:
        url.stop()  # start-up: the launchers find no server
        processes = [start(out, "--storage", url, "--set", "trial.epochs=3", "--set", "storage_retry_seconds=120")
                     for out in outs]
        assert wait_for(lambda: all("unreachable" in output(out) for out in outs), processes)
        time.sleep(2)
        url.start()
        # mid-trial: stopped while a trial trains
        assert wait_for(lambda: (query(url, RUNNING) or [(0,)])[0][0] > 0, processes)
        outage(url, 4)
        # while a trial is being told complete: its results are being written, its state is still RUNNING
        told = wait_for(lambda: (query(url, BEING_TOLD) or [(0,)])[0][0] > 0, processes, every=0.01)
        if told:
            outage(url, 4)
        codes = [process.wait(timeout=600) for process in processes]
        texts = [output(out) for out in outs]
        assert codes == [0, 0], texts
        all_trials = trials(url)
    assert told, "no trial was caught between its results and its COMPLETE state"
    assert_each_point_complete_once(all_trials)
    for text in texts:
        assert "Traceback" not in text and PASSWORD not in text
        assert "error:" not in text
    assert all("reachable again" in text for text in texts), texts
    assert sum(len(list((out / "smoke").glob("trial-*"))) for out in outs) >= 4  # every point trained (re-runs add more)


def test_an_outage_longer_than_the_window_exits_75_and_a_relaunch_loses_nothing(tmp_path):
    out = tmp_path / "machine"
    with postgres_server() as url:
        process = start(out, "--storage", url, "--set", "trial.epochs=20", "--set", "storage_retry_seconds=3")
        assert wait_for(lambda: (query(url, RUNNING) or [(0,)])[0][0] > 0, [process])
        done_before = {row[0] for row in query(url, "select number from trials where state = 'COMPLETE'")}
        url.stop()
        code = process.wait(timeout=120)
        stderr = (out / "stderr.txt").read_text()
        url.start()
        assert code == STORAGE_UNAVAILABLE_EXIT, output(out)
        errors = [line for line in stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "unreachable for 3 s" in errors[0] and "relaunch" in errors[0], stderr
        assert "Traceback" not in output(out) and PASSWORD not in output(out)

        relaunch = start(tmp_path / "relaunch", "--storage", url, "--set", "trial.epochs=20",
                         "--set", "storage_retry_seconds=3")
        assert relaunch.wait(timeout=600) == 0, output(tmp_path / "relaunch")
        all_trials = trials(url)
    assert_each_point_complete_once(all_trials)
    assert done_before <= {t.number for t in all_trials if t.state.name == "COMPLETE"}  # finished ones kept
    # the lost one re-run, as stopped by the machine (the launcher's note), not as a death of its process
    assert any("stopped by a fault of the machine" in t.user_attrs.get("retry_reason", "") for t in all_trials)
    assert not any(t.user_attrs.get("worker_deaths") for t in all_trials)


def test_sqlite_locked_by_another_process_for_seconds_is_ridden_out(tmp_path):
    process = start(tmp_path, "--set", "trial.epochs=3")
    database = tmp_path / "sweeps.db"

    def a_trial_done() -> bool:
        try:
            return any(t.state.name == "COMPLETE" for t in trials(sqlite_url(tmp_path)))
        except Exception:  # noqa: BLE001 - the study may not exist yet
            return False

    assert wait_for(a_trial_done, [process])
    with hold_exclusive_lock(database, seconds=8):  # longer than SQLite's own 5 s busy timeout
        pass  # leaving waits for the other process to let go
    assert process.wait(timeout=600) == 0, output(tmp_path)
    text = output(tmp_path)
    assert "Traceback" not in text and "database is locked" in text and "reachable again" in text, text
    assert_each_point_complete_once(trials(sqlite_url(tmp_path)))
