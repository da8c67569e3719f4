"""What the figures share about axes and points: log axes ticked at the values swept, and runs that coincide.

- `log_ticks` / `log_x`: a log axis labelled at the β values the study actually ran (thinned so that labels keep
  apart), never at in-between numbers; a continuous β (more than `MAX_LEVELS` values, e.g. TPE) gets decades.
- `empty_panel`: a panel that says why it has nothing to show.
- `stacks`: runs drawn at the same spot (twelve collapsed runs at KL 0, one recon NLL) are one stack with a
  count, so a figure can draw each stack once and write "×n" next to it.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.ticker import NullFormatter, NullLocator

from analysis.numbers import fmt

MAX_LEVELS = 12  # more distinct β values than this are a continuous β: binned, decade ticks
LABEL_INCHES = 0.6  # room for one tick label such as "0.00128" along an x axis
LABEL_PIXELS = (28, 10)  # a "×n" label's size at the figures' dpi: closer labels are stacked
SAME_SPOT = 0.025  # runs closer than this fraction of both axes' spans (about a marker) are drawn as one stack
MANY = 300  # stacks are formed up to this many runs


def log_ticks(values, room: float = 6.0, label: float = LABEL_INCHES) -> np.ndarray | None:
    """The swept values to label on a log axis `room` inches long (None: decades): the smallest and the
    largest, then, while one lies a label's length (`label` inches) from every value chosen, the one farthest
    from them."""
    values = pd.to_numeric(pd.Series(values), errors="coerce").dropna()
    distinct = np.unique(values[values > 0])
    if not len(distinct) or len(distinct) > MAX_LEVELS:
        return None
    logs = np.log10(distinct)
    gap = (logs[-1] - logs[0]) * label / room
    chosen = sorted({0, len(logs) - 1})
    while True:
        distance = np.array([min(abs(logs[index] - logs[other]) for other in chosen) for index in range(len(logs))])
        best = int(np.argmax(distance))
        if distance[best] < gap or distance[best] == 0:
            return distinct[sorted(chosen)]
        chosen.append(best)


def tick_label(value: float) -> str:
    """A swept value as its tick label: whole numbers from 100 on in full (3 136, not 3 140), else `fmt`."""
    if value >= 100 and abs(value - round(value)) < 1e-6 * value:
        return fmt(value, digits=len(str(int(round(value)))))
    return fmt(value)


def log_x(ax, values) -> None:
    """Log x axis labelled at the swept `values` (undodged, unbinned), plainly formatted."""
    numbers = pd.to_numeric(pd.Series(values), errors="coerce").dropna()
    if numbers.empty or not (numbers > 0).all():
        return
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(NullFormatter())
    ticks = log_ticks(numbers, ax.get_position().width * ax.figure.get_figwidth())
    if ticks is not None:
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xticks(ticks, [tick_label(tick) for tick in ticks])


def log_colorbar(fig, mappable, ax, label: str, values) -> None:
    """A colour bar for a LogNorm, labelled at the swept values like `log_x`."""
    bar = fig.colorbar(mappable, ax=ax, label=label)
    ticks = log_ticks(values, bar.ax.get_position().height * fig.get_figheight(), label=LABEL_INCHES / 2.5)
    if ticks is not None:
        bar.ax.yaxis.set_minor_locator(NullLocator())
        bar.set_ticks(ticks, labels=[tick_label(tick) for tick in ticks])


def _position(values: pd.Series, log: bool) -> np.ndarray:
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    if log:
        numbers = np.log10(np.where(numbers > 0, numbers, np.nan))
    finite = numbers[np.isfinite(numbers)]
    span = (finite.max() - finite.min()) if len(finite) else 0.0
    return (numbers - (finite.min() if len(finite) else 0.0)) / (span if span > 0 else 1.0)


def stacks(data: pd.DataFrame, x: str, y: str, log_x: bool = False, by: tuple[str, ...] = ()) -> pd.DataFrame:
    """`data` (everything one axes shows) with one row per stack: runs within SAME_SPOT of a stack's first run
    (on both axes, as fractions of their spans over `data`, and alike in the `by` columns) join it, in `data`'s
    order; a stack keeps its first run's values and gets `n`, the number of runs. Beyond `MANY` runs every run is
    its own stack (such scatters are drawn small and translucent)."""
    if data.empty or len(data) > MANY:
        return data.assign(n=1)
    px, py = _position(data[x], log_x), _position(data[y], False)
    groups = data[list(by)].astype(str).agg("|".join, axis=1).to_numpy() if by else np.zeros(len(data))
    firsts: list[int] = []
    counts: list[int] = []
    for index in range(len(data)):
        for slot, first in enumerate(firsts):
            if groups[first] == groups[index] and abs(px[first] - px[index]) <= SAME_SPOT \
                    and abs(py[first] - py[index]) <= SAME_SPOT:
                counts[slot] += 1
                break
        else:
            firsts.append(index)
            counts.append(1)
    return data.iloc[firsts].assign(n=counts)


def label_stacks(ax, stacked: pd.DataFrame, x: str, y: str) -> int:
    """Write "×n" next to each stack of more than one run, labels that would touch moved one above the other
    (call it once per axes, after its scales are set); returns how many runs were stacked."""
    many = stacked[stacked["n"] > 1]
    if many.empty:
        return 0
    pixels = ax.transData.transform(np.column_stack([many[x].astype(float), many[y].astype(float)]))
    middle = ax.transAxes.transform((0.5, 0.5))[1]
    placed: list[tuple[float, float]] = []
    for order in np.argsort(pixels[:, 0], kind="stable"):
        px, py = pixels[order]
        step = -9 if py > middle else 9  # away from the nearer edge (and the title)
        level = 0
        while any(abs(px - qx) < LABEL_PIXELS[0] and abs(py + step * level - qy) < LABEL_PIXELS[1]
                  for qx, qy in placed):
            level += 1
        placed.append((px, py + step * level))
        row = many.iloc[order]
        ax.annotate(f"×{int(row['n'])}", (row[x], row[y]), xytext=(5, 3 + step * level), textcoords="offset points",
                    fontsize=8, fontweight="bold")
    return int(many["n"].sum())


def stack_note(stacked: int, extra: str = "") -> str:
    """The title's note on stacks: what "×n" means and how many runs it hides."""
    return f"; ×n: n runs at the same spot{extra} ({stacked} runs stacked)" if stacked else ""


def empty_panel(fig, ax, message: str):
    """`fig` with `ax` replaced by `message`: a figure states why it is empty instead of drawing blank axes."""
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()
    return fig
