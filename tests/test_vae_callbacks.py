"""vae.callbacks.CollapseMonitor: its formulas against vae.metrics, its bookkeeping on a hand-made encoder, and
real keras-io-style VAEs trained with `model.fit`: pixel-averaged loss -> warns and collapsed, summed -> not."""
from __future__ import annotations

import ast
import csv
import io
import json
import math

import numpy as np
import pytest

from vae import callbacks, metrics
from vae.tf_runtime import keras, tf

from common.wandb_adapter import read_run, settings


def test_formulas_match_vae_metrics():
    rng = np.random.default_rng(0)
    mean, logvar = rng.normal(size=(300, 5)) * [1.0, 0.3, 0.05, 0.0, 2.0], rng.normal(size=(300, 5))
    np.testing.assert_allclose(callbacks.kl_per_dim(mean, logvar), metrics.kl_per_dim(mean, logvar))
    assert callbacks.kl_per_dim(np.array([1.0]), np.array([1.0]))[0] == pytest.approx((np.e - 1) / 2)
    assert callbacks.active_units(mean) == metrics.active_units(mean) == 3
    images = rng.random((40, 6, 6, 1))
    recons = 0.7 * images + 0.1
    assert callbacks.recon_diversity(recons, images) == pytest.approx(metrics.recon_diversity(recons, images))
    assert callbacks.recon_diversity(recons, images) == pytest.approx(0.49)
    assert callbacks.KL_THRESHOLD == pytest.approx(math.log(2))


