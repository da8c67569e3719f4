"""One function per figure of the report; each takes the trial table of `analysis.load` and returns a Figure.

Figures are built on `matplotlib.figure.Figure` directly (no pyplot state, nothing to close, works under any
backend; Agg is selected when nothing else has been). Only finished trials are plotted. Every function renders
something, with a note in the axes, when the data it needs are absent.
"""
from __future__ import annotations

import io
import sys

import matplotlib

if "matplotlib.pyplot" not in sys.modules:
    matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from analysis.diagnose import Thresholds  # noqa: E402
from analysis.images import load_reconstructions, pick_runs  # noqa: E402

STATUS_COLORS = {"healthy": "#2a9d55", "partial": "#e9a23b", "collapsed": "#d1495b", "ae": "#3d6fb6",
                 "unknown": "#888888"}
BETA_LABEL = {"beta": "β", "effective_beta": "effective β (β·pixels for mean)"}


def to_png(fig: Figure, dpi: int = 90) -> bytes:
    """The figure as PNG bytes (what the notebooks display and the HTML embeds)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return buffer.getvalue()


def finished(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["state"] == "COMPLETE"]


def vaes(frame: pd.DataFrame) -> pd.DataFrame:
    done = finished(frame)
    return done[done["model"].fillna("vae") != "ae"].copy()


def _thresholds(frame: pd.DataFrame) -> Thresholds:
    return Thresholds(**frame.attrs.get("thresholds", {}))


def _empty(fig: Figure, ax, message: str) -> Figure:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()
    return fig


def _category(series: pd.Series) -> pd.Series:
    return series.map(lambda value: "?" if pd.isna(value) else f"{value:g}" if isinstance(value, float)
                      else str(value))


def _log_x(ax, values: pd.Series) -> None:
    if (values.dropna() > 0).all() and values.notna().any():
        ax.set_xscale("log")


def units_and_kl_vs_beta(frame: pd.DataFrame, x: str = "beta") -> Figure:
    """Active units (top) and KL (bottom) against β, one column per reduction × arch, colour = latent_dim."""
    data = vaes(frame)
    data["latent_dim "] = _category(data["latent_dim"])
    combos = sorted({(str(r), str(a)) for r, a in zip(data["reduction"], data["arch"])}) or [("-", "-")]
    fig = Figure(figsize=(3.6 * len(combos), 6.2), layout="constrained")
    axes = fig.subplots(2, len(combos), squeeze=False, sharex=True, sharey="row")
    if data.empty:
        return _empty(fig, axes[0, 0], "no finished VAE trials")
    for col, (reduction, arch) in enumerate(combos):
        part = data[(data["reduction"].astype(str) == reduction) & (data["arch"].astype(str) == arch)]
        for row, (metric, label) in enumerate((("test/active_units", "active units"), ("test/kl", "KL (nats)"))):
            ax = axes[row, col]
            sns.lineplot(data=part, x=x, y=metric, hue="latent_dim ", marker="o", errorbar=None, ax=ax,
                         legend=(row == 0 and col == len(combos) - 1))
            _log_x(ax, data[x])
            ax.set_ylabel(label if col == 0 else "")
            ax.set_xlabel(BETA_LABEL.get(x, x) if row == 1 else "")
            if row == 0:
                ax.set_title(f"reduction={reduction}, arch={arch}")
    top = pd.to_numeric(data["latent_dim"], errors="coerce").max()
    axes[0, 0].set_ylim(-0.05 * (top if top == top else 1), (top if top == top else 1) * 1.05 + 0.1)
    axes[1, 0].set_ylim(bottom=0)
    fig.suptitle(f"Active units and KL vs {BETA_LABEL.get(x, x)}")
    return fig


def recon_diversity_vs_beta(frame: pd.DataFrame, x: str = "beta") -> Figure:
    """Reconstruction diversity against β; below the dashed line every reconstruction is the same image."""
    data = vaes(frame)
    fig = Figure(figsize=(6.4, 4.2), layout="constrained")
    ax = fig.subplots()
    if data.empty:
        return _empty(fig, ax, "no finished VAE trials")
    data["arch "] = _category(data["arch"])
    sns.lineplot(data=data, x=x, y="test/recon_diversity", hue="reduction", style="arch ", marker="o",
                 errorbar=None, ax=ax)
    ax.axhline(_thresholds(frame).recon_diversity_collapsed, ls="--", color="grey", lw=1)
    _log_x(ax, data[x])
    ax.set(xlabel=BETA_LABEL.get(x, x), ylabel="recon diversity (var of recons / var of data)",
           title=f"Reconstruction diversity vs {BETA_LABEL.get(x, x)}")
    return fig


def collapse_vs_effective_beta(frame: pd.DataFrame) -> Figure:
    """Recon diversity and the fraction of active units against effective β: `mean` runs are `sum` runs with
    β multiplied by the pixel count, so both reductions fall on one curve."""
    data = vaes(frame)
    fig = Figure(figsize=(10, 4), layout="constrained")
    axes = fig.subplots(1, 2)
    data = data[data["effective_beta"].notna()] if not data.empty else data
    if data.empty:
        return _empty(fig, axes[0], "no effective β recorded")
    data["active fraction"] = data["test/active_units"] / data["latent_dim"].astype(float)
    for ax, metric, label in ((axes[0], "test/recon_diversity", "recon diversity"),
                              (axes[1], "active fraction", "active units / latent_dim")):
        sns.scatterplot(data=data, x="effective_beta", y=metric, hue="reduction", style="status", s=70, ax=ax)
        _log_x(ax, data["effective_beta"])
        ax.set(xlabel=BETA_LABEL["effective_beta"], ylabel=label)
    axes[0].axhline(_thresholds(frame).recon_diversity_collapsed, ls="--", color="grey", lw=1)
    fig.suptitle("Collapse against effective β (sum and mean on one axis)")
    return fig


def rate_distortion(frame: pd.DataFrame) -> Figure:
    """Rate (KL) against distortion (recon NLL); colour = β (log scale), marker = reduction."""
    data = vaes(frame).dropna(subset=["test/kl", "test/recon_nll"])
    fig = Figure(figsize=(6.4, 4.6), layout="constrained")
    ax = fig.subplots()
    if data.empty:
        return _empty(fig, ax, "no finished VAE trials with KL and recon NLL")
    betas = data["beta"].astype(float)
    norm = LogNorm(betas.min(), betas.max()) if betas.min() > 0 and betas.max() > betas.min() else None
    sns.scatterplot(data=data.assign(beta=betas), x="test/kl", y="test/recon_nll", hue="beta", hue_norm=norm,
                    palette="viridis", style="reduction", s=80, ax=ax)
    ax.set(xlabel="rate: KL(q(z|x) || p(z)) (nats)", ylabel="distortion: recon NLL (nats)",
           title="Rate–distortion plane")
    return fig


def kl_per_dim_matrix(frame: pd.DataFrame) -> pd.DataFrame:
    """Trials × dims, each trial's per-dim KL sorted from largest to smallest (NaN-padded)."""
    data = vaes(frame)
    data = data[data["kl_per_dim"].map(lambda value: isinstance(value, np.ndarray)).astype(bool)]
    data = data.sort_values(["reduction", "beta", "latent_dim", "arch", "number"], na_position="last")
    width = max((len(value) for value in data["kl_per_dim"]), default=0)
    rows, labels = [], []
    for _, row in data.iterrows():
        values = np.sort(np.asarray(row["kl_per_dim"], dtype=float))[::-1]
        rows.append(np.pad(values, (0, width - len(values)), constant_values=np.nan))
        labels.append(f"#{row['number']} {row['reduction']} β={row['beta']:g} d={row['latent_dim']} "
                      f"{row['arch']} [{row['status']}]")
    return pd.DataFrame(rows, index=labels, columns=[f"{i + 1}" for i in range(width)])


