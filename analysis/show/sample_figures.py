"""The samples report's figures: KID and label coverage against effective β (with the calibration ladder and the
AE as references), and the prior samples of every trial.

Points are configurations (seeds aggregated, `analysis.findings.samples.configurations`): the median over training seeds
with a min–max bar, or, with one seed, the value ± its sampling spread. The series of one panel are offset sideways
(a few per cent of a decade) and drawn with distinct markers, so that equal values do not hide each other; coverage,
where whole series coincide (0 for every collapsed run), is drawn without connecting lines.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullFormatter

from analysis.findings import samples
from analysis.numbers import fmt
from analysis.show.figures import to_png
from common.collapse import COLLAPSED
from common.results import ARTIFACT_DIR
from vae import ladder
from vae.images import tile

SAMPLES_NPZ = "samples.npz"
MARKERS = "osD^vP*Xh<>p"
DODGE = 1.10  # neighbouring lines are this factor apart along the (log) β axis
MAX_TICKS = 8  # up to this many distinct effective β: a tick at each


png = to_png  # the notebooks display each figure as PNG bytes


def _figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height))
    FigureCanvasAgg(figure)
    return figure


def _archs(table: pd.DataFrame) -> list[str]:
    return sorted(set(table["arch"].dropna())) if "arch" in table and not table.empty else []


def _series(table: pd.DataFrame, arch: str):
    """(label, rows sorted by effective β, style) per reduction × latent size of one arch. The style (colour, marker,
    sideways offset) belongs to the reduction × latent size across the whole table, so a series looks the same in
    every panel even where another panel lacks some series."""
    vae = table[table["model"] != "ae"]
    keys = sorted(set(zip(vae["reduction"], vae["latent_dim"])), key=str)
    part = vae[vae["arch"] == arch]
    for (reduction, latent), group in part.groupby(["reduction", "latent_dim"], sort=True):
        index = keys.index((reduction, latent))
        style = {"color": f"C{index % 10}", "marker": MARKERS[index % len(MARKERS)],
                 "offset": DODGE ** (index - (len(keys) - 1) / 2)}
        yield f"{reduction}, latent {latent}", group.sort_values("effective_beta"), style


def _kid_bars(group: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Values (×10³) and their lower/upper bars: the seed range with several seeds, else ± the sampling spread."""
    value = samples.SCALE * group["kid"].to_numpy(float)
    seeds = group["runs"].to_numpy() > 1
    spread = samples.SCALE * np.nan_to_num(group["kid spread"].to_numpy(float))
    low = np.where(seeds, samples.SCALE * group["kid min"].to_numpy(float), value - spread)
    high = np.where(seeds, samples.SCALE * group["kid max"].to_numpy(float), value + spread)
    return value, np.vstack([value - low, high - value])


def _panels(table: pd.DataFrame, width: float, height: float):
    archs = _archs(table)
    figure = _figure(width * max(len(archs), 1), height)
    axes = figure.subplots(1, max(len(archs), 1), squeeze=False)[0]
    if not archs:
        axes[0].text(0.5, 0.5, "no trial with sample metrics", ha="center", va="center", transform=axes[0].transAxes)
        axes[0].set_axis_off()
    return figure, list(zip(axes, archs))


def _finish(ax, arch: str, ylabel: str, betas: pd.Series) -> None:
    ax.set_xscale("log")
    distinct = sorted(set(betas.dropna().astype(float)))
    if 0 < len(distinct) <= MAX_TICKS:  # ticks at the β values, in the report's number format
        ax.set_xticks(distinct, [fmt(value) for value in distinct], fontsize=7)
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_title(f"arch = {arch}", fontsize=10)
    ax.set_xlabel("effective β (β·pixels for reduction=mean)", fontsize=8)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=3, frameon=False)


