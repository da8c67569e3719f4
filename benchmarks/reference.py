"""The reference: the keras-io "Variational AutoEncoder" example's training code, on our architecture and data.

What is kept from https://keras.io/examples/generative/vae/ : a `Sampling` layer inside the encoder model, a
decoder ending in a sigmoid, `keras.losses.binary_crossentropy` summed over the pixels plus the analytic KL,
a `keras.Model` subclass whose `train_step` uses `tf.GradientTape`, `compile(Adam)` and `fit(numpy_array,
batch_size=...)`: one plain `tf.function` call per step, no XLA (`jit_compile=False`, stated explicitly since
Keras' default is "auto"), no input caching (Keras slices the numpy array every epoch).
What is adapted: the encoder body and the decoder layers are `vae.architectures`' (the same `mlp` / `conv`
networks as ours), the learning rate and the seed come from the TrialConfig. `to_vae` copies the trained
weights into our `vae.model.VAE` so that both models are evaluated by the same code.
"""
from __future__ import annotations

import numpy as np

from vae.tf_runtime import keras, tf  # the same TensorFlow set-up (threads, oneDNN) as ours
from keras import layers, ops  # noqa: E402 - after the configured import

from vae.architectures import build_decoder, build_encoder_body
from vae.config import TrialConfig


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
    """Our `VAE` carrying the reference's trained weights, for evaluation by `vae.evaluate`."""
    from vae.model import VAE

    model = VAE(config, image_shape)
    body = reference.encoder.get_layer("encoder_body")
    model.encoder_body.set_weights(body.get_weights())
    model.mean_head.build((None, body.output.shape[-1]))
    model.variance_head.build((None, body.output.shape[-1]))
    model.mean_head.set_weights(reference.encoder.get_layer("z_mean").get_weights())
    model.variance_head.set_weights(reference.encoder.get_layer("z_log_var").get_weights())
    model.decoder.set_weights(reference.decoder.get_layer("decoder").get_weights())
    return model
