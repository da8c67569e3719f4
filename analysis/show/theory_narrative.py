"""The prose of the staircase (every study) and of measured against exact (`analysis.findings.theory_check`): Markdown
computed from the trial table, every number from the data, like `analysis.show.narrative`.
"""
from __future__ import annotations

import math

import pandas as pd

from analysis.findings import staircase, theory_check
from analysis.numbers import count, fmt, plural, span, table, values
from common.collapse import COLLAPSED
from common.results import KEY

STAIRCASE_HOW = {"bracket": "between", "overlap": "runs disagree between"}
MAX_GROUPS, MAX_PIECES = 12, 8  # the prose lists at most this many groups, and this many brackets per group


def _where(row: pd.Series) -> str:
    if row["method"] == "above":
        return f"still on at the largest effective β tried ({fmt(row['on_up_to'])})"
    if row["method"] == "below":
        return f"off at every effective β tried (from {fmt(row['off_from'])})"
    low, high = sorted((row["on_up_to"], row["off_from"]))
    if row["method"] == "overlap" and fmt(low) == fmt(high):
        return f"runs disagree at {fmt(low)}"
    return f"{STAIRCASE_HOW[row['method']]} {fmt(low)} and {fmt(high)}"


def _runs_of_units(units: list[int]) -> str:
    """[1, 2, 3, 5] -> "units 1–3, 5"."""
    parts, start = [], units[0]
    for previous, unit in zip(units, units[1:] + [None]):
        if unit != previous + 1:
            parts.append(f"{start}" if start == previous else f"{start}–{previous}")
            start = unit
    return ("unit " if len(units) == 1 else "units ") + ", ".join(parts)


def staircase_findings(df: pd.DataFrame) -> str:
    """Per group, where each latent unit switches off (units with the same bracket listed together)."""
    found = staircase.switch_offs(df)
    if found.empty:
        return "No finished VAE run with active units recorded: no staircase to measure."
    keys = staircase.group_keys(df)
    lines = ["A unit counts as switched off in a run once fewer units than its number are active (unit 1 is the "
             "most informative, the last one left on as β grows); its switch-off lies between the largest effective "
             "β at which it was still on and the smallest at which it was off. `reduction=mean` runs sit on the "
             "same axis at β × D."]
    groups = list(found.groupby(keys, sort=False)) if keys else [((), found)]
    for key, part in groups[:MAX_GROUPS]:
        key = key if isinstance(key, tuple) else (key,)
        label = ", ".join(f"{name}={value}" for name, value in zip(keys, key)) or "all runs"
        pieces = [f"{_runs_of_units(rows['unit'].tolist())} {where}"
                  for where, rows in part.groupby(part.apply(_where, axis=1), sort=False)]
        more = f"; … ({len(pieces) - MAX_PIECES} more)" if len(pieces) > MAX_PIECES else ""
        lines.append(f"- **{label}** ({plural(int(part['runs'].iloc[0]), 'run')}): "
                     + "; ".join(pieces[:MAX_PIECES]) + more + ".")
    if len(groups) > MAX_GROUPS:
        lines.append(f"… and {plural(len(groups) - MAX_GROUPS, 'more group')}.")
    lines.append("Every unit of every group: `staircase.csv` next to this report.")
    if (found["method"] == "bracket").any():
        ratio = (found["off_from"] / found["on_up_to"])[found["method"] == "bracket"]
        lines.append(f"The brackets span a factor {span(ratio)} in effective β: "
                     "as wide as the gaps between the β values tried; more runs inside a bracket would narrow it.")
    return "\n\n".join(lines)


