"""Every term of the VAE objective, each in one small function (TensorFlow).

The pitfalls of the seed assignment live here as switches: the reconstruction loss is the exact negative
log-likelihood of the chosen `likelihood`, `reduction` says whether pixels are summed (a true ELBO) or
averaged (what Keras' BCE/MSE do), and the variance head is converted to log σ² in exactly one place.
"""
from __future__ import annotations

import math

from common.collapse import reduction_factor
from vae.tf_runtime import tf

LOG_2PI = math.log(2.0 * math.pi)
SOFTPLUS_STD_FLOOR = 1e-6


def logvar_from_head(head: tf.Tensor, variance_param: str) -> tf.Tensor:
    """The encoder's variance head -> log σ². `logvar`: the head is log σ²; `softplus_std`: σ = softplus(h) + 1e-6."""
    if variance_param == "logvar":
        return head
    if variance_param == "softplus_std":
        return 2.0 * tf.math.log(tf.nn.softplus(head) + SOFTPLUS_STD_FLOOR)
    raise ValueError(f"unknown variance_param {variance_param!r}")


def kl_per_dim(mean: tf.Tensor, logvar: tf.Tensor) -> tf.Tensor:
    """KL(N(μ, σ²) || N(0, 1)) per dimension: ½(μ² + σ² − log σ² − 1)."""
    return 0.5 * (tf.square(mean) + tf.exp(logvar) - logvar - 1.0)


def reparameterize(mean: tf.Tensor, logvar: tf.Tensor, epsilon: tf.Tensor) -> tf.Tensor:
    """z = μ + σ·ε with σ = exp(½ log σ²)."""
    return mean + tf.exp(0.5 * logvar) * epsilon


def gaussian_log_density(z: tf.Tensor, mean: tf.Tensor, logvar: tf.Tensor) -> tf.Tensor:
    """log N(z; μ, σ²) summed over the last axis."""
    return -0.5 * tf.reduce_sum(LOG_2PI + logvar + tf.square(z - mean) * tf.exp(-logvar), axis=-1)


def continuous_bernoulli_log_norm(logits: tf.Tensor) -> tf.Tensor:
    """log C(λ) of the continuous Bernoulli (Loaiza-Ganem & Cunningham 2019), λ = sigmoid(logits).

    C(λ) = 2 atanh(1 − 2λ) / (1 − 2λ) simplifies to l / tanh(l/2) for logit l, which is even in l
    and → 2 as l → 0 (Taylor: log 2 + l²/12 near 0).
    """
    magnitude = tf.abs(logits)
    small = magnitude < 1e-2
    safe = tf.where(small, tf.ones_like(magnitude), magnitude)
    exact = tf.math.log(safe) - tf.math.log(tf.math.tanh(0.5 * safe))
    taylor = math.log(2.0) + tf.square(logits) / 12.0
    return tf.where(small, taylor, exact)


def continuous_bernoulli_mean(logits: tf.Tensor) -> tf.Tensor:
    """E[x] under the continuous Bernoulli: 1/(1 − e^{−l}) − 1/l, → ½ + l/12 near l = 0."""
    small = tf.abs(logits) < 1e-2
    safe = tf.where(small, tf.ones_like(logits), logits)
    exact = 1.0 / (-tf.math.expm1(-safe)) - 1.0 / safe
    return tf.where(small, 0.5 + logits / 12.0, exact)


def nll_per_pixel(x: tf.Tensor, logits: tf.Tensor, likelihood: str, log_sigma: tf.Tensor | float = 0.0,
                  gaussian_mean: str = "sigmoid") -> tf.Tensor:
    """−log p(x | z) per value, in nats. The decoder outputs `logits`; a Gaussian's mean is sigmoid(logits)
    (`gaussian_mean="sigmoid"`, values in (0, 1)) or the output itself (`"identity"`, real-valued data)."""
    if likelihood == "bernoulli":
        return tf.nn.sigmoid_cross_entropy_with_logits(labels=x, logits=logits)
    if likelihood == "continuous_bernoulli":
        return (tf.nn.sigmoid_cross_entropy_with_logits(labels=x, logits=logits)
                - continuous_bernoulli_log_norm(logits))
    if likelihood in ("gaussian", "gaussian_learned"):
        mean = reconstruction_mean(logits, likelihood, gaussian_mean)
        return 0.5 * LOG_2PI + log_sigma + 0.5 * tf.square((x - mean) * tf.exp(-log_sigma))
    raise ValueError(f"unknown likelihood {likelihood!r}")


def reconstruction_mean(logits: tf.Tensor, likelihood: str, gaussian_mean: str = "sigmoid") -> tf.Tensor:
    """The mean of p(x | z)."""
    if likelihood == "continuous_bernoulli":
        return continuous_bernoulli_mean(logits)
    if likelihood in ("gaussian", "gaussian_learned") and gaussian_mean == "identity":
        return logits
    return tf.sigmoid(logits)


def reduce_pixels(per_pixel: tf.Tensor, reduction: str) -> tf.Tensor:
    """Per-example reconstruction term: `sum` over pixels (the true NLL) or `mean` (Keras' default)."""
    axes = list(range(1, per_pixel.shape.rank))
    if reduction == "sum":
        return tf.reduce_sum(per_pixel, axis=axes)
    if reduction == "mean":
        return tf.reduce_mean(per_pixel, axis=axes)
    raise ValueError(f"unknown reduction {reduction!r}")


def recon_weight(reduction: str, num_pixels: int) -> float:
    """The weight on the summed NLL that gives `reduce_pixels(·, reduction)`: 1 for `sum`, 1/pixels for `mean`
    (`common.collapse.reduction_factor`). As a weight (a value, not a different graph) sum and mean runs share
    one compiled training step."""
    return 1.0 / reduction_factor(reduction, num_pixels)


def kl_term(kl_dims: tf.Tensor, free_bits: float) -> tf.Tensor:
    """Σ_dims KL averaged over the batch; with free bits each dim's batch-mean KL is floored at `free_bits` nats."""
    per_dim = tf.reduce_mean(kl_dims, axis=0)
    if free_bits > 0:
        per_dim = tf.maximum(per_dim, free_bits)
    return tf.reduce_sum(per_dim)

