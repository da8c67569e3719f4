"""Train one VAE/AE and evaluate it on the test split: `run(TrialConfig) -> TrialResult`, and its CLI.

    python -m vae.train [--set key=value ...] [--out DIR]
"""
from __future__ import annotations

import csv
import json
import os
import sys
from argparse import RawDescriptionHelpFormatter
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args, get_origin

import numpy as np

from common.cli import EXIT_OK, OneLineParser, run_main
from common.collapse import effective_beta, verdict
from common.results import METRICS_FILE, TrialResult
from vae import classifier, data, plots, quality
from vae.config import DATASETS, TrialConfig, build_trial_config, parse_overrides
from common.errors import MACHINE_ERRNOS, NonFiniteLoss, UserError, disk_fault

if TYPE_CHECKING:
    from vae.fit import EpochHook


def run(config: TrialConfig, out_dir: str | Path | None = None, on_epoch: EpochHook | None = None,
        verbose: int = 0) -> TrialResult:
    """Train, evaluate on the test split, write artifacts into `out_dir` (if given).

    Data are loaded (and bad data refused) before TensorFlow is imported. The folder is complete once it holds
    `metrics.json` (`common.results.folder_complete`), written last; a folder written again is incomplete until then.
    """
    splits = data.load_splits(config)
    if out_dir is not None:
        (Path(out_dir) / METRICS_FILE).unlink(missing_ok=True)
    from vae.fit import fit  # TensorFlow starts here

    fitted = fit(config, splits, on_epoch, verbose)
    if out_dir is not None and config.save_model:
        from vae import saving  # before evaluation draws from the model's random state (restored on load)

        saving.save(fitted.model, Path(out_dir))
    evaluation_started, cpu_started = time.perf_counter(), time.process_time()
    test_metrics, recon_images = fitted.evaluator.full(splits.test, config.iwae_samples, config.seed,
                                                       config.eval_limit)
    result = TrialResult(
        **test_metrics,
        effective_beta=effective_beta(config.beta, config.reduction, splits.num_pixels),
        train_seconds=fitted.train_seconds,
        eval_seconds=time.perf_counter() - evaluation_started,  # test metrics incl. IWAE
        eval_cpu_seconds=time.process_time() - cpu_started,
        epoch_seconds=min(fitted.epoch_seconds),
        epoch_cpu_seconds=min(fitted.epoch_cpu_seconds),
        epochs_run=len(fitted.history),
        examples_per_second=fitted.examples_seen / fitted.train_seconds,
        **sample_quality(config, fitted.model, splits),
        image_outputs_skipped=VECTORS_SKIP if splits.vectors else None,
        history=fitted.history,
    )
    if out_dir is not None:
        result.artifact_dir = write_artifacts(Path(out_dir), result, splits, recon_images, fitted.model, config)
    return result


VECTORS_SKIP = ("the data are vectors (n, d), not images: no sharpness, no PNG figures, no sample classifier "
                "(the reconstructions and samples are still saved as .npz)")


def sample_quality(config: TrialConfig, model, splits: data.Splits) -> dict[str, Any]:
    """vae.quality's sample metrics (all None, with the reason, when they cannot or should not be computed)."""
    if not config.sample_metrics:
        return {quality.SKIP_KEY: "sample_metrics=false in the trial config"}
    if splits.vectors:
        return {quality.SKIP_KEY: VECTORS_SKIP}
    from vae.saving import decode_means

    started = time.perf_counter()
    try:
        values = quality.sample_metrics(config, lambda codes: decode_means(model, codes), splits)
    except OSError as error:  # the classifier cache cannot be read or written: the trial itself is fine
        if error.errno in MACHINE_ERRNOS:  # ... unless the disk is full or failing: a fault of the machine
            raise
        reason = f"classifier cache {classifier.cache_dir()}: {error.strerror or type(error).__name__}"
        return {quality.SKIP_KEY: reason}
    return {**values, "sample_metrics_seconds": time.perf_counter() - started}


