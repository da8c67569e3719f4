"""`python -m sweep.launch`: run a grid / TPE / random search over the VAE with Optuna, one W&B run per trial.

    python -m sweep.launch [CONFIG] [--study NAME] [--storage URL] [--workers N|auto] [--n-trials N]
                           [--wandb-mode offline|online|disabled] [--out DIR] [--set key=value ...] [--no-report]
                           [--republish]

Relaunching the same command resumes the study: finished trials are kept, the queue goes on.
"""
from __future__ import annotations

import argparse
import itertools
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Sequence

from common.cli import EXIT_INCOMPLETE, EXIT_OK, OneLineParser, child_env, run_main
from sweep.cli import config_path, quiet_logging
from sweep.workers import resolve_workers
from sweep.config import SweepConfig, load_config
from vae.config import TrialConfig, deep_merge, parse_overrides
from common.errors import UserError

def workers_arg(text: str) -> int | str:
    """`--workers`: a positive number of worker processes, or `auto`."""
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of worker processes or 'auto', got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 (got {value})")
    return value


def parse_args(argv: Sequence[str] | None, prog: str = "python -m sweep.launch", description: str | None = None):
    parser = OneLineParser(prog=prog, description=description or __doc__.split("\n\n")[0])
    parser.add_argument("config", nargs="?", help="sweep YAML (default: configs/default.yaml)")
    parser.add_argument("--study", help="study name = W&B group (default: the config's `study`)")
    parser.add_argument("--storage", help="Optuna storage URL (default: sqlite:///<out>/sweeps.db)")
    parser.add_argument("--workers", type=workers_arg, default="auto",
                        help="worker processes on this machine, or auto (default): one per core, fewer if "
                             "memory is short")
    parser.add_argument("--n-trials", type=int, help="tpe/random: trials in the study; grid: at most this many points")
    parser.add_argument("--wandb-mode", choices=("auto", "offline", "online", "disabled"),
                        help="W&B mode (default: the config's; auto = online only if a key is configured)")
    parser.add_argument("--out", help="output folder for the storage, artifacts and offline W&B runs (default: runs)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key by dotted path, e.g. --set trial.epochs=5 "
                             "--set search.space.beta='[1, 4]'")
    parser.add_argument("--no-report", action="store_true", help="skip `python -m analysis.report` at the end")
    parser.add_argument("--republish", action="store_true",
                        help="a study that had already finished: log its report to W&B again (by default a "
                             "relaunch rewrites the report folder only)")
    return parser.parse_args(argv)


def flag_overrides(args) -> dict[str, Any]:
    flags: dict[str, Any] = {}
    if args.study is not None:
        flags["study"] = args.study
    if args.storage is not None:
        flags["storage"] = args.storage
    if args.out is not None:
        flags["out"] = args.out
    if args.n_trials is not None:
        flags.setdefault("search", {})["n_trials"] = args.n_trials
    if args.wandb_mode is not None:
        flags.setdefault("wandb", {})["mode"] = args.wandb_mode
    return flags


def launch_config(args) -> SweepConfig:
    """The sweep config the launch command's arguments describe (the config file, `--set`, the flags)."""
    return load_config(config_path(args.config), deep_merge(parse_overrides(args.set), flag_overrides(args)))


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)

    def body() -> int:
        return sweep(launch_config(args), report=not args.no_report, workers=args.workers,
                     republish=args.republish)

    command = shlex.join(["python", "-m", "sweep.launch", *(sys.argv[1:] if argv is None else argv)])
    return run_main(body, on_interrupt="interrupted: finished trials are kept and the running ones re-queued; "
                                       f"to resume, run the same command again: {command}")


def prepare_out(config: SweepConfig) -> Path:
    """The output folder, created (with the study's artifact folder) and checked writable."""
    root = Path(config.out).resolve()
    folder = root / config.study
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise UserError(f"out: cannot write to {folder} ({error.strerror or type(error).__name__})") from None
    return root


def check_writable(config: SweepConfig) -> None:
    """Refuse an output folder (or the study's artifact folder in it) that we cannot create or write, before
    anything is stored."""
    root = Path(config.out).resolve()
    path = root / config.study
    while not path.exists():
        path = path.parent
    if not path.is_dir():
        where = f" (where study {config.study!r} keeps its artifacts)" if path != root and root in path.parents else ""
        raise UserError(f"out: {path} is a file, not a folder{where}")
    if not os.access(path, os.W_OK | os.X_OK):
        raise UserError(f"out: {path} is not writable")


DATA_KEYS = ("dataset", "arch", "likelihood", "gaussian_mean", "binarize")  # what decides which data a trial takes


def data_settings(config: SweepConfig) -> list[TrialConfig]:
    """Every combination of DATA_KEYS a trial of the sweep can have (the space's lists crossed, then each include
    point), as trial configs."""
    from sweep.config import check_include

    defaults, dims = config.trial_defaults(), config.dimensions()
    lists = [dims[key] if isinstance(dims.get(key), list) else [defaults[key]] for key in DATA_KEYS]
    combos = set(itertools.product(*lists))
    combos |= {tuple(point.get(key, defaults[key]) for key in DATA_KEYS) for point in check_include(config)}
    return [config.trial.model_copy(update=dict(zip(DATA_KEYS, combo))) for combo in sorted(combos)]


