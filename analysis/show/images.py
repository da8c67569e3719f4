"""Reconstruction images from the trials' artifact folders, which runs to show side by side, and the figure.

Each artifact folder holds `reconstructions.npz` (arrays `originals`, `reconstructions`, float (n, h, w, c) in
[0, 1]), written by `vae.train`.
"""
from __future__ import annotations

import math
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from analysis.numbers import fmt
from analysis.read.frame import finished
from common.results import ARTIFACT_DIR, IMAGE_OUTPUTS_SKIPPED, KEY

NPZ = "reconstructions.npz"


def _folder(artifact_dir: Any) -> Path | None:
    if not isinstance(artifact_dir, str) or not artifact_dir:
        return None
    folder = Path(artifact_dir)
    return folder if folder.is_dir() else None


def has_reconstructions(artifact_dir: Any) -> bool:
    folder = _folder(artifact_dir)
    return folder is not None and (folder / NPZ).is_file()


def strip(images: np.ndarray, n_images: int) -> np.ndarray:
    """(n, h, w[, c]) -> one image of the first `n_images` side by side with a 1-pixel white gap."""
    images = np.clip(np.asarray(images, dtype=float)[:n_images], 0.0, 1.0)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    gap_shape = (images.shape[1], 1) + images.shape[3:]
    pieces = []
    for index, image in enumerate(images):
        if index:
            pieces.append(np.ones(gap_shape))
        pieces.append(image)
    return np.concatenate(pieces, axis=1)


def load_reconstructions(artifact_dir: Any, n_images: int = 8) -> tuple[np.ndarray | None, np.ndarray] | None:
    """(originals strip, reconstructions strip) for one trial, or None when the folder has no readable npz."""
    folder = _folder(artifact_dir)
    if folder is None or not (folder / NPZ).is_file():
        return None
    try:
        with np.load(folder / NPZ) as arrays:
            if arrays["reconstructions"].ndim < 3:  # vectors (n, d): nothing to draw
                return None
            originals = arrays["originals"] if "originals" in arrays.files else None
            return (strip(originals, n_images) if originals is not None else None,
                    strip(arrays["reconstructions"], n_images))
    except (OSError, KeyError, ValueError):
        return None


def _sorted(frame: pd.DataFrame, ascending: bool) -> list[dict]:
    if frame.empty:
        return []
    key = frame["effective_beta"].astype(float).fillna(frame["beta"].astype(float))
    return frame.assign(_key=key).sort_values("_key", ascending=ascending).drop(columns="_key").to_dict("records")


def _healthy_picks(frame: pd.DataFrame, room: int) -> list[dict]:
    """The best healthy run (lowest recon NLL) and typical ones (nearest the median recon NLL)."""
    if frame.empty or room <= 0:
        return []
    nll = pd.to_numeric(frame[KEY.recon_nll], errors="coerce")
    if nll.isna().all():
        return [{**row, "role": "healthy"} for row in _sorted(frame, True)[:room]]
    best = frame.loc[[nll.idxmin()]].to_dict("records")[0]
    picks = [{**best, "role": "best healthy (lowest recon NLL)"}]
    typical = (nll - nll.median()).abs().drop(index=nll.idxmin()).sort_values()
    for index in typical.index[: room - 1]:
        picks.append({**frame.loc[index].to_dict(), "role": "typical healthy (median recon NLL)"})
    return picks


def pick_runs(frame: pd.DataFrame, max_runs: int = 6) -> list[dict]:
    """Up to `max_runs` finished runs with images, each with a `role`: collapsed ones (strongest regularisation
    first) next to the best and typical healthy runs, one partial and one AE when there are any."""
    if frame.empty:
        return []
    usable = frame[frame[ARTIFACT_DIR].map(has_reconstructions).astype(bool)]
    by_status = {status: usable[usable["status"] == status] for status in ("collapsed", "partial", "healthy", "ae")}
    extras = [rows[0] for rows in (_sorted(by_status["partial"], True), _sorted(by_status["ae"], True)) if rows]
    room = max(max_runs - len(extras), 2)
    collapsed = _sorted(by_status["collapsed"], False)[: math.ceil(room / 2)]
    healthy = _healthy_picks(by_status["healthy"], room - len(collapsed))
    return (collapsed + healthy + extras)[:max_runs]


def reconstruction_grid(frame: pd.DataFrame, n_images: int = 8, max_runs: int = 6) -> Figure:
    """Originals on top, then the reconstructions of collapsed runs next to healthy ones (and the AE)."""
    runs = pick_runs(finished(frame), max_runs)
    loaded = [(row, load_reconstructions(row.get(ARTIFACT_DIR), n_images)) for row in runs]
    loaded = [(row, images) for row, images in loaded if images is not None]
    fig = Figure(figsize=(1.2 * n_images + 2.5, 1.3 * (len(loaded) + 1) + 0.5), layout="constrained")
    if not loaded:
        ax = fig.subplots()
        skipped = frame.get(IMAGE_OUTPUTS_SKIPPED, pd.Series(dtype=object)).dropna()
        message = (f"no pictures to show: {skipped.iloc[0]}" if len(skipped)
                   else "no reconstructions found in the artifact folders")
        ax.text(0.5, 0.5, textwrap.fill(message, 90), ha="center", va="center")
        ax.set_axis_off()
        return fig
    originals = next((images[0] for _, images in loaded if images[0] is not None), None)
    rows = [("originals", originals)] + [(_run_label(row), images[1]) for row, images in loaded]
    grid = fig.subplots(len(rows), 1, squeeze=False)[:, 0]
    for ax, (label, strip) in zip(grid, rows):
        ax.set_axis_off()
        ax.set_title(label, fontsize=9, loc="left")
        if strip is not None:
            ax.imshow(strip, cmap="gray" if strip.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
    return fig


def _run_label(row: dict) -> str:
    built = f"arch={row.get('arch')} latent_dim={row.get('latent_dim')}"
    role = f" — {row['role']}" if row.get("role") else ""
    if row.get("model") == "ae":
        return f"#{row['number']} AE {built} [{row['status']}]{role}"
    return (f"#{row['number']} VAE {built} reduction={row['reduction']} β={fmt(row['beta'])} "
            f"(effective β {fmt(row['effective_beta'])}) [{row['status']}]{role}")
