"""Saved models, the sample metric's validation on trained models and `python -m vae.sample`, on small real
trainings (mnist5k, mlp)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import optuna
import pytest
from PIL import Image

from conftest import assert_one_line_error, run_cli, run_in_process
from vae import classifier, ladder, plots, quality
from vae.sample import main as sample_main, recorded_status, traversal
from vae.config import TrialConfig

# The default sweep's mlp: an under-trained VAE's blurry blobs can be further from the data than the collapsed
# average image, so the healthy run is trained as in the default sweep (8 epochs).
DEFAULT = dict(dataset="mnist5k", arch="mlp", hidden=[512, 256], latent_dim=16, epochs=8, iwae_samples=5)
SMALL = dict(dataset="mnist5k", arch="mlp", hidden=[128], latent_dim=2, epochs=2, iwae_samples=5)
RUNS = {
    "healthy": dict(DEFAULT, reduction="sum", beta=1.0),
    "collapsed": dict(DEFAULT, reduction="mean", beta=1.0, epochs=4),  # effective β = 784: posterior collapse
    "latent2": dict(SMALL),
    # trained as the default sweep trains its AE; at 1e-3 it decodes N(0, I) to grey smudges as bad as the average image
    "ae": dict(DEFAULT, model="ae", epochs=6, learning_rate=2e-3),
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
        assert samples["sample_kid"] == pytest.approx(recorded["sample_kid"], rel=1e-5)


def test_the_decoder_loads_without_this_project(trained):
    import keras

    folder = trained["latent2"].artifact_dir
    decoder = keras.saving.load_model(folder / "decoder.keras", compile=False)
    logits = np.asarray(decoder(np.zeros((3, 2), np.float32)))
    assert logits.shape == (3, 28, 28, 1)


def test_the_ladder_is_in_order_and_the_trio_ranks_collapsed_worst_ae_next_healthy_best(trained):
    """The validation of docs/samples.md in small: real < blur σ=1 < blur σ=2 < the average image, real < 3 classes
    < the average image, noise worse than blur σ=1; the collapsed VAE worst, the AE next, the healthy VAE best, each
    gap more than twice its sampling spread."""
    results = {name: trained[name] for name in ("healthy", "ae", "collapsed")}
    kid = dict(zip(ladder.RUNGS, results["healthy"].sample_kid_ladder))
    assert kid["real"] < kid["blur1"] < kid["blur2"] < kid["average"]
    assert kid["real"] < kid["classes3"] < kid["average"] and kid["noise"] > kid["blur1"]
    assert abs(kid["real"]) < 3 * results["healthy"].sample_kid_ladder_std[0]  # real images: 0 up to sampling noise
    assert all(result.sample_kid_ladder == results["healthy"].sample_kid_ladder for result in results.values())
    healthy, ae, collapsed = (results[name] for name in ("healthy", "ae", "collapsed"))
    assert collapsed.active_units == 0 and healthy.active_units > 0
    for better, worse in ((healthy, ae), (ae, collapsed)):
        assert worse.sample_kid - better.sample_kid > 2 * np.hypot(better.sample_kid_std, worse.sample_kid_std)
    assert healthy.classifier_accuracy > 0.9
    assert collapsed.sample_coverage < healthy.sample_coverage  # one predicted class, nearly


def test_every_trial_gets_sample_metrics_the_ae_too(trained):
    for name, result in trained.items():
        values = result.as_dict()
        assert values["sample_kid"] > 0 and values["sample_kid_std"] > 0 and values["sample_fd_cnn"] > 0, name
        assert 0 <= values["sample_coverage"] <= 1 and values["sample_quality_skipped"] is None, name
        assert values["sample_features"] == quality.FEATURES and values["sample_count"] == 500, name
        assert values["sample_fd"] is None and len(values["sample_kid_ladder"]) == len(ladder.RUNGS), name


def test_the_numpy_forward_pass_is_the_keras_model():
    from vae.tf_runtime import keras

    for shape in ((28, 28, 1), (9, 7, 3)):
        keras.utils.set_random_seed(0)
        model = classifier.build(shape, 10)
        net = classifier.Classifier(tuple(np.asarray(w) for w in model.get_weights()), 0.0, 0, 0)
        images = np.random.default_rng(0).random((40, *shape), dtype=np.float32)
        features = keras.Model(model.inputs, model.layers[-3].output)(images)
        np.testing.assert_allclose(net.features(images), features, atol=1e-5)
        np.testing.assert_allclose(net.logits(net.features(images)), model(images), atol=1e-5)


def test_a_dataset_without_labels_skips_the_sample_metrics(tmp_path):
    from vae.train import run

    path = tmp_path / "unlabelled.npz"
    np.savez(path, x=np.random.default_rng(0).integers(0, 256, (200, 8, 8), dtype=np.uint8))
    result = run(TrialConfig(dataset=f"npz:{path}", hidden=[16], latent_dim=2, epochs=1, iwae_samples=2),
                 tmp_path / "trial")
    assert result.sample_kid is None and result.classifier_accuracy is None
    assert "no class labels" in result.sample_quality_skipped


def test_sample_images_show_every_sample_one_dim_numbering_and_say_collapsed(trained):
    for count, columns in ((100, 10), (16, 8), (5, 5)):
        rows = plots.sample_rows(np.zeros((count, 4, 4, 1)))
        assert sum(len(row) for row in rows) == count and len(rows[0]) == columns
    assert [plots.dim_name(i) for i in (0, 1, 11)] == ["z₁", "z₂", "z₁₂"]
    folder = trained["latent2"].artifact_dir
    from vae import data
    from vae.saving import load

    model, config = load(folder)
    _, labels, _ = traversal(model, config, data.load_splits(config).test[:4])
    assert sorted(label.split(":")[0] for label in labels) == ["z₁", "z₂"]
    assert recorded_status(trained["collapsed"].artifact_dir, TrialConfig(**RUNS["collapsed"])) == "collapsed"
    assert recorded_status(trained["healthy"].artifact_dir, TrialConfig(**RUNS["healthy"])) == "healthy"
    assert "COLLAPSED" in plots.describe(TrialConfig(**RUNS["collapsed"]), "collapsed")
    assert "COLLAPSED" not in plots.describe(TrialConfig(**RUNS["healthy"]), "healthy")


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
