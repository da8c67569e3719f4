"""The sweep CLIs end to end with the real `vae.train.run` into temp dirs (tiny models): the smoke sweep with its
report (the seed's phenomenon: the pixel-averaged runs collapse, the summed ones do not) and its relaunch as
subprocesses, as a user runs them; the TPE sweep and `sweep.trial` call the same `main` in this process
(their error lines and `--help` run as subprocesses in test_sweep_cli.py)."""
from __future__ import annotations

import csv
import json
import textwrap
from pathlib import Path

import optuna
import pytest
import yaml

from common.machine import usable_cores
from common.results import TrialResult
from common.wandb_adapter import read_run
from conftest import REPO, assert_one_line_error, run_cli, run_in_process
from sweep.config import load_config
from vae.config import parse_overrides

TRIAL_ATTRS = set(TrialResult().stored()) | {
    "train_seconds", "epochs_run", "examples_per_second", "effective_beta", "wandb_run_id", "artifact_dir", "config"}
ARTIFACTS = ("reconstructions.png", "samples.png", "metrics.json", "history.csv")
TINY_TRIAL = """\
trial:
  dataset: digits
  arch: mlp
  hidden: [32]
  latent_dim: 2
  epochs: {epochs}
  batch_size: 256
  iwae_samples: 5
  seed: 0
"""


def launch(config: Path, out: Path, *extra: str, report: bool = False, workers: str = "1"):
    env = {"WANDB_DIR": str(out / "wandb-root")}
    # One process (--workers 1: one TensorFlow import): the worker pool has its own tests (test_sweep_workers.py).
    return run_cli("-m", "sweep.launch", str(config), "--out", str(out), "--wandb-mode", "offline",
                   *([] if report else ["--no-report"]), "--workers", workers, *extra, env=env)


def launch_in_process(config: Path, out: Path, capsys, monkeypatch, *extra: str):
    from sweep.launch import main

    monkeypatch.setenv("WANDB_DIR", str(out / "wandb-root"))
    result = run_in_process(main, str(config), "--out", str(out), "--wandb-mode", "offline", "--no-report",
                            "--workers", "1", *extra, capsys=capsys)
    wandb_teardown()
    return result


def wandb_teardown() -> None:
    import wandb

    wandb.teardown()  # the service may still be writing the run files when finish() returns


def trials_of(out: Path, study: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=study, storage=f"sqlite:///{out / 'sweeps.db'}").get_trials()


def wandb_runs(out: Path):
    return [read_run(path) for path in sorted((out / "wandb-root" / "wandb").glob("offline-run-*/run-*.wandb"))]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """The smoke sweep as a user runs it: mnist5k, β ∈ {1, 4} × reduction ∈ {sum, mean}, then its report."""
    out = tmp_path_factory.mktemp("smoke")
    result = launch(REPO / "configs" / "smoke.yaml", out, report=True)
    assert result.returncode == 0, result.stderr[-3000:]
    return out, result


def test_smoke_sweep_runs_every_grid_point_exactly_once(smoke):
    out, result = smoke
    config = load_config(REPO / "configs" / "smoke.yaml")
    trials = trials_of(out, config.study)
    assert [t.state.name for t in trials] == ["COMPLETE"] * len(config.grid_points())
    seen = sorted(tuple(sorted(t.params.items())) for t in trials)
    expected = sorted(tuple(sorted(point.items())) for point in config.grid_points())
    assert seen == expected
    for trial in trials:
        assert TRIAL_ATTRS <= set(trial.user_attrs), TRIAL_ATTRS - set(trial.user_attrs)
        assert trial.value == pytest.approx(trial.user_attrs["test/nelbo"])
        assert len(trial.user_attrs["test/kl_per_dim"]) == config.trial.latent_dim
        folder = Path(trial.user_attrs["artifact_dir"])
        assert folder == out / config.study / f"trial-{trial.number}"
        assert all((folder / name).is_file() for name in ARTIFACTS)
    assert "Traceback" not in result.stderr
    assert "wandb sync" in result.stdout  # the sync hint
    total = len(config.grid_points())  # stderr is a pipe, not a terminal: one plain line per trial, no redrawn bar
    assert f"sweep smoke: {total}/{total} trials, best nelbo " in result.stderr and "\r" not in result.stderr


