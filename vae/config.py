"""The one validated configuration of a single training run (no TensorFlow import here).

`TrialConfig` flows top-down: `python -m vae.train --set k=v`, `sweep.trial`, and every Optuna trial build
one and hand it to `vae.train.run`. Errors meant for users are `UserError`s: the CLIs print them as one line
and exit with code 2.
"""
from __future__ import annotations

import re
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from common.errors import UserError

KERAS_DATASETS = ("mnist", "fashion_mnist", "cifar10")
GAUSSIAN_DATASETS = ("gaussian16",)  # built-in real-valued vectors with a known spectrum (vae.gaussian_data)
DATASETS = ("mnist5k", "digits", *GAUSSIAN_DATASETS, *KERAS_DATASETS)


class TrialConfig(BaseModel):
    """Everything one VAE/AE training run depends on. Unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # data
    dataset: str = "mnist5k"
    binarize: Literal["none", "static", "dynamic"] = "none"
    val_fraction: float = Field(0.1, gt=0, lt=0.5)
    test_fraction: float = Field(0.1, gt=0, lt=0.5)
    # model
    model: Literal["vae", "ae"] = "vae"
    arch: Literal["mlp", "conv", "linear"] = "mlp"
    hidden: list[int] = Field(default_factory=lambda: [512, 256])
    filters: list[int] = Field(default_factory=lambda: [32, 64])
    latent_dim: int = Field(16, ge=1)
    likelihood: Literal["bernoulli", "continuous_bernoulli", "gaussian", "gaussian_learned"] = "bernoulli"
    gaussian_sigma: float = Field(1.0, gt=0)
    gaussian_mean: Literal["sigmoid", "identity"] = "sigmoid"  # sigmoid(decoder output), or the output itself
    variance_param: Literal["logvar", "softplus_std"] = "logvar"
    # objective
    reduction: Literal["sum", "mean"] = "sum"
    beta: float = Field(1.0, gt=0)
    kl_warmup_epochs: int = Field(0, ge=0)
    free_bits: float = Field(0.0, ge=0)
    # optimisation
    epochs: int = Field(20, ge=1)
    batch_size: int = Field(128, ge=1)
    learning_rate: float = Field(1e-3, gt=0)
    seed: int = 0
    # evaluation and artifacts
    iwae_samples: int = Field(100, ge=1)
    eval_examples: int | Literal["all"] = 1000  # test images of iwae_nll and mutual_info (a seeded subsample)
    sample_metrics: bool = True  # sample_kid, sample_fd_cnn, sample_coverage (vae.quality)
    save_model: bool = True  # encoder.keras, decoder.keras, config.json, model.json in the artifact folder

    @field_validator("dataset")
    @classmethod
    def _known_dataset(cls, value: str) -> str:
        if value in DATASETS or (value.startswith("npz:") and len(value) > 4):
            return value
        raise ValueError(f"unknown dataset {value!r} (allowed: {', '.join(DATASETS)}, npz:PATH)")

    @field_validator("hidden", "filters")
    @classmethod
    def _positive_sizes(cls, value: list[int]) -> list[int]:
        if not value or any(size < 1 for size in value):
            raise ValueError("must be a non-empty list of positive integers")
        return value

    @field_validator("eval_examples", mode="before")
    @classmethod
    def _count_or_all(cls, value: Any) -> Any:
        if value == "all" or (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
            return value
        raise ValueError("must be a number of test images >= 1, or all")

    def flat(self) -> dict[str, Any]:
        return self.model_dump()

    @property
    def eval_limit(self) -> int | None:
        """`eval_examples` as a number of images, None for the whole test split."""
        return None if self.eval_examples == "all" else self.eval_examples


# Keys whose values live in variables or outside the compiled functions: changing them needs no new trace (vae.fit).
VALUE_ONLY_KEYS = ("beta", "reduction", "learning_rate", "seed", "epochs", "kl_warmup_epochs", "gaussian_sigma",
                   "iwae_samples", "eval_examples", "dataset", "val_fraction", "test_fraction", "sample_metrics",
                   "save_model")


def traced_structure(config: TrialConfig) -> tuple:
    """The config's part of what vae.fit's compiled functions depend on (the data's shape is the other part)."""
    flat = {key: value for key, value in config.flat().items() if key not in VALUE_ONLY_KEYS}
    flat["binarize"] = flat["binarize"] == "dynamic"  # static binarization only changes the data
    return tuple(sorted((key, tuple(value) if isinstance(value, list) else value) for key, value in flat.items()))


def format_validation_error(error: ValidationError, source: str = "config") -> str:
    """One line naming the key path, the problem and, where there is a fixed set, the allowed values."""
    problems = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "<root>"
        if item["type"] == "extra_forbidden":
            problems.append(f"unknown key {key!r}")
        elif item["type"] == "literal_error":
            expected = item.get("ctx", {}).get("expected", "")
            problems.append(f"{key}: got {item['input']!r}, allowed: {expected}")
        else:
            message = item["msg"].removeprefix("Value error, ")
            problems.append(f"{key}: {message} (got {item['input']!r})")
    return f"{source}: " + "; ".join(problems)


def allowed_keys(model: type[BaseModel]) -> str:
    return ", ".join(model.model_fields)


def parse_overrides(pairs: list[str] | None) -> dict[str, Any]:
    """`["a.b=1e-4", "c=[1, 2]"]` -> `{"a": {"b": 0.0001}, "c": [1, 2]}`; values are YAML scalars/flows."""
    result: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--set {pair!r}: expected key=value")
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError:
            raise UserError(f"--set {pair!r}: value is not valid YAML") from None
        if isinstance(value, str):
            value = _yaml11_float(value)
        node = result
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise UserError(f"--set {pair!r}: {part!r} is not a mapping")
        node[parts[-1]] = value
    return result


_FLOAT_LIKE = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


def _yaml11_float(text: str) -> Any:
    """PyYAML follows YAML 1.1 and reads `1e-4` as a string; users mean a float."""
    return float(text) if _FLOAT_LIKE.match(text.strip()) else text


def deep_merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def build_trial_config(values: dict[str, Any], source: str = "config") -> TrialConfig:
    try:
        return TrialConfig(**values)
    except ValidationError as error:
        message = format_validation_error(error, source)
        if any(item["type"] == "extra_forbidden" for item in error.errors()):
            message += f" (allowed keys: {allowed_keys(TrialConfig)})"
        raise UserError(message) from None
