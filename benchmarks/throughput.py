"""Training throughput and quality at equal epochs: ours (`vae.fit.fit`) vs the keras-io-style reference.

Both train the same architecture on the same mnist5k train split with the same batch size and epochs; runs are
interleaved (ours, reference, ours, ...) so that load from other processes hits both alike. Throughput is the
steady state: examples of epochs 2..E ÷ the time from the end of epoch 1 to the end of epoch E (epoch 1 holds
tracing/compilation and is reported separately as `first_epoch_s`). The training-step comparison counts our
training passes alone (`Fitted.epoch_seconds`), as the reference has no validation; `examples_per_second` also
counts our per-epoch validation pass. Quality: both trained models are evaluated by the same `vae.evaluate` code.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from benchmarks.machine import median
from vae.config import TrialConfig
from vae.data import Splits, load_splits


@dataclass
class Run:
    examples_per_second: float  # epoch end to epoch end: ours includes its validation pass
    first_epoch_s: float
    nelbo: float
    iwae_nll: float
    train_examples_per_second: float  # the training passes alone (the reference has nothing else)


@dataclass
class Comparison:
    arch: str
    config: TrialConfig
    ours: list[Run] = field(default_factory=list)
    reference: list[Run] = field(default_factory=list)

    def median(self, side: str, attribute: str) -> float:
        return median(getattr(run, attribute) for run in getattr(self, side))

    @property
    def speedup(self) -> float:
        return (self.median("ours", "train_examples_per_second") /
                self.median("reference", "train_examples_per_second"))


def steady_rate(started: float, stamps: list[float], examples_per_epoch: int) -> tuple[float, float]:
    """(examples/s over epochs 2..E, seconds of epoch 1)."""
    first = stamps[0] - started
    if len(stamps) < 2:
        return examples_per_epoch / first, first
    return examples_per_epoch * (len(stamps) - 1) / (stamps[-1] - stamps[0]), first


def examples_per_epoch(config: TrialConfig, splits: Splits) -> int:
    n = len(splits.train)
    return max(1, n // config.batch_size) * min(config.batch_size, n)


def run_ours(config: TrialConfig, splits: Splits) -> Run:
    from vae.fit import fit

    stamps: list[float] = []
    started = time.perf_counter()
    fitted = fit(config, splits, on_epoch=lambda epoch, row: stamps.append(time.perf_counter()))
    per_epoch = examples_per_epoch(config, splits)
    rate, first = steady_rate(started, stamps, per_epoch)
    steady = fitted.epoch_seconds[1:]
    train_rate = per_epoch * len(steady) / sum(steady) if steady else per_epoch / fitted.epoch_seconds[0]
    metrics, _ = fitted.evaluator.full(splits.test, config.iwae_samples, config.seed)
    return Run(rate, first, metrics["nelbo"], metrics["iwae_nll"], train_rate)


def run_reference(config: TrialConfig, splits: Splits) -> Run:
    from benchmarks.reference import to_vae, train_reference
    from vae.evaluate import Evaluator

    started = time.perf_counter()
    model, stamps = train_reference(config, np.asarray(splits.train), time.perf_counter)
    rate, first = steady_rate(started, stamps, examples_per_epoch(config, splits))
    evaluator = Evaluator(to_vae(model, config, splits.image_shape))
    metrics, _ = evaluator.full(splits.test, config.iwae_samples, config.seed)
    return Run(rate, first, metrics["nelbo"], metrics["iwae_nll"], rate)


def compare(arch: str, epochs: int, repetitions: int, log=print, iwae_samples: int = 100) -> Comparison:
    """`repetitions` interleaved pairs; repetition r uses seed r (same seed for both sides)."""
    result = Comparison(arch, TrialConfig(arch=arch, epochs=epochs, iwae_samples=iwae_samples))
    splits = load_splits(result.config)
    for repetition in range(repetitions):
        config = result.config.model_copy(update={"seed": repetition})
        order = (("ours", run_ours), ("reference", run_reference))
        for side, runner in order if repetition % 2 == 0 else order[::-1]:
            run = runner(config, splits)
            getattr(result, side).append(run)
            log(f"  {arch} {side:9s} rep {repetition}: {run.train_examples_per_second:8.0f} ex/s training "
                f"({run.examples_per_second:8.0f} with validation), first epoch "
                f"{run.first_epoch_s:5.2f} s, test nelbo {run.nelbo:.2f}")
    return result


def quality_gap(comparison: Comparison) -> dict[str, float]:
    return {metric: comparison.median("ours", metric) - comparison.median("reference", metric)
            for metric in ("nelbo", "iwae_nll")}


__all__ = ["Comparison", "Run", "compare", "quality_gap"]
