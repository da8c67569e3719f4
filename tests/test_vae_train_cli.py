"""`python -m vae.train` end to end, as a user runs it: the seed's phenomenon and bad input."""
import contextlib
import csv
import io
import json

import numpy as np
import pytest
from PIL import Image

from conftest import assert_one_line_error, run_cli, run_in_process

EPOCHS = 5
TRAINING = [f"epochs={EPOCHS}", "learning_rate=2e-3"]  # what the default sweep trains with, one epoch less


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Three runs on mnist5k: the pixel-averaged VAE, the summed VAE, and the AE baseline. The summed one runs as
    a user runs it (a subprocess); the other two call the same `main` in this process."""
    from vae.train import main

    runs = {}
    for name, settings in {"mean": ["reduction=mean"], "sum": ["reduction=sum"], "ae": ["model=ae"]}.items():
        out = tmp_path_factory.mktemp(name)
        args = ["--out", str(out)]
        for setting in [*TRAINING, *settings]:
            args += ["--set", setting]
        if name == "sum":
            result = run_cli("-m", "vae.train", *args)
            assert result.returncode == 0, result.stderr[-3000:]
            printed = result.stdout
        else:
            with contextlib.redirect_stdout(io.StringIO()) as stdout:
                assert main(args) == 0
            printed = stdout.getvalue()
        runs[name] = (out, json.loads((out / "metrics.json").read_text()), printed.splitlines()[-1])
    return runs


def test_mean_reduction_overregularizes_every_reconstruction_is_the_same(trained):
    _, metrics, verdict = trained["mean"]
    assert metrics["effective_beta"] == 784.0
    assert metrics["active_units"] == 0
    assert metrics["recon_diversity"] < 0.05
    assert metrics["kl"] < 0.1
    assert verdict.startswith("verdict: collapsed (active_units 0 <= 0; recon_diversity ") and "effective β 784)" in verdict


def test_sum_reduction_trains_a_healthy_vae(trained):
    _, metrics, verdict = trained["sum"]
    assert verdict.startswith(f"verdict: healthy (active_units {metrics['active_units']} >= 4 (latent_dim 16")
    assert metrics["active_units"] >= 12  # of 16
    assert metrics["recon_diversity"] > 0.4
    assert 80 < metrics["nelbo"] < 160  # nats; a collapsed model sits above 200
    assert metrics["nelbo"] == pytest.approx(metrics["recon_nll"] + metrics["kl"])
    assert metrics["iwae_nll"] <= metrics["nelbo"]
    assert metrics["mutual_info"] > 1.0
    assert len(metrics["kl_per_dim"]) == 16 and sum(metrics["kl_per_dim"]) == pytest.approx(metrics["kl"], rel=1e-6)


def test_ae_reconstructions_are_sharper_than_the_vae_ones(trained):
    _, ae, verdict = trained["ae"]
    _, vae, _ = trained["sum"]
    assert verdict.startswith("verdict: ae (autoencoder (no KL term): recon_diversity ")
    assert ae["sharpness"] > vae["sharpness"]
    assert ae["recon_nll"] < vae["recon_nll"]
    assert ae["kl"] is None and ae["active_units"] is None  # KL-based metrics are undefined for the AE


def test_artifacts_are_written(trained):
    out, metrics, _ = trained["sum"]
    assert {"train_seconds", "epochs_run", "examples_per_second"} <= metrics.keys()
    assert metrics["epochs_run"] == EPOCHS
    rows = list(csv.DictReader(open(out / "history.csv")))
    assert len(rows) == EPOCHS and {"train/loss", "val/nelbo", "val/active_units"} <= rows[0].keys()
    assert float(rows[-1]["val/nelbo"]) < float(rows[0]["val/nelbo"])
    recon = Image.open(out / "reconstructions.png")
    assert recon.width > 2 * recon.height  # two labelled rows: test images above reconstructions
    assert Image.open(out / "samples.png").size[0] > 0
    arrays = np.load(out / "reconstructions.npz")
    assert arrays["originals"].shape == arrays["reconstructions"].shape


@pytest.mark.parametrize("settings, needles", [
    (["colour=red"], ["unknown key 'colour'", "latent_dim"]),
    (["dataset=imagenet"], ["dataset", "mnist5k", "npz:PATH"]),
    (["beta=0"], ["beta", "greater than 0"]),
    (["beta=-1"], ["beta"]),
    (["latent_dim=0"], ["latent_dim", "greater than or equal to 1"]),
    (["latent_dim=abc"], ["latent_dim", "integer"]),
    (["epochs=[1, 2]"], ["epochs"]),
    (["reduction=median"], ["reduction", "'sum' or 'mean'"]),
    (["dataset=npz:/nonexistent/x.npz"], ["npz:/nonexistent/x.npz", "not found"]),
    (["dataset=gaussian16"], ["gaussian16", "outside the [0, 1]", "likelihood=bernoulli", "gaussian_mean=identity"]),
    (["novalue"], ["key=value"]),
])
def test_bad_input_is_one_line_exit_2(tmp_path, settings, needles, capsys):
    from vae.train import main

    args = ["--out", str(tmp_path / "out")]
    for setting in settings:
        args += ["--set", setting]
    # The first case as a user runs it; the others through the same `main` in this process.
    as_user = settings == ["colour=red"]
    result = run_cli("-m", "vae.train", *args) if as_user else run_in_process(main, *args, capsys=capsys)
    assert_one_line_error(result, *needles)
    assert not (tmp_path / "out").exists()


def test_corrupt_npz_and_npz_without_x(tmp_path):
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"PK\x03\x04 truncated")
    assert_one_line_error(run_cli("-m", "vae.train", "--set", f"dataset=npz:{corrupt}"), "not a readable .npz")
    no_x = tmp_path / "no_x.npz"
    np.savez(no_x, images=np.zeros((20, 8, 8)))
    assert_one_line_error(run_cli("-m", "vae.train", "--set", f"dataset=npz:{no_x}"), "no array 'x'", "images")


def test_a_nan_loss_is_one_line_exit_2(tmp_path, capsys):
    from vae.train import main

    result = run_in_process(main, "--set", "likelihood=gaussian", "--set", "gaussian_sigma=1e-30", "--set",
                            "hidden=[8]", "--set", "latent_dim=2", "--out", str(tmp_path / "out"), capsys=capsys)
    assert_one_line_error(result, "non-finite training loss at epoch 0")
    assert not (tmp_path / "out").exists()


def test_help_lists_every_key_with_its_default_and_allowed_values():
    from vae.config import TrialConfig

    result = run_cli("-m", "vae.train", "--help")
    assert result.returncode == 0, result.stderr
    keys = {line.split()[0]: line for line in result.stdout.split("keys for --set")[1].splitlines()[1:]}
    assert set(keys) == set(TrialConfig.model_fields)
    assert "sum | mean" in keys["reduction"] and "(default: sum)" in keys["reduction"]
    assert "npz:PATH" in keys["dataset"] and "(default: mnist5k)" in keys["dataset"]
    assert "float > 0" in keys["beta"] and "int >= 1" in keys["latent_dim"]
