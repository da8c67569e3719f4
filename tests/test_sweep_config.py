"""sweep.config: the YAML schema, overrides, search-space checks; one-line errors naming the key path."""
from __future__ import annotations

import textwrap

import pytest

from conftest import REPO
from sweep.config import Range, load_config
from vae.config import parse_overrides
from common.errors import UserError


def write(tmp_path, text: str):
    path = tmp_path / "sweep.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def error_of(path, overrides=None) -> str:
    with pytest.raises(UserError) as caught:
        load_config(path, overrides)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_shipped_configs_validate():
    default = load_config(REPO / "configs" / "default.yaml")
    assert default.search.method == "boundary" and default.search.boundary_ratio == 2.0
    groups = default.boundary_groups()  # where collapse begins, per arch and reduction, at latent size 16
    assert sorted((g["arch"], g["reduction"], g["latent_dim"]) for g in groups) == \
        [("conv", "mean", 16), ("conv", "sum", 16), ("mlp", "mean", 16), ("mlp", "sum", 16)]
    points = default.grid_points()  # the include points, queued first
    assert {p["arch"] for p in points if p["model"] == "ae"} == {"mlp", "conv"}
    beta = default.dimensions()["beta"]
    pairs = {(p["arch"], p["reduction"], round(p["beta"] * (784 if p["reduction"] == "mean" else 1), 9))
             for p in points}
    assert {("mlp", "sum", 1.0), ("conv", "sum", 1.0)} <= pairs  # mean at β = 1/784 is sum at β = 1
    assert {("mlp", "mean", 1.0), ("conv", "mean", 1.0)} <= pairs
    assert beta.log and beta.low == min(p["beta"] for p in points)
    assert set(default.searched()) >= {"beta", "latent_dim", "reduction", "arch", "model"}
    smoke = load_config(REPO / "configs" / "smoke.yaml")
    assert len(smoke.grid_points()) == 4
    optuna_config = load_config(REPO / "configs" / "optuna.yaml")
    assert optuna_config.search.method == "tpe" and optuna_config.search.pruner != "none"
    assert optuna_config.search.n_trials


def test_theory_config_is_a_linear_gaussian_grid_whose_mean_runs_repeat_sum_runs():
    from sweep.launch import check_datasets, data_settings

    config = load_config(REPO / "configs" / "theory.yaml")
    trial = config.trial
    settings = (trial.arch, trial.likelihood, trial.gaussian_mean, trial.free_bits, trial.binarize)
    assert settings == ("linear", "gaussian", "identity", 0.0, "none")
    points = config.grid_points()
    sums = {point["beta"] for point in points if point["reduction"] == "sum"}
    means = {point["beta"] * 16 for point in points if point["reduction"] == "mean"}  # 16 values per example
    assert len(points) == 11 and means <= sums
    assert [(t.dataset, t.likelihood, t.gaussian_mean) for t in data_settings(config)] == [
        ("gaussian16", "gaussian", "identity")]
    check_datasets(config)  # real values with an identity mean: accepted


def test_defaults_and_values_normalised(tmp_path):
    config = load_config(write(tmp_path, """\
        search:
          space: {beta: [0.5, 1, 4], hidden: [[64], [128, 64]]}
        """))
    assert config.study == "default" and config.out == "runs" and config.storage is None
    assert config.wandb.project == "vae-sweeps" and config.wandb.mode == "auto"
    assert config.dimensions()["beta"] == [0.5, 1.0, 4.0]
    assert all(isinstance(value, float) for value in config.dimensions()["beta"])
    assert config.grid_points()[0] == {"beta": 0.5, "hidden": [64]}
    assert config.trial.epochs == 20  # TrialConfig's default


def test_overrides_are_dotted_yaml_scalars(tmp_path):
    path = write(tmp_path, "search: {space: {beta: [1]}}\n")
    config = load_config(path, parse_overrides(["trial.learning_rate=1e-4", "search.space.beta=[2, 3]",
                                                "study=other"]))
    assert config.trial.learning_rate == pytest.approx(1e-4)
    assert config.dimensions()["beta"] == [2.0, 3.0]
    assert config.study == "other"


def test_ranges_for_tpe(tmp_path):
    config = load_config(write(tmp_path, """\
        search:
          method: tpe
          n_trials: 5
          space:
            beta: {low: 0.1, high: 10, log: true}
            latent_dim: {low: 2, high: 32}
            reduction: [sum, mean]
        """))
    dims = config.dimensions()
    assert dims["beta"] == Range(low=0.1, high=10, log=True)
    assert dims["reduction"] == ["sum", "mean"]


