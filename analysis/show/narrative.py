"""The report's prose, computed from the trial table: every number in it comes from the data.

Each function takes the DataFrame of `analysis.read.load` and returns Markdown. The notebooks call them at run time
(`display(Markdown(narrative.collapse_findings(df)))`), so re-running a notebook on new data rewrites the text.
"""
from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pandas as pd

from analysis.findings.boundary import findings as boundary_findings
from common.collapse import COLLAPSED, HEALTHY, PARTIAL, Thresholds
from analysis.numbers import count, fmt, fmt_info, levels, plural, span, table, values
from analysis.findings.seeds import seed_summary
from analysis.read.frame import finished, finished_vaes
from common.results import FAIL_REASON, KEY


_values, _levels, _span, _plural = values, levels, span, plural


def overview(df: pd.DataFrame) -> str:
    """Where the data come from, what finished, and the caveats (mixed datasets, unfinished sweep)."""
    attrs = df.attrs
    states = Counter(df["state"])
    done = states.get("COMPLETE", 0)
    source = {"optuna": "Optuna study", "wandb-dir": "offline W&B runs of group",
              "wandb-api": "W&B runs of group"}.get(attrs.get("source"), "study")
    lines = [f"**{source} `{attrs.get('study') or 'several groups'}`**: {_plural(len(df), 'trial')}, "
             f"{count(done)} finished."]
    skipped = attrs.get("skipped") or []
    if skipped:
        lines.append(f"⚠️ **Skipped {_plural(len(skipped), 'run file')}** that could not be read (or only partly): "
                     + "; ".join(f"`{item}`" for item in skipped[:3]) + (" …" if len(skipped) > 3 else "") + ".")
    swept = [name for name in attrs.get("swept", []) if name in df]
    if swept:
        lines.append("Swept: " + "; ".join(f"`{name}` ∈ {{{_levels(df[name])}}}" for name in swept) + ".")
    unfinished = {state: count for state, count in states.items() if state != "COMPLETE"}
    grid = attrs.get("study_attrs", {}).get("grid_size")
    if unfinished or (isinstance(grid, (int, float)) and done < grid):
        parts = ", ".join(f"{count(n)} {state}" for state, n in sorted(unfinished.items()))
        text = "⚠️ **This sweep is not complete**"
        if isinstance(grid, (int, float)) and done < grid:
            text += f" ({count(done)} of {count(int(grid))} grid points finished)"
        text += f": {parts or 'trials missing'}. Figures and numbers below use the finished trials only."
        reasons = df.loc[df["state"] == "FAIL", FAIL_REASON].dropna()
        if not reasons.empty:
            text += " Fail reasons: " + "; ".join(f"`{reason}` ({count(n)}×)" for reason, n
                                                 in Counter(reasons).most_common(3)) + "."
        lines.append(text)
    reruns = attrs.get("study_attrs", {}).get("reruns")
    if reruns:
        lines.append(f"{_plural(reruns, 'trial')} interrupted (worker killed or stopped) and re-run; "
                     f"only the re-runs are counted here.")
    stopped = attrs.get("study_attrs", {}).get("stopped_by_machine")
    if stopped:
        lines.append(f"{_plural(stopped, 'trial')} stopped by the machine (a full disk, ...), not by its "
                     f"configuration, and re-run; only the re-runs are counted here.")
    for column, label in (("dataset", "datasets"), ("likelihood", "likelihoods")):
        counts = Counter(df.loc[df["state"] == "COMPLETE", column].dropna().astype(str))
        if len(counts) > 1:
            listing = ", ".join(f"{name} ({n})" for name, n in sorted(counts.items()))
            lines.append(f"⚠️ **This study mixes {label}**: {listing}. Pixel counts, NLLs and effective β are not "
                         f"comparable across them; compare runs within one {column}.")
        elif counts:
            lines.append(f"{column.capitalize()}: `{next(iter(counts))}`.")
    thresholds = Thresholds(**attrs.get("thresholds", {}))
    lines.append(f"Collapse flag thresholds: {thresholds.describe()}.")
    return "\n\n".join(lines)


def _pixels(df: pd.DataFrame) -> float:
    mean = finished_vaes(df)
    mean = mean[(mean["reduction"] == "mean") & mean["effective_beta"].notna()]
    ratios = (mean["effective_beta"].astype(float) / mean["beta"].astype(float)).dropna()
    return float(ratios.median()) if not ratios.empty else math.nan


