"""Each grid point runs exactly once, tested at the two moments where two launchers race, made to happen every time
(not by the luck of timing): a second launcher's storage handle claims a queued trial between this launcher's listing
of the queue and its claim, and a launcher opens a study whose creator died before marking it ready."""
from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState

from sweep import optuna_adapter, storage as sweep_storage
from sweep.config import validate
from sweep.queue import pop_waiting
from sweep.storage import make_storage, open_study

GRID = {"beta": [1.0, 2.0], "reduction": ["sum", "mean"]}


def config(tmp_path):
    return validate({"study": "q", "out": str(tmp_path), "wandb": {"mode": "disabled"},
                     "search": {"method": "grid", "space": GRID}}, "test")


def points(study: optuna.Study, state: TrialState) -> list[int]:
    return sorted(t.user_attrs["grid_point"] for t in study.get_trials(deepcopy=False, states=(state,)))


def test_a_trial_claimed_by_another_launcher_after_the_listing_is_not_handed_out_twice(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'q.db'}"
    study, storage = open_study(config(tmp_path), url)
    other = make_storage(url)  # a second launcher's handle on the same study
    listing = study.get_trials

    def then_the_other_launcher_claims_the_first(*args, **kwargs):
        trials = listing(*args, **kwargs)
        if kwargs.get("states") == (TrialState.WAITING,):
            assert optuna_adapter.claim(other, optuna_adapter.trial_id(trials[0]))
        return trials

    monkeypatch.setattr(study, "get_trials", then_the_other_launcher_claims_the_first)
    taken = pop_waiting(study, storage)
    monkeypatch.undo()
    assert taken is not None and taken.user_attrs["grid_point"] == 1  # not the one the other launcher holds
    assert points(study, TrialState.RUNNING) == [0, 1] and points(study, TrialState.WAITING) == [2, 3]

    # the other launcher takes point 2; then point 3, the only one left, between the listing and the claim
    assert optuna_adapter.claim(other, optuna_adapter.trial_id(listing(states=(TrialState.WAITING,))[0]))
    monkeypatch.setattr(study, "get_trials", then_the_other_launcher_claims_the_first)
    assert pop_waiting(study, storage) is None
    monkeypatch.undo()
    assert points(study, TrialState.RUNNING) == [0, 1, 2, 3] and points(study, TrialState.WAITING) == []


class CreatorDied(Exception):
    pass


def test_a_study_whose_creator_died_before_it_was_ready_gets_each_grid_point_once(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'q.db'}"
    enqueue = sweep_storage.enqueue_grid

    def enqueue_then_die(study, config):
        enqueue(study, config)
        raise CreatorDied  # after the grid is queued, before the study is marked ready

    monkeypatch.setattr(sweep_storage, "enqueue_grid", enqueue_then_die)
    with pytest.raises(CreatorDied):
        open_study(config(tmp_path), url)
    monkeypatch.undo()
    monkeypatch.setattr(sweep_storage, "READY_TIMEOUT_S", 0.2)  # the joining launcher stops waiting for it
    study, _ = open_study(config(tmp_path), url)
    assert study.user_attrs["ready"] is True
    assert points(study, TrialState.WAITING) == [0, 1, 2, 3]
