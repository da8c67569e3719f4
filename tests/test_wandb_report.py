"""The report in W&B (analysis.wandb_report) and the trial runs' define_metric, read back from the offline run
files: the `report` run's table, figures, HTML and artifact; the report run kept out of `--wandb-dir` loading.
(The report run a whole sweep leaves: tests/test_sweep_e2e.py, on the smoke sweep.)"""
from __future__ import annotations

import base64
import io
import json
import math

import nbformat
import numpy as np
import pandas as pd
import pytest

from common.results import TrialResult
from analysis_fixtures import wandb_trials, write_wandb_runs
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from PIL import Image

from analysis.read.load import load
from common.wandb_adapter import iter_records, read_run
from analysis.wandb_report import artifact_name, publish, report_figures
from sweep.tracking import Tracker


@pytest.fixture(autouse=True)
def wandb_env(monkeypatch, tmp_path):
    monkeypatch.delenv("WANDB_DIR", raising=False)
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_DATA_DIR", str(tmp_path / "wandb-data"))  # artifact staging


def png(color: tuple[int, int, int], size=(12, 8)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def image_cell(*images: bytes):
    cell = new_code_cell("show(fig)")
    cell.outputs = [new_output("display_data", data={"image/png": base64.b64encode(image).decode()})
                    for image in images]
    return cell


def write_report(folder, study="lab run/1"):
    """A report folder as analysis.report writes it: summary.csv, collapse_boundary.csv, executed notebooks with
    PNG outputs, HTML."""
    folder.mkdir(parents=True)
    pd.DataFrame({"arch": ["mlp"], "latent_dim": [16], "reduction": ["sum"], "low": [13.5], "estimate": [17.4],
                  "high": [22.6], "method": ["bracket"], "trials": [4]}).to_csv(folder / "collapse_boundary.csv",
                                                                                index=False)
    pd.DataFrame({"number": [0, 1], "study": [study, study], "beta": [1.0, 4.0], "reduction": ["sum", "mean"],
                  "test/kl": [25.5, math.nan], "status": ["healthy", "collapsed"],
                  "kl_per_dim": ["[12.5, 13.0]", ""]}).to_csv(folder / "summary.csv", index=False)
    red, green, blue = png((255, 0, 0)), png((0, 255, 0)), png((0, 0, 255), size=(20, 10))
    first = new_notebook(cells=[new_markdown_cell("# Title"), new_code_cell("x = 1"),
                                new_markdown_cell("## 1. When did the VAE over-regularise?\n\ntext"),
                                image_cell(red, green)])
    second = new_notebook(cells=[new_markdown_cell("## Which dimensions carry information?"), image_cell(red, blue)])
    nbformat.write(first, folder / "overregularization.ipynb")
    nbformat.write(second, folder / "kl_per_dim.ipynb")
    (folder / "overregularization.html").write_text("<html><body><h1>Overregularisation</h1></body></html>")
    (folder / "kl_per_dim.html").write_text("<html><body><h1>KL per latent dimension</h1></body></html>")
    return {"red": red, "green": green, "blue": blue}


def flushed() -> None:
    """wandb-core may still be writing a finished run's file when finish() returns: stop the service first."""
    import wandb

    wandb.teardown()


def report_run(root):
    flushed()
    runs = [read_run(path) for path in root.rglob("run-*.wandb")]
    reports = [run for run in runs if run.job_type == "report"]
    assert len(reports) == 1, [(run.name, run.job_type) for run in runs]
    return reports[0]


def artifacts(path):
    return [record.artifact for record in iter_records(path) if record.WhichOneof("record_type") == "artifact"]


def test_figures_come_from_the_notebooks_once_each_with_their_heading(tmp_path):
    images = write_report(tmp_path / "report")
    figures = report_figures(tmp_path / "report")
    assert [figure.png for figure in figures] == [images["red"], images["green"], images["blue"]]
    assert [figure.key for figure in figures] == ["overregularization/01", "overregularization/02", "kl_per_dim/02"]
    assert figures[0].caption == figures[1].caption == "1. When did the VAE over-regularise?"
    assert figures[2].caption == "Which dimensions carry information?"


def test_publish_writes_a_report_run_with_table_figures_html_and_artifact(tmp_path):
    study = "lab run/1"
    images = write_report(tmp_path / "report", study)
    tracker = Tracker.create("vae-sweeps", study, "offline", tmp_path / "runs")
    run_id = publish(tmp_path / "report", study, tracker)

    run = report_run(tmp_path / "runs" / "wandb")
    assert (run.run_id, run.group, run.job_type, run.name, run.exit_code) == (run_id, study, "report",
                                                                             f"report-{study}", 0)
    table = json.loads((run.files_dir / run.summary["summary"]["path"]).read_text())
    csv = pd.read_csv(tmp_path / "report" / "summary.csv")
    assert table["columns"] == list(csv.columns)
    assert table["data"][0] == [0, study, 1.0, "sum", 25.5, "healthy", "[12.5, 13.0]"]
    assert table["data"][1][4] is None and table["data"][1][6] is None  # NaN / empty cells
    boundary = json.loads((run.files_dir / run.summary["collapse_boundary"]["path"]).read_text())
    assert boundary["data"] == [["mlp", 16, "sum", 13.5, 17.4, 22.6, "bracket", 4]]

    logged = {key: value for key, value in run.summary.items() if key.startswith("figures/")}
    assert sorted(logged) == ["figures/kl_per_dim/02", "figures/overregularization/01",
                              "figures/overregularization/02"]
    for key, name in [("figures/kl_per_dim/02", "blue"), ("figures/overregularization/02", "green")]:
        stored = np.asarray(Image.open(run.files_dir / logged[key]["path"]).convert("RGB"))
        assert np.array_equal(stored, np.asarray(Image.open(io.BytesIO(images[name])).convert("RGB")))
    for stem in ("overregularization", "kl_per_dim"):
        html = (run.files_dir / run.summary[f"report/{stem}"]["path"]).read_text()
        assert html == (tmp_path / "report" / f"{stem}.html").read_text()

    (artifact,) = [a for a in artifacts(run.path) if a.type == "report"]
    assert artifact.name == artifact_name(study) == "report-lab-run-1"
    contents = {entry.path: entry.local_path for entry in artifact.manifest.contents}
    assert set(contents) == {"overregularization.html", "kl_per_dim.html", "summary.csv", "collapse_boundary.csv",
                             "overregularization.ipynb", "kl_per_dim.ipynb"}
    for name, staged in contents.items():  # the copies `wandb sync` uploads
        assert open(staged, "rb").read() == (tmp_path / "report" / name).read_bytes()


def test_disabled_mode_logs_nothing(tmp_path):
    write_report(tmp_path / "report")
    assert publish(tmp_path / "report", "s", Tracker.create("vae-sweeps", "s", "disabled", tmp_path / "runs")) is None
    assert not list(tmp_path.rglob("*.wandb"))


def test_loading_a_wandb_dir_skips_the_report_run(tmp_path):
    trials = wandb_trials(tmp_path)
    root = write_wandb_runs(tmp_path, trials)
    group = trials[0]["group"]
    write_report(tmp_path / "report", group)
    publish(tmp_path / "report", group, Tracker.create("vae-sweeps", group, "offline", root))
    assert report_run(root).group == group
    frame = load(wandb_dir=root, study=group)
    assert sorted(frame["number"]) == sorted(trial["number"] for trial in trials)


def test_trial_runs_chart_against_epoch_and_keep_the_lowest_val_nelbo(tmp_path):
    tracker = Tracker.create("vae-sweeps", "g", "offline", tmp_path)
    run = tracker.start("trial-0", {"beta": 1.0})
    for epoch, nelbo in enumerate([130.0, 110.0, 120.0]):
        run.log_epoch({"epoch": epoch, "val/nelbo": nelbo, "train/loss": nelbo + 5})
    run.finish_complete(TrialResult(nelbo=121.0))
    flushed()
    path = next(tmp_path.rglob("run-*.wandb"))
    metrics = {(record.metric.name or record.metric.glob_name): record.metric for record in iter_records(path)
               if record.WhichOneof("record_type") == "metric"}
    assert "epoch" in metrics
    for key in ("train/loss", "train/kl", "val/nelbo", "val/kl", "val/active_units"):
        assert metrics[key].step_metric == "epoch", key
    assert metrics["val/nelbo"].summary.min and not metrics["train/loss"].summary.min
    summary = read_run(path).summary
    assert summary["val/nelbo"] == {"min": 110.0}
    assert summary["train/loss"] == 125.0 and summary["test/nelbo"] == 121.0


def test_report_cli_refuses_an_unknown_wandb_mode(tmp_path):
    from conftest import assert_one_line_error, run_cli

    result = run_cli("-m", "analysis.report", "--storage", str(tmp_path / "none.db"), "--wandb", "sometimes")
    assert_one_line_error(result, "--wandb", "sometimes")
    assert not (tmp_path / "none.db").exists()