def test_smoke_wandb_offline_runs_read_back(smoke):
    out, _ = smoke
    trials = {f"trial-{t.number}": t for t in trials_of(out, "smoke")}
    runs = {run.name: run for run in wandb_runs(out) if run.job_type == "trial"}
    assert set(runs) == set(trials)
    for name, run in runs.items():
        trial = trials[name]
        assert run.run_id == trial.user_attrs["wandb_run_id"]
        assert (run.group, run.job_type, run.project, run.exit_code) == ("smoke", "trial", "vae-sweeps", 0)
        assert run.config["beta"] == trial.params["beta"] and run.config["trial_number"] == trial.number
        epochs = [row for row in run.history if "epoch" in row]
        assert [row["epoch"] for row in epochs] == list(range(trial.user_attrs["epochs_run"]))
        assert {"train/loss", "val/nelbo", "val/kl", "val/active_units"} <= set(epochs[-1])
        assert run.summary["test/nelbo"] == pytest.approx(trial.value)
        assert run.summary["kl_per_dim"]["_type"] == "table-file"
        assert {"reconstructions", "samples"} <= set(run.summary)


def test_smoke_report_is_logged_to_wandb_as_the_study_report_run(smoke):
    from test_wandb_report import artifacts

    out, result = smoke
    (run,) = [run for run in wandb_runs(out) if run.job_type != "trial"]
    assert (run.job_type, run.group, run.exit_code) == ("report", "smoke", 0)
    assert f"W&B: report run {run.run_id}, group 'smoke'" in result.stdout
    table = json.loads((run.files_dir / run.summary["summary"]["path"]).read_text())
    assert len(table["data"]) == 4 and "status" in table["columns"]
    html = (run.files_dir / run.summary["report/overregularization"]["path"]).read_text()
    assert html == (out / "smoke" / "report" / "overregularization.html").read_text()
    assert any(key.startswith("figures/overregularization/") for key in run.summary)
    assert {artifact.type for artifact in artifacts(run.path)} >= {"report"}


def test_smoke_report_says_the_mean_runs_collapsed_and_the_sum_runs_did_not(smoke):
    from analysis.read.load import load
    from test_analysis_report import visible_text

    out, result = smoke
    report = out / "smoke" / "report"
    assert "report: 2 of 4 finished VAE runs collapsed (2 with reduction=mean)" in result.stdout
    rows = csv.DictReader((report / "summary.csv").open())
    statuses = {(row["beta"], row["reduction"]): row["status"] for row in rows}
    assert statuses == {("1.0", "sum"): "healthy", ("4.0", "sum"): "healthy",
                        ("1.0", "mean"): "collapsed", ("4.0", "mean"): "collapsed"}, statuses
    page = (report / "overregularization.html").read_text()
    text = visible_text(page)
    assert "Both runs with reduction=mean collapsed" in text
    assert "None of the 2 runs with reduction=sum collapsed" in text
    assert page.count("data:image/png;base64") >= 3
    # The same verdicts from the sweep's own offline W&B runs (the report over a W&B folder, end to end, is
    # tests/test_analysis_report.py::test_report_from_offline_wandb_dir_skips_and_names_corrupt_files).
    frame = load(wandb_dir=str(out / "wandb-root"))
    assert sorted(zip(frame["reduction"], frame["status"])) == [("mean", "collapsed")] * 2 + [("sum", "healthy")] * 2


def test_relaunching_a_finished_study_runs_nothing_and_logs_no_second_report_run(smoke):
    out, _ = smoke
    before = {t.number: (t.state.name, t.value) for t in trials_of(out, "smoke")}
    runs_before = len(wandb_runs(out))
    report = out / "smoke" / "report" / "summary.csv"
    written = report.stat().st_mtime_ns
    again = launch(REPO / "configs" / "smoke.yaml", out, workers="auto", report=True)
    assert again.returncode == 0, again.stderr[-2000:]
    assert (f"study 'smoke' had already finished ({len(before)} of {len(before)} trials): nothing to run; its "
            "report is rewritten, not logged to W&B again (--republish logs it)") in again.stdout
    said = [line for line in again.stdout.splitlines() if line.startswith("--workers auto: ")]  # the default
    assert len(said) == 1 and "GB available ÷" in said[0] and "estimated per worker: largest trial" in said[0]
    chosen = int(said[0].split()[2])
    assert 1 <= chosen <= usable_cores()
    assert "; 1 worker" + (f" (not {chosen}: 0 trials left);" if chosen > 1 else ";") in again.stdout
    assert {t.number: (t.state.name, t.value) for t in trials_of(out, "smoke")} == before
    assert report.stat().st_mtime_ns > written and "W&B: report run" not in again.stdout
    assert len(wandb_runs(out)) == runs_before


