"""Sample quality of a model's prior samples, in the features of a small convnet (`vae.classifier`):

    sample_kid         Kernel Inception Distance (Bińkowski et al. 2018) between the features of N prior samples
                       and of N test images: the unbiased MMD² estimate with the kernel k(x, y) = (xᵀy/d + 1)³.
                       Lower is better, 0 for samples distributed like the data; the estimate can be slightly
                       negative. The headline metric.
    sample_kid_std     its sampling spread: the standard deviation of the estimate over random half-size subsets
                       (drawn without replacement), divided by √2 to refer to N
    sample_fd_cnn      Fréchet distance between Gaussians fitted to the same features (secondary)
    sample_coverage    entropy of the histogram of predicted labels ÷ log(number of classes)
    sample_kid_ladder  the KID of each calibration set of `vae.ladder` (RUNGS order), scored the same way, and
                       (sample_kid_ladder_std) their sampling spreads

`sample_features` names the feature extractor (`FEATURES`), so values measured with another one are never put in
one table. N = the test split, at most MAX_SAMPLES (a seeded subsample). The classifier and the ladder are made
once per dataset split and cached (`vae.classifier`); per process, the test features are computed once.
Formulas, validation and limits: docs/samples.md.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from threadpoolctl import threadpool_limits

from vae import classifier, data, ladder
from vae.config import TrialConfig

FEATURES = f"{classifier.ARCHITECTURE}, features scaled to unit mean square; KID v1"
MAX_SAMPLES = 2_000
SUBSETS = 20  # half-size subsets for the sampling spread
SAMPLE_SEED_OFFSET = 7_919  # the prior draws for the metrics have their own stream, apart from training's
REFERENCES_KEPT = 4  # dataset splits whose classifier and test statistics a process keeps
SKIP_KEY = "sample_quality_skipped"  # common.results.TrialResult: why the sample metrics are missing


# --- formulas ---------------------------------------------------------------------------------------------

def polynomial_kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """k(x, y) = (xᵀy/d + 1)³ between the rows of a (m, d) and b (n, d)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return (a @ b.T / a.shape[1] + 1.0) ** 3


def mmd2_unbiased(kxx: np.ndarray, kyy: np.ndarray, kxy: np.ndarray) -> float:
    """Σ_{i≠j} k(xi, xj)/(m(m−1)) + Σ_{i≠j} k(yi, yj)/(n(n−1)) − 2 Σ k(xi, yj)/(mn) from the kernel matrices."""
    m, n = len(kxx), len(kyy)
    return float((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
                 - 2.0 * kxy.mean())


def kid(x: np.ndarray, y: np.ndarray) -> float:
    """KID between feature sets x (m, d) and y (n, d), m, n ≥ 2."""
    return mmd2_unbiased(polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y))


