"""preferential_attachment and layered_changes against plain Python enumerations over all node pairs."""

from __future__ import annotations

import itertools
import json
from collections import Counter

import igraph as ig
import numpy as np
import pytest
from scipy import stats

from analysis.attachment import AttachmentError, preferential_attachment
from nn2graph.exceptions import NN2GraphError
from tests.attachment_references import bin_of, grown_pair


# ---------------------------------------------------------------- brute-force references


def _pair_counts(graph, *, ordered):
    """Python dict of connections per vertex pair (parallel edges summed)."""
    counts = Counter()
    mult = graph.es["multiplicity"] if "multiplicity" in graph.es.attributes() else [1] * graph.ecount()
    for (u, v), m in zip(graph.get_edgelist(), mult):
        counts[(u, v) if ordered else (min(u, v), max(u, v))] += m
    return counts


def _layered_degrees(graph, layers):
    """t = 0 degrees with the paper's conventions, by looping over edges."""
    layer = graph.vs["layer"]
    analysed = set(layers)
    deg = Counter()
    for (u, v), m in zip(graph.get_edgelist(), graph.es["multiplicity"]):
        if layer[u] in analysed and layer[v] in analysed:
            deg[u] += m
            deg[v] += m
    return deg


def _brute_layered(g0, g1, result):
    """Check every Delta cell and Omega bin of ``result`` by enumerating all pairs and nodes."""
    layers = list(result.layers)
    layer = g0.vs["layer"]
    deg = _layered_degrees(g0, layers)
    c0, c1 = _pair_counts(g0, ordered=False), _pair_counts(g1, ordered=False)
    new_of = Counter()
    for k, table in enumerate(result.deltas):
        low = [v for v in range(g0.vcount()) if layer[v] == layers[k]]
        up = [v for v in range(g0.vcount()) if layer[v] == layers[k + 1]]
        sums = np.zeros(table.delta.shape)
        products = np.zeros(table.delta.shape)
        pairs = np.zeros(table.delta.shape, dtype=int)
        for i, j in itertools.product(low, up):
            key = (min(i, j), max(i, j))
            new = c1[key] - c0[key]
            a, b = bin_of(deg[i], table.bins1), bin_of(deg[j], table.bins2)
            sums[a, b] += new
            products[a, b] += deg[i] * deg[j]
            pairs[a, b] += 1
            new_of[i] += new
            new_of[j] += new
        np.testing.assert_array_equal(table.n_pairs, pairs)
        np.testing.assert_allclose(table.delta, sums / pairs)
        np.testing.assert_allclose(table.changed, sums)
        d_low = sum(deg[i] for i in low)
        d_up = sum(deg[j] for j in up)
        assert table.pa_constant == pytest.approx(sums.sum() / (d_low * d_up))
        # The model's prediction per cell is the mean of c d_i d_j over the cell's pairs.
        np.testing.assert_allclose(table.expected_pa(), table.pa_constant * products / pairs)
    for k, fit in enumerate(result.omegas):
        nodes = [v for v in range(g0.vcount()) if layer[v] == layers[k]]
        sums = np.zeros(len(fit.bins))
        counts = np.zeros(len(fit.bins))
        for v in nodes:
            sums[bin_of(deg[v], fit.bins)] += new_of[v]
            counts[bin_of(deg[v], fit.bins)] += 1
        np.testing.assert_allclose(fit.omega, sums / counts)
        np.testing.assert_array_equal(result.new_connections[layers[k]], [new_of[v] for v in nodes])
        touching = sum(result.deltas[p].changed.sum() for p in (k - 1, k) if 0 <= p < len(result.deltas))
        assert fit.predicted_slope == pytest.approx(touching / sum(deg[v] for v in nodes))
    return new_of


# ---------------------------------------------------------------- preferential_attachment


@pytest.mark.parametrize("bins", ["exact", "log", "quantile", [0, 2, 5, 9, 1000]])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_layered_matches_enumeration_over_all_pairs(bins, seed):
    g0, g1 = grown_pair(seed)
    result = preferential_attachment(g0, g1, bins=bins, n_bins=4)
    assert result.layers == ("input", "fc1", "fc2")
    new_of = _brute_layered(g0, g1, result)
    assert result.n_new == sum(new_of.values()) // 2 == 15 + 10 + 2


def test_omega_bins_differ_from_delta_bins():
    g0, g1 = grown_pair(8)
    r = preferential_attachment(g0, g1, bins="log", n_bins=2, omega_bins="exact")
    _brute_layered(g0, g1, r)
    for fit in r.omegas:
        np.testing.assert_array_equal(fit.bins.lo, fit.bins.hi)
        np.testing.assert_array_equal(fit.bins.lo, np.unique(r.degrees[fit.layer]))
    assert len(r.deltas[0].bins1) <= 3


def test_output_edges_analyses_the_output_layer():
    g0, g1 = grown_pair(3)
    g1.add_edges([(g0.vcount() - 3, g0.vcount() - 1)], attributes={"multiplicity": [4]})  # fc2 -> output
    paper = preferential_attachment(g0, g1, bins="exact")
    full = preferential_attachment(g0, g1, bins="exact", output_edges=True)
    assert paper.layers == ("input", "fc1", "fc2") and full.layers == ("input", "fc1", "fc2", "output")
    assert full.n_new == paper.n_new + 4
    _brute_layered(g0, g1, full)


