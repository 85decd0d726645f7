"""Tests of analysis.attachment against plain Python enumerations over all node pairs."""

from __future__ import annotations

import itertools
import json
from collections import Counter

import igraph as ig
import numpy as np
import pytest
from scipy import stats

from analysis.attachment import AttachmentError, preferential_attachment
from analysis.general_attachment import attachment_general
from analysis.growth import random_layered_graph, simulate_growth
from nn2graph.exceptions import NN2GraphError


# ---------------------------------------------------------------- brute-force references


def _bin_of(d, bins):
    """Index of the bin whose [lo, hi] holds d (independent of bin_degrees' searchsorted)."""
    hits = [k for k in range(len(bins)) if bins.lo[k] <= d <= bins.hi[k]]
    assert len(hits) == 1
    return hits[0]


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
            a, b = _bin_of(deg[i], table.bins1), _bin_of(deg[j], table.bins2)
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
            sums[_bin_of(deg[v], fit.bins)] += new_of[v]
            counts[_bin_of(deg[v], fit.bins)] += 1
        np.testing.assert_allclose(fit.omega, sums / counts)
        np.testing.assert_array_equal(result.new_connections[layers[k]], [new_of[v] for v in nodes])
        touching = sum(result.deltas[p].changed.sum() for p in (k - 1, k) if 0 <= p < len(result.deltas))
        assert fit.predicted_slope == pytest.approx(touching / sum(deg[v] for v in nodes))
    return new_of


def _grown_pair(seed):
    """A small layered g0 and a g1 whose pairs gain 0-3 connections, some as parallel edges."""
    rng = np.random.default_rng(seed)
    g0 = random_layered_graph([7, 6, 5, 2], n_edges=[25, 20, 12], exponent=2.2, seed=rng)
    g1 = simulate_growth(g0, n_new=[15, 10], seed=rng)
    # A parallel edge (upper -> lower direction) for an existing connection: summed, orientation ignored.
    u, v = g0.get_edgelist()[0]
    g1.add_edges([(v, u)], attributes={"multiplicity": [2]})
    return g0, g1


# ---------------------------------------------------------------- preferential_attachment


@pytest.mark.parametrize("bins", ["exact", "log", "quantile", [0, 2, 5, 9, 1000]])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_layered_matches_enumeration_over_all_pairs(bins, seed):
    g0, g1 = _grown_pair(seed)
    result = preferential_attachment(g0, g1, bins=bins, n_bins=4)
    assert result.layers == ("input", "fc1", "fc2")
    new_of = _brute_layered(g0, g1, result)
    assert result.n_new == sum(new_of.values()) // 2 == 15 + 10 + 2


def test_omega_bins_differ_from_delta_bins():
    g0, g1 = _grown_pair(8)
    r = preferential_attachment(g0, g1, bins="log", n_bins=2, omega_bins="exact")
    _brute_layered(g0, g1, r)
    for fit in r.omegas:
        np.testing.assert_array_equal(fit.bins.lo, fit.bins.hi)
        np.testing.assert_array_equal(fit.bins.lo, np.unique(r.degrees[fit.layer]))
    assert len(r.deltas[0].bins1) <= 3


def test_output_edges_analyses_the_output_layer():
    g0, g1 = _grown_pair(3)
    g1.add_edges([(g0.vcount() - 3, g0.vcount() - 1)], attributes={"multiplicity": [4]})  # fc2 -> output
    paper = preferential_attachment(g0, g1, bins="exact")
    full = preferential_attachment(g0, g1, bins="exact", output_edges=True)
    assert paper.layers == ("input", "fc1", "fc2") and full.layers == ("input", "fc1", "fc2", "output")
    assert full.n_new == paper.n_new + 4
    _brute_layered(g0, g1, full)


def test_omega_lines_match_scipy():
    g0, g1 = _grown_pair(4)
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
    g0, g1 = _grown_pair(5)
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
    g0, g1 = _grown_pair(6)
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


# ---------------------------------------------------------------- attachment_general


def _random_snapshots(seed, *, directed):
    """Two random multigraphs on overlapping named vertex sets, gaining and losing connections."""
    rng = np.random.default_rng(seed)
    names0 = [f"n{k}" for k in range(14)]
    names1 = [f"n{k}" for k in range(2, 17)]  # n0, n1 vanish; n14..n16 appear
    rng.shuffle(names1)

    def graph(names, n_edges):
        edges = rng.integers(0, len(names), size=(n_edges, 2)).tolist()
        g = ig.Graph(n=len(names), edges=edges, directed=directed)
        g.vs["name"] = names
        g.es["weight"] = rng.integers(1, 4, size=n_edges).tolist()
        return g

    return graph(names0, 45), graph(names1, 50)


def _brute_general(g0, g1, degree):
    """Per-pair changes, degrees and per-vertex gains/losses by plain enumeration."""
    n0, n1 = g0.vs["name"], g1.vs["name"]
    common = [v for v in n0 if v in set(n1)]
    ordered = degree == "out-in"

    def counts(g, names):
        c = Counter()
        for (u, v), w in zip(g.get_edgelist(), g.es["weight"]):
            a, b = names[u], names[v]
            if a != b and a in common and b in common:
                c[(a, b) if ordered else tuple(sorted((a, b)))] += w
        return c

    c0, c1 = counts(g0, n0), counts(g1, n1)
    out, inn = Counter(), Counter()
    for (u, v), w in zip(g0.get_edgelist(), g0.es["weight"]):
        if u != v:
            out[n0[u]] += w
            inn[n0[v]] += w
    return common, c0, c1, out, inn


