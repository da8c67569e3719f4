"""analysis.samples: the "which β gives the best samples?" prose and figures on a trial table with known answers."""
from __future__ import annotations

import numpy as np
import pytest

from analysis import samples
from analysis.frame import TrialRecord, build_frame

BETAS = (0.5, 1.0, 4.0)


def fd_of(reduction: str, arch: str, beta: float) -> float:
    """Known answers: sum/mlp best samples at β=4 (nelbo best at 0.5); sum/conv at β=1 for both; mean collapses."""
    if reduction == "mean":
        return 250.0 + beta
    return {("mlp", 0.5): 90.0, ("mlp", 1.0): 70.0, ("mlp", 4.0): 50.0,
            ("conv", 0.5): 80.0, ("conv", 1.0): 40.0, ("conv", 4.0): 60.0}[(arch, beta)]


def nelbo_of(reduction: str, arch: str, beta: float) -> float:
    if reduction == "mean":
        return 205.0
    return {"mlp": 100.0, "conv": 95.0}[arch] + (abs(beta - 1.0) * 3 if arch == "conv" else beta * 5)


@pytest.fixture
def frame(tmp_path):
    records, number = [], 0
    for arch in ("mlp", "conv"):
        for reduction in ("sum", "mean"):
            for beta in BETAS:
                folder = tmp_path / f"trial-{number}"
                folder.mkdir()
                np.savez(folder / "samples.npz", samples=np.full((64, 28, 28, 1), beta / 4, np.float32))
                (folder / "metrics.json").write_text("{}\n")  # last, as vae.train writes it: the folder is complete
                collapsed = reduction == "mean"
                values = {"test/sample_fd": fd_of(reduction, arch, beta), "test/nelbo": nelbo_of(reduction, arch, beta),
                          "test/recon_nll": nelbo_of(reduction, arch, beta) - 10, "test/sample_confidence": 0.8,
                          "test/sample_coverage": 0.0 if collapsed else 0.95, "test/classifier_accuracy": 0.944,
                          "test/active_units": 0 if collapsed else 16, "test/recon_diversity": 0.01 if collapsed else 0.6,
                          "num_pixels": 784, "artifact_dir": str(folder)}
                config = {"model": "vae", "arch": arch, "reduction": reduction, "beta": beta, "latent_dim": 16}
                records.append(TrialRecord(number, "COMPLETE", config=config, values=values))
                number += 1
        values = {"test/sample_fd": 300.0, "test/recon_nll": 60.0, "test/sample_confidence": 0.6,
                  "test/sample_coverage": 0.4, "test/classifier_accuracy": 0.944, "test/recon_diversity": 0.9}
        records.append(TrialRecord(number, "COMPLETE", config={"model": "ae", "arch": arch, "beta": 1.0,
                                                                "reduction": "sum", "latent_dim": 16}, values=values))
        number += 1
    return build_frame(records, source="test", study="s")


def test_best_sample_beta_vs_best_nelbo_beta(frame):
    table = samples.best_beta_table(frame).set_index(["reduction", "arch", "latent"])
    mlp, conv = table.loc[("sum", "mlp", 16)], table.loc[("sum", "conv", 16)]
    assert mlp["best-sample β"] == 4.0 and mlp["best-nelbo β"] == 0.5 and not mlp["same β"]
    assert conv["best-sample β"] == 1.0 and conv["same β"]
    assert table.loc[("mean", "mlp", 16), "collapsed"] == 3
    text = samples.best_beta_findings(frame)
    assert "**reduction=sum, arch=mlp** (best overall: β=4, latent 16, FD 50): latent 16: best samples at β=4 " in text
    assert "best nelbo at β=0.5 (nelbo 102.5, FD 90)" in text and "FD 40, nelbo 95), also the best nelbo" in text
    assert "all 3 runs collapsed (FD range 3.5): no β gives usable samples here" in text
    assert "with at least one non-collapsed run, the β with the best samples differs from the β with the best " \
           "nelbo in 1." in text


def test_ae_and_collapse_prose_carry_the_numbers(frame):
    ae = samples.ae_findings(frame)
    assert "FD 300" in ae and "coverage 0.4" in ae and "6 of 3" not in ae
    assert "6 of 6 VAEs of this arch have a lower FD than the AE" in ae and "is not below every VAE's" not in ae
    collapsed = samples.collapse_findings(frame)
    assert collapsed.startswith("6 collapsed VAE run(s) sample FD 251 (median; range 250–254)") and "coverage 0" in collapsed
    assert "accuracy of 94.4%" in samples.overview(frame)


def test_figures_render_with_sample_rows_per_trial(frame):
    assert samples.png(samples.quality_vs_beta(frame)).startswith(b"\x89PNG")
    grids = samples.sample_grids(frame)
    assert len(grids) == 2  # one per arch, 7 rows each (6 VAEs + the AE has no samples.npz here: 6)
    labels = [tick.get_text() for tick in grids[0].axes[0].get_yticklabels()]
    assert len(labels) == 6 and labels[0].startswith("mean β=0.5")


def test_a_sweep_without_sample_metrics_says_why(frame):
    bare = frame.drop(columns=[c for c in frame if c.startswith("test/sample")])
    bare["sample_quality_skipped"] = "dataset 'npz:x.npz' has no class labels"
    assert "has no class labels" in samples.overview(bare)
    assert samples.best_beta_findings(bare) == "No VAE trial has sample metrics."
    assert samples.sample_grids(bare) == []
    assert samples.png(samples.quality_vs_beta(bare)).startswith(b"\x89PNG")


def test_a_line_keeps_its_colour_in_every_panel_when_another_panel_lacks_a_line(frame):
    """conv without its `mean` runs: `sum, latent 16` must not take `mean, latent 16`'s colour there."""
    part = frame[~((frame["arch"] == "conv") & (frame["reduction"] == "mean"))]
    figure = samples.quality_vs_beta(part)
    colours = {}
    for ax in figure.axes:
        for line in ax.get_lines():
            if not line.get_label().startswith("AE"):
                colours.setdefault(line.get_label(), set()).add(line.get_color())
    assert set(colours) == {"sum, latent 16", "mean, latent 16"} and all(len(c) == 1 for c in colours.values())
    assert colours["sum, latent 16"] != colours["mean, latent 16"]
    legend = [text.get_text() for text in figure.axes[len(figure.axes) // 3 - 1].get_legend().get_texts()]
    assert {"sum, latent 16", "mean, latent 16"} <= set(legend)
