"""The VAE (and the plain AE on the same architecture) as a Keras 3 model; the loss is visible in `objective`."""
from __future__ import annotations

import numpy as np

from vae import losses
from vae.tf_runtime import keras, tf
from keras import layers  # noqa: E402 - after the quiet import
from vae.architectures import build_decoder, build_encoder_body
from vae.config import TrialConfig


class VAE(keras.Model):
    def __init__(self, config: TrialConfig, image_shape: tuple[int, ...], **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.image_shape = tuple(image_shape)
        self.is_vae = config.model == "vae"
        self.encoder_body = build_encoder_body(config, self.image_shape)
        self.mean_head = layers.Dense(config.latent_dim, name="z_mean")
        self.variance_head = layers.Dense(config.latent_dim, name="z_variance") if self.is_vae else None
        self.decoder = build_decoder(config, self.image_shape)
        self.log_sigma = self.add_weight(  # σ-VAE style: one learned log σ for the whole decoder
            shape=(), initializer="zeros", trainable=config.likelihood == "gaussian_learned", name="log_sigma")
        if config.likelihood == "gaussian":
            self.log_sigma.assign(float(np.log(config.gaussian_sigma)))
        self.kl_weight = self.add_weight(shape=(), initializer="zeros", trainable=False, name="kl_weight")
        self.kl_weight.assign(config.beta)
        self.recon_weight = self.add_weight(shape=(), initializer="ones", trainable=False, name="recon_weight")
        self.recon_weight.assign(losses.recon_weight(config.reduction, int(np.prod(image_shape))))
        self.seed_generator = keras.random.SeedGenerator(config.seed)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in ("loss", "recon", "kl")}

    @property
    def metrics(self):
        return list(self.trackers.values())

    def encode(self, x: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """-> (μ, log σ²); the AE's code is deterministic (log σ² = −inf is never used: see `sample_code`)."""
        features = self.encoder_body(x)
        mean = self.mean_head(features)
        if not self.is_vae:
            return mean, tf.zeros_like(mean)
        return mean, losses.logvar_from_head(self.variance_head(features), self.config.variance_param)

    def sample_code(self, mean: tf.Tensor, logvar: tf.Tensor, epsilon: tf.Tensor | None = None) -> tf.Tensor:
        """z = μ + σ·ε; ε ~ N(0, I) drawn here unless given (vae.fit draws it outside XLA: see `train_step`)."""
        if not self.is_vae:
            return mean
        if epsilon is None:
            epsilon = keras.random.normal(tf.shape(mean), seed=self.seed_generator)
        return losses.reparameterize(mean, logvar, epsilon)

    def recon_nll(self, x: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
        """Per-pixel −log p(x | z)."""
        return losses.nll_per_pixel(x, logits, self.config.likelihood, self.log_sigma, self.config.gaussian_mean)

    def output_mean(self, logits: tf.Tensor) -> tf.Tensor:
        """The mean of p(x | z) from the decoder's output."""
        return losses.reconstruction_mean(logits, self.config.likelihood, self.config.gaussian_mean)

    def objective(self, x: tf.Tensor, epsilon: tf.Tensor | None = None) -> dict[str, tf.Tensor]:
        """loss = mean_batch[reduce_pixels(NLL, reduction)] + kl_weight · Σ_dims KL (free bits optional), where
        reduce_pixels(NLL, reduction) = recon_weight · Σ_pixels NLL (1 for `sum`, 1/pixels for `mean`)."""
        mean, logvar = self.encode(x)
        logits = self.decoder(self.sample_code(mean, logvar, epsilon))
        nll_pixels = self.recon_nll(x, logits)
        recon_summed = tf.reduce_mean(losses.reduce_pixels(nll_pixels, "sum"))
        recon_term = self.recon_weight * recon_summed
        if not self.is_vae:
            return {"loss": recon_term, "recon": recon_summed, "kl": tf.constant(0.0)}
        kl_dims = losses.kl_per_dim(mean, logvar)
        loss = recon_term + self.kl_weight * losses.kl_term(kl_dims, self.config.free_bits)
        return {"loss": loss, "recon": recon_summed, "kl": tf.reduce_mean(tf.reduce_sum(kl_dims, axis=1))}

    def compile(self, *args, xla_optimizer_update: bool = False, **kwargs):
        """Keras' compile; with `xla_optimizer_update` the optimizer's update of all variables is one XLA-compiled
        call (fused elementwise work) while the forward/backward pass stays on TensorFlow's oneDNN kernels."""
        super().compile(*args, **kwargs)
        apply = self._apply_gradients_in_place
        self._apply_gradients = tf.function(apply, jit_compile=True, autograph=False) if xla_optimizer_update else apply

    def _apply_gradients_in_place(self, gradients):
        self.optimizer.apply(gradients, self.trainable_variables)

    def train_step(self, data):
        """`data`: a batch of images, or `(images, epsilon)` with the reparameterization noise already drawn.
        vae.fit passes ε in because XLA:CPU's random-normal kernel is far slower than TensorFlow's."""
        x, epsilon = data if isinstance(data, tuple) else (data, None)
        if self.config.binarize == "dynamic":
            x = tf.cast(keras.random.uniform(tf.shape(x), seed=self.seed_generator) < x, x.dtype)
        with tf.GradientTape() as tape:
            terms = self.objective(x, epsilon)
        gradients = tape.gradient(terms["loss"], self.trainable_variables)
        self._apply_gradients(gradients)
        for name, tracker in self.trackers.items():
            tracker.update_state(terms[name])
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    def call(self, x, training=False):
        mean, _ = self.encode(x)
        return self.output_mean(self.decoder(mean))

    def evaluate_batch(self, x: tf.Tensor) -> dict[str, tf.Tensor]:
        """Per-example quantities for the metrics: one-sample recon NLL (summed), μ, log σ², recon mean at z = μ."""
        mean, logvar = self.encode(x)
        logits = self.decoder(self.sample_code(mean, logvar))
        recon_nll = losses.reduce_pixels(self.recon_nll(x, logits), "sum")
        recon_image = self.output_mean(self.decoder(mean))
        return {"recon_nll": recon_nll, "mean": mean, "logvar": logvar, "recon_image": recon_image}

    def iwae_log_weights(self, x: tf.Tensor, num_samples: int) -> tf.Tensor:
        """log p(x|z_k) + log p(z_k) − log q(z_k|x) for k samples: shape (k, batch)."""
        mean, logvar = self.encode(x)
        batch, latent_dim = tf.shape(mean)[0], self.config.latent_dim
        epsilon = keras.random.normal(tf.stack([num_samples, batch, latent_dim]), seed=self.seed_generator)
        z = losses.reparameterize(mean[None], logvar[None], epsilon)  # (k, b, d)
        logits = self.decoder(tf.reshape(z, (-1, latent_dim)))
        logits = tf.reshape(logits, tf.concat([[num_samples], tf.shape(x)], axis=0))  # (k, b, h, w, c)
        # One sample index at a time: the per-pixel NLL never exists for all k × b images at once.
        log_px = -tf.map_fn(lambda sample: losses.reduce_pixels(self.recon_nll(x, sample), "sum"), logits,
                            fn_output_signature=x.dtype)
        log_pz = losses.gaussian_log_density(z, tf.zeros_like(z), tf.zeros_like(z))
        log_qz = losses.gaussian_log_density(z, mean[None], logvar[None])
        return log_px + log_pz - log_qz

    def decode_prior(self, num_samples: int) -> tf.Tensor:
        z = keras.random.normal((num_samples, self.config.latent_dim), seed=self.seed_generator)
        return self.output_mean(self.decoder(z))
