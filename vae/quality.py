"""Sample quality: a small classifier per dataset, and three numbers about a model's prior samples.

    sample_fd          Fréchet distance between the classifier's penultimate features of N prior samples and
                       of the N test images (MNIST's analogue of FID; not comparable with Inception FID)
    sample_confidence  mean over samples of the classifier's max softmax probability
    sample_coverage    entropy of the histogram of predicted labels ÷ log(number of classes) (1: every class
                       equally often; 0: one class only: mode dropping)

The classifier (an MLP) is trained once per dataset split, only on the train split, with a fixed seed, and
cached as an .npz under `$VAE_SWEEPS_CACHE` (default `~/.cache/vae-sweeps`): every trial and worker of a sweep
reuses it. Concurrent workers are safe: one trains while the others wait on a file lock, and the file appears
atomically. Features and probabilities are computed in numpy; TensorFlow is imported only to train it.
Formulas and caveats: docs/samples.md.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from vae import data
from vae.config import TrialConfig

CACHE_ENV = "VAE_SWEEPS_CACHE"
HIDDEN = (256, 128)  # the last hidden layer gives the features
CLASSIFIER_SEED = 0
CLASSIFIER_EPOCHS = 20
SAMPLE_SEED_OFFSET = 7_919  # the prior draws for the metrics have their own stream, apart from training's
REFERENCES_KEPT = 4  # dataset splits whose classifier and test statistics a process keeps
SKIP_KEY = "sample_quality_skipped"  # common.results.TrialResult: why the sample metrics are missing


# --- formulas ---------------------------------------------------------------------------------------------

def feature_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (unbiased) covariance of features shaped (n, d)."""
    features = np.asarray(features, np.float64)
    return features.mean(axis=0), np.cov(features, rowvar=False)


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def frechet_distance(mean_a: np.ndarray, cov_a: np.ndarray, mean_b: np.ndarray, cov_b: np.ndarray) -> float:
    """‖μa − μb‖² + Tr(Σa + Σb − 2 (Σa Σb)^½) between N(μa, Σa) and N(μb, Σb).

    Tr((Σa Σb)^½) is computed as Σ √λ of the symmetric PSD matrix Σa^½ Σb Σa^½ (same eigenvalues as Σa Σb), which
    stays real and finite for singular covariances (a collapsed model's samples are all alike)."""
    root_a = _psd_sqrt(np.asarray(cov_a, np.float64))
    middle = root_a @ np.asarray(cov_b, np.float64) @ root_a
    trace_root = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0.0, None)).sum()
    diff = np.asarray(mean_a, np.float64) - np.asarray(mean_b, np.float64)
    return float(diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2.0 * trace_root)


def mean_confidence(probabilities: np.ndarray) -> float:
    """Mean over samples of max_k p(k | x)."""
    return float(np.max(probabilities, axis=1).mean())


def label_coverage(probabilities: np.ndarray) -> float:
    """H(histogram of argmax_k p(k | x)) ÷ log K, in [0, 1]."""
    num_classes = probabilities.shape[1]
    counts = np.bincount(np.argmax(probabilities, axis=1), minlength=num_classes)
    share = counts[counts > 0] / counts.sum()
    return float(-(share * np.log(share)).sum() / np.log(num_classes)) + 0.0  # + 0.0: no "-0.0" for one class


# --- the classifier ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Classifier:
    weights: tuple[np.ndarray, ...]  # kernel, bias per Dense layer; the last layer gives logits
    accuracy: float  # on the held-out test split
    train_examples: int

    def features(self, images: np.ndarray) -> np.ndarray:
        hidden = np.asarray(images, np.float32).reshape(len(images), -1)
        for kernel, bias in zip(self.weights[:-2:2], self.weights[1:-2:2]):
            hidden = np.maximum(hidden @ kernel + bias, 0.0)
        return hidden

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        logits = self.features(images) @ self.weights[-2] + self.weights[-1]
        logits = logits - logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "vae-sweeps") / "classifiers"


def classifier_key(config: TrialConfig) -> dict[str, Any]:
    """What the classifier depends on: the dataset (a file by path, size and time) and its split."""
    key: dict[str, Any] = {"dataset": config.dataset, "seed": config.seed, "val_fraction": config.val_fraction,
                           "test_fraction": config.test_fraction, "hidden": list(HIDDEN),
                           "epochs": CLASSIFIER_EPOCHS, "classifier_seed": CLASSIFIER_SEED}
    if config.dataset.startswith("npz:"):
        stat = Path(config.dataset[4:]).resolve().stat()
        key["file"] = [str(Path(config.dataset[4:]).resolve()), stat.st_size, stat.st_mtime_ns]
    return key


def cache_path(config: TrialConfig) -> Path:
    text = json.dumps(classifier_key(config), sort_keys=True)
    name = "".join(c if c.isalnum() else "_" for c in config.dataset.split("/")[-1])[:40]
    return cache_dir() / f"{name}-{hashlib.sha256(text.encode()).hexdigest()[:16]}.npz"