def headline(df: pd.DataFrame) -> str:
    """One line: how many VAE runs collapsed, and under which reduction."""
    vae = finished_vaes(df)
    collapsed = vae[vae["status"] == COLLAPSED]
    if vae.empty:
        return "no finished VAE runs"
    by = Counter(collapsed["reduction"].astype(str))
    where = ", ".join(f"{count(n)} with reduction={name}" for name, n in sorted(by.items()))
    text = f"{count(len(collapsed))} of {count(len(vae))} finished VAE runs collapsed"
    return text + (f" ({where})" if where else "")


def _reduction_sentence(vae: pd.DataFrame, reduction: str, thresholds: Thresholds) -> str:
    runs = vae[vae["reduction"] == reduction]
    n = len(runs)
    collapsed = runs[runs["status"] == COLLAPSED]
    partial = runs[runs["status"] == PARTIAL]
    healthy = runs[runs["status"] == HEALTHY]
    if collapsed.empty:
        lead = (f"The one run with reduction={reduction} did not collapse" if n == 1
                else f"None of the {count(n)} runs with reduction={reduction} collapsed")
        text = (f"**{lead}** "
                f"(active units {_span(runs[KEY.active_units])} of latent_dim {_values(runs['latent_dim'])}, "
                f"recon diversity {_span(runs[KEY.recon_diversity])}, KL {_span(runs[KEY.kl])} nats).")
    else:
        beta0 = float(collapsed["beta"].min())
        above = runs[runs["beta"].astype(float) >= beta0]
        if (above["status"] == COLLAPSED).all():
            condition = "" if len(above) == n else f" and β ≥ {fmt(beta0)}"
            scope = {1: "The one run", 2: "Both runs"}.get(len(above), f"All {count(len(above))} runs")
            text = f"**{scope} with reduction={reduction}{condition} collapsed**"
        else:
            text = (f"**{count(len(collapsed))} of {count(n)} runs with reduction={reduction} collapsed** "
                    f"(β = {_values(collapsed['beta'])})")
        diversity = collapsed[KEY.recon_diversity]
        text += (f" (effective β {_span(collapsed['effective_beta'])}): active units "
                 f"{_span(collapsed[KEY.active_units])}, KL {_span(collapsed[KEY.kl])} nats, "
                 f"recon diversity {_span(diversity)}")
        units = pd.to_numeric(collapsed[KEY.active_units])
        active = collapsed[units > thresholds.active_units_collapsed]
        if pd.to_numeric(diversity).max() < thresholds.recon_diversity_collapsed:
            text += " — every reconstruction is essentially the same image"
            text += ", the average a decoder learns when it ignores z" if active.empty else ""
        text += "."
        if not active.empty:
            who = (f"{len(active)} of them" if len(active) < len(collapsed)
                   else {1: "It", 2: "Both"}.get(len(active), "All of them"))
            epochs = _values(active["epochs_run"])
            text += (f" {who} still {'has' if len(active) == 1 else 'have'} active units "
                     f"({_span(active[KEY.active_units])}) and KL {_span(active[KEY.kl])} nats: the encoder "
                     f"uses z but the decoder's outputs barely differ. Such a run is at the edge of collapse; "
                     f"whether more training{f' (epochs run: {epochs})' if epochs else ''} would let the decoder "
                     f"use z, i.e. under-training rather than over-regularisation, this sweep cannot tell.")
    if not partial.empty:
        text += (f" {_plural(len(partial), 'run')} only partially used the latent space (β = "
                 f"{_values(partial['beta'])}: active units {_span(partial[KEY.active_units])}).")
    if not healthy.empty and not collapsed.empty:
        text += f" Healthy: {count(len(healthy))} (β = {_values(healthy['beta'])})."
    return text