def test_the_module_imports_only_numpy_and_keras(repo):
    tree = ast.parse((repo / "vae" / "callbacks.py").read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported <= {"__future__", "sys", "typing", "numpy", "keras"}, imported


def fixed_encoder(spread: np.ndarray):
    """mean = the first pixels of each image x spread per dim, log-variance 0: KL and active units known."""
    def encode(x):
        flat = np.asarray(x).reshape(len(x), -1)[:, :len(spread)]
        return flat * spread, np.zeros_like(flat), "z (ignored)"
    return encode


def test_monitor_logs_every_n_epochs_and_warns_once():
    images = np.random.default_rng(1).random((64, 4, 4, 1)).astype(np.float32)
    stream = io.StringIO()
    spread = np.array([3.0, 3.0, 0.0])
    monitor = callbacks.CollapseMonitor(images, encode=fixed_encoder(spread), every=2, batch_size=10,
                                        stream=stream)
    monitor.on_train_begin()
    logs: dict = {}
    monitor.on_epoch_end(0, logs)
    assert logs == {} and not monitor.collapsed
    monitor.on_epoch_end(1, logs)
    first = images.reshape(64, -1)[:, :3] * spread
    assert logs["collapse/active_units"] == 2
    assert logs["collapse/kl"] == pytest.approx(metrics.kl_per_dim(first, np.zeros_like(first)).mean(0).sum())
    assert logs["collapse/kl_per_dim"] == pytest.approx(list(0.5 * (first**2).mean(0)))
    assert "collapse/recon_diversity" not in logs and not monitor.collapsed and stream.getvalue() == ""

    spread[:] = 0.0  # the encoder now ignores x: KL 0, no active unit
    for epoch in (3, 5):
        monitor.on_epoch_end(epoch, logs)
        assert monitor.collapsed and logs["collapse/active_units"] == 0 and logs["collapse/kl"] == 0
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning: posterior collapse at epoch 4: KL 0 nats")
    for cause in ("averaged over pixels", "beta x pixels", "beta too large", "free bits", "KL warm-up"):
        assert cause in lines[0]


def test_monitor_with_decoder_and_without_per_dim_list():
    images = np.random.default_rng(2).random((30, 3, 3, 1)).astype(np.float32)
    spread = np.ones(9)
    average = images.mean(axis=0)
    monitor = callbacks.CollapseMonitor(images, encode=fixed_encoder(spread), decode=lambda z: 0.5 * z,
                                        per_dim=False)
    values = monitor.measure()
    assert "collapse/kl_per_dim" not in values
    assert values["collapse/recon_diversity"] == pytest.approx(0.25)
    monitor.decode = lambda z: np.broadcast_to(average, (len(z), *average.shape))
    assert monitor.measure()["collapse/recon_diversity"] == pytest.approx(0.0)
    with pytest.raises(ValueError, match="every"):
        callbacks.CollapseMonitor(images, encode=fixed_encoder(spread), every=0)


# --- a real VAE in the shape of the keras-io example (encoder -> z_mean, z_log_var, z; decoder; train_step) ---

class Sampling(keras.layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(1337)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        epsilon = keras.random.normal(keras.ops.shape(z_mean), seed=self.seed_generator)
        return z_mean + keras.ops.exp(0.5 * z_log_var) * epsilon


def encoder_decoder(latent_dim: int = 4, shape=(28, 28, 1)):
    inputs = keras.Input(shape=shape)
    x = keras.layers.Dense(128, activation="relu")(keras.layers.Flatten()(inputs))
    z_mean, z_log_var = keras.layers.Dense(latent_dim)(x), keras.layers.Dense(latent_dim)(x)
    encoder = keras.Model(inputs, [z_mean, z_log_var, Sampling()([z_mean, z_log_var])])
    latent = keras.Input(shape=(latent_dim,))
    x = keras.layers.Dense(128, activation="relu")(latent)
    x = keras.layers.Dense(int(np.prod(shape)), activation="sigmoid")(x)
    return encoder, keras.Model(latent, keras.layers.Reshape(shape)(x))


class VAE(keras.Model):
    def __init__(self, encoder, decoder, reduction: str, **kwargs):
        super().__init__(**kwargs)
        self.encoder, self.decoder, self.reduction = encoder, decoder, reduction
        self.loss_tracker = keras.metrics.Mean(name="loss")

    @property
    def metrics(self):
        return [self.loss_tracker]

    def train_step(self, data):
        with tf.GradientTape() as tape:
            z_mean, z_log_var, z = self.encoder(data)
            bce = keras.losses.binary_crossentropy(data, self.decoder(z))  # per pixel: (batch, 28, 28)
            recon = keras.ops.sum(bce, axis=(1, 2)) if self.reduction == "sum" else keras.ops.mean(bce, axis=(1, 2))
            kl = keras.ops.sum(-0.5 * (1 + z_log_var - keras.ops.square(z_mean) - keras.ops.exp(z_log_var)), axis=1)
            loss = keras.ops.mean(recon + kl)
        grads = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}


EPOCHS = 3


def train(reduction: str, extra_callbacks=()):
    from vae.data import load_images

    images = load_images("mnist5k")
    keras.utils.set_random_seed(0)
    encoder, decoder = encoder_decoder()
    model = VAE(encoder, decoder, reduction)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    stream = io.StringIO()
    monitor = callbacks.CollapseMonitor(images[4000:4500], encode=lambda x: encoder(x)[:2], decode=decoder,
                                        stream=stream)
    history = model.fit(images[:2000], epochs=EPOCHS, batch_size=64, verbose=0,
                        callbacks=[monitor, *extra_callbacks])
    return monitor, history.history, stream.getvalue().splitlines()


def test_pixel_averaged_loss_collapses_and_warns_once(tmp_path):
    monitor, history, lines = train("mean", [keras.callbacks.CSVLogger(str(tmp_path / "log.csv"))])
    assert monitor.collapsed
    assert len(lines) == 1 and "posterior collapse" in lines[0] and "averaged over pixels" in lines[0]
    assert history["collapse/active_units"][-1] == 0
    assert history["collapse/kl"][-1] < 0.1 and history["collapse/recon_diversity"][-1] < 0.01
    rows = list(csv.DictReader((tmp_path / "log.csv").open()))
    assert len(rows) == EPOCHS and float(rows[-1]["collapse/active_units"]) == 0
    per_dim = json.loads(rows[-1]["collapse/kl_per_dim"].strip('"'))  # CSVLogger writes lists as "[a, b]"
    assert per_dim == pytest.approx(history["collapse/kl_per_dim"][-1]) and len(per_dim) == 4


def test_summed_loss_does_not_collapse_and_wandb_records_the_metrics(tmp_path, monkeypatch):
    import wandb
    from wandb.integration.keras import WandbMetricsLogger

    monkeypatch.setenv("WANDB_DATA_DIR", str(tmp_path / "wandb-data"))
    run = wandb.init(project="collapse-test", mode="offline", dir=str(tmp_path),
                     settings=settings())
    monitor, history, lines = train("sum", [WandbMetricsLogger()])
    run.finish()
    wandb.teardown()  # the service may still be writing the run file when finish() returns
    assert not monitor.collapsed and lines == []
    assert len(history["collapse/active_units"]) == EPOCHS
    assert min(history["collapse/active_units"]) >= 2 and min(history["collapse/kl"]) > 5  # seen: 4 and > 10
    recorded = read_run(next(tmp_path.glob("wandb/offline-run-*/run-*.wandb")))
    rows = [row for row in recorded.history if "epoch/collapse/kl" in row]  # WandbMetricsLogger adds "epoch/"
    assert [row["epoch/collapse/active_units"] for row in rows] == history["collapse/active_units"]
    assert [row["epoch/collapse/kl"] for row in rows] == pytest.approx(history["collapse/kl"])
    assert rows[-1]["epoch/collapse/kl_per_dim"] == pytest.approx(history["collapse/kl_per_dim"][-1])
