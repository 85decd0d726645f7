"""Readers for users' connectomes: GraphML, GEXF and edge-list CSV."""

from __future__ import annotations

import igraph as ig
import networkx as nx
import numpy as np
import pytest

from analysis.connectomes import connectome_degrees
from analysis.graph_files import GraphFileError, read_graph_file


def _worm() -> nx.DiGraph:
    g = nx.DiGraph()
    g.add_edge("AVAL", "AVBL", weight=3)
    g.add_edge("AVBL", "DB1", weight=1)
    g.add_edge("DB1", "AVAL", weight=7)
    g.add_node("CANL")  # a cell without connections
    return g


def _edges_by_name(graph: ig.Graph) -> dict[tuple[str, str], float]:
    return {(graph.vs[e.source]["name"], graph.vs[e.target]["name"]): e["weight"] for e in graph.es}


# ---------------------------------------------------------------- CSV


def test_csv_edges_names_and_integer_weights(tmp_path):
    path = tmp_path / "worm.csv"
    path.write_text("Source,Target,Weight,note\nAVAL,AVBL,3,x\n\nAVBL,DB1,1,y\nAVAL,AVBL,2,z\n")
    g = read_graph_file(path)
    assert g.is_directed()
    assert g.vs["name"] == ["AVAL", "AVBL", "DB1"]
    assert g.get_edgelist() == [(0, 1), (1, 2), (0, 1)]  # repeated pairs stay separate
    assert g.es["weight"] == [3, 1, 2] and all(isinstance(w, int) for w in g.es["weight"])
    assert connectome_degrees(g, kind="out", weighted=True).tolist() == [5, 1, 0]


def test_csv_fractional_weights_and_no_weight_column(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("source,target,weight\na,b,0.5\nb,c,2\n")
    assert read_graph_file(path).es["weight"] == [0.5, 2.0]
    path.write_text("target,source\nb,a\n")
    g = read_graph_file(path, directed=False)
    assert not g.is_directed() and g.vs["name"] == ["a", "b"] and g.es["weight"] == [1]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the file is empty; expected a header row 'source,target,weight'"),
        ("from,to,weight\na,b,1\n", r"lacks the column\(s\) source, target"),
        ("source,weight\na,1\n", r"lacks the column\(s\) target"),
        ("source,target,weight\na,b,1\nc,d,many\n", "row 3 has the non-numeric weight 'many'; expected a number"),
        ("source,target,weight\na,b,inf\n", "row 2 has the weight 'inf'; expected a finite number"),
        ("source,target,weight\na,,1\n", "row 2 has no target"),
        ("source,target\n,b\n", "row 2 has no source"),
    ],
)
def test_csv_errors_name_the_file_and_row(tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(GraphFileError, match=message) as info:
        read_graph_file(path)
    assert str(path) in str(info.value)


# ---------------------------------------------------------------- GraphML and GEXF


def test_graphml_written_by_networkx(tmp_path):
    path = tmp_path / "worm.graphml"
    nx.write_graphml(_worm(), path)
    g = read_graph_file(path)
    assert g.is_directed()
    assert sorted(g.vs["name"]) == ["AVAL", "AVBL", "CANL", "DB1"]
    assert _edges_by_name(g) == {("AVAL", "AVBL"): 3, ("AVBL", "DB1"): 1, ("DB1", "AVAL"): 7}
    degrees = dict(zip(g.vs["name"], connectome_degrees(g, weighted=True).tolist()))
    assert degrees == {"AVAL": 10, "AVBL": 4, "DB1": 8, "CANL": 0}


def test_graphml_written_by_igraph_keeps_names(tmp_path):
    src = ig.Graph(n=3, edges=[(0, 1), (1, 2)], directed=False)
    src.vs["name"] = ["x", "y", "z"]
    src.es["weight"] = [2.0, 4.0]
    path = tmp_path / "g.graphml"
    src.write_graphml(str(path))
    g = read_graph_file(path)
    assert not g.is_directed() and g.vs["name"] == ["x", "y", "z"] and g.es["weight"] == [2.0, 4.0]


def test_gexf_written_by_networkx(tmp_path):
    path = tmp_path / "worm.gexf"
    nx.write_gexf(_worm(), path)
    g = read_graph_file(path)
    assert g.is_directed()
    assert _edges_by_name(g) == {("AVAL", "AVBL"): 3, ("AVBL", "DB1"): 1, ("DB1", "AVAL"): 7}
    assert "_nx_name" not in g.vs.attributes()


def test_direction_can_be_changed(tmp_path):
    path = tmp_path / "u.graphml"
    nx.write_graphml(nx.Graph([("a", "b")]), path)
    d = read_graph_file(path, directed=True)
    assert d.is_directed() and sorted(d.get_edgelist()) == [(0, 1), (1, 0)]  # both ways, like a gap junction
    path = tmp_path / "d.gexf"
    nx.write_gexf(_worm(), path)
    u = read_graph_file(path, directed=False)
    assert not u.is_directed() and u.ecount() == 3


def test_format_given_explicitly_for_an_odd_suffix(tmp_path):
    path = tmp_path / "worm.xml"
    nx.write_graphml(_worm(), path)
    assert read_graph_file(path, format="graphml").ecount() == 3


def test_round_trip_of_a_real_connectome(tmp_path):
    from analysis.connectomes import load_connectome

    g = load_connectome("witvliet2020-8")
    path = tmp_path / "w8.graphml"
    g.write_graphml(str(path))
    back = read_graph_file(path)
    order = np.argsort(back.vs["name"])
    for kind in ("in", "out", "total"):
        assert np.array_equal(
            connectome_degrees(back, kind=kind, weighted=True)[order], connectome_degrees(g, kind=kind, weighted=True)
        )


@pytest.mark.parametrize(
    ("name", "content", "kwargs", "message"),
    [
        ("g.txt", "a b\n", {}, r"cannot tell the format from the suffix '\.txt'"),
        ("g.csv", "source,target\n", {"format": "pajek"}, "format must be 'graphml', 'gexf' or 'csv', not 'pajek'"),
        ("g.graphml", "<graphml><broken", {}, "not a readable GraphML file"),
        ("g.gexf", "<gexf>nothing</gexf>", {}, "not a readable GEXF file"),
    ],
)
def test_file_errors(tmp_path, name, content, kwargs, message):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(GraphFileError, match=message):
        read_graph_file(path, **kwargs)


def test_missing_file(tmp_path):
    with pytest.raises(GraphFileError, match=r"nope\.csv: no such file"):
        read_graph_file(tmp_path / "nope.csv")
