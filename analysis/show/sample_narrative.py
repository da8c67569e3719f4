"""The samples report's findings on the AE (compared like with like) and on the collapsed runs, as prose."""
from __future__ import annotations

import shlex
from pathlib import Path

import pandas as pd

from analysis.numbers import fmt
from analysis.findings.samples import (COVERAGE, KID, KID_STD, beta_text, configurations, is_ae, kid_range, kid_span, kid_text,
                              ladder_of, measured, order, placement)
from common.collapse import COLLAPSED
from common.results import ARTIFACT_DIR
from vae.saving import FILES as SAVED_FILES


def ae_findings(df: pd.DataFrame) -> str:
    """Each AE against the VAEs of its arch and latent size (like with like)."""
    table = configurations(df)
    if table.empty or "model" not in table or (table["model"] != "ae").all() or (table["model"] == "ae").sum() == 0:
        return "No AE baseline with sample metrics in this sweep."
    rungs = ladder_of(measured(df))
    lines = []
    for _, ae in table[table["model"] == "ae"].iterrows():
        same = table[(table["model"] != "ae") & (table["arch"] == ae["arch"]) &
                     (table["latent_dim"] == ae["latent_dim"]) & (table["collapsed"] < table["runs"])]
        text = (f"- **arch={ae['arch']}, latent {ae['latent_dim']}**: the AE decoding z ~ N(0, I) scores "
                f"{kid_range(ae)} ({placement(ae['kid'], rungs)}), coverage {fmt(ae['coverage'])}")
        if same.empty:
            lines.append(text + "; no non-collapsed VAE of this arch and latent size to compare with.")
            continue
        best = same.sort_values("kid").iloc[0]
        better = sum(order(row, ae) < 0 for _, row in same.iterrows())
        lines.append(text + f"; {better} of {len(same)} non-collapsed VAE configurations of this arch and latent size "
                     f"score better beyond the spread, the best {beta_text(best['beta'])} ({best['reduction']}) with "
                     f"{kid_range(best)}.")
    lines.append("\nAn AE is trained only to reconstruct: nothing makes its codes follow N(0, I), so decoding prior "
                 "draws lands where the decoder was never trained. A VAE's KL term is what makes its prior a place "
                 "to sample from.")
    return "\n".join(lines)


def collapse_findings(df: pd.DataFrame) -> str:
    rows = measured(df)
    vae = rows[~is_ae(rows)]
    if vae.empty:
        return "No VAE trial has sample metrics."
    collapsed, others = vae[vae["status"] == COLLAPSED], rows[rows["status"] != COLLAPSED]
    if collapsed.empty:
        return "No VAE run collapsed in this sweep."
    rungs = ladder_of(rows)
    text = (f"{len(collapsed)} collapsed VAE run(s) score KID {kid_span(collapsed[KID].min(), collapsed[KID].max())} "
            f"({placement(collapsed[KID].median(), rungs)}) and label coverage {fmt(collapsed[COVERAGE].median())} "
            "(median): their decoders barely depend on z, so every sample is about the same average-looking image.")
    if others.empty:
        return text
    worst = others[KID].max()
    if collapsed[KID].min() > worst:
        return text + (f" Every one scores worse than every other run (the worst of those, AE included: "
                       f"{kid_text(worst)}).")
    exceptions = collapsed[collapsed[KID] <= worst].sort_values(KID)
    beaten = [int((others[KID] > value).sum()) for value in exceptions[KID]]
    listed = "; ".join(f"#{row['number']} ({row['reduction']}, {row['arch']}, {beta_text(row['beta'])}, latent "
                       f"{row['latent_dim']}: KID {kid_text(row[KID])}, better than {count} non-collapsed run(s))"
                       for (_, row), count in zip(exceptions.iterrows(), beaten))
    return text + (f" Not all of them score worst: {listed}. The collapse flag reads the reconstructions and the "
                   "active units, KID the prior samples; look at both rows in the sample grids above.")


def best_to_sample(df: pd.DataFrame) -> str:
    """The model to sample from: the non-collapsed VAE with a saved model and the lowest KID, and the command."""
    rows = measured(df)
    rows = rows[~is_ae(rows) & (rows["status"] != COLLAPSED)]
    saved = rows[rows[ARTIFACT_DIR].map(lambda folder: isinstance(folder, str)
                                        and all((Path(folder) / name).is_file() for name in SAVED_FILES))] \
        if ARTIFACT_DIR in rows else rows.iloc[0:0]
    if saved.empty:
        return "**To sample from**: no non-collapsed VAE of this sweep has a saved model."
    best = saved.loc[saved[KID].idxmin()]
    spread = float(best.get(KID_STD) or 0.0)
    close = saved[(saved.index != best.name) & ((saved[KID] - best[KID]).abs() <= 2 * spread)]
    ties = ""
    if spread > 0 and not close.empty:
        numbers = ", ".join(f"#{int(number)}" for number in close["number"])
        ties = f"; {numbers} {'lies' if len(close) == 1 else 'lie'} within twice that spread and would do as well"
    effective = best.get("effective_beta")
    shown_beta = beta_text(best["beta"]) + (f", effective β {fmt(effective)}" if pd.notna(effective)
                                            and best["reduction"] == "mean" else "")
    return (f"**To sample from**: trial #{int(best['number'])} ({best['arch']}, reduction={best['reduction']}, "
            f"{shown_beta}, latent {int(best['latent_dim'])}) has the lowest KID among the VAEs that did not "
            f"collapse, KID {kid_text(best[KID], best.get(KID_STD))}{ties}. "
            f"`python -m vae.sample {shlex.quote(best[ARTIFACT_DIR])} --n 100` writes its prior samples, "
            f"reconstructions, traversals and interpolations.")
