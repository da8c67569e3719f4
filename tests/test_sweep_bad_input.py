"""The bad-input matrix: `python -m sweep.launch` refuses each bad input with exit code 2, one `error:`
line naming the problem, no traceback, and nothing changed in an existing study's storage or output folder.

A module-scoped baseline runs one tiny real sweep (in this process); every bad invocation then points at (a copy of) that `--out` and
its study, and the folder (every file's sha256 and size, folders, links) and the SQLite rows must be identical after.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, assert_one_line_error, run_cli

SMOKE = str(REPO / "configs" / "smoke.yaml")
TINY = ["--no-report", "--wandb-mode", "offline", "--set", "trial.epochs=1", "--set", "search.space.beta=[1.0]",
        "--set", "search.space.reduction=[sum]", "--set", "trial.dataset=digits", "--set", "trial.hidden=[32]"]
TABLES = ("studies", "study_user_attributes", "trials", "trial_user_attributes")
SECRET = "s3cretpw"
# Bad data / output folders are refused before the storage is opened: a new study name would be created there.
FRESH = ["--study", "fresh"]


def snapshot(out: Path) -> dict:
    """Every entry under `out` (file: sha256 + size; folder; link target) and the study tables' rows."""
    entries = {}
    for path in sorted(out.rglob("*")):
        key = str(path.relative_to(out))
        if path.is_symlink():
            entries[key] = ("link", os.readlink(path))
        elif path.is_dir():
            entries[key] = ("dir",)
        else:
            data = path.read_bytes()
            entries[key] = ("file", hashlib.sha256(data).hexdigest(), len(data))
    connection = sqlite3.connect(f"file:{out / 'sweeps.db'}?mode=ro", uri=True)
    try:
        rows = {table: sorted(connection.execute(f"SELECT * FROM {table}").fetchall(), key=repr) for table in TABLES}
    finally:
        connection.close()
    return {"files": entries, "rows": rows}


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    import wandb

    from sweep.launch import main

    out = tmp_path_factory.mktemp("baseline") / "out"
    assert main([SMOKE, "--out", str(out), *TINY, "--workers", "1"]) == 0  # in this process; the cases run the CLI
    wandb.teardown()  # the service may still be writing the run files when the sweep returns
    before = snapshot(out)
    assert before["rows"]["trials"] and before["rows"]["trial_user_attributes"], before["rows"]
    assert any(key.endswith("metrics.json") for key in before["files"])
    return out, before


@pytest.fixture
def baseline(pristine, tmp_path):
    """A byte-identical copy of the baseline sweep's folder (so one failing case cannot spoil the others)."""
    out = tmp_path / "out"
    shutil.copytree(pristine[0], out, symlinks=True)
    assert snapshot(out) == pristine[1]
    return out, pristine[1]


def write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def garbage_npz(tmp: Path) -> str:
    (tmp / "garbage.npz").write_bytes(os.urandom(64) + b"PK\x03\x04 not really a zip")
    return f"trial.dataset=npz:{tmp / 'garbage.npz'}"


def npz_without_x(tmp: Path) -> str:
    np.savez(tmp / "no_x.npz", images=np.zeros((20, 8, 8), dtype=np.float32))
    return f"trial.dataset=npz:{tmp / 'no_x.npz'}"


