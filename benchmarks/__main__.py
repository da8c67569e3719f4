"""`python -m benchmarks [--quick] [--only SECTION ...] [--output BENCHMARKS.md]`: measure and write BENCHMARKS.md.

Sections: throughput (+ quality at equal epochs), efficiency, sweep, mainjob (the README's main job: wall time,
peak memory per process, verdicts), pruning, profile, report (the analysis report on 500-5,000 synthetic
trials; written to its own section of BENCHMARKS.md, see benchmarks/report_scale.py), scale (`vae.train` on
5,000 to 70,000 digits and CIFAR-sized data: time split and peak memory; its own section, see
benchmarks/data_scale.py). `--quick` uses fewer repetitions, epochs and trials than the full run. `--only` runs
some sections and rewrites the table with their rows only (add `--no-write` to print it instead).
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from common.cli import PROJECT_ROOT as REPO, OneLineParser, run_main

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("WANDB_SILENT", "true")

SECTIONS = ("throughput", "efficiency", "sweep", "mainjob", "pruning", "profile", "report", "scale")


@dataclass(frozen=True)
class Plan:
    repetitions: dict  # arch -> interleaved ours/reference pairs
    epochs: dict  # arch -> epochs per throughput run
    iwae_samples: int
    efficiency_repetitions: int
    pruning_trials: int
    pruning_epochs: int


QUICK = Plan({"mlp": 3, "conv": 2}, {"mlp": 4, "conv": 3}, 20, 1, 8, 4)
FULL = Plan({"mlp": 5, "conv": 5}, {"mlp": 10, "conv": 6}, 100, 3, 24, 10)


def parse_args(argv):
    parser = OneLineParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions/epochs/trials")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, help="run only these sections")
    parser.add_argument("--output", default=str(REPO / "BENCHMARKS.md"), help="markdown file to (re)write")
    parser.add_argument("--no-write", action="store_true", help="print the table, do not write the file")
    parser.add_argument("--arch", choices=("mlp", "conv"), help="throughput/efficiency/profile: this arch only")
    return parser.parse_args(argv)


def command(args, section: str) -> str:
    arch = f" --arch {args.arch}" if args.arch and section in ("throughput", "efficiency", "profile") else ""
    return f"python -m benchmarks{' --quick' if args.quick else ''} --only {section}{arch}"


def archs(args) -> tuple[str, ...]:
    return (args.arch,) if args.arch else ("mlp", "conv")


def throughput_section(report, plan: Plan, args, log) -> None:
    from benchmarks import throughput
    from benchmarks.report import fmt_ratio

    targets = {"mlp": 1.5, "conv": 2.0}
    for arch in archs(args):
        result = throughput.compare(arch, plan.epochs[arch], plan.repetitions[arch], log,
                                    iwae_samples=plan.iwae_samples)
        ours, ref = result.median("ours", "examples_per_second"), result.median("reference", "examples_per_second")
        cfg = result.config
        setup = (f"{arch} hidden {cfg.hidden}{' filters ' + str(cfg.filters) if arch == 'conv' else ''}, "
                 f"batch {cfg.batch_size}")
        report.add(f"training throughput, {setup}: examples/s, epochs 2–{cfg.epochs}, without validation",
                   f"{result.median('ours', 'train_examples_per_second'):,.0f}", f"{ref:,.0f}",
                   fmt_ratio(result.speedup), f"≥ {targets[arch]}×", command(args, "throughput"))
        report.add(f"the same, {arch}, ours with its per-epoch validation pass",
                   f"{ours:,.0f}", f"{ref:,.0f}", fmt_ratio(ours / ref), "—", command(args, "throughput"))
        cold, warm = result.ours[0].first_epoch_s, throughput.median(r.first_epoch_s for r in result.ours[1:])
        ref_first = result.median("reference", "first_epoch_s")
        report.add(f"first epoch (trace + compile), {arch}, s: ours cold / cached", f"{cold:.2f} / {warm:.2f}", f"{ref_first:.2f}",
                   fmt_ratio(ref_first / cold) + " (ref ÷ ours cold)", "—", command(args, "throughput"))
        gaps = throughput.quality_gap(result)
        report.add(f"quality at {cfg.epochs} epochs, {arch}: test nelbo / iwae_nll (k={plan.iwae_samples}), "
                   f"{plan.repetitions[arch]} seeds [nelbo range]",
                   _quality(result, "ours"), _quality(result, "reference"),
                   f"Δ {gaps['nelbo']:+.2f} / {gaps['iwae_nll']:+.2f}", "Δ within the seed range",
                   command(args, "throughput"))


def _quality(result, side: str) -> str:
    runs = getattr(result, side)
    low, high = min(run.nelbo for run in runs), max(run.nelbo for run in runs)
    return (f"{result.median(side, 'nelbo'):.2f} / {result.median(side, 'iwae_nll'):.2f} "
            f"[{low:.1f}–{high:.1f}]")


def efficiency_section(report, plan: Plan, args, log) -> None:
    from benchmarks import efficiency, machine
    from benchmarks.report import fmt_pct, fmt_ratio
    from vae.config import TrialConfig

    peak = machine.matmul_peak()
    report.details.append(f"- float32 matmul peak (median of 5 timed 2048×2048 `tf.matmul` runs): "
                          f"{peak / 1e9:.0f} GFLOP/s.")
    for arch, hidden, batch, target in (("mlp", [1024, 512], 256, "≥ 60 %"), ("mlp", [512, 256], 128,
                                        "— (default config)"), ("conv", [512, 256], 128, "≥ 50 %")):
        if arch not in archs(args):
            continue
        config = TrialConfig(arch=arch, hidden=hidden, batch_size=batch)
        result = efficiency.measure(config, peak, 3, plan.efficiency_repetitions, log)
        what = "mlp" if arch == "mlp" else f"conv filters {config.filters}"
        report.add(f"compute efficiency, {what} hidden {hidden}, batch {batch}: FLOP/s ÷ fp32 matmul peak "
                   f"({peak / 1e9:.0f} GFLOP/s)", f"{fmt_pct(result.ours)} ({result.ours_flops / 1e9:.0f} GFLOP/s)",
                   f"{fmt_pct(result.reference)} ({result.reference_flops / 1e9:.0f} GFLOP/s)",
                   fmt_ratio(result.ours / result.reference), target, command(args, "efficiency"))


def sweep_section(report, plan: Plan, args, log) -> None:
    from benchmarks import sweep_overhead
    from benchmarks.report import fmt_ratio

    one, two = sweep_overhead.measure(args.quick, log)
    grid = sweep_overhead.tiny_grid(args.quick)
    what = (f"{len(grid['search']['space']['beta'])}-point grid, mlp {grid['trial']['hidden']}, "
            f"{grid['trial']['epochs']} epochs, W&B offline")
    if not one.trials:
        report.add(f"sweep overhead ({what})", "not available", "≤ 1.05", "n/a", "≤ 1.05", one.how)
        return
    report.add(f"sweep overhead, whole command ({what}): wall ÷ Σ(train + eval s)", f"{one.wall_s:.1f} s ÷ {one.busy_s:.1f} s", "limit 1.05", fmt_ratio(one.ratio),
               "≤ 1.05", command(args, "sweep"))
    report.add(f"sweep overhead, trial loop only",
               f"{one.loop_s:.1f} s ÷ {one.busy_s:.1f} s", "limit 1.05", fmt_ratio(one.loop_ratio), "≤ 1.05",
               command(args, "sweep"))
    if two.trials:
        report.add(f"2 workers vs 1, same grid: wall-time speedup",
                   f"{two.wall_s:.1f} s", f"{one.wall_s:.1f} s (1 worker)", fmt_ratio(one.wall_s / two.wall_s),
                   "—", command(args, "sweep"))
    else:
        report.add("2 workers vs 1 worker", "not yet available", two.how, "n/a", "—", command(args, "sweep"))


def mainjob_section(report, plan: Plan, args, log) -> None:
    from benchmarks import main_job
    from benchmarks.report import fmt_ratio

    runs = main_job.measure(log)
    cmd = command(args, "mainjob")
    for run in runs:
        what = f"main job, `--workers {run.workers}`"
        if run.error:
            report.add(what, "not available", run.error, "n/a", "—", cmd)
            continue
        report.add(f"{what}: wall (CPU-s); overhead = wall ÷ (busy ÷ workers)", f"{run.wall_s:.0f} s ({run.cpu_s:.0f} CPU-s, {run.trials} trials)",
                   f"{run.busy_s:.0f} s busy", fmt_ratio(run.overhead), "≤ 120 s, ≤ 1.05", cmd)
        ratios = ", ".join(f"{key} {ratio:.2f}" for key, ratio in sorted(run.boundary.items()))
        same = [other.workers for other in runs if other is not run and other.boundary == run.boundary]
        if run is runs[0] or not same:
            both = f" (the same with `--workers {same[0]}`)" if same else ""
            report.add(f"{what}: where collapse begins, high/low per arch/latent/reduction{both}",
                       ratios or "none located", "limit 2", "—", "≤ 2", cmd)
        peaks = ", ".join(f"{name} {mb:,.0f} MB" for name, mb in sorted(run.peaks_mb.items()))
        report.add(f"{what}: peak RSS per process role",
                   peaks, "limit 2,048 MB", f"{max(run.peaks_mb.values()) / 2048:.2f} of the limit", "≤ 2 GB",
                   cmd)
        verdicts = ", ".join(f"{key} {count}" for key, count in sorted(run.statuses.items()))
        if run is not runs[0] and run.statuses == runs[0].statuses:
            verdicts = f"the same as --workers {runs[0].workers}"
        report.details.append(f"- main job --workers {run.workers}, report verdicts (model/arch/reduction/status "
                              f"count): {verdicts}")


def pruning_section(report, plan: Plan, args, log) -> None:
    from benchmarks import pruning

    arms = pruning.measure(plan.pruning_trials, plan.pruning_epochs, log)
    none = arms["none"]
    for name in ("median", "hyperband"):
        arm = arms[name]
        saved = 1.0 - arm.epochs / none.epochs
        report.add(f"pruning: TPE + {name} vs TPE, {arm.trials} trials × ≤ {plan.pruning_epochs} epochs: epochs "
                   f"trained; best test nelbo",
                   f"{arm.epochs} epochs ({arm.pruned} pruned); {arm.best_nelbo:.2f}",
                   f"{none.epochs} epochs; {none.best_nelbo:.2f}",
                   f"{saved:.0%} fewer epochs; Δ best {arm.best_nelbo - none.best_nelbo:+.2f}",
                   "≥ 40 % fewer, Δ ≤ 0", command(args, "pruning"))


def profile_section(report, plan: Plan, args, log) -> None:
    import tempfile

    from benchmarks import profiling

    with tempfile.TemporaryDirectory(prefix="vae-bench-profile-") as tmp:
        for arch in archs(args):
            for side, result in profiling.profile_both(arch, Path(tmp)).items():
                line = f"- profile, one training epoch, {arch}, {side}: {result.summary()}"
                report.details.append(line)
                log(line)


def report_section(report, plan: Plan, args, log) -> None:
    from benchmarks import machine, report_scale

    def write(runs) -> None:
        if not args.no_write:
            report_scale.write_section(Path(args.output), report_scale.markdown(
                runs, machine.describe(), machine.today(), machine.load_average()))

    runs = report_scale.measure_all(args.quick, log, write)
    if args.no_write:
        print(report_scale.markdown(runs, machine.describe(), machine.today()))


def scale_section(report, plan: Plan, args, log) -> None:
    from benchmarks import data_scale, machine
    from benchmarks.report_scale import write_section

    def write(rows, sweep) -> None:
        if not args.no_write:
            write_section(Path(args.output), data_scale.markdown(rows, sweep, machine.describe(), machine.today(),
                                                                 machine.load_average()),
                          data_scale.START, data_scale.END)

    rows, sweep = data_scale.measure_all(args.quick, log, write)
    if args.no_write:
        print(data_scale.markdown(rows, sweep, machine.describe(), machine.today()))


def main(argv=None) -> int:
    args = parse_args(argv)
    return run_main(lambda: measure(args))


def measure(args) -> int:
    plan = QUICK if args.quick else FULL
    from benchmarks import machine
    from benchmarks.report import Report, write

    def log(message: str) -> None:
        print(message, flush=True)

    report = Report(machine.describe(), machine.today(), machine.load_average(), args.quick)
    runners = {"throughput": throughput_section, "efficiency": efficiency_section, "sweep": sweep_section,
                "mainjob": mainjob_section, "pruning": pruning_section, "profile": profile_section,
                "report": report_section, "scale": scale_section}
    for section in args.only or SECTIONS:
        log(f"[{section}]")
        runners[section](report, plan, args, log)
    report.load_after = machine.load_average()
    if args.no_write:
        print(report.markdown())
    elif report.rows or report.details:  # `--only report` / `scale` write their own sections, not this table
        write(report, Path(args.output))
        log(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
