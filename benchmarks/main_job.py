"""The README's main job, measured as a user runs it: `python -m sweep.launch` on configs/default.yaml (report
included, W&B offline) with `--workers 1` and `--workers 2`; `--config` measures another shipped config the same
way (`python -m benchmarks.main_job 2 --config configs/theory.yaml`).

Per run: wall time; Σ(train_seconds + eval_seconds) of the trials (the sweep-overhead ratio is wall ÷ that sum
divided among the workers); the peak resident memory (VmHWM) of every process of the job (the launcher, its
workers, the notebook kernels of the report), sampled from /proc every 0.2 s (Linux only); and the verdict of
every trial from the report's summary.csv (`status`), so a change that speeds the job up can be checked to leave
the report's message alone; and the high/low of each located row of the report's collapse_boundary.csv (how
precisely it says where collapse begins).
"""
from __future__ import annotations

import collections
import csv
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from common.cli import PROJECT_ROOT as REPO, OneLineParser, child_env, run_main

POLL_SECONDS = 0.2


@dataclass
class JobRun:
    workers: int
    wall_s: float = float("nan")
    busy_s: float = float("nan")  # Σ train_seconds + Σ eval_seconds over the trials
    cpu_s: float = float("nan")  # user + system CPU of the job and every process it waited for
    trials: int = 0
    peaks_mb: dict[str, float] = field(default_factory=dict)  # process role -> peak VmHWM (MB), max over its pids
    statuses: collections.Counter = field(default_factory=collections.Counter)  # "model/arch/reduction/status" -> n
    error: str = ""
    boundary: dict[str, float] = field(default_factory=dict)  # collapse_boundary.csv "arch/latent/reduction" -> high/low

    @property
    def overhead(self) -> float:
        return self.wall_s / (self.busy_s / self.workers)


def _children(pid: int) -> dict[int, str]:
    """All descendants of `pid` with their command lines (from /proc)."""
    parents: dict[int, int] = {}
    commands: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            commands[int(entry)] = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        parents[int(entry)] = int(stat.rpartition(")")[2].split()[1])
    found, frontier = {}, [pid]
    while frontier:
        current = frontier.pop()
        for child, parent in parents.items():
            if parent == current and child not in found:
                found[child] = commands.get(child, "")
                frontier.append(child)
    return found


def peak_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def role(command: str) -> str:
    if "ipykernel" in command:
        return "report kernel"
    if "resource_tracker" in command:
        return "multiprocessing resource tracker"
    if "spawn_main" in command:
        return "worker"
    if "wandb-core" in command:
        return "W&B service"
    if "analysis.report" in command:
        return "report process"
    if "sweep.launch" in command:
        return "launcher"
    return "other" if command else ""  # an exiting process reads as an empty command line


def run_job(workers: int, workdir: Path, extra: list[str] | None = None, config: str | None = None,
            study: str = "default") -> JobRun:
    out = workdir / f"out-{workers}"
    command = [sys.executable, "-m", "sweep.launch", *([str(REPO / config)] if config else []), "--out", str(out),
               "--wandb-mode", "offline", "--workers", str(workers), *(extra or [])]
    env = child_env(WANDB_SILENT="true", TF_CPP_MIN_LOG_LEVEL="3")
    run = JobRun(workers)
    peaks: dict[int, tuple[str, float]] = {}
    started, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    # stderr (the progress bar) into a file: a pipe nobody reads fills up and blocks the job
    with tempfile.TemporaryFile("w+") as errors:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=errors, text=True, env=env,
                                   cwd=workdir)
        while process.poll() is None:
            for pid, cmd in {process.pid: "sweep.launch", **_children(process.pid)}.items():
                known, peak = peaks.get(pid, ("", 0.0))
                peaks[pid] = (known or role(cmd), max(peak, peak_rss_mb(pid)))
            time.sleep(POLL_SECONDS)
        run.wall_s = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        run.cpu_s = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        if process.returncode:
            errors.seek(0)
            run.error = f"exit {process.returncode}: {errors.read()[-300:]}"
            return run
    for name, peak in peaks.values():
        run.peaks_mb[name or "other"] = max(run.peaks_mb.get(name or "other", 0.0), peak)
    _read_results(run, out, study)
    return run


def _read_results(run: JobRun, out: Path, name: str) -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=name, storage=f"sqlite:///{out / 'sweeps.db'}")
    done = [trial for trial in study.trials if trial.state == optuna.trial.TrialState.COMPLETE]
    run.trials = len(done)
    run.busy_s = sum(t.user_attrs.get("train_seconds", 0.0) + t.user_attrs.get("eval_seconds", 0.0) for t in done)
    with open(out / name / "report" / "summary.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            key = "/".join(row.get(name, "") for name in ("model", "arch", "reduction", "status"))
            run.statuses[key] += 1
    with open(out / name / "report" / "collapse_boundary.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["method"] in ("bracket", "logistic", "overlap"):
                key = "/".join(row.get(column, "") for column in ("arch", "latent_dim", "reduction"))
                run.boundary[key] = float(row["high"]) / float(row["low"])


def measure(log=print, workers=(1, 2), config: str | None = None) -> list[JobRun]:
    """`config` (a path under the repository; default configs/default.yaml) run once per `workers` value."""
    study = "default"
    if config:
        from sweep.config import load_config

        study = load_config(REPO / config).study
    runs = []
    with tempfile.TemporaryDirectory(prefix="vae-bench-main-") as tmp:
        for count in workers:
            run = run_job(count, Path(tmp), config=config, study=study)
            ratios = ", ".join(f"{key} {ratio:.2f}" for key, ratio in sorted(run.boundary.items()))
            log(f"  {config or 'main job'} --workers {count}: wall {run.wall_s:.1f} s, CPU {run.cpu_s:.1f} s, "
                f"busy {run.busy_s:.1f} s, {run.trials} trials, peak MB {run.peaks_mb}, verdicts "
                f"{dict(run.statuses)}, boundary high/low {ratios or '-'} {run.error}")
            runs.append(run)
    return runs


def one_process_peaks(log=print) -> list[float]:
    """What `--workers 1` holds: every structure of configs/default.yaml trained in its queue's order in this one
    process (1 epoch each, the config's IWAE samples); VmHWM in MB after each trial. Run it in a fresh process."""
    from sweep.config import load_config
    from vae.config import build_trial_config
    from vae.train import run

    config = load_config(REPO / "configs" / "default.yaml", {})
    points = config.grid_points()
    if config.search.method == "boundary":  # each group's structure once, at the range's middle
        beta = config.dimensions()["beta"]
        points += [{**group, "beta": (beta.low * beta.high) ** 0.5} for group in config.boundary_groups()]
    peaks = []
    for point in points:
        run(build_trial_config({**config.trial_defaults(), **point, "epochs": 1}))
        peaks.append(peak_rss_mb(os.getpid()))
        log(f"  {point}: {peaks[-1]:,.0f} MB")
    return peaks


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="python -m benchmarks.main_job", description=__doc__.split("\n\n")[0])
    parser.add_argument("workers", nargs="*", type=int, default=[1, 2],
                        help="--workers values to measure (default: 1 2)")
    parser.add_argument("--config", help="a sweep config under the repository instead of configs/default.yaml")
    parser.add_argument("--inline", action="store_true",
                        help="instead: one process trains every structure of the default sweep (peak memory)")
    args = parser.parse_args(argv)

    def body() -> int:
        if args.inline:
            one_process_peaks()
        else:
            measure(workers=args.workers, config=args.config)
        return 0

    return run_main(body)


if __name__ == "__main__":
    sys.exit(main())
