"""analysis.read.load: a real SQLite Optuna study and real offline W&B run files."""
from __future__ import annotations

import math

import numpy as np
import optuna
import pytest
from analysis_fixtures import EXPECTED, LATENT, PIXELS, STUDY, make_study, wandb_trials, write_wandb_runs

from analysis.read.load import from_wandb_dir, load, trials
from common.errors import UserError


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    storage, name = make_study(root)
    return storage, name, root


@pytest.fixture(scope="module")
def wandb_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("wandb")
    return write_wandb_runs(root, wandb_trials(root))


def test_trials_from_sqlite_study(study):
    storage, name, _ = study
    df = trials(storage, name)
    assert len(df) == EXPECTED["vae_runs"] + EXPECTED["ae"] + EXPECTED["failed"]
    for column in ("number", "state", "beta", "latent_dim", "reduction", "arch", "model", "likelihood", "dataset",
                   "test/nelbo", "test/active_units", "test/recon_diversity", "kl_per_dim", "effective_beta",
                   "artifact_dir", "fail_reason", "status", "evidence", "hidden", "seed"):
        assert column in df, column
    assert set(df.attrs["swept"]) >= {"beta", "reduction", "arch"}
    counts = df.groupby(["reduction", "status"]).size().to_dict()
    assert counts[("mean", "collapsed")] == EXPECTED["collapsed_mean"]
    assert counts[("mean", "partial")] == EXPECTED["partial_mean"]
    assert counts[("sum", "healthy")] == EXPECTED["healthy_sum"]
    ae = df[df["model"] == "ae"].iloc[0]
    assert ae["status"] == "ae" and math.isnan(ae["test/kl"]) and not isinstance(ae["kl_per_dim"], np.ndarray)
    failed = df[df["state"] == "FAIL"].iloc[0]
    assert failed["status"] == "failed" and "non-finite" in failed["fail_reason"]
    mean_row = df[(df["reduction"] == "mean") & (df["beta"] == 1.0)].iloc[0]
    assert mean_row["effective_beta"] == PIXELS
    assert isinstance(mean_row["kl_per_dim"], np.ndarray) and len(mean_row["kl_per_dim"]) == LATENT
    assert df["number"].is_monotonic_increasing
    assert df.equals(load(storage=storage, study=name))


def test_storage_may_be_a_plain_path_and_study_optional(study):
    storage, _, root = study
    df = trials(str(root / "sweeps.db"))
    assert df.attrs["study"] == STUDY


@pytest.mark.parametrize("case", ["missing_file", "missing_study", "empty_study", "only_failed", "two_studies"])
def test_trials_user_errors(tmp_path, case):
    storage = f"sqlite:///{tmp_path / 'x.db'}"
    study = "s"
    if case == "missing_file":
        storage = f"sqlite:///{tmp_path / 'nope.db'}"
    elif case == "missing_study":
        optuna.create_study(study_name="other", storage=storage)
    elif case == "empty_study":
        optuna.create_study(study_name="s", storage=storage)
    elif case == "only_failed":
        from analysis_fixtures import only_failed_study

        storage, study = only_failed_study(tmp_path)
    elif case == "two_studies":
        optuna.create_study(study_name="a", storage=storage)
        optuna.create_study(study_name="b", storage=storage)
        study = None
    with pytest.raises(UserError) as error:
        trials(storage, study)
    message = str(error.value)
    assert "\n" not in message and message
    if case == "only_failed":
        assert "no finished trials" in message and "loss is nan" in message
    assert not (tmp_path / "nope.db").exists()  # never creates an empty database


def test_from_wandb_dir_matches_optuna_layout(wandb_dir, study):
    df = from_wandb_dir(wandb_dir)
    assert list(df["number"]) == [0, 6, 12]
    assert list(df["status"]) == ["healthy", "collapsed", "ae"]
    assert df.loc[df["number"] == 6, "effective_beta"].item() == PIXELS
    per_dim = df.loc[df["number"] == 0, "kl_per_dim"].item()  # read back from the wandb.Table file
    assert isinstance(per_dim, np.ndarray) and len(per_dim) == LATENT and per_dim[0] > per_dim[-1]
    optuna_df = trials(study[0], study[1])
    assert list(df.columns) == list(optuna_df.columns)
    assert df.attrs["study"] == STUDY and df.attrs["source"] == "wandb-dir"
    assert len(from_wandb_dir(wandb_dir, group=STUDY)) == 3


def test_from_wandb_dir_errors(tmp_path, wandb_dir):
    with pytest.raises(UserError, match="no W&B runs"):
        from_wandb_dir(tmp_path)
    with pytest.raises(UserError, match="does not exist"):
        from_wandb_dir(tmp_path / "missing")
    with pytest.raises(UserError, match="group 'nope'"):
        from_wandb_dir(wandb_dir, group="nope")