def kid_vs_beta(df: pd.DataFrame) -> Figure:
    """KID ×10³ against effective β per arch; the calibration ladder as labelled grey lines, the AE dotted."""
    table = samples.configurations(df)
    figure, panels = _panels(table, 6.6, 5.4)
    rungs = samples.ladder_of(samples.measured(df))
    for ax, arch in panels:
        for label, group, style in _series(table, arch):
            value, bars = _kid_bars(group)
            ax.errorbar(group["effective_beta"].to_numpy(float) * style["offset"], value, yerr=bars,
                        marker=style["marker"], color=style["color"], capsize=3, linewidth=1.2, markersize=5,
                        label=label)
        for _, ae in table[(table["model"] == "ae") & (table["arch"] == arch)].iterrows():
            ax.axhline(samples.SCALE * ae["kid"], color="black", linestyle=":", linewidth=1.4,
                       label=f"AE (latent {ae['latent_dim']}): decoded N(0, I)")
        top = 1.08 * samples.SCALE * max(table["kid max"].max(), rungs.get("average", (0, 0))[0])
        off_chart = []
        for name, (kid, _) in rungs.items():
            if samples.SCALE * kid > top:
                off_chart.append(f"{ladder.LABELS[name]} {samples.kid_text(kid)}")
                continue
            ax.axhline(samples.SCALE * kid, color="0.6", linewidth=0.8, zorder=0)
            ax.text(1.01, samples.SCALE * kid, f"{ladder.LABELS[name]} ({samples.kid_text(kid)})", fontsize=7,
                    transform=ax.get_yaxis_transform(), va="center", color="0.35")
        ax.set_ylim(min(0.0, ax.get_ylim()[0]), top)
        if off_chart:
            ax.text(1.01, 1.0, "above: " + ", ".join(off_chart), transform=ax.transAxes, fontsize=7, color="0.35",
                    va="bottom")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: fmt(value)))  # the report's number format
        _finish(ax, arch, "sample KID ×10³ (lower is better)", table.loc[table["arch"] == arch, "effective_beta"])
    figure.suptitle("Sample KID against effective β; grey: the calibration ladder; bars: range over training seeds, "
                    "else ± sampling spread; lines offset sideways so none hides another", fontsize=9)
    figure.tight_layout()
    return figure


def coverage_vs_beta(df: pd.DataFrame) -> Figure:
    """Label coverage against effective β per arch: markers only, offset sideways, so no series hides another."""
    table = samples.configurations(df)
    figure, panels = _panels(table, 5.2, 4.2)
    for ax, arch in panels:
        for label, group, style in _series(table, arch):
            ax.plot(group["effective_beta"].to_numpy(float) * style["offset"], group["coverage"], linestyle="",
                    marker=style["marker"], color=style["color"], markersize=6, alpha=0.85, label=label)
        for _, ae in table[(table["model"] == "ae") & (table["arch"] == arch)].iterrows():
            ax.axhline(ae["coverage"], color="black", linestyle=":", linewidth=1.4,
                       label=f"AE (latent {ae['latent_dim']})")
        ax.set_ylim(-0.05, 1.05)
        _finish(ax, arch, "label coverage (1: all classes equally often)",
                table.loc[table["arch"] == arch, "effective_beta"])
    figure.suptitle("Label coverage of the prior samples (median over seeds; markers offset sideways so none hides "
                    "another)", fontsize=9)
    figure.tight_layout()
    return figure


def load_samples(artifact_dir: Any, count: int) -> np.ndarray | None:
    if not isinstance(artifact_dir, str) or not (Path(artifact_dir) / SAMPLES_NPZ).is_file():
        return None
    with np.load(Path(artifact_dir) / SAMPLES_NPZ) as archive:
        return archive["samples"][:count]


def _label(row: pd.Series) -> str:
    kid = f"KID {samples.kid_text(row[samples.KID], row.get(samples.KID_STD))}"
    if row["model"] == "ae":
        return f"AE latent {row['latent_dim']} (not a generative model) · {kid}"
    status = " · COLLAPSED" if row["status"] == COLLAPSED else ""
    return (f"{row['reduction']} β={fmt(row['beta'])} (eff. {fmt(row['effective_beta'])}) latent "
            f"{row['latent_dim']} · {kid}{status}")


def sample_grids(df: pd.DataFrame, count: int = 8) -> list[Figure]:
    """Per arch: one row of prior samples per trial, VAEs ordered by reduction, latent size and β, then the AE."""
    rows = samples.measured(df)
    figures = []
    for arch, part in rows.groupby("arch"):
        part = part.assign(_ae=samples.is_ae(part)).sort_values(["_ae", "reduction", "latent_dim", "effective_beta"])
        shown = [(row, load_samples(row[ARTIFACT_DIR], count)) for _, row in part.iterrows()]
        shown = [(row, images) for row, images in shown if images is not None and len(images) == count]
        if not shown:
            continue
        canvas = tile(np.concatenate([images for _, images in shown]), count)
        height = shown[0][1].shape[1] + 1
        figure = _figure(0.42 * count + 4.4, 0.42 * len(shown) + 0.8)
        ax = figure.add_subplot()
        ax.imshow(canvas[..., 0] if canvas.shape[-1] == 1 else canvas, cmap="gray", vmin=0, vmax=255)
        ax.set_yticks([1 + index * height + height / 2 for index in range(len(shown))],
                      [_label(row) for row, _ in shown], fontsize=7)
        ax.set_xticks([])
        ax.tick_params(length=0)
        ax.set_title(f"Prior samples (decoder mean of z ~ N(0, I)) per trial, arch = {arch}", fontsize=10)
        figures.append(figure)
    return figures
