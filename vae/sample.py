"""`python -m vae.sample`: labelled pictures from a saved trial, without retraining.

    python -m vae.sample TRIAL_DIR [--out DIR] [--n N] [--seed S]
    python -m vae.sample --storage URL --study NAME --trial N [--out DIR] [--n N] [--seed S]

Writes into DIR (default TRIAL_DIR/sampled): samples.png (N prior samples), reconstructions.png,
traversals.png (the most informative latent dims, ordered by KL per dim; the least informative one last, to
show that an inactive dim changes nothing), interpolations.png (between test images), and for latent_dim = 2
latent_scatter.png (test encodings coloured by label) and manifold.png (decoded over the prior's quantiles).
A folder that is not a saved trial, an incomplete one (its run stopped while writing it), or any other bad input:
one `error:` line, exit code 2, nothing written.
"""
from __future__ import annotations

import argparse
import json
import sys
from common.results import ARTIFACT_DIR, METRICS_FILE, folder_complete
from pathlib import Path
from typing import Sequence

import numpy as np
from scipy.stats import norm

from common.cli import EXIT_OK, OneLineParser, run_main
from common.collapse import verdict
from vae import metrics, plots
from vae.config import TrialConfig
from common.errors import UserError, disk_fault

TRAVERSAL_ROWS = 8
TRAVERSAL_QUANTILES = np.linspace(0.05, 0.95, 9)
MANIFOLD_SIZE = 15


def traversal(model, config: TrialConfig, images: np.ndarray) -> tuple[list[np.ndarray], list[str], list[str]]:
    """Rows of decoded codes where one latent dim sweeps its range around the first image's code.

    VAE: dims ordered by their test KL (nats), values = the prior's quantiles. AE (no KL): ordered by the spread
    of the codes, values = each dim's mean + sd × the same normal quantiles."""
    from vae.saving import decode_means, encode_means

    means, logvars = encode_means(model, images)
    quantiles = norm.ppf(TRAVERSAL_QUANTILES).astype(np.float32)
    if config.model == "vae":
        score = metrics.kl_per_dim(means, logvars).mean(axis=0)
        label = "{dim}: KL {score:.2f} nats{note}"
        centre, scale = np.zeros(config.latent_dim), np.ones(config.latent_dim)
    else:
        score = means.std(axis=0)
        label = "{dim}: code sd {score:.2f}{note}"
        centre, scale = means.mean(axis=0), means.std(axis=0)
    order = list(np.argsort(-score))
    shown = order if len(order) <= TRAVERSAL_ROWS else order[:TRAVERSAL_ROWS - 1] + order[-1:]
    codes = np.repeat(means[:1], len(shown) * len(quantiles), axis=0).reshape(len(shown), len(quantiles), -1)
    labels = []
    for row, dim in enumerate(shown):
        codes[row, :, dim] = centre[dim] + scale[dim] * quantiles
        inactive = config.model == "vae" and score[dim] < plots.INACTIVE_KL
        labels.append(label.format(dim=plots.dim_name(dim), score=score[dim], note=" (inactive)" if inactive else ""))
    rows = list(decode_means(model, codes.reshape(-1, config.latent_dim)).reshape(len(shown), len(quantiles),
                                                                                   *images.shape[1:]))
    columns = [f"q={q:.2f}" for q in TRAVERSAL_QUANTILES]
    return rows, labels, columns


def write_traversal(path: Path, model, config: TrialConfig, images: np.ndarray, status: str | None = None) -> Path:
    rows, labels, columns = traversal(model, config, images)
    what = ("prior quantile q of the traversed dim" if config.model == "vae"
            else "normal quantile q of the traversed code dim")
    return plots.grid_with_labels(path, rows, "Latent traversals: one dim varied, the others fixed at the first "
                                  f"test image's code\n{plots.describe(config, status)}", labels, columns, xlabel=what)


