"""The KL-per-dimension report's prose: how the KL is spread over latent dimensions, computed from the trial table."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from analysis.numbers import fmt, plural, span, values
from analysis.read.frame import finished_vaes
from common.collapse import COLLAPSED, HEALTHY
from common.results import KEY

KL_INFORMATIVE = 0.1  # nats: a dimension carrying less than this is "at the prior"


def kl_per_dim_findings(df: pd.DataFrame) -> str:
    """How the KL is spread over latent dimensions, per status and latent size."""
    vae = finished_vaes(df)
    vae = vae[vae["kl_per_dim"].map(lambda value: isinstance(value, np.ndarray)).astype(bool)]
    if vae.empty:
        return "No per-dimension KL recorded."
    rows = []
    for _, row in vae.iterrows():
        kl = np.sort(np.asarray(row["kl_per_dim"], dtype=float))[::-1]
        total = kl.sum()
        used = int((kl > KL_INFORMATIVE).sum())
        rows.append({"status": row["status"], "reduction": row["reduction"], "latent_dim": len(kl),
                     "informative": used, "top share": kl[: max(used, 1)].sum() / total if total > 0 else math.nan,
                     "max": kl[0], "au": row[KEY.active_units]})
    info = pd.DataFrame(rows)
    lines = [f"A dimension counts as informative here when its KL exceeds {KL_INFORMATIVE:g} nats."]
    for status, part in info.groupby("status"):
        sizes = part["latent_dim"].nunique()
        below = "; per size below" if status == HEALTHY else ""
        of = f"of {values(part['latent_dim'])}" if sizes == 1 else f"(latent_dim {values(part['latent_dim'])}{below})"
        line = (f"- **{status}** ({plural(len(part), 'run')}): informative dims {span(part['informative'])} {of}; "
                f"largest per-dim KL {span(part['max'])} nats")
        if status != COLLAPSED:
            line += f"; those dims carry {fmt(part['top share'].median() * 100)}% of the total KL (median)"
        lines.append(line + ".")
    agree = (info["informative"] == info["au"]).mean()
    text = (f"Informative-dimension counts match the active-unit counts in {fmt(agree * 100)}% of runs. Both count "
            f"the dims the encoder uses; the others stay at the prior (posterior collapse per dimension), which "
            f"is how a VAE prunes a latent space larger than it needs.")
    if agree < 1:
        text += (" Where they differ, a dimension pays KL because its posterior variance departs from the "
                 "prior's while its mean hardly varies across inputs (or the reverse), so it is informative by one "
                 "test and not the other.")
    lines.append(text)
    for latent, part in info[info["status"] == HEALTHY].groupby("latent_dim"):
        lines.append(f"- latent_dim {latent}: healthy runs use {span(part['informative'])} dims.")
    return "\n\n".join(lines)
