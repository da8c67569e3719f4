"""How a trial ended, decided in one place for the W&B run, the Optuna trial and the launcher.

`classify(error)` maps what a trial raised to an `Outcome`: the state recorded (`PRUNED`, `FAIL`, `INTERRUPTED`),
the one-line `fail_reason`, and whether the launcher must stop (`stop_sweep`): Ctrl-C / SIGTERM and a storage that
stayed away past its retry window end the launcher; a pruned or broken trial does not, the sweep goes on.
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
        return Outcome("INTERRUPTED", INTERRUPTED_REASON, stop_sweep=True)
    return Outcome("FAIL", f"{type(error).__name__}: {first_line(error)}", stop_sweep=False)