@pytest.mark.parametrize("text, needles", [
    ("colour: red\n", ["unknown key 'colour'", "allowed at the top level"]),
    ("search: {space: {beta: [1]}, n_trails: 3}\n", ["search.n_trails", "allowed at search"]),
    ("trial: {epoch: 3}\nsearch: {space: {beta: [1]}}\n", ["trial.epoch", "epochs"]),
    ("trial: {epochs: three}\nsearch: {space: {beta: [1]}}\n", ["trial.epochs", "integer", "three"]),
    ("search: {space: {}}\n", ["search.space", "empty grid"]),
    ("search: {method: bayes, space: {beta: [1]}}\n", ["search.method", "bayes", "'tpe', 'random' or 'boundary'"]),
    ("trial: {beta: -1}\nsearch: {space: {beta: [1]}}\n", ["trial.beta", "greater than 0"]),
    ("search: {space: {beta: [1, -2]}}\n", ["search.space.beta[1]", "greater than 0"]),
    ("search: {space: {beta: 4}}\n", ["search.space.beta", "grid needs a list"]),
    ("search: {space: {beta: {low: 1, high: 2}}}\n", ["search.space.beta", "grid needs a list"]),
    ("search: {method: tpe, space: {beta: [1, 2]}}\n", ["search.n_trials", "required"]),
    ("search: {method: tpe, n_trials: 3, space: {beta: {low: 2, high: 1}}}\n", ["search.space.beta", "below"]),
    ("search: {method: tpe, n_trials: 3, space: {arch: {low: 0, high: 1}}}\n", ["search.space.arch", "numeric"]),
    ("search: {space: {arch: [mlp, resnet]}}\n", ["search.space.arch[1]", "resnet", "'conv' or 'linear'"]),
    ("search: {space: {colour: [red]}}\n", ["search.space.colour", "unknown key"]),
    ("search: {space: {beta: []}}\n", ["search.space.beta", "empty list"]),
    ("search: {space: {beta: [1]}, include: [{model: vea}]}\n", ["search.include[0].model", "'vae' or 'ae'"]),
    ("search: {method: random, n_trials: 2, space: {beta: [1]}, include: [{model: ae}]}\n",
     ["search.include", "only for methods grid and boundary"]),
    ("search: {method: boundary, space: {beta: [1, 2]}}\n", ["search.space.beta", "log range of raw β"]),
    ("search: {method: boundary, space: {beta: {low: 1, high: 2}}}\n", ["search.space.beta", "log range"]),
    ("search: {method: boundary, space: {beta: {low: 0.1, high: 10, log: true}, latent_dim: {low: 2, high: 8}}}\n",
     ["search.space.latent_dim", "boundary needs a list"]),
    ("search: {method: boundary, n_trials: 5, space: {beta: {low: 0.1, high: 10, log: true}}}\n",
     ["search.n_trials", "boundary_trials"]),
    ("search: {method: boundary, pruner: median, space: {beta: {low: 0.1, high: 10, log: true}}}\n",
     ["search.pruner", "pruner: none"]),
    ("search: {method: boundary, space: {beta: {low: 0.1, high: 10, log: true}, model: [vae, ae]}}\n",
     ["search.space.model", "search.include"]),
    ("search: {method: boundary, boundary_ratio: 1, space: {beta: {low: 0.1, high: 10, log: true}}}\n",
     ["search.boundary_ratio", "greater than 1"]),
    ("wandb: {mode: sometimes}\nsearch: {space: {beta: [1]}}\n", ["wandb.mode", "'offline'"]),
    ("search: {space: {beta: [1]}\n", ["malformed YAML", "line"]),
    ("- just\n- a list\n", ["expected a mapping"]),
])
def test_bad_configs_are_one_line_errors_with_the_key_path(tmp_path, text, needles):
    path = write(tmp_path, text)
    message = error_of(path)
    assert message.startswith(str(path)), message
    for needle in needles:
        assert needle in message, (needle, message)


def test_boundary_groups_are_the_lists_and_include_points_fill_their_keys(tmp_path):
    config = load_config(write(tmp_path, """\
        search:
          method: boundary
          space: {beta: {low: 0.01, high: 100, log: true}, reduction: [sum, mean], arch: [mlp]}
          include: [{model: ae}, {beta: 1, latent_dim: 2}]
        trial: {latent_dim: 8}
        """))
    assert config.boundary_groups() == [
        {"reduction": "sum", "arch": "mlp", "model": "vae", "latent_dim": 8},
        {"reduction": "mean", "arch": "mlp", "model": "vae", "latent_dim": 8}]
    assert config.grid_points() == [  # every point names the same keys: space, then include keys
        {"beta": 1.0, "reduction": "sum", "arch": "mlp", "model": "ae", "latent_dim": 8},
        {"beta": 1.0, "reduction": "sum", "arch": "mlp", "model": "vae", "latent_dim": 2}]
    assert config.searched()["beta"] == Range(low=0.01, high=100, log=True)
    assert config.searched()["latent_dim"] == [8, 2]


def test_missing_file(tmp_path):
    assert "no such file" in error_of(tmp_path / "nope.yaml")


@pytest.mark.parametrize("name", ["../elsewhere", "a/b", "with space", ".hidden"])
def test_study_names_must_be_folder_safe(tmp_path, name):
    path = write(tmp_path, "search: {space: {beta: [1.0]}}\n")
    assert "study" in error_of(path, {"study": name}) and "folder" in error_of(path, {"study": name})
    assert load_config(path, {"study": "lab-run_1.2"}).study == "lab-run_1.2"


def test_a_trial_key_given_at_the_top_level_suggests_where_it_belongs():
    with pytest.raises(UserError, match=r"unknown key 'beta'.*did you mean trial\.beta .* or search\.space\.beta"):
        load_config(None, parse_overrides(["beta=4"]))
    with pytest.raises(UserError) as refused:
        load_config(None, parse_overrides(["colour=red"]))
    assert "did you mean" not in str(refused.value)