def collapse_findings(df: pd.DataFrame) -> str:
    """When overregularisation happened, per reduction, and where the effective-β boundary lies."""
    vae = finished_vaes(df)
    if vae.empty:
        return "No finished VAE runs: nothing to say about overregularisation."
    thresholds = Thresholds(**df.attrs.get("thresholds", {}))
    lines = [f"**{headline(df)}.**"]
    lines += [f"- {_reduction_sentence(vae, name, thresholds)}" for name in sorted(vae["reduction"].dropna().unique())]
    eff = vae.dropna(subset=["effective_beta"])
    bad, good = eff[eff["status"] == COLLAPSED], eff[eff["status"] != COLLAPSED]
    if not bad.empty and not good.empty:
        low_bad, high_good = bad["effective_beta"].min(), good["effective_beta"].max()
        if high_good < low_bad:
            lines.append(f"Across both reductions, **effective β separates the runs exactly**: every run with "
                         f"effective β ≥ {fmt(low_bad)} collapsed and none with effective β ≤ {fmt(high_good)} did.")
        else:
            lines.append(f"Effective β alone does not separate collapsed from working runs here (collapsed from "
                         f"{fmt(low_bad)}, working up to {fmt(high_good)}); architecture and latent size matter too.")
    seeds = seed_summary(df)
    if seeds:
        lines.append(seeds + " The figures show the median over seeds.")
    lines.append(boundary_findings(df))
    return "\n\n".join(lines)


def why_overregularization(df: pd.DataFrame) -> str:
    pixels = _pixels(df)
    vae = finished_vaes(df)
    d_text = f"D = {fmt(pixels, 4)}" if not math.isnan(pixels) else "D (the number of pixels)"
    text = (f"With `reduction=mean` the reconstruction NLL is *averaged* over {d_text} pixels while the KL "
            f"is summed over latent dimensions. Dividing the reconstruction term by D is the same as multiplying "
            f"the KL weight by D, so training with β under `mean` optimises the true ELBO with β × D "
            f"(*effective β*).")
    mean = vae[vae["reduction"] == "mean"]
    if not mean.empty:
        text += (f" In this study the `mean` runs used β ∈ {{{_values(mean['beta'])}}}, i.e. effective β ∈ "
                 f"{{{_values(mean['effective_beta'])}}}")
        total = vae[vae["reduction"] == "sum"]
        text += (f", against {{{_values(total['effective_beta'])}}} for `sum`." if not total.empty else ".")
    text += ("\n\nWhy the VAE regulariser is particularly troublesome: the KL term can be driven to exactly zero "
             "by making q(z|x) = p(z) for every x, i.e. by ignoring the input. The decoder then learns the "
             "best input-independent output (the average image), which is a stable optimum: once z carries "
             "no information, the decoder has no gradient signal to start using it, and every nat of "
             "information put into z is charged at β per nat while the per-pixel reconstruction gain is "
             "divided by D. Too strong a KL weight therefore switches the whole latent space off at once "
             "instead of degrading gracefully.")
    return text


def regularization_check(df: pd.DataFrame) -> str:
    """How 'did regularisation work' was checked, with the per-group medians."""
    vae = finished_vaes(df).copy()
    if vae.empty:
        return "No finished VAE runs."
    vae["AU / latent_dim"] = vae[KEY.active_units] / pd.to_numeric(vae["latent_dim"])
    vae["KL − MI"] = vae[KEY.kl] - vae[KEY.mutual_info]
    summary = (vae.groupby(["reduction", "status"], dropna=False)
               .agg(runs=("number", "size"), **{"AU / latent_dim": ("AU / latent_dim", "median"),
                    "KL (nats)": (KEY.kl, "median"), "MI (nats)": (KEY.mutual_info, "median"),
                    "KL − MI": ("KL − MI", "median"), "recon diversity": (KEY.recon_diversity, "median")})
               .reset_index())
    for column in ("MI (nats)", "KL − MI"):
        summary[column] = summary[column].map(fmt_info)
    text = ("Regularisation 'worked' when the posterior stays informative about x while the aggregate posterior "
            "matches the prior. Four checks, all on the test split:\n\n"
            "1. **Active units** (Burda et al.): dims whose posterior mean varies across inputs (variance > 0.01). "
            "0 means the encoder ignores x.\n"
            "2. **KL per dimension**: dims with ≈ 0 nats sit at the prior and carry nothing "
            "(see the KL-per-dimension report).\n"
            "3. **Mutual information** I(x; z): the average KL splits into I(x; z) plus KL(q(z) ‖ p(z)); "
            "KL − MI estimates how far the aggregate posterior is from the prior (small = samples from p(z) "
            "decode to data-like images). The MI estimate is capped at log(test-set size); estimates within "
            "±0.01 nats of 0 are written ≈ 0 — the minibatch estimator's noise can put them slightly below zero, "
            "but information cannot be negative.\n"
            "4. **Reconstruction diversity**: variance of the reconstructions across images relative to the "
            "data's; ≈ 0 when every reconstruction is the same image.\n\n"
            "Medians per reduction and status:\n\n" + table(summary))
    healthy = vae[vae["status"] == HEALTHY]
    if not healthy.empty:
        text += (f"\n\nIn the {_plural(len(healthy), 'healthy run')}, {fmt(healthy['AU / latent_dim'].median() * 100)}% "
                 f"of the latent units are active (median), MI is {span(healthy[KEY.mutual_info], fmt_info)} nats "
                 f"and KL − MI is {span(healthy['KL − MI'], fmt_info)} nats.")
    return text


