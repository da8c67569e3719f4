"""Test-set metrics as numpy functions (no TensorFlow): numpy in, numpy/float out.

All quantities are in nats per example; docs/metrics.md has every formula.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage
from scipy.special import logsumexp

ACTIVE_UNIT_THRESHOLD = 0.01
LOG_2PI = np.log(2.0 * np.pi)
MI_CHUNK_BYTES = 32 * 2**20


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


def mutual_info(mean: np.ndarray, logvar: np.ndarray, seed: int = 0, chunk: int | None = None) -> float:
    """I_q(x; z) = E_x E_q[log q(z|x)] − E_x E_q[log q_agg(z)], q_agg(z) = (1/n) Σ_j q(z | x_j)."""
    return float(np.mean(mutual_info_terms(mean, logvar, seed, chunk)))


def mutual_info_terms(mean: np.ndarray, logvar: np.ndarray, seed: int = 0, chunk: int | None = None) -> np.ndarray:
    """Per example i: log q(z_i | x_i) − log q_agg(z_i), whose mean is `mutual_info`.

    One z_i ~ q(z | x_i) per example; log q_agg(z_i) by logsumexp over the whole evaluation set (O(n²) work, in
    chunks of rows whose (rows, n, d) arrays stay near MI_CHUNK_BYTES; the chunking does not change the values).
    """
    mean, logvar = np.asarray(mean, np.float64), np.asarray(logvar, np.float64)
    n = mean.shape[0]
    chunk = chunk or max(1, MI_CHUNK_BYTES // (8 * n * mean.shape[1]))
    z = mean + np.exp(0.5 * logvar) * np.random.default_rng(seed).standard_normal(mean.shape)
    log_q_own = -0.5 * np.sum(LOG_2PI + logvar + (z - mean) ** 2 / np.exp(logvar), axis=1)
    log_q_agg = np.empty(n)
    inv_var = np.exp(-logvar)
    for start in range(0, n, chunk):
        z_chunk = z[start:start + chunk, None, :]  # (c, 1, d) against every q(z | x_j): (1, n, d)
        log_q_pairs = -0.5 * np.sum(LOG_2PI + logvar[None] + (z_chunk - mean[None]) ** 2 * inv_var[None], axis=2)
        log_q_agg[start:start + chunk] = logsumexp(log_q_pairs, axis=1) - np.log(n)
    return log_q_own - log_q_agg


def standard_error(values: np.ndarray) -> float:
    """Standard error of the mean of per-example values: sample standard deviation (n − 1) ÷ √n; NaN for n < 2."""
    values = np.asarray(values, np.float64)
    if len(values) < 2:
        return float("nan")
    return float(np.std(values, ddof=1) / np.sqrt(len(values)))


class ReconStats:
    """What `recon_diversity` and `sharpness` need, accumulated over batches of (reconstructions, originals), so a
    whole test split is measured with one batch in memory: per-pixel count, mean and summed squared deviation
    (merged batch by batch, Chan et al. 1979) and the summed Laplacian variances of both."""

    def __init__(self):
        self.moments = {"recons": (0, 0.0, 0.0), "images": (0, 0.0, 0.0)}
        self.laplacian = {"recons": [0.0, 0], "images": [0.0, 0]}

    def add(self, recons: np.ndarray, images: np.ndarray) -> "ReconStats":
        for name, batch in (("recons", recons), ("images", images)):
            self.moments[name] = _merge_moments(self.moments[name], np.asarray(batch, np.float64))
            if np.ndim(batch) > 2:  # images: (n, h, w[, c]); vectors (n, d) have no sharpness
                variances = _laplacian_variances(batch)
                self.laplacian[name][0] += variances.sum()
                self.laplacian[name][1] += variances.size
        return self

    def pixel_variance(self, name: str) -> float:
        """Mean over pixels of Var_images(pixel)."""
        count, _, squares = self.moments[name]
        return float(np.mean(squares / count))

    def recon_diversity(self) -> float:
        """Mean over pixels of Var_images(reconstruction) ÷ the same for the data; ≈ 0 if all reconstructions are
        equal."""
        recon_var, data_var = self.pixel_variance("recons"), self.pixel_variance("images")
        return float(recon_var / data_var) if data_var > 0 else float("nan")

    def sharpness(self) -> float | None:
        """Laplacian variance of the reconstructions ÷ that of the originals (< 1 means blurrier); None for
        vectors."""
        (recon_total, recon_count), (total, count) = self.laplacian["recons"], self.laplacian["images"]
        if count == 0:
            return None
        original = total / count
        return (recon_total / recon_count) / original if original > 0 else float("nan")


def _merge_moments(current: tuple, batch: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    """(count, mean, Σ squared deviations) per pixel of `current` and of `batch` (n, ...) together."""
    flat = batch.reshape(len(batch), -1)
    count, mean = len(flat), flat.mean(axis=0)
    squares = ((flat - mean) ** 2).sum(axis=0)
    seen, seen_mean, seen_squares = current
    if seen == 0:
        return count, mean, squares
    total, delta = seen + count, mean - seen_mean
    return total, seen_mean + delta * count / total, seen_squares + squares + delta**2 * seen * count / total


def recon_diversity(recons: np.ndarray, images: np.ndarray) -> float:
    """`ReconStats.recon_diversity` of whole arrays."""
    return ReconStats().add(recons, images).recon_diversity()


def _laplacian_variances(images: np.ndarray) -> np.ndarray:
    """Per image and channel: the variance of the 2-D Laplacian (same stencil as ndimage.laplace)."""
    images = np.asarray(images, np.float64)
    if images.ndim == 3:
        images = images[..., None]
    second_diff = [1.0, -2.0, 1.0]
    laplacian = (ndimage.correlate1d(images, second_diff, axis=1, mode="reflect")
                 + ndimage.correlate1d(images, second_diff, axis=2, mode="reflect"))
    return np.var(laplacian, axis=(1, 2))


def sharpness(recons: np.ndarray, images: np.ndarray) -> float:
    """`ReconStats.sharpness` of whole arrays: mean Laplacian variance of the reconstructions ÷ the originals'."""
    return ReconStats().add(recons, images).sharpness()
