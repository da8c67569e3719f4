"""Compute efficiency of the training step: achieved FLOP/s ÷ this machine's measured float32 matmul peak.

FLOPs counted: the Dense and convolution layers only, 2·m·n·k forward per Dense layer (m = batch, n·k = its
kernel), 2 · output pixels · kernel size per Conv2D (input pixels for a Conv2DTranspose), and twice that
backward (input and weight gradients), i.e. 3 × forward per trained example. Each side is counted on its own
network (for `conv` ours and the keras-io reference differ). Elementwise work, the optimizer update and the
loss are not counted (they are the overhead being measured). Time: pure training epochs
(no validation pass), after a warm-up epoch; ours = `vae.fit.Trainer.run_epoch`, the reference = Keras `fit`
of the keras-io-style model, one epoch per call timed by its epoch-end callback.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from benchmarks.machine import median
from vae.config import TrialConfig
from vae.data import load_splits


def dense_shapes(config: TrialConfig, num_pixels: int) -> list[tuple[int, int]]:
    """(inputs, outputs) of every Dense kernel of the MLP VAE: encoder, the two heads, decoder."""
    widths = [num_pixels, *config.hidden]
    encoder = list(zip(widths[:-1], widths[1:]))
    heads = [(config.hidden[-1], config.latent_dim)] * (2 if config.model == "vae" else 1)
    decoder_widths = [config.latent_dim, *reversed(config.hidden), num_pixels]
    return encoder + heads + list(zip(decoder_widths[:-1], decoder_widths[1:]))


def train_flops_per_example(config: TrialConfig, num_pixels: int) -> float:
    forward = sum(2.0 * n_in * n_out for n_in, n_out in dense_shapes(config, num_pixels))
    return 3.0 * forward


def forward_flops(layer) -> float:
    """Forward FLOPs per example of the Dense / Conv2D / Conv2DTranspose layers in a built Keras layer tree."""
    from keras import layers

    if isinstance(layer, layers.Conv2DTranspose):
        return 2.0 * math.prod(layer.input.shape[1:3]) * math.prod(layer.kernel.shape)
    if isinstance(layer, layers.Conv2D):
        return 2.0 * math.prod(layer.output.shape[1:3]) * math.prod(layer.kernel.shape)
    if isinstance(layer, layers.Dense):
        return 2.0 * math.prod(layer.kernel.shape)
    return sum(forward_flops(inner) for inner in getattr(layer, "layers", []))


def model_train_flops(config: TrialConfig, image_shape, reference: bool = False) -> float:
    """3 × forward FLOPs per example of our VAE (or the reference) built for `config`."""
    if reference:
        from benchmarks.reference import build_reference

        return 3.0 * forward_flops(build_reference(config, image_shape))
    from vae.fit import build_model

    return 3.0 * forward_flops(build_model(config, image_shape))


@dataclass
class Efficiency:
    config: TrialConfig
    peak_flops: float
    ours_flops: float
    reference_flops: float

    @property
    def ours(self) -> float:
        return self.ours_flops / self.peak_flops

    @property
    def reference(self) -> float:
        return self.reference_flops / self.peak_flops


def time_our_epochs(config: TrialConfig, splits, epochs: int) -> list[float]:
    from vae.fit import trainer_for

    trainer = trainer_for(config, splits.image_shape, len(splits.train))
    images = splits.train
    trainer.run_epoch(images)  # warm-up: trace and compile
    seconds = []
    for _ in range(epochs):
        started = time.perf_counter()
        trainer.run_epoch(images)
        seconds.append(time.perf_counter() - started)
    return seconds


def time_reference_epochs(config: TrialConfig, splits, epochs: int) -> list[float]:
    from benchmarks.reference import train_reference

    _, stamps = train_reference(config.model_copy(update={"epochs": epochs + 1}), np.asarray(splits.train),
                                time.perf_counter)
    return [later - earlier for earlier, later in zip(stamps[:-1], stamps[1:])]


def measure(config: TrialConfig, peak_flops: float, epochs: int, repetitions: int, log=print) -> Efficiency:
    """Median epoch time over `repetitions` interleaved rounds of `epochs` epochs each, for ours and the reference."""
    splits = load_splits(config)
    examples = max(1, len(splits.train) // config.batch_size) * config.batch_size
    if config.arch == "mlp":
        ours_flops = ref_flops = examples * train_flops_per_example(config, splits.num_pixels)
    else:  # the reference also trains the last partial batch: count its examples too
        ours_flops = examples * model_train_flops(config, splits.image_shape)
        ref_flops = len(splits.train) * model_train_flops(config, splits.image_shape, reference=True)
    ours, reference = [], []
    for repetition in range(repetitions):
        ours += time_our_epochs(config, splits, epochs)
        reference += time_reference_epochs(config, splits, epochs)
        log(f"  efficiency {config.arch} rep {repetition}: ours {ours_flops / median(ours) / 1e9:.0f} GFLOP/s, "
            f"reference {ref_flops / median(reference) / 1e9:.0f} GFLOP/s, peak {peak_flops / 1e9:.0f}")
    return Efficiency(config, peak_flops, ours_flops / median(ours), ref_flops / median(reference))
