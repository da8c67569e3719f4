"""The training loop: one compiled call per epoch over the training images held in memory, one hook per epoch.

Why it looks like this (each choice measured against its alternatives: BENCHMARKS.md):
- each epoch draws a shuffled permutation inside the compiled epoch function, and each step takes its batch from
  the data as stored (`vae.data.Part`: uint8 rows gathered and scaled in numpy, one `tf.numpy_function` call):
  no tf.data threads competing for the cores, and no copy of the training images in TensorFlow;
- the step is XLA-compiled for `mlp` (fused elementwise work around the matmuls). For `conv` it runs on
  TensorFlow's oneDNN kernels and only the optimizer update is XLA-compiled: XLA:CPU's convolutions are slower
  than oneDNN's, and a whole epoch inside one XLA computation is slower still (XLA:CPU's while loop);
- the reparameterization noise ε is drawn outside the XLA step (XLA:CPU's random-normal kernel is far slower
  than TensorFlow's);
- compiled setups are cached by model structure (`structure_key`): a later trial with the same shapes (a sweep
  over beta, learning rate, seed, ...) re-initialises the same variables exactly as a fresh build would and reuses
  the traced and compiled functions instead of tracing and compiling again.
"""
from __future__ import annotations

import collections
import math
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from vae.tf_runtime import keras, tf

from vae.config import TrialConfig, traced_structure
from vae.data import Part, Splits
from vae.evaluate import Evaluator
from common.errors import NonFiniteLoss
from common.results import EPOCH, TRAIN_KL, TRAIN_LOSS, TRAIN_RECON
from vae.memory import CACHE_SIZE
from vae.model import VAE

EpochHook = Callable[[int, dict[str, float]], None]  # (epoch, that epoch's history row)

XLA_STEP = {"mlp": True, "linear": True, "conv": False}  # per arch: whole step in XLA, else oneDNN kernels + XLA optimizer update
ORDER_SEED_OFFSET = 104_729  # the data-order random stream is seeded apart from the model's sampling stream


@dataclass
class Fitted:
    model: VAE
    evaluator: Evaluator
    history: list[dict[str, float]]
    train_seconds: float  # the whole loop: training epochs and the per-epoch validation
    examples_seen: int
    epoch_seconds: list[float]  # each epoch's training pass alone (no validation)
    epoch_cpu_seconds: list[float]  # the same passes in CPU seconds of this process (all threads)


def structure_key(config: TrialConfig, image_shape: tuple[int, ...], num_train: int) -> tuple:
    """Everything the traced graphs depend on; any config key not known to be value-only counts."""
    return traced_structure(config), tuple(image_shape), num_train


def build_model(config: TrialConfig, image_shape: tuple[int, ...]) -> VAE:
    """A fresh, fully built, compiled model: the same random initial values for the same seed, every time."""
    keras.utils.set_random_seed(config.seed)
    model = VAE(config, image_shape)
    model.encode(tf.zeros((1, *image_shape)))  # builds the lazily-built heads (no random draw)
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate),
                  xla_optimizer_update=not XLA_STEP[config.arch])
    model.optimizer.build(model.trainable_variables)
    return model