def grey_splits(config: TrialConfig, splits: data.Splits | None = None) -> data.Splits:
    """The trial's split of the dataset, without binarization (the classifier sees grey images): the trial's own
    data when given, no copy."""
    if splits is not None:
        return splits.unbinarized()
    return data.load_splits(config.model_copy(update={"binarize": "none"}))


def train_classifier(splits: data.Splits, num_classes: int) -> Classifier:
    from vae.tf_runtime import keras

    keras.utils.set_random_seed(CLASSIFIER_SEED)
    layers = [keras.layers.Dense(width, activation="relu") for width in HIDDEN] + [keras.layers.Dense(num_classes)]
    model = keras.Sequential([keras.Input((int(np.prod(splits.image_shape)),)), *layers])
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    flat = np.asarray(splits.train).reshape(len(splits.train), -1)
    model.fit(flat, splits.train_labels, batch_size=128, epochs=CLASSIFIER_EPOCHS, verbose=0)
    weights = tuple(np.asarray(w, np.float32) for w in model.get_weights())
    untested = Classifier(weights, float("nan"), len(flat))
    accuracy = float(np.mean(np.argmax(untested.probabilities(splits.test), axis=1) == splits.test_labels))
    return Classifier(weights, accuracy, len(flat))


def _read(path: Path) -> Classifier:
    with np.load(path) as archive:
        count = int(archive["num_weights"])
        return Classifier(tuple(archive[f"w{i}"] for i in range(count)), float(archive["accuracy"]),
                          int(archive["train_examples"]))


def _write_atomically(path: Path, classifier: Classifier, key: dict[str, Any]) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.stem, suffix=".tmp.npz")
    os.close(handle)
    try:
        np.savez(temporary, num_weights=len(classifier.weights), accuracy=classifier.accuracy,
                 train_examples=classifier.train_examples, key=json.dumps(key, sort_keys=True),
                 **{f"w{i}": w for i, w in enumerate(classifier.weights)})
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def load_or_train(config: TrialConfig, splits: data.Splits, num_classes: int) -> Classifier:
    """The cached classifier for this dataset split; trained (by exactly one process at a time) if missing."""
    path = cache_path(config)
    if path.is_file():
        return _read(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second worker waits here, then reads what the first wrote
        try:
            if path.is_file():
                return _read(path)
            classifier = train_classifier(splits, num_classes)
            _write_atomically(path, classifier, classifier_key(config))
            return classifier
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@dataclass(frozen=True)
class Reference:
    classifier: Classifier
    test_count: int  # N (the images themselves are not kept: they belong to the trial that loaded them)
    test_mean: np.ndarray
    test_cov: np.ndarray


_references: dict[str, Reference] = {}


def reference(config: TrialConfig, splits: data.Splits | None = None) -> Reference:
    """Classifier and test-feature statistics, once per process per dataset split (from the trial's `splits`
    when given, else loaded)."""
    key_text = json.dumps(classifier_key(config), sort_keys=True)
    if key_text not in _references:
        grey = grey_splits(config, splits)
        num_classes = int(max(grey.train_labels.max(), grey.val_labels.max(), grey.test_labels.max())) + 1
        classifier = load_or_train(config, grey, num_classes)
        mean, cov = feature_stats(classifier.features(grey.test))
        while len(_references) >= REFERENCES_KEPT:
            _references.pop(next(iter(_references)))
        _references[key_text] = Reference(classifier, len(grey.test), mean, cov)
    return _references[key_text]


def skip_reason(dataset: str) -> str:
    return f"dataset {dataset!r} has no class labels (an npz needs an array 'y'): no classifier to measure with"


def prior_codes(config: TrialConfig, count: int) -> np.ndarray:
    """The N(0, I) draws the metrics decode: the same for every trial with the same seed and latent size."""
    rng = np.random.default_rng(config.seed + SAMPLE_SEED_OFFSET)
    return rng.standard_normal((count, config.latent_dim)).astype(np.float32)


def sample_metrics(config: TrialConfig, decode: Callable[[np.ndarray], np.ndarray],
                   splits: data.Splits) -> dict[str, Any]:
    """The sample metrics (TrialResult fields) for N prior samples decoded by `decode` (N = test split size); the AE is measured the
    same way (decoding N(0, I)). Without labels every value is None and SKIP_KEY says why."""
    if splits.test_labels is None:
        return {SKIP_KEY: skip_reason(config.dataset)}
    ref = reference(config, splits)
    samples = decode(prior_codes(config, ref.test_count))
    probabilities = ref.classifier.probabilities(samples)
    mean, cov = feature_stats(ref.classifier.features(samples))
    return {
        "sample_fd": frechet_distance(mean, cov, ref.test_mean, ref.test_cov),
        "sample_confidence": mean_confidence(probabilities),
        "sample_coverage": label_coverage(probabilities),
        "classifier_accuracy": ref.classifier.accuracy,
        SKIP_KEY: None,
    }
