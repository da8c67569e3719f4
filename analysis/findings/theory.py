"""The exact optimum of a linear VAE with a fixed-σ Gaussian likelihood, from the eigenvalues of the data's
covariance (numpy only): what a qualifying study's measurements are checked against (docs/theory.md).

A β-VAE with p(x|z) = N(Wz + b, σ²I) is a plain VAE with noise s² = βσ² (β the effective β): probabilistic PCA
(Tipping & Bishop 1999), whose ELBO optimum a linear VAE with a diagonal Gaussian q(z|x) reaches (Lucas et al.
2019). With λ₁ ≥ λ₂ ≥ … the eigenvalues and k latent units, unit i ≤ k is active iff λᵢ > s²; then its posterior
variance is s²/λᵢ, Var_x(E_q[zᵢ]) = 1 − s²/λᵢ, and its KL is ½ ln(λᵢ/s²). The expected distortion is the reverse
water-filling Σ_{i≤k} min(λᵢ, s²) + Σ_{i>k} λᵢ.
"""
from __future__ import annotations

import math

import numpy as np

from vae.metrics import ACTIVE_UNIT_THRESHOLD


def spectrum(values: np.ndarray) -> np.ndarray:
    """Eigenvalues of the covariance (1/n: the maximum-likelihood one the ELBO is fitted to) of `values`
    shaped (n, ...), largest first."""
    flat = np.asarray(values, np.float64).reshape(len(values), -1)
    eigenvalues = np.linalg.eigvalsh(np.cov(flat, rowvar=False, bias=True).reshape(flat.shape[1], flat.shape[1]))
    return np.clip(eigenvalues[::-1], 0.0, None)


def _units(eigenvalues: np.ndarray, latent_dim: int) -> np.ndarray:
    """The eigenvalues the k latent units can take: the k largest, padded with zeros when k > d."""
    eigenvalues = np.sort(np.asarray(eigenvalues, np.float64))[::-1]
    return np.pad(eigenvalues[:latent_dim], (0, max(0, latent_dim - len(eigenvalues))))


def noise(beta: float, sigma: float) -> float:
    """s² = βσ²: the noise variance of the plain VAE that the β-VAE with fixed σ equals."""
    return float(beta) * float(sigma) ** 2


def kl_per_dim(eigenvalues: np.ndarray, latent_dim: int, beta: float, sigma: float) -> np.ndarray:
    """KL(q(zᵢ|x) ‖ p(zᵢ)) averaged over x per unit, largest first: ½ ln(λᵢ/βσ²) where λᵢ > βσ², else 0."""
    lam, level = _units(eigenvalues, latent_dim), noise(beta, sigma)
    return np.where(lam > level, 0.5 * np.log(np.maximum(lam, level) / level), 0.0)


def activity(eigenvalues: np.ndarray, latent_dim: int, beta: float, sigma: float) -> np.ndarray:
    """Var_x(E_q[zᵢ]) per unit, largest first: 1 − βσ²/λᵢ where λᵢ > βσ², else 0."""
    lam, level = _units(eigenvalues, latent_dim), noise(beta, sigma)
    return np.where(lam > level, 1.0 - level / np.maximum(lam, level), 0.0)


def active_units(eigenvalues: np.ndarray, latent_dim: int, beta: float, sigma: float,
                 threshold: float = ACTIVE_UNIT_THRESHOLD) -> int:
    """#{i ≤ k : Var_x(E_q[zᵢ]) > threshold} = #{i ≤ k : λᵢ > βσ²/(1 − threshold)}."""
    return int(np.sum(activity(eigenvalues, latent_dim, beta, sigma) > threshold))


def switch_off(eigenvalues: np.ndarray, latent_dim: int, sigma: float,
               threshold: float = ACTIVE_UNIT_THRESHOLD) -> np.ndarray:
    """Per unit (largest first), the effective β above which it is no longer active: (1 − threshold)·λᵢ/σ²
    (threshold 0: where its KL reaches 0). The first one is total collapse (no active unit)."""
    return (1.0 - threshold) * _units(eigenvalues, latent_dim) / float(sigma) ** 2


def distortion(eigenvalues: np.ndarray, latent_dim: int, beta: float, sigma: float) -> float:
    """E_x E_q ‖x − Wz − b‖² = Σ_{i≤k} min(λᵢ, βσ²) + Σ_{i>k} λᵢ (reverse water-filling at level βσ²)."""
    lam = np.sort(np.asarray(eigenvalues, np.float64))[::-1]
    return float(np.minimum(lam[:latent_dim], noise(beta, sigma)).sum() + lam[latent_dim:].sum())


def recon_nll(eigenvalues: np.ndarray, latent_dim: int, beta: float, sigma: float) -> float:
    """E_x E_q[−log N(x; Wz + b, σ²I)] = distortion / 2σ² + (d/2) ln 2πσ², nats per example."""
    d = len(eigenvalues)
    return distortion(eigenvalues, latent_dim, beta, sigma) / (2 * sigma**2) + d / 2 * math.log(2 * math.pi * sigma**2)


def kl_per_dim_sd(eigenvalues: np.ndarray, latent_dim: int, beta: float, sigma: float, count: int) -> np.ndarray:
    """How far a unit's KL measured on `count` fresh examples strays from `kl_per_dim` by sampling alone (SD,
    nats): ½·(1 − βσ²/λᵢ)·√(2/count) for an active unit (its E_x[μᵢ²] is a variance estimated from `count`
    normal values), 0 for an inactive one."""
    return 0.5 * activity(eigenvalues, latent_dim, beta, sigma) * math.sqrt(2.0 / count)


def recon_nll_sd(eigenvalues: np.ndarray, latent_dim: int, beta: float, sigma: float, count: int) -> float:
    """The SD of the recon NLL averaged over `count` fresh examples with one z ~ q(z|x) each: each principal
    direction's residual is normal with variance rᵢ = min(λᵢ, βσ²) (i ≤ k) or λᵢ (i > k), so the summed squared
    residual has variance Σ 2rᵢ²; divided by 2σ² and √count."""
    lam = np.sort(np.asarray(eigenvalues, np.float64))[::-1]
    residual = np.concatenate([np.minimum(lam[:latent_dim], noise(beta, sigma)), lam[latent_dim:]])
    return float(math.sqrt(2.0 * np.sum(residual**2) / count) / (2 * sigma**2))


def rate_distortion(eigenvalues: np.ndarray, latent_dim: int, sigma: float, betas: np.ndarray) -> np.ndarray:
    """(rate = total KL, distortion = recon NLL) at each effective β: shape (len(betas), 2)."""
    return np.array([[kl_per_dim(eigenvalues, latent_dim, beta, sigma).sum(),
                      recon_nll(eigenvalues, latent_dim, beta, sigma)] for beta in np.asarray(betas, float)])
