"""`CollapseMonitor`: a Keras 3 callback that tells whether any Keras VAE's posterior has collapsed.

    monitor = CollapseMonitor(x_val[:1000], encode=lambda x: encoder(x)[:2], decode=decoder)
    history = vae.fit(x_train, epochs=10, callbacks=[monitor, keras.callbacks.CSVLogger("log.csv")])
    monitor.collapsed, history.history["collapse/active_units"]

Self-contained on purpose (numpy and keras only), so it can be copied into any project. `encode(x)` returns
`(mean, logvar)` of q(z|x) (further outputs, such as keras-io's sampled `z`, are ignored); `decode(z)` returns the
mean images. Every `every` epochs it adds to `logs` (so History, CSVLogger and W&B's WandbMetricsLogger record
them; put the monitor before those loggers in `callbacks`):

- `collapse/active_units`: latent dims whose posterior mean varies across images (Var_x E_q[z_u|x] > 0.01);
- `collapse/kl`: KL(q(z|x) || N(0, I)) in nats per image, averaged over `images`;
- `collapse/kl_per_dim`: the same per latent dimension, as a list (`per_dim=False` leaves it out, e.g. for
  TensorBoard, which logs scalars only);
- `collapse/recon_diversity` (with `decode`): pixel variance of the reconstructions across images ÷ that of the
  images; ≈ 0 when every reconstruction is the same (average) image.

The posterior counts as collapsed when no unit is active or the KL is below ln 2 nats: I(x; z) <= E_x KL, so
the code then carries less than one bit about each image. The first time, one warning line goes to stderr.
The flag reads the encoder only: early in training a healthy VAE's decoder also returns near-average images
(recon_diversity of a few %), so diversity is reported, not used to flag.
"""
from __future__ import annotations

import sys
from typing import Any, Callable

import keras
import numpy as np

ACTIVE_UNIT_THRESHOLD = 0.01
KL_THRESHOLD = float(np.log(2.0))  # nats: one bit


def kl_per_dim(mean: np.ndarray, logvar: np.ndarray) -> np.ndarray:
    """KL(N(μ, σ²) || N(0, 1)) per example and dimension: ½(μ² + σ² − log σ² − 1)."""
    mean, logvar = np.asarray(mean, np.float64), np.asarray(logvar, np.float64)
    return 0.5 * (mean**2 + np.exp(logvar) - logvar - 1.0)


def active_units(means: np.ndarray, threshold: float = ACTIVE_UNIT_THRESHOLD) -> int:
    """Latent dims u with Var_x(E_q[z_u | x]) > threshold (Burda et al. 2015). `means`: (n, dims)."""
    return int(np.sum(np.var(np.asarray(means, np.float64), axis=0) > threshold))


def recon_diversity(recons: np.ndarray, images: np.ndarray) -> float:
    """Mean over pixels of Var_images(reconstruction) ÷ the same for the data; ≈ 0 if all reconstructions equal."""
    recon_var = np.var(np.asarray(recons, np.float64), axis=0).mean()
    data_var = np.var(np.asarray(images, np.float64), axis=0).mean()
    return float(recon_var / data_var) if data_var > 0 else float("nan")


def collapse_warning(epoch: int, values: dict[str, Any], latent_dim: int) -> str:
    """The one warning line: what was measured, the usual causes, the remedies."""
    seen = (f"KL {values['collapse/kl']:.3g} nats per image, "
            f"{values['collapse/active_units']}/{latent_dim} latent units active")
    diversity = values.get("collapse/recon_diversity")
    if diversity is not None:
        seen += f", reconstructions {diversity:.2g}x as diverse as the images (close to the average image)"
    return (f"warning: posterior collapse at epoch {epoch + 1}: {seen}. Likely causes: a reconstruction loss "
            "averaged over pixels (keras.losses.binary_crossentropy / mse take the mean, which multiplies the KL "
            "weight by the number of pixels: effective beta = beta x pixels), or beta too large. Remedies: sum the "
            "reconstruction loss over pixels, lower beta, free bits, KL warm-up.")


class CollapseMonitor(keras.callbacks.Callback):
    """Measures posterior collapse on fixed `images` every `every` epochs; see the module docstring.

    `encode`/`decode` are called on batches of `batch_size` (decode on the posterior means); `stream` is where
    the warning goes (default stderr); the last measurement is kept in `last`.
    """

    def __init__(self, images: Any, encode: Callable[[Any], Any], decode: Callable[[Any], Any] | None = None,
                 every: int = 1, batch_size: int = 256, per_dim: bool = True,
                 active_threshold: float = ACTIVE_UNIT_THRESHOLD, kl_threshold: float = KL_THRESHOLD,
                 stream=None):
        super().__init__()
        if every < 1:
            raise ValueError(f"every must be at least 1 (got {every})")
        self.images = np.asarray(images, np.float32)
        if len(self.images) < 2:
            raise ValueError("images: need at least 2 images to measure variation across them")
        self.encode, self.decode, self.every, self.batch_size = encode, decode, every, batch_size
        self.per_dim, self.active_threshold, self.kl_threshold = per_dim, active_threshold, kl_threshold
        self.stream = stream
        self.collapsed = False
        self.warned = False
        self.last: dict[str, Any] = {}
        self.latent_dim: int | None = None

    def _batched(self, function: Callable[[Any], Any], inputs: np.ndarray, outputs: int | None) -> list[np.ndarray]:
        """`function` applied to `inputs` in batches; the first `outputs` results (None: a single array)."""
        parts: list[list[np.ndarray]] = []
        for start in range(0, len(inputs), self.batch_size):
            result = function(inputs[start:start + self.batch_size])
            result = [result] if outputs is None else list(result)[:outputs]
            parts.append([np.asarray(keras.ops.convert_to_numpy(item), np.float64) for item in result])
        return [np.concatenate(column) for column in zip(*parts)]

    def measure(self) -> dict[str, Any]:
        """The collapse metrics on `images` now (also usable outside `fit`)."""
        mean, logvar = self._batched(self.encode, self.images, outputs=2)
        mean, logvar = mean.reshape(len(mean), -1), logvar.reshape(len(logvar), -1)
        per_dim = kl_per_dim(mean, logvar).mean(axis=0)
        values: dict[str, Any] = {"collapse/active_units": active_units(mean, self.active_threshold),
                                  "collapse/kl": float(per_dim.sum())}
        if self.per_dim:
            values["collapse/kl_per_dim"] = [float(v) for v in per_dim]
        if self.decode is not None:
            (recons,) = self._batched(self.decode, mean.astype(np.float32), outputs=None)
            values["collapse/recon_diversity"] = recon_diversity(recons.reshape(self.images.shape), self.images)
        self.latent_dim = mean.shape[1]
        return values

    def is_collapsed(self, values: dict[str, Any]) -> bool:
        return values["collapse/active_units"] == 0 or values["collapse/kl"] < self.kl_threshold

    def on_train_begin(self, logs=None):
        self.collapsed, self.warned, self.last = False, False, {}

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every:
            return
        values = self.measure()
        self.last = values
        if logs is not None:
            logs.update(values)
        self.collapsed = self.is_collapsed(values)
        if self.collapsed and not self.warned:
            self.warned = True
            print(collapse_warning(epoch, values, self.latent_dim), file=self.stream or sys.stderr, flush=True)
