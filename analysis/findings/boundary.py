"""Where collapse begins, per group of the study: the effective-β boundary, `collapse_boundary.csv` and its prose.

Groups: one per combination of the searched keys but β (`reduction` included, with `arch` and `latent_dim` always
shown); seeds are pooled (runs of several seeds that disagree give the logistic or overlap estimate). Only finished
VAE runs that recorded their active units count.

The criterion is "no active unit" (`common.collapse.no_active_units`: test active units at or below the collapse
flag's threshold, 0), not the whole collapse flag. The flag also calls a run collapsed when its reconstructions
barely differ (recon_diversity below its threshold) while some units are still active: a symptom that comes and
goes with training length, where AU = 0 is the posterior itself at the prior (what the linear-Gaussian theory
predicts, and what the boundary search bisects on). Every AU = 0 run is flagged collapsed, so the flag's
collapse begins at or below this boundary; the prose counts the runs in between.

The estimate per group is `common.boundary.locate` on effective β (bracket / logistic / overlap / above / below /
unordered). In `collapse_boundary.csv`, `low` ≤ `estimate` ≤ `high`: the largest working and the smallest
collapsed effective β of a bracket, the 95 % interval of a logistic fit, the zone of an overlap; for `above` only
`low` (the largest β tried), for `below` only `high`; NaN where a side is missing.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.findings.effective_beta import boundary_agreement
from analysis.numbers import count, fmt, plural, span, table
from analysis.read.frame import finished_vaes
from common.boundary import locate
from common.collapse import COLLAPSED, Thresholds
from common.results import KEY

CSV_NAME = "collapse_boundary.csv"
SHOWN = ("arch", "latent_dim", "reduction")  # group columns in every table, searched or not
POOLED = {"beta", "seed", "model"}  # never group keys: the swept axis, replicates, and the AE (no KL)
CSV_COLUMNS = ("low", "estimate", "high", "method", "trials")


def group_keys(df: pd.DataFrame) -> list[str]:
    """`arch`, `latent_dim`, `reduction`, then every other searched key but β, seed and model."""
    space = df.attrs.get("study_attrs", {}).get("search_space") or {}
    searched = list(space) if space else list(df.attrs.get("swept", []))
    keys = [*SHOWN, *sorted(key for key in searched if key not in POOLED and key not in SHOWN)]
    return [key for key in keys if key in df]


def judged(df: pd.DataFrame) -> pd.DataFrame:
    """Finished VAE runs with recorded active units and an effective β, with `no_units` (the criterion)."""
    done = finished_vaes(df)
    units = pd.to_numeric(done[KEY.active_units], errors="coerce")
    done = done[units.notna() & pd.to_numeric(done["effective_beta"], errors="coerce").gt(0)]
    limit = Thresholds(**df.attrs.get("thresholds", {})).active_units_collapsed
    return done.assign(no_units=pd.to_numeric(done[KEY.active_units]) <= limit)


def _label(value):
    return json.dumps(value) if isinstance(value, (list, tuple, np.ndarray)) else value


def boundaries(df: pd.DataFrame) -> pd.DataFrame:
    """One row per group: its keys, the `Boundary` fields, `located`, `trials`, and `low`/`high` set to the
    largest working / smallest collapsed β for `above` / `below` (the side the data do show)."""
    runs = judged(df)
    keys = group_keys(df)
    if runs.empty:
        return pd.DataFrame(columns=[*keys, "method", "runs", "located", *CSV_COLUMNS])
    labels = runs[keys].map(_label) if keys else runs[[]]
    rows = []
    groups = labels.groupby(keys, sort=True, dropna=False).groups if keys else {(): runs.index}
    for key, index in groups.items():
        part = runs.loc[index]
        found = locate(part["effective_beta"].to_numpy(dtype=float), part["no_units"].to_numpy())
        row = {**dict(zip(keys, key if isinstance(key, tuple) else (key,))), **found.__dict__,
               "located": found.located, "trials": found.runs}
        if found.method == "above":
            row["low"] = found.largest_working
        elif found.method == "below":
            row["high"] = found.smallest_collapsed
        rows.append(row)
    return pd.DataFrame(rows)


def write_csv(df: pd.DataFrame, path: Path) -> pd.DataFrame:
    """`collapse_boundary.csv`: the group keys, low, estimate, high (effective β), method, trials."""
    found = boundaries(df)
    keys = [column for column in found.columns if column in group_keys(df)]
    table_ = found[[*keys, *CSV_COLUMNS]]
    table_.to_csv(path, index=False)
    return table_


BOUNDARY_HOW = {"bracket": "between the largest working and the smallest collapsed run",
                "logistic": "logistic fit, 95% interval", "overlap": "runs disagree in this range"}


def _boundary_cell(row: pd.Series) -> tuple[str, str]:
    if row["method"] == "above":
        return f"not located: no run lost its last unit (largest effective β tried {fmt(row['low'])})", ""
    if row["method"] == "below":
        return f"not located: every run lost all units (smallest effective β tried {fmt(row['high'])})", ""
    if row["method"] in ("unordered", "none"):
        return "not located: losing all units does not grow with effective β here", ""
    interval = fmt(row["low"]) if np.isclose(row["low"], row["high"]) else f"{fmt(row['low'])}–{fmt(row['high'])}"
    return f"≈ {fmt(row['estimate'])} ({interval})", BOUNDARY_HOW[row["method"]]


def _flag_gap(df: pd.DataFrame) -> str:
    """How the collapse flag and the AU = 0 criterion differ on these runs."""
    runs = judged(df)
    between = runs[(runs["status"] == COLLAPSED) & ~runs["no_units"]]
    if between.empty:
        return ("Every run flagged collapsed here has no active unit, so the flag and this criterion agree on "
                "these runs.")
    return (f"{plural(len(between), 'run')} flagged collapsed still {'has' if len(between) == 1 else 'have'} "
            f"active units (effective β {span(between['effective_beta'])}; their reconstructions barely differ): "
            f"the flag's collapse begins below this boundary, where the last unit switches off.")


def findings(df: pd.DataFrame) -> str:
    """Where collapse begins, per group: the effective-β boundary on AU = 0, how it was located, and whether
    the `mean` and `sum` rows agree (analysis.findings.effective_beta)."""
    found = boundaries(df)
    if found.empty:
        return "**Where collapse begins**: no finished VAE runs with recorded active units."
    keys = [key for key in group_keys(df) if key in found]
    rows = []
    for _, row in found.iterrows():
        boundary, how = _boundary_cell(row)
        ratio = row["high"] / row["low"] if row["located"] else math.nan
        rows.append({**{key: row[key] for key in keys}, "runs": count(int(row["runs"])),
                     "AU = 0": count(int(row["collapsed"])), "last unit switches off at effective β": boundary,
                     "high/low": fmt(ratio) if math.isfinite(ratio) else "–", "how": how})
    located = found[found["located"]]
    text = (f"**Where collapse begins** (the effective β at which the last latent unit switches off, per "
            f"{', '.join(keys) or 'study'}; `{CSV_NAME}`): located for {len(located)} of "
            f"{plural(len(found), 'group')}")
    if not located.empty:
        text += f", {'estimates ' if len(located) > 1 else 'at '}{span(located['estimate'])}"
    target = df.attrs.get("study_attrs", {}).get("boundary", {}).get("ratio")
    if target and not located.empty:
        text += (f"; the boundary search narrows each bracket to high/low ≤ {fmt(target)}, reached in "
                 f"{count(int((located['high'] / located['low'] <= target * (1 + 1e-9)).sum()))} of "
                 f"{count(len(located))}")
    missing = found[~found["located"]]
    if not missing.empty:
        reasons = [f"{number} {why}" for number, why in (
            (int((missing["method"] == "above").sum()),
             "with no run at AU = 0 (the boundary lies above the largest β tried)"),
            (int((missing["method"] == "below").sum()), "with every run at AU = 0 (it lies below the smallest)"),
            (int((~missing["method"].isin(["above", "below"])).sum()), "where losing all units does not grow with β")) if number]
        text += f". In {plural(len(missing), 'group')} the data cannot locate it: {', '.join(reasons)}"
    text += (". A wide range means no run was tried between the last working and the first collapsed β; more "
             f"trials there would narrow it. {_flag_gap(df)}\n\n")
    return text + table(pd.DataFrame(rows)) + boundary_agreement(found, keys)
