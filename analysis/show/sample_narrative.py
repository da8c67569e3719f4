"""The samples report's findings on the AE (compared like with like) and on the collapsed runs, as prose."""
from __future__ import annotations

import pandas as pd

from analysis.numbers import fmt
from analysis.findings.samples import (COVERAGE, KID, beta_text, configurations, is_ae, kid_range, kid_span, kid_text,
                              ladder_of, measured, order, placement)
from common.collapse import COLLAPSED


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