def kid_spread(kxx: np.ndarray, kyy: np.ndarray, kxy: np.ndarray, rng: np.random.Generator,
               subsets: int = SUBSETS) -> float:
    """Standard deviation of the KID estimate at sizes (m, n): that of `subsets` estimates on random halves
    (without replacement) ÷ √2. The estimate's variance falls like 1/n when the distributions differ (faster when
    they agree), so this does not understate it."""
    m, n = len(kxx), len(kyy)
    values = []
    for _ in range(subsets):
        i, j = rng.choice(m, m // 2, replace=False), rng.choice(n, n // 2, replace=False)
        values.append(mmd2_unbiased(kxx[np.ix_(i, i)], kyy[np.ix_(j, j)], kxy[np.ix_(i, j)]))
    return float(np.std(values, ddof=1) / np.sqrt(2.0))


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


def label_coverage(predicted: np.ndarray, num_classes: int) -> float:
    """H(histogram of the predicted labels) ÷ log K, in [0, 1]."""
    counts = np.bincount(predicted, minlength=num_classes)
    share = counts[counts > 0] / counts.sum()
    return float(-(share * np.log(share)).sum() / np.log(num_classes)) + 0.0  # + 0.0: no "-0.0" for one class


# --- the reference: classifier, test features, ladder ------------------------------------------------------

def single_threaded_blas():
    """numpy's BLAS on one thread: these matrices are small (128 features, ≤ 2,000 rows), and OpenBLAS's threads
    waiting for each other and for the sweep's other processes cost more than they share (BENCHMARKS.md)."""
    return threadpool_limits(1, user_api="blas")


def mean_image(part: data.Part, chunk: int = data.CHUNK_ROWS) -> np.ndarray:
    """The average image of a split, read a chunk of rows at a time (no float copy of the whole split)."""
    total = sum(part[start:start + chunk].astype(np.float64).sum(axis=0) for start in range(0, len(part), chunk))
    return (total / len(part)).astype(np.float32)


def _subsample(count: int, limit: int, seed: int) -> np.ndarray:
    return np.sort(np.random.default_rng(seed).permutation(count)[:limit]) if count > limit else np.arange(count)


@dataclass(frozen=True)
class Reference:
    classifier: classifier.Classifier
    test_features: np.ndarray  # scaled, of at most MAX_SAMPLES test images
    test_kernel: np.ndarray
    test_mean: np.ndarray
    test_cov: np.ndarray
    num_classes: int

    @property
    def scale(self) -> float:
        return float(self.classifier.extras["feature_scale"])

    def features(self, images: np.ndarray) -> np.ndarray:
        return self.classifier.features(images) / self.scale

    def score(self, features: np.ndarray, seed: int) -> dict[str, float]:
        """KID, its sampling spread and FD of scaled features against the test features."""
        kxx, kxy = polynomial_kernel(features, features), polynomial_kernel(features, self.test_features)
        mean, cov = feature_stats(features)
        return {"kid": mmd2_unbiased(kxx, self.test_kernel, kxy),
                "kid_std": kid_spread(kxx, self.test_kernel, kxy, np.random.default_rng(seed)),
                "fd": frechet_distance(mean, cov, self.test_mean, self.test_cov)}


def _test_part(grey: data.Splits, seed: int) -> np.ndarray:
    return grey.test[_subsample(len(grey.test), MAX_SAMPLES, seed)]


def make(grey: data.Splits, num_classes: int, seed: int) -> classifier.Classifier:
    """Train the classifier, fix its feature scale (unit mean square on the test images) and score the ladder."""
    return make_reference(grey, num_classes, seed).classifier


def make_reference(grey: data.Splits, num_classes: int, seed: int) -> Reference:
    """`make`, returning the Reference it built on the way (the test features are not computed twice)."""
    trained = classifier.train(grey.train, grey.train_labels, grey.test, grey.test_labels, num_classes)
    raw = trained.features(_test_part(grey, seed)).astype(np.float64)
    scale = np.float64(np.sqrt(np.mean(np.sum(raw ** 2, axis=1)) / raw.shape[1]))
    ref = assemble(dataclasses.replace(trained, extras={"feature_scale": scale}), grey, num_classes, seed, raw)
    held = _subsample(len(grey.val), MAX_SAMPLES, seed + 1)
    rungs = ladder.rung_images(grey.val[held], grey.val_labels[held], mean_image(grey.train))
    with single_threaded_blas():
        scores = [ref.score(ref.features(rungs[name]), seed) for name in ladder.RUNGS]
    extras = {"feature_scale": scale, "ladder_kid": np.array([score["kid"] for score in scores]),
              "ladder_kid_std": np.array([score["kid_std"] for score in scores])}
    return dataclasses.replace(ref, classifier=dataclasses.replace(trained, extras=extras))


def assemble(trained: classifier.Classifier, grey: data.Splits, num_classes: int, seed: int,
             raw_test: np.ndarray | None = None) -> Reference:
    """The Reference of a classifier with its feature scale: the test features, their kernel and statistics."""
    with single_threaded_blas():
        raw = trained.features(_test_part(grey, seed)) if raw_test is None else raw_test
        test = raw.astype(np.float64) / float(trained.extras["feature_scale"])  # as `make_reference` scores the ladder
        mean, cov = feature_stats(test)
        return Reference(trained, test, polynomial_kernel(test, test), mean, cov, num_classes)


def num_classes(grey: data.Splits) -> int:
    return int(max(part.max() for part in (grey.train_labels, grey.val_labels, grey.test_labels))) + 1


_REFERENCES: dict[str, Reference] = {}


def split_key(config: TrialConfig) -> dict[str, Any]:
    return classifier.cache_key(config.dataset, {"seed": config.seed, "val_fraction": config.val_fraction,
                                                 "test_fraction": config.test_fraction})


def reference(config: TrialConfig, splits: data.Splits) -> Reference:
    """Classifier, ladder and test features of this dataset split: cached on disk, and once per process."""
    key = split_key(config)
    text = json.dumps(key, sort_keys=True)
    if text not in _REFERENCES:
        grey = splits.unbinarized()
        classes, seed = num_classes(grey), config.seed + SAMPLE_SEED_OFFSET
        fresh: list[Reference] = []  # filled when this process trains the classifier

        def train() -> classifier.Classifier:
            fresh.append(make_reference(grey, classes, seed))
            return fresh[0].classifier

        trained = classifier.load_or_train(key, train)
        if len(_REFERENCES) >= REFERENCES_KEPT:
            _REFERENCES.pop(next(iter(_REFERENCES)))
        _REFERENCES[text] = fresh[0] if fresh else assemble(trained, grey, classes, seed)
    return _REFERENCES[text]


# --- one trial --------------------------------------------------------------------------------------------

def skip_reason(dataset: str, splits: data.Splits) -> str | None:
    """Why a dataset cannot be measured (None: it can)."""
    if splits.test_labels is None:
        return f"dataset {dataset!r} has no class labels (an npz needs an array 'y'): no classifier to measure with"
    if len(splits.image_shape) != 3 or min(splits.image_shape[:2]) < classifier.MIN_SIZE:
        return (f"dataset {dataset!r} holds items of shape {tuple(splits.image_shape)}, not images of at least "
                f"{classifier.MIN_SIZE}×{classifier.MIN_SIZE} pixels: the sample classifier is a convnet")
    return None


def prior_codes(config: TrialConfig, count: int) -> np.ndarray:
    """The N(0, I) draws the metrics decode: the same for every trial with the same seed and latent size."""
    rng = np.random.default_rng(config.seed + SAMPLE_SEED_OFFSET)
    return rng.standard_normal((count, config.latent_dim)).astype(np.float32)


def sample_metrics(config: TrialConfig, decode: Callable[[np.ndarray], np.ndarray],
                   splits: data.Splits) -> dict[str, Any]:
    """The sample metrics (TrialResult fields) of N prior samples decoded by `decode`; the AE is measured the same
    way (decoding N(0, I)). Where the dataset cannot be measured every value is None and SKIP_KEY says why."""
    reason = skip_reason(config.dataset, splits)
    if reason is not None:
        return {SKIP_KEY: reason}
    ref = reference(config, splits)
    samples = decode(prior_codes(config, len(ref.test_features)))
    with single_threaded_blas():
        raw = ref.classifier.features(samples)
        scores = ref.score(raw / ref.scale, config.seed + SAMPLE_SEED_OFFSET)
        predicted = np.argmax(ref.classifier.logits(raw), axis=1)
    return {
        "sample_kid": scores["kid"],
        "sample_kid_std": scores["kid_std"],
        "sample_fd_cnn": scores["fd"],
        "sample_coverage": label_coverage(predicted, ref.num_classes),
        "sample_kid_ladder": [float(value) for value in ref.classifier.extras["ladder_kid"]],
        "sample_kid_ladder_std": [float(value) for value in ref.classifier.extras["ladder_kid_std"]],
        "sample_count": len(samples),
        "classifier_accuracy": ref.classifier.accuracy,
        "sample_features": FEATURES,
        SKIP_KEY: None,
    }
