"""analysis.findings.boundary and analysis.findings.effective_beta: collapse_boundary.csv on the no-active-unit
criterion, with known answers from hand-made runs; the mean-vs-sum checks of the effective-β law."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from analysis.findings import boundary
from analysis.findings.effective_beta import pair_findings, pairs

PIXELS = 784


def run(number, arch, reduction, beta, units, diversity=0.3, latent=16, **extra):
    effective = beta * (PIXELS if reduction == "mean" else 1)
    status = "collapsed" if units == 0 or diversity < 0.05 else "healthy"
    return {"number": number, "state": "COMPLETE", "model": "vae", "arch": arch, "latent_dim": latent,
            "reduction": reduction, "beta": beta, "seed": 0, "effective_beta": effective,
            "test/active_units": units, "test/recon_diversity": diversity, "status": status,
            "test/nelbo": 150.0 + effective, "test/kl": 10.0 / (1 + effective), **extra}


def frame(rows, space=("beta", "arch", "reduction", "latent_dim")):
    df = pd.DataFrame(rows)
    df.attrs.update(study_attrs={"search_space": {key: [] for key in space}, "boundary": {"ratio": 2.0}},
                    swept=list(space), thresholds={})
    return df


@pytest.fixture
def study():
    """mlp: last unit off between effective β 13.5 and 22.6 for sum, 12.2 and 18.5 for mean; a run at 13.5 has
    units but flat reconstructions (flagged collapsed, working here); conv never loses its last unit."""
    rows = [run(0, "mlp", "sum", 1.0, 16), run(1, "mlp", "sum", 8.0, 11), run(2, "mlp", "sum", 13.45, 9, 0.04),
            run(3, "mlp", "sum", 22.6, 0, 0.0), run(4, "mlp", "mean", 1 / 784, 16), run(5, "mlp", "mean", 12.2 / 784, 13),
            run(6, "mlp", "mean", 18.5 / 784, 0, 0.0), run(7, "mlp", "mean", 1.0, 0, 0.0),
            run(8, "conv", "sum", 1.0, 16), run(9, "conv", "sum", 4.0, 15),
            {**run(10, "mlp", "sum", 1.0, None, 0.8), "model": "ae", "effective_beta": math.nan, "status": "ae"},
            {**run(11, "mlp", "sum", 50.0, 0, 0.0), "state": "FAIL"}]
    return frame(rows)


def test_the_csv_has_one_row_per_group_with_known_brackets(study, tmp_path):
    table = boundary.write_csv(study, tmp_path / boundary.CSV_NAME)
    read = pd.read_csv(tmp_path / boundary.CSV_NAME)
    assert list(read.columns) == ["arch", "latent_dim", "reduction", "low", "estimate", "high", "method", "trials"]
    rows = {(row.arch, row.reduction): row for row in read.itertuples()}
    assert set(rows) == {("mlp", "sum"), ("mlp", "mean"), ("conv", "sum")} and len(table) == 3
    total = rows[("mlp", "sum")]  # 13.45 has 9 active units: working on this criterion, though flagged collapsed
    assert (total.low, total.high, total.method, total.trials) == (13.45, 22.6, "bracket", 4)
    assert math.isclose(total.estimate, math.sqrt(13.45 * 22.6))
    mean = rows[("mlp", "mean")]
    assert mean.method == "bracket" and math.isclose(mean.low, 12.2) and math.isclose(mean.high, 18.5)
    above = rows[("conv", "sum")]  # no run lost its last unit: only the lower side is known
    assert above.method == "above" and above.low == 4.0 and math.isnan(above.estimate) and math.isnan(above.high)


def test_groups_are_the_searched_keys_but_beta_seed_and_model(study):
    with_likelihood = frame([{**row, "likelihood": name} for row in study.to_dict("records")
                             for name in ("bernoulli", "gaussian")],
                            space=("beta", "arch", "reduction", "latent_dim", "likelihood", "seed", "model"))
    assert boundary.group_keys(with_likelihood) == ["arch", "latent_dim", "reduction", "likelihood"]
    assert len(boundary.boundaries(with_likelihood)) == 6


def test_findings_state_the_criterion_the_flag_gap_and_the_agreement(study):
    text = boundary.findings(study)
    assert boundary.CSV_NAME in text and "located for 2 of 3 groups" in text
    assert "high/low ≤ 2, reached in 2 of 2" in text  # 22.6/13.45 = 1.68 and 18.5/12.2 = 1.52
    assert "1 run flagged collapsed still has active units" in text
    assert "In 1 group the data cannot locate it: 1 with no run at AU = 0" in text  # conv
    assert "every run at AU = 0" not in text and "does not grow" not in text  # reasons with no group are left out
    assert "arch mlp, latent_dim 16: sum 13.4–22.6, mean 12.2–18.5" in text and "**agree**" in text


def test_disagreeing_reductions_are_called_out():
    rows = [run(0, "mlp", "sum", 2.0, 5), run(1, "mlp", "sum", 4.0, 0, 0.0),
            run(2, "mlp", "mean", 20 / 784, 5), run(3, "mlp", "mean", 40 / 784, 0, 0.0)]
    assert "**do not agree**" in boundary.findings(frame(rows))


def test_noisy_runs_fall_back_to_the_logistic_or_overlap_estimate():
    rows = [run(index, "mlp", "sum", beta, 0 if bad else 4)
            for index, (beta, bad) in enumerate([(1, False), (5, False), (9, True), (11, False), (14, True), (40, True)])]
    found = boundary.boundaries(frame(rows))
    assert found.loc[0, "method"] in ("logistic", "overlap")
    assert found.loc[0, "low"] <= found.loc[0, "estimate"] <= found.loc[0, "high"]


def test_mean_with_beta_over_d_is_paired_with_sum_with_beta(study):
    found = pairs(study)
    assert len(found) == 1  # mean at 1/784 and sum at 1 (mlp); conv has no mean twin
    row = found.iloc[0]
    assert row["arch"] == "mlp" and math.isclose(row["effective β"], 1.0) and row["β sum"] == 1.0
    assert row["nelbo (nats): mean"] == row["nelbo (nats): sum"] == 151.0
    text = pair_findings(study)
    assert "Checked on 1 pair of runs" in text and "nelbo by at most 0 nats" in text and "same active units" in text
    assert "No `mean` run has a `sum` twin" in pair_findings(study[study["reduction"] == "sum"])
