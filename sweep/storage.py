"""Where the study lives: the storage URL, opening (or joining) the study, and the grid queue.

Default storage: `sqlite:///<out>/sweeps.db` (absolute path). Any Optuna/SQLAlchemy URL works, e.g.
`postgresql://user:password@host/db` so workers on several machines join one study. URLs are printed only
through `mask()` (password -> ***). Problems with the storage are `UserError`s with the URL masked.

Concurrency: one launcher takes every trial from the queue in one process (its worker processes only run the
trials it hands them), so SQLite is safe for any `--workers N` on one machine. Several launchers (machines)
rely on the database's row locks when taking a queued trial: use PostgreSQL for that. The study is created
exactly once (the unique study name decides which launcher creates it and enqueues the grid); the others
wait until it is `ready`. Running trials send heartbeats; a trial whose heartbeats stop (its worker was
killed) is failed by the next launcher that looks and re-queued with the same parameters (`retry_of`,
`sweep.heartbeat`).
"""
from __future__ import annotations

import time
from common.results import BOUNDARY_GROUP, MACHINE_FAULT, RETRY_OF, RETRY_REASON, WORKER_DEATHS
from pathlib import Path
from typing import Any

import optuna

from common.storage_url import mask, normalize, scrub, sqlite_path, sqlite_url
from sweep import optuna_adapter
from sweep.config import Range, SweepConfig
from sweep.retry import RetryPolicy, StorageUnavailable, StorageUnwritable, driver_message
from sweep.retry_storage import RetryingStorage
from common.interrupts import interrupts_deferred
from sweep.search import GRID_POINT, grid_params, make_pruner, make_sampler
from common.errors import UserError

SQLITE_TIMEOUT_S = 5  # SQLite's own wait for another process's write lock; longer locks go to the retry policy
READY_TIMEOUT_S = 60  # how long a joining launcher waits for the creator to enqueue the grid
GRACE_HEARTBEATS = 3  # a running trial is stale after this many missed heartbeats


def default_url(out: str | Path) -> str:
    return sqlite_url(Path(out) / "sweeps.db")


def resolve_url(config: SweepConfig) -> str:
    """The configured storage URL (or SQLite file), or the default under `out`; SQLite paths made absolute."""
    return normalize(config.storage or default_url(config.out))


def make_storage(url: str, heartbeat_seconds: int | None = None,
                 retry_seconds: float = 0) -> RetryingStorage:
    """An RDB storage whose calls wait out transient errors for `retry_seconds` (`sweep.retry`); SQLite files
    get their folder created. With `heartbeat_seconds`, running trials are expected to send heartbeats, and
    stale ones get re-queued. A storage that never answers is a `UserError` (nothing was started)."""
    engine_kwargs: dict[str, Any] = {"pool_pre_ping": True}
    database = sqlite_path(url)
    if database is not None:
        try:
            database.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise UserError(f"cannot create the storage folder {database.parent}: {error.strerror}") from None
        engine_kwargs = {"connect_args": {"timeout": SQLITE_TIMEOUT_S}}
    heartbeat: dict[str, Any] = {}
    if heartbeat_seconds:
        heartbeat = {"heartbeat_interval": heartbeat_seconds, "grace_period": GRACE_HEARTBEATS * heartbeat_seconds}
    policy = RetryPolicy(url, retry_seconds)
    for attempt in range(3):
        try:
            inner = policy.call(optuna.storages.RDBStorage, url, engine_kwargs=engine_kwargs, **heartbeat)
            return RetryingStorage(inner, policy)
        except ModuleNotFoundError as error:
            hint = " (pip install -e '.[postgres]')" if url.startswith("postgres") else ""
            raise UserError(f"storage {mask(url)}: database driver {error.name!r} is not installed{hint}") from None
        except StorageUnwritable:
            raise
        except StorageUnavailable as error:
            raise UserError(f"cannot open storage {mask(url)}: {error.reason} "
                            f"(unreachable for {retry_seconds:g} s, storage_retry_seconds)") from None
        except Exception as error:  # noqa: BLE001 - connection / URL problems are the user's to fix
            if attempt < 2 and _schema_race(error):
                time.sleep(1.0 + attempt)
                continue
            raise UserError(f"cannot open storage {mask(url)}: {scrub(driver_message(error), url)}") from None
    raise AssertionError("unreachable")


def _schema_race(error: BaseException | None) -> bool:
    """Two launchers creating Optuna's tables in a new database at once: one loses; a retry then finds them."""
    while error is not None:
        if type(error).__name__ in ("IntegrityError", "UniqueViolation", "DuplicateTable", "DuplicateObject") \
                or "already exists" in str(error):
            return True
        error = error.__cause__ or error.__context__
    return False


