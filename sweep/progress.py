"""What the user sees while a sweep runs: one tqdm bar over trials, and a results table at the end.

On a terminal the bar redraws in place (epochs included). Into a file (a SLURM log, `2> log`) a redrawn bar would
pile up one copy per refresh, so there it is off and each finished trial prints one plain line instead.
"""
from __future__ import annotations

import math
import sys
import time
from typing import Any, Callable

import optuna
from tqdm import tqdm

from common.results import FAIL_REASON, MACHINE_FAULT, TrialResult
from sweep.config import SAMPLE_OBJECTIVES
from sweep.storage import counted, retried

HEADER_WIDTH = 8  # a header longer than its column's cells folds at this width
STATE_NAMES = {"COMPLETE": "done", "PRUNED": "pruned", "FAIL": "failed", "RUNNING": "running", "WAITING": "queued"}


class SweepProgress:
    """Trials finished / planned (study-wide, so other workers' trials count), best value, ETA."""

    def __init__(self, study: optuna.Study, total: int, planned: Callable[[], int] | None = None):
        self.study, self.planned = study, planned  # planned: the total, re-counted after each trial
        self.live = sys.stderr.isatty()
        self.started = time.monotonic()
        self.bar = tqdm(total=total, initial=min(total, len(counted(study))), desc=f"sweep {study.study_name}",
                        unit="trial", dynamic_ncols=True, file=sys.stderr, smoothing=0.1, disable=not self.live)
        self.current = ""
        self.counts = ""
        self.warned: set[str] = set()
        self.objective = objective_name(study)
        self._count()

    def _count(self) -> None:
        """Best value and pruned/failed counts from the storage: after each trial, not on every epoch."""
        trials = counted(self.study)
        counts = {state: sum(t.state.name == state for t in trials) for state in ("PRUNED", "FAIL")}
        best = _best_value(trials)
        parts = [f"best {self.objective} {best:.2f}" if best is not None else f"best {self.objective} -"]
        parts += [f"{counts[state]} {STATE_NAMES[state]}" for state in ("PRUNED", "FAIL") if counts[state]]
        self.counts = ", ".join(parts)
        self._refresh_postfix()

    def _refresh_postfix(self) -> None:
        self.bar.set_postfix_str(", ".join(filter(None, [self.counts, self.current])), refresh=True)

    def epoch(self, number: int, epoch: int, epochs: int) -> None:
        if self.live:
            self.current = f"trial {number}: epoch {epoch + 1}/{epochs}"
            self._refresh_postfix()

    def trial_done(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        """After each trial this launcher handed out."""
        self.current = ""
        if self.planned is not None:
            self.bar.total = self.planned()
        done = min(self.bar.total, len(counted(study)))
        self.bar.update(max(0, done - self.bar.n))
        if trial.state.name != "COMPLETE":
            reason = trial.user_attrs.get(FAIL_REASON) or ""
            what = STATE_NAMES.get(trial.state.name, trial.state.name.lower())
            self.bar.write(f"trial {trial.number} {what}" + (f": {reason}" if reason else ""), file=sys.stderr)
        self._count()
        if not self.live:
            minutes, seconds = divmod(int(time.monotonic() - self.started), 60)
            print(f"sweep {study.study_name}: {done}/{self.bar.total} trials, {self.counts}, "
                  f"{minutes}:{seconds:02d} elapsed", file=sys.stderr, flush=True)

    def warn(self, line: str) -> None:
        """A warning line (e.g. W&B switched off) above the bar, each distinct one once."""
        if line not in self.warned:
            self.warned.add(line)
            self.bar.write(line, file=sys.stderr)

    def waiting(self, others: int) -> None:
        """Nothing left to start here; `others` trials still run (elsewhere, or stale after a crash)."""
        self.current = f"waiting for {others} running trial{'s' if others > 1 else ''} (other workers / crashed ones)"
        self._refresh_postfix()

    def close(self) -> None:
        self.bar.close()


def objective_name(study: optuna.Study) -> str:
    return study.user_attrs.get("objective", "nelbo")


def _best_value(trials: list[optuna.trial.FrozenTrial]) -> float | None:
    """The lowest finite value: an AE's +inf (no nelbo, see sweep.objective) is never the best."""
    values = [t.value for t in trials if t.state.name == "COMPLETE" and t.value is not None and math.isfinite(t.value)]
    return min(values) if values else None


def _thousandfold(value: Any) -> Any:
    return 1e3 * value if isinstance(value, (int, float)) else value


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return "-" if not math.isfinite(value) else f"{value:.4g}"
    return str(value)


def _state(trial: optuna.trial.FrozenTrial, rerun: set[int]) -> str:
    """A trial's state in the table: a failed trial that was re-run says why it stopped, not `failed`."""
    if trial.user_attrs.get(MACHINE_FAULT):
        return "stopped (machine), re-run"
    if trial.number in rerun:
        return "interrupted, re-run"
    return STATE_NAMES.get(trial.state.name, trial.state.name)


def results_table(study: optuna.Study, max_rows: int = 60) -> None:
    """A rich table of the study's trials (best first among the complete ones) on stdout; no cell is ever cut
    (a collapsed run's diversity of 1e-9 is evidence: its exponent must show)."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    trials = study.get_trials(deepcopy=False)
    params = list(dict.fromkeys(key for t in trials for key in t.params))
    ordered = sorted(trials, key=lambda t: (t.state.name != "COMPLETE",
                                            t.value if t.value is not None and math.isfinite(t.value) else math.inf,
                                            t.number))
    objective = objective_name(study)
    note = "; AE: none, not a density model" if objective not in SAMPLE_OBJECTIVES else ""
    columns = ("#", "state", *params, "value", "active", "diversity", "sharpness", "sample KID×10³", "seconds")
    rows = []
    rerun = retried(study)
    for t in ordered[:max_rows]:
        result = TrialResult.from_stored(t.user_attrs)
        rows.append([str(t.number), _state(t, rerun),
                     *(_fmt(t.params.get(key)) for key in params),
                     _fmt(t.value if t.state.name == "COMPLETE" else None), _fmt(result.active_units),
                     _fmt(result.recon_diversity), _fmt(result.sharpness), _fmt(_thousandfold(result.sample_kid)),
                     _fmt(result.train_seconds)])
    table = Table(title=f"study {study.study_name}: {len(trials)} trials (value = test {objective}{note})",
                  box=box.SIMPLE_HEAD, show_edge=False, padding=0)
    width = max(120, Console().width)
    cells = [max((len(row[index]) for row in rows), default=0) for index in range(len(columns))]
    widths = [max(len(column), cell) for column, cell in zip(columns, cells)]
    if sum(widths) + len(widths) - 1 > width:  # fold the long headers; a cell is never cut
        widths = [max(min(len(column), HEADER_WIDTH), cell) for column, cell in zip(columns, cells)]
    for column, column_width in zip(columns, widths):
        table.add_column(column, justify="left" if column in ("state", *params) else "right", width=column_width,
                         overflow="fold")
    for row in rows:
        table.add_row(*row)
    console = Console(width=max(width, sum(widths) + len(widths) - 1))  # wider than the terminal rather than cut
    console.print(table)
    if len(ordered) > max_rows:
        console.print(f"... {len(ordered) - max_rows} more trials (analysis.read.load.trials(storage, study))")
