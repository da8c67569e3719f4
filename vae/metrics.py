"""Test-set metrics as numpy functions (no TensorFlow): numpy in, numpy/float out.

All quantities are in nats per example; docs/metrics.md has every formula.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage
from scipy.special import logsumexp

ACTIVE_UNIT_THRESHOLD = 0.01
LOG_2PI = np.log(2.0 * np.pi)


def kl_per_dim(mean: np.ndarray, logvar: np.ndarray) -> np.ndarray:
    """KL(N(μ, σ²) || N(0, 1)) per example and dimension: ½(μ² + σ² − log σ² − 1)."""
    mean, logvar = np.asarray(mean, np.float64), np.asarray(logvar, np.float64)
    return 0.5 * (mean**2 + np.exp(logvar) - logvar - 1.0)


def active_units(means: np.ndarray, threshold: float = ACTIVE_UNIT_THRESHOLD) -> int:
    """Number of latent dims u with Var_x(E_q[z_u | x]) > threshold (Burda et al. 2015). `means`: (n, dims)."""
    return int(np.sum(np.var(np.asarray(means, np.float64), axis=0) > threshold))


def iwae_nll(log_weights: np.ndarray) -> np.ndarray:
    """Per-example −log (1/k) Σ_k w_k from log importance weights shaped (k, n)."""
    log_weights = np.asarray(log_weights, np.float64)
    return -(logsumexp(log_weights, axis=0) - np.log(log_weights.shape[0]))


def mutual_info(mean: np.ndarray, logvar: np.ndarray, seed: int = 0, chunk: int = 256) -> float:
    """I_q(x; z) = E_x E_q[log q(z|x)] − E_x E_q[log q_agg(z)], q_agg(z) = (1/n) Σ_j q(z | x_j).

    One z_i ~ q(z | x_i) per example; log q_agg(z_i) by logsumexp over the whole evaluation set.
    """
    mean, logvar = np.asarray(mean, np.float64), np.asarray(logvar, np.float64)
    n = mean.shape[0]
    z = mean + np.exp(0.5 * logvar) * np.random.default_rng(seed).standard_normal(mean.shape)
    log_q_own = -0.5 * np.sum(LOG_2PI + logvar + (z - mean) ** 2 / np.exp(logvar), axis=1)
    log_q_agg = np.empty(n)
    inv_var = np.exp(-logvar)
    for start in range(0, n, chunk):
        z_chunk = z[start:start + chunk, None, :]  # (c, 1, d) against every q(z | x_j): (1, n, d)
        log_q_pairs = -0.5 * np.sum(LOG_2PI + logvar[None] + (z_chunk - mean[None]) ** 2 * inv_var[None], axis=2)
        log_q_agg[start:start + chunk] = logsumexp(log_q_pairs, axis=1) - np.log(n)
    return float(np.mean(log_q_own - log_q_agg))


def recon_diversity(recons: np.ndarray, images: np.ndarray) -> float:
    """Mean over pixels of Var_images(reconstruction) ÷ the same for the data; ≈ 0 if all reconstructions are equal."""
    recon_var = np.var(np.asarray(recons, np.float64), axis=0).mean()
    data_var = np.var(np.asarray(images, np.float64), axis=0).mean()
    return float(recon_var / data_var) if data_var > 0 else float("nan")


def _laplacian_variance(images: np.ndarray) -> float:
    """Mean over images and channels of the variance of the 2-D Laplacian (same stencil as ndimage.laplace)."""
    images = np.asarray(images, np.float64)
    if images.ndim == 3:
        images = images[..., None]
    second_diff = [1.0, -2.0, 1.0]
    laplacian = (ndimage.correlate1d(images, second_diff, axis=1, mode="reflect")
                 + ndimage.correlate1d(images, second_diff, axis=2, mode="reflect"))
    return float(np.mean(np.var(laplacian, axis=(1, 2))))


def sharpness(recons: np.ndarray, images: np.ndarray) -> float:
    """Laplacian variance of the reconstructions ÷ that of the originals (< 1 means blurrier)."""
    original = _laplacian_variance(images)
    return _laplacian_variance(recons) / original if original > 0 else float("nan")
