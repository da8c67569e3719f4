"""The sweep's control flow in-process with a fake `vae.train.run` (no TensorFlow): grid queue, resume,
NaN trials, pruning, the user attrs of docs/storage.md, refusing to mix studies, storage URLs."""
from __future__ import annotations

import json
import math
from pathlib import Path


import optuna
import pytest

from sweep import launch, objective
from sweep.config import validate
from sweep.storage import default_url, mask, open_study, resolve_url, scrub
from common.errors import UserError
from common.results import TrialResult

STORED_ATTRS = set(TrialResult().stored()) | {
    "train_seconds", "epochs_run", "examples_per_second", "effective_beta", "wandb_run_id", "artifact_dir", "config",
    "runner"}


class FakeNonFinite(RuntimeError):
    pass


def fake_run(config, out_dir=None, on_epoch=None, verbose=0):
    """Deterministic curves: val nelbo falls with epochs and rises with beta; sigma 1e-30 goes NaN."""
    if config.likelihood == "gaussian" and config.gaussian_sigma < 1e-20:
        raise FakeNonFinite("non-finite training loss at epoch 0: loss=nan")
    history = []
    for epoch in range(config.epochs):
        value = 100.0 + 50.0 * config.beta + 10.0 / (epoch + 1)
        row = {"epoch": epoch, "train/loss": value, "train/recon": value - 5, "train/kl": 5.0, "val/nelbo": value,
               "val/recon_nll": value - 5, "val/kl": 5.0, "val/active_units": 3}
        history.append(row)
        if on_epoch:
            on_epoch(epoch, row)
    vae = config.model == "vae"
    nelbo = history[-1]["val/nelbo"] + 1.0
    result = TrialResult(recon_nll=nelbo - 5, kl=5.0 if vae else None, nelbo=nelbo if vae else None,
                         iwae_nll=nelbo - 1 if vae else None, kl_per_dim=[2.5, 2.5] if vae else None,
                         active_units=2 if vae else None, mutual_info=1.0 if vae else None, recon_diversity=0.5,
                         sharpness=0.7, effective_beta=config.beta, train_seconds=0.1, epochs_run=len(history),
                         examples_per_second=1000.0, history=history, artifact_dir=Path(out_dir) if out_dir else None)
    if out_dir is not None:  # as vae.train writes it: the history, then metrics.json last
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        lines = [",".join(history[0])] + [",".join(str(value) for value in row.values()) for row in history]
        (Path(out_dir) / "history.csv").write_text("\n".join(lines) + "\n")
        (Path(out_dir) / "metrics.json").write_text(json.dumps(result.as_dict()))
    return result


@pytest.fixture(autouse=True)
def fake_trainer(monkeypatch, tmp_path):
    monkeypatch.setattr(objective, "load_trainer", lambda: (fake_run, FakeNonFinite))
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wandb-root"))
    monkeypatch.setenv("WANDB_SILENT", "true")


def make_config(tmp_path, **search):
    space = search.pop("space", {"beta": [1.0, 2.0], "reduction": ["sum", "mean"]})
    data = {"study": "t", "out": str(tmp_path / "runs"), "wandb": {"mode": "disabled"},
            "search": {"method": "grid", "space": space, **search},
            "trial": {"epochs": 3, "latent_dim": 2}}
    return validate(data, "test")


def load(config):
    return optuna.load_study(study_name=config.study, storage=resolve_url(config))


