"""Compute efficiency of the MLP training step: achieved matmul FLOP/s ÷ this machine's measured float32 peak.

FLOPs counted: the Dense layers only, 2·m·n·k forward per layer (m = batch, n·k = its kernel) and twice that
backward (input and weight gradients), i.e. 3 × forward per trained example. Elementwise work, the optimizer
update and the loss are not counted (they are the overhead being measured). Time: pure training epochs
(no validation pass), after a warm-up epoch; ours = `vae.fit.Trainer.run_epoch`, the reference = Keras `fit`
of the keras-io-style model, one epoch per call timed by its epoch-end callback.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

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
    from vae.tf_runtime import tf

    from vae.fit import trainer_for

    trainer = trainer_for(config, splits.image_shape, len(splits.train))
    images = tf.constant(splits.train)
    trainer.run_epoch(images)  # warm-up: trace and compile
    seconds = []
    for _ in range(epochs):
        started = time.perf_counter()
        trainer.run_epoch(images)
        seconds.append(time.perf_counter() - started)
    return seconds


def time_reference_epochs(config: TrialConfig, splits, epochs: int) -> list[float]:
    from benchmarks.reference import train_reference

    _, stamps = train_reference(config.model_copy(update={"epochs": epochs + 1}), splits.train, time.perf_counter)
    return [later - earlier for earlier, later in zip(stamps[:-1], stamps[1:])]


def measure(config: TrialConfig, peak_flops: float, epochs: int, repetitions: int, log=print) -> Efficiency:
    """Median epoch time over `repetitions` interleaved rounds of `epochs` epochs each, for ours and the reference."""
    splits = load_splits(config)
    examples = max(1, len(splits.train) // config.batch_size) * config.batch_size
    flops_per_epoch = examples * train_flops_per_example(config, splits.num_pixels)
    ours, reference = [], []
    for repetition in range(repetitions):
        ours += time_our_epochs(config, splits, epochs)
        reference += time_reference_epochs(config, splits, epochs)
        log(f"  efficiency rep {repetition}: ours {flops_per_epoch / median(ours) / 1e9:.0f} GFLOP/s, "
            f"reference {flops_per_epoch / median(reference) / 1e9:.0f} GFLOP/s, peak {peak_flops / 1e9:.0f}")
    return Efficiency(config, peak_flops, flops_per_epoch / median(ours), flops_per_epoch / median(reference))
