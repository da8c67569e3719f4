"""Labelled PNG figures of image grids, drawn with Pillow (fast enough for every sweep trial).

Every figure says what it shows: a title naming the trial and the quantity, and row/column labels. The font is
matplotlib's bundled DejaVu Sans (it has the Greek letters and subscripts); the latent scatter, the only
real plot, uses matplotlib itself (`vae.sample` only).
"""
from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from common.collapse import COLLAPSED
from vae.images import tile

INACTIVE_KL = 0.01  # nats: a dimension below this carries (almost) no information about x
SCALE = 2  # pixels per image pixel
MARGIN = 8


SUBSCRIPTS = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


def describe(config, status: str | None = None) -> str:
    """One line naming a trial: model, arch, latent size, β and reduction (the AE has no β); a second line when
    the run collapsed (`common.collapse` status)."""
    if config.model == "ae":
        text = f"AE, {config.arch}, latent {config.latent_dim}"
    else:
        text = f"VAE, {config.arch}, latent {config.latent_dim}, β={config.beta:g}, reduction={config.reduction}"
    if status == COLLAPSED:
        text += "\nCOLLAPSED run: the decoder ignores z (about the same image for every z)"
    return text


def dim_name(index: int) -> str:
    """The latent dimension `index` (0-based) as every image names it: z₁, z₂, …"""
    return f"z{str(index + 1).translate(SUBSCRIPTS)}"


@functools.lru_cache(maxsize=4)
def font(size: int = 13) -> ImageFont.FreeTypeFont:
    import matplotlib

    return ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"), size)


def _width(text: str, size: int = 13) -> int:
    left, _, right, _ = font(size).getbbox(text)
    return right - left


def grid_with_labels(path: Path, rows: list[np.ndarray], title: str, row_labels: list[str] | None = None,
                     column_labels: list[str] | None = None, xlabel: str | None = None) -> Path:
    """Rows of equally many images (n, h, w, c) in [0, 1]; a title (lines split at "\\n") above, each row
    labelled on the left, each column labelled below, an axis label under those."""
    columns = len(rows[0])
    canvas = tile(np.concatenate(rows), columns)
    grid = Image.fromarray(canvas[..., 0] if canvas.shape[-1] == 1 else canvas).convert("RGB")
    grid = grid.resize((grid.width * SCALE, grid.height * SCALE), Image.NEAREST)
    cell_h, cell_w = (rows[0].shape[1] + 1) * SCALE, (rows[0].shape[2] + 1) * SCALE
    small, line = 11, 17
    left = MARGIN + max([_width(label) for label in row_labels or []] + [0]) + (MARGIN if row_labels else 0)
    title_lines = title.split("\n")
    top = MARGIN + line * len(title_lines) + MARGIN // 2
    bottom = MARGIN + (line if column_labels else 0) + (line if xlabel else 0)
    width = max(left + grid.width + MARGIN, max(_width(text) for text in title_lines) + 2 * MARGIN)
    left += (width - left - grid.width - MARGIN) // 2  # a title wider than the grid: the grid stays centred
    picture = Image.new("RGB", (width, top + grid.height + bottom), "white")
    picture.paste(grid, (left, top))
    draw = ImageDraw.Draw(picture)
    for index, text in enumerate(title_lines):
        draw.text((width // 2, MARGIN + index * line), text, fill="black", font=font(), anchor="ma")
    for index, text in enumerate(row_labels or []):
        draw.text((left - MARGIN, top + index * cell_h + cell_h // 2), text, fill="black", font=font(), anchor="rm")
    below = top + grid.height + 3
    for index, text in enumerate(column_labels or []):
        if text:
            draw.text((left + index * cell_w + cell_w // 2, below), text, fill="black", font=font(small), anchor="ma")
    if xlabel:
        draw.text((left + grid.width // 2, below + (line if column_labels else 0)), xlabel, fill="black",
                  font=font(small), anchor="ma")
    picture.save(path)
    return path


def reconstructions(path: Path, originals: np.ndarray, recons: np.ndarray, config, count: int = 12,
                    status: str | None = None) -> Path:
    return grid_with_labels(path, [originals[:count], recons[:count]], "Test images and their reconstructions "
                            f"(decoder mean at z = μ(x))\n{describe(config, status)}", ["test image", "reconstruction"])


def samples(path: Path, images: np.ndarray, config, status: str | None = None) -> Path:
    """Every image of `images`, in `sample_rows`."""
    count = len(images)
    if config.model == "ae":
        title = (f"{count} decoded z ~ N(0, I): an AE has no prior over z,\nso these are NOT samples of a "
                 f"generative model (for comparison)\n{describe(config, status)}")
    else:
        title = f"{count} prior samples: decoder mean of z ~ N(0, I)\n{describe(config, status)}"
    return grid_with_labels(path, sample_rows(images), title)


def sample_rows(images: np.ndarray) -> list[np.ndarray]:
    """All images in rows of max(8, ⌈√n⌉) (at most n); the last row may be shorter."""
    columns = min(len(images), max(8, math.ceil(math.sqrt(len(images)))))
    return [images[start:start + columns] for start in range(0, len(images), columns)]


def manifold(path: Path, images: np.ndarray, values: np.ndarray, config, status: str | None = None) -> Path:
    """Decoded grid over z1, z2 (latent_dim = 2): `images` row-major, z1 = `values` along a row, z2 = `values`
    from the bottom row up."""
    size = len(values)
    rows = [images[start:start + size] for start in range(0, len(images), size)]
    every_other = [f"{value:.2f}" if index % 2 == 0 else "" for index, value in enumerate(values)]
    note = "" if config.model == "vae" else "\n(an AE's codes need not follow N(0, I))"
    return grid_with_labels(path, rows, "Decoded manifold: decoder mean over the N(0, I) quantiles 5 %…95 %"
                            f"{note}\n{describe(config, status)}",
                            [f"{dim_name(1)}={value:.2f}" if index % 2 == 0 else ""
                             for index, value in enumerate(values[::-1])], every_other, xlabel=dim_name(0))


def latent_scatter(path: Path, means: np.ndarray, labels: np.ndarray | None, config,
                   status: str | None = None) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.0, 5.2), dpi=100)
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    if labels is None:
        ax.scatter(means[:, 0], means[:, 1], s=6, alpha=0.7)
    else:
        points = ax.scatter(means[:, 0], means[:, 1], c=labels, cmap="tab10", s=6, alpha=0.8,
                            vmin=-0.5, vmax=max(9.5, labels.max() + 0.5))
        colorbar = figure.colorbar(points, ax=ax, ticks=np.unique(labels))
        colorbar.set_label("digit label")
    what = "mean μ(x) of q(z | x)" if config.model == "vae" else "code"
    ax.set_xlabel(dim_name(0))
    ax.set_ylabel(dim_name(1))
    ax.set_title(f"Test images encoded (the {what} per image), coloured by label\n{describe(config, status)}",
                 fontsize=9)
    figure.savefig(path, dpi=100, bbox_inches="tight")
    return path
