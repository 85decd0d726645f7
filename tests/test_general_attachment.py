"""attachment_general against plain Python enumerations over all pairs of common vertices."""

from __future__ import annotations

import itertools
import json
from collections import Counter

import igraph as ig
import numpy as np
import pytest

from analysis.attachment import AttachmentError, preferential_attachment
from analysis.general_attachment import attachment_general
from tests.attachment_references import bin_of, grown_pair


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
            a, b = bin_of(d1[i], table.bins1), bin_of(d2[j], table.bins2)
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
    g0, g1 = grown_pair(7)
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
