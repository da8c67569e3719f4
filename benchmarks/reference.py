"""The reference: the keras-io "Variational AutoEncoder" example's training code, on our architecture and data.

What is kept from https://keras.io/examples/generative/vae/ : a `Sampling` layer inside the encoder model, a
decoder ending in a sigmoid, `keras.losses.binary_crossentropy` summed over the pixels plus the analytic KL,
a `keras.Model` subclass whose `train_step` uses `tf.GradientTape`, `compile(Adam)` and `fit(numpy_array,
batch_size=...)`: one plain `tf.function` call per step, no XLA (`jit_compile=False`, stated explicitly since
Keras' default is "auto"), no input caching (Keras slices the numpy array every epoch).
What is adapted: the layer sizes come from the TrialConfig (`hidden`, `filters`, `latent_dim`), as do the
learning rate and the seed. `mlp` uses `vae.architectures`' network; `conv` keeps the keras-io layout
(stride-2 Conv2D encoder; Dense, Conv2DTranspose per filter, a 1-channel Conv2DTranspose at full resolution),
which our `conv` decoder replaced by sub-pixel convolutions. `to_vae` puts the trained networks into our
`vae.model.VAE`, so that both models are evaluated by the same code.
"""
from __future__ import annotations

import numpy as np

from vae.tf_runtime import keras, tf  # the same TensorFlow set-up (threads, oneDNN) as ours
from keras import layers, ops  # noqa: E402 - after the configured import

from vae import architectures
from vae.architectures import build_encoder_body
from vae.config import TrialConfig


def build_decoder(config: TrialConfig, image_shape) -> keras.Model:
    """The keras-io decoder for `conv` (logits; the sigmoid is added by `build_sigmoid_decoder`), ours for mlp."""
    if config.arch != "conv":
        return architectures.build_decoder(config, image_shape)
    height, width, channels = image_shape
    stride_total = 2 ** len(config.filters)
    base = (height // stride_total, width // stride_total, config.filters[-1])
    latent = keras.Input((config.latent_dim,))
    hidden = layers.Dense(config.hidden[-1], activation="relu")(latent)
    hidden = layers.Dense(base[0] * base[1] * base[2], activation="relu")(hidden)
    hidden = layers.Reshape(base)(hidden)
    for filters in reversed(config.filters):
        hidden = layers.Conv2DTranspose(filters, 3, strides=2, padding="same", activation="relu")(hidden)
    logits = layers.Conv2DTranspose(channels, 3, padding="same")(hidden)
    return keras.Model(latent, logits, name="decoder")


class Sampling(layers.Layer):
    """Uses (z_mean, z_log_var) to sample z, the vector encoding a digit."""

    def __init__(self, seed: int = 1337, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        batch, dim = ops.shape(z_mean)[0], ops.shape(z_mean)[1]
        epsilon = keras.random.normal(shape=(batch, dim), seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * epsilon


def build_encoder(config: TrialConfig, image_shape) -> keras.Model:
    inputs = keras.Input(image_shape)
    body = build_encoder_body(config, image_shape)
    features = body(inputs)
    z_mean = layers.Dense(config.latent_dim, name="z_mean")(features)
    z_log_var = layers.Dense(config.latent_dim, name="z_log_var")(features)
    z = Sampling(config.seed)([z_mean, z_log_var])
    return keras.Model(inputs, [z_mean, z_log_var, z], name="encoder")


def build_sigmoid_decoder(config: TrialConfig, image_shape) -> keras.Model:
    latent = keras.Input((config.latent_dim,))
    logits_model = build_decoder(config, image_shape)
    return keras.Model(latent, layers.Activation("sigmoid")(logits_model(latent)), name="decoder")


class ReferenceVAE(keras.Model):
    def __init__(self, encoder, decoder, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self.total_loss_tracker = keras.metrics.Mean(name="total_loss")
        self.reconstruction_loss_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")

    @property
    def metrics(self):
        return [self.total_loss_tracker, self.reconstruction_loss_tracker, self.kl_loss_tracker]

    def train_step(self, data):
        with tf.GradientTape() as tape:
            z_mean, z_log_var, z = self.encoder(data)
            reconstruction = self.decoder(z)
            reconstruction_loss = ops.mean(
                ops.sum(keras.losses.binary_crossentropy(data, reconstruction), axis=(1, 2)))
            kl_loss = -0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
            kl_loss = ops.mean(ops.sum(kl_loss, axis=1))
            total_loss = reconstruction_loss + kl_loss
        grads = tape.gradient(total_loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        self.total_loss_tracker.update_state(total_loss)
        self.reconstruction_loss_tracker.update_state(reconstruction_loss)
        self.kl_loss_tracker.update_state(kl_loss)
        return {"loss": self.total_loss_tracker.result(),
                "reconstruction_loss": self.reconstruction_loss_tracker.result(),
                "kl_loss": self.kl_loss_tracker.result()}


class EpochClock(keras.callbacks.Callback):
    """Wall-clock time at the end of every epoch (the same instant our `on_epoch` hook sees)."""

    def __init__(self, clock):
        super().__init__()
        self.clock, self.stamps = clock, []

    def on_epoch_end(self, epoch, logs=None):
        self.stamps.append(self.clock())


def build_reference(config: TrialConfig, image_shape) -> ReferenceVAE:
    keras.utils.set_random_seed(config.seed)
    model = ReferenceVAE(build_encoder(config, image_shape), build_sigmoid_decoder(config, image_shape))
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate), jit_compile=False)
    return model


def train_reference(config: TrialConfig, train: np.ndarray, clock) -> tuple[ReferenceVAE, list[float]]:
    """Train as the keras-io example does; returns the model and the time stamp of each epoch end."""
    model = build_reference(config, train.shape[1:])
    stamps = EpochClock(clock)
    model.fit(train, epochs=config.epochs, batch_size=config.batch_size, verbose=0, callbacks=[stamps])
    return model, stamps.stamps


def to_vae(reference: ReferenceVAE, config: TrialConfig, image_shape):
    """Our `VAE` running the reference's trained networks, for evaluation by `vae.evaluate`."""
    from vae.model import VAE

    model = VAE(config, image_shape)
    body = reference.encoder.get_layer("encoder_body")
    model.encoder_body = body
    model.mean_head = reference.encoder.get_layer("z_mean")
    model.variance_head = reference.encoder.get_layer("z_log_var")
    model.decoder = reference.decoder.get_layer("decoder")
    return model
