"""analysis.figures: every figure function renders, on the full test study and on awkward subsets."""
from __future__ import annotations

import numpy as np
import pytest
from analysis_fixtures import make_study
from matplotlib.figure import Figure

from analysis import figures
from analysis.images import load_reconstructions, pick_runs
from analysis.load import trials
from analysis.tables import kl_matrix


@pytest.fixture(scope="module")
def df(tmp_path_factory):
    root = tmp_path_factory.mktemp("figs")
    return trials(*make_study(root, with_running=True))


@pytest.mark.parametrize("function", figures.ALL_FIGURES, ids=lambda f: f.__name__)
def test_every_figure_renders(df, function):
    fig = function(df)
    assert isinstance(fig, Figure)
    png = figures.to_png(fig, dpi=40)
    assert png.startswith(b"\x89PNG") and len(png) > 2000


def test_effective_beta_axis(df):
    fig = figures.units_and_kl_vs_beta(df, x="effective_beta")
    assert fig.axes[0].get_xscale() == "log"
    assert "effective" in fig.axes[-1].get_xlabel()


@pytest.mark.parametrize("subset", ["ae_only", "sum_only", "no_artifacts"])
def test_figures_render_on_partial_data(df, subset):
    if subset == "ae_only":
        part = df[df["model"] == "ae"]
    elif subset == "sum_only":
        part = df[(df["reduction"] == "sum") & (df["model"] == "vae")]
    else:
        part = df.assign(artifact_dir=None, kl_per_dim=np.nan)
    part.attrs = df.attrs
    for function in figures.ALL_FIGURES:
        assert figures.to_png(function(part), dpi=30).startswith(b"\x89PNG")


def test_heatmap_sorts_dims_within_each_trial(df):
    matrix = kl_matrix(df)
    values = matrix.to_numpy()
    assert len(matrix) == 12
    assert np.all(np.diff(values, axis=1) <= 0)


def test_reconstruction_grid_puts_collapsed_next_to_healthy(df):
    statuses = [row["status"] for row in pick_runs(df[df["state"] == "COMPLETE"], max_runs=6)]
    assert "collapsed" in statuses and "healthy" in statuses and "ae" in statuses
    assert len(statuses) <= 6


def test_reconstructions_come_from_the_npz_and_a_folder_without_one_has_none(tmp_path):
    originals = np.zeros((3, 4, 5, 1))
    np.savez_compressed(tmp_path / "reconstructions.npz", originals=originals, reconstructions=originals + 1.0)
    top, bottom = load_reconstructions(str(tmp_path), n_images=2)
    assert top.shape == bottom.shape == (4, 11) and top[:, :5].max() == 0 and bottom[:, :5].min() == 1.0
    (tmp_path / "reconstructions.npz").unlink()
    (tmp_path / "reconstructions.png").write_bytes(b"")  # the labelled picture alone is not read
    assert load_reconstructions(str(tmp_path)) is None
    assert load_reconstructions(str(tmp_path / "missing")) is None