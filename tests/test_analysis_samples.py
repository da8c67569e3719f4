"""The samples report on a trial table with known answers: the one-sentence answers, the seed rule for calling two β
different, the AE like with like, the β > 1 claim, the ladder placement, and tables/figures a reader can trust."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.findings import beta_claim, samples
from analysis.show import sample_figures, sample_narrative, sample_tables
from analysis.read.frame import TrialRecord, build_frame
from analysis.numbers import THIN
from vae import ladder

LADDER = [-1e-4, 0.3, 0.9, 0.7, 1.3, 2.0]  # vae.ladder.RUNGS: real, blur σ=1, blur σ=2, 3 classes, average, noise
# KID per (arch, reduction, β): one value per seed. sum/mlp has three seeds: β=1 beats the next (β=4) beyond the seed
# ranges; sum/conv has one seed: the sweep cannot tell; mean collapses everywhere.
KIDS = {("mlp", "sum", 0.5): [0.60, 0.65, 0.70], ("mlp", "sum", 1.0): [0.40, 0.42, 0.45],
        ("mlp", "sum", 4.0): [0.50, 0.55, 0.60], ("conv", "sum", 0.5): [0.38], ("conv", "sum", 1.0): [0.35],
        ("conv", "sum", 4.0): [0.80]}
AE_KID = {"mlp": 0.9, "conv": 0.2}  # the conv AE beats every conv VAE: the report must say so


def record(number, config, kid, collapsed=False, tmp_path=None, **extra):
    values = {"test/sample_kid": kid, "test/sample_kid_std": 0.01, "test/sample_fd_cnn": 100 * kid,
              "test/sample_coverage": 0.0 if collapsed else 0.95, "test/classifier_accuracy": 0.956,
              "test/sample_kid_ladder": LADDER, "test/sample_kid_ladder_std": [0.01] * 6, "sample_count": 500,
              "sample_features": "convnet test features", "test/recon_nll": 90.0,
              "test/recon_diversity": 0.01 if collapsed else 0.6, **extra}
    if config["model"] == "vae":
        values.update({"test/active_units": 0 if collapsed else 16, "test/nelbo": 100.0 + kid,
                       "effective_beta": config["beta"] * (784 if config["reduction"] == "mean" else 1)})
    if tmp_path is not None:
        folder = tmp_path / f"trial-{number}"
        folder.mkdir()
        np.savez(folder / "samples.npz", samples=np.full((64, 28, 28, 1), kid / 2, np.float32))
        (folder / "metrics.json").write_text("{}\n")  # last, as vae.train writes it: the folder is complete
        values["artifact_dir"] = str(folder)
    return TrialRecord(number, "COMPLETE", config=config, values=values)


def plain(text: str) -> str:
    return text.replace(THIN, " ")  # the report's thousands separator, as a space


@pytest.fixture
def frame(tmp_path):
    records = []
    for (arch, reduction, beta), kids in KIDS.items():
        for seed, kid in enumerate(kids):
            config = {"model": "vae", "arch": arch, "reduction": reduction, "beta": beta, "latent_dim": 16,
                      "seed": seed}
            records.append(record(len(records), config, kid, tmp_path=tmp_path))
    for arch in ("mlp", "conv"):
        for beta in (0.5, 1.0, 4.0):
            config = {"model": "vae", "arch": arch, "reduction": "mean", "beta": beta, "latent_dim": 16, "seed": 0}
            records.append(record(len(records), config, 1.25 + beta / 100, collapsed=True, tmp_path=tmp_path))
        config = {"model": "ae", "arch": arch, "reduction": "sum", "beta": 1.0, "latent_dim": 16, "seed": 0}
        records.append(record(len(records), config, AE_KID[arch], tmp_path=tmp_path))
    # a trial from before KID: an MLP's FD only, never compared with the rest
    records.append(TrialRecord(len(records), "COMPLETE", config={"model": "vae", "arch": "mlp", "reduction": "sum",
                                                                  "beta": 1.0, "latent_dim": 16, "seed": 0},
                               values={"test/sample_fd": 12.0, "test/recon_diversity": 0.5, "test/active_units": 9}))
    return build_frame(records, source="test", study="s")


def test_one_sentence_per_reduction_and_arch(frame):
    text = plain(samples.answer(frame))
    lines = [line for line in text.splitlines() if line.startswith("- ")]
    assert [line.split("**")[1] for line in lines] == ["reduction=mean, arch=conv", "reduction=mean, arch=mlp",
                                                       "reduction=sum, arch=conv", "reduction=sum, arch=mlp"]
    mlp, conv = lines[3], lines[2]
    assert "β=1 (latent 16: KID 420 [400–450 over 3 seeds], between blur σ = 1 (300) and 3 classes only (700)) " \
           "gives the best samples, better than the next, β=4 (KID 550 [500–600 over 3 seeds]), by more than the " \
           "spread over training seeds" in mlp
    assert "the sweep cannot tell: β=1 (latent 16: KID 350 ± 10, between blur σ = 1 (300) and 3 classes only (700)) " \
           "has the lowest KID and β=0.5 the next (KID 380 ± 10; the gap is 2.1× their sampling spread), but with " \
           "one training seed per β" in conv
    assert "seeds 1, 2 of β=1 and β=0.5 at latent 16 would settle it" in conv
    for line in lines[:2]:
        assert "no β works here: all 3 runs collapsed (β 0.5, 1, 4; KID 1 260–1 290, between blur σ = 2 (900) and " \
               "the average image (1 300))." in line
        assert "gives the best" not in line
    assert samples.kid_span(1.2601, 1.2604) == "1\u202f260"  # one number when both ends read the same


def test_the_ae_is_compared_like_with_like(frame):
    lines = plain(samples.answer(frame)).splitlines()
    assert "the AE of this arch (the same latent size), decoding z ~ N(0, I), scores KID 900 ± 10: worse than β=1" \
           in lines[-1]
    assert "scores KID 200 ± 10: better than β=1" in [line for line in lines if "arch=conv" in line][-1]
    ae = plain(sample_narrative.ae_findings(frame))
    assert "scores KID 200 ± 10 (between real held-out images (≈ 0) and blur σ = 1 (300))" in ae
    assert "0 of 3 non-collapsed VAE configurations of this arch and latent size score better beyond the spread" in ae
    assert "3 of 3 non-collapsed VAE configurations" in ae  # mlp: every healthy mlp VAE beats its AE


def test_a_difference_needs_the_seed_ranges_apart():
    row = lambda runs, low, high: {"runs": runs, "kid min": low, "kid max": high}  # noqa: E731
    assert samples.differ(row(3, 0.1, 0.2), row(3, 0.3, 0.4)) is True
    assert samples.differ(row(3, 0.1, 0.35), row(3, 0.3, 0.4)) is False
    assert samples.differ(row(1, 0.1, 0.1), row(3, 0.3, 0.4)) is None  # one seed: the sweep cannot tell
    # one run each (an AE against a VAE): apart only beyond twice the combined sampling spread
    single = lambda kid, spread: {"runs": 1, "kid": kid, "kid min": kid, "kid max": kid, "kid spread": spread}  # noqa
    assert samples.order(single(0.50, 0.02), single(0.45, 0.02)) == 0  # 0.05 < 2·0.028
    assert samples.order(single(0.50, 0.01), single(0.45, 0.01)) == 1 and samples.order(single(0.4, 0.01),
                                                                                      single(0.45, 0.01)) == -1


def test_numbers_are_placed_on_the_ladder_and_negative_kid_is_about_zero(frame):
    rungs = samples.ladder_of(samples.measured(frame))
    assert list(rungs) == list(ladder.RUNGS)
    assert samples.placement(0.5, rungs) == "between blur σ = 1 (300) and 3 classes only (700)"
    assert samples.placement(-0.001, rungs) == "better than real held-out images (≈ 0)"
    assert plain(samples.placement(3.0, rungs)) == "worse than uniform noise (2 000)"
    assert samples.kid_text(-0.0004) == "≈ 0" and samples.kid_text(0.0413, 0.0021) == "41.3 ± 2.1"
    table = samples.ladder_table(frame)
    assert table["calibration set"].tolist()[:3] == ["real held-out images", "blur σ = 1", "3 classes only"]


def test_collapsed_runs_and_old_trials(frame):
    collapsed = plain(sample_narrative.collapse_findings(frame))
    assert collapsed.startswith("6 collapsed VAE run(s) score KID 1 260–1 290 (between blur σ = 2 (900) and the "
                                "average image (1 300))")
    assert "Every one scores worse than every other run (the worst of those, AE included: 900)." in collapsed
    frame.loc[frame["number"] == 12, "test/sample_kid"] = 0.3  # a collapsed run scoring better than healthy ones
    exception = plain(sample_narrative.collapse_findings(frame))
    assert "Not all of them score worst: #12 (mean, mlp, β=0.5, latent 16: KID 300, better than 13 non-collapsed " \
           "run(s))" in exception
    overview = samples.overview(frame)
    assert "accuracy 95.6%" in overview and "1 trial(s) from before KID" in overview


def test_the_beta_claim_needs_seeds_and_is_judged_by_their_spread(frame):
    table = beta_claim.comparisons(frame)
    assert table[["arch", "beta", "verdict"]].values.tolist() == [["mlp", 4.0, "worse"]]  # conv: one seed only
    assert table["seeds lower"].tolist() == [0] and table["seeds paired"].tolist() == [3]
    text = beta_claim.findings(frame)
    assert text.startswith("**No: every β > 1 tested gives worse prior samples than β = 1**")
    assert "β=4: KID 550 [500–600] vs β=1: 420 [400–450] over 3 training seeds; lower on 0 of 3 seeds" in text
    single = frame[frame["seed"] == 0]
    assert beta_claim.findings(single).startswith("This sweep cannot check the claim")


def test_tables_have_one_number_format_and_no_empty_cells(frame):
    for table in (sample_tables.configurations_table(frame), sample_tables.trial_table(frame)):
        cells = [plain(cell) for cell in table.astype(str).to_numpy().ravel()]
        assert not [cell for cell in cells if cell.lower() in ("nan", "none", "")]
        assert "n/a: AE" in cells and "784" in cells and "3 140" in cells  # effective β, as everywhere in the report
    assert "e+03" not in sample_tables.configurations_html(frame)


def test_figures_render_without_hidden_series(frame):
    assert sample_figures.png(sample_figures.kid_vs_beta(frame)).startswith(b"\x89PNG")
    coverage = sample_figures.coverage_vs_beta(frame)
    for ax in coverage.axes:
        lines = [line for line in ax.get_lines() if line.get_linestyle() == "None"]  # the series, not the AE
        points = {(round(float(x), 6), round(float(y), 6)) for line in lines for x, y in zip(*line.get_data())}
        assert len(points) == sum(len(line.get_xdata()) for line in lines)  # no two points drawn on top of each other
    grids = sample_figures.sample_grids(frame)
    assert len(grids) == 2
    labels = [plain(tick.get_text()) for tick in grids[1].axes[0].get_yticklabels()]  # mlp
    assert len(labels) == 13 and labels[0].startswith("mean β=0.5 (eff. 392) latent 16 · KID 1 260 ± 10 · COLLAPSED")
    assert labels[-1].startswith("AE latent 16 (not a generative model) · KID 900 ± 10")


def test_a_sweep_without_sample_metrics_says_why(frame):
    bare = frame.drop(columns=[c for c in frame if c.startswith("test/sample")])
    bare["sample_quality_skipped"] = "dataset 'npz:x.npz' has no class labels"
    assert "has no class labels" in samples.overview(bare)
    assert samples.answer(bare).startswith("No VAE trial has sample metrics")
    assert sample_figures.sample_grids(bare) == [] and beta_claim.findings(bare).startswith("This sweep cannot")
    assert sample_figures.png(sample_figures.kid_vs_beta(bare)).startswith(b"\x89PNG")
    assert sample_figures.png(sample_figures.coverage_vs_beta(bare)).startswith(b"\x89PNG")


def test_several_classifiers_give_the_median_ladder_and_its_range(frame):
    shifted = frame.copy()
    other = shifted["seed"] == 1
    shifted.loc[other, "test/sample_kid_ladder"] = pd.Series([np.array(LADDER) * 2] * other.sum(),
                                                             index=shifted.index[other])
    table = samples.ladder_table(shifted)
    assert list(table.columns) == ["calibration set", "KID ×10³", "range over the 2 classifiers"]
    blur = table.set_index("calibration set").loc["blur σ = 1"]
    assert blur["KID ×10³"] == "450" and blur["range over the 2 classifiers"] == "300–600"
    assert "2 data splits (seeds), each with its own classifier and ladder" in samples.overview(shifted)


def test_a_series_keeps_its_colour_in_every_panel_when_another_panel_lacks_it(frame):
    """conv without its `mean` runs: `sum, latent 16` must not take `mean, latent 16`'s colour there."""
    part = frame[~((frame["arch"] == "conv") & (frame["reduction"] == "mean"))]
    for figure in (sample_figures.kid_vs_beta(part), sample_figures.coverage_vs_beta(part)):
        colours = {}
        for ax in figure.axes:
            series = [(line.get_label(), line) for line in ax.get_lines()]
            series += [(bars.get_label(), bars.lines[0]) for bars in ax.containers]  # KID: error-bar containers
            for label, line in series:
                if label in ("sum, latent 16", "mean, latent 16"):
                    colours.setdefault(label, set()).add(line.get_color())
        assert set(colours) == {"sum, latent 16", "mean, latent 16"} and all(len(c) == 1 for c in colours.values())
        assert colours["sum, latent 16"] != colours["mean, latent 16"]


