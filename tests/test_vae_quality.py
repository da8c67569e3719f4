"""vae.quality: KID, its spread, FD and coverage against references and known values; the calibration sets; the
classifier's numpy forward pass against Keras; the classifier cache under 2 processes."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from scipy import linalg, stats
from sklearn.metrics.pairwise import polynomial_kernel

from conftest import REPO
from vae import classifier, data, ladder, quality
from vae.config import TrialConfig


def random_spd(rng, dim):
    a = rng.standard_normal((dim, dim))
    return a @ a.T + dim * np.eye(dim)


def test_the_kernel_is_the_papers_cubic_polynomial_kernel():
    # Bińkowski et al.'s reference code uses scikit-learn's polynomial_kernel with its defaults gamma = 1/d, coef0 = 1
    x, y = np.random.default_rng(0).standard_normal((2, 7, 5))
    np.testing.assert_allclose(quality.polynomial_kernel(x, y), polynomial_kernel(x, y, degree=3, coef0=1), rtol=1e-12)


def test_kid_is_the_unbiased_mmd_u_statistic():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((6, 3)), rng.standard_normal((9, 3)) + 0.3
    k = lambda a, b: (a @ b / 3 + 1) ** 3  # noqa: E731
    xx = sum(k(x[i], x[j]) for i in range(6) for j in range(6) if i != j) / (6 * 5)
    yy = sum(k(y[i], y[j]) for i in range(9) for j in range(9) if i != j) / (9 * 8)
    xy = sum(k(a, b) for a in x for b in y) / (6 * 9)
    assert quality.kid(x, y) == pytest.approx(xx + yy - 2 * xy, rel=1e-12)
    assert quality.kid(x, y) == pytest.approx(quality.kid(y, x), rel=1e-12)


def test_kid_known_answer_in_one_dimension():
    # d = 1: (xy + 1)³ = 1 + 3xy + 3x²y² + x³y³, so MMD² = 3 Δm₁² + 3 Δm₂² + Δm₃² with mₖ = E[xᵏ].
    # x ~ N(0, 1): m = (0, 1, 0); y ~ N(0.5, 1): m = (0.5, 1.25, 0.5³ + 3·0.5)
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((2000, 1)), rng.standard_normal((2000, 1)) + 0.5
    expected = 3 * 0.5 ** 2 + 3 * 0.25 ** 2 + (0.125 + 1.5) ** 2
    kxx, kyy, kxy = (quality.polynomial_kernel(a, b) for a, b in ((x, x), (y, y), (x, y)))
    spread = quality.kid_spread(kxx, kyy, kxy, np.random.default_rng(0))
    assert abs(quality.mmd2_unbiased(kxx, kyy, kxy) - expected) < 4 * spread
    assert 0 < spread < 0.2 * expected


def test_kid_is_unbiased_and_its_spread_matches_repeated_draws():
    """Same distribution: KID averages 0 (the biased V-statistic would not) and goes negative about half the time;
    the half-subset spread is close to the standard deviation over 200 independent draws."""
    rng = np.random.default_rng(3)
    values, spreads = [], []
    for _ in range(200):
        x, y = rng.random((60, 4)), rng.random((60, 4))
        kxx, kyy, kxy = (quality.polynomial_kernel(a, b) for a, b in ((x, x), (y, y), (x, y)))
        values.append(quality.mmd2_unbiased(kxx, kyy, kxy))
        spreads.append(quality.kid_spread(kxx, kyy, kxy, rng))
    values = np.array(values)
    assert abs(values.mean()) < 3 * values.std() / np.sqrt(len(values))
    assert 0.3 < (values < 0).mean() < 0.7
    assert 0.7 < np.median(spreads) / values.std() < 2.0  # ÷ √2 from half size: conservative, not understated


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
    assert quality.frechet_distance(mean_a, np.diag(var_a), mean_b, np.diag(var_b)) == pytest.approx(10.0)
    # singular: all samples identical (a collapsed model) -> ‖Δμ‖² + Tr(Σb), finite and real
    assert quality.frechet_distance(mean_a, np.zeros((3, 3)), mean_b, np.diag(var_b)) == pytest.approx(5.0 + 9.0)
    mean, cov = quality.feature_stats(features := np.random.default_rng(2).standard_normal((50, 3)))
    np.testing.assert_allclose(cov, np.cov(features.T, ddof=1))


def test_coverage_known_values():
    assert quality.label_coverage(np.array([0, 1, 0, 1]), 4) == pytest.approx(0.5)  # log 2 / log 4
    assert quality.label_coverage(np.arange(4), 4) == pytest.approx(1.0)
    assert quality.label_coverage(np.ones(20, int), 3) == 0.0
    labels = np.random.default_rng(3).integers(0, 10, 500)
    assert quality.label_coverage(labels, 10) == pytest.approx(stats.entropy(np.bincount(labels)) / np.log(10))


def test_calibration_sets():
    images = np.zeros((30, 9, 9, 1), np.float32)
    images[:, 4, 4] = 1.0  # one bright pixel: its blur is a Gaussian bump
    labels = np.arange(30) % 5
    rungs = ladder.rung_images(images, labels, np.full((9, 9, 1), 0.25, np.float32))
    assert list(rungs) == list(ladder.RUNGS) and rungs["real"] is images
    bump = np.exp(-((np.arange(9) - 4) ** 2) / 2)  # σ = 1, normalised as a whole below
    expected = np.outer(bump, bump) / np.outer(bump, bump).sum()
    np.testing.assert_allclose(rungs["blur1"][0, ..., 0], expected, atol=2e-3)
    assert rungs["blur2"][0].max() < rungs["blur1"][0].max() and rungs["blur1"][0].sum() == pytest.approx(1, rel=1e-3)
    assert len(rungs["classes3"]) == 18  # labels 0, 1, 2 of 0..4
    assert (rungs["average"] == 0.25).all() and rungs["average"].shape == images.shape
    assert rungs["noise"].min() >= 0 and rungs["noise"].max() <= 1 and abs(rungs["noise"].mean() - 0.5) < 0.05


def test_unmeasurable_datasets_are_skipped_with_a_reason():
    rng = np.random.default_rng(0)
    unlabelled = data.Splits(*(rng.random((5, 8, 8, 1)) for _ in range(3)))
    values = quality.sample_metrics(TrialConfig(dataset="npz:/data/x.npz"), lambda codes: codes, unlabelled)
    assert set(values) == {quality.SKIP_KEY}  # no metric: every sample metric of the TrialResult stays None
    assert "no class labels" in values[quality.SKIP_KEY] and "'y'" in values[quality.SKIP_KEY]
    labels = np.zeros(5, int)
    vectors = data.Splits(*(rng.random((5, 3)) for _ in range(3)), labels, labels, labels)
    reason = quality.sample_metrics(TrialConfig(dataset="npz:/v.npz"), lambda codes: codes, vectors)[quality.SKIP_KEY]
    assert "items of shape (3,), not images" in reason


WORKER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    import numpy as np
    from vae import classifier, data, quality
    from vae.config import TrialConfig

    trained = []
    original = classifier.train
    classifier.train = lambda *args: trained.append(1) or original(*args)
    barrier = Path(sys.argv[1])
    (barrier / sys.argv[2]).touch()
    while len(list(barrier.iterdir())) < 2:
        time.sleep(0.01)
    config = TrialConfig(dataset="digits", seed=5)
    ref = quality.reference(config, data.load_splits(config))
    ladder = ref.classifier.extras["ladder_kid"]
    print(len(trained), ref.classifier.accuracy, float(sum(w.sum() for w in ref.classifier.weights)),
          "tensorflow" in sys.modules, float(ladder[0]), float(ladder[-1]))
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
    assert lines[0][1:3] == lines[1][1:3] and lines[0][4:] == lines[1][4:]  # the same classifier and ladder
    assert sorted(line[3] for line in lines) == ["False", "True"]  # only the one that trained loaded TensorFlow
    assert all((line[0] == "1") == (line[3] == "True") for line in lines)
    assert float(lines[0][1]) > 0.85  # held-out (test split) accuracy on digits
    assert float(lines[0][4]) < float(lines[0][5])  # real held-out digits score better than noise
    files = sorted(path.name for path in (cache / "classifiers").iterdir())
    assert len([name for name in files if name.endswith(".npz")]) == 1
    assert "convnet" in files[0] and not [name for name in files if ".tmp" in name]  # none half-written
    split = {"seed": 5, "val_fraction": 0.1, "test_fraction": 0.1}
    key = classifier.cache_key("digits", split)
    assert classifier.ARCHITECTURE in key.values() and classifier.cache_path(key).name in files
    other_split = classifier.cache_path(classifier.cache_key("digits", {**split, "seed": 0}))
    assert other_split.name not in files  # another data split: another classifier (its test images were trained on)
