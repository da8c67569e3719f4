"""Encoder bodies and decoders: `mlp`, `conv` and `linear`. The encoder body ends in features; the heads live in
vae.model. `linear` has no hidden layer: the encoder's two heads are affine maps of the (flattened) input and the
decoder is one affine map (probabilistic PCA as a VAE: docs/theory.md).

The `conv` decoder upsamples by sub-pixel convolution (a stride-1 Conv2D to 4·C channels, then depth_to_space:
each output pixel of a 2×2 block gets its own channels) instead of Conv2DTranspose, and its last layer runs at
half resolution (a Conv2D to 4·channels, then depth_to_space), not as a 1-channel convolution over the full image.
On 2 CPU cores the transposed and the 1-channel full-resolution convolutions were the slow oneDNN kernels
(BENCHMARKS.md has the profile); the keras-io layout is kept in benchmarks/reference.py as the reference.
"""
from __future__ import annotations

import math

from vae.tf_runtime import keras
from keras import layers, ops

from vae.config import TrialConfig
from common.errors import UserError


@keras.saving.register_keras_serializable(package="vae")
class DepthToSpace(layers.Layer):
    """(h, w, 4·c) -> (2h, 2w, c): the sub-pixel rearrangement."""

    def call(self, x):
        return ops.depth_to_space(x, 2)

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape
        double = (lambda size: None if size is None else 2 * size)
        return batch, double(height), double(width), channels // 4


def build_encoder_body(config: TrialConfig, image_shape: tuple[int, ...]) -> keras.Model:
    """Input (images (h, w, c) or vectors (d,)) -> features; `linear`: the flattened input itself."""
    inputs = keras.Input(image_shape)
    if config.arch in ("mlp", "linear"):
        features = layers.Flatten()(inputs)
        for width in config.hidden if config.arch == "mlp" else ():
            features = layers.Dense(width, activation="relu")(features)
    else:
        _check_conv_shape(config, image_shape)
        features = inputs
        for channels in config.filters:
            features = layers.Conv2D(channels, 3, strides=2, padding="same", activation="relu")(features)
        features = layers.Flatten()(features)
        features = layers.Dense(config.hidden[-1], activation="relu")(features)
    return keras.Model(inputs, features, name="encoder_body")


def build_decoder(config: TrialConfig, image_shape: tuple[int, ...]) -> keras.Model:
    """z -> per-value outputs shaped like the data (the likelihood turns them into p(x | z))."""
    latent = keras.Input((config.latent_dim,))
    if config.arch in ("mlp", "linear"):
        hidden = latent
        for units in reversed(config.hidden) if config.arch == "mlp" else ():
            hidden = layers.Dense(units, activation="relu")(hidden)
        logits = layers.Reshape(image_shape)(layers.Dense(math.prod(image_shape))(hidden))
    else:
        height, width, channels = image_shape
        stride_total = 2 ** len(config.filters)
        base = (height // stride_total, width // stride_total, config.filters[-1])
        hidden = layers.Dense(config.hidden[-1], activation="relu")(latent)
        hidden = layers.Dense(base[0] * base[1] * base[2], activation="relu")(hidden)
        hidden = layers.Reshape(base)(hidden)
        for filters in reversed(config.filters[:-1]):  # the encoder's strides, undone one 2× step at a time
            hidden = DepthToSpace()(layers.Conv2D(4 * filters, 3, padding="same", activation="relu")(hidden))
        logits = DepthToSpace()(layers.Conv2D(4 * channels, 3, padding="same")(hidden))
    return keras.Model(latent, logits, name="decoder")


def _check_conv_shape(config: TrialConfig, image_shape: tuple[int, ...]) -> None:
    stride_total = 2 ** len(config.filters)
    if image_shape[0] % stride_total or image_shape[1] % stride_total:
        raise UserError(f"arch=conv with {len(config.filters)} stride-2 layers needs image height and width "
                        f"divisible by {stride_total}, got {image_shape[:2]}; use fewer filters or arch=mlp")