def test_grid_runs_every_point_once_and_records_the_contract(tmp_path, capsys):
    config = make_config(tmp_path, include=[{"model": "ae"}])
    assert launch.sweep(config, report=False) == 0
    study = load(config)
    trials = study.get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE"] * 5
    points = sorted((t.params["beta"], t.params["reduction"], t.params["model"]) for t in trials)
    assert len(set(points)) == 5
    vae = next(t for t in trials if t.params["model"] == "vae")
    assert STORED_ATTRS <= set(vae.user_attrs)
    assert vae.value == vae.user_attrs["test/nelbo"]
    assert vae.user_attrs["config"]["beta"] == vae.params["beta"] and vae.user_attrs["config"]["latent_dim"] == 2
    assert Path(vae.user_attrs["artifact_dir"]) == tmp_path / "runs" / "t" / f"trial-{vae.number}"
    assert (Path(vae.user_attrs["artifact_dir"]) / "metrics.json").is_file()
    ae = next(t for t in trials if t.params["model"] == "ae")
    # like with like: the AE's recon NLL (lower than every VAE nelbo here) is not its value; it is never best
    assert ae.user_attrs["test/nelbo"] is None and ae.value == math.inf and ae.intermediate_values == {}
    assert ae.user_attrs["test/recon_nll"] < study.best_value and study.best_trial.params["model"] == "vae"
    assert study.user_attrs["objective"] == "nelbo" and study.metric_names == ["test nelbo"]
    assert study.user_attrs["method"] == "grid" and study.user_attrs["grid_size"] == 5
    assert study.user_attrs["search_space"]["model"] == ["vae", "ae"]
    assert study.user_attrs["trial_defaults"]["epochs"] == 3
    json.dumps([t.user_attrs for t in trials])  # strict JSON
    out = capsys.readouterr().out
    assert "study 't'" in out and "trial-<number>" in out

    # relaunch: resumes, nothing re-run or added
    assert launch.sweep(config, report=False) == 0
    assert len(load(config).get_trials()) == 5


def test_nan_trial_fails_with_reason_and_the_sweep_goes_on(tmp_path, capsys):
    config = make_config(tmp_path, space={"beta": [1.0, 2.0]},
                         include=[{"likelihood": "gaussian", "gaussian_sigma": 1e-30}])
    assert launch.sweep(config, report=False) == 0
    trials = load(config).get_trials()
    states = {t.params["likelihood"]: t.state.name for t in trials}
    failed = [t for t in trials if t.state.name == "FAIL"]
    assert len(trials) == 3 and len(failed) == 1 and states == {"bernoulli": "COMPLETE", "gaussian": "FAIL"}
    assert "non-finite" in failed[0].user_attrs["fail_reason"]
    assert "test/nelbo" not in failed[0].user_attrs
    assert "non-finite" in capsys.readouterr().err


def test_a_study_with_another_search_space_is_refused(tmp_path):
    launch.sweep(make_config(tmp_path, space={"beta": [1.0]}), report=False)
    with pytest.raises(UserError, match="different search_space"):
        launch.sweep(make_config(tmp_path, space={"beta": [1.0, 4.0]}), report=False)


def test_wandb_runs_offline_one_per_trial_marked_by_outcome(tmp_path, capsys):
    """A trial whose loss turns NaN fails with its reason; the sweep goes on and ends normally."""
    import wandb

    from common.wandb_adapter import read_run

    config = make_config(tmp_path, space={"beta": [1.0]}, include=[{"likelihood": "gaussian", "gaussian_sigma": 1e-30}])
    config = config.model_copy(update={"wandb": config.wandb.model_copy(update={"mode": "offline"})})
    assert launch.sweep(config, report=False) == 0
    assert "Traceback" not in capsys.readouterr().err
    complete, failed_trial = load(config).trials
    assert complete.state.name == "COMPLETE" and failed_trial.state.name == "FAIL"
    assert failed_trial.params["likelihood"] == "gaussian" and "non-finite" in failed_trial.user_attrs["fail_reason"]
    wandb.teardown()  # the service may still be writing the run files when finish() returns
    files = sorted((tmp_path / "wandb-root" / "wandb").glob("offline-run-*/run-*.wandb"))
    runs = {run.name: run for run in map(read_run, files)}
    assert set(runs) == {"trial-0", "trial-1"}
    ok, failed = runs["trial-0"], runs["trial-1"]
    assert ok.exit_code == 0 and failed.exit_code != 0
    assert ok.group == "t" and ok.job_type == "trial" and ok.project == "vae-sweeps"
    assert ok.config["study"] == "t" and ok.config["trial_number"] == 0 and ok.config["beta"] == 1.0
    assert [row["epoch"] for row in ok.history if "epoch" in row] == [0, 1, 2]
    trial = load(config).trials[0]
    assert ok.summary["test/nelbo"] == pytest.approx(trial.value)
    assert ok.run_id == trial.user_attrs["wandb_run_id"]
    assert "non-finite" in failed.summary["fail_reason"]


