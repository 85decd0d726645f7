"""Synthetic growth: preferential_attachment recovers internal PA (eq. 6) and uniform growth."""

from __future__ import annotations

import igraph as ig
import numpy as np
import pytest
from scipy import stats

from analysis.attachment import preferential_attachment
from analysis.growth import GrowthError, empty_layered_graph, random_layered_graph, simulate_growth
from nn2graph.degrees import graph_degrees


@pytest.fixture(scope="module")
def g0():
    # An MLP-like snapshot: input, two hidden layers and an output layer, heavy-tailed degrees.
    return random_layered_graph([400, 300, 300, 10], n_edges=[6000, 5000, 3000], seed=0)


def _well_populated(table, expected, min_expected):
    """Cells where the process expects at least ``min_expected`` new connections (Poisson noise
    under 1 / sqrt(min_expected))."""
    ok = expected * table.n_pairs >= min_expected
    d1 = np.broadcast_to(table.bins1.center[:, None], ok.shape)[ok]
    d2 = np.broadcast_to(table.bins2.center[None, :], ok.shape)[ok]
    return ok, d1, d2, table.delta[ok]


def _elasticity(d1, d2, delta):
    """Slope of log Delta against log(d1 d2) over cells with positive values."""
    keep = (d1 > 0) & (d2 > 0) & (delta > 0)
    return stats.linregress(np.log(d1[keep] * d2[keep]), np.log(delta[keep])).slope


@pytest.mark.parametrize("seed", [1, 2])
def test_preferential_growth_gives_increasing_delta_and_linear_omega(g0, seed):
    g1 = simulate_growth(g0, n_new=[20000, 15000], mode="preferential", seed=seed)
    r = preferential_attachment(g0, g1, bins="log", n_bins=8)
    assert r.n_new == 35000
    for table in r.deltas:
        ok, d1, d2, delta = _well_populated(table, table.expected_pa(), 100)
        assert ok.sum() >= 12
        assert stats.spearmanr(d1 * d2, delta).statistic > 0.95
        assert _elasticity(d1, d2, delta) == pytest.approx(1.0, abs=0.15)
        # Increasing in d1 along every well-populated column and in d2 along every row.
        for axis, centers in ((0, table.bins1.center), (1, table.bins2.center)):
            for k in range(ok.shape[1 - axis]):
                line = ok[:, k] if axis == 0 else ok[k, :]
                values = table.delta[:, k] if axis == 0 else table.delta[k, :]
                if line.sum() >= 4:
                    assert stats.spearmanr(centers[line], values[line]).statistic > 0.8
        # And about the model's c d1 d2 where a cell expects many connections.
        sure = table.expected_pa() * table.n_pairs >= 400
        np.testing.assert_allclose(table.delta[sure], table.expected_pa()[sure], rtol=0.2)
    for fit in r.omegas:
        assert fit.r2 > 0.95 and fit.origin_r2 > 0.95 and fit.spearman > 0.9
        assert fit.origin_slope == pytest.approx(fit.predicted_slope, rel=0.1)
        assert fit.slope == pytest.approx(fit.predicted_slope, rel=0.15)


@pytest.mark.parametrize("seed", [1, 2])
def test_uniform_growth_gives_flat_delta_and_flat_omega(g0, seed):
    g1 = simulate_growth(g0, n_new=[20000, 15000], mode="uniform", seed=seed)
    r = preferential_attachment(g0, g1, bins="log", n_bins=8)
    for table in r.deltas:
        uniform = table.changed.sum() / table.n_pairs.sum()
        ok, d1, d2, delta = _well_populated(table, uniform, 300)
        assert ok.sum() >= 8
        np.testing.assert_allclose(delta, uniform, rtol=0.3)
        # Elasticity of Delta in d1 d2 (1 under preferential attachment) is about 0.
        assert abs(_elasticity(d1, d2, delta)) < 0.1
    for fit in r.omegas:
        mean_degree = np.average(fit.bins.center, weights=fit.bins.count)
        mean_omega = np.average(fit.omega, weights=fit.bins.count)
        # Across the mean degree the LS line changes Omega by under 5 %: flat.
        assert abs(fit.slope) * mean_degree < 0.05 * mean_omega
        # A line through the origin explains the points worse than a constant does.
        assert fit.origin_r2 < 0
        assert fit.origin_slope < 0.5 * fit.predicted_slope


def test_growth_keeps_g0_and_adds_exactly_n_new(g0):
    g1 = simulate_growth(g0, n_new=[50, 70], seed=3)
    assert g1.vcount() == g0.vcount() and g1.vs["layer"] == g0.vs["layer"]
    assert g1.get_edgelist()[: g0.ecount()] == g0.get_edgelist()
    m0, m1 = np.array(g0.es["multiplicity"]), np.array(g1.es["multiplicity"])
    assert np.all(m1[: g0.ecount()] >= m0)
    # Existing pairs grow in place, so g1 has one edge per connected pair.
    assert len(set(g1.get_edgelist())) == g1.ecount()
    r = preferential_attachment(g0, g1, bins="exact")
    assert [t.changed.sum() for t in r.deltas] == [50, 70]
    # No growth into the output layer (paper's convention).
    assert "output" not in r.layers
    out = graph_degrees(g0, include_output=True)["output"]
    np.testing.assert_array_equal(graph_degrees(g1, include_output=True)["output"], out)


