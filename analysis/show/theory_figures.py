"""The figures of the staircase (every study) and of measured against exact (a study the linear-Gaussian theory
covers): each takes the trial table of `analysis.read.load` and returns a Figure, with a note in the axes when its data
are absent, like `analysis.show.figures`.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from analysis.findings import staircase, theory, theory_check
from analysis.show.axes import empty_panel, log_x
from common.results import KEY

MAX_PANELS = 8
EXACT = {"color": "black", "lw": 1.2, "ls": "--"}


def _label(label: dict) -> str:
    return ", ".join(f"{key}={value}" for key, value in label.items()) or "all runs"


def _exact_for(part: pd.DataFrame) -> pd.Series | None:
    """One qualifying run of the group (its spectrum, σ and latent size give the exact lines), or None."""
    runs = theory_check.qualifying(part)
    return runs.iloc[0] if len(runs) == len(part) else None


def _beta_grid(betas: pd.Series) -> np.ndarray:
    values = pd.to_numeric(betas, errors="coerce").dropna()
    return np.geomspace(values.min() / 2, values.max() * 2, 400)


def staircase_figure(frame: pd.DataFrame) -> Figure:
    """Active units against effective β per group (every run a dot; the median over runs a step line that steps
    halfway, in log β, between the runs it joins); with the exact staircase #{i : 0.99·λᵢ/σ² > β} dashed where the
    theory covers the group."""
    found = list(staircase.groups(frame))
    shown = found[:MAX_PANELS]
    fig = Figure(figsize=(min(4.2 * max(len(shown), 1), 16.8), 3.9), layout="constrained")
    axes = fig.subplots(1, max(len(shown), 1), squeeze=False, sharey=True)[0]
    if not shown:
        return empty_panel(fig, axes[0], "no finished VAE run with active units recorded")
    for ax, (label, part) in zip(axes, shown):
        beta, units = part["effective_beta"].astype(float), part[KEY.active_units].astype(float)
        ax.scatter(beta, units, s=22, color="#3d6fb6", alpha=0.8, zorder=3, label="runs")
        median = units.groupby(beta).median()
        edges = np.sqrt(median.index[1:] * median.index[:-1])  # a measured step: halfway (in log β) between runs
        ax.step(np.concatenate([median.index[:1], edges, median.index[-1:]]),
                np.concatenate([median.to_numpy(), median.to_numpy()[-1:]]), where="post", color="#3d6fb6", lw=1.5,
                label="median (steps halfway between runs)")
        exact_run = _exact_for(part)
        if exact_run is not None:
            grid = _beta_grid(beta)
            lam = theory_check.spectrum_of(exact_run)
            latent, sigma = int(exact_run["latent_dim"]), float(exact_run["gaussian_sigma"])
            ax.plot(grid, [theory.active_units(lam, latent, b, sigma) for b in grid], **EXACT, label="exact")
        log_x(ax, beta)
        ax.set(xlabel="effective β", title=_label(label))
        ax.title.set_fontsize(9)
    axes[0].set_ylabel("active units")
    axes[0].legend(fontsize=8, loc="upper right")
    more = f" (first {len(shown)} of {len(found)} groups)" if len(found) > len(shown) else ""
    fig.suptitle(f"The staircase: active units against effective β{more}")
    return fig


def kl_against_theory(frame: pd.DataFrame) -> Figure:
    """KL of each unit (sorted, largest first) against effective β: measured dots, exact ½ ln(λᵢ/βσ²) lines."""
    runs = theory_check.qualifying(frame)
    groups = list(staircase.groups(runs))[:MAX_PANELS] if not runs.empty else []
    fig = Figure(figsize=(min(5.6 * max(len(groups), 1), 16.8), 4.4), layout="constrained")
    axes = fig.subplots(1, max(len(groups), 1), squeeze=False, sharey=True)[0]
    if not groups:
        return empty_panel(fig, axes[0], "no run the linear-Gaussian theory covers")
    for ax, (label, part) in zip(axes, groups):
        run = part.iloc[0]
        lam, latent, sigma = theory_check.spectrum_of(run), int(run["latent_dim"]), float(run["gaussian_sigma"])
        beta = part["effective_beta"].astype(float)
        grid = _beta_grid(beta)
        exact = np.array([theory.kl_per_dim(lam, latent, b, sigma) for b in grid])
        measured = np.vstack([np.sort(np.asarray(value, float))[::-1] for value in part["kl_per_dim"]])
        colors = [f"C{unit % 10}" for unit in range(latent)]
        for unit in range(latent):
            ax.plot(grid, exact[:, unit], color=colors[unit], lw=1.2)
            ax.scatter(beta, measured[:, unit], color=colors[unit], s=20, zorder=3,
                       label=f"unit {unit + 1}" if latent <= 10 else None)
        log_x(ax, beta)
        ax.set(xlabel="effective β", title=_label(label))
        ax.title.set_fontsize(9)
    axes[0].set_ylabel("KL per unit (nats, sorted)")
    if axes[0].get_legend_handles_labels()[0]:
        axes[0].legend(fontsize=8, loc="upper right")
    fig.suptitle("KL per latent unit against effective β: measured (dots) and exact ½·ln(λᵢ/βσ²) (lines)")
    return fig


def rate_distortion_against_theory(frame: pd.DataFrame) -> Figure:
    """Rate (total KL) against distortion (recon NLL): measured runs, the exact curve (reverse water-filling over
    all β) and each run's exact point, joined to its measurement."""
    runs = theory_check.qualifying(frame)
    groups = list(staircase.groups(runs))[:MAX_PANELS] if not runs.empty else []
    fig = Figure(figsize=(min(5.6 * max(len(groups), 1), 16.8), 4.4), layout="constrained")
    axes = fig.subplots(1, max(len(groups), 1), squeeze=False)[0]
    if not groups:
        return empty_panel(fig, axes[0], "no run the linear-Gaussian theory covers")
    for ax, (label, part) in zip(axes, groups):
        run = part.iloc[0]
        lam, latent, sigma = theory_check.spectrum_of(run), int(run["latent_dim"]), float(run["gaussian_sigma"])
        beta = part["effective_beta"].astype(float).to_numpy()
        curve = theory.rate_distortion(lam, latent, sigma, _beta_grid(pd.Series(beta)))
        points = theory.rate_distortion(lam, latent, sigma, beta)
        ax.plot(curve[:, 0], curve[:, 1], **EXACT, label="exact curve")
        for (rate, nll), exact in zip(part[[KEY.kl, KEY.recon_nll]].to_numpy(float), points):
            ax.plot([rate, exact[0]], [nll, exact[1]], color="grey", lw=0.8)
        ax.scatter(points[:, 0], points[:, 1], facecolors="none", edgecolors="black", s=40, label="exact, at each run's β")
        ax.scatter(part[KEY.kl], part[KEY.recon_nll], color="#d1495b", s=18, zorder=3, label="measured")
        ax.set(xlabel="rate: KL (nats)", ylabel="distortion: recon NLL (nats)", title=_label(label))
        ax.title.set_fontsize(9)
    axes[0].legend(fontsize=8)
    fig.suptitle("Rate–distortion: measured runs on the exact curve")
    return fig


THEORY_FIGURES = (staircase_figure, kl_against_theory, rate_distortion_against_theory)
