"""`python -m analysis.report` on a 5,000-trial study and on bad input (a report from PostgreSQL, with a password
that must reach no file: tests/test_slurm_example.py).

Wall time and kernel memory are measured by `python -m benchmarks --only report` (BENCHMARKS.md), not here.
"""
from __future__ import annotations

import csv

import nbformat
import optuna
import pytest
from analysis_fixtures import run_report
from test_analysis_report import visible_text
from test_analysis_scale import journal_study

MAX_HTML = 10 * 1024 * 1024


def check_report(out, n_trials: int) -> str:
    """The checks every large report must pass; returns the overregularisation page's text."""
    for name in ("overregularization", "kl_per_dim"):
        notebook = nbformat.read(out / f"{name}.ipynb", as_version=4)
        outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
        assert not [output for output in outputs if output.output_type == "error" or output.get("name") == "stderr"]
        assert (out / f"{name}.html").stat().st_size <= MAX_HTML
    assert len(list(csv.DictReader((out / "summary.csv").open()))) == n_trials
    text = visible_text((out / "overregularization.html").read_text())
    shown = f"Showing 40 of {n_trials:,} trials".replace(",", " ")  # visible_text turns the thin space into " "
    assert shown in text and "summary.csv" in text
    assert "Where collapse begins" in text and "seeds collapsed" in text and (out / "configurations.csv").is_file()
    assert "`beta`" not in text and "beta ∈ {" in text and " values, " in text.split("beta ∈ {")[1][:20]
    kl_text = visible_text((out / "kl_per_dim.html").read_text())
    assert "median per arch × latent size × status" in kl_text and "kl_per_dim.csv" in kl_text
    return text


@pytest.mark.parametrize("n_trials", [5000])
def test_report_on_large_synthetic_study(tmp_path, n_trials):
    storage = journal_study(tmp_path / "journal.log", n_trials)
    out = tmp_path / "out"
    done = run_report(["--storage", storage, "--out", str(out)], tmp_path, timeout=900)
    assert done.returncode == 0, done.stderr
    text = check_report(out, n_trials)
    assert "seeds disagreed" in text
    with (out / "kl_per_dim.csv").open() as file:
        rows = sum(1 for _ in file) - 1
    finished = [row for row in csv.DictReader((out / "summary.csv").open())
                if row["state"] == "COMPLETE" and row["model"] == "vae"]
    assert rows == len(finished)


def one_line_error(done) -> str:
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith("error: ") and done.stderr.strip().count("\n") == 0
    return done.stderr


def test_unrelated_optuna_study_is_one_line_error(tmp_path):
    storage = f"sqlite:///{tmp_path / 'other.db'}"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name="quadratic", storage=storage)
    study.optimize(lambda trial: (trial.suggest_float("x", -5, 5) - 2) ** 2, n_trials=5)
    error = one_line_error(run_report(["--storage", storage, "--out", str(tmp_path / "o")], tmp_path))
    assert "none of its 5 finished trials recorded the sweep's test metrics" in error
    assert not (tmp_path / "o").exists()


def test_study_with_only_pruned_trials_is_one_line_error(tmp_path):
    storage = journal_study(tmp_path / "pruned.log", 10, fail_share=0.0, prune_share=1.0)
    error = one_line_error(run_report(["--storage", storage, "--out", str(tmp_path / "o")], tmp_path))
    assert "no finished trials (10 PRUNED)" in error


def test_wandb_folder_of_only_corrupt_files_is_one_line_error(tmp_path):
    for index in range(3):
        (tmp_path / f"run-{index}.wandb").write_bytes(b"\x00garbage" * index)
    error = one_line_error(run_report(["--wandb-dir", str(tmp_path), "--out", str(tmp_path / "o")], tmp_path))
    assert "3 run files, none readable" in error


def test_benchmark_section_replaces_only_its_own_block(tmp_path):
    from benchmarks.report_scale import END, START, Run, markdown, write_section

    path = tmp_path / "BENCHMARKS.md"
    path.write_text("# Benchmarks\n\n| training table |\n\n<!-- hand-written -->\nnotes\n")
    runs = [Run("SQLite", 500, 30.0, 41.5, 20.0, 812.0, 300.0, 1.2, 0),
            Run("SQLite", 5000, 300.0, 130.0, 60.0, 900.0, 1.0, 2.0, 0)]
    write_section(path, markdown(runs, "test machine", "today"))
    write_section(path, markdown(runs[:1], "test machine", "today"))
    text = path.read_text()
    assert text.startswith("# Benchmarks\n\n| training table |") and "notes" in text
    assert text.count(START) == 1 and text.count(END) == 1
    assert "| SQLite | 500 | 30 | 41.5 | 20.0 | 812 | 300 | 1.20 | yes / yes | 0 |" in text
    assert "| SQLite | 5,000 |" not in text
    assert "| **no** / yes |" in markdown(runs, "m", "d")  # 130 s wall > 120 s for 5,000 trials, 60 s CPU


def test_a_file_that_is_neither_sqlite_nor_a_journal_is_one_line_error(tmp_path):
    (tmp_path / "notes.txt").write_text("hello\n")
    error = one_line_error(run_report(["--storage", str(tmp_path / "notes.txt"), "--out", str(tmp_path / "o")],
                                      tmp_path))
    assert "no Optuna study in" in error and "journal file" in error
    assert (tmp_path / "notes.txt").read_text() == "hello\n"
