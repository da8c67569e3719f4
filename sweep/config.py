"""The sweep configuration (`configs/*.yaml`) as one validated object; no TensorFlow import here.

`load_config(path, overrides)` reads the YAML, applies `--set key=value` overrides (dotted paths, YAML
scalars), validates everything (`trial:` as a `vae.config.TrialConfig`, every search-space value too) and
returns a `SweepConfig`. Any problem raises `vae.config.UserError` with one line:
`<file>: <key path>: <problem, allowed values>`.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from vae.config import TrialConfig, deep_merge, format_validation_error
from common.errors import UserError


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WandbConfig(Strict):
    project: str = Field("vae-sweeps", min_length=1)
    entity: str | None = None
    mode: Literal["auto", "online", "offline", "disabled"] = "auto"


class Range(Strict):
    """A numeric interval for tpe/random: `{low, high, log}` (optionally `step`)."""

    low: float
    high: float
    log: bool = False
    step: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> "Range":
        if not self.low < self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        if self.log and self.low <= 0:
            raise ValueError(f"log ranges need low > 0 (got {self.low})")
        if self.log and self.step is not None:
            raise ValueError("step and log cannot be combined")
        return self


SAMPLE_OBJECTIVES = ("sample_kid", "sample_fd_cnn")  # defined for the AE too (it decodes N(0, I))


class SearchConfig(Strict):
    method: Literal["grid", "tpe", "random", "boundary"] = "grid"
    n_trials: int | None = Field(None, ge=1)
    pruner: Literal["none", "median", "hyperband"] = "none"
    space: dict[str, Any] = Field(default_factory=dict)
    include: list[dict[str, Any]] = Field(default_factory=list)  # grid/boundary: extra points, e.g. {model: ae}
    # boundary: bisect log β per group until the bracket's high/low is at most this, with at most this many runs
    boundary_ratio: float = Field(1.25, gt=1)
    boundary_trials: int = Field(8, ge=1)
    seed: int | None = None  # sampler seed (tpe/random); null: a fresh random seed
    startup_trials: int = Field(5, ge=0)  # finished trials before TPE models the space / the median pruner prunes
    # the trial value (sweep.objective); the sample ones are vae.quality's, in the sample classifier's features
    objective: Literal["nelbo", "iwae_nll", "sample_kid", "sample_fd_cnn"] = "nelbo"
    # A trial whose own process dies (out of memory, a native crash) is re-run this many times, then failed.
    max_retries: int = Field(2, ge=0)


class SweepConfig(Strict):
    # The study name is also a folder name under `out` (artifacts) and the W&B group.
    study: str = Field("default", min_length=1, max_length=200)
    storage: str | None = None
    out: str = Field("runs", min_length=1)
    # Running trials record a heartbeat this often; after 3 missed ones another launcher re-queues the trial.
    heartbeat_seconds: int = Field(10, ge=1)
    # A database outage is waited out this long (backoff with jitter); past it the launcher exits with code 75.
    storage_retry_seconds: float = Field(300, ge=0)
    wandb: WandbConfig = Field(default_factory=WandbConfig)
    search: SearchConfig = Field(default_factory=SearchConfig)
    trial: TrialConfig = Field(default_factory=TrialConfig)

    @field_validator("study")
    @classmethod
    def _folder_safe(cls, name: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.@+=-]*", name):
            raise ValueError("use letters, digits and _ . @ + = - (it names a folder under `out`)")
        return name

    def dimensions(self) -> dict[str, list[Any] | Range]:
        """The search space, checked: key -> list of validated values (categorical / grid) or a Range."""
        return check_space(self)

    def trial_defaults(self) -> dict[str, Any]:
        return self.trial.flat()

    def grid_points(self) -> list[dict[str, Any]]:
        """The points queued when the study is created. Grid: the product of `space` (last key varies fastest),
        then each `include` point; boundary: the `include` points only (the search adds the rest). Every point
        names the same keys; a key a point leaves out takes the trial default."""
        import itertools

        dims = self.dimensions()
        extras = check_include(self)
        points = [] if self.search.method == "boundary" else \
            [dict(zip(dims, values)) for values in itertools.product(*dims.values())]
        unique: dict[str, dict[str, Any]] = {}
        for point in [*points, *extras]:
            full = self._full(point)
            unique.setdefault(json.dumps(full, sort_keys=True), full)
        return list(unique.values())

    def boundary_groups(self) -> list[dict[str, Any]]:
        """Boundary search: one group per combination of the `space` lists (every key but β), each with the
        values its runs share (the keys every point names, `beta` excepted)."""
        import itertools

        lists = {key: values for key, values in self.dimensions().items() if key != "beta"}
        return [{key: value for key, value in self._full(dict(zip(lists, values))).items() if key != "beta"}
                for values in itertools.product(*lists.values())]

    def _full(self, point: dict[str, Any]) -> dict[str, Any]:
        """`point` with every key the study's points name (space and include keys), trial defaults filled in."""
        defaults = self.trial_defaults()
        keys = dict.fromkeys([*self.search.space, *(key for extra in self.search.include for key in extra)])
        return {key: point.get(key, defaults[key]) for key in keys}

    def searched(self) -> dict[str, list[Any] | Range]:
        """Every searched key with its values (grid, boundary: the distinct values over all points and groups)
        or its Range."""
        if self.search.method not in ("grid", "boundary"):
            return self.dimensions()
        points = self.grid_points()
        if self.search.method == "boundary":
            points += self.boundary_groups()
        values: dict[str, list[Any] | Range] = {}
        for point in points:
            for key, value in point.items():
                if value not in values.setdefault(key, []):
                    values[key].append(value)
        if self.search.method == "boundary":
            values["beta"] = self.dimensions()["beta"]
        return values


