"""Saved models: what every finished trial leaves in its artifact folder, and the one loader.

    config.json    the TrialConfig (also usable as `python -m sweep.trial --config-json config.json`)
    encoder.keras  functional Keras model: image -> [z_mean, z_variance head] (AE: [z_mean] only)
    decoder.keras  functional Keras model: z -> per-pixel logits (Bernoulli: sigmoid(logits) is the mean image)
    model.json     image shape, the Gaussian decoder's log σ, and the sampling state at the end of training

The two `.keras` files load without this project (`keras.saving.load_model("decoder.keras")`); `load(folder)`
rebuilds the full VAE/AE (`vae.fit.build_model`) with those weights, so that evaluating it reproduces the
trial's recorded test metrics exactly (the random state used for evaluation is restored too).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from common.results import METRICS_FILE
from vae.config import TrialConfig, format_validation_error
from common.errors import UserError

FILES = ("config.json", "model.json", "encoder.keras", "decoder.keras")
FORMAT = 1


def save(model: Any, out_dir: Path) -> None:
    """Write FILES for a trained `vae.model.VAE` (call before anything else draws from its random state)."""
    from vae.tf_runtime import keras

    out_dir.mkdir(parents=True, exist_ok=True)
    inputs = keras.Input(model.image_shape)
    features = model.encoder_body(inputs)
    heads = [model.mean_head(features)] + ([model.variance_head(features)] if model.is_vae else [])
    keras.Model(inputs, heads, name="encoder").save(out_dir / "encoder.keras")
    model.decoder.save(out_dir / "decoder.keras")
    (out_dir / "config.json").write_text(model.config.model_dump_json(indent=2) + "\n")
    meta = {"format": FORMAT, "image_shape": list(model.image_shape), "log_sigma": float(model.log_sigma.numpy()),
            "seed_generator_state": np.asarray(model.seed_generator.state.numpy()).tolist(),
            "keras_version": keras.__version__}
    (out_dir / "model.json").write_text(json.dumps(meta, indent=2) + "\n")


def read_saved(folder: Path) -> tuple[TrialConfig, dict[str, Any]]:
    """The config and metadata of a saved trial, checked without TensorFlow; a UserError if it is not one."""
    if not folder.is_dir():
        raise UserError(f"{folder}: not a folder")
    missing = [name for name in FILES if not (folder / name).is_file()]
    if missing:
        hint = " (trained with save_model=false?)" if (folder / METRICS_FILE).is_file() else ""
        raise UserError(f"{folder}: not a saved trial folder: missing {', '.join(missing)}{hint}")
    try:
        config_values = json.loads((folder / "config.json").read_text())
        meta = json.loads((folder / "model.json").read_text())
        config = TrialConfig(**config_values)
    except json.JSONDecodeError as error:
        raise UserError(f"{folder}: malformed JSON in config.json/model.json ({error.msg})") from None
    except ValidationError as error:
        raise UserError(format_validation_error(error, f"{folder / 'config.json'}")) from None
    except TypeError:
        raise UserError(f"{folder / 'config.json'}: expected a JSON object of TrialConfig keys") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or len(meta.get("image_shape") or []) not in (1, 3):
        raise UserError(f"{folder / 'model.json'}: not a model description of format {FORMAT}")
    return config, meta


def load(folder: str | Path) -> tuple[Any, TrialConfig]:
    """(the trained `vae.model.VAE`, its TrialConfig) from a folder written by `save`."""
    folder = Path(folder)
    config, meta = read_saved(folder)
    from vae.fit import build_model
    from vae.tf_runtime import keras

    image_shape = tuple(int(size) for size in meta["image_shape"])
    model = build_model(config, image_shape)
    encoder = keras.saving.load_model(folder / "encoder.keras", compile=False)
    decoder = keras.saving.load_model(folder / "decoder.keras", compile=False)
    model.encoder_body.set_weights(encoder.get_layer("encoder_body").get_weights())
    model.mean_head.set_weights(encoder.get_layer("z_mean").get_weights())
    if model.is_vae:
        model.variance_head.set_weights(encoder.get_layer("z_variance").get_weights())
    model.decoder.set_weights(decoder.get_weights())
    model.log_sigma.assign(meta["log_sigma"])
    model.seed_generator.state.assign(np.asarray(meta["seed_generator_state"], model.seed_generator.state.dtype))
    return model, config


def decode_means(model: Any, codes: np.ndarray, batch: int = 500) -> np.ndarray:
    """The decoder's mean image for each latent code (numpy in, numpy out)."""
    parts = [model.output_mean(model.decoder(codes[start:start + batch])).numpy()
             for start in range(0, len(codes), batch)]
    return np.concatenate(parts) if parts else np.zeros((0, *model.image_shape), np.float32)


def encode_means(model: Any, images: np.ndarray, batch: int = 500) -> tuple[np.ndarray, np.ndarray]:
    """(μ, log σ²) of q(z | x) per image (AE: its code and zeros)."""
    means, logvars = [], []
    for start in range(0, len(images), batch):
        mean, logvar = model.encode(images[start:start + batch])
        means.append(mean.numpy())
        logvars.append(logvar.numpy())
    return np.concatenate(means), np.concatenate(logvars)
