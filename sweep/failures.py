"""How a trial ended, decided in one place for the W&B run, the Optuna trial and the launcher.

`classify(error)` maps what a trial raised to an `Outcome`: the state recorded (`PRUNED`, `FAIL`, `INTERRUPTED`),
the one-line `fail_reason`, whether the launcher must stop (`stop_sweep`) and whether the trial is re-queued right
away (`requeue`). Ctrl-C / SIGTERM stop the launcher and re-queue the trial; a storage that stayed away past its
retry window stops it too, but nothing can be written: the trial goes stale and the next launcher re-queues it.
A pruned or broken trial ends with its state and the sweep goes on.
"""
from __future__ import annotations

from dataclasses import dataclass

import optuna

from sweep.retry import StorageUnavailable

INTERRUPTED_REASON = "interrupted (Ctrl-C or SIGTERM) while running"


class NonFiniteTrial(Exception):
    """The loss went NaN/inf; `str()` is the one-line reason."""


@dataclass(frozen=True)
class Outcome:
    state: str  # "PRUNED" | "FAIL" | "INTERRUPTED" (W&B trial_state; Optuna: PRUNED / FAIL / re-queued)
    reason: str | None
    stop_sweep: bool
    requeue: bool = False


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else ""


def classify(error: BaseException) -> Outcome:
    if isinstance(error, optuna.TrialPruned):
        return Outcome("PRUNED", first_line(error) or None, stop_sweep=False)
    if isinstance(error, NonFiniteTrial):
        return Outcome("FAIL", first_line(error), stop_sweep=False)
    if isinstance(error, StorageUnavailable):
        return Outcome("INTERRUPTED", f"storage unreachable: {first_line(error)}", stop_sweep=True)
    if isinstance(error, (KeyboardInterrupt, SystemExit)):
        return Outcome("INTERRUPTED", INTERRUPTED_REASON, stop_sweep=True, requeue=True)
    return Outcome("FAIL", f"{type(error).__name__}: {first_line(error)}", stop_sweep=False)
