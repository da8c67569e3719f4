"""vae.quality: the formulas against numpy/scipy on known values, and the classifier cache under 2 processes."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from scipy import linalg, stats

from conftest import REPO
from vae import quality


def random_spd(rng, dim):
    a = rng.standard_normal((dim, dim))
    return a @ a.T + dim * np.eye(dim)


def test_frechet_distance_matches_the_scipy_sqrtm_formula():
    rng = np.random.default_rng(0)
    mean_a, mean_b = rng.standard_normal(6), rng.standard_normal(6)
    cov_a, cov_b = random_spd(rng, 6), random_spd(rng, 6)
    expected = (np.sum((mean_a - mean_b) ** 2) + np.trace(cov_a) + np.trace(cov_b)
                - 2 * np.trace(linalg.sqrtm(cov_a @ cov_b).real))
    assert quality.frechet_distance(mean_a, cov_a, mean_b, cov_b) == pytest.approx(expected, rel=1e-9)


def test_frechet_distance_known_values():
    # diagonal covariances: Σ (μa−μb)² + Σ (√σa² − √σb²)²
    mean_a, mean_b = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    var_a, var_b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 4.0, 1.0])
    value = quality.frechet_distance(mean_a, np.diag(var_a), mean_b, np.diag(var_b))
    assert value == pytest.approx(5.0 + 1.0 + 0.0 + 4.0)
    cov = random_spd(np.random.default_rng(1), 4)
    assert quality.frechet_distance(mean_a[:2].repeat(2), cov, mean_a[:2].repeat(2), cov) == pytest.approx(0, abs=1e-9)
    # singular: all samples identical (a collapsed model) -> ‖Δμ‖² + Tr(Σb), finite and real
    assert quality.frechet_distance(mean_a, np.zeros((3, 3)), mean_b, np.diag(var_b)) == pytest.approx(5.0 + 9.0)


def test_feature_stats_is_the_mean_and_unbiased_covariance():
    features = np.random.default_rng(2).standard_normal((50, 3))
    mean, cov = quality.feature_stats(features)
    np.testing.assert_allclose(mean, features.mean(axis=0))
    np.testing.assert_allclose(cov, np.cov(features.T, ddof=1))


def test_confidence_and_coverage_known_values():
    probabilities = np.array([[0.7, 0.2, 0.1, 0.0], [0.1, 0.8, 0.1, 0.0], [0.5, 0.25, 0.25, 0.0],
                              [0.4, 0.6, 0.0, 0.0]])
    assert quality.mean_confidence(probabilities) == pytest.approx((0.7 + 0.8 + 0.5 + 0.6) / 4)
    # predicted labels 0, 1, 0, 1 over 4 classes: entropy log 2 / log 4 = 0.5
    assert quality.label_coverage(probabilities) == pytest.approx(0.5)
    assert quality.label_coverage(np.eye(4)) == pytest.approx(1.0)
    assert quality.label_coverage(np.tile([0.1, 0.9, 0.0], (20, 1))) == 0.0
    labels = np.random.default_rng(3).integers(0, 10, 500)
    onehot = np.eye(10)[labels]
    expected = stats.entropy(np.bincount(labels, minlength=10)) / np.log(10)
    assert quality.label_coverage(onehot) == pytest.approx(expected)


def test_sample_metrics_without_labels_are_skipped_with_a_reason():
    from vae import data
    from vae.config import TrialConfig

    config = TrialConfig(dataset="npz:/data/x.npz")
    unlabelled = data.split(np.zeros((20, 4, 4, 1), np.float32), config)
    values = quality.sample_metrics(config, lambda codes: codes, unlabelled)
    assert set(values) == {quality.SKIP_KEY}  # no metric: every sample metric of the TrialResult stays None
    assert "no class labels" in values[quality.SKIP_KEY] and "'y'" in values[quality.SKIP_KEY]


WORKER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from vae import quality
    from vae.config import TrialConfig

    trained = []
    original = quality.train_classifier
    quality.train_classifier = lambda *args: trained.append(1) or original(*args)
    barrier = Path(sys.argv[1])
    (barrier / sys.argv[2]).touch()
    while len(list(barrier.iterdir())) < 2:
        time.sleep(0.01)
    config = TrialConfig(dataset="digits", seed=5)
    splits = quality.grey_splits(config)
    classifier = quality.load_or_train(config, splits, 10)
    print(len(trained), classifier.accuracy, float(sum(w.sum() for w in classifier.weights)),
          "tensorflow" in sys.modules)
""")


def test_classifier_cache_is_shared_by_two_processes_started_at_once(tmp_path):
    cache, barrier = tmp_path / "cache", tmp_path / "barrier"
    barrier.mkdir()
    env = {"VAE_SWEEPS_CACHE": str(cache), "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3",
           "VAE_SWEEPS_THREADS": "1", "PATH": "/usr/bin:/bin"}
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, str(barrier), name], cwd=REPO, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for name in "ab"]
    outputs = [worker.communicate(timeout=600) for worker in workers]
    assert all(worker.returncode == 0 for worker in workers), [err[-2000:] for _, err in outputs]
    lines = [out.split() for out, _ in outputs]
    assert sorted(int(line[0]) for line in lines) == [0, 1]  # one trained, the other waited and read its file
    assert lines[0][1:3] == lines[1][1:3]  # the very same classifier
    assert sorted(line[3] for line in lines) == ["False", "True"]  # only the one that trained loaded TensorFlow
    assert all((line[0] == "1") == (line[3] == "True") for line in lines)
    assert float(lines[0][1]) > 0.8  # held-out (test split) accuracy on digits
    files = sorted(path.name for path in (cache / "classifiers").iterdir())
    assert len([name for name in files if name.endswith(".npz")]) == 1
    assert not [name for name in files if ".tmp" in name]  # no half-written file left behind
