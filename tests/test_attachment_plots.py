"""Figures 7 and 8 from attachment results."""

from __future__ import annotations

import igraph as ig
import numpy as np
import pytest

from analysis.attachment import preferential_attachment
from analysis.general_attachment import attachment_general
from analysis.attachment_plots import AttachmentPlotError, plot_delta, plot_omega
from analysis.growth import random_layered_graph, simulate_growth


@pytest.fixture(scope="module")
def result():
    g0 = random_layered_graph([120, 80, 60, 5], n_edges=[900, 700, 300], seed=3)
    return preferential_attachment(g0, simulate_growth(g0, n_new=[1500, 1000], seed=4), bins="log", n_bins=6)


@pytest.fixture(scope="module")
def general():
    g0 = ig.Graph(edges=[(i, (i * 7 + 3) % 60) for i in range(60)] + [(i, (i + 1) % 60) for i in range(60)])
    g0.vs["name"] = [f"n{i}" for i in range(g0.vcount())]
    g1 = g0.copy()
    g1.delete_edges(list(range(0, 120, 5)))
    g1.add_edges([(i, (i * 11 + 5) % 60) for i in range(0, 60, 2)])
    return attachment_general(g0, g1, bins="quantile", n_bins=4)


def test_delta_heat_map_shows_every_positive_cell(result, tmp_path):
    path = tmp_path / "fig7.png"
    fig = plot_delta(result, path=path, title="Figure 7")
    assert path.stat().st_size > 10_000 and path.read_bytes()[:4] == b"\x89PNG"
    panels = [ax for ax in fig.axes if ax.get_xlabel().startswith("t = 0")]
    assert len(panels) == 2 and fig.get_suptitle() == "Figure 7"
    for ax, table in zip(panels, result.deltas):
        assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
        assert table.lower in ax.get_xlabel() and table.upper in ax.get_ylabel()
        mesh = ax.collections[0]
        keep1, keep2 = table.bins1.center > 0, table.bins2.center > 0
        delta = table.delta[np.ix_(keep1, keep2)]
        shown = np.asarray(mesh.get_array()).reshape(delta.T.shape)
        positive = delta.T > 0
        np.testing.assert_allclose(shown[positive], delta.T[positive])
        # Cells without new connections sit below the colour scale (drawn white).
        assert np.all(shown[~positive] < mesh.norm.vmin)
        # Degree-0 bins are named in the title with their pairs.
        dropped = table.n_pairs.sum() - table.n_pairs[np.ix_(keep1, keep2)].sum()
        assert (f"left out: {dropped} pairs" in ax.get_title()) == (dropped > 0)


def test_omega_plot_draws_both_lines_and_prediction(result, tmp_path):
    path = tmp_path / "fig8.png"
    fig = plot_omega(result, path=path)
    assert path.stat().st_size > 10_000
    assert len(fig.axes) == 3
    for ax, fit in zip(fig.axes, result.omegas):
        assert ax.get_title().startswith(fit.layer)
        points = ax.collections[0].get_offsets()
        np.testing.assert_allclose(points, np.column_stack([fit.bins.center, fit.omega]))
        ls, origin, predicted = ax.get_lines()
        x = ls.get_xdata()
        np.testing.assert_allclose(ls.get_ydata(), fit.slope * x + fit.intercept)
        np.testing.assert_allclose(origin.get_ydata(), fit.origin_slope * x)
        np.testing.assert_allclose(predicted.get_ydata(), fit.predicted_slope * x)
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        assert f"r\u00b2 = {fit.r2:.3f}" in labels[1] and f"r\u00b2 = {fit.origin_r2:.3f}" in labels[2]


def test_plots_of_general_result_have_gain_and_loss_panels(general):
    fig = plot_omega(general)
    assert [ax.get_title().split()[0] for ax in fig.axes] == ["gains", "losses"]
    assert "lost" in fig.axes[1].get_ylabel()
    fig = plot_delta(general)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["gains", "losses"]


def test_plots_accept_single_items_and_undefined_fits():
    g0 = ig.Graph(n=4, edges=[(0, 2), (1, 3)], directed=True)
    g0.vs["layer"] = ["input", "input", "fc1", "fc1"]
    r = preferential_attachment(g0, g0.copy(), bins="exact", output_edges=True)
    fig = plot_omega(r.omega("input"))
    assert len(fig.axes) == 1 and "n/a" in fig.axes[0].get_title()
    fig = plot_delta([r.deltas[0]])
    assert "no change" in fig.axes[0].texts[0].get_text()


def test_plots_reject_other_objects(result):
    with pytest.raises(AttachmentPlotError, match="plot_delta expected .* DeltaTable objects, got list"):
        plot_delta(list(result.omegas))
    with pytest.raises(AttachmentPlotError, match="plot_omega expected"):
        plot_omega("fc1")
