"""vae.losses (TensorFlow) against numpy / scipy."""
import numpy as np
import pytest
from scipy import integrate, special, stats

tf = pytest.importorskip("tensorflow")
from vae import losses, metrics  # noqa: E402

LOGITS = np.array([-6.0, -1.3, -0.004, 0.0, 0.003, 0.6, 2.5, 9.0])


def as_numpy(tensor):
    return np.asarray(tensor, dtype=np.float64)


def test_kl_per_dim_tf_equals_numpy():
    mean = np.random.default_rng(0).normal(size=(7, 5)).astype(np.float32)
    logvar = np.random.default_rng(1).normal(size=(7, 5)).astype(np.float32)
    np.testing.assert_allclose(as_numpy(losses.kl_per_dim(mean, logvar)), metrics.kl_per_dim(mean, logvar),
                               rtol=1e-5, atol=1e-6)


def test_logvar_and_softplus_std_heads_give_the_same_kl_for_the_same_sigma():
    sigma = np.array([0.05, 0.5, 1.0, 3.0], dtype=np.float64)
    mean = np.array([0.3, -1.0, 0.0, 2.0], dtype=np.float32)
    logvar_head = np.log(sigma**2).astype(np.float32)
    softplus_head = np.log(np.expm1(sigma - losses.SOFTPLUS_STD_FLOOR)).astype(np.float32)  # softplus⁻¹
    kl_from_logvar = losses.kl_per_dim(mean, losses.logvar_from_head(logvar_head, "logvar"))
    kl_from_softplus = losses.kl_per_dim(mean, losses.logvar_from_head(softplus_head, "softplus_std"))
    np.testing.assert_allclose(as_numpy(kl_from_logvar), as_numpy(kl_from_softplus), rtol=1e-4)
    np.testing.assert_allclose(as_numpy(kl_from_logvar), metrics.kl_per_dim(mean, np.log(sigma**2)), rtol=1e-4)


def test_reparameterize_uses_the_standard_deviation():
    mean, logvar = tf.constant([1.0]), tf.constant([np.log(4.0)], dtype=tf.float32)
    assert float(losses.reparameterize(mean, logvar, tf.constant([1.5]))[0]) == pytest.approx(1.0 + 2.0 * 1.5)


def test_gaussian_log_density_matches_scipy():
    z, mean, logvar = np.array([[0.3, -2.0]]), np.array([[0.1, -1.0]]), np.array([[0.2, -0.7]])
    expected = stats.norm.logpdf(z, mean, np.exp(0.5 * logvar)).sum()
    value = losses.gaussian_log_density(*(tf.constant(a, tf.float64) for a in (z, mean, logvar)))
    assert float(value[0]) == pytest.approx(expected)


def test_bernoulli_nll_matches_scipy():
    x = np.array([0, 1, 1, 0, 1, 0, 1, 1], dtype=np.float64)
    expected = -stats.bernoulli.logpmf(x, special.expit(LOGITS))
    np.testing.assert_allclose(as_numpy(losses.nll_per_pixel(x, LOGITS, "bernoulli")), expected, rtol=1e-6)


@pytest.mark.parametrize("sigma", [0.1, 1.0])
def test_gaussian_nll_matches_scipy(sigma):
    x = np.linspace(0, 1, len(LOGITS))
    expected = -stats.norm.logpdf(x, special.expit(LOGITS), sigma)
    got = losses.nll_per_pixel(x, LOGITS, "gaussian", log_sigma=np.log(sigma))
    np.testing.assert_allclose(as_numpy(got), expected, rtol=1e-6)


@pytest.mark.parametrize("logit", LOGITS)
def test_continuous_bernoulli_is_a_normalised_density_with_the_right_mean(logit):
    def density(x):
        return float(np.exp(-as_numpy(losses.nll_per_pixel(np.array([x]), np.array([logit]), "continuous_bernoulli"))[0]))

    total, _ = integrate.quad(density, 0.0, 1.0)
    assert total == pytest.approx(1.0, abs=1e-6)
    mean, _ = integrate.quad(lambda x: x * density(x), 0.0, 1.0)
    assert float(losses.continuous_bernoulli_mean(tf.constant([logit], tf.float64))[0]) == pytest.approx(mean, abs=1e-6)


def test_continuous_bernoulli_log_norm_matches_the_lambda_form():
    lam = special.expit(LOGITS[np.abs(LOGITS) > 0.1])
    expected = np.log(2 * np.arctanh(1 - 2 * lam) / (1 - 2 * lam))
    got = losses.continuous_bernoulli_log_norm(tf.constant(LOGITS[np.abs(LOGITS) > 0.1]))
    np.testing.assert_allclose(as_numpy(got), expected, rtol=1e-6)


def test_continuous_bernoulli_gradient_is_finite_at_zero_logit():
    logits = tf.Variable([0.0, 1e-4, -3.0])
    with tf.GradientTape() as tape:
        value = tf.reduce_sum(losses.continuous_bernoulli_log_norm(logits))
    assert np.all(np.isfinite(tape.gradient(value, logits).numpy()))


def test_reduce_pixels_sum_versus_mean():
    per_pixel = tf.ones((2, 4, 4, 1))
    assert as_numpy(losses.reduce_pixels(per_pixel, "sum")).tolist() == [16.0, 16.0]
    assert as_numpy(losses.reduce_pixels(per_pixel, "mean")).tolist() == [1.0, 1.0]


def test_recon_weight_turns_the_pixel_sum_into_either_reduction():
    per_pixel = tf.constant(np.random.default_rng(0).random((3, 28, 28, 1)), tf.float32)
    summed = as_numpy(losses.reduce_pixels(per_pixel, "sum"))
    for reduction in ("sum", "mean"):
        np.testing.assert_allclose(losses.recon_weight(reduction, 784) * summed,
                                   as_numpy(losses.reduce_pixels(per_pixel, reduction)), rtol=1e-6)
    with pytest.raises(ValueError, match="reduction"):
        losses.recon_weight("max", 784)


def test_free_bits_floor_each_dimension():
    kl_dims = tf.constant([[0.0, 2.0, 0.1], [0.0, 4.0, 0.3]])  # batch means 0, 3, 0.2
    assert float(losses.kl_term(kl_dims, 0.0)) == pytest.approx(3.2)
    assert float(losses.kl_term(kl_dims, 0.5)) == pytest.approx(0.5 + 3.0 + 0.5)
