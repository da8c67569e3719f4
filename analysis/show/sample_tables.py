"""The samples report's tables, every cell in the report's one number format (`analysis.numbers.fmt`; KID ×10³,
"≈ 0" for a negative estimate) and no empty or NaN cell: what does not apply says why ("n/a: AE")."""
from __future__ import annotations

import pandas as pd

from analysis.findings import samples
from analysis.numbers import fmt
from analysis.show.tables import html_table
from common.results import KEY

NOT_AE = "n/a: AE"


def _or_ae(value, is_ae: bool, formatter=fmt) -> str:
    return NOT_AE if is_ae else formatter(value)


def configurations_table(df: pd.DataFrame) -> pd.DataFrame:
    """One row per configuration (seeds aggregated): KID with its spread and ladder placement, FD, coverage."""
    table = samples.configurations(df)
    rungs = samples.ladder_of(samples.measured(df))
    if table.empty:
        return pd.DataFrame()
    table = table.sort_values(["model", "arch", "reduction", "latent_dim", "beta"], kind="stable")
    records = []
    for _, row in table.iterrows():
        ae = row["model"] == "ae"
        records.append({
            "model": row["model"], "arch": row["arch"], "reduction": _or_ae(row["reduction"], ae, str),
            "latent": row["latent_dim"], "β": _or_ae(row["beta"], ae), "effective β": _or_ae(row["effective_beta"], ae),
            "seeds": row["runs"], "collapsed": f"{row['collapsed']} of {row['runs']}",
            "KID ×10³": samples.kid_range(row).removeprefix("KID "),
            "on the ladder": samples.placement(row["kid"], rungs),
            "FD (same features)": fmt(row["fd"]), "coverage": fmt(row["coverage"]),
        })
    return pd.DataFrame(records)


def configurations_html(df: pd.DataFrame) -> str:
    return html_table(configurations_table(df), "summary.csv", "configurations")


TRIAL_COLUMNS = ("number", "model", "arch", "reduction", "beta", "effective_beta", "latent_dim", "seed", "status",
                 KEY.nelbo)


def trial_table(df: pd.DataFrame) -> pd.DataFrame:
    """Every measured trial with its sample metrics, as text."""
    rows = samples.measured(df)
    if rows.empty:
        return pd.DataFrame()
    rows = rows.sort_values(["model", "arch", "reduction", "latent_dim", "effective_beta", "number"],
                            na_position="last", kind="stable")
    records = []
    for _, row in rows.iterrows():
        ae = row["model"] == "ae"
        record = {name: row[name] for name in TRIAL_COLUMNS if name in row}
        record.update({"reduction": _or_ae(row["reduction"], ae, str), "beta": _or_ae(row["beta"], ae),
                       "effective_beta": _or_ae(row["effective_beta"], ae),
                       KEY.nelbo: _or_ae(row[KEY.nelbo], ae)})
        record.update({"KID ×10³": samples.kid_text(row[samples.KID], row.get(samples.KID_STD)),
                       "FD": fmt(row.get(samples.FD)), "coverage": fmt(row.get(samples.COVERAGE))})
        records.append(record)
    return pd.DataFrame(records).rename(columns=lambda c: c.replace("test/", ""))


def trials_html(df: pd.DataFrame) -> str:
    return html_table(trial_table(df), "summary.csv", "trials with sample metrics")
