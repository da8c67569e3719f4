"""Trials -> pandas: from an Optuna storage or from offline W&B run files.

Both return the layout described in `analysis.read.frame` (one row per trial, `status` and `evidence` from
`analysis.read.diagnose`). Problems the user can fix (missing storage or study, no finished trials, no runs in a
W&B directory) raise `common.errors.UserError` with a one-line message.
"""
from __future__ import annotations

import re
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.read.frame import TrialRecord, build_frame
from common.collapse import Thresholds
from common.errors import UserError
from common.results import CONFIG, FAIL_REASON, KL_PER_DIM_KEY, MACHINE_FAULT, RETRY_OF, WANDB_RUN_ID, stored_key
from common.storage_url import mask, normalize, sqlite_path
from common.wandb_adapter import WandbRun, read_run

def storage_url(storage: str) -> str:
    """Accept an SQLAlchemy URL or a plain path to an SQLite file; refuse a SQLite file that does not exist
    (Optuna would silently create an empty one)."""
    storage = normalize(storage)
    if storage.startswith("sqlite:"):
        database = sqlite_path(storage)
        if database is None or not database.is_file():
            raise UserError(f"no Optuna storage at {storage} (file not found)")
    return storage


def is_journal_file(storage: str) -> bool:
    """A plain path to an existing file that is not SQLite: an Optuna journal log (`JournalFileBackend`)."""
    path = Path(storage)
    if "://" in storage or not path.is_file():
        return False
    with path.open("rb") as file:
        return file.read(16) != b"SQLite format 3\x00"


def _cannot_open(storage: str, error: Exception) -> UserError:
    return UserError(f"cannot open Optuna storage {mask(storage)}: {str(error).splitlines()[0]}")


def open_storage(storage: str) -> Any:
    """The Optuna storage behind `storage` (a database URL, or a journal log file: `JournalFileBackend`), opened
    once for all reads of a load: opening a journal replays it, which takes seconds for thousands of trials."""
    import optuna

    try:
        if is_journal_file(storage):
            from optuna.storages import JournalStorage
            from optuna.storages.journal import JournalFileBackend

            return JournalStorage(JournalFileBackend(str(Path(storage).resolve())))
        return optuna.storages.RDBStorage(storage_url(storage))
    except UserError:
        raise
    except Exception as error:  # noqa: BLE001 - connection/schema problems are the user's to fix
        raise _cannot_open(storage, error) from None


def study_names(storage: str, opened: Any) -> list[str]:
    """The studies in `opened`, the storage `open_storage(storage)` returned."""
    import optuna

    try:
        return sorted(optuna.study.get_all_study_names(storage=opened))
    except Exception as error:  # noqa: BLE001 - connection/schema problems are the user's to fix
        raise _cannot_open(storage, error) from None


def _require_finished(records: list[TrialRecord], what: str) -> None:
    if not records:
        raise UserError(f"{what} has no trials")
    if not any(record.state == "COMPLETE" for record in records):
        counts = Counter(record.state for record in records)
        summary = ", ".join(f"{count} {state}" for state, count in sorted(counts.items()))
        reasons = [record.values.get(FAIL_REASON) for record in records if record.values.get(FAIL_REASON)]
        hint = f"; first fail reason: {str(reasons[0]).splitlines()[0]}" if reasons else ""
        raise UserError(f"{what} has no finished trials ({summary}){hint}")