def equal_beta_pairs(df: pd.DataFrame) -> pd.DataFrame:
    """Pairs of finished runs with the same effective β (and group) under `sum` and `mean`: their KL, active units
    and recon NLL side by side."""
    runs = staircase.finished_vaes(df)
    keys = staircase.group_keys(df)
    rows = []
    for label, part in staircase.groups(runs):
        beta = part["effective_beta"].round(10)
        for value in sorted(set(beta[part["reduction"] == "sum"]) & set(beta[part["reduction"] == "mean"])):
            pair = {name: part[(beta == value) & (part["reduction"] == name)].iloc[0] for name in ("sum", "mean")}
            rows.append({**label, "effective β": value, "β (sum)": pair["sum"]["beta"], "β (mean)": pair["mean"]["beta"],
                         "KL sum": pair["sum"][KEY.kl], "KL mean": pair["mean"][KEY.kl],
                         "AU sum": int(pair["sum"][KEY.active_units]),
                         "AU mean": int(pair["mean"][KEY.active_units]),
                         "recon NLL sum": pair["sum"][KEY.recon_nll],
                         "recon NLL mean": pair["mean"][KEY.recon_nll]})
    return pd.DataFrame(rows, columns=None if rows else [*keys, "effective β"])


def equal_beta_findings(df: pd.DataFrame) -> str:
    pairs = equal_beta_pairs(df)
    if pairs.empty:
        return ("No `sum` and `mean` runs share an effective β here, so the law \"mean with β = sum with β × D\" "
                "is not checked on this study's own runs (add a mean run with β = (a sum run's β) / D to check it).")
    kl = (pairs["KL sum"] - pairs["KL mean"]).abs()
    au = int((pairs["AU sum"] == pairs["AU mean"]).sum())
    values = sorted({round(v) for v in pairs["effective β"] / pairs["β (mean)"]})
    same = [key for key in staircase.group_keys(df) if key in pairs and pairs[key].nunique() <= 1]  # not shown
    return (f"**Mean with β is sum with β × D** (D = {', '.join(count(v) for v in values)} values per example): "
            f"{plural(len(pairs), 'pair')} of runs share an effective β under the "
            f"two reductions; their KL differs by at most {fmt(kl.max())} nats and their active units agree in "
            f"{count(au)} of {count(len(pairs))}.\n\n" + table(pairs.drop(columns=same, errors="ignore")))


def theory_findings(df: pd.DataFrame, found: tuple | str | None = None) -> str:
    """Whether the exact theory applies and, if it does, the agreement as numbers with the tolerances."""
    found = theory_check.check(df) if found is None else found  # `found`: a `check(df)` already made
    if isinstance(found, str):
        return ("The exact linear-Gaussian answer applies to runs with `arch: linear`, `likelihood: gaussian` "
                "(fixed σ), `gaussian_mean: identity`, `free_bits: 0` and `binarize: none` (docs/theory.md; "
                f"`configs/theory.yaml` is such a study). **It does not apply here**: {found}.")
    comparison, switches, agreed = found
    runs, sds, slack = agreed["runs"], theory_check.SAMPLING_SDS, theory_check.CONVERGENCE
    n_test = int(comparison["n_test"].min())
    lines = [f"**{plural(runs, 'run')} of this study are a linear VAE with a fixed-σ Gaussian likelihood**, so "
             "their optimum is known exactly from the eigenvalues λᵢ of the training split's covariance "
             "(docs/theory.md): unit i is active iff λᵢ > βσ², with KL ½·ln(λᵢ/βσ²), and the last unit switches off "
             "at effective β = 0.99·λ₁/σ² (the 0.01 active-unit cut-off).",
             f"- **KL per unit** (sorted, all runs): largest difference {fmt(agreed['kl_max_error'])} nats, median "
             f"{fmt(agreed['kl_median_error'])}; every unit within its tolerance in {count(agreed['kl_within'])} of "
             f"{count(runs)} runs.",
             f"- **Active units**: exact in {count(agreed['au_exact'])} of {count(runs)} runs"
             + (f"; off by no more than the units within a factor {theory_check.SLOW_BAND:g} of their cut-off in "
                f"{count(agreed['au_within_slow'])}" if agreed["au_exact"] < runs else "") + ".",
             f"- **Switch-offs**: the exact effective β lies inside the measured bracket for "
             f"{count(agreed['units_inside'])} of {plural(agreed['units_bracketed'], 'bracketed unit')}"
             + (f" (within a factor {theory_check.SLOW_BAND:g} of it, where a unit near its cut-off lags, for "
                f"{count(agreed['units_near'])} of {count(agreed['units_located'])})"
                if agreed["units_inside"] < agreed["units_located"] else "")
             + "; read from each unit's KL by the law KL = ½·ln(λ/βσ²), the switch-off is at most a factor "
             f"{fmt(_factor(agreed['kl_law_worst_ratio']))} from the exact one ({plural(agreed['kl_law_units'], 'unit')}).",
             f"- **Totals**: total KL within {fmt(agreed['kl_total_max_error'])} nats of the exact value; recon NLL "
             f"within {fmt(agreed['recon_nll_max_error'])} nats ({fmt(agreed['recon_nll_max_sds'])} test-sample SDs "
             f"at most; within {sds:g} SDs in {count(agreed['recon_nll_within'])} of {count(runs)} runs).",
             *_flag_note(df, comparison),
             f"**The tolerance.** The measurements are on the test split ({count(n_test)} examples), the prediction "
             "comes from the training split, so the test sample alone moves them: a unit's KL by "
             f"½·(1 − βσ²/λᵢ)·√(2/n) nats (SD; at most {fmt(0.5 * math.sqrt(2 / n_test))} here), the recon NLL by "
             "√(Σ 2rᵢ²/n)/2σ² with rᵢ each direction's residual variance. A unit's KL may differ by "
             f"{sds:g} of its SDs plus {slack:g} nats for training that has not fully converged: convergence is slow "
             "where λᵢ ≈ βσ² (the pull towards the optimum vanishes there) and at small β (only the β-weighted KL "
             "turns the units onto the principal axes, so units with similar variances mix). A unit whose λᵢ lies "
             f"within a factor {theory_check.SLOW_BAND:g} of its cut-off βσ²/0.99 may lag: it may carry up to "
             f"½·ln {theory_check.SLOW_BAND:g} = {fmt(0.5 * math.log(theory_check.SLOW_BAND))} nats, count as "
             "active or not, and move its measured switch-off by that factor."]
    return "\n\n".join(lines)


