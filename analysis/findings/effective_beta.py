"""The effective-β law checked on the study's own runs: `mean` with β trains the model `sum` trains with β·D.

Two checks, each against the known answer "the same":
- `pair_findings`: runs that differ only in reduction and β, at the same effective β (e.g. mean with β = 1/784
  and sum with β = 1 on 28×28 images), should reach the same test metrics (up to float rounding and the
  optimiser's ε, which do not scale with the loss);
- `boundary_agreement`: the `mean` and `sum` rows of one group in `collapse_boundary.csv` should put the
  boundary at the same effective β (their intervals overlap).
"""
from __future__ import annotations

import math

import pandas as pd

from analysis.numbers import fmt, table
from analysis.findings.seeds import config_columns
from analysis.read.frame import finished_vaes
from common.results import KEY

SAME = 1e-6  # relative difference of two effective β values that are the same number
PAIR_METRICS = ((KEY.nelbo, "nelbo (nats)"), (KEY.kl, "KL (nats)"), (KEY.active_units, "active units"),
                (KEY.recon_diversity, "recon diversity"))


def pairs(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (mean, sum) pair of finished VAE runs alike in every parameter but reduction and β, at the
    same effective β: the shared parameters, both β values and both runs' metrics."""
    done = finished_vaes(df)
    done = done[done["effective_beta"].notna()]
    keys = [key for key in config_columns(df) if key not in ("beta", "reduction")] + \
        [key for key in ("seed",) if key in df]
    label = done[keys].astype(str).agg("|".join, axis=1) if keys else pd.Series("", index=done.index)
    rows = []
    for _, part in done.assign(_label=label).groupby("_label", sort=False):
        means, sums = part[part["reduction"] == "mean"], part[part["reduction"] == "sum"]
        for _, mean in means.iterrows():
            for _, total in sums.iterrows():
                if math.isclose(mean["effective_beta"], total["effective_beta"], rel_tol=SAME):
                    row = {key: mean[key] for key in keys if key not in ("model", "seed")}
                    row.update({"effective β": mean["effective_beta"], "β mean": mean["beta"],
                                "β sum": total["beta"]})
                    for column, name in PAIR_METRICS:
                        row[f"{name}: mean"], row[f"{name}: sum"] = mean[column], total[column]
                    rows.append(row)
    return pd.DataFrame(rows)


def pair_findings(df: pd.DataFrame) -> str:
    """The pairs as prose and a table, with the largest difference of each metric."""
    found = pairs(df)
    if found.empty:
        return ("No `mean` run has a `sum` twin at the same effective β in this study (e.g. mean with β = 1/D next "
                "to sum with β = 1), so the law is shown through the boundary below, not run by run.")
    gaps = []
    for _, name in PAIR_METRICS[:2]:
        gap = (found[f"{name}: mean"] - found[f"{name}: sum"]).abs().max()
        gaps.append(f"{name.split(' (')[0]} by at most {fmt(gap)} nats")
    units = (found["active units: mean"] == found["active units: sum"]).all()
    return (f"**Checked on {len(found)} pair{'s' if len(found) > 1 else ''} of runs**: `mean` with β and `sum` with "
            f"β·D (the same effective β) differ in test {', '.join(gaps)}, and "
            f"{'have the same' if units else 'differ in their'} active units — the same model, up to float "
            f"rounding and the optimiser's ε (not scaled with the loss).\n\n" + table(found))


def boundary_agreement(found: pd.DataFrame, keys: list[str]) -> str:
    """Whether the `mean` and `sum` rows of each group (same keys but reduction) put the boundary at the same
    effective β: their intervals overlap (agree) or not; "" when no group has both located."""
    if "reduction" not in keys or found.empty:
        return ""
    others = [key for key in keys if key != "reduction"]
    lines = []
    located = found[found["located"]]
    for key, part in (located.groupby(others, sort=True) if others else [((), located)]):
        sides = {row["reduction"]: row for _, row in part.iterrows()}
        if not {"mean", "sum"} <= set(sides):
            continue
        mean, total = sides["mean"], sides["sum"]
        name = ", ".join(f"{k} {v}" for k, v in zip(others, key if isinstance(key, tuple) else (key,)))
        overlap = max(mean["low"], total["low"]) <= min(mean["high"], total["high"])
        ranges = (f"sum {fmt(total['low'])}–{fmt(total['high'])}, mean {fmt(mean['low'])}–{fmt(mean['high'])}, "
                  f"estimates {fmt(total['estimate'])} and {fmt(mean['estimate'])}")
        verdict = ("**agree**: the intervals overlap, so `mean` with β behaves as `sum` with β·D, as the "
                   "effective-β law says" if overlap else
                   "**do not agree**: the intervals do not overlap; the law holds for the loss, so look for what "
                   "else differs between these runs (training length, noise near the boundary)")
        lines.append(f"- {name or 'all runs'}: {ranges} (effective β): {verdict}.")
    if not lines:
        return ""
    return "\n\n**`mean` against `sum`, in effective β:**\n\n" + "\n".join(lines)