@pytest.mark.parametrize("directed, degree", [(False, "total"), (True, "total"), (True, "out-in")])
@pytest.mark.parametrize("bins", ["exact", "quantile"])
@pytest.mark.parametrize("seed", [0, 1])
def test_general_matches_enumeration_over_all_pairs(directed, degree, bins, seed):
    g0, g1 = _random_snapshots(seed, directed=directed)
    r = attachment_general(g0, g1, bins=bins, n_bins=3, degree=degree, weight="weight")
    common, c0, c1, out, inn = _brute_general(g0, g1, degree)
    assert list(r.names) == common
    assert set(r.only_in_g0) == {"n0", "n1"} and set(r.only_in_g1) == {"n14", "n15", "n16"}
    total = {v: out[v] + inn[v] for v in common}
    np.testing.assert_array_equal(r.degrees, [total[v] for v in common])
    d1 = out if degree == "out-in" else total
    d2 = inn if degree == "out-in" else total
    for table, sign in ((r.delta_gains, 1), (r.delta_losses, -1)):
        sums = np.zeros(table.delta.shape)
        n_pairs = np.zeros(table.delta.shape, dtype=int)
        for i, j in itertools.permutations(common, 2):
            key = (i, j) if degree == "out-in" else tuple(sorted((i, j)))
            change = max(sign * (c1[key] - c0[key]), 0)
            a, b = _bin_of(d1[i], table.bins1), _bin_of(d2[j], table.bins2)
            sums[a, b] += change
            n_pairs[a, b] += 1
        np.testing.assert_array_equal(table.n_pairs, n_pairs)
        filled = n_pairs > 0
        np.testing.assert_allclose(table.delta[filled], sums[filled] / n_pairs[filled])
        assert np.all(np.isnan(table.delta[~filled]))
    gained, lost = Counter(), Counter()
    for key in set(c0) | set(c1):
        change = c1[key] - c0[key]
        for v in key:
            gained[v] += max(change, 0)
            lost[v] += max(-change, 0)
    np.testing.assert_array_equal(r.gained, [gained[v] for v in common])
    np.testing.assert_array_equal(r.lost, [lost[v] for v in common])
    assert r.n_gained == sum(max(c1[k] - c0[k], 0) for k in set(c0) | set(c1))
    assert r.n_lost == sum(max(c0[k] - c1[k], 0) for k in set(c0) | set(c1))
    assert r.omega_gains.predicted_slope == pytest.approx(2 * r.n_gained / sum(total.values()))
    # c of Delta = c d1 d2 matching the total, summed over the same pairs by brute force.
    norm = sum(d1[i] * d2[j] for i, j in itertools.permutations(common, 2))
    if degree == "total":
        norm /= 2  # unordered pairs
    assert r.delta_gains.pa_constant == pytest.approx(r.n_gained / norm)
    assert r.delta_losses.pa_constant == pytest.approx(r.n_lost / norm)
    # Every connection of either snapshot is inside the analysis, touches a missing vertex or is a loop.
    w0 = sum(g0.es["weight"])
    assert sum(c0.values()) + r.lost_with_missing + r.self_loops[0] == w0
    assert sum(c1.values()) + r.gained_with_new + r.self_loops[1] == sum(g1.es["weight"])


def test_general_match_by_index_and_json():
    g0, g1 = _random_snapshots(3, directed=False)
    r = attachment_general(g0, g1, match="index", weight=None)
    assert r.names == tuple(range(14)) and r.only_in_g1 == (14,)
    payload = json.loads(r.to_json())
    assert payload["n_common"] == 14 and payload["degree"] == "total"
    rows = r.delta_rows()
    assert {row["kind"] for row in rows} == {"gains", "losses"}
    assert sum(row["changed"] for row in rows if row["kind"] == "losses") == 2 * r.n_lost  # both orders of a pair
    assert [row["kind"] for row in r.omega_summary()] == ["gains", "losses"]
    assert sum(row["changed"] for row in r.omega_rows() if row["kind"] == "gains") == 2 * r.n_gained
    assert payload["delta_gains"]["lower"] == "node"


def test_general_layered_growth_agrees_with_layered_function():
    g0, g1 = _grown_pair(7)
    layered = preferential_attachment(g0, g1, bins="exact", output_edges=True)
    general = attachment_general(g0, g1, bins="exact", match="index")
    assert general.n_lost == 0 and general.n_gained == layered.n_new
    np.testing.assert_array_equal(general.gained, np.concatenate(list(layered.new_connections.values())))


@pytest.mark.parametrize(
    "change, kwargs, match",
    [
        ("directed", {}, "g0 is undirected but g1 is directed"),
        (None, {"degree": "out-in"}, "degree='out-in' needs directed graphs"),
        (None, {"degree": "in"}, "degree must be 'total' or 'out-in'"),
        (None, {"match": "label"}, "match must be 'name' or 'index'"),
        ("noname", {}, "g1 has no 'name' vertex attribute"),
        ("duplicate", {}, "g1 has 1 vertex names used more than once, e.g. 'n3'"),
        (None, {"weight": "synapses"}, r"g0 has no edge attribute 'synapses'; its edge attributes are \['weight'\]"),
        ("disjoint", {}, "the snapshots share 0 vertices"),
    ],
)
def test_general_errors(change, kwargs, match):
    g0, g1 = _random_snapshots(0, directed=False)
    if change == "directed":
        g1.to_directed()
    elif change == "noname":
        del g1.vs["name"]
    elif change == "duplicate":
        g1.vs[1]["name"] = g1.vs[0]["name"] = "n3"
    elif change == "disjoint":
        g1.vs["name"] = [f"x{k}" for k in range(g1.vcount())]
    with pytest.raises(AttachmentError, match=match):
        attachment_general(g0, g1, **kwargs)
