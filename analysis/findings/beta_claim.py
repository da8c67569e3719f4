"""Checks the claim "scaling β up can also help to achieve better samples" on the trials of a sweep.

For every reduction=sum VAE configuration with β > 1 that has a β = 1 twin (same arch and latent size, and so on),
both run with at least two training seeds: is its sample KID lower than β = 1's by more than the spread over
training seeds (the seed ranges do not overlap)? Seeds pair up: the same seed means the same data split,
classifier and test images, so the report also counts the seeds on which β > 1 scored lower. The KL − MI gap is
not used as evidence of a "prior hole": the MI estimate cannot exceed ln(test images), so KL − MI grows with the KL
whatever the aggregate posterior looks like.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from analysis.findings import samples
from analysis.numbers import fmt

BETTER, WORSE, UNCLEAR = "better", "worse", "cannot tell"


def comparisons(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (β > 1 configuration, its β = 1 twin): KIDs with seed ranges, seeds won, the verdict."""
    table = samples.configurations(df)
    columns = ["arch", "latent_dim", "beta", "runs", "kid", "kid min", "kid max", "baseline kid",
               "baseline min", "baseline max", "seeds lower", "seeds paired", "largest gap", "verdict"]
    if table.empty or "model" not in table:
        return pd.DataFrame(columns=columns)
    vae = table[(table["model"] != "ae") & (table["reduction"] == "sum") & (table["runs"] >= 2)]
    rows = samples.measured(df)
    records = []
    twin_keys = [key for key in vae.columns if key not in _VALUE_COLUMNS and key not in ("beta", "effective_beta")]
    for _, config in vae[vae["beta"] > 1].iterrows():
        twins = vae[(vae["beta"] == 1.0)]
        for key in twin_keys:
            twins = twins[twins[key].astype(str) == str(config[key])]
        if twins.empty:
            continue
        twin = twins.iloc[0]
        lower, paired, largest = _paired(rows, config["numbers"], twin["numbers"])
        verdict = samples.differ(config, twin)
        records.append({"arch": config["arch"], "latent_dim": config["latent_dim"], "beta": config["beta"],
                        "runs": min(config["runs"], twin["runs"]), "kid": config["kid"],
                        "kid min": config["kid min"], "kid max": config["kid max"], "baseline kid": twin["kid"],
                        "baseline min": twin["kid min"], "baseline max": twin["kid max"], "seeds lower": lower,
                        "seeds paired": paired, "largest gap": largest,
                        "verdict": UNCLEAR if not verdict else BETTER if config["kid"] < twin["kid"] else WORSE})
    return pd.DataFrame(records, columns=columns)


_VALUE_COLUMNS = {"runs", "collapsed", "kid", "kid min", "kid max", "kid spread", "fd", "coverage", "numbers"}


def _paired(rows: pd.DataFrame, numbers: list, baseline: list) -> tuple[int, int, float]:
    """(seeds on which the configuration's KID is lower than β = 1's, seeds both ran, the largest paired gap in
    units of its sampling spread)."""
    if "seed" not in rows:
        return 0, 0, math.nan
    kid = rows.set_index("number")[[samples.KID, samples.KID_STD, "seed"]]
    mine, theirs = kid.loc[numbers].set_index("seed"), kid.loc[baseline].set_index("seed")
    common = mine.index.intersection(theirs.index)
    gaps = (theirs.loc[common, samples.KID] - mine.loc[common, samples.KID]).abs()
    noise = np.hypot(mine.loc[common, samples.KID_STD], theirs.loc[common, samples.KID_STD])
    largest = float((gaps / noise).max()) if len(common) else math.nan
    return int((mine.loc[common, samples.KID] < theirs.loc[common, samples.KID]).sum()), len(common), largest


def _line(row: pd.Series) -> str:
    ours = (f"β={fmt(row['beta'])}: KID {samples.kid_text(row['kid'])} [{samples.kid_text(row['kid min'])}–"
            f"{samples.kid_text(row['kid max'])}]")
    base = (f"β=1: {samples.kid_text(row['baseline kid'])} [{samples.kid_text(row['baseline min'])}–"
            f"{samples.kid_text(row['baseline max'])}]")
    paired = (f"lower on {row['seeds lower']} of {row['seeds paired']} seeds (same seed: same data split and "
              f"classifier), the largest paired gap {fmt(row['largest gap'], 2)}× its sampling spread")
    return (f"- {row['arch']}, latent {row['latent_dim']}: {ours} vs {base} over {row['runs']} training seeds; "
            f"{paired}: **{row['verdict']}**")


def findings(df: pd.DataFrame) -> str:
    """The verdict on the claim, and one line per comparison."""
    table = comparisons(df)
    if table.empty:
        return ("This sweep cannot check the claim: it needs reduction=sum VAEs at β = 1 and at some β > 1 with the "
                "same other settings, each with at least two training seeds (configs/beta_samples.yaml runs that).")
    better = table[table["verdict"] == BETTER]
    worse = table[table["verdict"] == WORSE]
    if not better.empty:
        best = better.sort_values("kid").iloc[0]
        head = (f"**Yes, here: β={fmt(best['beta'])} gives better prior samples than β = 1 at latent "
                f"{best['latent_dim']} ({best['arch']})**, by more than the spread over training seeds")
    elif len(worse) == len(table):
        head = "**No: every β > 1 tested gives worse prior samples than β = 1**, beyond the spread over training seeds"
    else:
        head = ("**Not shown: no β > 1 beats β = 1 by more than the spread over training seeds** at any latent size "
                "tested")
    note = ("\n\nKID values ×10³ with [min–max over training seeds]. KL − MI is not used as evidence of a \"prior "
            "hole\": the MI estimate is capped at the log of the number of test images it uses, so KL − MI grows "
            "with the KL by itself.")
    return head + ".\n\n" + "\n".join(_line(row) for _, row in table.iterrows()) + note