def field_kind(key: str) -> str:
    """`int`, `float`, `list` or `other` for a TrialConfig field (what a range or grid value may be)."""
    annotation = TrialConfig.model_fields[key].annotation
    if get_origin(annotation) is Union:
        annotation = next(arg for arg in get_args(annotation) if arg is not type(None))
    if annotation in (int, float):
        return annotation.__name__
    return "list" if get_origin(annotation) is list else "other"


def check_space(config: SweepConfig, source: str = "config") -> dict[str, list[Any] | Range]:
    search, defaults = config.search, config.trial.flat()
    where = f"{source}: search.space"
    if not search.space:
        what = "empty grid: give at least one key with a list of values" if search.method == "grid" \
            else "empty search space: give at least one key"
        raise UserError(f"{where}: {what}")
    if search.method == "boundary":
        check_boundary(search, source)
    elif search.method != "grid" and search.n_trials is None:
        raise UserError(f"{source}: search.n_trials: required for method {search.method!r} (an integer >= 1)")
    dims: dict[str, list[Any] | Range] = {}
    for key, spec in search.space.items():
        if key not in TrialConfig.model_fields:
            raise UserError(f"{where}.{key}: unknown key (allowed: {', '.join(TrialConfig.model_fields)})")
        if isinstance(spec, dict):
            dims[key] = _range(key, spec, search.method, where)
        elif isinstance(spec, list):
            if not spec:
                raise UserError(f"{where}.{key}: empty list: give at least one value")
            dims[key] = [_checked_value(key, value, defaults, f"{where}.{key}[{index}]")
                         for index, value in enumerate(spec)]
            if len({json.dumps(value) for value in dims[key]}) != len(dims[key]):
                raise UserError(f"{where}.{key}: repeated values {spec!r}")
        else:
            need = {"grid": "a list of values", "boundary": "a list of values (beta: {low, high, log: true})"}.get(
                search.method, "a list of values or {low, high, log}")
            raise UserError(f"{where}.{key}: {search.method} needs {need} (got {spec!r})")
    return dims


def check_boundary(search: SearchConfig, source: str) -> None:
    """What the boundary search needs: β as a log range, no trial budget, no pruner, no `model` groups."""
    where = f"{source}: search"
    beta = search.space.get("beta")
    if not isinstance(beta, dict) or beta.get("log") is not True:
        raise UserError(f"{where}.space.beta: boundary needs a log range of raw β, e.g. "
                        f"{{low: 0.01, high: 100, log: true}} (got {beta!r})")
    if search.n_trials is not None:
        raise UserError(f"{where}.n_trials: not used by method boundary; its budget is search.boundary_trials "
                        f"runs per group")
    if search.pruner != "none":
        raise UserError(f"{where}.pruner: method boundary needs every run to finish (its verdict is the test "
                        f"active units); use pruner: none")
    if "model" in search.space:
        raise UserError(f"{where}.space.model: an AE has no β to search; add AE baselines with search.include, "
                        f"e.g. [{{model: ae}}]")


