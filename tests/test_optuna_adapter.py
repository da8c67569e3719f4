"""Pins the Optuna behaviour `sweep.optuna_adapter` relies on, and the optuna / wandb versions the project declares.

An Optuna release that changes any of this fails here, naming its version, not in the middle of a sweep."""
from __future__ import annotations

import tomllib
from importlib.metadata import version

import optuna
import pytest
from optuna.trial import TrialState
from packaging.requirements import Requirement

from conftest import REPO, pins
from sweep import optuna_adapter
from sweep.retry import RetryPolicy
from sweep.retry_storage import RetryingStorage

ADAPTER = "sweep/optuna_adapter.py"


@pytest.fixture
def url(tmp_path):
    return f"sqlite:///{tmp_path / 'a.db'}"


@pytest.fixture
def study(url):
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    return optuna.create_study(study_name="s", storage=url)


def public_id(url: str, number: int) -> int:
    """The storage id of trial `number` of study "s", through public BaseStorage methods only."""
    storage = optuna.storages.RDBStorage(url)
    return storage.get_trial_id_from_study_id_trial_number(storage.get_study_id_from_name("s"), number)


@pins("optuna", ADAPTER)
def test_trial_id_is_the_storage_id_of_live_and_frozen_trials(study, url):
    study.enqueue_trial({"x": 1.0})
    live = study.ask()
    frozen = study.get_trials(deepcopy=False)[0]
    assert optuna_adapter.trial_id(live) == optuna_adapter.trial_id(frozen) == public_id(url, live.number)
    attached = optuna_adapter.attach(study, optuna_adapter.trial_id(frozen))
    assert attached.number == live.number and attached.suggest_float("x", 0, 2) == 1.0  # the enqueued value


@pins("optuna", ADAPTER)
def test_claim_moves_a_waiting_trial_to_running_for_one_caller_only(study, url):
    study.enqueue_trial({"x": 1.0})
    trial_id = public_id(url, 0)
    storage = RetryingStorage(optuna.storages.RDBStorage(url), RetryPolicy("sqlite://", 0))
    storage.record_heartbeat(trial_id)  # sweep.queue beats before it claims: allowed on a WAITING trial
    assert storage.get_trial(trial_id).state == TrialState.WAITING
    assert optuna_adapter.claim(storage, trial_id) is True
    assert optuna_adapter.claim(storage, trial_id) is False
    optuna_adapter.fail(storage, trial_id)
    assert optuna_adapter.claim(storage, trial_id) is False  # finished: refused, not an error
    with pytest.raises(optuna.exceptions.UpdateFinishedTrialError):
        optuna_adapter.fail(storage, trial_id)
    assert storage.get_trial(trial_id).state == TrialState.FAIL


@pins("optuna", ADAPTER)
def test_enqueued_params_are_complete_before_and_while_a_trial_draws_them(study):
    study.enqueue_trial({"x": 1.5, "n": 3})
    study.ask()  # taken, but no suggest_* yet
    frozen = study.get_trials(deepcopy=False)[0]
    assert frozen.params == {} and optuna_adapter.enqueued_params(frozen) == {"x": 1.5, "n": 3}
    taken = optuna_adapter.attach(study, optuna_adapter.trial_id(frozen))
    taken.suggest_float("x", 0, 2)  # half-way through drawing them (another launcher may read it now)
    frozen = study.get_trials(deepcopy=False)[0]
    assert frozen.params == {"x": 1.5} and optuna_adapter.enqueued_params(frozen) == {"x": 1.5, "n": 3}


@pins("optuna", ADAPTER)
def test_stale_trials_are_listed_through_the_wrapped_storage(study, url):
    import time

    inner = optuna.storages.RDBStorage(url, heartbeat_interval=1, grace_period=1)
    storage = RetryingStorage(inner, RetryPolicy("sqlite://", 0))
    wrapped = optuna.load_study(study_name="s", storage=storage)
    trial, beating = wrapped.ask(), wrapped.ask()
    storage.record_heartbeat(optuna_adapter.trial_id(trial))
    time.sleep(2.5)  # past the grace period: the first trial is stale
    storage.record_heartbeat(optuna_adapter.trial_id(beating))
    assert optuna_adapter.stale_trial_ids(wrapped) == [optuna_adapter.trial_id(trial)]
    assert [t.state for t in wrapped.trials] == [TrialState.RUNNING] * 2  # listed, not failed


def test_installed_optuna_and_wandb_are_within_the_declared_bounds():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = {Requirement(line).name: Requirement(line) for line in project["dependencies"]}
    for name in ("optuna", "wandb"):
        requirement = declared[name]
        assert any(spec.operator == "<" for spec in requirement.specifier), f"{name}: no upper bound declared"
        assert requirement.specifier.contains(version(name)), (name, version(name), str(requirement.specifier))
