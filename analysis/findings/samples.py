"""The "samples" report: which β gives the best samples? The answer, its evidence and its spread, as prose.

Reads `vae.quality`'s metrics from the trial table: `test/sample_kid` (the headline: KID, lower is better, shown
×10³), its sampling spread `test/sample_kid_std`, `test/sample_fd_cnn`, `test/sample_coverage`, and the calibration
ladder every trial stored (`test/sample_kid_ladder`, `vae.ladder.RUNGS`), against which each value is placed
("KID 41: between blur σ = 1 and σ = 2"). Only trials whose `sample_features` name the same feature extractor
are compared. Training seeds: a configuration (`analysis.findings.seeds.config_columns`) run with several seeds
is one row with the median and the range over its seeds; two β are called different only when those ranges do not
overlap. Every number in the prose is computed here from the data (the AE and collapse findings:
`analysis.show.sample_narrative`).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from analysis.numbers import fmt
from analysis.read.frame import finished
from analysis.findings.seeds import config_columns
from common.collapse import COLLAPSED
from common.results import stored_key
from vae import ladder

KID, KID_STD, FD = stored_key("sample_kid"), stored_key("sample_kid_std"), stored_key("sample_fd_cnn")
COVERAGE, LADDER, LADDER_STD = stored_key("sample_coverage"), stored_key("sample_kid_ladder"), \
    stored_key("sample_kid_ladder_std")
ACCURACY, OLD_FD, FEATURES = stored_key("classifier_accuracy"), stored_key("sample_fd"), "sample_features"
SCALE = 1e3  # KID is shown ×10³
SETTLE_SEEDS = (1, 2)  # seeds to add when one training seed per β cannot settle a comparison


# --- selection ----------------------------------------------------------------------------------------------

def measured(df: pd.DataFrame) -> pd.DataFrame:
    """Finished trials with a sample KID, all measured with one feature extractor (the most frequent one)."""
    done = finished(df)
    if KID not in done or FEATURES not in done:
        return done.iloc[0:0]
    rows = done[done[KID].notna()]
    if rows.empty:
        return rows
    return rows[rows[FEATURES] == rows[FEATURES].value_counts().index[0]]


def is_ae(rows: pd.DataFrame) -> pd.Series:
    return rows["model"].fillna("vae") == "ae"


def ladders(rows: pd.DataFrame) -> list[tuple[np.ndarray, np.ndarray]]:
    """The distinct calibration ladders (KIDs, spreads) the trials stored: one per dataset split (= classifier)."""
    found: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
    for values, spreads in zip(rows.get(LADDER, []), rows.get(LADDER_STD, [])):
        if isinstance(values, np.ndarray) and len(values) == len(ladder.RUNGS):
            spreads = spreads if isinstance(spreads, np.ndarray) else np.full(len(values), np.nan)
            found.setdefault(tuple(values), (values, spreads))
    return list(found.values())


def ladder_of(rows: pd.DataFrame) -> dict[str, tuple[float, float]]:
    """{rung: (KID, sampling spread)}: the one ladder of the trials, or with several classifiers (several data
    splits) the median of each rung over them."""
    found = ladders(rows)
    if not found:
        return {}
    values = np.median([values for values, _ in found], axis=0)
    spreads = np.median([spreads for _, spreads in found], axis=0)
    return {name: (float(v), float(s)) for name, v, s in zip(ladder.RUNGS, values, spreads)}


# --- how a value is written -------------------------------------------------------------------------------

def kid_text(value: float, spread: float | None = None) -> str:
    """KID ×10³ in the report's number format; a negative estimate (no worse than real data) is "≈ 0"."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    text = "≈ 0" if value <= 0 else fmt(SCALE * value)
    if spread is not None and not (isinstance(spread, float) and math.isnan(spread)):
        text += f" ± {fmt(float(f'{SCALE * spread:.2g}'))}"  # two significant digits, in the report's format
    return text


def placement(value: float, rungs: dict[str, tuple[float, float]]) -> str:
    """Where `value` falls on the ladder: "between blur σ = 1 (12) and blur σ = 2 (60)"."""
    if not rungs or value is None or math.isnan(value):
        return "no calibration ladder stored"
    ordered = sorted(rungs.items(), key=lambda item: item[1][0])
    below = [(name, kid) for name, (kid, _) in ordered if kid <= value]
    above = [(name, kid) for name, (kid, _) in ordered if kid > value]
    if not below:
        return f"better than {ladder.LABELS[above[0][0]]} ({kid_text(above[0][1])})"
    if not above:
        return f"worse than {ladder.LABELS[below[-1][0]]} ({kid_text(below[-1][1])})"
    (low, low_kid), (high, high_kid) = below[-1], above[0]
    return f"between {ladder.LABELS[low]} ({kid_text(low_kid)}) and {ladder.LABELS[high]} ({kid_text(high_kid)})"


def kid_span(low: float, high: float) -> str:
    """"low–high" in KID ×10³, or one number when both read the same."""
    low_text, high_text = kid_text(low), kid_text(high)
    return low_text if low_text == high_text else f"{low_text}–{high_text}"


