"""analysis.findings.theory_check: the agreement numbers on a study whose answers are known, and an end-to-end linear sweep
on Gaussian data with a spectrum drawn at random (not tuned on) that must agree with the exact answer within the
tolerances the report states."""
from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from analysis.findings import theory, theory_check
from analysis.show import theory_figures, theory_narrative
from analysis.show.figures import to_png
from analysis.read.frame import TrialRecord, build_frame
from conftest import assert_one_line_error, run_in_process
from vae.gaussian_data import sample

LINEAR = {"dataset": "gaussian16", "model": "vae", "arch": "linear", "latent_dim": 6, "likelihood": "gaussian",
          "gaussian_sigma": 1.0, "gaussian_mean": "identity", "free_bits": 0.0, "binarize": "none", "seed": 0,
          "val_fraction": 0.1, "test_fraction": 0.1}


def exact_study(betas: list[float], shift: dict[int, float] | None = None):
    """A trial table whose measurements are the exact values (units in scrambled order), one run per β;
    `shift` adds nats to the KL of unit 0 of the given runs."""
    lam = theory_check.split_facts("gaussian16", 0, 0.1, 0.1)[0]
    records = []
    for number, beta in enumerate(betas):
        kl = theory.kl_per_dim(lam, 6, beta, 1.0)[::-1].copy()
        kl[-1] += (shift or {}).get(number, 0.0)
        values = {"test/kl_per_dim": kl.tolist(), "test/kl": float(kl.sum()), "effective_beta": beta,
                  "test/active_units": theory.active_units(lam, 6, beta, 1.0), "test/recon_diversity": 0.5,
                  "test/recon_nll": theory.recon_nll(lam, 6, beta, 1.0)}
        records.append(TrialRecord(number, "COMPLETE", {**LINEAR, "beta": beta, "reduction": "sum"}, {"beta": beta},
                                   values))
    return build_frame(records, source="optuna", study="exact", swept=["beta"])


def test_exact_measurements_agree_exactly():
    comparison, switches, agreed = theory_check.check(exact_study([0.3, 1.0, 3.0, 12.0]))
    assert agreed["runs"] == 4 and agreed["kl_max_error"] < 1e-12 and agreed["kl_within"] == 4
    assert agreed["au_exact"] == 4 and agreed["recon_nll_max_error"] < 1e-9
    assert list(comparison["active_units_exact"]) == [6, 4, 2, 0]
    # unit 1 (λ₁ ≈ 11.3): on at 3, off at 12; unit 4 (λ₄ ≈ 1.4): on at 1, off at 3
    assert switches.loc[0, "on_up_to"] == 3.0 and switches.loc[0, "off_from"] == 12.0 and switches["inside"].all()
    np.testing.assert_allclose(switches["from_kl"].dropna(), switches["exact"][switches["from_kl"].notna()])


def test_a_wrong_kl_is_caught():
    _, _, agreed = theory_check.check(exact_study([0.3, 1.0, 3.0, 12.0], shift={1: 0.3}))
    assert agreed["kl_within"] == 3 and agreed["kl_max_error"] == pytest.approx(0.3)


def test_runs_outside_the_theory_are_named():
    frame = exact_study([1.0])
    for change, reason in (({"arch": "mlp"}, "arch=mlp (needs linear)"), ({"free_bits": 0.5}, "free_bits=0.5"),
                           ({"gaussian_mean": "sigmoid"}, "gaussian_mean=sigmoid")):
        assert reason in theory_check.check(frame.assign(**change))


UNTUNED_SEED = 7  # the spectrum below was drawn once from this seed; nothing was tuned to it
BETAS = [0.5, 2.0, 8.0]
RECIPE = {"epochs": 150, "batch_size": 256, "learning_rate": 0.01}  # configs/theory.yaml's training, 5,000 examples


@pytest.fixture(scope="module")
def untuned(tmp_path_factory):
    """An in-process linear sweep (one process) on 5,000 vectors of 5 values with a random spectrum."""
    from analysis.read.load import load
    from sweep.launch import main

    root = tmp_path_factory.mktemp("untuned")
    eigenvalues = np.sort(np.exp(np.random.default_rng(UNTUNED_SEED).uniform(np.log(0.2), np.log(8.0), 5)))[::-1]
    np.savez(root / "gauss5.npz", x=sample(eigenvalues, 5000, UNTUNED_SEED, mean=-1.0))
    config = {"study": "untuned", "search": {"method": "grid", "space": {"beta": BETAS}},
              "trial": {**LINEAR, "dataset": f"npz:{root / 'gauss5.npz'}", "latent_dim": 3, **RECIPE,
                        "iwae_samples": 5}}
    (root / "untuned.yaml").write_text(yaml.safe_dump(config))
    code = main([str(root / "untuned.yaml"), "--out", str(root / "runs"), "--wandb-mode", "disabled", "--no-report",
                 "--workers", "1"])
    assert code == 0
    return root, load(storage=f"sqlite:///{root / 'runs' / 'sweeps.db'}", study="untuned"), eigenvalues


def test_untuned_spectrum_agrees_within_the_stated_tolerance(untuned):
    _, df, eigenvalues = untuned
    comparison, switches, agreed = theory_check.check(df)
    found = {**agreed, "eigenvalues": eigenvalues.tolist(), "kl_errors": comparison["kl_error"].tolist()}
    assert agreed["runs"] == len(BETAS) and agreed["kl_within"] == len(BETAS), found
    assert agreed["au_within_slow"] == len(BETAS), found
    assert agreed["recon_nll_within"] == len(BETAS), found
    assert agreed["units_near"] == agreed["units_located"] == 3, switches.to_dict("records")
    text = theory_narrative.theory_findings(df)
    assert f"every unit within its tolerance in {len(BETAS)} of {len(BETAS)} runs" in text
    assert "exact inside" in theory_narrative.thresholds_table(df)
    for function in theory_figures.THEORY_FIGURES:
        assert to_png(function(df), dpi=40).startswith(b"\x89PNG")


def test_vector_trials_skip_image_outputs_and_say_why(untuned, capsys):
    from vae.sample import main

    folder = next((untuned[0] / "runs" / "untuned").glob("trial-*"))
    metrics = json.loads((folder / "metrics.json").read_text())
    assert "vectors (n, d), not images" in metrics["image_outputs_skipped"]
    assert metrics["sharpness"] is None and "not images" in metrics["sample_quality_skipped"]
    assert not list(folder.glob("*.png"))
    with np.load(folder / "reconstructions.npz") as arrays:
        assert arrays["reconstructions"].shape == (64, 5)
    assert_one_line_error(run_in_process(main, str(folder), capsys=capsys), "trained on vectors of 5 values")


def test_conv_on_vectors_is_refused_up_front(untuned, capsys):
    from sweep.launch import main

    root = untuned[0]
    result = run_in_process(main, str(root / "untuned.yaml"), "--out", str(root / "refused"), "--set",
                            "trial.arch=conv", "--no-report", "--wandb-mode", "disabled", capsys=capsys)
    assert_one_line_error(result, "vectors of 5 values", "arch=conv needs images")
    assert not (root / "refused").exists()
