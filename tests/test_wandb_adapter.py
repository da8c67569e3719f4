"""Pins the W&B behaviour `common.wandb_adapter` relies on: a real offline run written with its settings, read back.

A wandb release that changes any of this fails here, naming its version, not in the middle of a sweep or a report."""
from __future__ import annotations

import pytest

from common import wandb_adapter
from conftest import pins

ADAPTER = "common/wandb_adapter.py"
BIG = 20_000  # a summary list this long is a record over 64 KiB: FIRST / MIDDLE / LAST chunks


@pytest.fixture(scope="module")
def run_file(tmp_path_factory):
    import wandb

    root = tmp_path_factory.mktemp("wandb")
    run = wandb.init(mode="offline", dir=str(root), project="vae-sweeps", group="g", job_type="trial",
                     name="trial-3", config={"beta": 4.0, "hidden": [32, 16]}, settings=wandb_adapter.settings())
    run.config.update({"late": "added"})
    for epoch in range(3):
        run.log({"epoch": epoch, "val/nelbo": 100.0 - epoch, "val/kl": float("nan") if epoch == 0 else 1.0})
    run.log({"kl_per_dim": wandb.Table(columns=["dim", "kl"], data=[[1, 0.5], [0, 2.0]])})
    run.summary.update({"test/kl": 2.5, "big": list(range(BIG)), "nested": {"a": {"b": 1}}})
    run.finish(exit_code=0)
    wandb.teardown()  # the service may still be writing the run file when finish() returns
    [path] = [path for path in root.rglob("run-*.wandb") if "latest-run" not in path.parts]
    return path


@pins("wandb", ADAPTER)
def test_the_settings_switch_off_what_they_name():
    settings = wandb_adapter.settings()  # wandb.Settings refuses a field it does not know
    assert settings.x_disable_stats and settings.x_disable_machine_info and settings.x_disable_meta
    assert settings.silent and settings.console == "off" and settings.disable_git and not settings.save_code


@pins("wandb", ADAPTER)
def test_an_offline_run_file_has_the_header_the_reader_expects(run_file):
    ident, magic, version = wandb_adapter.FILE_HEADER.unpack_from(run_file.read_bytes(), 0)
    assert (ident, magic, version) == (wandb_adapter.IDENT, wandb_adapter.MAGIC, wandb_adapter.VERSION)


@pins("wandb", ADAPTER)
def test_read_run_replays_identity_config_history_summary_and_exit(run_file):
    run = wandb_adapter.read_run(run_file)
    assert (run.name, run.group, run.job_type, run.project) == ("trial-3", "g", "trial", "vae-sweeps")
    assert run.run_id and run.path == run_file and run.exit_code == 0
    assert run.config == {"beta": 4.0, "hidden": [32, 16], "late": "added"}
    epochs = [row for row in run.history if "epoch" in row]
    assert [row["epoch"] for row in epochs] == [0, 1, 2]
    assert [row["val/nelbo"] for row in epochs] == [100.0, 99.0, 98.0]
    assert epochs[0]["val/kl"] != epochs[0]["val/kl"] and epochs[1]["val/kl"] == 1.0  # NaN kept as NaN
    assert run.summary["test/kl"] == 2.5 and run.summary["nested"] == {"a": {"b": 1}}
    assert run.summary["big"] == list(range(BIG))


@pins("wandb", ADAPTER)
def test_a_logged_table_is_read_from_the_run_files(run_file):
    assert wandb_adapter.read_run(run_file).table("kl_per_dim") == {"dim": [1, 0], "kl": [0.5, 2.0]}
    assert wandb_adapter.read_run(run_file).table("test/kl") is None


@pins("wandb", ADAPTER)
def test_no_system_metrics_are_recorded(run_file):
    kinds = {record.WhichOneof("record_type") for record in wandb_adapter.iter_records(run_file)}
    assert {"run", "config", "history", "summary", "exit"} <= kinds
    assert "stats" not in kinds


def test_a_torn_tail_keeps_what_was_written_before_it(run_file, tmp_path):
    torn = tmp_path / "run-torn.wandb"
    data = run_file.read_bytes()
    torn.write_bytes(data[: len(data) - 40])
    run = wandb_adapter.read_run(torn)
    assert run.name == "trial-3" and run.config["beta"] == 4.0 and run.exit_code is None


def test_a_damaged_chunk_ends_the_read_with_a_warning(run_file, tmp_path):
    damaged = tmp_path / "run-damaged.wandb"
    data = bytearray(run_file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    with pytest.warns(UserWarning, match="checksum mismatch"):
        run = wandb_adapter.read_run(damaged)
    assert run.name == "trial-3" and run.exit_code is None


def test_a_file_that_is_not_a_run_file_is_refused(tmp_path):
    other = tmp_path / "run-x.wandb"
    other.write_bytes(b"SQLite format 3\x00" + bytes(100))
    with pytest.raises(wandb_adapter.WandbFileError, match="not a W&B run file"):
        wandb_adapter.read_run(other)