def kid_range(row: pd.Series) -> str:
    """A configuration's KID: with several seeds the median and range, else the value ± its sampling spread."""
    if row["runs"] > 1:
        return f"KID {kid_text(row['kid'])} [{kid_span(row['kid min'], row['kid max'])} over {row['runs']} seeds]"
    return f"KID {kid_text(row['kid'], row['kid spread'])}"


def beta_text(value: Any) -> str:
    return f"β={fmt(value)}"


# --- configurations (seeds aggregated) -------------------------------------------------------------------

def configurations(df: pd.DataFrame) -> pd.DataFrame:
    """One row per configuration of the measured trials: keys, runs, collapsed runs, KID median/min/max over
    seeds, the median sampling spread, FD and coverage medians, the trial numbers."""
    rows = measured(df)
    keys = [key for key in config_columns(df) if key in rows]
    if rows.empty:
        return pd.DataFrame(columns=[*keys, "runs", "collapsed", "kid", "kid min", "kid max", "kid spread"])
    rows = rows.assign(_key=rows[keys].astype(str).agg("|".join, axis=1).to_numpy(),
                       _collapsed=(rows["status"] == COLLAPSED).to_numpy())
    groups = rows.groupby("_key", sort=False)
    table = rows.drop_duplicates("_key").set_index("_key")[[*keys, "effective_beta"]]
    table["runs"] = groups.size()
    table["collapsed"] = groups["_collapsed"].sum().astype(int)
    table["kid"], table["kid min"], table["kid max"] = groups[KID].median(), groups[KID].min(), groups[KID].max()
    table["kid spread"] = groups[KID_STD].median() if KID_STD in rows else math.nan
    table["fd"] = groups[FD].median() if FD in rows else math.nan
    table["coverage"] = groups[COVERAGE].median() if COVERAGE in rows else math.nan
    table["numbers"] = groups["number"].agg(list)
    return table.reset_index(drop=True)


def order(a: pd.Series, b: pd.Series) -> int:
    """1 if a's KID is worse than b's beyond the spread, −1 if better, 0 if not: with several seeds each the ranges
    over seeds must not overlap, else the gap must exceed twice the combined sampling spread."""
    if a["runs"] > 1 and b["runs"] > 1:
        apart = differ(a, b)
    else:
        apart = abs(a["kid"] - b["kid"]) > 2 * np.hypot(a["kid spread"], b["kid spread"])
    return 0 if not apart else 1 if a["kid"] > b["kid"] else -1


def differ(a: pd.Series, b: pd.Series) -> bool | None:
    """Do two configurations' KIDs differ by more than the spread over training seeds? None: one seed only."""
    if a["runs"] < 2 or b["runs"] < 2:
        return None
    return bool(a["kid max"] < b["kid min"] or b["kid max"] < a["kid min"])


# --- the answer ---------------------------------------------------------------------------------------------

def _ae_clause(table: pd.DataFrame, arch: str, best: pd.Series) -> str:
    aes = table[(table["model"] == "ae") & (table["arch"] == arch)] if "model" in table else table.iloc[0:0]
    if aes.empty:
        return ""
    same = aes[aes["latent_dim"] == best["latent_dim"]]
    ae = (same if not same.empty else aes).iloc[0]
    where = "the same latent size" if not same.empty else f"latent {ae['latent_dim']}, the only AE"
    verdict = {1: "worse than", -1: "better than", 0: "within the spread of"}[order(ae, best)]
    return (f"; the AE of this arch ({where}), decoding z ~ N(0, I), scores {kid_range(ae)}: {verdict} "
            f"{beta_text(best['beta'])}")


def _settle(best: pd.Series, other: pd.Series) -> str:
    seeds = ", ".join(str(seed) for seed in SETTLE_SEEDS)
    return (f"seeds {seeds} of {beta_text(best['beta'])} and {beta_text(other['beta'])} at latent "
            f"{best['latent_dim']} would settle it")


