"""The sample metric's validation and cost (docs/samples.md, BENCHMARKS.md).

    python -m benchmarks.sample_metric validate RUNS/STUDY [--classifier-seeds 0,1,2]
    python -m benchmarks.sample_metric cost

`validate` reloads every saved trial of a finished sweep (`runs/<study>/trial-*`), decodes prior samples with two
sample seeds at N = test size and 4 × N, and scores them, and the calibration ladder, with classifiers trained from
several seeds (no cache): the ladder's order, whether every collapsed run scores worst, how often each AE scores
worse than each healthy VAE, whether each arch's AE is worse than its best healthy VAE, how often noise or the average
image beats a healthy VAE. `cost` times the classifier's training at three data sizes and the per-trial metric.
Both print Markdown.
"""
from __future__ import annotations

import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np

from analysis.numbers import fmt
from common.cli import OneLineParser
from common.collapse import COLLAPSED, HEALTHY, verdict
from vae import classifier, data, ladder, quality
from vae.config import TrialConfig

SAMPLE_SEEDS = (0, 1)
SIZE_FACTORS = (1, 4)


def _trials(root: Path) -> dict[str, dict]:
    trials = {}
    for folder in sorted(root.glob("trial-*"), key=lambda path: int(path.name.split("-")[1])):
        if not (folder / "decoder.keras").is_file() or not (folder / "metrics.json").is_file():
            continue
        config = TrialConfig(**json.loads((folder / "config.json").read_text()))
        recorded = json.loads((folder / "metrics.json").read_text())
        status = verdict(recorded.get("active_units"), recorded.get("recon_diversity"), config.latent_dim,
                         config.model)[0]
        trials[folder.name] = {"folder": folder, "config": config, "status": status,
                               "inactive": recorded.get("active_units") == 0}
    return trials


def _decode(trials: dict[str, dict], count: int) -> dict[tuple[str, int], np.ndarray]:
    from vae.saving import decode_means, load

    samples = {}
    for name, trial in trials.items():
        model, config = load(trial["folder"])
        for seed in SAMPLE_SEEDS:
            codes = np.random.default_rng(10_000 + seed).standard_normal((count, config.latent_dim))
            samples[(name, seed)] = decode_means(model, codes.astype(np.float32))
    return samples


def _classifier(grey: data.Splits, seed: int) -> classifier.Classifier:
    saved = classifier.SEED
    classifier.SEED = seed
    try:
        return quality.make(grey, quality.num_classes(grey), quality.SAMPLE_SEED_OFFSET)
    finally:
        classifier.SEED = saved


def validate(root: Path, classifier_seeds: list[int]) -> str:
    trials = _trials(root)
    if not trials:
        return f"no saved trials under {root}"
    config = next(iter(trials.values()))["config"]
    grey = data.load_splits(config).unbinarized()
    n = min(len(grey.test), quality.MAX_SAMPLES)
    samples = _decode(trials, max(SIZE_FACTORS) * n)
    healthy = [name for name, t in trials.items() if t["status"] == HEALTHY]
    collapsed = [name for name, t in trials.items() if t["status"] == COLLAPSED]
    inactive = [name for name, t in trials.items() if t["inactive"]]  # collapsed with no active unit at all
    aes = [name for name, t in trials.items() if t["config"].model == "ae"]
    ladders, rows, per_model = {}, [], {}
    for seed in classifier_seeds:
        trained = _classifier(grey, seed)
        ref = quality.assemble(trained, grey, quality.num_classes(grey), quality.SAMPLE_SEED_OFFSET)
        rungs = dict(zip(ladder.RUNGS, zip(trained.extras["ladder_kid"], trained.extras["ladder_kid_std"])))
        ladders[seed] = (trained.accuracy, rungs)
        kid = {k: ladder_kid[0] for k, ladder_kid in rungs.items()}
        counts = dict(ae_worse=0, ae_total=0, arch_ok=0, arch_total=0, collapsed_worst=0, inactive_worst=0,
                      settings=0, noise=0, average=0, fd_ae_worse=0, fd_collapsed_worst=0)
        for sample_seed, factor in itertools.product(SAMPLE_SEEDS, SIZE_FACTORS):
            scores = {name: ref.score(ref.features(samples[(name, sample_seed)][:factor * n]), 0) for name in trials}
            value = {name: score["kid"] for name, score in scores.items()}
            fd = {name: score["fd"] for name, score in scores.items()}  # FD in the same features, for comparison
            counts["fd_ae_worse"] += sum(fd[ae] > fd[h] for ae in aes for h in healthy)
            counts["fd_collapsed_worst"] += bool(collapsed) and min(fd[c] for c in collapsed) > max(
                fd[o] for o in trials if o not in collapsed)
            if seed == classifier_seeds[0] and (sample_seed, factor) == (0, 1):
                per_model = value
            for ae in aes:
                counts["ae_worse"] += sum(value[ae] > value[h] for h in healthy)
                counts["ae_total"] += len(healthy)
                same = [h for h in healthy if trials[h]["config"].arch == trials[ae]["config"].arch]
                counts["arch_ok"] += bool(same) and value[ae] > min(value[h] for h in same)
                counts["arch_total"] += 1
            counts["settings"] += 1
            for key, worst in (("collapsed_worst", collapsed), ("inactive_worst", inactive)):
                others = [name for name in trials if name not in worst]
                counts[key] += bool(worst) and min(value[c] for c in worst) > max(value[o] for o in others)
            counts["noise"] += sum(kid["noise"] < value[h] for h in healthy)
            counts["average"] += sum(kid["average"] < value[h] for h in healthy)
        order = (kid["real"] < kid["blur1"] < kid["blur2"] < kid["average"] and kid["real"] < kid["classes3"]
                 < kid["average"] and kid["noise"] > kid["blur1"])
        rows.append((seed, trained.accuracy, order, counts))
    return _markdown(root, trials, n, ladders, rows, per_model, len(healthy), len(collapsed), len(inactive))


