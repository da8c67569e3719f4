"""common.collapse: the effective-β rule and the collapse flag."""
import math

import numpy as np
import pytest

from common.collapse import COLLAPSED, HEALTHY, PARTIAL, Thresholds, effective_beta, reduction_factor, verdict


def test_effective_beta_sum_is_beta_and_mean_multiplies_by_the_values_averaged():
    assert effective_beta(2.0, "sum", 784) == 2.0
    assert effective_beta(2.0, "mean", 784) == 1568.0
    assert effective_beta(0.5, "mean", 3072) == 1536.0
    with pytest.raises(ValueError):
        reduction_factor("median", 784)


def test_mean_reduction_is_the_sum_with_the_kl_weight_times_d():
    """The law itself: mean_d(nll) + β·KL = (Σ_d nll + β·D·KL) / D, so both have the same minimiser."""
    rng = np.random.default_rng(0)
    nll, kl, beta = rng.random((5, 784)), rng.random(5), 0.3
    mean_loss = nll.mean(axis=1) + beta * kl
    sum_loss = nll.sum(axis=1) + effective_beta(beta, "mean", 784) * kl
    np.testing.assert_allclose(sum_loss / reduction_factor("mean", 784), mean_loss)


@pytest.mark.parametrize("units, diversity, latent, expected", [
    (0, 0.5, 16, COLLAPSED), (8, 0.01, 16, COLLAPSED), (3, 0.5, 16, PARTIAL), (4, 0.5, 16, HEALTHY),
    (None, None, 16, "unknown"), (5, math.nan, None, HEALTHY)])
def test_verdict(units, diversity, latent, expected):
    assert verdict(units, diversity, latent)[0] == expected


def test_verdict_of_an_autoencoder_reads_diversity_only():
    assert verdict(None, 0.6, 16, model="ae")[0] == "ae"
    assert verdict(None, 0.01, 16, model="ae")[0] == COLLAPSED
    assert verdict(2, 0.5, 16, thresholds=Thresholds(active_units_collapsed=2))[0] == COLLAPSED