def check_datasets(config: SweepConfig) -> None:
    """Every dataset the sweep will train on loads, and suits the likelihood and arch it is trained with (a missing
    or corrupt npz, values outside [0, 1] for a Bernoulli, vectors for arch=conv are refused up front)."""
    from vae.data import check_data

    for trial in data_settings(config):
        check_data(trial)


def sweep(config: SweepConfig, report: bool = True, workers: int | str = 1, republish: bool = False) -> int:
    """Run this launcher's share of the study (with `workers` processes or `auto`, and never more than trials
    left), then the results table and report. The report of a study that had already finished goes to W&B again
    only if `republish`."""
    quiet_logging()
    from sweep.objective import Objective
    from sweep.pool import run_sweep
    from sweep.progress import SweepProgress, results_table
    from sweep.search import planned_trials
    from sweep.storage import counted, mask, open_study, resolve_url, verdicts
    from sweep.tracking import Tracker

    check_writable(config)
    check_datasets(config)
    url = resolve_url(config)
    study, storage = open_study(config, url)
    root = prepare_out(config)
    workers = resolve_workers(workers, config)
    total = planned_trials(config)
    done = len(counted(study))
    left = max(0, total - done)
    started = min(workers, max(1, left))  # a worker per trial left at most: each one costs a TensorFlow start
    tracker = Tracker.create(config.wandb.project, config.study, config.wandb.mode, root, config.wandb.entity)
    bound = "at most " if config.search.method == "boundary" else ""
    print(f"study {config.study!r} ({config.search.method}, {bound}{total} trials) in {mask(url)}; "
          f"{started} worker{'s' if started > 1 else ''}"
          + (f" (not {workers}: {left} trial{'s' if left != 1 else ''} left)" if started < workers else "")
          + f"; W&B {tracker.mode}" + (f" -> {tracker.root / 'wandb'}" if tracker.mode == "offline" else ""),
          flush=True)
    if done >= total:
        again = report and not republish and tracker.mode != "disabled"
        print(f"study {config.study!r} had already finished ({done} of {total} trials): nothing to run"
              + ("; its report is rewritten, not logged to W&B again (--republish logs it)" if again else ""),
              flush=True)
    elif done:
        print(f"{done} of {total} trials already finished, resuming", flush=True)
    planned = planned_now(study, config)
    progress = SweepProgress(study, total, planned=planned)
    tracker.warn = progress.warn
    try:
        run_sweep(study, storage, config, lambda on_epoch: Objective(config, tracker, on_epoch), progress, started)
    finally:
        progress.close()
        tracker.close()
    results_table(study)
    print(verdict_line(verdicts(study), planned() if planned else total))
    print(f"artifacts: {root / config.study}/trial-<number>/")
    hint = tracker.sync_hint()
    if hint:
        print(hint)
    if tracker.fell_back:
        print(f"(W&B online failed: {tracker.fell_back})")
    publish = tracker if done < total or republish else None
    return run_report(url, config, root, publish) if report else 0


def planned_now(study, config: SweepConfig):
    """A boundary search's total, re-counted after each trial (groups finish early); None for a fixed plan."""
    if config.search.method != "boundary":
        return None
    from sweep.boundary_search import remaining
    from sweep.storage import counted

    return lambda: len(counted(study)) + remaining(study, config)


def verdict_line(counts: dict[str, int], total: int) -> str:
    """`4 of 4 trials finished: 3 done, 1 failed (its own configuration); 2 stopped by the machine were re-run`."""
    names = {"COMPLETE": "done", "PRUNED": "pruned", "FAIL": "failed (its own configuration)"}
    done = sum(counts[state] for state in names)
    parts = [f"{counts[state]} {name}" for state, name in names.items() if counts[state]]
    line = f"{done} of {total} trials finished" + (": " + ", ".join(parts) if parts else "")
    stopped = counts["stopped by the machine"]
    return line + (f"; {stopped} stopped by the machine {'was' if stopped == 1 else 'were'} re-run" if stopped else "")


def run_report(url: str, config: SweepConfig, root: Path, tracker=None) -> int:
    """`python -m analysis.report` on the study, as a user would run it; with W&B on, it also logs the report as
    the study's W&B report run (into the same W&B folder and project as the trials).

    It runs as a child process in its own session: a terminal's Ctrl-C reaches only this launcher, which then
    kills the report (its notebook kernel exits when its parent is gone) and exits 130 as at any other moment."""
    out = root / config.study / "report"
    print(f"report: writing {out} ...", flush=True)
    command = [sys.executable, "-m", "analysis.report", "--storage", url, "--study", config.study, "--out", str(out)]
    extra = {}
    if tracker is not None and tracker.mode != "disabled":
        command += ["--wandb", tracker.mode]
        extra = {"WANDB_DIR": str(tracker.root), "WANDB_PROJECT": config.wandb.project,
                 **({"WANDB_ENTITY": config.wandb.entity} if config.wandb.entity else {})}
    report = subprocess.Popen(command, env=child_env(**extra), start_new_session=True)
    try:
        code = report.wait()
    except KeyboardInterrupt:
        report.kill()
        report.wait()
        raise
    if code != 0:
        print(f"warning: the report was not written (exit code {code}); the sweep itself is complete",
              file=sys.stderr)
        return EXIT_INCOMPLETE
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
