"""How the report writes numbers and lists of values: one format everywhere, and summaries instead of long lists.

- `fmt`: 3 significant digits; thousands grouped with a narrow space (3 140, so lists separated by commas stay
  readable); scientific only below 0.001 or from 10^6 on.
- `fmt_info`: an information estimate (mutual information, KL − MI) within `INFO_NOISE` nats of 0 is "≈ 0" — the
  estimator's sampling noise can make it slightly negative, but information itself cannot be.
- `values`: the distinct values of a column, listed when there are at most `MAX_LISTED`, else their count and range.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

MAX_LISTED = 6
INFO_NOISE = 0.01  # nats
THIN = "\u202f"  # narrow no-break space: the thousands separator


def fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, (float, np.floating)) and math.isnan(value)):
        return "n/a"
    value = float(value)
    if value != 0 and (abs(value) >= 1e6 or abs(value) < 1e-3):
        return f"{value:.{digits - 1}e}"
    rounded = float(f"{value:.{digits}g}")  # 999.7 rounds to 1000: written as 1 000, not 1e+03
    if abs(rounded) >= 1000:
        return f"{rounded:,.0f}".replace(",", THIN)
    return f"{value:.{digits}g}"


def fmt_info(value: Any) -> str:
    """Mutual information (or another information estimate) in nats; "≈ 0" inside the estimator's noise."""
    if value is None or (isinstance(value, (float, np.floating)) and math.isnan(value)):
        return "n/a"
    return "≈ 0" if abs(float(value)) < INFO_NOISE else fmt(value)


def count(value: int) -> str:
    return f"{value:,}".replace(",", THIN)


def plural(number: int, word: str) -> str:
    return f"{count(number)} {word}{'' if number == 1 else 's'}"


def span(series: pd.Series, formatter=fmt) -> str:
    numbers = pd.to_numeric(series, errors="coerce").dropna()
    if numbers.empty:
        return "n/a"
    low, high = numbers.min(), numbers.max()
    return formatter(low) if np.isclose(low, high) else f"{formatter(low)}–{formatter(high)}"


def values(series: pd.Series) -> str:
    """Distinct numbers in order, or "n values, low–high" when there are more than MAX_LISTED."""
    distinct = sorted(pd.to_numeric(series, errors="coerce").dropna().unique())
    if len(distinct) > MAX_LISTED:
        return f"{count(len(distinct))} values, {fmt(distinct[0])}–{fmt(distinct[-1])}"
    return ", ".join(fmt(value) for value in distinct)


def levels(series: pd.Series) -> str:
    """Distinct values of any type, numbers in numeric order; summarised like `values` when there are many."""
    distinct = list(series.dropna().map(lambda v: tuple(v) if isinstance(v, list) else v).unique())
    numeric = all(isinstance(v, (int, float, np.number)) and not isinstance(v, bool) for v in distinct)
    if numeric and len(distinct) > MAX_LISTED:
        return values(series)
    try:
        distinct = sorted(distinct)
    except TypeError:
        distinct = sorted(distinct, key=str)
    shown = [fmt(v) if isinstance(v, (float, np.floating)) else str(v) for v in distinct]
    if len(shown) > MAX_LISTED:
        return ", ".join(shown[:MAX_LISTED]) + f", … ({count(len(shown))} values)"
    return ", ".join(shown)


def table(frame: pd.DataFrame) -> str:
    """A small Markdown table (no extra dependency)."""
    header = "| " + " | ".join(str(column) for column in frame.columns) + " |"
    rule = "|" + "---|" * len(frame.columns)
    body = ["| " + " | ".join(fmt(v) if isinstance(v, (float, np.floating)) else str(v) for v in row) + " |"
            for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body])
