"""One function per figure of the overregularisation report (the KL-per-dimension report's: `kl_figures`); each takes the trial table of `analysis.read.load` and returns a Figure.

Figures are built on `matplotlib.figure.Figure` directly (no pyplot state, nothing to close, works under any
backend; Agg is selected when nothing else has been). Only finished trials are plotted. Every function renders
something, with a note in the axes, when the data it needs are absent.

Any number of trials: lines are medians over seeds with a min–max band; a β with more than `MAX_LEVELS` distinct
values is binned into quarter-decade bins; continuous β is a log colour scale; latent sizes are ordered
numerically and dodged sideways so that equal values do not hide each other; big scatters are drawn small and
translucent.
"""
from __future__ import annotations

import io
import math
import sys

import matplotlib

if "matplotlib.pyplot" not in sys.modules:
    matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from analysis.show.axes import (MAX_LEVELS, empty_panel, label_stacks, log_colorbar, log_x,  # noqa: E402
                                stack_note, stacks)
from analysis.findings.boundary import boundaries, judged  # noqa: E402
from analysis.read.frame import finished, finished_vaes  # noqa: E402
from common.collapse import Thresholds  # noqa: E402
from analysis.show.images import reconstruction_grid  # noqa: E402
from common.results import KEY  # noqa: E402

STATUS_COLORS = {"healthy": "#2a9d55", "partial": "#e9a23b", "collapsed": "#d1495b", "ae": "#3d6fb6",
                 "unknown": "#888888"}
BETA_LABEL = {"beta": "β", "effective_beta": "effective β (β·pixels for mean)"}
BIN_DECADES = 0.25
MANY = 300  # scatters with more points are drawn small and translucent
SIZES = (2.2, 1.0, 0.7, 0.5)  # marker areas per reduction (mean first): a sum run on a mean run shows both