def write_artifacts(out_dir: Path, result: TrialResult, splits: data.Splits, recons: np.ndarray, model,
                    config: TrialConfig) -> Path:
    from vae.sample import write_manifold, write_traversal

    originals, samples = splits.test, model.decode_prior(64).numpy()
    status = verdict(result.active_units, result.recon_diversity, config.latent_dim, config.model)[0]
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / "history.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(result.history[0]) if result.history else ["epoch"])
        writer.writeheader()
        writer.writerows(result.history)
    if not splits.vectors:
        plots.reconstructions(out_dir / "reconstructions.png", originals, recons, config, status=status)
        plots.samples(out_dir / "samples.png", samples, config, status)
        write_traversal(out_dir / "traversals.png", model, config, originals, status)
        if config.latent_dim == 2:
            write_manifold(out_dir / "manifold.png", model, config, status)
    np.savez_compressed(out_dir / "reconstructions.npz", originals=originals[:64].astype(np.float32),
                        reconstructions=recons[:64].astype(np.float32))
    np.savez_compressed(out_dir / "samples.npz", samples=samples.astype(np.float32))
    partial = out_dir / f".{METRICS_FILE}.partial"  # written whole, then renamed: the folder's completion marker
    partial.write_text(json.dumps(result.as_dict(), indent=2, allow_nan=False) + "\n")
    os.replace(partial, out_dir / METRICS_FILE)
    return out_dir


def describe_keys() -> str:
    """One line per TrialConfig key: its default and the values it accepts (for --help)."""
    bounds = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}
    lines = []
    for name, field in TrialConfig.model_fields.items():
        if get_origin(field.annotation) is Literal:
            allowed = " | ".join(get_args(field.annotation))
        elif name == "dataset":
            allowed = " | ".join(DATASETS) + " | npz:PATH"
        elif name == "eval_examples":
            allowed = "int >= 1 | all"
        else:
            kind = field.annotation.__name__ if isinstance(field.annotation, type) else str(field.annotation)
            limits = [f"{sign} {getattr(item, attr)}" for item in field.metadata
                      for attr, sign in bounds.items() if getattr(item, attr, None) is not None]
            allowed = kind + (" " + ", ".join(limits) if limits else "")
        default = field.get_default(call_default_factory=True)
        lines.append(f"  {name:<17} {allowed}  (default: {default})")
    return "\n".join(lines)


def verdict_line(result: TrialResult, config: TrialConfig) -> str:
    """The run's collapse verdict (`common.collapse.verdict`) with its evidence, as one line."""
    status, evidence = verdict(result.active_units, result.recon_diversity, config.latent_dim, config.model)
    weight = "" if config.model == "ae" else f"; effective β {result.effective_beta:g}"
    return f"verdict: {status} ({evidence}{weight})"


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="python -m vae.train", description=__doc__.splitlines()[0],
                                     formatter_class=RawDescriptionHelpFormatter,
                                     epilog="keys for --set (see docs/config.md):\n" + describe_keys())
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key (listed below), e.g. --set beta=4 --set reduction=mean")
    parser.add_argument("--out", default="runs/single", help="artifact folder (default: runs/single)")
    parser.add_argument("--verbose", type=int, default=0, help="Keras fit verbosity")
    args = parser.parse_args(argv)

    def body() -> int:
        config = build_trial_config(parse_overrides(args.set), source="--set")
        try:
            result = run(config, args.out, verbose=args.verbose)
        except NonFiniteLoss as error:  # a NaN loss comes from the chosen settings: a user error too
            raise UserError(str(error)) from None
        except OSError as error:  # a full or failing disk: exit code 75 (a fault of the machine)
            raise disk_fault(error, args.out) or error from None
        shown = {key: value for key, value in result.as_dict().items() if key != "kl_per_dim"}
        print(json.dumps(shown, indent=2))
        print(f"artifacts: {result.artifact_dir}")
        print(verdict_line(result, config))
        return EXIT_OK

    return run_main(body)


if __name__ == "__main__":
    sys.exit(main())