def _match(vae: pd.DataFrame, ae: pd.DataFrame) -> pd.DataFrame:
    """Healthy VAEs built like the AEs (same arch/latent_dim/likelihood/dataset where possible)."""
    healthy = vae[vae["status"] == HEALTHY]
    for keys in (["arch", "latent_dim", "likelihood", "dataset"], ["arch", "dataset"], ["dataset"], []):
        if not keys:
            return healthy
        pairs = set(map(tuple, ae[keys].astype(str).to_numpy()))
        matched = healthy[[tuple(row) in pairs for row in healthy[keys].astype(str).to_numpy()]]
        if not matched.empty:
            return matched
    return healthy


def blur_comparison(df: pd.DataFrame) -> str:
    """How much blurrier VAE reconstructions are than AE ones, and why."""
    done = finished(df)
    ae, vae = done[done["model"] == "ae"], finished_vaes(df)
    why = ("\n\n**Why VAEs blur more.** The decoder is trained on z sampled from q(z|x), whose variance the KL "
           "term keeps wide; nearby codes of different images overlap, so for a given z the likelihood-optimal "
           "output is the *average* of the images that could have produced it. With a factorised likelihood "
           "(independent pixels) that average is the per-pixel mean — a blurred image — and the stronger the "
           "regularisation, the wider the overlap. **Why AEs blur too:** with a per-pixel loss (BCE / squared "
           "error) the optimum for an uncertain pixel is its conditional mean, and a low-dimensional bottleneck "
           "leaves fine detail uncertain; high-frequency detail is also cheap to drop because it covers few "
           "pixels.")
    if ae.empty:
        return ("This study has no autoencoder baseline (`model: ae`), so VAE and AE sharpness cannot be compared; "
                "add `model: [vae, ae]` to the search space." + why)
    matched = _match(vae, ae)
    ae_sharp, ae_nll = ae[KEY.sharpness].median(), ae[KEY.recon_nll].median()
    text = (f"AE baseline ({_plural(len(ae), 'run')}): sharpness {fmt(ae_sharp)} (1 = as sharp as the data), "
            f"recon NLL {fmt(ae_nll)} nats.")
    if matched.empty:
        return text + " No healthy VAE run to compare with." + why
    standard = matched[np.isclose(matched["effective_beta"].astype(float), 1.0)]
    suffix = ""
    if not standard.empty and len(standard) < len(matched):
        matched, suffix = standard, " with effective β = 1 (the true ELBO)"
    vae_sharp, vae_nll = matched[KEY.sharpness].median(), matched[KEY.recon_nll].median()
    ratio = vae_sharp / ae_sharp if ae_sharp else math.nan
    one = len(matched) == 1
    text += (f" The {_plural(len(matched), 'healthy VAE run')}{suffix} built like it "
             f"{'reaches' if one else 'reach'} sharpness {fmt(vae_sharp)}{'' if one else ' (median)'}: "
             f"**{fmt(ratio * 100)}% of the AE's Laplacian energy**"
             f"{' — blurrier' if ratio < 1 else ' — not blurrier here'}, and {'its' if one else 'their'} recon "
             f"NLL is {fmt(abs(vae_nll - ae_nll))} nats {'higher' if vae_nll >= ae_nll else 'lower'} "
             f"({fmt(vae_nll)} vs {fmt(ae_nll)}).")
    collapsed = vae[vae["status"] == COLLAPSED]
    if not collapsed.empty:
        text += (f" Collapsed VAEs are the extreme case: sharpness {_span(collapsed[KEY.sharpness])}, "
                 f"recon NLL {_span(collapsed[KEY.recon_nll])} nats.")
    if ae_sharp < 1:
        text += f" Even the AE keeps only {fmt(ae_sharp * 100)}% of the originals' Laplacian energy."
    return text + why