def test_tpe_with_median_pruning_prunes_a_trial_and_more_trials_extend_the_study(tmp_path, capsys, monkeypatch):
    config = tmp_path / "tpe.yaml"
    config.write_text(textwrap.dedent("""\
        study: tpe
        search:
          method: tpe
          n_trials: 6
          pruner: median
          startup_trials: 2
          seed: 0
          space:
            learning_rate: {low: 1.0e-5, high: 1.0e-2, log: true}
        """) + TINY_TRIAL.format(epochs=3))
    result = launch_in_process(config, tmp_path, capsys, monkeypatch)
    assert result.returncode == 0, result.stderr[-3000:]
    states = [t.state.name for t in trials_of(tmp_path, "tpe")]
    assert len(states) == 6 and "PRUNED" in states and "COMPLETE" in states, states
    pruned = [run for run in wandb_runs(tmp_path) if run.summary.get("trial_state") == "PRUNED"]
    assert pruned and all(run.exit_code != 0 for run in pruned)
    # relaunched with more trials, the study goes on where it stopped
    assert launch_in_process(config, tmp_path, capsys, monkeypatch, "--n-trials", "8").returncode == 0
    assert len(trials_of(tmp_path, "tpe")) == 8


def test_export_lists_the_same_grid():
    """The default config's boundary search has no W&B equivalent: refused, naming the grid to export instead."""
    refused = run_cli("-m", "sweep.export", "configs/default.yaml")
    assert_one_line_error(refused, "boundary has no W&B sweep equivalent", "--set search.method=grid")
    grid = ["--set", "search.method=grid", "--set", "search.space.beta=[0.5, 1, 4]"]
    result = run_cli("-m", "sweep.export", "configs/default.yaml", *grid)
    assert result.returncode == 0, result.stderr
    exported = yaml.safe_load(result.stdout)
    config = load_config(REPO / "configs" / "default.yaml", parse_overrides(grid[1::2]))
    assert exported["method"] == "grid"
    assert exported["command"][2:4] == ["-m", "sweep.trial"]
    for key, values in config.dimensions().items():
        assert exported["parameters"][key] == {"values": values}
    assert exported["parameters"]["epochs"] == {"value": config.trial.epochs}
    tpe = yaml.safe_load(run_cli("-m", "sweep.export", "configs/optuna.yaml").stdout)
    assert tpe["method"] == "bayes" and tpe["run_cap"] == load_config(REPO / "configs" / "optuna.yaml").search.n_trials
    assert tpe["parameters"]["beta"]["distribution"] == "log_uniform_values"


def test_sweep_trial_runs_one_trial_from_flags(tmp_path, capsys, monkeypatch):
    from sweep.trial import main

    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wandb-root"))
    result = run_in_process(main, "--beta", "4", "--latent_dim", "2", "--hidden", "[32]", "--epochs", "1",
                            "--iwae_samples", "5", "--reduction", "mean", "--study", "manual", "--out", str(tmp_path),
                            "--wandb-mode", "offline", capsys=capsys)
    wandb_teardown()
    assert result.returncode == 0, result.stderr[-3000:]
    assert '"nelbo"' in result.stdout and "artifacts:" in result.stdout
    (run,) = wandb_runs(tmp_path)
    assert run.config["beta"] == 4.0 and run.config["reduction"] == "mean" and run.group == "manual"
    assert run.exit_code == 0 and "test/nelbo" in run.summary
    assert (tmp_path / "manual" / f"run-{run.run_id}" / "metrics.json").is_file()
