"""The memory a process needs to run trials, estimated from their configs and the stored data's shape, before
anything is loaded or TensorFlow is imported (`python -m sweep.launch --workers auto`).

The estimate is a sum of parts measured as peak resident memory (BENCHMARKS.md, "Data at scale"): the runtime
with one compiled setup trained and evaluated, each further setup a process keeps, the data as stored, and the
float32 working copies that grow with the splits (the sample metrics' test features and decoded samples, the
sample-quality classifier's training images).
"""
from __future__ import annotations

import math
from collections.abc import Iterable

from vae.classifier import MAX_EXAMPLES
from vae.config import TrialConfig, traced_structure
from vae.data import split_sizes, stored_shape

MiB = 2**20
# TensorFlow, Keras and the sweep's libraries imported, one compiled setup trained and evaluated (above the peak of
# one `vae.train` run on mnist5k: a conv setup on 32x32x3 images needs more than an mlp on 28x28).
RUNTIME_BYTES = 1250 * MiB
# Each further compiled setup a process keeps: its model, optimizer state, traced and XLA-compiled functions
# (fitted to the default sweep's 6 setups in one process).
SETUP_BYTES = 128 * MiB
# Enough for every structure of the default sweep (6): a dropped Trainer leaves resident memory behind, so
# rebuilding evicted structures (a grid cycles through them once per beta) grew a one-process sweep past its
# memory bound; keeping them costs less. Used by vae.fit.
CACHE_SIZE = 12
TEST_FLOAT_COPIES = 3  # float32 copies of the test split alive at once (sample metrics, evaluation)
CLASSIFIER_FLOAT_COPIES = 3  # the sample-quality classifier's float32 training subsample and Keras' copies of it


def trial_bytes(config: TrialConfig) -> int:
    """Peak resident bytes of one `vae.train` run of `config` in a fresh process (classifier trained, not cached)."""
    shape, dtype = stored_shape(config.dataset)
    pixels = math.prod(shape[1:])
    n_train, n_val, n_test = split_sizes(shape[0], config)
    stored = shape[0] * pixels * dtype.itemsize
    binarized = 0 if config.binarize == "none" else pixels * (n_val + n_test + (n_train if config.binarize ==
                                                                                  "static" else 0))
    test_floats = 4 * pixels * n_test * TEST_FLOAT_COPIES
    trained_on = min(n_train, MAX_EXAMPLES)
    classifier = 4 * pixels * trained_on * CLASSIFIER_FLOAT_COPIES if trains_classifier(config) else 0
    return RUNTIME_BYTES + stored + binarized + test_floats + classifier


def trains_classifier(config: TrialConfig) -> bool:
    """Whether the trial may train the sample-quality classifier: sample metrics on, and images (not vectors)."""
    return config.sample_metrics and len(stored_shape(config.dataset)[0]) > 2


def setups(configs: Iterable[TrialConfig]) -> int:
    """Compiled setups a process running these trials keeps (distinct traced structures and data shapes)."""
    keys = set()
    for config in configs:
        shape, _ = stored_shape(config.dataset)
        keys.add((traced_structure(config), shape[1:], split_sizes(shape[0], config)[0]))
    return min(len(keys), CACHE_SIZE)


def process_bytes(configs: list[TrialConfig], setups_kept: int | None = None) -> int:
    """Peak resident bytes of one process running `configs` one after the other: the largest trial plus every
    further setup it keeps (`setups_kept`, default: counted from the configs)."""
    kept = setups(configs) if setups_kept is None else setups_kept
    return max(trial_bytes(config) for config in configs) + max(0, kept - 1) * SETUP_BYTES
