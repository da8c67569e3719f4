"""The built-in Gaussian data sets: real-valued vectors with a known covariance spectrum, generated from a fixed
seed (no file, no download), on which a linear VAE has an exact solution (docs/theory.md).

`gaussian16`: 5,000 vectors of d = 16 values, x = m + U·diag(√λ)·ε with ε ~ N(0, I), eigenvalues
λᵢ = 2^(4.5 − i) for i = 1…16 (11.3, 5.66, 2.83, 1.41, 0.707, … halving down to 3.45e-4), a random rotation U
(the principal axes are not the coordinate axes, so the encoder has to find them) and mean m = 0.5 in every
coordinate. The exact predictions use the covariance of the trial's training split, not these population values.
"""
from __future__ import annotations

import numpy as np

SEED = 16
SIZES = {"gaussian16": 5_000}


def spectrum(name: str) -> np.ndarray:
    """The population eigenvalues of `name`, largest first."""
    if name == "gaussian16":
        return 2.0 ** (4.5 - np.arange(1, 17))
    raise ValueError(f"unknown Gaussian data set {name!r}")


def sample(eigenvalues: np.ndarray, count: int, seed: int, mean: float = 0.5) -> np.ndarray:
    """`count` float32 vectors of N(mean·1, U diag(eigenvalues) Uᵀ), U a random rotation drawn from `seed`."""
    eigenvalues = np.asarray(eigenvalues, np.float64)
    rng = np.random.default_rng(seed)
    q, r = np.linalg.qr(rng.standard_normal((len(eigenvalues), len(eigenvalues))))
    rotation = q * np.sign(np.diag(r))  # sign-fixed: a uniformly random rotation (Haar)
    noise = rng.standard_normal((count, len(eigenvalues)))
    return (mean + (noise * np.sqrt(eigenvalues)) @ rotation.T).astype(np.float32)


def load(name: str) -> np.ndarray:
    return sample(spectrum(name), SIZES[name], SEED)