def test_the_shipped_sample_configs_cover_what_their_checks_need():
    """configs/samples_check.yaml: both archs, an AE each, sum and mean, other β and seed than the default;
    configs/beta_samples.yaml: β = 1 and β > 1 at several latent sizes, at most 3 training seeds each."""
    from sweep.config import load_config
    from sweep.search import grid_params

    check = load_config("configs/samples_check.yaml")
    space = check.search.space
    assert set(space["arch"]) == {"mlp", "conv"} and set(space["reduction"]) == {"sum", "mean"}
    assert {(point["model"], point["arch"]) for point in check.search.include} == {("ae", "mlp"), ("ae", "conv")}
    assert check.trial.seed != 0 and not {0.5, 1.0, 4.0} & set(check.search.space["beta"])
    claim = load_config("configs/beta_samples.yaml")
    points = grid_params(claim)
    assert claim.trial.reduction == "sum" and 1.0 in claim.search.space["beta"] and max(claim.search.space["beta"]) > 1
    assert len(claim.search.space["latent_dim"]) > 1 and 2 <= len(claim.search.space["seed"]) <= 3
    assert len(points) == len({tuple(sorted(point.items())) for point in points}) == 27


def test_the_report_names_the_model_to_sample_from_and_the_command(frame):
    from vae.saving import FILES

    assert "no non-collapsed VAE of this sweep has a saved model" in sample_narrative.best_to_sample(frame)
    for folder in frame["artifact_dir"].dropna():
        for name in FILES:
            (Path(folder) / name).write_text("{}")
    best = frame[(frame["arch"] == "conv") & (frame["reduction"] == "sum") & (frame["beta"] == 1.0)].iloc[0]
    text = plain(sample_narrative.best_to_sample(frame))  # the conv AE (KID 200) scores lower but is no VAE
    assert f"trial #{best['number']} (conv, reduction=sum, β=1, latent 16)" in text and "KID 350 ± 10." in text
    assert f"`python -m vae.sample {best['artifact_dir']} --n 100`" in text and "would do as well" not in text
    wider = frame.assign(**{samples.KID_STD: 0.02})  # conv β=0.5 (KID 380) now lies within twice the spread
    close = wider[(wider["arch"] == "conv") & (wider["reduction"] == "sum") & (wider["beta"] == 0.5)].iloc[0]
    assert f"#{close['number']} lies within twice that spread" in sample_narrative.best_to_sample(wider)
