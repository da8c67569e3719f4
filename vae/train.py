"""Train one VAE/AE and evaluate it on the test split: `run(TrialConfig) -> TrialResult`, and its CLI.

    python -m vae.train [--set key=value ...] [--out DIR]
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from vae import data, images, metrics  # noqa: E402
from vae.config import TrialConfig, UserError, build_trial_config, parse_overrides  # noqa: E402
from vae.evaluate import Evaluator  # noqa: E402
from vae.model import VAE  # noqa: E402

EpochHook = Callable[[int, dict[str, float]], None]


class NonFiniteLoss(RuntimeError):
    """The training loss became NaN or infinite; the message is a one-line reason."""


@dataclass
class TrialResult:
    metrics: dict[str, Any]
    history: list[dict[str, float]]
    artifact_dir: Path | None


class _EpochEnd(keras.callbacks.Callback):
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
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate), jit_compile=True,
                  steps_per_execution=steps_per_epoch)
    return model


def run(config: TrialConfig, out_dir: str | Path | None = None, on_epoch: EpochHook | None = None,
        verbose: int = 0) -> TrialResult:
    """Train, evaluate on the test split, write artifacts into `out_dir` (if given)."""
    splits = data.load_splits(config)
    train_data = data.make_train_dataset(splits.train, config.batch_size, config.seed)
    steps_per_epoch = max(1, len(splits.train) // config.batch_size)
    model = build_model(config, splits.image_shape, steps_per_epoch)
    evaluator = Evaluator(model)
    epoch_end = _EpochEnd(config, evaluator, splits.val, on_epoch)

    started = time.perf_counter()
    model.fit(train_data, epochs=config.epochs, verbose=verbose, callbacks=[epoch_end], shuffle=False)
    train_seconds = time.perf_counter() - started
    epochs_run = len(epoch_end.history)

    test_metrics, recon_images = evaluator.full(splits.test, config.iwae_samples, config.seed)
    test_metrics.update({
        "effective_beta": metrics.effective_beta(config.beta, config.reduction, splits.num_pixels),
        "num_pixels": splits.num_pixels,
        "train_seconds": train_seconds,
        "epochs_run": epochs_run,
        "examples_per_second": epochs_run * steps_per_epoch * config.batch_size / train_seconds,
    })
    result = TrialResult(metrics=test_metrics, history=epoch_end.history, artifact_dir=None)
    if out_dir is not None:
        result.artifact_dir = write_artifacts(Path(out_dir), result, splits.test, recon_images,
                                              model.decode_prior(64).numpy())
    return result


def write_artifacts(out_dir: Path, result: TrialResult, originals: np.ndarray, recons: np.ndarray,
                    samples: np.ndarray) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "metrics.json").write_text(json.dumps(result.metrics, indent=2, allow_nan=False) + "\n")
    with open(out_dir / "history.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(result.history[0]) if result.history else ["epoch"])
        writer.writeheader()
        writer.writerows(result.history)
    shown = slice(0, 16)
    images.save_grid(out_dir / "reconstructions.png", np.concatenate([originals[shown], recons[shown]]), columns=16)
    images.save_grid(out_dir / "samples.png", samples, columns=8)
    np.savez_compressed(out_dir / "reconstructions.npz", originals=originals[:64].astype(np.float32),
                        reconstructions=recons[:64].astype(np.float32))
    return out_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vae.train", description=__doc__.splitlines()[0])
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a TrialConfig key, e.g. --set beta=4 --set reduction=mean")
    parser.add_argument("--out", default="runs/single", help="artifact folder (default: runs/single)")
    parser.add_argument("--verbose", type=int, default=0, help="Keras fit verbosity")
    args = parser.parse_args(argv)
    try:
        config = build_trial_config(parse_overrides(args.set), source="--set")
        result = run(config, args.out, verbose=args.verbose)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except NonFiniteLoss as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    shown = {key: value for key, value in result.metrics.items() if key != "kl_per_dim"}
    print(json.dumps(shown, indent=2))
    print(f"artifacts: {result.artifact_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