class Trainer:
    """A model with its compiled epoch and evaluation functions; `reset` readies it for another trial."""

    def __init__(self, config: TrialConfig, image_shape: tuple[int, ...], num_train: int):
        self.model = build_model(config, image_shape)
        self.num_train = num_train
        self.batch_size = min(config.batch_size, num_train)
        self.steps = max(1, num_train // config.batch_size)
        self.order_seed = keras.random.SeedGenerator(config.seed + ORDER_SEED_OFFSET)
        self._step = tf.function(self.model.train_step, jit_compile=XLA_STEP[config.arch], autograph=False)
        self._epoch = tf.function(self._epoch_body)
        self.feeding: Part | None = None  # the training part during `run_epoch`
        self.evaluator = Evaluator(self.model)

    def batch(self, positions: np.ndarray) -> np.ndarray:
        """The training images at `positions` of the part being fed, as float32 (called by the compiled epoch)."""
        return self.feeding[positions]

    def _epoch_body(self) -> dict[str, tf.Tensor]:
        order = keras.random.shuffle(tf.range(self.num_train), seed=self.order_seed)
        for step in tf.range(self.steps):
            batch = tf.numpy_function(self.batch, [order[step * self.batch_size:(step + 1) * self.batch_size]],
                                      tf.float32)
            batch.set_shape((self.batch_size, *self.model.image_shape))
            if self.model.is_vae:  # ε drawn by TensorFlow's kernel, outside the XLA step (see VAE.train_step)
                shape = (self.batch_size, self.model.config.latent_dim)
                batch = (batch, keras.random.normal(shape, seed=self.model.seed_generator))
            self._step(batch)
        return {name: tracker.result() for name, tracker in self.model.trackers.items()}

    def reset(self, config: TrialConfig) -> bool:
        """Give every variable the value a fresh `build_model(config)` would have; False if that cannot be done."""
        fresh = build_model(config, self.model.image_shape)
        targets, sources = self.model.variables, fresh.variables
        if len(targets) != len(sources) or any(t.shape != s.shape for t, s in zip(targets, sources)):
            return False
        for target, source in zip(targets, sources):
            target.assign(source.value)
        for variable in self.model.optimizer.variables:
            variable.assign(tf.zeros(variable.shape, variable.dtype))
        self.model.optimizer.learning_rate = config.learning_rate
        self.model.config = config
        self.order_seed.state.assign(keras.random.SeedGenerator(config.seed + ORDER_SEED_OFFSET).state.value)
        return True

    def run_epoch(self, images: Part) -> dict[str, float]:
        for tracker in self.model.trackers.values():
            tracker.reset_state()
        self.feeding = images
        try:
            return {name: float(value) for name, value in self._epoch().items()}
        finally:
            self.feeding = None  # a cached trainer does not keep a finished trial's data alive


_trainers: collections.OrderedDict[tuple, Trainer] = collections.OrderedDict()


def trainer_for(config: TrialConfig, image_shape: tuple[int, ...], num_train: int) -> Trainer:
    """The cached trainer of this structure, reset for `config`, or a new one (least recently used ones dropped)."""
    key = structure_key(config, image_shape, num_train)
    trainer = _trainers.pop(key, None)
    if trainer is None or not trainer.reset(config):
        trainer = Trainer(config, image_shape, num_train)
    _trainers[key] = trainer
    while len(_trainers) > CACHE_SIZE:
        _trainers.popitem(last=False)
    return trainer


def fit(config: TrialConfig, splits: Splits, on_epoch: EpochHook | None = None, verbose: int = 0) -> Fitted:
    trainer = trainer_for(config, splits.image_shape, len(splits.train))
    model, images = trainer.model, splits.train
    history: list[dict[str, float]] = []
    epoch_seconds: list[float] = []
    epoch_cpu_seconds: list[float] = []
    started = time.perf_counter()
    for epoch in range(config.epochs):
        if config.kl_warmup_epochs:
            model.kl_weight.assign(config.beta * min(1.0, epoch / config.kl_warmup_epochs))
        epoch_started, cpu_started = time.perf_counter(), time.process_time()
        logs = trainer.run_epoch(images)
        epoch_seconds.append(time.perf_counter() - epoch_started)
        epoch_cpu_seconds.append(time.process_time() - cpu_started)
        if not all(math.isfinite(logs[name]) for name in ("loss", "recon", "kl")):
            raise NonFiniteLoss(f"non-finite training loss at epoch {epoch}: loss={logs['loss']}, "
                                f"recon={logs['recon']}, kl={logs['kl']}")
        row = {EPOCH: epoch, TRAIN_LOSS: logs["loss"], TRAIN_RECON: logs["recon"], TRAIN_KL: logs["kl"]}
        row.update(trainer.evaluator.quick(splits.val))
        history.append(row)
        if verbose:
            print(f"epoch {epoch + 1}/{config.epochs}: " + ", ".join(f"{key} {value:.4g}" for key, value in
                                                                    row.items() if key != EPOCH), flush=True)
        if on_epoch is not None:
            on_epoch(epoch, row)
    train_seconds = time.perf_counter() - started
    examples_seen = len(history) * trainer.steps * trainer.batch_size
    return Fitted(model, trainer.evaluator, history, train_seconds, examples_seen, epoch_seconds, epoch_cpu_seconds)


def clear_cache() -> None:
    """Forget the compiled setups (tests, or to free their memory)."""
    _trainers.clear()


def cached_structures() -> int:
    return len(_trainers)


__all__ = ["Fitted", "Trainer", "fit", "build_model", "structure_key", "trainer_for", "clear_cache"]