def test_preferential_growth_never_touches_degree_zero_nodes():
    g0 = ig.Graph(n=6, edges=[(0, 3), (1, 3), (1, 4)], directed=True)
    g0.vs["layer"] = ["input"] * 3 + ["fc1"] * 3
    g1 = simulate_growth(g0, n_new=500, seed=4, output_edges=True)
    new = preferential_attachment(g0, g1, bins="exact", output_edges=True).new_connections
    assert new["input"][2] == 0 and new["fc1"][2] == 0
    # Expected share of new connections of input node 1 (degree 2 of 3): 2/3.
    assert new["input"][1] / 500 == pytest.approx(2 / 3, abs=0.07)
    g_uniform = simulate_growth(g0, n_new=600, mode="uniform", seed=4, output_edges=True)
    new_u = preferential_attachment(g0, g_uniform, bins="exact", output_edges=True).new_connections
    assert new_u["input"][2] == pytest.approx(200, abs=45)


def test_graph_without_multiplicity_grows():
    g0 = ig.Graph(n=4, edges=[(0, 2), (1, 3)], directed=True)
    g0.vs["layer"] = ["input", "input", "fc1", "fc1"]
    g1 = simulate_growth(g0, n_new=10, seed=0, output_edges=True)
    assert sum(g1.es["multiplicity"]) == 12


def test_growth_from_layer_sizes_starts_from_no_connections():
    g1 = simulate_growth([30, 20, 10, 3], n_new=[600, 400], mode="uniform", seed=5)
    assert g1.vs["layer"][0] == "input" and g1.vs["layer"][-1] == "output"
    new = preferential_attachment(empty_layered_graph([30, 20, 10, 3]), g1, bins="exact").new_connections
    assert new["input"].sum() == 600 and new["fc2"].sum() == 400
    assert new["input"].mean() == pytest.approx(20) and new["input"].std() < 8
    with pytest.raises(GrowthError, match="layer 'input' has no connections in g0"):
        simulate_growth([30, 20, 10, 3], n_new=5)


def test_random_layered_graph_is_reproducible_and_heavy_tailed():
    a = random_layered_graph([300, 200, 5], n_edges=[4000, 500], exponent=2.2, seed=7)
    b = random_layered_graph([300, 200, 5], n_edges=[4000, 500], exponent=2.2, seed=7)
    assert a.get_edgelist() == b.get_edgelist() and a.es["multiplicity"] == b.es["multiplicity"]
    assert a.vs["layer_index"][:1] == [0] and a.vs["unit"][300] == 0
    d = graph_degrees(a)["input"]
    assert d.sum() == 4000 and d.max() > 8 * np.median(d)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_new": [1, 2, 3]}, r"n_new must be a non-negative int or one per adjacent layer pair \(2\)"),
        ({"n_new": -1}, "n_new must be a non-negative int"),
        ({"n_new": 5, "mode": "random"}, "mode must be 'preferential' or 'uniform'"),
    ],
)
def test_growth_errors(g0, kwargs, match):
    with pytest.raises(GrowthError, match=match):
        simulate_growth(g0, **kwargs)


def test_growth_error_without_a_layer_pair():
    g0 = ig.Graph(n=3, edges=[(0, 2)], directed=True)
    g0.vs["layer"] = ["input", "input", "output"]
    with pytest.raises(GrowthError, match=r"g0 has 2 layers \(input, output\).*output_edges=True"):
        simulate_growth(g0, n_new=1)


def test_growth_error_for_layer_without_connections():
    g0 = ig.Graph(n=4, directed=True)
    g0.vs["layer"] = ["input", "input", "fc1", "fc1"]
    with pytest.raises(GrowthError, match="layer 'input' has no connections in g0"):
        simulate_growth(g0, n_new=3, output_edges=True)


@pytest.mark.parametrize(
    "args, kwargs, match",
    [
        (([5],), {"n_edges": 3}, "at least two positive layer sizes"),
        (([5, 0],), {"n_edges": 3}, "at least two positive layer sizes"),
        (([5, 4],), {"n_edges": 3, "exponent": 1.0}, "exponent must be > 1"),
        (([5, 2.5],), {"n_edges": 3}, "at least two positive layer sizes"),
    ],
)
def test_random_layered_graph_errors(args, kwargs, match):
    with pytest.raises(GrowthError, match=match):
        random_layered_graph(*args, **kwargs)
