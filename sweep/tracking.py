"""Weights & Biases: one run per trial, quiet, never hanging without a network, never leaking the API key.

Mode `auto` means online only if a key is configured (`WANDB_API_KEY`, or a `wandb login` entry in the netrc
file), else offline; an explicit `WANDB_MODE` in the environment is honoured by `auto` too. An online run that
cannot start (no network, bad key) falls back to offline for the rest of the sweep. Offline runs are written
under `$WANDB_DIR/wandb/` (default: `<out>/wandb/`); `sync_hint()` says how to upload them.

W&B is a side channel: when it fails (its service process lost, its own errors, which reach us as connection
errors) it is switched off for the rest of this process's trials with one warning line, and the trials go on;
`python -m sweep.relog` logs the trials it missed from their folders afterwards. Only a full or failing disk under
the W&B folder stops the sweep, as it would any other write (`common.errors.DiskFault`).

The API key is only ever checked for presence; it is not read into any config, log line or file we write.
"""
from __future__ import annotations

import netrc
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlparse

from common.cli import first_line
from common.errors import disk_fault
from common.results import (ARTIFACT_DIR, EPOCH, EPOCH_KEYS, FAIL_REASON, KL_PER_DIM_KEY, SCALAR_TEST_KEYS,
                            TRIAL_STATE, VAL_NELBO, TrialResult)
from common.wandb_adapter import settings

MODES = ("online", "offline", "disabled")
IMAGES = {  # artifact PNG -> caption of the W&B image
    "reconstructions": "test images (top) and their reconstructions",
    "samples": "decoded z ~ N(0, I) (an AE's are not samples of a generative model)",
    "traversals": "latent traversals, dims ordered by KL",
    "manifold": "decoded manifold over the prior's quantiles (latent_dim 2)",
}


def has_api_key() -> bool:
    """A W&B key is configured: `WANDB_API_KEY`, or a netrc login for the W&B host (what `wandb login` writes)."""
    if os.environ.get("WANDB_API_KEY", "").strip():
        return True
    host = urlparse(os.environ.get("WANDB_BASE_URL") or "https://api.wandb.ai").hostname or "api.wandb.ai"
    path = os.environ.get("NETRC") or str(Path.home() / ".netrc")
    try:
        entry = netrc.netrc(path).authenticators(host)
    except (OSError, netrc.NetrcParseError):
        return False
    return bool(entry and entry[2])


def resolve_mode(requested: str) -> str:
    """`online`/`offline`/`disabled` from the flag or config value (`auto` decides by the key's presence)."""
    if requested != "auto":
        return requested
    env_mode = os.environ.get("WANDB_MODE", "").strip().lower()
    if env_mode in MODES:
        return env_mode
    if env_mode == "dryrun":
        return "offline"
    return "online" if has_api_key() else "offline"


def quiet_environment() -> None:
    """W&B prints nothing of its own and does not wrap stdout/stderr (our progress bar owns the terminal)."""
    os.environ.setdefault("WANDB_SILENT", "true")
    os.environ.setdefault("WANDB_CONSOLE", "off")


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@dataclass
class Tracker:
    """W&B settings shared by all trials of one sweep (one process)."""

    project: str
    group: str
    mode: str
    root: Path
    entity: str | None = None
    offline_dirs: list[Path] = field(default_factory=list)
    fell_back: str | None = None
    broken: str | None = None  # why W&B was switched off for the rest of this process's trials
    warn: Callable[[str], None] = field(default=_to_stderr, repr=False)

    @classmethod
    def create(cls, project: str, group: str, requested_mode: str, out: str | Path,
               entity: str | None = None, warn: Callable[[str], None] | None = None) -> "Tracker":
        quiet_environment()
        root = Path(os.environ.get("WANDB_DIR") or out).resolve()
        mode = resolve_mode(requested_mode)
        if mode != "disabled":
            root.mkdir(parents=True, exist_ok=True)
        return cls(project=project, group=group, mode=mode, root=root, entity=entity, warn=warn or _to_stderr)

    def start(self, name: str | None, config: dict[str, Any], job_type: str = "trial",
              run_id: str | None = None) -> "TrialRun":
        """A run, or (W&B switched off, or failing to start now) a `TrialRun` that logs nothing."""
        if self.broken:
            return TrialRun(None, self)
        try:
            run = self._init(name, config, job_type, run_id)
            if job_type == "trial":
                define_epoch_metrics(run)
        except Exception as error:  # noqa: BLE001 - W&B must not take the trial with it
            self.switch_off(error)
            return TrialRun(None, self)
        return TrialRun(run, self)

    def _init(self, name: str | None, config: dict[str, Any], job_type: str, run_id: str | None) -> Any:
        import wandb

        kwargs = dict(project=self.project, entity=self.entity, group=self.group, job_type=job_type, name=name,
                      config=config, dir=str(self.root), reinit="finish_previous", id=run_id)
        try:
            run = wandb.init(mode=self.mode, settings=settings(), **kwargs)
        except Exception as error:  # noqa: BLE001 - network/auth problems must not stop the sweep
            if self.mode != "online":
                raise
            self.mode = "offline"
            self.fell_back = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
            self.warn(f"warning: W&B online run could not start ({self.fell_back}); logging offline instead")
            run = wandb.init(mode="offline", settings=settings(), **kwargs)
        if self.mode == "offline":
            self.offline_dirs.append(Path(run.settings.sync_dir))
        return run

    def switch_off(self, error: BaseException) -> None:
        """W&B failed: no more runs from this process, one warning line. A full or failing disk under the W&B
        folder is raised instead as a `DiskFault`: a fault of the machine stops the sweep."""
        fault = disk_fault(error, self.root / "wandb")
        if fault is not None:
            raise fault from None
        if self.broken is not None:
            return
        self.broken = f"{type(error).__name__}: {first_line(error)}"[:200]
        self.close()
        self.warn(f"warning: W&B stopped working ({self.broken}); the sweep goes on without it: afterwards, "
                  f"`python -m sweep.relog` with the launch command's arguments logs the trials it missed")

    def close(self) -> None:
        """Let go of W&B's service process, if this process started one (quietly: it may be gone already)."""
        if "wandb" not in sys.modules:
            return
        import wandb

        try:
            wandb.teardown()
        except Exception:  # noqa: BLE001 - its connection is lost: nothing left to shut down
            pass

    def sync_hint(self) -> str | None:
        """How to upload the offline runs of this sweep (None if there are none)."""
        dirs = self.offline_dirs
        if not dirs and self.mode == "offline":  # runs written by this launcher's worker processes
            dirs = sorted((self.root / "wandb").glob("offline-run-*"))
        if not dirs:
            return None
        parents = sorted({str(path.parent) for path in dirs})
        targets = " ".join(f"{parent}/offline-run-*" for parent in parents)
        return f"W&B runs were logged offline; upload them with: wandb sync {targets}"


