"""analysis.findings.staircase and its prose: where each latent unit switches off, on the analysis test study (whose
active-unit counts are known: sum runs 7, 6, 3 at β 0.1, 1, 4; mean runs 1, 0, 0 at effective β 78.4, 784, 3136)."""
from __future__ import annotations

import math

import numpy as np
import pytest
from analysis_fixtures import make_study

from analysis.findings import staircase
from analysis.show import theory_figures, theory_narrative
from analysis.show.figures import to_png
from analysis.read.load import trials

# unit -> (on up to, off from, method) in effective β, for either arch
EXPECTED = {1: (78.4, 784.0, "bracket"), 2: (4.0, 78.4, "bracket"), 3: (4.0, 78.4, "bracket"),
            4: (1.0, 4.0, "bracket"), 5: (1.0, 4.0, "bracket"), 6: (1.0, 4.0, "bracket"),
            7: (0.1, 1.0, "bracket"), 8: (math.nan, 0.1, "below")}


@pytest.fixture(scope="module")
def df(tmp_path_factory):
    return trials(*make_study(tmp_path_factory.mktemp("stairs"), with_running=True))


def test_switch_offs_of_the_test_study(df):
    found = staircase.switch_offs(df)
    assert sorted(found["arch"].unique()) == ["conv", "mlp"] and (found["latent_dim"] == 8).all()
    assert (found["runs"] == 6).all()  # the AE, the failed and the running trial are not counted
    for _, row in found.iterrows():
        on_up_to, off_from, method = EXPECTED[row["unit"]]
        assert row["method"] == method
        np.testing.assert_allclose([row["on_up_to"], row["off_from"]], [on_up_to, off_from])
        if method == "bracket":
            assert row["estimate"] == pytest.approx(math.sqrt(on_up_to * off_from))


def test_unit_switch_off_methods():
    beta = np.array([1.0, 2.0, 4.0, 8.0])
    assert staircase.unit_switch_off(beta, np.array([2, 1, 2, 0]), 2)["method"] == "overlap"  # on at 4, off at 2
    above = staircase.unit_switch_off(beta, np.array([3, 3, 2, 2]), 2)
    assert above["method"] == "above" and above["on_up_to"] == 8.0 and math.isnan(above["off_from"])


def test_findings_group_units_with_the_same_bracket(df):
    text = theory_narrative.staircase_findings(df)
    assert "**arch=mlp, latent_dim=8** (6 runs)" in text
    assert "units 4–6 between 1 and 4" in text and "unit 7 between 0.1 and 1" in text
    assert "unit 8 off at every effective β tried (from 0.1)" in text
    assert "units 2–3 between 4 and 78.4" in text and "unit 1 between 78.4 and 784" in text


def test_the_theory_says_why_it_does_not_apply(df):
    text = theory_narrative.theory_findings(df)
    assert "It does not apply here" in text and "arch=mlp (needs linear)" in text
    assert "likelihood=bernoulli" in text and "gaussian_mean=sigmoid" in text
    assert "no `sum` and `mean` runs share an effective β" in theory_narrative.equal_beta_findings(df).lower()


@pytest.mark.parametrize("function", theory_figures.THEORY_FIGURES, ids=lambda f: f.__name__)
def test_figures_render_without_the_theory(df, function):
    assert to_png(function(df), dpi=40).startswith(b"\x89PNG")


def test_equal_beta_pairs_keep_the_column_their_rows_differ_by(df):
    import pandas as pd

    twins = df[(df["reduction"] == "sum") & (df["beta"] == 1.0) & (df["model"] == "vae")
               & (df["state"] == "COMPLETE")].copy()
    twins = twins.assign(reduction="mean", beta=1 / 784, number=twins["number"] + 1000)
    both = pd.concat([df, twins], ignore_index=True)
    both.attrs = df.attrs
    text = theory_narrative.equal_beta_findings(both)
    assert "2 pairs of runs share an effective β" in text
    header = next(line for line in text.splitlines() if line.startswith("| "))
    assert "arch" in header and "latent_dim" not in header  # two archs, one latent size