def check_include(config: SweepConfig, source: str = "config") -> list[dict[str, Any]]:
    """The validated `search.include` points (grid only)."""
    search, defaults = config.search, config.trial.flat()
    if search.include and search.method not in ("grid", "boundary"):
        raise UserError(f"{source}: search.include: only for methods grid and boundary (got method "
                        f"{search.method!r})")
    points = []
    for index, point in enumerate(search.include):
        where = f"{source}: search.include[{index}]"
        if not point:
            raise UserError(f"{where}: empty point: give keys and values, e.g. {{model: ae}}")
        for key in point:
            if key not in TrialConfig.model_fields:
                raise UserError(f"{where}.{key}: unknown key (allowed: {', '.join(TrialConfig.model_fields)})")
        points.append({key: _checked_value(key, value, defaults, f"{where}.{key}") for key, value in point.items()})
    return points


def _range(key: str, spec: dict[str, Any], method: str, where: str) -> Range:
    if method == "grid" or (method == "boundary" and key != "beta"):
        raise UserError(f"{where}.{key}: {method} needs a list of values, not a range (got {spec!r})")
    if field_kind(key) not in ("int", "float"):
        raise UserError(f"{where}.{key}: a {{low, high}} range needs a numeric key; give a list of values")
    try:
        spec_range = Range(**spec)
    except ValidationError as error:
        problems = []
        for item in error.errors():
            name = ".".join(map(str, item["loc"]))
            if item["type"] == "extra_forbidden":
                problems.append(f"unknown key {name!r} (allowed: {', '.join(Range.model_fields)})")
            else:
                problems.append((f"{name}: " if name else "") + item["msg"].removeprefix("Value error, "))
        raise UserError(f"{where}.{key}: {'; '.join(problems)}") from None
    for bound in ("low", "high"):
        _checked_value(key, getattr(spec_range, bound), {}, f"{where}.{key}.{bound}")
    return spec_range


def _checked_value(key: str, value: Any, defaults: dict[str, Any], where: str) -> Any:
    """The value as TrialConfig reads it (`1` -> `1.0` for a float key); a bad value is a UserError."""
    try:
        return getattr(TrialConfig(**{**defaults, key: value}), key)
    except ValidationError as error:
        problems = [item for item in error.errors() if item["loc"][:1] == (key,)] or error.errors()
        item = problems[0]
        if item["type"] == "literal_error":
            detail = f"got {value!r}, allowed: {item.get('ctx', {}).get('expected', '')}"
        else:
            detail = f"{item['msg'].removeprefix('Value error, ')} (got {value!r})"
        raise UserError(f"{where}: {detail}") from None


def read_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UserError(f"{path}: is a directory, not a YAML file") from None
    except OSError as error:
        raise UserError(f"{path}: cannot read ({error.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise UserError(f"{path}: malformed YAML{at}: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a mapping of keys at the top level (got {type(data).__name__})")
    return data


def load_config(path: str | Path | None, overrides: dict[str, Any] | None = None) -> SweepConfig:
    """Read, override, validate. `path=None` validates the overrides alone."""
    source = str(path) if path is not None else "config"
    data = read_yaml(path) if path is not None else {}
    data = deep_merge(data, overrides or {})
    config = validate(data, source)
    check_space(config, source)
    check_include(config, source)
    if config.search.objective in SAMPLE_OBJECTIVES and not config.trial.sample_metrics:
        raise UserError(f"{source}: search.objective: {config.search.objective} needs trial.sample_metrics: true")
    return config


def validate(data: dict[str, Any], source: str) -> SweepConfig:
    try:
        return SweepConfig.model_validate(data)
    except ValidationError as error:
        message = format_validation_error(error, source)
        unknown = [item["loc"] for item in error.errors() if item["type"] == "extra_forbidden"]
        if unknown:
            parent = unknown[0][:-1]
            where = ".".join(map(str, parent)) or "the top level"
            message += f" (allowed at {where}: {', '.join(_model_at(parent).model_fields)})"
            key = str(unknown[0][-1])
            if not parent and key in TrialConfig.model_fields:  # `--set beta=4`: a trial key at the top level
                message += f"; did you mean trial.{key} (every trial) or search.space.{key} (swept)?"
        raise UserError(message) from None


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel]:
    model: type[BaseModel] = SweepConfig
    for part in loc:
        annotation = model.model_fields[str(part)].annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
    return model
