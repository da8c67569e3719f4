"""Seed aggregation: finished trials that differ only in their seed are one configuration.

`configurations(df)` has one row per configuration: its parameters, `runs` (n), `collapsed` (k), `verdict`
("collapsed" when every seed collapsed, "mixed" when some did, else the shared status or "healthy"), the text
"k of n seeds collapsed", and the median, min and max of each metric over the seeds.
"""
from __future__ import annotations

import pandas as pd

from analysis.numbers import fmt
from analysis.read.frame import finished
from common.collapse import COLLAPSED
from common.results import KEY

SEED_COLUMNS = ("seed",)
KEY_ORDER = ("model", "arch", "reduction", "latent_dim", "beta")
METRICS = (KEY.active_units, KEY.kl, KEY.mutual_info, KEY.recon_diversity, KEY.sharpness,
           KEY.recon_nll)


def config_columns(df: pd.DataFrame) -> list[str]:
    """The parameters that identify a configuration: the core ones and every swept one except the seed."""
    swept = [name for name in df.attrs.get("swept", []) if name in df and name not in SEED_COLUMNS]
    return list(dict.fromkeys([name for name in KEY_ORDER if name in df] + swept))


def configurations(df: pd.DataFrame) -> pd.DataFrame:
    """One row per configuration of the finished trials (see the module docstring)."""
    done = finished(df)
    keys = config_columns(df)
    if done.empty or not keys:
        return pd.DataFrame(columns=[*keys, "runs", "collapsed", "verdict", "seeds collapsed"])
    # One text key per configuration (lists such as hidden sizes are not hashable; NaN keys stay groups).
    config = done[keys].astype(str).agg("|".join, axis=1)
    done = done.assign(_config=config.to_numpy(), _collapsed=(done["status"] == COLLAPSED).to_numpy())
    groups = done.groupby("_config", sort=False)
    table = done.drop_duplicates("_config").set_index("_config")[[*keys, "effective_beta", "status"]]
    table["runs"] = groups.size()
    table["collapsed"] = groups["_collapsed"].sum().astype(int)
    mixed_status = groups["status"].nunique() > 1
    table["verdict"] = table["status"].where(~mixed_status, "healthy/partial")
    table.loc[table["collapsed"] > 0, "verdict"] = "mixed"
    table.loc[table["collapsed"] == table["runs"], "verdict"] = COLLAPSED
    table["numbers"] = groups["number"].agg(list)
    table["seeds collapsed"] = table["collapsed"].astype(str) + " of " + table["runs"].astype(str)
    values = done[["_config", *METRICS]].apply(lambda c: pd.to_numeric(c, errors="coerce") if c.name != "_config"
                                               else c).groupby("_config")
    for name, frame in (("", values.median()), (" min", values.min()), (" max", values.max())):
        table = table.join(frame.add_suffix(name))
    return table.drop(columns="status").sort_values(keys, kind="stable").reset_index(drop=True)


def seed_summary(df: pd.DataFrame) -> str:
    """One sentence: how many configurations ran with several seeds and how often the seeds disagreed."""
    table = configurations(df)
    repeated = table[table["runs"] > 1]
    if repeated.empty:
        return ""
    sizes = sorted(repeated["runs"].unique())
    n_text = f"{sizes[0]}" if len(sizes) == 1 else f"{sizes[0]}–{sizes[-1]}"
    mixed = repeated[repeated["verdict"] == "mixed"]
    all_collapsed = int((repeated["verdict"] == COLLAPSED).sum())
    text = (f"{len(repeated)} of {len(table)} configurations ran with several seeds (n = {n_text} each): in "
            f"{all_collapsed} every seed collapsed, in {len(repeated) - all_collapsed - len(mixed)} none did, and in "
            f"**{len(mixed)} the seeds disagreed**")
    if not mixed.empty:
        example = mixed.iloc[0]
        text += f" (e.g. {example['seeds collapsed']} seeds collapsed at effective β {fmt(example['effective_beta'])})"
    return text + "."
