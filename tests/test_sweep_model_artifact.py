"""A finished trial's W&B run (offline): the saved model as an artifact of type `model`, the sample metrics in
the summary and the traversal / manifold images, read back from the run file."""
from __future__ import annotations

import pytest
import wandb

from common.wandb_adapter import iter_records, read_run
from vae.config import TrialConfig
from vae.saving import FILES


@pytest.fixture
def offline(monkeypatch, tmp_path):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wandb-root"))
    return tmp_path


def test_offline_run_holds_the_model_artifact_metrics_and_images(offline):
    from sweep.objective import train_tracked
    from sweep.tracking import Tracker

    config = TrialConfig(hidden=[32], latent_dim=2, epochs=1, iwae_samples=2)
    tracker = Tracker.create("vae-sweeps", "g", "offline", offline / "out")
    run = tracker.start("trial-0", config.flat())
    result = train_tracked(config, offline / "trial-0", run)
    wandb.teardown()  # the service may still be writing the run file when finish() returns
    [run_file] = list((offline / "wandb-root").rglob("*.wandb"))

    artifacts = [record.artifact for record in iter_records(run_file) if record.WhichOneof("record_type") == "artifact"]
    models = [artifact for artifact in artifacts if artifact.type == "model"]
    assert len(models) == 1 and models[0].name == f"model-{run.id}"
    stored = {entry.path for entry in models[0].manifest.contents}
    assert stored == set(FILES)

    logged = read_run(run_file)
    assert logged.summary["test/sample_kid"] == pytest.approx(result.sample_kid)
    assert logged.summary["test/sample_kid_ladder"] == pytest.approx(result.sample_kid_ladder)  # a list, kept whole
    assert logged.summary["sample_features"] == result.sample_features and "test/sample_fd" not in logged.summary
    assert logged.summary["test/classifier_accuracy"] == pytest.approx(result.classifier_accuracy)
    images = {key for row in logged.history for key in row}
    assert {"traversals", "manifold", "samples", "reconstructions"} <= images


def test_loading_the_trainer_freezes_the_imports(monkeypatch):
    from sweep import objective
    from vae.train import NonFiniteLoss, run

    calls = []
    monkeypatch.setattr(objective, "freeze_imports", lambda: calls.append("frozen"))
    assert objective.load_trainer() == (run, NonFiniteLoss)
    assert calls == ["frozen"]  # right after TensorFlow's import, before any trial (what it does: test_sweep_flow)
