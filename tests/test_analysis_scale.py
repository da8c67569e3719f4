"""Reports at the scale of real searches: collapse boundary, seed aggregation, summarised prose, number format."""
from __future__ import annotations

import re

import numpy as np
import optuna
import pandas as pd
import pytest

from analysis.show import kl_narrative, narrative
from analysis.read import synthetic
from analysis.findings.boundary import boundaries
from analysis.read.load import trials
from analysis.numbers import MAX_LISTED
from analysis.findings.seeds import configurations


def journal_study(path, n_trials: int, **options) -> str:
    """A synthetic study in an Optuna journal file (fast to write); returns the file's path."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = JournalStorage(JournalFileBackend(str(path)))
    study = optuna.create_study(study_name="synthetic", storage=storage)
    synthetic.add_trials(study, n_trials, **options)
    return str(path)


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    return trials(journal_study(tmp_path_factory.mktemp("big") / "journal.log", 500))


def test_boundaries_contain_the_true_boundary_of_a_sharp_synthetic_study(tmp_path):
    df = trials(journal_study(tmp_path / "sharp.log", 800, spread=0.0, fail_share=0, prune_share=0))
    found = boundaries(df)
    assert len(found) == len(synthetic.ARCHS) * len(synthetic.LATENT_DIMS) * 2  # x reduction sum / mean
    for row in found[found["located"]].itertuples():
        assert row.method == "bracket"
        assert row.low < synthetic.true_boundary(row.arch, row.latent_dim) <= row.high
    text = narrative.collapse_findings(df)
    assert f"located for {int(found['located'].sum())} of {len(found)} groups" in text


def test_seed_aggregation_counts_collapsed_seeds():
    rows = [{"number": i, "state": "COMPLETE", "model": "vae", "arch": "mlp", "reduction": "mean", "latent_dim": 8,
             "beta": 0.05, "seed": i, "status": status, "effective_beta": 39.2, "test/active_units": units}
            for i, (status, units) in enumerate([("collapsed", 0), ("collapsed", 0), ("healthy", 6)])]
    rows.append({**rows[2], "number": 3, "beta": 0.001, "effective_beta": 0.784, "seed": 0, "test/active_units": 8})
    df = pd.DataFrame(rows)
    for column in ("test/kl", "test/mutual_info", "test/recon_diversity", "test/sharpness", "test/recon_nll"):
        df[column] = 1.0
    df.attrs["swept"] = ["beta", "seed"]
    table = configurations(df).set_index("beta")
    assert table.loc[0.05, "seeds collapsed"] == "2 of 3" and table.loc[0.05, "verdict"] == "mixed"
    assert table.loc[0.05, "test/active_units"] == 0 and table.loc[0.05, "test/active_units max"] == 6
    assert table.loc[0.001, "seeds collapsed"] == "0 of 1" and table.loc[0.001, "verdict"] == "healthy"


def test_seed_verdicts_on_a_noisy_synthetic_study(tmp_path):
    df = trials(journal_study(tmp_path / "noisy.log", 400, spread=0.4))
    table = configurations(df)
    finished = df[df["state"] == "COMPLETE"]
    assert table["runs"].sum() == len(finished) and (table["runs"] > 1).all()
    for row in table.itertuples():
        runs = finished[finished["number"].isin(row.numbers)]
        assert row.collapsed == (runs["status"] == "collapsed").sum()
    mixed = int((table["verdict"] == "mixed").sum())
    assert mixed > 0 and f"in **{mixed} the seeds disagreed**" in narrative.collapse_findings(df)


def test_prose_summarises_instead_of_listing_hundreds_of_values(big):
    text = "\n".join(function(big) for function in (narrative.overview, narrative.collapse_findings,
                                                    narrative.why_overregularization, narrative.regularization_check,
                                                    narrative.blur_comparison, kl_narrative.kl_per_dim_findings))
    number = r"-?\d[\d.\u202f]*(?:e[+-]\d+)?"
    longest = max(len(match.split(",")) for match in re.findall(rf"{number}(?:, {number})+", text))
    assert longest <= MAX_LISTED
    assert re.search(r"`beta` ∈ \{\d+ values, ", text)
    assert "Where collapse begins" in text
    medians = text.split("MI (nats)")[1].split("\n\n")[0]
    assert "≈ 0" in medians and not re.search(r"\| -\d", medians)  # collapsed runs' MI: noise around 0
