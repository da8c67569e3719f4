"""vae.evaluate: the per-image metrics on the whole test split, IWAE and MI on a fixed, seeded subsample."""
import numpy as np
import pytest

from vae import data
from vae.config import TrialConfig
from vae.evaluate import eval_rows


def test_eval_rows_are_a_fixed_seeded_sorted_subsample_or_everything():
    rows = eval_rows(1000, 100, seed=0)
    assert len(rows) == 100 == len(set(rows.tolist())) and rows.min() >= 0 and rows.max() < 1000
    assert np.all(np.diff(rows) > 0)  # in test-split order
    np.testing.assert_array_equal(rows, eval_rows(1000, 100, seed=0))
    assert not np.array_equal(rows, eval_rows(1000, 100, seed=1))
    np.testing.assert_array_equal(eval_rows(500, 1000, seed=0), np.arange(500))  # the default sweep: all, in order
    np.testing.assert_array_equal(eval_rows(500, None, seed=0), np.arange(500))


@pytest.fixture(scope="module")
def evaluator():
    from vae.fit import build_model
    from vae.evaluate import Evaluator

    config = TrialConfig(dataset="digits", hidden=[16], latent_dim=2, epochs=1)
    splits = data.load_splits(config)  # 180 test images
    return Evaluator(build_model(config, splits.image_shape)), splits.test


def test_subsample_sizes_only_the_iwae_bound_and_the_mutual_information(evaluator):
    from vae.tf_runtime import keras

    model_evaluator, test = evaluator
    results = {}
    for limit in (None, 40):
        keras.utils.set_random_seed(0)  # the model's sampling stream, alike for both
        model_evaluator.model.seed_generator.state.assign(keras.random.SeedGenerator(0).state.value)
        results[limit], recons = model_evaluator.full(test, iwae_samples=3, seed=0, eval_examples=limit)
    whole, sub = results[None], results[40]
    assert (whole["iwae_examples"], sub["iwae_examples"]) == (180, 40)
    for name in ("recon_nll", "kl", "nelbo", "kl_per_dim", "active_units", "recon_diversity", "sharpness"):
        assert whole[name] == sub[name], name  # on the whole test split either way
    assert whole["iwae_nll"] != sub["iwae_nll"] and whole["mutual_info"] != sub["mutual_info"]
    for name in ("iwae_nll", "mutual_info"):
        assert sub[f"{name}_se"] > whole[f"{name}_se"] > 0  # fewer images, larger standard error
        assert abs(sub[name] - whole[name]) < 5 * sub[f"{name}_se"]
    assert recons.shape == (64, 8, 8, 1)
