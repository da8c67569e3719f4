"""The "samples" report: which β gives the best samples? Figures and prose from the trial table.

Reads the sample-quality metrics of `vae.quality` (`test/sample_fd`, `test/sample_confidence`,
`test/sample_coverage`, `test/classifier_accuracy`; lower FD is better) and the prior samples each trial saved
(`samples.npz` in its artifact folder). Every number in the prose is computed here from the data.
"""
from __future__ import annotations

import io
import math
from common.results import ARTIFACT_DIR
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from vae.images import tile

FD, CONFIDENCE, COVERAGE = "test/sample_fd", "test/sample_confidence", "test/sample_coverage"
QUALITY = {FD: "sample FD (lower is better)", CONFIDENCE: "sample confidence (mean max softmax)",
           COVERAGE: "label coverage (normalised entropy)"}
SAMPLES_NPZ = "samples.npz"


def png(figure: Figure, dpi: int = 90) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return buffer.getvalue()


def _figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height))
    FigureCanvasAgg(figure)
    return figure


def fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{value:.{digits}g}" if isinstance(value, float) else str(value)


def measured(df: pd.DataFrame) -> pd.DataFrame:
    """Finished trials with a sample FD."""
    done = df[df["state"] == "COMPLETE"]
    return done[done[FD].notna()] if FD in done else done.iloc[0:0]


def vaes(df: pd.DataFrame) -> pd.DataFrame:
    rows = measured(df)
    return rows[rows["model"] != "ae"]


def aes(df: pd.DataFrame) -> pd.DataFrame:
    rows = measured(df)
    return rows[rows["model"] == "ae"]


def overview(df: pd.DataFrame) -> str:
    done = df[df["state"] == "COMPLETE"]
    rows = measured(df)
    if rows.empty:
        reasons = sorted({str(r) for r in done.get("sample_quality_skipped", pd.Series(dtype=object)).dropna()})
        why = f": {'; '.join(reasons)}" if reasons else " (trials from before the metrics existed?)"
        return f"No finished trial has sample metrics{why}."
    accuracy = sorted({round(float(a), 4) for a in rows["test/classifier_accuracy"].dropna()})
    text = (f"{len(rows)} of {len(done)} finished trials have sample metrics, each from as many prior samples "
            f"z ~ N(0, I) as there are test images, decoded to their mean image. The classifier behind them "
            f"(trained on the train split only) reaches a held-out test accuracy of "
            f"{', '.join(f'{a:.1%}' for a in accuracy)}. sample_fd is the Fréchet distance between its penultimate "
            "features of the samples and of the test images (not comparable with Inception FID); confidence is its "
            "mean max-softmax on the samples; coverage the normalised entropy of the predicted-label histogram "
            "(1: all classes equally often, 0: one class).")
    skipped = len(done) - len(rows)
    if skipped:
        text += f" {skipped} finished trial(s) have none (see `sample_quality_skipped`)."
    return text


def quality_vs_beta(df: pd.DataFrame) -> Figure:
    """FD, confidence and coverage against effective β: one column per arch, one line per reduction × latent."""
    vae, ae = vaes(df), aes(df)
    archs = sorted(set(vae["arch"].dropna()) | set(ae["arch"].dropna())) or ["-"]
    figure = _figure(4.6 * len(archs), 9.0)
    axes = figure.subplots(len(QUALITY), len(archs), squeeze=False)
    lines = sorted({(reduction, latent) for reduction, latent in zip(vae["reduction"], vae["latent_dim"])}, key=str)
    colors = {line: f"C{index % 10}" for index, line in enumerate(lines)}  # one colour per line in every panel
    handles: dict[str, Any] = {}
    for column, arch in enumerate(archs):
        for row, (metric, label) in enumerate(QUALITY.items()):
            ax = axes[row][column]
            part = vae[vae["arch"] == arch]
            for (reduction, latent), group in part.groupby(["reduction", "latent_dim"]):
                group = group.sort_values("effective_beta")
                line = f"{reduction}, latent {latent}"
                (handles[line],) = ax.plot(group["effective_beta"], group[metric], marker="o",
                                           color=colors[(reduction, latent)],
                                           linestyle="-" if reduction == "sum" else "--", label=line)
            for _, baseline in ae[ae["arch"] == arch].iterrows():
                line = f"AE (latent {baseline['latent_dim']}): decoded N(0, I)"
                handles[line] = ax.axhline(baseline[metric], color="black", linestyle=":", linewidth=1.2, label=line)
            ax.set_xscale("log")
            ax.set_ylabel(label, fontsize=8)
            if row == 0:
                ax.set_title(f"arch = {arch}", fontsize=10)
            if row == len(QUALITY) - 1:
                ax.set_xlabel("effective β (β·pixels for reduction=mean)", fontsize=8)
    # every line of every panel (a panel may lack some); none drawn: no legend (matplotlib warns about an empty one)
    if handles:
        axes[0][-1].legend(list(handles.values()), list(handles), fontsize=7, loc="best")
    figure.suptitle("Sample quality against effective β (VAE lines; AE as dotted reference)", fontsize=11)
    figure.tight_layout()
    return figure


