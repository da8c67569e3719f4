"""analysis.findings.theory: the linear-Gaussian optimum against an independent numerical optimum and against Monte Carlo
samples of the model it describes."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import minimize

from analysis.findings import theory
from common.collapse import effective_beta

EIGENVALUES = np.array([6.0, 3.0, 1.5, 0.4, 0.1])  # d = 5
LATENT, SIGMA = 3, 0.8


def covariance(eigenvalues: np.ndarray, seed: int = 0) -> np.ndarray:
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((len(eigenvalues), len(eigenvalues))))
    return (q * eigenvalues) @ q.T


def linear_vae_loss(params: np.ndarray, cov: np.ndarray, k: int, beta: float, sigma: float):
    """The β-VAE loss of a linear VAE on N(0, cov) data in closed form (matrix algebra, no theory formula) and its
    gradient: encoder μ = V x, diagonal variances e^ℓ; decoder W z;
    E‖x − Wz‖² = tr C − 2 tr(WVC) + tr(WVCVᵀWᵀ) + tr(W diag(e^ℓ) Wᵀ), KL = ½ Σ (diag(VCVᵀ) + e^ℓ − ℓ − 1)."""
    d = len(cov)
    v, w, log_d = params[:k * d].reshape(k, d), params[k * d:2 * k * d].reshape(d, k), params[2 * k * d:]
    variances = np.exp(log_d)
    distortion = (np.trace(cov) - 2 * np.trace(w @ v @ cov) + np.trace(w @ v @ cov @ v.T @ w.T)
                  + np.trace(w @ np.diag(variances) @ w.T))
    kl = 0.5 * (np.diag(v @ cov @ v.T) + variances - log_d - 1.0)
    loss = distortion / (2 * sigma**2) + beta * kl.sum()
    grad_v = (-2 * w.T @ cov + 2 * w.T @ w @ v @ cov) / (2 * sigma**2) + beta * v @ cov
    grad_w = (-2 * (v @ cov).T + 2 * w @ v @ cov @ v.T + 2 * w * variances) / (2 * sigma**2)
    grad_log_d = np.sum(w**2, axis=0) * variances / (2 * sigma**2) + beta * 0.5 * (variances - 1.0)
    return loss, np.concatenate([grad_v.ravel(), grad_w.ravel(), grad_log_d]), distortion, kl


@pytest.mark.parametrize("beta", [0.5, 2.0, 5.0, 8.0])
def test_formulas_are_the_numerical_optimum_of_the_linear_vae(beta):
    cov = covariance(EIGENVALUES)
    d, k = len(cov), LATENT
    best = None
    for seed in range(3):  # a few random starts: the optimum is unique up to unit order and signs
        start = np.random.default_rng(seed).normal(0, 0.3, 2 * k * d + k)
        found = minimize(lambda p: linear_vae_loss(p, cov, k, beta, SIGMA)[:2], start, jac=True, method="L-BFGS-B",
                         options={"maxiter": 20_000, "maxfun": 200_000, "ftol": 1e-15, "gtol": 1e-11})
        best = found if best is None or found.fun < best.fun else best
    _, _, distortion, kl = linear_vae_loss(best.x, cov, k, beta, SIGMA)
    np.testing.assert_allclose(np.sort(kl)[::-1], theory.kl_per_dim(EIGENVALUES, k, beta, SIGMA), atol=1e-4)
    assert distortion == pytest.approx(theory.distortion(EIGENVALUES, k, beta, SIGMA), abs=1e-4)


def test_the_loss_gradient_is_right():
    cov, k = covariance(EIGENVALUES), LATENT
    params = np.random.default_rng(3).normal(0, 0.5, 2 * k * 5 + k)
    numeric = [(linear_vae_loss(params + step, cov, k, 2.0, SIGMA)[0]
                - linear_vae_loss(params - step, cov, k, 2.0, SIGMA)[0]) / 2e-6 for step in np.eye(len(params)) * 1e-6]
    np.testing.assert_allclose(linear_vae_loss(params, cov, k, 2.0, SIGMA)[1], numeric, rtol=1e-5, atol=1e-6)


def test_closed_forms_on_known_values():
    # s² = βσ² = 2 · 0.64 = 1.28: units with λ = 6 and 3 active, 1.5 active too (1.5 > 1.28 / 0.99)
    kl = theory.kl_per_dim(EIGENVALUES, LATENT, 2.0, SIGMA)
    np.testing.assert_allclose(kl, [0.5 * math.log(6 / 1.28), 0.5 * math.log(3 / 1.28), 0.5 * math.log(1.5 / 1.28)])
    assert theory.active_units(EIGENVALUES, LATENT, 2.0, SIGMA) == 3
    assert theory.active_units(EIGENVALUES, LATENT, 1.5 / 0.64, SIGMA) == 2  # λ₃ = s² exactly: off
    assert theory.distortion(EIGENVALUES, LATENT, 2.0, SIGMA) == pytest.approx(3 * 1.28 + 0.4 + 0.1)
    assert theory.recon_nll(EIGENVALUES, LATENT, 2.0, SIGMA) == pytest.approx(
        (3 * 1.28 + 0.5) / (2 * 0.64) + 2.5 * math.log(2 * math.pi * 0.64))
    np.testing.assert_allclose(theory.switch_off(EIGENVALUES, LATENT, SIGMA), 0.99 * EIGENVALUES[:3] / 0.64)
    # total collapse: no unit active above 0.99·λ₁/σ², all of them KL 0 above λ₁/σ²
    top = theory.switch_off(EIGENVALUES, LATENT, SIGMA)[0]
    assert theory.active_units(EIGENVALUES, LATENT, top * 1.0001, SIGMA) == 0
    assert theory.active_units(EIGENVALUES, LATENT, top * 0.9999, SIGMA) == 1
    assert theory.kl_per_dim(EIGENVALUES, LATENT, 6 / 0.64, SIGMA).sum() == 0
    # more units than dimensions: the extra ones carry nothing
    np.testing.assert_allclose(theory.kl_per_dim(EIGENVALUES, 7, 0.01, 1.0)[5:], 0.0)


def test_reduction_mean_is_sum_with_beta_times_d():
    d = len(EIGENVALUES)
    for beta in (0.01, 0.3, 1.0):
        np.testing.assert_allclose(theory.kl_per_dim(EIGENVALUES, LATENT, effective_beta(beta, "mean", d), SIGMA),
                                   theory.kl_per_dim(EIGENVALUES, LATENT, beta * d, SIGMA))


def test_rate_distortion_is_reverse_water_filling():
    betas = np.geomspace(1e-3, 100, 60)
    curve = theory.rate_distortion(EIGENVALUES, LATENT, SIGMA, betas)
    assert np.all(np.diff(curve[:, 0]) <= 1e-12) and np.all(np.diff(curve[:, 1]) >= -1e-12)
    floor = EIGENVALUES[LATENT:].sum() / (2 * SIGMA**2) + 2.5 * math.log(2 * math.pi * SIGMA**2)
    assert curve[0, 1] == pytest.approx(floor + LATENT * 1e-3 / 2, rel=1e-9)
    assert curve[-1, 0] == 0 and curve[-1, 1] == pytest.approx(floor + EIGENVALUES[:LATENT].sum() / (2 * SIGMA**2))
    # the slope of the curve is −β: d(distortion)/d(rate) = −β (a β-weighted Lagrangian's optimum)
    rate, nll = theory.rate_distortion(EIGENVALUES, LATENT, SIGMA, [1.0, 1.001]).T
    assert (nll[1] - nll[0]) / (rate[1] - rate[0]) == pytest.approx(-1.0005, rel=1e-3)


def test_spectrum_of_samples_is_the_covariance_eigenvalues():
    rng = np.random.default_rng(1)
    x = rng.multivariate_normal(np.ones(5), covariance(EIGENVALUES), size=400)
    expected = np.sort(np.linalg.eigvalsh(np.cov(x, rowvar=False) * 399 / 400))[::-1]
    np.testing.assert_allclose(theory.spectrum(x), expected, rtol=1e-10)
    np.testing.assert_allclose(theory.spectrum(x[:, :, None]), expected, rtol=1e-10)  # any trailing shape


@pytest.mark.parametrize("beta", [0.3, 3.0])
def test_monte_carlo_of_the_optimal_model_matches(beta):
    """Sample data and the optimal linear-Gaussian model (pPCA: W = U(Λ − s²)^½, q(z|x) = N(Λ⁻¹(Λ − s²)^½ Uᵀ(x − b),
    s²Λ⁻¹)) in 500 test sets of 400 examples, and estimate what the formulas say: KL, activity, active units,
    distortion, and how much the KL per unit and the recon NLL of one test set spread."""
    rng = np.random.default_rng(2)
    sets, n, k, s2 = 500, 400, LATENT, beta * SIGMA**2
    eigenvalues, vectors = np.linalg.eigh(covariance(EIGENVALUES))
    eigenvalues, vectors = eigenvalues[::-1], vectors[:, ::-1]
    lam = eigenvalues[:k]
    on = lam > s2
    w = np.where(on, np.sqrt(np.maximum(lam - s2, 0)), 0.0)
    post_var = np.where(on, s2 / lam, 1.0)
    x = rng.multivariate_normal(np.full(5, 0.5), covariance(EIGENVALUES), size=(sets, n))
    means = (x - 0.5) @ vectors[:, :k] * (w / lam)
    z = means + np.sqrt(post_var) * rng.standard_normal((sets, n, k))
    recon = 0.5 + (z * w) @ vectors[:, :k].T
    log_q = -0.5 * (np.log(2 * np.pi * post_var) + (z - means) ** 2 / post_var)
    log_p = -0.5 * (np.log(2 * np.pi) + z**2)
    np.testing.assert_allclose((log_q - log_p).mean(axis=(0, 1)), theory.kl_per_dim(EIGENVALUES, k, beta, SIGMA),
                               atol=0.005)
    flat_means = means.reshape(-1, k)
    np.testing.assert_allclose(flat_means.var(axis=0), theory.activity(EIGENVALUES, k, beta, SIGMA), atol=0.01)
    assert np.sum(flat_means.var(axis=0) > 0.01) == theory.active_units(EIGENVALUES, k, beta, SIGMA)
    squared = np.sum((x - recon) ** 2, axis=2)
    assert squared.mean() == pytest.approx(theory.distortion(EIGENVALUES, k, beta, SIGMA), rel=0.005)
    # the spread over test sets: KL per unit as the report measures it (½(mean μ² + v − ln v − 1)), recon NLL
    kl_sets = 0.5 * ((means**2).mean(axis=1) + post_var - np.log(post_var) - 1)
    np.testing.assert_allclose(kl_sets.std(axis=0), theory.kl_per_dim_sd(EIGENVALUES, k, beta, SIGMA, n),
                               rtol=0.1, atol=1e-12)
    nll_sets = squared.mean(axis=1) / (2 * SIGMA**2)
    assert nll_sets.std() == pytest.approx(theory.recon_nll_sd(EIGENVALUES, k, beta, SIGMA, n), rel=0.1)
