"""graph_degrees against a brute-force loop over vertices and their incident edges."""

import igraph as ig
import numpy as np
import pytest

from nn2graph import LayeredGraphError, graph_degrees, layer_order


def _random_layered(rng, sizes, directed=True):
    offsets = np.cumsum([0, *sizes])
    g = ig.Graph(n=int(offsets[-1]), directed=directed)
    g.vs["layer"] = [f"L{i}" for i, s in enumerate(sizes) for _ in range(s)]
    g.vs["layer_index"] = [i for i, s in enumerate(sizes) for _ in range(s)]
    edges, mult = [], []
    for layer in range(len(sizes) - 1):
        for a in range(offsets[layer], offsets[layer + 1]):
            for b in range(offsets[layer + 1], offsets[layer + 2]):
                if rng.random() < 0.5:
                    edges.append((a, b))
                    mult.append(int(rng.integers(1, 50)))
    g.add_edges(edges)
    g.es["multiplicity"] = mult
    return g


def _brute_force(g, v, out_rank, output_edges):
    rank = g.vs[v]["layer_index"]
    total = 0
    for e in g.es[g.incident(v, mode="all")]:
        other = e.target if e.source == v else e.source
        if not output_edges and out_rank in (rank, g.vs[other]["layer_index"]) and rank != out_rank:
            continue
        total += e["multiplicity"]
    return total


@pytest.mark.parametrize("directed", [True, False])
@pytest.mark.parametrize("output_edges", [True, False])
def test_graph_degrees_matches_brute_force(directed, output_edges):
    rng = np.random.default_rng(0)
    g = _random_layered(rng, [5, 7, 4, 3], directed=directed)
    got = graph_degrees(g, include_output=True, output_edges=output_edges)
    for rank, name in enumerate(["L0", "L1", "L2", "L3"]):
        expected = [_brute_force(g, v.index, 3, output_edges) for v in g.vs.select(layer_index=rank)]
        assert got[name].tolist() == expected
        assert got[name].dtype == np.int64


def test_default_leaves_out_output_and_its_edges():
    g = _random_layered(np.random.default_rng(1), [3, 4, 2])
    got = graph_degrees(g)
    assert list(got) == ["L0", "L1"]
    lower_only = [sum(e["multiplicity"] for e in g.es.select(_target=v.index)) for v in g.vs.select(layer_index=1)]
    assert got["L1"].tolist() == lower_only
    assert list(graph_degrees(g, include_input=False)) == ["L1"]


def test_layer_order_without_layer_index_follows_first_appearance():
    g = ig.Graph(n=4)
    g.vs["layer"] = ["b", "a", "b", "c"]
    names, position = layer_order(g)
    assert names == ["b", "a", "c"]
    assert position.tolist() == [0, 1, 0, 2]


def test_graph_without_layer_attribute_is_refused_with_a_fix():
    with pytest.raises(LayeredGraphError, match="'layer' vertex attribute"):
        graph_degrees(ig.Graph(n=2))


def test_two_layer_graph_with_only_output_edges():
    # Every edge goes into the output layer, so by the paper's convention the input
    # counts none of them; switching the convention off counts them.
    g = ig.Graph(n=3, edges=[(0, 2), (1, 2)], directed=True)
    g.vs["layer"] = ["input", "input", "out"]
    g.es["multiplicity"] = [2, 3]
    degrees = graph_degrees(g, include_output=True)
    assert degrees["input"].dtype == np.int64
    assert degrees["input"].tolist() == [0, 0]
    assert degrees["out"].tolist() == [5]
    assert graph_degrees(g, output_edges=True)["input"].tolist() == [2, 3]
