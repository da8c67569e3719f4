"""Test/validation evaluation: compiled batched passes in TensorFlow, the metric formulas in numpy (vae.metrics).

The passes are graph-compiled `tf.function`s without XLA: forward-only passes gained nothing from XLA for `mlp`
and were slower with it for `conv` (XLA:CPU convolutions). One `Evaluator` lives as long
as its model (vae.fit caches both across trials of the same structure), so repeated calls do not re-trace.
"""
from __future__ import annotations

import math

import numpy as np
from vae.tf_runtime import tf

from common.results import VAL_ACTIVE_UNITS, VAL_KL, VAL_NELBO, VAL_RECON_NLL
from vae import metrics
from vae.model import VAE

EVAL_BATCH = 500
# The IWAE pass decodes k samples per image at once; its memory is a few times the decoder's largest activation
# over all k × batch inputs. Images per call are chosen so that this activation stays under the budget: without
# it, the conv decoder's IWAE pass set the sweep's peak resident memory.
IWAE_ACTIVATION_BYTES = 64 * 2**20


class Evaluator:
    """Holds the compiled evaluation functions of one model so that repeated calls do not re-trace."""

    def __init__(self, model: VAE):
        self.model = model
        self._batch_pass = tf.function(model.evaluate_batch, reduce_retracing=True, autograph=False)
        self._iwae_pass = tf.function(model.iwae_log_weights, reduce_retracing=True, autograph=False)

    def passes(self, images: np.ndarray) -> dict[str, np.ndarray]:
        outputs: dict[str, list[np.ndarray]] = {}
        for batch in _batches(images, EVAL_BATCH):
            for name, value in self._batch_pass(batch).items():
                outputs.setdefault(name, []).append(value.numpy())
        return {name: np.concatenate(parts) for name, parts in outputs.items()}

    def quick(self, images: np.ndarray) -> dict[str, float]:
        """The per-epoch validation numbers."""
        out = self.passes(images)
        recon = float(out["recon_nll"].mean())
        if not self.model.is_vae:
            return {VAL_RECON_NLL: recon, VAL_KL: math.nan, VAL_NELBO: recon, VAL_ACTIVE_UNITS: math.nan}
        kl = float(metrics.kl_per_dim(out["mean"], out["logvar"]).sum(axis=1).mean())
        return {VAL_RECON_NLL: recon, VAL_KL: kl, VAL_NELBO: recon + kl,
                VAL_ACTIVE_UNITS: metrics.active_units(out["mean"])}

    def full(self, images: np.ndarray, iwae_samples: int, seed: int) -> tuple[dict, np.ndarray]:
        """All test metrics (KL-based ones None for the AE) and the reconstruction means."""
        out = self.passes(images)
        result = {
            "recon_nll": float(out["recon_nll"].mean()),
            "recon_diversity": metrics.recon_diversity(out["recon_image"], images),
            "sharpness": metrics.sharpness(out["recon_image"], images) if images.ndim == 4 else None,  # images only
        }
        if self.model.is_vae:
            kl_dims = metrics.kl_per_dim(out["mean"], out["logvar"])
            result.update({
                "kl": float(kl_dims.sum(axis=1).mean()),
                "nelbo": result["recon_nll"] + float(kl_dims.sum(axis=1).mean()),
                "iwae_nll": float(self.iwae(images, iwae_samples).mean()),
                "kl_per_dim": kl_dims.mean(axis=0).tolist(),
                "active_units": metrics.active_units(out["mean"]),
                "mutual_info": metrics.mutual_info(out["mean"], out["logvar"], seed=seed),
            })
        else:
            result.update(dict.fromkeys(("kl", "nelbo", "iwae_nll", "kl_per_dim", "active_units", "mutual_info")))
        return result, out["recon_image"]

    def iwae(self, images: np.ndarray, num_samples: int) -> np.ndarray:
        batch = iwae_batch(num_samples, largest_activation_bytes(self.model.decoder))
        return np.concatenate([metrics.iwae_nll(self._iwae_pass(chunk, num_samples).numpy())
                               for chunk in _batches(images, batch)])


def largest_activation_bytes(network) -> int:
    """Bytes of the largest float32 output of any layer of a functional model, per input example."""
    sizes = [math.prod(layer.output.shape[1:]) for layer in network.layers if layer.output.shape[1:]]
    return 4 * max(sizes, default=1)


def iwae_batch(num_samples: int, activation_bytes: int, budget: int | None = None) -> int:
    """Images per IWAE call: k × images decoder inputs whose largest activation fits the budget (≥ 1 image)."""
    budget = IWAE_ACTIVATION_BYTES if budget is None else budget
    return max(1, min(EVAL_BATCH, budget // (num_samples * activation_bytes)))


def _batches(images: np.ndarray, size: int):
    """Consecutive batches; only the last one may be smaller (one extra trace)."""
    for start in range(0, len(images), size):
        yield tf.constant(images[start:start + size])