def _markdown(root, trials, n, ladders, rows, per_model, healthy, collapsed, inactive) -> str:
    seeds = list(ladders)
    lines = [f"Validation on {root} ({len(trials)} saved trials: {healthy} healthy VAEs, {collapsed} collapsed "
             f"({inactive} of them with no active unit), "
             f"{sum(t['config'].model == 'ae' for t in trials.values())} AEs); N = {n} and {max(SIZE_FACTORS) * n} "
             f"samples × sample seeds {', '.join(map(str, SAMPLE_SEEDS))} against {n} test images; KID ×10³.", "",
             "| calibration set | " + " | ".join(f"classifier seed {s} ({ladders[s][0]:.1%})" for s in seeds) + " |",
             "|---|" + "---|" * len(seeds)]
    for rung in ladder.RUNGS:
        lines.append(f"| {ladder.LABELS[rung]} | " + " | ".join(
            f"{fmt(1e3 * ladders[s][1][rung][0])} ± {fmt(1e3 * ladders[s][1][rung][1], 2)}" for s in seeds) + " |")
    lines += ["", "| classifier seed | ladder order | collapsed runs worst (settings) | those with no active unit "
              "worst | AE worse than a healthy VAE | AE worse than its arch's best healthy VAE | noise beats a healthy "
              "VAE | average image beats a healthy VAE | FD (same features): collapsed worst, AE worse than a healthy "
              "VAE |", "|---|---|---|---|---|---|---|---|---|"]
    for seed, _, order, c in rows:
        lines.append(f"| {seed} | {'holds' if order else 'BROKEN'} | {c['collapsed_worst']} of {c['settings']} | "
                     f"{c['inactive_worst']} of {c['settings']} | {c['ae_worse']} of {c['ae_total']} | "
                     f"{c['arch_ok']} of {c['arch_total']} | {c['noise']} | {c['average']} | "
                     f"{c['fd_collapsed_worst']} of {c['settings']}, {c['fd_ae_worse']} of {c['ae_total']} |")
    lines += ["", f"Per trial (classifier seed {seeds[0]}, sample seed 0, N = {n}), best first:", "",
              "| trial | model | arch | reduction | β | latent | status | KID ×10³ |",
              "|---|---|---|---|---|---|---|---|"]
    for name in sorted(per_model, key=per_model.get):
        config = trials[name]["config"]
        lines.append(f"| {name} | {config.model} | {config.arch} | {config.reduction} | {config.beta:g} | "
                     f"{config.latent_dim} | {trials[name]['status']} | {fmt(1e3 * per_model[name])} |")
    return "\n".join(lines)


def _timed(function):
    wall, cpu = time.perf_counter(), time.process_time()
    result = function()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def cost() -> str:
    """Classifier training at three sizes and the per-trial metric at N = 500 and 2,000 (decoding excluded)."""
    digits = data.load_splits(TrialConfig(dataset="mnist5k"))
    rng = np.random.default_rng(0)
    tiled = np.concatenate([digits.train] * 14)[:56_000], np.concatenate([digits.train_labels] * 14)[:56_000]
    cifar = rng.random((48_000, 32, 32, 3), dtype=np.float32), rng.integers(0, 10, 48_000)
    sizes = {"mnist5k (4,000 train images)": (digits.train, digits.train_labels, digits.test, digits.test_labels),
             "70,000 digits (mnist5k tiled; 56,000 train)": (*tiled, digits.test, digits.test_labels),
             "60,000 CIFAR-sized 32×32×3 (generated; 48,000 train)": (*cifar, cifar[0][:6000], cifar[1][:6000])}
    lines = ["| what | examples × epochs | wall s | CPU s | test accuracy |", "|---|---|---|---|---|"]
    trained = None
    for what, (x, y, xt, yt) in sizes.items():
        result, wall, cpu = _timed(lambda: classifier.train(x, y, xt, yt, 10))
        trained = trained or result
        accuracy = f"{result.accuracy:.1%}" if "generated" not in what else "n/a (random labels)"
        lines.append(f"| classifier training, {what} | {result.train_examples:,} × {result.epochs} | {wall:.1f} | "
                     f"{cpu:.1f} | {accuracy} |")
    ref = quality.assemble(quality.make(digits, 10, 0), digits, 10, 0)
    for count in (500, 2000):
        images = np.concatenate([digits.test] * 4)[:count]
        def measure() -> None:
            with quality.single_threaded_blas():  # as vae.quality.sample_metrics runs it
                ref.score(ref.features(images), 0)

        _, wall, cpu = _timed(measure)
        lines.append(f"| per trial: features + KID + spread + FD of {count:,} samples (against "
                     f"{len(ref.test_features):,} test images) | — | {wall:.2f} | {cpu:.2f} | — |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = OneLineParser(prog="python -m benchmarks.sample_metric", description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("validate", "cost"))
    parser.add_argument("folder", nargs="?", help="validate: the study's artifact folder (runs/<study>)")
    parser.add_argument("--classifier-seeds", default="0,1,2")
    args = parser.parse_args(argv)
    if args.what == "validate":
        if not args.folder:
            parser.error("validate needs the study's artifact folder")
        print(validate(Path(args.folder), [int(s) for s in args.classifier_seeds.split(",")]))
    else:
        print(cost())
    return 0


if __name__ == "__main__":
    sys.exit(main())
