"""The calibration ladder: image sets of known quality that give a sample metric's value a meaning.

Each rung is built from held-out real images (the validation split, never seen by the classifier) and scored
against the test images exactly like a model's prior samples (`vae.quality`), once per dataset split:

    real      the held-out images themselves: what a perfect generator scores (≈ 0 up to sampling noise)
    blur1     each image blurred with a Gaussian of σ = 1 pixel (clearly blurry digits)
    blur2     σ = 2 pixels (digits barely readable)
    classes3  real images of the first three classes only: sharp, but most classes missing (mode dropping)
    average   the mean training image repeated: what a collapsed model samples
    noise     uniform noise in [0, 1]
"""
from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

RUNGS = ("real", "blur1", "blur2", "classes3", "average", "noise")
LABELS = {"real": "real held-out images", "blur1": "blur σ = 1", "blur2": "blur σ = 2",
          "classes3": "3 classes only", "average": "the average image", "noise": "uniform noise"}
SEED = 1


def blur(images: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of each image (n, h, w, c) over its height and width only."""
    return gaussian_filter(np.asarray(images, np.float32), (0, sigma, sigma, 0), mode="nearest")


def rung_images(held_out: np.ndarray, labels: np.ndarray, average: np.ndarray) -> dict[str, np.ndarray]:
    """Every rung's images: `held_out` real images (n, h, w, c) in [0, 1] with their `labels`, and the
    `average` training image (h, w, c)."""
    classes = np.unique(labels)[:3]
    return {
        "real": held_out,
        "blur1": blur(held_out, 1.0),
        "blur2": blur(held_out, 2.0),
        "classes3": held_out[np.isin(labels, classes)],
        "average": np.repeat(np.asarray(average, np.float32)[None], len(held_out), axis=0),
        "noise": np.random.default_rng(SEED).random(held_out.shape, dtype=np.float32),
    }