# name -> (make the bad arguments from (tmp, out), needles in the error line). Unless a case gives its own config
# file, the bad part is appended to the baseline's command (same study, same storage), so it wins.
CASES = {
    "missing_config": (lambda tmp, out: [str(tmp / "missing.yaml")], ["missing.yaml", "no such file"]),
    "malformed_yaml": (lambda tmp, out: [write(tmp / "bad.yaml", "study: smoke\nsearch: {space: {beta: [1]\n")],
                       ["bad.yaml", "malformed YAML", "line"]),
    "unknown_key": (lambda tmp, out: ["--set", "trial.colour=red"], ["trial.colour", "unknown key", "allowed"]),
    "wrong_type": (lambda tmp, out: ["--set", "trial.batch_size=large"], ["trial.batch_size", "integer", "large"]),
    "empty_grid": (lambda tmp, out: [write(tmp / "empty.yaml", "study: smoke\nsearch: {method: grid, space: {}}\n")],
                   ["empty.yaml", "search.space", "empty grid"]),
    "empty_tpe_space": (lambda tmp, out: [write(tmp / "empty_tpe.yaml",
                                                "study: smoke\nsearch: {method: tpe, n_trials: 2, space: {}}\n")],
                        ["empty_tpe.yaml", "search.space", "empty search space"]),
    "grid_non_list": (lambda tmp, out: ["--set", "search.space.beta=4.0"], ["search.space.beta", "grid needs a list"]),
    "tpe_without_n_trials": (lambda tmp, out: ["--set", "search.method=tpe"], ["search.n_trials", "required"]),
    "beta_zero": (lambda tmp, out: ["--set", "trial.beta=0"], ["trial.beta", "greater than 0"]),
    "beta_negative_in_space": (lambda tmp, out: ["--set", "search.space.beta=[1.0, -4]"],
                               ["search.space.beta[1]", "greater than 0"]),
    "latent_dim_zero_in_space": (lambda tmp, out: ["--set", "search.space.latent_dim=[0, 2]"],
                                 ["search.space.latent_dim[0]", "greater than or equal to 1"]),
    "unknown_arch": (lambda tmp, out: ["--set", "trial.arch=resnet"],
                     ["trial.arch", "resnet", "'mlp', 'conv' or 'linear'"]),
    "unknown_likelihood": (lambda tmp, out: ["--set", "search.space.likelihood=[bernoulli, poisson]"],
                           ["search.space.likelihood[1]", "poisson", "'continuous_bernoulli'", "'gaussian_learned'"]),
    "unknown_dataset": (lambda tmp, out: ["--set", "trial.dataset=imagenet"],
                        ["trial.dataset", "imagenet", "mnist5k", "npz:PATH"]),
    "corrupt_npz": (lambda tmp, out: [*FRESH, "--set", garbage_npz(tmp)], ["garbage.npz", "not a readable .npz"]),
    "npz_without_x": (lambda tmp, out: [*FRESH, "--set", npz_without_x(tmp)], ["no_x.npz", "no array 'x'", "images"]),
    "bernoulli_on_real_values": (lambda tmp, out: [*FRESH, "--set", "trial.dataset=gaussian16"],
                                 ["gaussian16", "outside the [0, 1]", "likelihood=bernoulli",
                                  "gaussian_mean=identity"]),
    "unreachable_storage": (lambda tmp, out: ["--storage", f"postgresql://user:{SECRET}@127.0.0.1:1/db",
                                              "--set", "storage_retry_seconds=1"],
                            ["cannot open storage", "postgresql://user:***@127.0.0.1:1/db"]),
    "storage_under_a_file": (lambda tmp, out: ["--storage", f"sqlite:///{out / 'sweeps.db' / 'inner.db'}"],
                             ["storage folder", "sweeps.db"]),
    "study_folder_is_a_file": (lambda tmp, out: ["--study", "sweeps.db"],  # <out>/<study>/ is the artifact folder
                               ["out:", "sweeps.db", "not a folder", "study 'sweeps.db'"]),
    "study_with_other_space": (lambda tmp, out: ["--set", "search.space.beta=[1.0, 4.0]"],
                               ["study 'smoke'", "different search_space", "--study NEW",
                                "optuna delete-study --storage sqlite:///", "--study-name smoke"]),
    "study_with_other_defaults": (lambda tmp, out: ["--set", "trial.latent_dim=4"],
                                  ["study 'smoke'", "different trial_defaults"]),
    "workers_zero": (lambda tmp, out: ["--workers", "0"], ["--workers", "at least 1"]),
    "workers_not_a_number": (lambda tmp, out: ["--workers", "two"], ["--workers", "two"]),
}

# The output folder cannot be used; the baseline's storage is given explicitly, so only --out is wrong.
BAD_OUT = {
    "out_under_a_file": (lambda out: out / "sweeps.db" / "sub", ["out:", "sweeps.db", "not a folder"]),
    "out_is_a_file": (lambda out: out / "smoke" / "trial-0" / "metrics.json", ["out:", "metrics.json", "not a folder"]),
}


def check_refused(result, out: Path, before: dict, tmp: Path, files_before: list[str], needles) -> None:
    assert_one_line_error(result, *needles)
    assert not result.stdout.strip(), result.stdout[-2000:]
    assert snapshot(out) == before
    assert sorted(os.listdir(tmp)) == files_before  # nothing written next to the config / in the cwd either


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_is_refused_before_anything_is_written(baseline, tmp_path, name):
    out, before = baseline
    make_args, needles = CASES[name]
    args = make_args(tmp_path, out)
    base = ["--no-report"] if args and not args[0].startswith("--") else [SMOKE, *TINY]  # its own config file
    files_before = sorted(os.listdir(tmp_path))
    result = run_cli("-m", "sweep.launch", *base, "--out", str(out), *args, cwd=tmp_path, timeout=120)
    check_refused(result, out, before, tmp_path, files_before, needles)
    assert SECRET not in result.stdout + result.stderr


@pytest.mark.parametrize("name", sorted(BAD_OUT))
def test_unusable_output_folder_is_refused(baseline, tmp_path, name):
    out, before = baseline
    make_out, needles = BAD_OUT[name]
    files_before = sorted(os.listdir(tmp_path))
    result = run_cli("-m", "sweep.launch", SMOKE, *TINY, *FRESH, "--out", str(make_out(out)), "--storage",
                     f"sqlite:///{out / 'sweeps.db'}", cwd=tmp_path, timeout=120)
    check_refused(result, out, before, tmp_path, files_before, needles)
