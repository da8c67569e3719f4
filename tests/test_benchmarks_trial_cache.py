"""The speed-ups must not change results: a trial that reuses a cached compiled model (same structure, other
values) gives exactly what a freshly built one gives."""
import pytest

from vae.config import TrialConfig


@pytest.fixture(scope="module")
def train():
    from vae import fit
    from vae.train import run

    def train(config, fresh=False):
        if fresh:
            fit.clear_cache()
        return run(config).as_dict()

    return train


def test_cached_trial_equals_fresh_build(train):
    from vae import fit

    config = TrialConfig(dataset="digits", hidden=[64, 32], latent_dim=4, epochs=2, iwae_samples=5, seed=3)
    fresh = train(config, fresh=True)
    mean = config.model_copy(update={"reduction": "mean"})
    fresh_mean = train(mean, fresh=True)
    train(config.model_copy(update={"beta": 4.0, "learning_rate": 3e-3, "seed": 1}))  # same structure
    assert fit.cached_structures() == 1
    reused = train(config)
    reused_mean = train(mean)  # the reduction is a weight in the loss, not another graph
    assert fit.cached_structures() == 1
    for key in ("nelbo", "iwae_nll", "kl", "recon_nll", "active_units"):
        assert reused[key] == fresh[key], key
        assert reused_mean[key] == fresh_mean[key], key
    assert fresh_mean["kl"] < fresh["kl"]  # the mean run really trained with the pixel-averaged loss
    train(config.model_copy(update={"latent_dim": 5}))  # new structure: a second cache entry
    assert fit.cached_structures() == 2


def test_epoch_seconds_time_the_training_passes_without_the_validation():
    """What runs after each training pass (the validation pass, the epoch hook) is in train_seconds only."""
    import time

    from vae.data import load_splits
    from vae.fit import fit

    config = TrialConfig(dataset="digits", hidden=[32], latent_dim=2, epochs=3, iwae_samples=2)
    fitted = fit(config, load_splits(config), on_epoch=lambda epoch, row: time.sleep(0.2))
    assert len(fitted.epoch_seconds) == len(fitted.history) == 3
    assert all(seconds > 0 for seconds in fitted.epoch_seconds)
    assert fitted.train_seconds - sum(fitted.epoch_seconds) >= 3 * 0.2