def test_omega_lines_match_scipy():
    g0, g1 = grown_pair(4)
    fit = preferential_attachment(g0, g1, bins="exact").omega("fc1")
    x, y = fit.bins.center, fit.omega
    ls = stats.linregress(x, y)
    assert fit.slope == pytest.approx(ls.slope) and fit.intercept == pytest.approx(ls.intercept)
    assert fit.r2 == pytest.approx(ls.rvalue**2)
    assert fit.pearson == pytest.approx(ls.rvalue)
    assert fit.spearman == pytest.approx(stats.spearmanr(x, y).statistic)
    origin, *_ = np.linalg.lstsq(x[:, None], y, rcond=None)
    assert fit.origin_slope == pytest.approx(origin[0])
    assert fit.origin_r2 == pytest.approx(1 - np.sum((y - origin[0] * x) ** 2) / np.sum((y - y.mean()) ** 2))


def test_undefined_fit_quantities_are_none():
    g0 = ig.Graph(n=4, edges=[(0, 2), (1, 3)], directed=True)
    g0.vs["layer"] = ["input", "input", "fc1", "fc1"]
    r = preferential_attachment(g0, g0.copy(), bins="exact", output_edges=True)
    fit = r.omega("input")  # one bin (both degrees 1), no change at all
    assert len(fit.bins) == 1 and fit.slope is None and fit.r2 is None and fit.spearman is None
    assert fit.predicted_slope == 0.0
    assert r.n_new == 0 and r.deltas[0].pa_constant == 0.0


def test_result_serialises_to_json_and_rows():
    g0, g1 = grown_pair(5)
    r = preferential_attachment(g0, g1, bins="log", n_bins=3)
    payload = json.loads(r.to_json())
    assert payload["layers"] == ["input", "fc1", "fc2"]
    assert payload["deltas"][0]["n_pairs"] == r.deltas[0].n_pairs.tolist()
    rows = r.delta_rows()
    assert sum(row["n_pairs"] for row in rows) == 7 * 6 + 6 * 5
    assert sum(row["changed"] for row in rows) == r.n_new
    assert {row["layer"] for row in r.omega_rows()} == {"input", "fc1", "fc2"}
    assert [row["n_nodes"] for row in r.omega_summary()] == [7, 6, 5]
    assert r.omega_summary()[1]["origin_slope"] == r.omega("fc1").origin_slope
    with pytest.raises(KeyError, match="pairs start at"):
        r.delta("output")


def test_to_json_writes_file(tmp_path):
    g0, g1 = grown_pair(6)
    path = tmp_path / "pa.json"
    text = preferential_attachment(g0, g1).to_json(path)
    assert json.loads(path.read_text()) == json.loads(text)


def test_graph_without_multiplicity_counts_each_edge_once():
    g0 = ig.Graph(n=4, edges=[(0, 2), (1, 3)], directed=True)
    g0.vs["layer"] = ["input", "input", "fc1", "fc1"]
    g1 = g0.copy()
    g1.add_edges([(0, 2), (0, 3)])  # a parallel edge (+1 on (0, 2)) and a new pair
    r = preferential_attachment(g0, g1, bins="exact", output_edges=True)
    assert r.n_new == 2
    assert r.new_connections["input"].tolist() == [2, 0]


# ---------------------------------------------------------------- errors


def _layered(n_per_layer, edges):
    g = ig.Graph(n=sum(n_per_layer), edges=edges, directed=True)
    g.vs["layer"] = [name for name, n in zip(["input", "fc1", "fc2"], n_per_layer) for _ in range(n)]
    return g


def test_error_vertex_counts_differ():
    with pytest.raises(AttachmentError, match="g0 has 4, g1 has 5"):
        preferential_attachment(_layered([2, 2], [(0, 2)]), _layered([2, 3], [(0, 2)]))


def test_error_layer_labels_differ():
    g0, g1 = _layered([2, 2], [(0, 2)]), _layered([2, 2], [(0, 2)])
    g1.vs[1]["layer"] = "fc1"
    with pytest.raises(AttachmentError, match=r"vertex 1 is 'input' in g0 and 'fc1' in g1"):
        preferential_attachment(g0, g1)


def test_error_lost_connections_names_count_layers_and_example():
    g0 = _layered([2, 2, 2], [(0, 2), (1, 3), (2, 4), (3, 5)])
    g0.es["multiplicity"] = [3, 1, 1, 1]
    g1 = g0.copy()
    g1.es["multiplicity"] = [2, 1, 1, 1]
    g1.delete_edges([2])
    with pytest.raises(AttachmentError) as info:
        preferential_attachment(g0, g1, output_edges=True)
    message = str(info.value)
    assert "lost connections of g0 at 2 node pairs (input->fc1: 1, fc1->fc2: 1)" in message
    assert "vertices 0 (input) and 2 (fc1) have multiplicity 3 in g0 and 2 in g1" in message
    assert "attachment_general" in message
    assert isinstance(info.value, NN2GraphError) and isinstance(info.value, ValueError)


def test_error_edges_skipping_a_layer():
    g = _layered([2, 2, 2], [(0, 2), (0, 4)])
    with pytest.raises(AttachmentError, match=r"1 edges that do not join adjacent layers, e.g. vertex 0 \(input\) to vertex 4 \(fc2\)"):
        preferential_attachment(g, g.copy(), output_edges=True)


def test_error_without_a_layer_pair():
    g = _layered([2, 2], [(0, 2)])
    with pytest.raises(AttachmentError, match=r"g0 has 2 layers \(input, fc1\) and 1 of them are analysed.*output_edges=True"):
        preferential_attachment(g, g.copy())


def test_error_without_layer_attribute():
    g = ig.Graph(n=2, edges=[(0, 1)], directed=True)
    with pytest.raises(NN2GraphError, match="no 'layer' vertex attribute"):
        preferential_attachment(g, g.copy())