def write_interpolations(path: Path, model, config: TrialConfig, images: np.ndarray, labels: np.ndarray | None,
                         pairs: int = 6, steps: int = 8, status: str | None = None) -> Path:
    from vae.saving import decode_means, encode_means

    pairs = max(1, min(pairs, len(images) // 2))
    means, _ = encode_means(model, images[:2 * pairs])
    weights = np.linspace(0.0, 1.0, steps, dtype=np.float32)[:, None]
    rows, names = [], []
    for index in range(pairs):
        start, end = means[2 * index], means[2 * index + 1]
        decoded = decode_means(model, (1 - weights) * start + weights * end)
        rows.append(np.concatenate([images[2 * index][None], decoded, images[2 * index + 1][None]]))
        names.append(f"{labels[2 * index]} → {labels[2 * index + 1]}" if labels is not None else f"pair {index + 1}")
    columns = ["image A", *[f"t={t:.2f}" for t in weights[:, 0]], "image B"]
    return plots.grid_with_labels(path, rows, "Interpolations: decoded (1−t)·code(A) + t·code(B) between test "
                                  f"images\n{plots.describe(config, status)}", names, columns)


def write_manifold(path: Path, model, config: TrialConfig, status: str | None = None) -> Path:
    from vae.saving import decode_means

    values = norm.ppf(np.linspace(0.05, 0.95, MANIFOLD_SIZE)).astype(np.float32)
    z1, z2 = np.meshgrid(values, values[::-1])  # z2 grows upwards, as on a plot
    decoded = decode_means(model, np.stack([z1.ravel(), z2.ravel()], axis=1))
    return plots.manifold(path, decoded, values, config, status)


def write_latent_scatter(path: Path, model, config: TrialConfig, images: np.ndarray,
                         labels: np.ndarray | None, status: str | None = None) -> Path:
    from vae.saving import encode_means

    return plots.latent_scatter(path, encode_means(model, images)[0], labels, config, status)


def recorded_status(folder: Path, config: TrialConfig) -> str | None:
    """The collapse status (`common.collapse`) from the trial's metrics.json; None if it has none."""
    try:
        recorded = json.loads((folder / METRICS_FILE).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(recorded, dict):
        return None
    return verdict(recorded.get("active_units"), recorded.get("recon_diversity"), config.latent_dim, config.model)[0]


def write_all(model, config: TrialConfig, out: Path, count: int, seed: int, status: str | None = None) -> list[Path]:
    from vae import data
    from vae.saving import decode_means, encode_means

    splits = data.load_splits(config)
    rng = np.random.default_rng(seed)
    picked = rng.permutation(len(splits.test))
    images = splits.test[picked]
    labels = splits.test_labels[picked] if splits.test_labels is not None else None
    codes = rng.standard_normal((count, config.latent_dim)).astype(np.float32)
    out.mkdir(parents=True, exist_ok=True)
    written = [plots.samples(out / "samples.png", decode_means(model, codes), config, status),
               plots.reconstructions(out / "reconstructions.png", images,
                                     decode_means(model, encode_means(model, images[:12])[0]), config, status=status),
               write_traversal(out / "traversals.png", model, config, images, status),
               write_interpolations(out / "interpolations.png", model, config, images, labels, status=status)]
    if config.latent_dim == 2:
        written += [write_latent_scatter(out / "latent_scatter.png", model, config, splits.test, splits.test_labels,
                                         status),
                    write_manifold(out / "manifold.png", model, config, status)]
    return written


def trial_folder(storage: str, study: str, number: int) -> Path:
    """The artifact folder that trial `number` of `study` recorded (user attr `artifact_dir`)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    if storage.startswith("sqlite:///") and not Path(storage[len("sqlite:///"):]).is_file():
        raise UserError(f"--storage {storage}: no such SQLite file")
    try:
        loaded = optuna.load_study(study_name=study, storage=storage)
    except KeyError:
        raise UserError(f"--study {study!r}: no such study in the storage") from None
    except Exception as error:  # noqa: BLE001 - connection problems are the user's to fix
        raise UserError(f"--storage: cannot open ({type(error).__name__})") from None
    found = [trial for trial in loaded.get_trials(deepcopy=False) if trial.number == number]
    if not found:
        raise UserError(f"--trial {number}: study {study!r} has no trial with that number")
    folder = found[0].user_attrs.get(ARTIFACT_DIR)
    if not folder:
        raise UserError(f"--trial {number}: the trial recorded no artifact folder")
    return Path(folder)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = OneLineParser(prog="python -m vae.sample", description=__doc__.split("\n\n")[0])
    parser.add_argument("trial_dir", nargs="?", help="a trial's artifact folder (runs/<study>/trial-<n>)")
    parser.add_argument("--storage", help="Optuna storage URL, to find the folder of --study/--trial")
    parser.add_argument("--study", help="study name (with --storage)")
    parser.add_argument("--trial", type=int, help="trial number (with --storage)")
    parser.add_argument("--out", help="output folder (default: TRIAL_DIR/sampled)")
    parser.add_argument("--n", type=int, default=64, help="number of prior samples (default 64)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the prior draws and test images (default 0)")
    args = parser.parse_args(argv)
    by_storage = [args.storage, args.study, args.trial]
    if args.trial_dir is None and any(value is None for value in by_storage):
        parser.error("give TRIAL_DIR, or all of --storage, --study and --trial")
    if args.trial_dir is not None and any(value is not None for value in by_storage):
        parser.error("give either TRIAL_DIR or --storage/--study/--trial, not both")
    if not 1 <= args.n <= 10_000:
        parser.error(f"--n: must be between 1 and 10000 (got {args.n})")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)

    def body() -> int:
        from vae.saving import load, read_saved

        folder = Path(args.trial_dir) if args.trial_dir else trial_folder(args.storage, args.study, args.trial)
        _, meta = read_saved(folder)  # refuse a non-trial folder before TensorFlow starts
        if len(meta["image_shape"]) == 1:
            raise UserError(f"{folder}: this model was trained on vectors of {meta['image_shape'][0]} values, not "
                            f"images: there are no pictures to draw (its samples.npz and reconstructions.npz hold "
                            f"the arrays)")
        if not folder_complete(folder):
            raise UserError(f"{folder}: incomplete trial folder, skipped (no {METRICS_FILE}: its run stopped while "
                            f"writing it); run the trial again or choose another one")
        out = Path(args.out) if args.out else folder / "sampled"
        if out.exists() and not out.is_dir():
            raise UserError(f"--out {out}: is a file, not a folder")
        try:
            model, config = load(folder)
        except UserError:
            raise
        except Exception as error:  # noqa: BLE001 - a damaged .keras file
            raise UserError(f"{folder}: cannot load the saved model ({type(error).__name__})") from None
        try:
            written = write_all(model, config, out, args.n, args.seed, recorded_status(folder, config))
        except OSError as error:
            raise disk_fault(error, out) or UserError(
                f"cannot write ({error.strerror or type(error).__name__}: {error.filename})") from None
        print(f"{plots.describe(config)}: wrote {len(written)} images to {out}")
        for path in written:
            print(f"  {path}")
        return EXIT_OK

    return run_main(body)


if __name__ == "__main__":
    sys.exit(main())