def kl_per_dim_heatmap(frame: pd.DataFrame) -> Figure:
    """Per-dimension KL (nats) for every VAE trial, dims sorted by KL within each trial."""
    matrix = kl_per_dim_matrix(frame)
    fig = Figure(figsize=(max(6.0, 0.3 * matrix.shape[1] + 5), max(3.0, 0.28 * len(matrix) + 1.5)),
                 layout="constrained")
    ax = fig.subplots()
    if matrix.empty:
        return _empty(fig, ax, "no per-dimension KL recorded")
    positive = matrix.to_numpy()[np.isfinite(matrix.to_numpy()) & (matrix.to_numpy() > 0)]
    norm = LogNorm(max(positive.min(), 1e-3), max(positive.max(), 1e-2)) if positive.size else None
    sns.heatmap(matrix.clip(lower=1e-3), norm=norm, cmap="magma", ax=ax, cbar_kws={"label": "KL (nats, log)"},
                yticklabels=True)
    ax.set(xlabel="latent dimension (sorted by KL, per trial)", ylabel="",
           title="KL per latent dimension")
    ax.tick_params(axis="y", labelsize=7)
    return fig


def active_units_vs_latent_dim(frame: pd.DataFrame) -> Figure:
    """Active units against latent_dim; the dashed diagonal is 'every unit active'."""
    data = vaes(frame)
    fig = Figure(figsize=(6.4, 4.4), layout="constrained")
    ax = fig.subplots()
    if data.empty:
        return _empty(fig, ax, "no finished VAE trials")
    data["β"] = _category(data["beta"].astype(float))
    sns.scatterplot(data=data, x="latent_dim", y="test/active_units", hue="β", style="reduction", s=80, ax=ax)
    top = float(pd.to_numeric(data["latent_dim"]).max())
    ax.plot([0, top], [0, top], ls="--", color="grey", lw=1)
    ax.set(xlabel="latent_dim", ylabel="active units", title="Active units vs latent dimensionality")
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
        return _empty(fig, axes[0], "no finished trials")
    data["group"] = data.apply(_model_group, axis=1)
    order = sorted(data["group"].unique(), key=lambda name: (name != "AE", name))
    for ax, metric, label in ((axes[0], "test/sharpness", "sharpness (1 = as sharp as data)"),
                              (axes[1], "test/recon_nll", "recon NLL (nats)")):
        sns.barplot(data=data, x="group", y=metric, order=order, errorbar=None, color="#c9d6ea", ax=ax)
        sns.stripplot(data=data, x="group", y=metric, order=order, color="black", size=4, ax=ax)
        ax.set(xlabel="", ylabel=label)
        ax.tick_params(axis="x", rotation=20)
    axes[0].axhline(1.0, ls="--", color="grey", lw=1)
    title = "AE vs VAE" if (data["model"] == "ae").any() else "VAE only (no AE baseline in this study)"
    fig.suptitle(f"{title}: sharpness and reconstruction NLL")
    return fig


def reconstruction_grid(frame: pd.DataFrame, n_images: int = 8, max_runs: int = 6) -> Figure:
    """Originals on top, then the reconstructions of collapsed runs next to healthy ones (and the AE)."""
    runs = pick_runs(finished(frame), max_runs)
    loaded = [(row, load_reconstructions(row.get("artifact_dir"), n_images)) for row in runs]
    loaded = [(row, images) for row, images in loaded if images is not None]
    fig = Figure(figsize=(1.2 * n_images + 2.5, 1.3 * (len(loaded) + 1) + 0.5), layout="constrained")
    if not loaded:
        return _empty(fig, fig.subplots(), "no reconstructions found in the artifact folders")
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
    if row.get("model") == "ae":
        return f"#{row['number']} AE [{row['status']}]"
    return (f"#{row['number']} VAE reduction={row['reduction']} β={float(row['beta']):g} "
            f"(effective β {float(row['effective_beta']):.3g}) [{row['status']}]")


ALL_FIGURES = (units_and_kl_vs_beta, recon_diversity_vs_beta, collapse_vs_effective_beta, rate_distortion,
               kl_per_dim_heatmap, active_units_vs_latent_dim, ae_vs_vae, reconstruction_grid)
