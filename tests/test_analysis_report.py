"""`python -m analysis.report` end to end (as a subprocess), and its error cases."""
from __future__ import annotations

import csv
import html
import re
import shutil

import nbformat
import pandas as pd
import pytest
from analysis_fixtures import EXPECTED, make_study, only_failed_study, run_report, wandb_trials, write_wandb_runs

from analysis.report import main

NOTEBOOKS = ("overregularization", "kl_per_dim")


def visible_text(page: str) -> str:
    page = re.sub(r"<(style|script)\b.*?</\1>", " ", page, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


INCOMPLETE = 5  # the trial whose folder has no metrics.json


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    storage, study = make_study(root)
    (root / study / f"trial-{INCOMPLETE}" / "metrics.json").unlink()  # its run was killed while writing the folder
    out = root / "out"
    done = run_report(["--storage", storage, "--study", study, "--out", str(out)], root)
    assert done.returncode == 0, done.stderr
    return out, done


def test_an_incomplete_trial_folder_is_named_and_skipped_in_one_line(report):
    _, done = report
    [line] = [line for line in done.stderr.splitlines() if "incomplete" in line]
    assert line.startswith("warning: skipped 1 incomplete trial folder") and line.endswith(f"/trial-{INCOMPLETE}")
    summary = pd.read_csv(report[0] / "summary.csv")
    assert summary.loc[summary["number"] == INCOMPLETE, "artifact_dir"].isna().all()


def test_notebooks_executed_without_errors(report):
    out, _ = report
    for name in NOTEBOOKS:
        notebook = nbformat.read(out / f"{name}.ipynb", as_version=4)
        code = [cell for cell in notebook.cells if cell.cell_type == "code"]
        assert code and all(cell.execution_count for cell in code)
        outputs = [output for cell in code for output in cell.outputs]
        assert not [output for output in outputs if output.output_type == "error"]
        assert not [output for output in outputs if output.get("name") == "stderr"]
        first = code[0].source
        assert "load(storage=STORAGE" in first and "parameters" in code[0].metadata["tags"]


def test_html_has_embedded_figures_and_no_code(report):
    out, _ = report
    for name in NOTEBOOKS:
        page = (out / f"{name}.html").read_text()
        assert page.count("data:image/png;base64") >= 3
        assert "load(storage=STORAGE" not in page  # inputs hidden


def test_summary_csv_has_status_per_trial(report):
    out, _ = report
    rows = list(csv.DictReader((out / "summary.csv").open()))
    assert len(rows) == EXPECTED["vae_runs"] + EXPECTED["ae"] + EXPECTED["failed"]
    assert {"status", "evidence", "beta", "reduction", "test/recon_diversity", "kl_per_dim"} <= set(rows[0])
    mean_collapsed = [r for r in rows if r["reduction"] == "mean" and r["status"] == "collapsed"]
    sum_collapsed = [r for r in rows if r["reduction"] == "sum" and r["status"] == "collapsed"]
    assert len(mean_collapsed) == EXPECTED["collapsed_mean"] and not sum_collapsed


def test_collapse_boundary_csv_has_a_row_per_group_with_its_bracket(report):
    """The fixture's mean runs keep 1 unit at β = 0.1 (effective β 78.4) and none from β = 1 (784) on; its sum
    runs never lose their last unit (largest effective β 4)."""
    out, done = report
    rows = {(row["arch"], row["reduction"]): row for row in csv.DictReader((out / "collapse_boundary.csv").open())}
    assert set(rows) == {(arch, reduction) for arch in ("mlp", "conv") for reduction in ("sum", "mean")}
    for arch in ("mlp", "conv"):
        mean, total = rows[(arch, "mean")], rows[(arch, "sum")]
        assert (mean["method"], float(mean["low"]), float(mean["high"]), mean["trials"]) == \
            ("bracket", 78.4, 784.0, "3")
        assert (total["method"], float(total["low"]), total["estimate"], total["high"]) == ("above", 4.0, "", "")
    assert "collapse_boundary.csv" in done.stdout
    text = visible_text((out / "overregularization.html").read_text())
    assert "Where collapse begins" in text and "≈ 248 (78.4–784)" in text


def test_report_text_says_mean_collapsed_and_sum_did_not(report):
    out, done = report
    text = visible_text((out / "overregularization.html").read_text())
    assert f"All {EXPECTED['collapsed_mean']} runs with reduction=mean and β ≥ 1 collapsed" in text
    assert f"None of the {EXPECTED['healthy_sum']} runs with reduction=sum collapsed" in text
    assert "effective β" in text and "AE baseline" in text and "Why VAEs blur more" in text
    assert "not complete" in text and "1 FAIL" in text  # the failed trial is reported, the rest still renders
    kl_text = visible_text((out / "kl_per_dim.html").read_text())
    assert "informative dims 0 of 8" in kl_text
    assert f"{EXPECTED['collapsed_mean']} of {EXPECTED['vae_runs']} finished VAE runs collapsed" in done.stdout


def test_report_from_offline_wandb_dir_skips_and_names_corrupt_files(tmp_path):
    """The trials' run files plus a file that is no run file and a damaged copy of a run: the report is built
    from the readable runs and names the two it skipped."""
    wandb_dir = write_wandb_runs(tmp_path, wandb_trials(tmp_path, numbers=(0, 6, 10, 12)))
    files = sorted(file for file in wandb_dir.rglob("*.wandb") if "latest-run" not in file.parts)
    (files[0].parent / "run-garbage.wandb").write_bytes(b"not a wandb file at all")
    copy = shutil.copytree(files[1].parent, wandb_dir / "wandb" / "offline-run-damaged-copy")
    (damaged,) = copy.glob("*.wandb")
    data = bytearray(damaged.read_bytes())
    data[200:260] = b"\xff" * 60
    damaged.write_bytes(bytes(data))
    out = tmp_path / "out"
    done = run_report(["--wandb-dir", str(wandb_dir), "--out", str(out)], tmp_path)
    assert done.returncode == 0, done.stderr
    text = visible_text((out / "overregularization.html").read_text())
    assert "Both runs with reduction=mean collapsed" in text
    assert "The one run with reduction=sum did not collapse" in text
    assert (out / "kl_per_dim.html").read_text().count("data:image/png;base64") >= 3
    skipped = text[text.index("Skipped"):][:400]
    assert "Skipped 2 run files" in skipped and "run-garbage.wandb: not a W&B run file" in skipped, skipped
    assert f"{damaged.name}: " in skipped and "(checksum mismatch" in skipped


@pytest.mark.parametrize("case", ["missing_storage", "only_failed", "empty_wandb_dir", "bad_flag", "both_sources"])
def test_errors_exit_2_with_one_line(tmp_path, capsys, case):
    if case == "missing_storage":
        argv = ["--storage", f"sqlite:///{tmp_path / 'none.db'}", "--out", str(tmp_path / "o")]
    elif case == "only_failed":
        storage, study = only_failed_study(tmp_path)
        argv = ["--storage", storage, "--study", study, "--out", str(tmp_path / "o")]
    elif case == "empty_wandb_dir":
        argv = ["--wandb-dir", str(tmp_path), "--out", str(tmp_path / "o")]
    elif case == "bad_flag":
        argv = ["--no-such-flag"]
    else:
        argv = ["--storage", "x.db", "--wandb-dir", str(tmp_path)]
    try:
        code = main(argv)
    except SystemExit as exit_:
        code = exit_.code
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and err.startswith("error:")
    assert not (tmp_path / "o").exists()


def test_cli_error_as_subprocess(tmp_path):
    done = run_report(["--storage", f"sqlite:///{tmp_path / 'none.db'}"], tmp_path, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "no Optuna storage" in done.stderr


def test_no_tensorflow_and_no_secrets(tmp_path):
    import subprocess
    import sys

    from analysis_fixtures import ROOT, env

    code = ("import sys, analysis.report, analysis.read.load, analysis.show.figures, analysis.show.narrative\n"
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules")
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env(tmp_path)).returncode == 0

    from analysis.notebooks import Source, overregularization
    from common.storage_url import mask

    url = "postgresql://alice:s3cret@db.example/vae"
    notebook = overregularization(Source(storage=url, study="s", storage_has_secret=True), mask(url))
    text = nbformat.writes(notebook)
    assert "s3cret" not in text and "alice:***@db.example" in text and "VAE_SWEEPS_STORAGE" in text


def test_default_output_folder_sits_next_to_the_trials():
    from pathlib import Path

    from analysis.report import default_out
    from common.storage_url import normalize

    assert default_out("sqlite:////data/runs/sweeps.db", "s", None) == Path("/data/runs/s/report")
    assert default_out("postgresql://u@h/db", "s", None) == Path("reports/s")
    assert normalize("sqlite:///runs/x.db") == f"sqlite:///{Path('runs/x.db').resolve()}"


def test_kernel_groups_share_kernels_only_when_cores_are_short():
    from analysis.report import kernel_groups

    names = ["overregularization", "kl_per_dim", "samples"]
    assert kernel_groups(names, 3) == kernel_groups(names, 16) == [[name] for name in names]
    assert kernel_groups(names, 2) == [["overregularization"], ["kl_per_dim", "samples"]]
    assert kernel_groups(names, 1) == [names]
    assert kernel_groups(list("abcde"), 3) == [["a"], ["b", "d"], ["c", "e"]]


def test_notebooks_sharing_a_kernel_start_as_in_a_fresh_one(tmp_path):
    import asyncio
    import os

    from nbformat.v4 import new_code_cell, new_notebook

    from analysis.report import execute, kernel_env

    first = new_notebook(cells=[new_code_cell("import json\nx = 1"), new_code_cell("import os\nprint(os.getpid())")])
    second = new_notebook(cells=[new_code_cell("print('x' in dir(), 'json' in dir())"),
                                 new_code_cell("import os\nprint(os.getpid(), os.getcwd())")])
    asyncio.run(execute([first, second], tmp_path, kernel_env(None)))
    outputs = [[output["text"].split() for output in cell.outputs] for cell in first.cells + second.cells]
    pid = outputs[1][0][0]
    assert outputs[2] == [["False", "False"]] and outputs[3] == [[pid, str(tmp_path)]]  # one kernel, reset
    assert [cell.execution_count for cell in second.cells] == [1, 2]
    with pytest.raises(ProcessLookupError):  # and shut down afterwards
        os.kill(int(pid), 0)


def test_a_failing_notebook_names_its_error_and_its_kernel_is_shut_down(tmp_path):
    import asyncio
    import os

    from nbformat.v4 import new_code_cell, new_notebook

    from analysis.report import execute, kernel_env

    failing = new_notebook(cells=[new_code_cell("import os\nprint(os.getpid())"), new_code_cell("1 / 0")])
    never_run = new_notebook(cells=[new_code_cell("print('ran')")])
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        asyncio.run(execute([failing, never_run], tmp_path, kernel_env(None)))
    assert not never_run.cells[0].get("outputs")
    with pytest.raises(ProcessLookupError):
        os.kill(int(failing.cells[0].outputs[0]["text"]), 0)
