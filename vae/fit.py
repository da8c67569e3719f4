"""The training loop: Keras `fit` on the in-memory tf.data pipeline, XLA-compiled steps, one callback per epoch."""
from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from vae.config import TrialConfig  # noqa: E402
from vae.data import Splits, make_train_dataset  # noqa: E402
from vae.evaluate import Evaluator  # noqa: E402
from vae.model import VAE  # noqa: E402
from vae.train import EpochHook, NonFiniteLoss  # noqa: E402


@dataclass
class Fitted:
    model: VAE
    evaluator: Evaluator
    history: list[dict[str, float]]
    train_seconds: float
    examples_seen: int


class EpochEnd(keras.callbacks.Callback):
    """KL warm-up before each epoch; after it: NaN check, validation metrics, history row, the caller's hook."""

    def __init__(self, config: TrialConfig, evaluator: Evaluator, val_images: np.ndarray, on_epoch: EpochHook | None):
        super().__init__()
        self.config, self.evaluator, self.val_images, self.on_epoch = config, evaluator, val_images, on_epoch
        self.history: list[dict[str, float]] = []

    def on_epoch_begin(self, epoch, logs=None):
        if self.config.kl_warmup_epochs:
            ramp = min(1.0, epoch / self.config.kl_warmup_epochs)
            self.model.kl_weight.assign(self.config.beta * ramp)

    def on_epoch_end(self, epoch, logs=None):
        logs = {name: float(value) for name, value in (logs or {}).items()}
        if not all(math.isfinite(logs.get(name, 0.0)) for name in ("loss", "recon", "kl")):
            raise NonFiniteLoss(f"non-finite training loss at epoch {epoch}: loss={logs.get('loss')}, "
                                f"recon={logs.get('recon')}, kl={logs.get('kl')}")
        row = {"epoch": epoch, "train/loss": logs["loss"], "train/recon": logs["recon"], "train/kl": logs["kl"]}
        row.update(self.evaluator.quick(self.val_images))
        self.history.append(row)
        if self.on_epoch is not None:
            self.on_epoch(epoch, row)


def build_model(config: TrialConfig, image_shape: tuple[int, int, int], steps_per_epoch: int) -> VAE:
    keras.utils.set_random_seed(config.seed)
    model = VAE(config, image_shape)
    # One compiled call runs a whole epoch of XLA-compiled steps: no per-step Python overhead.
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate), jit_compile=True,
                  steps_per_execution=steps_per_epoch)
    return model


def fit(config: TrialConfig, splits: Splits, on_epoch: EpochHook | None = None, verbose: int = 0) -> Fitted:
    steps_per_epoch = max(1, len(splits.train) // config.batch_size)
    model = build_model(config, splits.image_shape, steps_per_epoch)
    evaluator = Evaluator(model)
    epoch_end = EpochEnd(config, evaluator, splits.val, on_epoch)
    train_data = make_train_dataset(splits.train, config.batch_size, config.seed)
    started = time.perf_counter()
    model.fit(train_data, epochs=config.epochs, verbose=verbose, callbacks=[epoch_end], shuffle=False)
    train_seconds = time.perf_counter() - started
    examples_seen = len(epoch_end.history) * steps_per_epoch * min(config.batch_size, len(splits.train))
    return Fitted(model, evaluator, epoch_end.history, train_seconds, examples_seen)