def _flag_note(df: pd.DataFrame, comparison: pd.DataFrame) -> list[str]:
    """A sentence when the collapse flag calls runs collapsed that still have active units (their reconstructions
    vary too little), which the theory does not call total collapse."""
    flagged = df.loc[df["number"].isin(comparison["number"]) & (df["status"] == COLLAPSED)
                     & (df[KEY.active_units] > 0)]
    if flagged.empty:
        return []
    exact = comparison.loc[comparison["number"].isin(flagged["number"]), "active_units_exact"]
    return [f"- **The collapse flag and the theory**: {plural(len(flagged), 'run')} flagged *collapsed* "
            f"(effective β {values(flagged['effective_beta'])}) still {'has' if len(flagged) == 1 else 'have'} "
            f"{values(flagged[KEY.active_units])} active unit(s) (exact: {values(exact)}): the flag also counts "
            "runs whose reconstructions barely vary (recon diversity below its threshold), while total collapse in "
            "the theory is no active unit at all."]


def _factor(ratio: float) -> float:
    return math.exp(abs(math.log(ratio))) if ratio and math.isfinite(ratio) and ratio > 0 else math.nan


def thresholds_table(df: pd.DataFrame, found: tuple | str | None = None) -> str:
    """The switch-off thresholds per unit, measured against exact (Markdown); empty when the theory does not apply."""
    found = theory_check.check(df) if found is None else found
    if isinstance(found, str):
        return ""
    switches = found[1]
    verdict = switches.apply(lambda row: "yes" if row["inside"] else f"within {theory_check.SLOW_BAND:g}×"
                             if row["near"] else "no", axis=1)
    shown = pd.DataFrame({**{key: switches[key] for key in staircase.group_keys(df) if key in switches},
                          "unit": switches["unit"], "exact (0.99·λᵢ/σ²)": switches["exact"],
                          "measured: on up to": switches["on_up_to"], "off from": switches["off_from"],
                          "exact inside": verdict, "from the KL law": switches["from_kl"]})
    return "Switch-off thresholds in effective β, measured against exact:\n\n" + table(shown)
