"""Labelled PNG figures of images (matplotlib's Agg canvas, no pyplot: safe in workers and notebooks).

Every figure says what it shows: a title naming the trial and the quantity, and row/column labels.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from vae.images import tile

DPI = 100
INACTIVE_KL = 0.01  # nats: a dimension below this carries (almost) no information about x


def describe(config) -> str:
    """One line naming a trial: model, arch, latent size, β and reduction (the AE has no β)."""
    if config.model == "ae":
        return f"AE, {config.arch}, latent {config.latent_dim}"
    return f"VAE, {config.arch}, latent {config.latent_dim}, β={config.beta:g}, reduction={config.reduction}"


def _figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(figure)
    return figure


def _show(ax, images: np.ndarray, columns: int) -> None:
    canvas = tile(images, columns)
    ax.imshow(canvas[..., 0] if canvas.shape[-1] == 1 else canvas, cmap="gray", vmin=0, vmax=255,
              interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def _cell_centres(count: int, size: int, pad: int = 1) -> list[float]:
    return [pad + index * (size + pad) + (size - 1) / 2 for index in range(count)]


def _save(figure: Figure, path: Path) -> Path:
    figure.savefig(path, dpi=DPI, bbox_inches="tight", pad_inches=0.08)
    return path


def grid_with_labels(path: Path, rows: list[np.ndarray], title: str, row_labels: list[str],
                     column_labels: list[str] | None = None, xlabel: str | None = None) -> Path:
    """Rows of equally many images, each row labelled on the left (and optionally each column on top)."""
    columns = len(rows[0])
    images = np.concatenate(rows)
    height, width = images.shape[1:3]
    figure = _figure(0.55 * columns + 1.8, 0.55 * len(rows) * height / width + 1.0)
    ax = figure.add_subplot()
    _show(ax, images, columns)
    ax.set_yticks(_cell_centres(len(rows), height), row_labels, fontsize=8)
    if column_labels is not None:
        ax.set_xticks(_cell_centres(columns, width), column_labels, fontsize=7)
    if xlabel:
        ax.set_xlabel(xlabel, fontsize=8)
    ax.tick_params(length=0)
    figure.suptitle(title, fontsize=9)
    return _save(figure, path)


def reconstructions(path: Path, originals: np.ndarray, recons: np.ndarray, config, count: int = 12) -> Path:
    return grid_with_labels(path, [originals[:count], recons[:count]],
                            f"Test images and their reconstructions (decoder mean at z = μ(x))\n{describe(config)}",
                            ["test image", "reconstruction"])


def samples(path: Path, images: np.ndarray, config, columns: int = 8) -> Path:
    if config.model == "ae":
        title = ("Decoded z ~ N(0, I): an AE has no prior over z, so these are NOT samples of a generative model "
                 f"(shown for comparison)\n{describe(config)}")
    else:
        title = f"Prior samples: decoder mean of z ~ N(0, I)\n{describe(config)}"
    images = images[: (len(images) // columns) * columns or len(images)]
    height, width = images.shape[1:3]
    rows = -(-len(images) // columns)
    figure = _figure(0.55 * columns + 0.6, 0.55 * rows * height / width + 0.9)
    ax = figure.add_subplot()
    _show(ax, images, columns)
    figure.suptitle(title, fontsize=8 if config.model == "ae" else 9)
    return _save(figure, path)


def manifold(path: Path, images: np.ndarray, values: np.ndarray, config) -> Path:
    """Decoded grid over z1, z2 (latent_dim = 2): `images` row-major, z1 = `values` along a row, z2 = `values`
    from the bottom row up."""
    size = len(values)
    height, width = images.shape[1:3]
    figure = _figure(7.0, 7.0)
    ax = figure.add_subplot()
    _show(ax, images, size)
    shown = list(range(0, size, 2))
    ax.set_xticks([_cell_centres(size, width)[i] for i in shown], [f"{values[i]:.2f}" for i in shown], fontsize=7)
    ax.set_yticks([_cell_centres(size, height)[i] for i in shown], [f"{values[::-1][i]:.2f}" for i in shown],
                  fontsize=7)
    ax.set_xlabel("z₁ (prior quantiles 5 %…95 %)", fontsize=8)
    ax.set_ylabel("z₂", fontsize=8)
    note = "" if config.model == "vae" else " (an AE's codes need not follow N(0, I))"
    figure.suptitle(f"Decoded manifold: decoder mean over the N(0, I) quantiles{note}\n{describe(config)}",
                    fontsize=9)
    return _save(figure, path)


def latent_scatter(path: Path, means: np.ndarray, labels: np.ndarray | None, config) -> Path:
    figure = _figure(6.0, 5.2)
    ax = figure.add_subplot()
    if labels is None:
        ax.scatter(means[:, 0], means[:, 1], s=6, alpha=0.7)
    else:
        points = ax.scatter(means[:, 0], means[:, 1], c=labels, cmap="tab10", s=6, alpha=0.8,
                            vmin=-0.5, vmax=max(9.5, labels.max() + 0.5))
        colorbar = figure.colorbar(points, ax=ax, ticks=np.unique(labels))
        colorbar.set_label("digit label")
    what = "μ(x)" if config.model == "vae" else "code"
    ax.set_xlabel(f"{what}₁")
    ax.set_ylabel(f"{what}₂")
    ax.set_title(f"Test images encoded ({what} per image), coloured by label\n{describe(config)}", fontsize=9)
    return _save(figure, path)
