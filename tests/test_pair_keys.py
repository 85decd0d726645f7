"""Pair keys: edges, weights, parallel edges and the pairs of two snapshots, against Python loops."""

from collections import Counter

import igraph as ig
import numpy as np
import pytest

from analysis.attachment_errors import AttachmentError
from analysis.pair_keys import aggregate_keys, edge_array, edge_weights, pair_changes, sorted_unique


def test_aggregate_keys_and_pair_changes_match_counters():
    rng = np.random.default_rng(0)
    k0, k1 = rng.integers(0, 30, size=50), rng.integers(0, 30, size=60)
    w0, w1 = rng.integers(1, 4, size=50).astype(float), rng.integers(1, 4, size=60).astype(float)
    c0, c1 = Counter(), Counter()
    for key, w in zip(k0.tolist(), w0.tolist()):
        c0[key] += w
    for key, w in zip(k1.tolist(), w1.tolist()):
        c1[key] += w
    keys0, m0 = aggregate_keys(k0, w0)
    assert dict(zip(keys0.tolist(), m0.tolist())) == dict(c0) and (np.diff(keys0) > 0).all()
    keys, a, b = pair_changes(keys0, m0, *aggregate_keys(k1, w1))
    assert keys.tolist() == sorted(set(c0) | set(c1))
    assert a.tolist() == [c0[k] for k in keys.tolist()] and b.tolist() == [c1[k] for k in keys.tolist()]
    assert sorted_unique(k0).tolist() == sorted(set(k0.tolist()))
    empty, weights = aggregate_keys(np.zeros(0, dtype=np.int64), np.zeros(0))
    assert empty.size == weights.size == 0


def test_edge_array_and_weights_of_a_graph():
    g = ig.Graph(n=4, edges=[(0, 1), (3, 2), (0, 1)], directed=True)
    assert edge_array(g).tolist() == [list(e) for e in g.get_edgelist()]
    assert edge_weights(g, None, "g").tolist() == [1.0, 1.0, 1.0]
    g.es["multiplicity"] = [2, 1, 3]
    assert edge_weights(g, "multiplicity", "g").tolist() == [2.0, 1.0, 3.0]
    g.es["weight"] = [1.0, -1.0, 2.0]
    with pytest.raises(AttachmentError, match="edge attribute 'weight' of g1 must be finite and non-negative"):
        edge_weights(g, "weight", "g1")