def group_answer(table: pd.DataFrame, reduction: str, arch: str, rungs: dict) -> str:
    """One sentence: which β gives the best samples for this reduction and arch."""
    vae = table[(table["model"] != "ae") & (table["reduction"] == reduction) & (table["arch"] == arch)]
    head = f"**reduction={reduction}, arch={arch}**: "
    runs, collapsed = int(vae["runs"].sum()), int(vae["collapsed"].sum())
    if collapsed == runs:
        return (head + f"no β works here: all {runs} runs collapsed ({beta_text_list(vae['beta'])}; KID "
                f"{kid_span(vae['kid'].min(), vae['kid'].max())}, {placement(vae['kid'].median(), rungs)}).")
    usable = vae[vae["collapsed"] < vae["runs"]].sort_values("kid")
    best = usable.iloc[0]
    lowest = (f"{beta_text(best['beta'])} (latent {best['latent_dim']}: {kid_range(best)}, "
              f"{placement(best['kid'], rungs)})")
    rivals = usable[(usable["latent_dim"] == best["latent_dim"]) & (usable["beta"] != best["beta"])]
    if rivals.empty:
        text = head + f"{lowest} has the lowest KID; no other β ran at latent {best['latent_dim']}"
    else:
        rival = rivals.iloc[0]
        verdict = differ(best, rival)
        if verdict is None:
            noise = (rival["kid"] - best["kid"]) / np.hypot(best["kid spread"], rival["kid spread"])
            text = (head + f"the sweep cannot tell: {lowest} has the lowest KID and {beta_text(rival['beta'])} the "
                    f"next ({kid_range(rival)}; the gap is {fmt(noise, 2)}× their sampling spread), but with one "
                    "training seed per β it cannot show whether the gap exceeds the spread between training runs; "
                    + _settle(best, rival))
        elif verdict:
            text = (head + f"{lowest} gives the best samples, better than the next, {beta_text(rival['beta'])} "
                    f"({kid_range(rival)}), by more than the spread over training seeds")
        else:
            text = (head + f"the sweep cannot tell {lowest} from {beta_text(rival['beta'])} ({kid_range(rival)}): "
                    "their ranges over training seeds overlap")
    if collapsed:
        text += f"; {collapsed} of {runs} runs collapsed"
    return text + _ae_clause(table, arch, best) + "."


def beta_text_list(values: pd.Series) -> str:
    distinct = sorted(set(float(value) for value in values.dropna()))
    return "β " + ", ".join(fmt(value) for value in distinct)


def answer(df: pd.DataFrame) -> str:
    """samples.html's opening: one sentence per reduction and arch."""
    table = configurations(df)
    vae = table[table["model"] != "ae"] if "model" in table else table
    if vae.empty:
        return "No VAE trial has sample metrics, so this sweep cannot say which β gives the best samples."
    rungs = ladder_of(measured(df))
    lines = [f"- {group_answer(table, reduction, arch, rungs)}"
             for (reduction, arch), _ in vae.groupby(["reduction", "arch"], sort=True)]
    return "**Which β gives the best samples?** (KID ×10³, lower is better)\n\n" + "\n".join(lines)


def overview(df: pd.DataFrame) -> str:
    done = finished(df)
    rows = measured(df)
    if rows.empty:
        reasons = sorted({str(r) for r in done.get("sample_quality_skipped", pd.Series(dtype=object)).dropna()})
        why = f": {'; '.join(reasons)}" if reasons else " (trials from before the metrics existed?)"
        return f"No finished trial has sample metrics{why}."
    accuracy = sorted({round(float(a), 4) for a in rows[ACCURACY].dropna()})
    counts = sorted({int(n) for n in rows.get("sample_count", pd.Series(dtype=float)).dropna()})
    splits = len(ladders(rows))
    text = (f"{len(rows)} of {len(done)} finished trials have sample metrics, each from "
            f"{' / '.join(str(n) for n in counts) or 'as many'} prior samples z ~ N(0, I) decoded to their mean image "
            f"and as many test images. Features: {rows[FEATURES].iloc[0]}, trained on the train split only (held-out "
            f"test accuracy {', '.join(f'{a:.1%}' for a in accuracy)}). **KID** (the headline; ×10³, lower is "
            "better, ≈ 0 for samples distributed like the data) is shown ± its sampling spread (random half-size "
            "subsets of samples and test images); FD in the same features and label coverage (1: every class "
            "equally often, 0: one class) are secondary. Each value is placed on the calibration ladder below.")
    if splits > 1:
        text += (f" The trials use {splits} data splits (seeds), each with its own classifier and ladder: values are "
                 "placed on the median ladder, and a configuration's range over seeds includes the classifiers' "
                 "differences.")
    other = done[done[KID].notna()] if KID in done else done.iloc[0:0]
    left = len(other) - len(rows)
    old = int(done[OLD_FD].notna().sum() - (done[OLD_FD].notna() & done[KID].notna()).sum()) \
        if OLD_FD in done and KID in done else 0
    if left:
        text += f" {left} trial(s) measured with another feature extractor are left out (not comparable)."
    if old:
        text += f" {old} trial(s) from before KID (an MLP's FD only, not comparable) are left out."
    skipped = len(done) - len(other) - old
    if skipped > 0:
        text += f" {skipped} finished trial(s) have no sample metrics (see `sample_quality_skipped`)."
    return text


def ladder_table(df: pd.DataFrame) -> pd.DataFrame:
    """The calibration ladder as a table (KID ×10³ ± its sampling spread), best rung first; with several classifiers
    (data splits) the median and the range over them."""
    rows = measured(df)
    rungs, found = ladder_of(rows), ladders(rows)
    records = []
    for name, (kid, spread) in sorted(rungs.items(), key=lambda item: item[1][0]):
        record = {"calibration set": ladder.LABELS[name], "KID ×10³": kid_text(kid, spread)}
        if len(found) > 1:
            index = ladder.RUNGS.index(name)
            values = [values[index] for values, _ in found]
            record["KID ×10³"] = kid_text(kid)
            record[f"range over the {len(found)} classifiers"] = kid_span(min(values), max(values))
        records.append(record)
    return pd.DataFrame(records)
