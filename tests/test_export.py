"""GraphML, GEXF and networkx exports keep every attribute and its type."""

import igraph as ig
import networkx as nx
import pytest

from nn2graph import to_graph
from tests.graph_models import Residual, prune_all


@pytest.fixture(scope="module")
def layered():
    return to_graph(prune_all(Residual(), 0.5, seed=1), (2, 5, 5))


def _expected_nodes(layered):
    g = layered.graph
    return {
        v.index: {"layer": v["layer"], "layer_index": v["layer_index"], "unit": v["unit"], "layer_type": v["layer_type"],
                  "label": f"{v['layer']}:{v['unit']}"}
        for v in g.vs
    }  # fmt: skip


def _expected_edges(layered):
    g = layered.graph
    return {(e.source, e.target): {"multiplicity": e["multiplicity"], "weight": e["weight"]} for e in g.es}


def _check_networkx(graph, layered, key=int):
    nodes, edges = _expected_nodes(layered), _expected_edges(layered)
    assert {key(n): {k: d[k] for k in nodes[0]} for n, d in graph.nodes(data=True)} == nodes
    got = {(key(s), key(t)): {"multiplicity": d["multiplicity"], "weight": d["weight"]} for s, t, d in graph.edges(data=True)}
    assert got.keys() == edges.keys()
    for pair, data in got.items():
        assert type(data["multiplicity"]) is int and type(data["weight"]) is float
        assert data["multiplicity"] == edges[pair]["multiplicity"]
        assert data["weight"] == pytest.approx(edges[pair]["weight"], rel=1e-12)
    assert all(type(d["unit"]) is int and type(d["layer_index"]) is int for _, d in graph.nodes(data=True))


def test_to_networkx_is_a_digraph_with_typed_attributes(layered):
    graph = layered.to_networkx()
    assert type(graph) is nx.DiGraph
    _check_networkx(graph, layered)


def test_graphml_round_trip_through_networkx_and_igraph(layered, tmp_path):
    path = tmp_path / "net.graphml"
    layered.write_graphml(path)
    _check_networkx(nx.read_graphml(path), layered, key=lambda node: int(node.lstrip("n")))
    back = ig.Graph.Read_GraphML(str(path))
    assert back.is_directed() and back.vcount() == layered.graph.vcount()
    assert back.vs["layer"] == layered.graph.vs["layer"]
    # igraph reads GraphML's long as a double; the values are intact.
    assert back.vs["unit"] == [float(u) for u in layered.graph.vs["unit"]]
    assert back.es["multiplicity"] == [float(m) for m in layered.graph.es["multiplicity"]]
    assert back.get_edgelist() == layered.graph.get_edgelist()
    # Gephi's layout, colour and size come along.
    assert {"x", "y", "r", "g", "b", "size", "label"} <= set(back.vs.attributes())


def test_gexf_round_trip_for_gephi(layered, tmp_path):
    path = tmp_path / "net.gexf"
    layered.write_gexf(path)
    text = path.read_text()
    assert 'label="c1:0"' in text and 'title="layer"' in text and "weight=" in text
    _check_networkx(nx.read_gexf(path), layered, key=int)


def test_partial_export_keeps_chosen_layers(layered, tmp_path):
    path = layered.write_graphml(tmp_path / "part.graphml", layers=["input", layered.layers[1]], min_multiplicity=2)
    back = nx.read_graphml(path)
    assert {d["layer"] for _, d in back.nodes(data=True)} == {"input", layered.layers[1]}
    assert back.number_of_edges() > 0
    assert all(d["multiplicity"] >= 2 for _, _, d in back.edges(data=True))
