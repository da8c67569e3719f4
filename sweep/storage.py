"""Where the study lives: the storage URL, opening (or joining) the study, and the grid queue.

Default storage: `sqlite:///<out>/sweeps.db` (absolute path). Any Optuna/SQLAlchemy URL works, e.g.
`postgresql://user:password@host/db` so workers on several machines join one study. URLs are printed only
through `mask()` (password -> ***). Problems with the storage are `UserError`s with the URL masked.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import optuna

from sweep.config import Range, SweepConfig
from sweep.search import GRID_POINT_ATTR, grid_params, make_pruner, make_sampler
from vae.config import UserError

SQLITE_TIMEOUT_S = 60  # wait for another process's write lock instead of failing with "database is locked"


def default_url(out: str | Path) -> str:
    return f"sqlite:///{(Path(out) / 'sweeps.db').resolve()}"


def resolve_url(config: SweepConfig) -> str:
    """The configured storage URL, or the default under `out`; relative SQLite paths made absolute."""
    url = config.storage or default_url(config.out)
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        url = f"sqlite:///{Path(url[len('sqlite:///'):]).resolve()}"
    return url


def mask(url: str) -> str:
    """The URL with its password (if any) replaced by ***; safe to print."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - not an SQLAlchemy URL: mask the user:password@ part by hand
        return re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", url)


def _password(url: str) -> str | None:
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).password
    except Exception:  # noqa: BLE001
        return None


def scrub(text: str, url: str) -> str:
    """`text` with the URL and its password masked (for error messages built from driver exceptions)."""
    text = text.replace(url, mask(url))
    secret = _password(url)
    return text.replace(str(secret), "***") if secret else text


def make_storage(url: str) -> optuna.storages.BaseStorage:
    """An RDB storage; SQLite files get a generous lock timeout and their folder created."""
    engine_kwargs: dict[str, Any] = {}
    if url.startswith("sqlite:///"):
        database = Path(url[len("sqlite:///"):])
        try:
            database.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise UserError(f"cannot create the storage folder {database.parent}: {error.strerror}") from None
        engine_kwargs = {"connect_args": {"timeout": SQLITE_TIMEOUT_S}}
    try:
        return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs)
    except ModuleNotFoundError as error:
        hint = " (pip install -e '.[postgres]')" if url.startswith("postgres") else ""
        raise UserError(f"storage {mask(url)}: database driver {error.name!r} is not installed{hint}") from None
    except Exception as error:  # noqa: BLE001 - connection / URL problems are the user's to fix
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserError(f"cannot open storage {mask(url)}: {scrub(first, url)}") from None


def study_attrs(config: SweepConfig) -> dict[str, Any]:
    """What a study records about itself (docs/CONTRACT.md); also used to refuse mixing two sweeps."""
    space = {key: (dim.model_dump() if isinstance(dim, Range) else dim) for key, dim in config.searched().items()}
    attrs: dict[str, Any] = {"search_space": space, "method": config.search.method,
                             "trial_defaults": config.trial_defaults()}
    if config.search.method == "grid":
        attrs["grid_size"] = len(config.grid_points())
    return attrs


def open_study(config: SweepConfig, url: str) -> optuna.Study:
    """Create the study, or join it if it exists with the same search; enqueue missing grid points."""
    storage = make_storage(url)
    attrs = study_attrs(config)
    try:
        study = optuna.create_study(storage=storage, study_name=config.study, direction="minimize",
                                    sampler=make_sampler(config), pruner=make_pruner(config), load_if_exists=True)
    except Exception as error:  # noqa: BLE001
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserError(f"cannot open study {config.study!r} in {mask(url)}: {scrub(first, url)}") from None
    existing = study.user_attrs
    if existing:
        different = [key for key in ("method", "search_space", "trial_defaults")
                     if key in existing and existing[key] != attrs[key]]
        if different:
            raise UserError(f"study {config.study!r} in {mask(url)} exists with a different "
                            f"{' and '.join(different)}; refusing to mix sweeps (choose another --study)")
    else:
        for key, value in attrs.items():
            study.set_user_attr(key, value)
    if config.search.method == "grid":
        enqueue_grid(study, config)
    return study


def enqueue_grid(study: optuna.Study, config: SweepConfig) -> int:
    """Enqueue every grid point not already in the study (in any state); returns how many were added."""
    before = len(study.get_trials(deepcopy=False))
    for index, params in enumerate(grid_params(config)):
        study.enqueue_trial(params, user_attrs={GRID_POINT_ATTR: index}, skip_if_exists=True)
    return len(study.get_trials(deepcopy=False)) - before


def waiting(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.WAITING,)))


FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.FAIL)


def finished(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return study.get_trials(deepcopy=False, states=FINISHED)
