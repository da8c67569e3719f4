"""The sample-quality classifier: a small convnet per dataset split, trained once (Keras), run in numpy, cached.

Architecture (`ARCHITECTURE`, part of the cache key and of every trial's `sample_features`): two blocks of a 3×3
"same" ReLU convolution (`FILTERS`) and 2×2 max pooling, a dense ReLU layer of `FEATURE_UNITS` (the features the
sample metrics compare), dropout 0.5 while training, and a linear layer to the class logits. (Chosen over stride-2
convolutions without pooling or dropout, whose features ranked autoencoders' smudges above healthy VAEs' samples
and noise near real images: docs/samples.md.) It is trained only on the trial's train split, on a seeded subsample of
at most `MAX_EXAMPLES` images for `epochs_for(n)` epochs (a fixed budget of image-passes, so a 70,000-image
dataset costs about what a 5,000-image one does), and evaluated on the test split. The forward pass is
re-implemented in numpy (`Classifier.features`), so reading a cached classifier needs no TensorFlow.

The cache is one .npz per dataset split under `$VAE_SWEEPS_CACHE/classifiers/` (default `~/.cache/vae-sweeps`),
named by the hash of `cache_key`. Concurrent workers are safe: one trains while the others wait on a file lock,
and the file appears atomically. Anything else the cache should hold for the same key (the calibration ladder of
`vae.quality`) is passed in as `extras` by whoever trains.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

CACHE_ENV = "VAE_SWEEPS_CACHE"
FILTERS = (16, 32)
KERNEL, POOL = 3, 2
FEATURE_UNITS = 128
DROPOUT = 0.5
ARCHITECTURE = (f"convnet {FILTERS[0]}-{FILTERS[1]} (3x3 same + 2x2 max pool) + dense {FEATURE_UNITS} "
                f"(dropout {DROPOUT:g})")
MIN_SIZE = POOL ** len(FILTERS)  # images smaller than this (height or width) cannot be measured
SEED = 0
MAX_EXAMPLES = 12_000  # seeded subsample of the train split
IMAGE_PASSES = 40_000  # images × epochs: the training budget
MIN_EPOCHS, MAX_EPOCHS = 3, 10
BATCH = 128
FORWARD_BATCH = 250  # numpy forward pass: images per chunk (bounds the im2col buffer)


def epochs_for(examples: int) -> int:
    """Epochs for `examples` training images: IMAGE_PASSES // examples, within [MIN_EPOCHS, MAX_EPOCHS]."""
    return int(min(MAX_EPOCHS, max(MIN_EPOCHS, IMAGE_PASSES // max(examples, 1))))


def conv_same(images: np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """ReLU(conv2d(images, kernel, stride 1, "same") + bias) as Keras computes it; images (n, h, w, c), kernel
    (k, k, c, filters) with k odd."""
    half = kernel.shape[0] // 2
    padded = np.pad(images, ((0, 0), (half, half), (half, half), (0, 0)))
    windows = sliding_window_view(padded, kernel.shape[:2], axis=(1, 2))  # (n, h, w, c, kh, kw)
    n, height, width = windows.shape[:3]
    columns = windows.transpose(0, 1, 2, 4, 5, 3).reshape(n * height * width, -1)  # (kh, kw, c) like the kernel
    out = columns @ kernel.reshape(-1, kernel.shape[-1]) + bias
    return np.maximum(out, 0.0).reshape(n, height, width, -1)


def max_pool(images: np.ndarray) -> np.ndarray:
    """2×2 max pooling with Keras' "valid" padding (an odd last row or column is dropped)."""
    n, height, width, channels = images.shape
    cropped = images[:, :height - height % POOL, :width - width % POOL]
    return cropped.reshape(n, height // POOL, POOL, width // POOL, POOL, channels).max(axis=(2, 4))


@dataclass(frozen=True)
class Classifier:
    weights: tuple[np.ndarray, ...]  # conv kernel, bias, conv kernel, bias, dense, bias, logits, bias (Keras order)
    accuracy: float  # on the held-out test split
    train_examples: int
    epochs: int
    extras: dict[str, np.ndarray] = field(default_factory=dict)  # stored with it (the calibration ladder)

    def _features(self, images: np.ndarray) -> np.ndarray:
        hidden = np.asarray(images, np.float32)
        for index in range(len(FILTERS)):
            hidden = max_pool(conv_same(hidden, self.weights[2 * index], self.weights[2 * index + 1]))
        dense, bias = self.weights[2 * len(FILTERS):2 * len(FILTERS) + 2]
        return np.maximum(hidden.reshape(len(hidden), -1) @ dense + bias, 0.0)

    def features(self, images: np.ndarray) -> np.ndarray:
        """The FEATURE_UNITS-dimensional features of images (n, h, w, c) in [0, 1]."""
        parts = [self._features(images[start:start + FORWARD_BATCH]) for start in range(0, len(images), FORWARD_BATCH)]
        return np.concatenate(parts) if parts else np.zeros((0, FEATURE_UNITS), np.float32)

    def logits(self, features: np.ndarray) -> np.ndarray:
        return features @ self.weights[-2] + self.weights[-1]

    def predict(self, images: np.ndarray) -> np.ndarray:
        return np.argmax(self.logits(self.features(images)), axis=1)


def build(image_shape: tuple[int, ...], num_classes: int):
    """The Keras model whose weights `Classifier` runs."""
    from vae.tf_runtime import keras

    blocks = [layer for filters in FILTERS for layer in (
        keras.layers.Conv2D(filters, KERNEL, padding="same", activation="relu"), keras.layers.MaxPooling2D(POOL))]
    return keras.Sequential([keras.Input(image_shape), *blocks, keras.layers.Flatten(),
                             keras.layers.Dense(FEATURE_UNITS, activation="relu"), keras.layers.Dropout(DROPOUT),
                             keras.layers.Dense(num_classes)])


def train(images: np.ndarray, labels: np.ndarray, test_images: np.ndarray, test_labels: np.ndarray,
          num_classes: int) -> Classifier:
    """Train on a seeded subsample of (images, labels); accuracy on the test images."""
    from vae.tf_runtime import keras

    keras.utils.set_random_seed(SEED)
    rng = np.random.default_rng(SEED)
    picked = np.sort(rng.permutation(len(images))[:MAX_EXAMPLES])
    epochs = epochs_for(len(picked))
    model = build(tuple(images.shape[1:]), num_classes)
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(np.asarray(images[picked], np.float32), labels[picked], batch_size=BATCH, epochs=epochs, verbose=0)
    weights = tuple(np.asarray(w, np.float32) for w in model.get_weights())
    untested = Classifier(weights, float("nan"), len(picked), epochs)
    accuracy = float(np.mean(untested.predict(test_images) == test_labels))
    return Classifier(weights, accuracy, len(picked), epochs)


# --- the cache --------------------------------------------------------------------------------------------

def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "vae-sweeps") / "classifiers"


def cache_key(dataset: str, split: dict[str, Any]) -> dict[str, Any]:
    """What the classifier depends on: the dataset (a file by path, size and time), its split, the architecture
    and the training recipe."""
    key: dict[str, Any] = {"dataset": dataset, "split": split, "architecture": ARCHITECTURE, "classifier_seed": SEED,
                           "max_examples": MAX_EXAMPLES, "image_passes": IMAGE_PASSES,
                           "epochs": [MIN_EPOCHS, MAX_EPOCHS]}
    if dataset.startswith("npz:"):
        path = Path(dataset[4:]).resolve()
        stat = path.stat()
        key["file"] = [str(path), stat.st_size, stat.st_mtime_ns]
    return key


def cache_path(key: dict[str, Any]) -> Path:
    text = json.dumps(key, sort_keys=True)
    name = "".join(c if c.isalnum() else "_" for c in key["dataset"].split("/")[-1])[:40]
    return cache_dir() / f"{name}-convnet-{hashlib.sha256(text.encode()).hexdigest()[:16]}.npz"


def _read(path: Path) -> Classifier:
    with np.load(path) as archive:
        count = int(archive["num_weights"])
        extras = {name[len("extra_"):]: archive[name] for name in archive.files if name.startswith("extra_")}
        return Classifier(tuple(archive[f"w{i}"] for i in range(count)), float(archive["accuracy"]),
                          int(archive["train_examples"]), int(archive["epochs"]), extras)


def _write_atomically(path: Path, classifier: Classifier, key: dict[str, Any]) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.stem, suffix=".tmp.npz")
    os.close(handle)
    try:
        np.savez(temporary, num_weights=len(classifier.weights), accuracy=classifier.accuracy,
                 train_examples=classifier.train_examples, epochs=classifier.epochs,
                 key=json.dumps(key, sort_keys=True), **{f"w{i}": w for i, w in enumerate(classifier.weights)},
                 **{f"extra_{name}": value for name, value in classifier.extras.items()})
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def load_or_train(key: dict[str, Any], make: Callable[[], Classifier]) -> Classifier:
    """The cached classifier for `key`; made by `make()` (in exactly one process at a time) if missing."""
    path = cache_path(key)
    if path.is_file():
        return _read(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second worker waits here, then reads what the first wrote
        try:
            if path.is_file():
                return _read(path)
            classifier = make()
            _write_atomically(path, classifier, key)
            return classifier
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