def load_samples(artifact_dir: Any, count: int) -> np.ndarray | None:
    if not isinstance(artifact_dir, str) or not (Path(artifact_dir) / SAMPLES_NPZ).is_file():
        return None
    with np.load(Path(artifact_dir) / SAMPLES_NPZ) as archive:
        return archive["samples"][:count]


def _label(row: pd.Series) -> str:
    if row["model"] == "ae":
        return f"AE latent {row['latent_dim']} (not a generative model) · FD {fmt(row[FD])}"
    return (f"{row['reduction']} β={fmt(row['beta'])} (eff. {fmt(row['effective_beta'])}) latent "
            f"{row['latent_dim']} · FD {fmt(row[FD])}")


def sample_grids(df: pd.DataFrame, count: int = 8) -> list[Figure]:
    """Per arch: one row of prior samples per trial, VAEs ordered by reduction, latent size and β, then the AE."""
    rows = measured(df)
    figures = []
    for arch, part in rows.groupby("arch"):
        part = part.assign(_ae=part["model"] == "ae").sort_values(["_ae", "reduction", "latent_dim", "effective_beta"])
        shown = [(row, load_samples(row[ARTIFACT_DIR], count)) for _, row in part.iterrows()]
        shown = [(row, images) for row, images in shown if images is not None and len(images) == count]
        if not shown:
            continue
        canvas = tile(np.concatenate([images for _, images in shown]), count)
        height = shown[0][1].shape[1] + 1
        figure = _figure(0.42 * count + 3.6, 0.42 * len(shown) + 0.8)
        ax = figure.add_subplot()
        ax.imshow(canvas[..., 0] if canvas.shape[-1] == 1 else canvas, cmap="gray", vmin=0, vmax=255)
        ax.set_yticks([1 + index * height + height / 2 for index in range(len(shown))],
                      [_label(row) for row, _ in shown], fontsize=7)
        ax.set_xticks([])
        ax.tick_params(length=0)
        ax.set_title(f"Prior samples (decoder mean of z ~ N(0, I)) per trial, arch = {arch}", fontsize=10)
        figures.append(figure)
    return figures


def best_beta_table(df: pd.DataFrame) -> pd.DataFrame:
    """Per reduction × arch × latent size: the β with the lowest sample FD and the β with the lowest test nelbo."""
    records = []
    for (reduction, arch, latent), group in vaes(df).groupby(["reduction", "arch", "latent_dim"]):
        by_fd = group.loc[group[FD].idxmin()]
        nelbo = group.dropna(subset=["test/nelbo"])
        by_nelbo = nelbo.loc[nelbo["test/nelbo"].idxmin()] if not nelbo.empty else None
        records.append({
            "reduction": reduction, "arch": arch, "latent": latent, "runs": len(group),
            "collapsed": int((group["status"] == "collapsed").sum()) if "status" in group else 0,
            "best-sample β": by_fd["beta"], "its FD": by_fd[FD], "its nelbo": by_fd["test/nelbo"],
            "best-nelbo β": by_nelbo["beta"] if by_nelbo is not None else math.nan,
            "its FD ": by_nelbo[FD] if by_nelbo is not None else math.nan,
            "its nelbo ": by_nelbo["test/nelbo"] if by_nelbo is not None else math.nan,
            "FD range": float(group[FD].max() - group[FD].min()),
            "same β": by_nelbo is not None and by_fd["beta"] == by_nelbo["beta"],
        })
    return pd.DataFrame(records)


def _group_sentence(row: pd.Series) -> str:
    what = (f"latent {row['latent']}: best samples at β={fmt(row['best-sample β'])} (FD {fmt(row['its FD'])}, nelbo "
            f"{fmt(row['its nelbo'], 4)})")
    if row["same β"]:
        what += ", also the best nelbo"
    else:
        what += (f", best nelbo at β={fmt(row['best-nelbo β'])} (nelbo {fmt(row['its nelbo '], 4)}, FD "
                 f"{fmt(row['its FD '])})")
    if row["collapsed"] == row["runs"]:
        runs = "both runs" if row["runs"] == 2 else f"all {row['runs']} runs"
        what += f" — but {runs} collapsed (FD range {fmt(row['FD range'], 2)}): no β gives usable samples here"
    return what


