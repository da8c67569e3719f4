"""vae.metrics (numpy) against independent computations and constructed inputs with known answers."""
import numpy as np
import pytest
from scipy import ndimage, stats

from vae import metrics


def test_kl_per_dim_matches_monte_carlo_of_scipy_densities():
    rng = np.random.default_rng(0)
    mean, logvar = np.array([[0.7, -1.2, 0.0]]), np.array([[-0.5, 0.8, 0.0]])
    std = np.exp(0.5 * logvar)
    z = mean + std * rng.standard_normal((400_000, 3))
    monte_carlo = np.mean(stats.norm.logpdf(z, mean, std) - stats.norm.logpdf(z), axis=0)
    np.testing.assert_allclose(metrics.kl_per_dim(mean, logvar)[0], monte_carlo, atol=0.01)
    assert metrics.kl_per_dim(np.zeros(4), np.zeros(4)) == pytest.approx(np.zeros(4))


def test_kl_per_dim_closed_form_values():
    # μ = 1, σ² = e: ½(1 + e − 1 − 1) = (e − 1)/2
    assert metrics.kl_per_dim(np.array([1.0]), np.array([1.0]))[0] == pytest.approx((np.e - 1) / 2)


def test_active_units_counts_dims_whose_mean_varies():
    rng = np.random.default_rng(1)
    scales = np.array([1.0, 0.05, 0.2, 0.0])  # variances 1, 0.0025, 0.04, 0 -> dims 0 and 2 active
    means = rng.standard_normal((5000, 4)) * scales
    assert metrics.active_units(means) == 2
    assert metrics.active_units(means, threshold=0.001) == 3
    assert metrics.active_units(np.zeros((10, 8))) == 0


def test_iwae_nll_logsumexp_and_bound():
    assert metrics.iwae_nll(np.full((5, 3), -2.0)) == pytest.approx(np.full(3, 2.0))
    log_weights = np.random.default_rng(2).normal(-100, 3, size=(100, 50))
    single_sample = -log_weights.mean(axis=0)  # the ELBO estimate, by Jensen ≥ iwae
    assert np.all(metrics.iwae_nll(log_weights) <= single_sample)
    expected = -np.log(np.mean(np.exp(log_weights[:, 0] + 100))) + 100
    assert metrics.iwae_nll(log_weights)[0] == pytest.approx(expected)


def test_mutual_info_zero_for_identical_posteriors_and_log_n_for_separated_ones():
    n = 200
    same = metrics.mutual_info(np.zeros((n, 4)), np.zeros((n, 4)))
    assert abs(same) < 1e-9
    separated_means = np.arange(n, dtype=float)[:, None] * 100.0
    separated = metrics.mutual_info(separated_means, np.full((n, 1), np.log(1e-2)))
    assert separated == pytest.approx(np.log(n), abs=1e-6)


def test_recon_diversity_known_answers():
    images = np.random.default_rng(3).random((50, 8, 8))
    assert metrics.recon_diversity(images, images) == pytest.approx(1.0)
    mean_image = np.broadcast_to(images.mean(axis=0), images.shape)
    assert metrics.recon_diversity(mean_image, images) == pytest.approx(0.0)
    assert metrics.recon_diversity(0.5 * images, images) == pytest.approx(0.25)


def test_sharpness_matches_per_image_laplace_and_detects_blur():
    images = np.random.default_rng(4).random((6, 12, 12, 1))
    blurred = ndimage.gaussian_filter(images, sigma=(0, 1.0, 1.0, 0))
    per_image = lambda batch: np.mean([np.var(ndimage.laplace(img[..., 0])) for img in batch])  # noqa: E731
    assert metrics.sharpness(blurred, images) == pytest.approx(per_image(blurred) / per_image(images))
    assert metrics.sharpness(images, images) == pytest.approx(1.0)
    assert metrics.sharpness(blurred, images) < 0.2
    assert metrics.sharpness(np.full_like(images, 0.3), images) == pytest.approx(0.0)
    assert metrics.sharpness(images[..., 0], images[..., 0]) == pytest.approx(1.0)  # (n, h, w) accepted


def test_standard_error_is_scipys_sem():
    values = np.random.default_rng(5).normal(3.0, 2.0, 37)
    assert metrics.standard_error(values) == pytest.approx(stats.sem(values), rel=1e-12)
    assert metrics.standard_error([1.0, 3.0]) == pytest.approx(1.0)  # sd √2, ÷ √2
    assert np.isnan(metrics.standard_error([4.0]))


def test_mutual_info_terms_average_to_the_estimate():
    rng = np.random.default_rng(6)
    mean, logvar = rng.normal(size=(300, 3)), rng.normal(-1.0, 0.3, size=(300, 3))
    terms = metrics.mutual_info_terms(mean, logvar, seed=4, chunk=7)
    assert terms.shape == (300,)
    np.testing.assert_array_equal(terms, metrics.mutual_info_terms(mean, logvar, seed=4))  # chunking: same values
    assert metrics.mutual_info(mean, logvar, seed=4) == pytest.approx(terms.mean(), rel=1e-12)


def test_recon_stats_over_uneven_batches_equal_the_whole_arrays():
    rng = np.random.default_rng(7)
    images = rng.random((103, 6, 6, 2))
    recons = 0.3 * images + 0.1 * rng.random(images.shape)
    stats_ = metrics.ReconStats()
    for start, stop in ((0, 50), (50, 51), (51, 103)):
        stats_.add(recons[start:stop], images[start:stop])
    whole_diversity = np.var(recons, axis=0).mean() / np.var(images, axis=0).mean()
    assert stats_.recon_diversity() == pytest.approx(whole_diversity, rel=1e-12)
    assert stats_.sharpness() == pytest.approx(metrics.sharpness(recons, images), rel=1e-12)
