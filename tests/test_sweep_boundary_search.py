"""The boundary search on the study's queue, with a stub objective of known thresholds (tests/boundary_stub.py):
in-process on SQLite, then two real launchers on one PostgreSQL study, one of them killed -9 and relaunched."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import optuna
import pytest

from boundary_stub import THRESHOLD, StubNonFinite, collapses, stub_run
from conftest import REPO
from common.results import ARTIFACT_DIR, BOUNDARY_GROUP, GRID_POINT, RETRY_OF
from postgres_server import postgres_server
from sweep import launch, objective
from sweep.boundary_search import members
from sweep.config import validate
from sweep.optuna_adapter import attach, claim, enqueued_params, trial_id

RATIO = 1.25
SEARCH = {"method": "boundary", "boundary_ratio": RATIO, "boundary_trials": 8,
          "space": {"beta": {"low": 1.0e-3, "high": 100.0, "log": True}, "arch": ["mlp", "conv"],
                    "reduction": ["sum", "mean"]},
          "include": [{"model": "ae"}, {"arch": "mlp", "reduction": "sum", "beta": 1.0}]}


def make_config(tmp_path, study="b", **changes):
    data = {"study": study, "out": str(tmp_path / "runs"), "wandb": {"mode": "disabled"}, "heartbeat_seconds": 1,
            "search": {**SEARCH, **changes}, "trial": {"epochs": 1, "latent_dim": 4}}
    return validate(data, "test")


def assert_each_group_bracketed_once(config, trials, ratio=RATIO):
    """Every β ran once per group; each group's runs bracket its known threshold to the ratio."""
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    points = [tuple(sorted(enqueued_params(t).items())) for t in complete]
    twice = [(t.number, t.datetime_start, t.user_attrs) for t in complete
             if points.count(tuple(sorted(enqueued_params(t).items()))) > 1]
    assert len(points) == len(set(points)), twice
    requeued = {t.user_attrs[RETRY_OF] for t in trials if RETRY_OF in t.user_attrs}
    assert all(t.state.name == "COMPLETE" or t.number in requeued for t in trials)
    for group in config.boundary_groups():
        runs = [(enqueued_params(t)["beta"], t.user_attrs["test/active_units"] == 0)
                for t in members(complete, group)]
        assert all(bad == collapses(group["arch"], group["reduction"], beta) for beta, bad in runs)
        low = max(beta for beta, bad in runs if not bad)
        high = min(beta for beta, bad in runs if bad)
        assert high / low <= ratio and low * (784 if group["reduction"] == "mean" else 1) < THRESHOLD[group["arch"]]
        assert len(runs) <= config.search.boundary_trials + 1  # + the include point in (mlp, sum)


def test_search_runs_on_the_queue_and_a_relaunch_adds_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(objective, "load_trainer", lambda: (stub_run, StubNonFinite))
    config = make_config(tmp_path, boundary_ratio=2.0, space={**SEARCH["space"], "arch": ["mlp"]})
    assert launch.sweep(config, report=False) == 0
    study = optuna.load_study(study_name="b", storage=f"sqlite:///{tmp_path / 'runs' / 'sweeps.db'}")
    trials = study.get_trials()
    assert_each_group_bracketed_once(config, trials, ratio=2.0)
    assert sorted(t.user_attrs[GRID_POINT] for t in trials if GRID_POINT in t.user_attrs) == [0, 1]
    assert {t.user_attrs[BOUNDARY_GROUP] for t in trials if BOUNDARY_GROUP in t.user_attrs} == {0, 1}
    assert study.user_attrs["method"] == "boundary" and study.user_attrs["boundary"] == {"ratio": 2.0, "trials": 8}
    out = capsys.readouterr().out
    assert "(boundary, at most 18 trials)" in out
    assert launch.sweep(config, report=False) == 0
    assert len(study.get_trials()) == len(trials)


@pytest.fixture(scope="module")
def postgres():
    with postgres_server() as url:
        yield url


def test_two_launchers_choosing_at_the_same_moment_queue_each_beta_once(tmp_path, postgres):
    """Two launchers' storages (two connections each) ask for every group's next β at the same instant, round
    after round; the stub's verdicts finish the queued runs in between."""
    from sweep.boundary_search import refill
    from sweep.storage import open_study

    config = make_config(tmp_path, study="race")
    (first, storage_a), (second, storage_b) = open_study(config, postgres), open_study(config, postgres)
    start = threading.Barrier(2)
    added = []

    def choose(study, storage):
        start.wait()
        added.append(refill(study, storage, config))

    for _ in range(config.search.boundary_trials + 2):
        threads = [threading.Thread(target=choose, args=pair) for pair in ((first, storage_a), (second, storage_b))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for frozen in first.get_trials(deepcopy=False, states=(optuna.trial.TrialState.WAITING,)):
            assert claim(storage_a, trial_id(frozen))
            trial, params = attach(first, trial_id(frozen)), enqueued_params(frozen)
            bad = params["model"] == "vae" and collapses(params["arch"], params["reduction"], params["beta"])
            trial.set_user_attr("test/active_units", 0 if bad else 4)
            first.tell(trial, 1.0)
    queued = [tuple(sorted(enqueued_params(t).items())) for t in first.get_trials(deepcopy=False)]
    assert len(queued) == len(set(queued)) and sum(added) == len(queued) - len(config.grid_points())
    assert_each_group_bracketed_once(config, first.get_trials(deepcopy=False))


def stub_launcher(config_path, out, url, log):
    command = [sys.executable, str(REPO / "tests" / "boundary_stub.py"), str(config_path), "--storage", url,
               "--out", str(out), "--workers", "1", "--no-report"]
    env = {**os.environ, "STUB_SECONDS": "0.4", "PYTHONPATH": str(REPO)}
    return subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)


def test_two_launchers_on_postgresql_never_run_a_beta_twice_and_survive_kill_9(tmp_path, postgres):
    import yaml

    config = make_config(tmp_path, boundary_ratio=2.0)
    path = tmp_path / "boundary.yaml"
    path.write_text(yaml.safe_dump(config.model_dump(exclude={"out", "storage"})))
    log = (tmp_path / "log.txt").open("w")
    first, second = (stub_launcher(path, tmp_path / name, postgres, log) for name in ("a", "b"))
    study = None
    deadline = time.monotonic() + 120
    while True:  # kill the first launcher -9 in the middle of one of its trials
        assert time.monotonic() < deadline and first.poll() is None
        try:
            study = study or optuna.load_study(study_name="b", storage=postgres)
            trials = study.get_trials(deepcopy=False)
        except (KeyError, optuna.exceptions.StorageInternalError):
            trials = []
        done = sum(t.state.name == "COMPLETE" for t in trials)
        mine = [t for t in trials if t.state.name == "RUNNING"
                and str(tmp_path / "a") in str(t.user_attrs.get(ARTIFACT_DIR, ""))]
        if done >= 6 and mine:
            os.kill(first.pid, signal.SIGKILL)
            break
        time.sleep(0.05)
    first.wait()
    relaunched = stub_launcher(path, tmp_path / "a", postgres, log)
    codes = [relaunched.wait(timeout=300), second.wait(timeout=300)]
    log.close()
    trials = optuna.load_study(study_name="b", storage=postgres).get_trials()
    output = (tmp_path / "log.txt").read_text()
    assert codes == [0, 0], output
    assert "Traceback" not in output
    assert_each_group_bracketed_once(config, trials, ratio=2.0)
    assert any(RETRY_OF in t.user_attrs for t in trials), "the killed launcher's trial was not re-run"