def best_beta_findings(df: pd.DataFrame) -> str:
    table = best_beta_table(df)
    if table.empty:
        return "No VAE trial has sample metrics."
    lines = []
    for (reduction, arch), group in table.groupby(["reduction", "arch"]):
        overall = vaes(df)
        overall = overall[(overall["reduction"] == reduction) & (overall["arch"] == arch)]
        best = overall.loc[overall[FD].idxmin()]
        lines.append(f"- **reduction={reduction}, arch={arch}** (best overall: β={fmt(best['beta'])}, latent "
                     f"{best['latent_dim']}, FD {fmt(best[FD])}): "
                     + "; ".join(_group_sentence(row) for _, row in group.iterrows()) + ".")
    usable = table[table["collapsed"] < table["runs"]]
    differ = int((~usable["same β"]).sum())
    if usable.empty:
        lines.append("\nEvery group collapsed: no β gives usable samples in this sweep.")
    else:
        lines.append(f"\nAmong the {len(usable)} reduction × arch × latent groups with at least one non-collapsed run, "
                     f"the β with the best samples differs from the β with the best nelbo in {differ}.")
    return "\n".join(lines)


def ae_findings(df: pd.DataFrame) -> str:
    ae, vae = aes(df), vaes(df)
    if ae.empty:
        return "No AE baseline with sample metrics in this sweep."
    lines = []
    for _, row in ae.iterrows():
        same = vae[vae["arch"] == row["arch"]]
        if same.empty:
            continue
        best = same.loc[same[FD].idxmin()]
        better = int((same[FD] < row[FD]).sum())
        recon, vae_recon = row["test/recon_nll"], same["test/recon_nll"].min()
        relation = "below every VAE's" if recon < vae_recon else "not below every VAE's"
        lines.append(
            f"- **arch={row['arch']}**: the AE decoding z ~ N(0, I) scores FD {fmt(row[FD])}, confidence "
            f"{fmt(row[CONFIDENCE])}, coverage {fmt(row[COVERAGE])}; the best VAE of this arch (β={fmt(best['beta'])}, "
            f"{best['reduction']}, latent {best['latent_dim']}) scores FD {fmt(best[FD])}, confidence "
            f"{fmt(best[CONFIDENCE])}, coverage {fmt(best[COVERAGE])}. {better} of {len(same)} VAEs of this arch "
            f"have a lower FD than the AE, while its test recon NLL ({fmt(recon, 4)}) is {relation} "
            f"({fmt(vae_recon, 4)} at best).")
    lines.append("\nAn AE is trained only to reconstruct: nothing makes its codes follow N(0, I), so decoding prior "
                 "draws lands wherever the decoder was never trained. A VAE's KL term is what makes its prior a "
                 "place to sample from.")
    return "\n".join(lines)


def collapse_findings(df: pd.DataFrame) -> str:
    vae = vaes(df)
    if "status" not in vae or vae.empty:
        return "No VAE trial has sample metrics."
    collapsed, healthy = vae[vae["status"] == "collapsed"], vae[vae["status"] == "healthy"]
    if collapsed.empty:
        return "No VAE run collapsed in this sweep."
    text = (f"{len(collapsed)} collapsed VAE run(s) sample FD {fmt(collapsed[FD].median())} (median; range "
            f"{fmt(collapsed[FD].min())}–{fmt(collapsed[FD].max())}) and label coverage "
            f"{fmt(collapsed[COVERAGE].median())}: their reconstructions (and so their decoder outputs) barely depend "
            "on z, so the samples are all about the same average-looking image and the classifier puts nearly all "
            "of them in one class.")
    if not healthy.empty:
        text += (f" The {len(healthy)} healthy VAE runs: FD median {fmt(healthy[FD].median())}, coverage median "
                 f"{fmt(healthy[COVERAGE].median())}.")
    return text


TABLE_COLUMNS = ["number", "model", "arch", "reduction", "beta", "effective_beta", "latent_dim", "status",
                 "test/nelbo", FD, CONFIDENCE, COVERAGE]


def trial_table(df: pd.DataFrame) -> pd.DataFrame:
    rows = df[df["state"] == "COMPLETE"]
    return rows[[c for c in TABLE_COLUMNS if c in rows]].sort_values(["model", "arch", "reduction", "latent_dim",
                                                                       "effective_beta"], na_position="last")
