"""Who is at fault when a trial does not finish: decided in one place for the W&B run, the trial and the launcher.

The rule: a fault of the trial (its loss went NaN/inf, TensorFlow ran out of memory, a bad config value) fails that
trial with its reason and the sweep goes on. A fault of the machine (a full, read-only or failing disk; the storage
unreachable past its retry window or unwritable) never fails a configuration: the trial is re-queued and the launcher
stops with one `error:` line and exit code 75, so the same command run again goes on. Ctrl-C / SIGTERM stop the
launcher and re-queue the trial too. A trial whose own process dies (the kernel's OOM killer, a native crash) is
re-queued `search.max_retries` times, then failed: it is the trial that kills its process.

`classify(error)` maps what a trial raised to an `Outcome`: the state recorded (`PRUNED`, `FAIL`, `INTERRUPTED`),
the one-line `fail_reason`, whether the launcher must stop (`stop_sweep`), whether the trial is re-queued right
away (`requeue`) and, for a fault of the machine, the `MachineFault` the launcher stops with.
"""
from __future__ import annotations

import signal
from dataclasses import dataclass

import optuna

from common.errors import MachineFault, disk_fault
from sweep.retry import StorageUnavailable

INTERRUPTED_REASON = "interrupted (Ctrl-C or SIGTERM) while running"
STALE_CAUSE = "its heartbeats stopped: killed (out of memory?) or cut off from the storage"


class NonFiniteTrial(Exception):
    """The loss went NaN/inf; `str()` is the one-line reason."""


@dataclass(frozen=True)
class Outcome:
    state: str  # "PRUNED" | "FAIL" | "INTERRUPTED" (W&B trial_state; Optuna: PRUNED / FAIL / re-queued)
    reason: str | None
    stop_sweep: bool
    requeue: bool = False
    fault: MachineFault | None = None  # a fault of the machine: what the launcher stops with (exit code 75)


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else ""


def classify(error: BaseException) -> Outcome:
    if isinstance(error, optuna.TrialPruned):
        return Outcome("PRUNED", first_line(error) or None, stop_sweep=False)
    if isinstance(error, NonFiniteTrial):
        return Outcome("FAIL", first_line(error), stop_sweep=False)
    if isinstance(error, StorageUnavailable):  # nothing can be written: the trial goes stale, then re-queued
        return Outcome("INTERRUPTED", f"storage unreachable: {first_line(error)}", stop_sweep=True)
    if isinstance(error, (KeyboardInterrupt, SystemExit)):
        return Outcome("INTERRUPTED", INTERRUPTED_REASON, stop_sweep=True, requeue=True)
    fault = error if isinstance(error, MachineFault) else disk_fault(error)
    if fault is not None:
        return Outcome("INTERRUPTED", f"stopped by the machine: {first_line(fault)}", stop_sweep=True, requeue=True,
                       fault=fault)
    return Outcome("FAIL", f"{type(error).__name__}: {first_line(error)}", stop_sweep=False)


def death_cause(exitcode: int | None) -> str:
    """How a trial's process ended, for its fail reason: `signal 9: out of memory?`, `exit code 1`, ...
    None: it stopped sending heartbeats (a launcher running the trial itself, `--workers 1`)."""
    if exitcode is None:
        return STALE_CAUSE
    if exitcode >= 0:
        return f"exit code {exitcode}"
    number = -exitcode
    if number == signal.SIGKILL:
        return f"signal {number}: out of memory?"
    try:
        name = signal.Signals(number).name
    except ValueError:
        name = "unknown"
    return f"signal {number} ({name}): crashed"


def died_reason(who: str, deaths: int, cause: str) -> str:
    """`worker died 3 times (signal 9: out of memory?)`: the fail reason of a trial that keeps killing its process."""
    return f"{who} died {deaths} time{'s' if deaths != 1 else ''} ({cause})"