def study_attrs(config: SweepConfig) -> dict[str, Any]:
    """What a study records about itself (docs/storage.md); also used to refuse mixing two sweeps."""
    space = {key: (dim.model_dump() if isinstance(dim, Range) else dim) for key, dim in config.searched().items()}
    attrs: dict[str, Any] = {"search_space": space, "method": config.search.method,
                             "trial_defaults": config.trial_defaults(), "objective": config.search.objective}
    if config.search.method == "grid":
        attrs["grid_size"] = len(config.grid_points())
    if config.search.method == "boundary":
        attrs["boundary"] = {"ratio": config.search.boundary_ratio, "trials": config.search.boundary_trials}
    return attrs


def open_study(config: SweepConfig, url: str) -> tuple[optuna.Study, RetryingStorage]:
    """Create the study (and enqueue its grid), or join it once it is ready and has the same search."""
    storage = make_storage(url, config.heartbeat_seconds, config.storage_retry_seconds)
    attrs = study_attrs(config)
    kwargs = dict(storage=storage, study_name=config.study, sampler=make_sampler(config), pruner=make_pruner(config))
    try:
        try:
            study = optuna.create_study(direction="minimize", **kwargs)
            created = True
        except optuna.exceptions.DuplicatedStudyError:
            study, created = optuna.load_study(**kwargs), False
    except StorageUnavailable:
        raise
    except Exception as error:  # noqa: BLE001
        raise UserError(f"cannot open study {config.study!r} in {mask(url)}: "
                        f"{scrub(driver_message(error), url)}") from None
    existing = {} if created else wait_until_ready(study)
    if existing:
        different = [key for key in ("method", "search_space", "trial_defaults", "objective")
                     if key in existing and existing[key] != attrs[key]]
        if different:
            folder = Path(config.out) / config.study
            raise UserError(f"study {config.study!r} in {mask(url)} exists with a different "
                            f"{' and '.join(different)}; refusing to mix sweeps: run this one as a new study "
                            f"(--study NEW), or delete the old one (optuna delete-study --storage {mask(url)} "
                            f"--study-name {config.study}; its artifacts are in {folder})")
    if not existing.get("ready"):  # we created it, or its creator died before finishing this
        with interrupts_deferred():  # Ctrl-C here would leave it unready: others would wait READY_TIMEOUT_S
            for key, value in attrs.items():
                study.set_user_attr(key, value)
            study.set_metric_names([f"test {config.search.objective}"])  # the dashboard's label of the value
            if config.search.method in ("grid", "boundary"):  # boundary: its include points
                enqueue_grid(study, config)
            study.set_user_attr("ready", True)
    return study, storage


def wait_until_ready(study: optuna.Study) -> dict[str, Any]:
    """The study's attrs once its creator marked it `ready` (or after READY_TIMEOUT_S: the creator died)."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    attrs = study.user_attrs
    while not attrs.get("ready") and time.monotonic() < deadline:
        time.sleep(0.5)
        attrs = study.user_attrs
    return attrs


def enqueue_grid(study: optuna.Study, config: SweepConfig) -> int:
    """Enqueue every grid point not already in the study (in any state); returns how many were added."""
    before = len(study.get_trials(deepcopy=False))
    for index, params in enumerate(grid_params(config)):
        study.enqueue_trial(params, user_attrs={GRID_POINT: index}, skip_if_exists=True)
    return len(study.get_trials(deepcopy=False)) - before


def waiting(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.WAITING,)))


def running(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)))


FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.FAIL)


def finished(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return study.get_trials(deepcopy=False, states=FINISHED)


def retried(study: optuna.Study) -> set[int]:
    """Numbers of the interrupted trials that were re-queued (they do not count towards the sweep)."""
    return {t.user_attrs[RETRY_OF] for t in study.get_trials(deepcopy=False) if RETRY_OF in t.user_attrs}


def counted(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """Finished trials that count towards the sweep: all but the interrupted ones that were re-queued."""
    skip = retried(study)
    return [t for t in finished(study) if t.number not in skip]


def verdicts(study: optuna.Study) -> dict[str, int]:
    """The study at a glance: counted trials by state (`COMPLETE`, `PRUNED`, `FAIL`: verdicts of their own), and
    `stopped by the machine`: trials a fault of the machine stopped (each re-queued, so not a verdict)."""
    counts = {state.name: 0 for state in FINISHED}
    for trial in counted(study):
        counts[trial.state.name] += 1
    counts["stopped by the machine"] = sum(1 for trial in finished(study) if trial.user_attrs.get(MACHINE_FAULT))
    return counts


def requeue(study: optuna.Study, trial: optuna.trial.FrozenTrial, reason: str) -> None:
    """Queue a fresh trial with the interrupted `trial`'s parameters (its grid point or boundary group, and how
    often the process running that point died: `sweep.queue.process_died`)."""
    params = optuna_adapter.enqueued_params(trial)
    attrs = {key: trial.user_attrs[key] for key in (GRID_POINT, BOUNDARY_GROUP, WORKER_DEATHS)
             if key in trial.user_attrs}
    study.enqueue_trial(params, user_attrs={**attrs, RETRY_OF: trial.number, RETRY_REASON: reason})
