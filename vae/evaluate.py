"""Test/validation evaluation: compiled batched passes in TensorFlow, the metric formulas in numpy (vae.metrics).

Images are read batch by batch (a `vae.data.Part` scales only the batch), and the per-image metrics are
accumulated batch by batch, so memory does not grow with the test split. The IWAE bound and the MI estimate (O(n²))
use a seeded subsample of at most `eval_examples` test images (`eval_rows`), reported with standard errors.

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
RECONS_KEPT = 64  # reconstruction means returned for the artifacts (the first test images')
EVAL_SEED_OFFSET = 60_013  # the IWAE/MI subsample has its own random stream, apart from the split's


class Evaluator:
    """Holds the compiled evaluation functions of one model so that repeated calls do not re-trace."""

    def __init__(self, model: VAE):
        self.model = model
        self._batch_pass = tf.function(model.evaluate_batch, reduce_retracing=True, autograph=False)
        self._iwae_pass = tf.function(model.iwae_log_weights, reduce_retracing=True, autograph=False)

    def passes(self, images, stats: metrics.ReconStats | None = None) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Per-example recon NLL, μ and log σ² over `images` in batches; with `stats`, the reconstruction means
        are added to it batch by batch. Returns those arrays and the first RECONS_KEPT reconstruction means."""
        outputs: dict[str, list[np.ndarray]] = {}
        kept: list[np.ndarray] = []
        for start in range(0, len(images), EVAL_BATCH):
            batch = images[start:start + EVAL_BATCH]
            values = {name: value.numpy() for name, value in self._batch_pass(tf.constant(batch)).items()}
            recons = values.pop("recon_image")
            if stats is not None:
                stats.add(recons, batch)
                if start < RECONS_KEPT:
                    kept.append(recons[:RECONS_KEPT - start])
            for name, value in values.items():
                outputs.setdefault(name, []).append(value)
        recons_kept = np.concatenate(kept) if kept else np.zeros((0, *images.shape[1:]), np.float32)
        return {name: np.concatenate(parts) for name, parts in outputs.items()}, recons_kept

    def quick(self, images) -> dict[str, float]:
        """The per-epoch validation numbers."""
        out, _ = self.passes(images)
        recon = float(out["recon_nll"].mean())
        if not self.model.is_vae:
            return {VAL_RECON_NLL: recon, VAL_KL: math.nan, VAL_NELBO: recon, VAL_ACTIVE_UNITS: math.nan}
        kl = float(metrics.kl_per_dim(out["mean"], out["logvar"]).sum(axis=1).mean())
        return {VAL_RECON_NLL: recon, VAL_KL: kl, VAL_NELBO: recon + kl,
                VAL_ACTIVE_UNITS: metrics.active_units(out["mean"])}

    def full(self, images, iwae_samples: int, seed: int, eval_examples: int | None = None) -> tuple[dict, np.ndarray]:
        """All test metrics (KL-based ones None for the AE) and the first RECONS_KEPT reconstruction means.

        The per-image metrics use every image; the IWAE bound and the MI estimate the seeded subsample of at most
        `eval_examples` images (`eval_rows`; None: all), with their standard errors."""
        stats = metrics.ReconStats()
        out, recons = self.passes(images, stats)
        result = {"recon_nll": float(out["recon_nll"].mean()), "recon_diversity": stats.recon_diversity(),
                  "sharpness": stats.sharpness()}
        if self.model.is_vae:
            kl_dims = metrics.kl_per_dim(out["mean"], out["logvar"])
            rows = eval_rows(len(images), eval_examples, seed)
            iwae = self.iwae(images, iwae_samples, rows)
            information = metrics.mutual_info_terms(out["mean"][rows], out["logvar"][rows], seed=seed)
            result.update({
                "kl": float(kl_dims.sum(axis=1).mean()),
                "nelbo": result["recon_nll"] + float(kl_dims.sum(axis=1).mean()),
                "iwae_nll": float(iwae.mean()),
                "iwae_nll_se": metrics.standard_error(iwae),
                "kl_per_dim": kl_dims.mean(axis=0).tolist(),
                "active_units": metrics.active_units(out["mean"]),
                "mutual_info": float(np.mean(information)),
                "mutual_info_se": metrics.standard_error(information),
                "iwae_examples": len(rows),
            })
        else:
            result.update(dict.fromkeys(("kl", "nelbo", "iwae_nll", "iwae_nll_se", "kl_per_dim", "active_units",
                                         "mutual_info", "mutual_info_se", "iwae_examples")))
        return result, recons

    def iwae(self, images, num_samples: int, rows: np.ndarray | None = None) -> np.ndarray:
        """Per-image IWAE bound of `images[rows]` (all images if rows is None)."""
        rows = np.arange(len(images)) if rows is None else rows
        batch = iwae_batch(num_samples, largest_activation_bytes(self.model.decoder))
        return np.concatenate([metrics.iwae_nll(self._iwae_pass(tf.constant(images[rows[start:start + batch]]),
                                                                num_samples).numpy())
                               for start in range(0, len(rows), batch)])


def eval_rows(count: int, limit: int | None, seed: int) -> np.ndarray:
    """The test rows of the IWAE bound and the MI estimate: all `count` in order if `limit` is None or not
    smaller, else a fixed choice of `limit` rows drawn from `seed`, in test-split order."""
    if limit is None or limit >= count:
        return np.arange(count)
    return np.sort(np.random.default_rng(seed + EVAL_SEED_OFFSET).choice(count, limit, replace=False))


def largest_activation_bytes(network) -> int:
    """Bytes of the largest float32 output of any layer of a functional model, per input example."""
    sizes = [math.prod(layer.output.shape[1:]) for layer in network.layers if layer.output.shape[1:]]
    return 4 * max(sizes, default=1)


def iwae_batch(num_samples: int, activation_bytes: int, budget: int | None = None) -> int:
    """Images per IWAE call: k × images decoder inputs whose largest activation fits the budget (≥ 1 image)."""
    budget = IWAE_ACTIVATION_BYTES if budget is None else budget
    return max(1, min(EVAL_BATCH, budget // (num_samples * activation_bytes)))
