"""analysis.show.narrative: the report's text follows the data (counts, thresholds, caveats)."""
from __future__ import annotations

import pytest
from analysis_fixtures import EXPECTED, PIXELS, make_study

from analysis.show import kl_narrative, narrative
from analysis.read.load import trials

ALL_TEXT = (narrative.overview, narrative.collapse_findings, narrative.why_overregularization,
            narrative.regularization_check, narrative.blur_comparison, kl_narrative.kl_per_dim_findings)


@pytest.fixture(scope="module")
def df(tmp_path_factory):
    return trials(*make_study(tmp_path_factory.mktemp("text"), with_running=True))


def test_collapse_findings_state_what_the_data_show(df):
    text = narrative.collapse_findings(df)
    assert f"All {EXPECTED['collapsed_mean']} runs with reduction=mean and β ≥ 1 collapsed" in text
    assert f"None of the {EXPECTED['healthy_sum']} runs with reduction=sum collapsed" in text
    assert "effective β separates the runs exactly" in text and "784" in text
    assert narrative.headline(df).startswith(f"{EXPECTED['collapsed_mean']} of {EXPECTED['vae_runs']} finished")


def test_why_uses_the_pixel_count_from_the_data(df):
    assert f"D = {PIXELS}" in narrative.why_overregularization(df)


def test_blur_comparison_with_and_without_ae(df):
    text = narrative.blur_comparison(df)
    assert "AE baseline (1 run): sharpness 0.8" in text and "56.2% of the AE's" in text
    no_ae = df[df["model"] != "ae"]
    no_ae.attrs = df.attrs
    assert "no autoencoder baseline" in narrative.blur_comparison(no_ae)


def test_overview_flags_an_unfinished_sweep_and_mixed_datasets(df):
    text = narrative.overview(df)
    assert "not complete" in text and "1 FAIL" in text and "1 RUNNING" in text and "non-finite loss" in text
    mixed = df.copy()
    mixed.loc[mixed["number"] < 4, "dataset"] = "digits"
    mixed.attrs = df.attrs
    text = narrative.overview(mixed)
    assert "mixes datasets" in text and "digits (4)" in text and "mnist5k (9)" in text


@pytest.mark.parametrize("subset", ["sum_only", "mean_only", "ae_and_one_vae"])
def test_every_text_renders_on_subsets(df, subset):
    if subset == "sum_only":
        part = df[df["reduction"] == "sum"]
    elif subset == "mean_only":
        part = df[df["reduction"] == "mean"]
    else:
        part = df[(df["model"] == "ae") | (df["number"] == 0)]
    part = part.copy()
    part.attrs = df.attrs
    for function in ALL_TEXT:
        assert isinstance(function(part), str) and function(part)
    if subset == "sum_only":
        assert "0 of" in narrative.headline(part)


def test_diversity_only_collapse_is_not_blamed_on_one_cause(df):
    short = df.copy()
    sum_rows = (short["reduction"] == "sum") & (short["model"] == "vae") & (short["state"] == "COMPLETE")
    short.loc[sum_rows, "test/recon_diversity"] = 0.02
    short.loc[sum_rows, "status"] = "collapsed"
    short.attrs = df.attrs
    text = narrative.collapse_findings(short)
    assert f"All {EXPECTED['healthy_sum']} runs with reduction=sum collapsed" in text
    assert "All of them still have active units (3–7)" in text and "more training (epochs run: 2)" in text
    assert "under-training rather than over-regularisation, this sweep cannot tell" in text
    mean_part = next(part for part in text.split("\n\n") if "runs with reduction=mean" in part)
    assert "ignores z" in mean_part  # the mean runs did lose z


def test_overview_counts_trials_stopped_by_the_machine_apart_from_interrupted_ones(tmp_path):
    import optuna
    from optuna.trial import TrialState, create_trial

    storage, name = make_study(tmp_path)
    study = optuna.load_study(study_name=name, storage=storage)
    config = study.trials[0].user_attrs["config"]
    reasons = {"stopped by the machine: No space left on device writing x": {"machine_fault": True},
               "interrupted (Ctrl-C or SIGTERM) while running": {}}
    stopped = [create_trial(state=TrialState.FAIL, user_attrs={"config": config, "fail_reason": reason, **extra})
               for reason, extra in reasons.items()]
    for trial in stopped:
        study.add_trial(trial)
    for number in (len(study.trials) - 2, len(study.trials) - 1):  # both re-queued
        study.add_trial(create_trial(state=TrialState.WAITING, user_attrs={"config": config, "retry_of": number}))
    df = trials(storage, name)
    assert (df.attrs["study_attrs"]["reruns"], df.attrs["study_attrs"]["stopped_by_machine"]) == (1, 1)
    text = narrative.overview(df)
    assert "1 trial interrupted (worker killed or stopped) and re-run" in text
    assert "1 trial stopped by the machine (a full disk, ...), not by its configuration, and re-run" in text


def test_kl_findings_name_each_latent_size_when_a_status_spans_several(df):
    import numpy as np
    import pandas as pd

    healthy = df[df["status"] == "healthy"].copy()
    small = healthy.assign(kl_per_dim=healthy["kl_per_dim"].map(lambda kl: np.asarray(kl)[:2]))
    mixed = pd.concat([df, small], ignore_index=True)
    mixed.attrs = df.attrs
    text = kl_narrative.kl_per_dim_findings(mixed)
    assert "informative dims 2–8 (latent_dim 2, 8; per size below)" in text
    assert "- latent_dim 2: healthy runs use 2 dims." in text and "informative dims 0 of 8" in text
