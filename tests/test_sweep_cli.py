"""The sweep CLIs on bad input: one `error:` line on stderr, exit code 2, no traceback, nothing written,
and no TensorFlow import for validation or --help."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from conftest import REPO, assert_one_line_error, run_cli

GOOD = textwrap.dedent("""\
    study: s
    search:
      method: grid
      space: {beta: [1.0, 4.0]}
    trial: {epochs: 1}
    """)

BAD = {
    "unknown_key": ("study: s\nsearch: {space: {beta: [1]}}\ncolour: red\n", ["unknown key 'colour'"]),
    "wrong_type": ("search: {space: {beta: [1]}}\ntrial: {epochs: many}\n", ["trial.epochs", "integer"]),
    "empty_grid": ("search: {method: grid, space: {}}\n", ["search.space", "empty grid"]),
    "unknown_method": ("search: {method: bayes, space: {beta: [1]}}\n", ["search.method", "'tpe', 'random' or 'boundary'"]),
    "negative_beta": ("search: {space: {beta: [1]}}\ntrial: {beta: -0.5}\n", ["trial.beta", "greater than 0"]),
    "negative_beta_in_grid": ("search: {space: {beta: [1, -1]}}\n", ["search.space.beta[1]"]),
    "malformed_yaml": ("search: {space: {beta: [1]\ntrial: x\n", ["malformed YAML", "line"]),
    "tpe_without_n_trials": ("search: {method: tpe, space: {beta: [1, 2]}}\n", ["search.n_trials"]),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_launch_refuses_bad_configs_in_one_line(tmp_path, name):
    text, needles = BAD[name]
    config = tmp_path / f"{name}.yaml"
    config.write_text(text)
    out = tmp_path / "out"
    result = run_cli("-m", "sweep.launch", str(config), "--out", str(out), "--no-report")
    assert_one_line_error(result, str(config), *needles)
    assert not out.exists()


@pytest.mark.parametrize("args, needles", [
    (["missing.yaml"], ["missing.yaml", "no such file"]),
    (["GOOD", "--workers", "0"], ["--workers"]),
    (["GOOD", "--set", "trial.latent_dim=0"], ["trial.latent_dim"]),
    (["GOOD", "--set", "novalue"], ["--set", "key=value"]),
    (["GOOD", "--n-trials", "zero"], ["--n-trials"]),
    (["GOOD", "--wandb-mode", "sometimes"], ["--wandb-mode"]),
])
def test_launch_refuses_bad_flags_in_one_line(tmp_path, args, needles):
    config = tmp_path / "good.yaml"
    config.write_text(GOOD)
    out = tmp_path / "out"
    args = [str(config) if arg == "GOOD" else arg for arg in args]
    result = run_cli("-m", "sweep.launch", *args, "--out", str(out), "--no-report", cwd=tmp_path)
    assert_one_line_error(result, *needles)
    assert not out.exists()


def test_trial_and_export_refuse_bad_input(tmp_path):
    assert_one_line_error(run_cli("-m", "sweep.trial", "--beta", "-1"), "beta", "greater than 0")
    assert_one_line_error(run_cli("-m", "sweep.trial", "--arch", "resnet"), "arch", "'conv' or 'linear'")
    assert_one_line_error(run_cli("-m", "sweep.trial", "--config-json", str(tmp_path / "none.json")), "no such file")
    (tmp_path / "bad.json").write_text('{"beta": 1, "colour": "red"}')
    assert_one_line_error(run_cli("-m", "sweep.trial", "--config-json", str(tmp_path / "bad.json")), "colour")
    (tmp_path / "bad.yaml").write_text("search: {method: annealing, space: {beta: [1]}}\n")
    assert_one_line_error(run_cli("-m", "sweep.export", str(tmp_path / "bad.yaml")), "search.method")


NO_TF = textwrap.dedent("""\
    import contextlib, io, sys
    from sweep import launch, trial, export
    from sweep.config import load_config
    load_config("configs/default.yaml")
    for main in (launch.main, trial.main, export.main):
        with contextlib.redirect_stdout(io.StringIO()):
            try:
                main(["--help"])
            except SystemExit:
                pass
    with contextlib.redirect_stderr(io.StringIO()):
        launch.main(["configs/default.yaml", "--set", "trial.beta=-1"])
    heavy = sorted(name for name in ("tensorflow", "keras", "wandb") if name in sys.modules)
    print("HEAVY", heavy)
    """)


def test_validation_and_help_do_not_import_tensorflow():
    result = subprocess.run([sys.executable, "-c", NO_TF], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "HEAVY []" in result.stdout, result.stdout[-500:]


def test_help_lists_the_design_flags():
    result = run_cli("-m", "sweep.launch", "--help")
    assert result.returncode == 0
    for flag in ("--study", "--storage", "--workers", "--n-trials", "--wandb-mode", "--out", "--set", "--no-report"):
        assert flag in result.stdout
    trial_help = run_cli("-m", "sweep.trial", "--help").stdout
    for flag in ("--beta", "--latent_dim", "--reduction", "--config-json"):
        assert flag in trial_help