def test_storage_urls_and_masking(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert default_url("runs") == f"sqlite:///{tmp_path / 'runs' / 'sweeps.db'}"
    config = validate({"storage": "sqlite:///rel/s.db", "search": {"space": {"beta": [1]}}}, "x")
    assert resolve_url(config) == f"sqlite:///{tmp_path / 'rel' / 's.db'}"
    url = "postgresql://alice:s3cr3t@db.example:5432/sweeps"
    assert "s3cr3t" not in mask(url) and "alice" in mask(url) and "db.example" in mask(url)
    assert "s3cr3t" not in scrub(f"could not connect to {url} with password s3cr3t", url)


def test_unreachable_storage_is_a_user_error_without_the_password(tmp_path):
    config = make_config(tmp_path).model_copy(update={"storage_retry_seconds": 1})
    url = "postgresql://alice:s3cr3t@127.0.0.1:9/sweeps"
    with pytest.raises(UserError) as caught:
        open_study(config, url)
    assert "s3cr3t" not in str(caught.value) and "127.0.0.1" in str(caught.value)


def test_user_attrs_are_strict_json():
    attrs = TrialResult(nelbo=float("nan"), kl_per_dim=[1.0, float("inf")], epochs_run=3).stored()
    assert attrs["test/nelbo"] is None and attrs["test/kl_per_dim"] == [1.0, None] and attrs["epochs_run"] == 3
    assert math.isnan(objective.objective_value(TrialResult(), "vae"))


def test_an_empty_grid_queue_gives_no_trial(tmp_path):
    """A launcher finding the grid queue empty creates no trial (no stray random point, no junk FAIL)."""
    from sweep.queue import next_trial

    config = make_config(tmp_path, space={"beta": [1.0]})
    launch.sweep(config, report=False)
    study, storage = open_study(config, resolve_url(config))
    assert next_trial(study, storage, config) is None
    assert [t.state.name for t in study.get_trials()] == ["COMPLETE"]


def test_a_second_open_joins_without_enqueuing_again(tmp_path):
    config = make_config(tmp_path, space={"beta": [1.0, 4.0]})
    first, _ = open_study(config, resolve_url(config))
    second, _ = open_study(config, resolve_url(config))
    assert second.user_attrs["ready"] is True
    assert sorted(t.user_attrs["grid_point"] for t in second.get_trials()) == [0, 1]


@pytest.mark.parametrize("name", ["iwae_nll", "sample_kid"])
def test_search_objective_chooses_the_trial_value(tmp_path, monkeypatch, name):
    """iwae_nll: the AE stays +inf; sample_kid: every trial, the AE included, is valued by its sample KID."""
    def with_kid(config, out_dir=None, on_epoch=None, verbose=0):
        result = fake_run(config, out_dir, on_epoch, verbose)
        result.sample_kid = 0.01 * config.beta + (0.1 if config.model == "ae" else 0.0)
        return result

    monkeypatch.setattr(objective, "load_trainer", lambda: (with_kid, FakeNonFinite))
    config = make_config(tmp_path, include=[{"model": "ae"}])
    config.search.objective = name
    assert launch.sweep(config, report=False) == 0
    trials = load(config).get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE"] * 5
    for t in trials:
        expected = t.user_attrs[f"test/{name}"]
        assert t.value == (math.inf if expected is None else expected)
        assert (t.intermediate_values == {}) == (name == "sample_kid" or t.params["model"] == "ae")
    assert load(config).best_trial.params["model"] == "vae"


def test_sample_objectives_need_sample_metrics_and_the_old_fd_is_refused(tmp_path):
    from sweep.config import load_config

    for name in ("sample_kid", "sample_fd_cnn"):
        with pytest.raises(UserError, match=f"{name} needs trial.sample_metrics"):
            load_config(None, {"search": {"space": {"beta": [1]}, "objective": name},
                               "trial": {"sample_metrics": False}})
    with pytest.raises(UserError, match="search.objective.*'sample_kid'"):  # an MLP's FD: not comparable any more
        load_config(None, {"search": {"space": {"beta": [1]}, "objective": "sample_fd"}})


def test_imports_are_frozen_once_and_trials_garbage_is_still_collected():
    import gc
    import weakref

    class Node:
        pass

    objective.freeze_imports()  # what load_trainer does after importing TensorFlow
    frozen = gc.get_freeze_count()
    assert frozen > 0
    gc.disable()  # only release_models may collect the cycle below
    try:
        node = Node()
        node.self = node
        alive = weakref.ref(node)
        del node
        objective.release_models()  # after a trial
        assert alive() is None
        objective.freeze_imports()
        assert gc.get_freeze_count() == frozen  # not frozen again
    finally:
        gc.enable()