def trials(storage: str, study: str | None = None, thresholds: Thresholds = Thresholds()) -> pd.DataFrame:
    """One row per trial of an Optuna study (`study=None`: the storage's only study)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    opened = open_storage(storage)
    names = study_names(storage, opened)
    if not names:
        kind = " (is it an SQLite database or an Optuna journal file?)" if is_journal_file(storage) else ""
        raise UserError(f"no Optuna study in {mask(storage)}{kind}")
    if study is None:
        if len(names) != 1:
            raise UserError(f"{mask(storage)} holds {len(names)} studies; choose one with --study "
                            f"({', '.join(names) or 'none'})")
        study = names[0]
    if study not in names:
        raise UserError(f"no study {study!r} in {mask(storage)} (studies: {', '.join(names) or 'none'})")
    loaded = optuna.load_study(study_name=study, storage=opened)
    records = []
    all_trials = loaded.get_trials(deepcopy=False)
    # An interrupted trial (killed worker, Ctrl-C) was re-queued as a new trial with `retry_of`: keep the re-run.
    superseded = {t.user_attrs[RETRY_OF] for t in all_trials if RETRY_OF in t.user_attrs}
    for trial in all_trials:
        if trial.number in superseded:
            continue
        attrs = dict(trial.user_attrs)
        config = attrs.pop(CONFIG, None) or {}
        records.append(TrialRecord(number=trial.number, state=trial.state.name, config=dict(config),
                                   params=dict(trial.params), values=attrs))
    _require_finished(records, f"study {study!r}")
    stopped = sum(1 for t in all_trials if t.number in superseded and t.user_attrs.get(MACHINE_FAULT))
    study_attrs = {**loaded.user_attrs, "reruns": len(superseded) - stopped, "stopped_by_machine": stopped}
    swept = list((study_attrs.get("search_space") or {}).keys())
    return _require_metrics(build_frame(records, source="optuna", study=study, swept=swept,
                                        study_attrs=study_attrs, thresholds=thresholds), f"study {study!r}")


def _require_metrics(frame: pd.DataFrame, what: str) -> pd.DataFrame:
    """Refuse a study none of whose finished trials recorded a sweep metric (e.g. an unrelated Optuna study)."""
    done = frame[frame["state"] == "COMPLETE"]
    metrics = [stored_key(name) for name in ("recon_nll", "kl", "active_units", "recon_diversity")]
    if done[metrics].isna().all().all():
        raise UserError(f"{what}: none of its {len(done)} finished trials recorded the sweep's test metrics "
                        f"({', '.join(metrics)}); is it a vae-sweeps study?")
    return frame


def _number(name: str, config: dict[str, Any], fallback: int) -> int:
    if isinstance(config.get("trial_number"), (int, float)):
        return int(config["trial_number"])
    match = re.fullmatch(r"trial-(\d+)", name or "")
    return int(match.group(1)) if match else fallback


def _per_dim(run: WandbRun) -> Any:
    """`test/kl_per_dim` if the summary holds the list, else the `kl` column of the `kl_per_dim` wandb.Table."""
    if isinstance(run.summary.get(KL_PER_DIM_KEY), list):
        return run.summary[KL_PER_DIM_KEY]
    table = run.table("kl_per_dim")
    if not table or "dim" not in table or "kl" not in table:
        return None
    return [kl for _, kl in sorted(zip(table["dim"], table["kl"]))]


def _wandb_record(run: WandbRun, state: str, fallback: int) -> TrialRecord:
    values = {key: value for key, value in run.summary.items() if not key.startswith("_")}
    values[KL_PER_DIM_KEY] = _per_dim(run)
    values.setdefault(WANDB_RUN_ID, run.run_id)
    if values.get(FAIL_REASON) and state == "COMPLETE":
        state = "FAIL"
    return TrialRecord(number=_number(run.name, run.config, fallback), state=state, config=dict(run.config),
                       values=values)


def wandb_run_files(path: str | Path) -> list[Path]:
    """Every `run-*.wandb` under `path` (a WANDB_DIR, its `wandb/` folder, or one run folder)."""
    root = Path(path)
    if root.is_file():
        return [root]
    found = {file.resolve() for file in root.rglob("*.wandb") if "latest-run" not in file.parts}
    return sorted(found)


def read_wandb_runs(path: str | Path, skipped: list[str] | None = None) -> list[WandbRun]:
    """Every readable run under `path`; files that are not W&B run files (or are damaged) are appended to
    `skipped` as "name: reason" (a damaged file keeps the records read before the damage)."""
    if not Path(path).exists():
        raise UserError(f"W&B directory {path} does not exist")
    runs, skipped = [], skipped if skipped is not None else []
    files = wandb_run_files(path)
    for file in files:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                run = read_run(file)
            except Exception as error:  # noqa: BLE001 - a bad file is reported and skipped, not fatal
                reason = str(error).replace(f"{file}: ", "").splitlines()
                skipped.append(f"{file.name}: {reason[0] if reason else type(error).__name__}")
                continue
        if caught:
            damage = str(caught[0].message).replace(f"{file}: ", "")
            skipped.append(f"{file.name}: {'partly read' if run.run_id else 'skipped, damaged before its run record'}"
                           f" ({damage})")
        if run.job_type == "report":  # the study's report run (analysis.wandb_report) is not a trial
            continue
        if run.run_id or not caught:
            runs.append(run)
    if not runs:
        found = f"{len(files)} run files, none readable ({skipped[0]})" if files else "no run-*.wandb files"
        raise UserError(f"no W&B runs under {path}: {found}")
    return runs


def from_wandb_dir(path: str | Path, group: str | None = None,
                   thresholds: Thresholds = Thresholds()) -> pd.DataFrame:
    """One row per offline W&B run under `path` (optionally only the runs of one group = study)."""
    skipped: list[str] = []
    runs = read_wandb_runs(path, skipped)
    groups = sorted({run.group for run in runs})
    if group is not None:
        runs = [run for run in runs if run.group == group]
        if not runs:
            raise UserError(f"no W&B runs with group {group!r} under {path} (groups: {', '.join(groups)})")
    latest: dict[str, WandbRun] = {}
    for run in runs:  # a resumed run writes a second file with the same id; keep the longest history
        if run.run_id not in latest or len(run.history) >= len(latest[run.run_id].history):
            latest[run.run_id] = run
    records = []
    for index, run in enumerate(latest.values()):
        state = "RUNNING" if run.exit_code is None else ("COMPLETE" if run.exit_code == 0 else "FAIL")
        record = _wandb_record(run, state, index)
        record.study = run.group or run.config.get("study")
        records.append(record)
    label = group or (groups[0] if len(groups) == 1 else None)
    _require_finished(records, f"W&B directory {path}")
    frame = build_frame(records, source="wandb-dir", study=label, thresholds=thresholds)
    frame.attrs.update(groups=groups, skipped=skipped)
    return _require_metrics(frame, f"W&B directory {path}")


DEFAULT_STORAGE = "sqlite:///runs/sweeps.db"


def load(storage: str | None = None, study: str | None = None, wandb_dir: str | Path | None = None,
         thresholds: Thresholds = Thresholds()) -> pd.DataFrame:
    """The report's entry point: offline W&B runs if `wandb_dir` is given (`study` = group filter), else the
    Optuna study `study` in `storage` (default `sqlite:///runs/sweeps.db`)."""
    if wandb_dir is not None:
        return from_wandb_dir(wandb_dir, group=study, thresholds=thresholds)
    return trials(storage or DEFAULT_STORAGE, study, thresholds=thresholds)
