"""Saved models, sample-quality sanity and `python -m vae.sample`, on small real trainings (mnist5k, mlp)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import optuna
import pytest
from PIL import Image

from conftest import assert_one_line_error, run_cli, run_in_process
from vae import quality
from vae.sample import main as sample_main
from vae.config import TrialConfig

# The default sweep's mlp: an under-trained VAE's blurry blobs can be further from the data than the collapsed
# average image, so the healthy run is trained as in the default sweep (8 epochs).
DEFAULT = dict(dataset="mnist5k", arch="mlp", hidden=[512, 256], latent_dim=16, epochs=8, iwae_samples=5)
SMALL = dict(dataset="mnist5k", arch="mlp", hidden=[128], latent_dim=2, epochs=2, iwae_samples=5)
RUNS = {
    "healthy": dict(DEFAULT, reduction="sum", beta=1.0),
    "collapsed": dict(DEFAULT, reduction="mean", beta=1.0, epochs=4),  # effective β = 784: posterior collapse
    "latent2": dict(SMALL),
    "ae": dict(SMALL, model="ae", latent_dim=16),
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from vae.train import run

    root = tmp_path_factory.mktemp("trials")
    return {name: run(TrialConfig(**values), root / name) for name, values in RUNS.items()}


def test_a_loaded_model_reproduces_the_recorded_test_metrics(trained):
    from vae import data
    from vae.evaluate import Evaluator
    from vae.saving import decode_means, load

    for name in ("latent2", "ae"):
        folder = trained[name].artifact_dir
        recorded = json.loads((folder / "metrics.json").read_text())
        model, config = load(folder)
        assert config == TrialConfig(**RUNS[name])
        splits = data.load_splits(config)
        again, _ = Evaluator(model).full(splits.test, config.iwae_samples, config.seed, config.eval_limit)
        for key, value in again.items():
            if value is None:
                assert recorded[key] is None, key
            else:
                np.testing.assert_allclose(value, recorded[key], rtol=1e-5, err_msg=key)
        samples = quality.sample_metrics(config, lambda codes: decode_means(model, codes), splits)
        assert samples["sample_fd"] == pytest.approx(recorded["sample_fd"], rel=1e-5)


def test_the_decoder_loads_without_this_project(trained):
    import keras

    folder = trained["latent2"].artifact_dir
    decoder = keras.saving.load_model(folder / "decoder.keras", compile=False)
    logits = np.asarray(decoder(np.zeros((3, 2), np.float32)))
    assert logits.shape == (3, 28, 28, 1)


def test_sample_fd_sanity_real_images_healthy_collapsed_noise(trained):
    """FD(test vs held-out images) is small; a collapsed run's FD is far above a healthy run's; noise is worse."""
    config = TrialConfig(**RUNS["healthy"])
    ref = quality.reference(config)
    splits = quality.grey_splits(config)

    def fd(images):
        return quality.frechet_distance(*quality.feature_stats(ref.classifier.features(images)), ref.test_mean,
                                        ref.test_cov)

    held_out = fd(splits.val)
    train_part = fd(splits.train[:len(splits.test)])
    healthy = trained["healthy"].sample_fd
    collapsed = trained["collapsed"].sample_fd
    noise = fd(np.random.default_rng(0).random(splits.test.shape).astype(np.float32))
    assert trained["collapsed"].active_units == 0
    assert held_out < 0.2 * healthy and train_part < 0.2 * healthy
    assert collapsed > 2 * healthy
    assert noise > collapsed
    assert ref.classifier.accuracy > 0.9


def test_every_trial_gets_sample_metrics_the_ae_too(trained):
    for name, result in trained.items():
        values = result.as_dict()
        assert values["sample_fd"] > 0 and 0 < values["sample_confidence"] <= 1, name
        assert 0 <= values["sample_coverage"] <= 1 and values["sample_quality_skipped"] is None, name
    # the collapsed VAE draws (nearly) the same image every time: one predicted class only
    assert trained["collapsed"].sample_coverage < trained["healthy"].sample_coverage


def test_a_dataset_without_labels_skips_the_sample_metrics(tmp_path):
    from vae.train import run

    path = tmp_path / "unlabelled.npz"
    np.savez(path, x=np.random.default_rng(0).integers(0, 256, (200, 8, 8), dtype=np.uint8))
    result = run(TrialConfig(dataset=f"npz:{path}", hidden=[16], latent_dim=2, epochs=1, iwae_samples=2),
                 tmp_path / "trial")
    assert result.sample_fd is None and result.classifier_accuracy is None
    assert "no class labels" in result.sample_quality_skipped


def test_vae_sample_writes_labelled_pngs(trained, tmp_path, capsys):
    folder = trained["latent2"].artifact_dir
    result = run_cli("-m", "vae.sample", str(folder), "--out", str(tmp_path / "out"), "--n", "16")
    assert result.returncode == 0, result.stderr[-2000:]
    names = sorted(path.name for path in (tmp_path / "out").iterdir())
    assert names == ["interpolations.png", "latent_scatter.png", "manifold.png", "reconstructions.png",
                     "samples.png", "traversals.png"]
    for name in names:
        with Image.open(tmp_path / "out" / name) as image:
            assert image.width > 300 and image.height > 150
    ae = run_in_process(sample_main, str(trained["ae"].artifact_dir), "--out", str(tmp_path / "ae"), capsys=capsys)
    assert ae.returncode == 0, ae.stderr[-2000:]
    assert sorted(path.name for path in (tmp_path / "ae").iterdir()) == [
        "interpolations.png", "reconstructions.png", "samples.png", "traversals.png"]


def test_vae_sample_finds_the_folder_through_the_study(trained, tmp_path, capsys):
    storage = f"sqlite:///{tmp_path / 'db.sqlite'}"
    study = optuna.create_study(study_name="s", storage=storage)
    trial = study.ask()
    trial.set_user_attr("artifact_dir", str(trained["latent2"].artifact_dir))
    study.tell(trial, 1.0)
    result = run_in_process(sample_main, "--storage", storage, "--study", "s", "--trial", "0",
                            "--out", str(tmp_path / "out"), "--n", "8", capsys=capsys)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "out" / "manifold.png").is_file()
    missing = run_cli("-m", "vae.sample", "--storage", storage, "--study", "s", "--trial", "7")  # no TensorFlow
    assert_one_line_error(missing, "--trial 7")
    wrong_study = run_cli("-m", "vae.sample", "--storage", storage, "--study", "nope", "--trial", "0")
    assert_one_line_error(wrong_study, "nope")


def test_vae_sample_bad_input_writes_nothing(trained, tmp_path, capsys):
    not_a_trial = tmp_path / "empty"
    not_a_trial.mkdir()
    assert_one_line_error(run_cli("-m", "vae.sample", str(not_a_trial)), "not a saved trial folder")
    assert_one_line_error(run_cli("-m", "vae.sample", str(tmp_path / "missing")), "not a folder")
    assert_one_line_error(run_cli("-m", "vae.sample", str(trained["latent2"].artifact_dir), "--n", "0"), "--n")
    assert_one_line_error(run_cli("-m", "vae.sample"), "TRIAL_DIR")
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    for name in ("config.json", "model.json", "encoder.keras"):
        (damaged / name).write_bytes((trained["latent2"].artifact_dir / name).read_bytes())
    (damaged / "decoder.keras").write_bytes(b"not a keras file")
    assert_one_line_error(run_in_process(sample_main, str(damaged), capsys=capsys), "incomplete trial folder")
    (damaged / "metrics.json").write_bytes((trained["latent2"].artifact_dir / "metrics.json").read_bytes())
    assert_one_line_error(run_in_process(sample_main, str(damaged), capsys=capsys), "cannot load the saved model")
    assert sorted(path.name for path in damaged.iterdir()) == [
        "config.json", "decoder.keras", "encoder.keras", "metrics.json", "model.json"]
    assert list(not_a_trial.iterdir()) == [] and not (tmp_path / "missing").exists()