def to_png(fig: Figure, dpi: int = 90) -> bytes:
    """The figure as PNG bytes (what the notebooks display and the HTML embeds)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return buffer.getvalue()


def vaes(frame: pd.DataFrame) -> pd.DataFrame:
    return finished_vaes(frame).copy()


def _thresholds(frame: pd.DataFrame) -> Thresholds:
    return Thresholds(**frame.attrs.get("thresholds", {}))


def _category(series: pd.Series) -> pd.Series:
    return series.map(lambda value: "?" if pd.isna(value) else f"{value:g}" if isinstance(value, float)
                      else str(value))


def _binned(data: pd.DataFrame, x: str) -> tuple[pd.DataFrame, bool]:
    """`x` replaced by the geometric centre of its quarter-decade bin when it has more than MAX_LEVELS values."""
    values = pd.to_numeric(data[x], errors="coerce")
    if values.nunique() <= MAX_LEVELS or not (values.dropna() > 0).all():
        return data, False
    index = np.floor(np.log10(values) / BIN_DECADES)
    return data.assign(**{x: 10 ** ((index + 0.5) * BIN_DECADES)}), True


def _numeric_order(series: pd.Series) -> list[str]:
    labels = series.dropna().unique()
    return sorted(labels, key=lambda label: (float(label) if label.replace(".", "", 1).isdigit() else math.inf, label))


def _dodge(data: pd.DataFrame, x: str, hue: str, order: list[str], decades: float = 0.03) -> pd.DataFrame:
    """Shift each hue level slightly along a log x axis so that identical values stay visible side by side."""
    offsets = {label: (i - (len(order) - 1) / 2) * decades for i, label in enumerate(order)}
    return data.assign(**{x: data[x].astype(float) * 10 ** data[hue].map(offsets).astype(float)})


def _band_title(binned: bool, x: str) -> str:
    what = f"{BETA_LABEL.get(x, x)} in {BIN_DECADES:g}-decade bins; " if binned else ""
    return f"({what}lines: median over seeds/runs, band: min–max)"


def point_style(n: int) -> dict:
    return {"s": 12, "alpha": 0.45, "linewidth": 0} if n > MANY else {"s": 60, "alpha": 0.9}


def units_and_kl_vs_beta(frame: pd.DataFrame, x: str = "beta") -> Figure:
    """Active units (top) and KL (bottom) against β, one column per reduction × arch, colour = latent_dim."""
    data = vaes(frame)
    swept = data[x]
    data["latent_dim "] = _category(data["latent_dim"])
    order = _numeric_order(data["latent_dim "])
    data, binned = _binned(data, x)
    data = _dodge(data.dropna(subset=[x]), x, "latent_dim ", order) if not data.empty else data
    combos = sorted({(str(r), str(a)) for r, a in zip(data["reduction"], data["arch"])}) or [("-", "-")]
    fig = Figure(figsize=(3.6 * len(combos), 6.2), layout="constrained")
    axes = fig.subplots(2, len(combos), squeeze=False, sharex=True, sharey="row")
    if data.empty:
        return empty_panel(fig, axes[0, 0], "no finished VAE trials")
    for col, (reduction, arch) in enumerate(combos):
        part = data[(data["reduction"].astype(str) == reduction) & (data["arch"].astype(str) == arch)]
        for row, (metric, label) in enumerate(((KEY.active_units, "active units"), (KEY.kl, "KL (nats)"))):
            ax = axes[row, col]
            sns.lineplot(data=part, x=x, y=metric, hue="latent_dim ", hue_order=order, style="latent_dim ",
                         style_order=order, markers=True, dashes=False, palette="viridis", estimator="median",
                         errorbar=("pi", 100), ax=ax, legend=(row == 0 and col == len(combos) - 1))
            log_x(ax, swept)
            ax.set_ylabel(label if col == 0 else "")
            ax.set_xlabel(BETA_LABEL.get(x, x) if row == 1 else "")
            if row == 0:
                ax.set_title(f"reduction={reduction}, arch={arch}")
    if axes[0, -1].get_legend() is not None:
        sns.move_legend(axes[0, -1], "upper left", bbox_to_anchor=(1.02, 1.0))
    top = pd.to_numeric(data["latent_dim"], errors="coerce").max()
    axes[0, 0].set_ylim(-0.05 * (top if top == top else 1), (top if top == top else 1) * 1.05 + 0.1)
    axes[1, 0].set_ylim(bottom=0)
    fig.suptitle(f"Active units and KL vs {BETA_LABEL.get(x, x)}\n{_band_title(binned, x)}")
    return fig


def recon_diversity_vs_beta(frame: pd.DataFrame, x: str = "beta") -> Figure:
    """Reconstruction diversity against β; below the dashed line every reconstruction is the same image."""
    data = vaes(frame)
    fig = Figure(figsize=(6.4, 4.2), layout="constrained")
    ax = fig.subplots()
    if data.empty:
        return empty_panel(fig, ax, "no finished VAE trials")
    data["arch "] = _category(data["arch"])
    swept = data[x]
    data, binned = _binned(data, x)
    sns.lineplot(data=data, x=x, y=KEY.recon_diversity, hue="reduction", style="arch ", markers=True,
                 estimator="median", errorbar=("pi", 100), ax=ax)
    ax.axhline(_thresholds(frame).recon_diversity_collapsed, ls="--", color="grey", lw=1)
    log_x(ax, swept)
    ax.set(xlabel=BETA_LABEL.get(x, x), ylabel="recon diversity (var of recons / var of data)",
           title=f"Reconstruction diversity vs {BETA_LABEL.get(x, x)}\n{_band_title(binned, x)}")
    return fig


def collapse_vs_effective_beta(frame: pd.DataFrame) -> Figure:
    """Left: recon diversity against effective β (`mean` runs are `sum` runs with β × pixels, so both reductions
    fall on one axis); runs at the same spot are drawn once with their count. Right, one panel per arch: each run
    at (effective β, latent_dim × reduction), coloured by status, hollow where it still has active units, with
    the boundary of analysis.findings.boundary (last unit switched off) per group as a black tick and its range as
    a bar."""
    data = vaes(frame)
    data = data[data["effective_beta"].notna()] if not data.empty else data
    archs = sorted(data["arch"].astype(str).unique()) if not data.empty else ["-"]
    fig = Figure(figsize=(4.8 * (1 + len(archs)), 4.6), layout="constrained")
    axes = fig.subplots(1, 1 + len(archs), squeeze=False)[0]
    if data.empty:
        return empty_panel(fig, axes[0], "no effective β recorded")
    statuses = [name for name in ("healthy", "partial", "collapsed", "unknown") if (data["status"] == name).any()]
    style = point_style(len(data))
    spots = stacks(data.dropna(subset=[KEY.recon_diversity]).assign(reduction=data["reduction"].astype(str)),
                   "effective_beta", KEY.recon_diversity, log_x=True, by=("reduction", "status"))
    for marker, size, (reduction, part) in zip("os^D", SIZES, spots.groupby("reduction")):
        for status in statuses:
            points = part[part["status"] == status]
            axes[0].scatter(points["effective_beta"], points[KEY.recon_diversity], color=STATUS_COLORS[status],
                            marker=marker, label=f"{status}, {reduction}", **{**style, "s": style["s"] * size})
    axes[0].axhline(_thresholds(frame).recon_diversity_collapsed, ls="--", color="grey", lw=1)
    log_x(axes[0], data["effective_beta"])
    stacked = label_stacks(axes[0], spots, "effective_beta", KEY.recon_diversity)
    axes[0].set(xlabel=BETA_LABEL["effective_beta"], ylabel="recon diversity",
                title=f"recon diversity{stack_note(stacked)}")
    axes[0].title.set_fontsize(9)
    axes[0].legend(fontsize=7, loc="upper right")
    judged_runs = judged(frame)
    no_units = judged_runs["no_units"].reindex(data.index).fillna(False).astype(bool)
    found = boundaries(frame)
    rows = sorted({(float(latent), str(reduction)) for latent, reduction
                   in zip(pd.to_numeric(data["latent_dim"], errors="coerce"), data["reduction"])
                   if latent == latent})
    position = {row: i for i, row in enumerate(rows)}
    jitter = np.random.default_rng(0).uniform(-0.25, 0.25, len(data))
    keys = list(zip(pd.to_numeric(data["latent_dim"], errors="coerce").astype(float), data["reduction"].astype(str)))
    data = data.assign(row=[position.get(key, np.nan) for key in keys] + jitter)
    for ax, arch in zip(axes[1:], archs):
        part = data[data["arch"].astype(str) == arch]
        for status in statuses:
            points = part[part["status"] == status]
            filled = no_units.loc[points.index] | (status != "collapsed")
            ax.scatter(points["effective_beta"][filled], points["row"][filled], color=STATUS_COLORS[status],
                       label=status, **{**style, "s": style["s"] * 0.6})
            if (~filled).any():
                ax.scatter(points["effective_beta"][~filled], points["row"][~filled], facecolors="none",
                           edgecolors=STATUS_COLORS[status], label=f"{status}, units still active",
                           **{**style, "s": style["s"] * 0.6, "linewidth": 1.2})
        drawn = found[found["arch"].astype(str) == arch] if "arch" in found else found
        for _, edge in drawn[drawn["located"]].iterrows():
            y = position.get((float(edge.get("latent_dim", np.nan)), str(edge.get("reduction"))), None)
            if y is None:
                continue
            ax.plot([edge["low"], edge["high"]], [y, y], color="black", lw=2, solid_capstyle="butt")
            ax.plot([edge["estimate"]] * 2, [y - 0.4, y + 0.4], color="black", lw=2.5)
        log_x(ax, data["effective_beta"])
        ax.set_yticks(range(len(rows)), [f"{latent:g}, {reduction}" for latent, reduction in rows])
        ax.set_ylim(-0.6, len(rows) - 0.4)
        ax.set(xlabel=BETA_LABEL["effective_beta"], ylabel="latent_dim, reduction", title=f"arch={arch}")
    axes[-1].legend(loc="lower right", fontsize=7)
    fig.suptitle("Collapse against effective β (sum and mean on one axis); black: where the last latent unit "
                 "switches off, per group (tick: estimate, bar: its range)")
    return fig


def rate_distortion(frame: pd.DataFrame) -> Figure:
    """Rate (KL) against distortion (recon NLL); colour = β (log scale), marker = reduction; runs at the same spot
    (collapsed runs: KL ≈ 0, the same NLL) are drawn once, coloured by their smallest β, with their count."""
    data = vaes(frame).dropna(subset=[KEY.kl, KEY.recon_nll])
    fig = Figure(figsize=(6.4, 4.6), layout="constrained")
    ax = fig.subplots()
    if data.empty:
        return empty_panel(fig, ax, "no finished VAE trials with KL and recon NLL")
    betas = data["beta"].astype(float)
    norm = LogNorm(betas.min(), betas.max()) if betas.min() > 0 and betas.max() > betas.min() else None
    style = point_style(len(data))
    spots = stacks(data.sort_values("beta").assign(reduction=data["reduction"].astype(str)), KEY.kl,
                   KEY.recon_nll, by=("reduction",))
    for marker, size, (reduction, part) in zip("os^D", SIZES, spots.groupby("reduction")):
        points = ax.scatter(part[KEY.kl], part[KEY.recon_nll], c=part["beta"].astype(float), norm=norm,
                            cmap="viridis", marker=marker, label=f"reduction={reduction}",
                            **{**style, "s": style["s"] * size})
    stacked = label_stacks(ax, spots, KEY.kl, KEY.recon_nll)
    log_colorbar(fig, points, ax, "β (log scale)", betas)
    ax.legend(fontsize=8)
    ax.set(xlabel="rate: KL(q(z|x) || p(z)) (nats)", ylabel="distortion: recon NLL (nats)",
           title=f"Rate–distortion plane{stack_note(stacked, ', coloured by their smallest β')}")
    ax.title.set_fontsize(10)
    return fig


def _model_group(row: pd.Series) -> str:
    if row["model"] == "ae":
        return "AE"
    return f"VAE {row['reduction']} [{row['status']}]"


def ae_vs_vae(frame: pd.DataFrame) -> Figure:
    """Sharpness (Laplacian variance ratio) and recon NLL for AEs vs VAEs (by reduction and status)."""
    data = finished(frame).copy()
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    axes = fig.subplots(1, 2)
    if data.empty:
        return empty_panel(fig, axes[0], "no finished trials")
    data["group"] = data.apply(_model_group, axis=1)
    order = sorted(data["group"].unique(), key=lambda name: (name != "AE", name))
    for ax, metric, label in ((axes[0], KEY.sharpness, "sharpness (1 = as sharp as data)"),
                              (axes[1], KEY.recon_nll, "recon NLL (nats)")):
        sns.barplot(data=data, x="group", y=metric, order=order, errorbar=None, color="#c9d6ea", ax=ax)
        sns.stripplot(data=data, x="group", y=metric, order=order, color="black", ax=ax,
                      **({"size": 2, "alpha": 0.3} if len(data) > MANY else {"size": 4}))
        ax.set(xlabel="", ylabel=label)
        ax.tick_params(axis="x", rotation=20)
        if metric == KEY.sharpness and data[metric].isna().all():
            ax.text(0.5, 0.5, "not measured (sharpness needs images)", ha="center", va="center", transform=ax.transAxes)
    axes[0].axhline(1.0, ls="--", color="grey", lw=1)
    title = "AE vs VAE" if (data["model"] == "ae").any() else "VAE only (no AE baseline in this study)"
    fig.suptitle(f"{title}: sharpness and reconstruction NLL")
    return fig


ALL_FIGURES = (units_and_kl_vs_beta, recon_diversity_vs_beta, collapse_vs_effective_beta, rate_distortion,
               ae_vs_vae, reconstruction_grid)
