"""The report's tables at any study size: what the notebooks show (a stated selection, at most `MAX_ROWS` rows)
and the full versions they write next to the report as CSV (summary.csv, configurations.csv, kl_per_dim.csv).
"""
from __future__ import annotations

import html

import numpy as np
import pandas as pd

from analysis.numbers import count, fmt, fmt_info
from analysis.findings.seeds import config_columns, configurations
from analysis.read.frame import finished_vaes
from common.results import KEY

MAX_ROWS = 40
STYLE = ("<style>.vs-table td, .vs-table th {white-space: nowrap; padding: 2px 6px; font-size: 12px;}"
         ".vs-table td {text-align: right;}</style>")
INFO_COLUMNS = (KEY.mutual_info, "mutual_info")


def kl_matrix(frame: pd.DataFrame) -> pd.DataFrame:
    """Trials × dims, each trial's per-dim KL sorted from largest to smallest (NaN-padded); index = trial label."""
    data = finished_vaes(frame)
    data = data[data["kl_per_dim"].map(lambda value: isinstance(value, np.ndarray)).astype(bool)]
    data = data.sort_values(["reduction", "beta", "latent_dim", "arch", "number"], na_position="last")
    width = max((len(value) for value in data["kl_per_dim"]), default=0)
    rows = [np.pad(np.sort(np.asarray(value, dtype=float))[::-1], (0, width - len(value)), constant_values=np.nan)
            for value in data["kl_per_dim"]]
    labels = [f"#{row.number} {row.reduction} β={fmt(row.beta)} d={row.latent_dim} {row.arch} [{row.status}]"
              for row in data[["number", "reduction", "beta", "latent_dim", "arch", "status"]].itertuples()]
    return pd.DataFrame(rows, index=labels, columns=[f"{i + 1}" for i in range(width)], dtype=float)


def kl_selection(frame: pd.DataFrame, max_rows: int = MAX_ROWS) -> tuple[pd.DataFrame, str]:
    """(rows to draw, what they are): every trial when there are at most `max_rows`, else the median sorted
    per-dim KL per arch × latent_dim × status."""
    matrix = kl_matrix(frame)
    if len(matrix) <= max_rows:
        return matrix, f"all {count(len(matrix))} VAE trials"
    data = finished_vaes(frame)
    data = data[data["kl_per_dim"].map(lambda value: isinstance(value, np.ndarray)).astype(bool)]
    rows, labels = [], []
    for (arch, latent, status), part in data.groupby(["arch", "latent_dim", "status"], sort=True):
        stacked = np.vstack([np.sort(np.asarray(value, dtype=float))[::-1] for value in part["kl_per_dim"]])
        rows.append(np.pad(np.median(stacked, axis=0), (0, matrix.shape[1] - stacked.shape[1]),
                           constant_values=np.nan))
        labels.append(f"{arch} d={latent} {status} (n={count(len(part))})")
    selection = pd.DataFrame(rows, index=labels, columns=matrix.columns)
    return selection, (f"median per arch × latent size × status ({len(selection)} groups of {count(len(matrix))} "
                       f"trials; every trial in kl_per_dim.csv)")


def _cell(column: str, value) -> str:
    if isinstance(value, (float, np.floating)):
        return fmt_info(value) if column in INFO_COLUMNS else ("" if np.isnan(value) else fmt(value))
    return "" if value is None else str(value)


def html_table(frame: pd.DataFrame, csv_name: str, what: str, max_rows: int = MAX_ROWS) -> str:
    """An HTML table of at most `max_rows` rows in one number format, with a note when rows were left out."""
    shown = frame.head(max_rows)
    head = "".join(f"<th>{html.escape(str(column))}</th>" for column in shown.columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_cell(str(column), value))}</td>"
                                    for column, value in zip(shown.columns, row)) + "</tr>"
                   for row in shown.itertuples(index=False))
    note = (f"<p>Showing {count(len(shown))} of {count(len(frame))} {what}; all of them are in "
            f"<code>{csv_name}</code> next to this report.</p>" if len(frame) > len(shown) else "")
    return f"{STYLE}{note}<table class=\"vs-table\"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


TRIAL_COLUMNS = ("number", "state", "latent_dim", "effective_beta", KEY.active_units, KEY.kl,
                 KEY.mutual_info, KEY.recon_diversity, KEY.sharpness, KEY.recon_nll, "status")


def trials_html(df: pd.DataFrame, max_rows: int = MAX_ROWS) -> str:
    """Every trial's parameters, key metrics and status (the evidence for each status is in summary.csv)."""
    swept = [name for name in df.attrs.get("swept", []) if name in df]
    columns = list(dict.fromkeys([*TRIAL_COLUMNS[:2], *swept, *TRIAL_COLUMNS[2:]]))
    table = df[[name for name in columns if name in df]].rename(columns=lambda c: c.replace("test/", ""))
    return html_table(table, "summary.csv", "trials (in trial-number order; with the evidence for each status)",
                      max_rows)


def configurations_table(df: pd.DataFrame) -> pd.DataFrame:
    """One row per configuration (seeds aggregated): the verdict says how many seeds collapsed."""
    table = configurations(df)
    if table.empty:
        return table
    keys = config_columns(df)
    table = table.sort_values(by=["collapsed", "runs"], ascending=False, kind="stable")
    mixed_first = pd.concat([table[table["verdict"] == "mixed"], table[table["verdict"] != "mixed"]])
    columns = [*keys, "effective_beta", "seeds collapsed", "verdict", *CONFIG_METRICS]
    return mixed_first[columns].rename(columns=CONFIG_METRICS)


CONFIG_METRICS = {KEY.active_units: "active units (median)", "test/active_units min": "min",
                  "test/active_units max": "max", KEY.recon_diversity: "recon diversity (median)",
                  KEY.kl: "KL (median)", KEY.recon_nll: "recon NLL (median)"}


def configurations_html(table: pd.DataFrame, max_rows: int = MAX_ROWS) -> str:
    return html_table(table, "configurations.csv", "configurations (those whose seeds disagree first)", max_rows)
