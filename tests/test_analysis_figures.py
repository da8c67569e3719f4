"""analysis.show.figures and kl_figures: every figure function renders, on the full test study and on awkward subsets."""
from __future__ import annotations

import numpy as np
import pytest
from analysis_fixtures import make_study
from matplotlib.figure import Figure

from analysis.show import figures, kl_figures
from analysis.show.images import load_reconstructions, pick_runs
from analysis.read.load import trials
from analysis.show.tables import kl_matrix

FIGURES = figures.ALL_FIGURES + kl_figures.ALL_FIGURES


@pytest.fixture(scope="module")
def df(tmp_path_factory):
    root = tmp_path_factory.mktemp("figs")
    return trials(*make_study(root, with_running=True))


@pytest.mark.parametrize("function", FIGURES, ids=lambda f: f.__name__)
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
    for function in FIGURES:
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


def _texts(fig) -> list[str]:
    return [text.get_text() for ax in fig.axes for text in ax.texts]


def test_runs_at_the_same_spot_are_drawn_once_with_their_count(df):
    """The fixture's metrics depend on β and reduction only: its 4 collapsed `mean` runs (β ≥ 1) are one marker
    "×4", and mlp and conv share a marker ("×2") at every other β: 5 markers for 12 runs."""
    fig = figures.rate_distortion(df)
    figures.to_png(fig, dpi=40)
    assert sorted(_texts(fig)) == ["×2"] * 4 + ["×4"] and "(12 runs stacked)" in fig.axes[0].get_title()
    assert sum(len(collection.get_offsets()) for collection in fig.axes[0].collections) == 5
    assert _texts(figures.collapse_vs_effective_beta(df)) == ["×2"] * 6  # mlp and conv at each effective β


def test_beta_axes_are_labelled_at_the_values_swept(df):
    fig = figures.units_and_kl_vs_beta(df)
    figures.to_png(fig, dpi=40)
    bottom = next(ax for ax in fig.axes if ax.get_xlabel())
    assert [label.get_text() for label in bottom.get_xticklabels()] == ["0.1", "1", "4"]
    effective = figures.collapse_vs_effective_beta(df)
    labels = {label.get_text() for label in effective.axes[0].get_xticklabels()}
    assert labels <= {"0.1", "1", "4", "78.4", "784", "3\u202f136"} and {"0.1", "3\u202f136"} <= labels