def define_epoch_metrics(run: Any) -> None:
    """Per-epoch keys are charted against `epoch`; the summary keeps the lowest val/nelbo, not the last."""
    run.define_metric(EPOCH)
    for key in EPOCH_KEYS[1:]:
        run.define_metric(key, step_metric=EPOCH, summary="min" if key == VAL_NELBO else None)


class TrialRun:
    """One W&B run: per-epoch rows, then a summary of test metrics, a KL-per-dim table/chart and images. Whatever
    W&B raises switches it off (`Tracker.switch_off`); `logged` then says the run is incomplete or missing."""

    def __init__(self, run: Any, tracker: Tracker):
        self.run, self.tracker = run, tracker

    @property
    def id(self) -> str | None:
        return self.run.id if self.run is not None else None

    @property
    def logged(self) -> bool:
        return self.run is not None

    def _guarded(self, method: Callable[..., None], *args: Any) -> None:
        if self.run is None:
            return
        try:
            method(*args)
        except Exception as error:  # noqa: BLE001 - W&B must not take the trial with it
            self.run = None
            self.tracker.switch_off(error)

    def log_epoch(self, row: dict[str, Any]) -> None:
        self._guarded(self._log_epoch, row)

    def _log_epoch(self, row: dict[str, Any]) -> None:
        self.run.log({key: row[key] for key in EPOCH_KEYS if key in row})

    def finish_complete(self, result: TrialResult) -> None:
        self._guarded(self._finish_complete, result)

    def _finish_complete(self, result: TrialResult) -> None:
        import wandb

        summary: dict[str, Any] = {key: value for key, value in result.stored().items()
                                   if value is not None and key != KL_PER_DIM_KEY}
        artifact_dir = result.artifact_dir
        summary[ARTIFACT_DIR] = str(artifact_dir) if artifact_dir else None
        summary[TRIAL_STATE] = "COMPLETE"
        media: dict[str, Any] = {}
        if result.kl_per_dim:
            table = wandb.Table(columns=["dim", "kl"], data=[[dim, float(kl)] for dim, kl in enumerate(result.kl_per_dim)])
            media["kl_per_dim"] = table
            media["kl_per_dim_chart"] = wandb.plot.bar(table, "dim", "kl", title="KL per latent dimension (nats)")
        for name, caption in IMAGES.items():
            image = Path(artifact_dir) / f"{name}.png" if artifact_dir else None
            if image is not None and image.is_file():
                media[name] = wandb.Image(str(image), caption=caption)
        if media:
            self.run.log(media)
        if artifact_dir:
            self.log_model(Path(artifact_dir), summary)
        self.run.summary.update(summary)
        self.run.finish(exit_code=0)

    def log_model(self, folder: Path, summary: dict[str, Any]) -> None:
        """The saved model (vae.saving) as a W&B artifact of type `model` (offline too: `wandb sync` uploads it)."""
        import wandb

        from vae.saving import FILES

        files = [folder / name for name in FILES]
        if not all(path.is_file() for path in files):
            return  # save_model: false
        metadata = {key: summary[key] for key in SCALAR_TEST_KEYS if key in summary}
        artifact = wandb.Artifact(f"model-{self.run.id}", type="model", metadata=metadata,
                                  description="vae.saving folder: load with vae.saving.load(folder)")
        for path in files:
            artifact.add_file(str(path))
        self.run.log_artifact(artifact)

    def finish_failed(self, state: str, reason: str | None = None) -> None:
        """A pruned, failed or interrupted trial: marked with a non-zero exit code, not as finished."""
        self._guarded(self._finish_failed, state, reason)

    def _finish_failed(self, state: str, reason: str | None) -> None:
        summary: dict[str, Any] = {TRIAL_STATE: state}
        if reason:
            summary[FAIL_REASON] = reason
        try:
            self.run.summary.update(summary)
        finally:
            self.run.finish(exit_code=1)
