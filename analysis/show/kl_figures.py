"""The KL-per-dimension report's figures: KL per latent dimension as a heatmap, active units against latent size.

Like `analysis.show.figures`, each takes the trial table and returns a Figure, with a note when its data are absent.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.ticker import NullLocator

from analysis.show.axes import empty_panel, log_colorbar
from analysis.show.figures import point_style, vaes
from analysis.show.tables import kl_selection
from common.results import KEY


def kl_per_dim_heatmap(frame: pd.DataFrame) -> Figure:
    """Per-dimension KL (nats), dims sorted by KL within each row: every VAE trial in a small study, else the
    median per arch × latent size × status (the selection is stated in the title)."""
    matrix, caption = kl_selection(frame)
    fig = Figure(figsize=(max(6.0, 0.3 * matrix.shape[1] + 5), max(3.0, 0.28 * len(matrix) + 1.5)),
                 layout="constrained")
    ax = fig.subplots()
    if matrix.empty:
        return empty_panel(fig, ax, "no per-dimension KL recorded")
    positive = matrix.to_numpy()[np.isfinite(matrix.to_numpy()) & (matrix.to_numpy() > 0)]
    norm = LogNorm(max(positive.min(), 1e-3), max(positive.max(), 1e-2)) if positive.size else None
    sns.heatmap(matrix.clip(lower=1e-3), norm=norm, cmap="magma", ax=ax, cbar_kws={"label": "KL (nats, log)"},
                yticklabels=True, xticklabels=max(1, matrix.shape[1] // 16))
    ax.set(xlabel="latent dimension (sorted by KL, per row)", ylabel="", title=f"KL per latent dimension: {caption}")
    ax.tick_params(axis="y", labelsize=7)
    return fig


def active_units_vs_latent_dim(frame: pd.DataFrame) -> Figure:
    """Active units against latent_dim; the dashed diagonal is 'every unit active'."""
    data = vaes(frame)
    fig = Figure(figsize=(6.4, 4.4), layout="constrained")
    ax = fig.subplots()
    if data.empty:
        return empty_panel(fig, ax, "no finished VAE trials")
    latent = pd.to_numeric(data["latent_dim"], errors="coerce")
    jitter = np.random.default_rng(0).uniform(-0.18, 0.18, len(data))
    data = data.assign(x=latent * 2 ** jitter, y=data[KEY.active_units] + jitter * 0.8)
    color = data["effective_beta"].astype(float).fillna(data["beta"].astype(float))
    norm = LogNorm(color.min(), color.max()) if color.min() > 0 and color.max() > color.min() else None
    style = point_style(len(data))
    for marker, (reduction, part) in zip("os^D", data.groupby(data["reduction"].astype(str))):
        points = ax.scatter(part["x"], part["y"], c=color[part.index], norm=norm, cmap="viridis", marker=marker,
                            label=f"reduction={reduction}", edgecolors="black", **{**style, "linewidth": 0.3})
    log_colorbar(fig, points, ax, "effective β (log scale)", color)
    top = float(latent.max())
    ax.plot([latent.min(), top], [latent.min(), top], ls="--", color="grey", lw=1)
    ax.set_xscale("log", base=2)
    ax.set_xlim(latent.min() / 2 ** 0.5, latent.max() * 2 ** 0.5)
    ticks = sorted(latent.dropna().unique())
    ax.set_xticks(ticks, [f"{tick:g}" for tick in ticks])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.legend(fontsize=8)
    ax.set(xlabel="latent_dim (points jittered sideways)", ylabel="active units",
           title="Active units vs latent dimensionality")
    return fig


ALL_FIGURES = (kl_per_dim_heatmap, active_units_vs_latent_dim)
