"""Gephi styling and the streaming GraphML/GEXF writers, re-read with networkx and igraph."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import igraph as ig
import networkx as nx
import numpy as np
import pytest

from nn2graph.degrees import LayeredGraphError
from nn2graph.gephi import (
    PALETTE,
    SIZE_RANGE,
    GephiExportError,
    style_for_gephi,
    write_gephi,
    write_gexf,
    write_graphml,
)


def _layered(seed: int = 0) -> ig.Graph:
    """A 5-4-3-2 network with random sparse edges, multiplicities and weights."""
    rng = np.random.default_rng(seed)
    widths = [5, 4, 3, 2]
    names = ["input", "features.0", "classifier.1", "classifier.3"]
    layer, index, unit = [], [], []
    for i, (name, width) in enumerate(zip(names, widths)):
        layer += [name] * width
        index += [i] * width
        unit += list(range(width))
    offsets = np.cumsum([0] + widths)
    edges = []
    for i in range(len(widths) - 1):
        for a in range(widths[i]):
            for b in range(widths[i + 1]):
                if rng.random() < 0.7:
                    edges.append((int(offsets[i] + a), int(offsets[i + 1] + b)))
    g = ig.Graph(n=int(offsets[-1]), edges=edges, directed=True)
    g.vs["layer"], g.vs["layer_index"], g.vs["unit"] = layer, index, unit
    g.es["multiplicity"] = rng.integers(1, 30, len(edges)).tolist()
    g.es["weight"] = rng.normal(size=len(edges)).tolist()
    return g


def _key_types(path) -> dict[tuple[str, str], str]:
    ns = {"g": "http://graphml.graphdrawing.org/xmlns"}
    root = ET.parse(path).getroot()
    return {(k.get("for"), k.get("attr.name")): k.get("attr.type") for k in root.findall("g:key", ns)}


# ---------------------------------------------------------------- style


def test_style_lays_layers_out_left_to_right_and_units_top_to_bottom():
    g = _layered()
    s = style_for_gephi(g)
    assert g.vs.attributes() == ["layer", "layer_index", "unit"]  # the input is not changed
    x = np.asarray(s.vs["x"])
    y = np.asarray(s.vs["y"])
    index = np.asarray(g.vs["layer_index"])
    for i in range(4):
        xs = x[index == i]
        assert np.all(xs == xs[0])
        ys = y[index == i]
        assert np.allclose(np.diff(ys), 1.0) and np.isclose(ys.mean(), 0.0)  # centred, one per unit
    assert np.all(np.diff([x[index == i][0] for i in range(4)]) > 0)


def test_style_colours_layers_and_sizes_nodes_by_degree():
    g = _layered()
    s = style_for_gephi(g)
    index = np.asarray(g.vs["layer_index"])
    colours = np.column_stack([s.vs["r"], s.vs["g"], s.vs["b"]])
    for i in range(4):
        assert {tuple(c) for c in colours[index == i]} == {PALETTE[i]}
    assert all(isinstance(c, int) for c in s.vs["r"])
    mult = np.asarray(g.es["multiplicity"])
    degree = np.zeros(g.vcount())
    for (a, b), m in zip(g.get_edgelist(), mult):
        degree[a] += m
        degree[b] += m
    size = np.asarray(s.vs["size"])
    assert np.isclose(size.max(), SIZE_RANGE[1]) and size.min() >= SIZE_RANGE[0]
    order = np.argsort(degree, kind="stable")
    assert np.all(np.diff(size[order]) >= -1e-12)  # larger degree, larger node
    expected = SIZE_RANGE[0] + (SIZE_RANGE[1] - SIZE_RANGE[0]) * np.sqrt(degree / degree.max())
    assert np.allclose(size, expected)


def test_style_without_unit_attribute_numbers_units_in_vertex_order():
    g = ig.Graph(n=3, edges=[(0, 2), (1, 2)], directed=True)
    g.vs["layer"] = ["input", "input", "fc"]
    assert style_for_gephi(g).vs["y"] == [-0.5, 0.5, 0.0]


def test_style_needs_layers():
    with pytest.raises(LayeredGraphError, match="no 'layer' vertex attribute"):
        style_for_gephi(ig.Graph(n=2, edges=[(0, 1)]))


# ---------------------------------------------------------------- GraphML


def test_graphml_reread_by_networkx_and_igraph_keeps_everything(tmp_path):
    g = style_for_gephi(_layered())
    g["model"] = "toy & <co>"
    path = write_graphml(g, tmp_path / "g.graphml")
    types = _key_types(path)
    assert types[("edge", "multiplicity")] == "long" and types[("edge", "weight")] == "double"
    assert types[("node", "layer_index")] == "long" and types[("node", "r")] == "long"
    assert types[("node", "x")] == "double" and types[("node", "layer")] == "string"

    h = nx.read_graphml(path)
    assert h.is_directed() and h.graph["model"] == "toy & <co>"
    assert list(h.nodes) == [f"n{i}" for i in range(g.vcount())]
    edges = [(int(u[1:]), int(v[1:]), d) for u, v, d in h.edges(data=True)]
    assert sorted((u, v) for u, v, _ in edges) == sorted(g.get_edgelist())
    by_pair = {(u, v): d for u, v, d in edges}
    for e in g.es:
        d = by_pair[e.tuple]
        assert d["multiplicity"] == e["multiplicity"] and isinstance(d["multiplicity"], int)
        assert d["weight"] == e["weight"]  # repr round-trips floats exactly
    for v in g.vs:
        d = h.nodes[f"n{v.index}"]
        assert all(d[key] == v[key] for key in g.vs.attributes())
        assert isinstance(d["unit"], int) and isinstance(d["b"], int)

    back = ig.Graph.Read_GraphML(str(path))
    assert back.get_edgelist() == g.get_edgelist()
    for key in g.es.attributes():
        assert back.es[key] == g.es[key]
    for key in g.vs.attributes():
        assert back.vs[key] == g.vs[key]


def test_graphml_agrees_with_igraphs_own_writer(tmp_path):
    g = _layered(3).as_undirected(mode="each", combine_edges="first")
    ours = ig.Graph.Read_GraphML(str(write_graphml(g, tmp_path / "ours.graphml")))
    g.write_graphml(str(tmp_path / "theirs.graphml"))
    theirs = ig.Graph.Read_GraphML(str(tmp_path / "theirs.graphml"))
    assert not ours.is_directed()
    assert ours.get_edgelist() == theirs.get_edgelist()
    for key in ("multiplicity", "weight"):
        assert ours.es[key] == g.es[key]  # exact: floats are written with repr
        assert np.allclose(theirs.es[key], g.es[key], rtol=1e-14, atol=0)  # igraph keeps ~15 digits


def test_graphml_escapes_text_and_leaves_out_missing_values(tmp_path):
    g = ig.Graph(n=3, edges=[(0, 1), (1, 2)], directed=True)
    g.vs["layer"] = ['a"&<b>', "fc", None]
    g.vs["flag"] = [True, False, True]
    g.es["multiplicity"] = [4, None]
    h = nx.read_graphml(write_graphml(g, tmp_path / "e.graphml"))
    assert h.nodes["n0"]["layer"] == 'a"&<b>' and "layer" not in h.nodes["n2"]
    assert h.nodes["n0"]["flag"] is True and h.nodes["n1"]["flag"] is False
    assert h.edges["n0", "n1"]["multiplicity"] == 4 and "multiplicity" not in h.edges["n1", "n2"]


def test_empty_graph(tmp_path):
    h = nx.read_graphml(write_graphml(ig.Graph(directed=True), tmp_path / "empty.graphml"))
    assert h.number_of_nodes() == 0


# ---------------------------------------------------------------- GEXF


def test_gexf_carries_viz_and_integer_attributes(tmp_path):
    g = style_for_gephi(_layered(1))
    path = write_gexf(g, tmp_path / "g.gexf")
    h = nx.read_gexf(path)
    assert h.is_directed() and h.number_of_nodes() == g.vcount()
    for v in g.vs:
        d = h.nodes[str(v.index)]
        viz = d["viz"]
        assert viz["position"]["x"] == v["x"] and viz["position"]["y"] == v["y"]
        assert (viz["color"]["r"], viz["color"]["g"], viz["color"]["b"]) == (v["r"], v["g"], v["b"])
        assert viz["size"] == v["size"]
        assert d["layer"] == v["layer"] and d["unit"] == v["unit"] and isinstance(d["unit"], int)
        assert "x" not in d  # layout lives in viz only
    by_pair = {(int(u), int(v)): d for u, v, d in h.edges(data=True)}
    assert sorted(by_pair) == sorted(g.get_edgelist())
    for e in g.es:
        d = by_pair[e.tuple]
        assert d["weight"] == e["weight"] and d["multiplicity"] == e["multiplicity"]
        assert isinstance(d["multiplicity"], int)


def test_gexf_undirected_with_names_as_labels(tmp_path):
    g = ig.Graph(n=3, edges=[(0, 1), (1, 2)], directed=False)
    g.vs["name"] = ["AVAL", "AVBL", "R&B"]
    h = nx.read_gexf(write_gexf(g, tmp_path / "u.gexf"))
    assert not h.is_directed()
    assert [h.nodes[v]["label"] for v in ("0", "1", "2")] == ["AVAL", "AVBL", "R&B"]
    assert "viz" not in h.nodes["0"]


# ---------------------------------------------------------------- write_gephi


@pytest.mark.parametrize("fmt", ["graphml", "gexf"])
def test_write_gephi_per_layer_and_thresholded(tmp_path, fmt):
    g = _layered(2)
    whole = style_for_gephi(g)
    path = write_gephi(g, tmp_path / f"part.{fmt}", format=fmt, layers=["features.0", "classifier.1"], min_multiplicity=10)
    h = nx.read_graphml(path) if fmt == "graphml" else nx.read_gexf(path)
    kept = [v.index for v in g.vs if v["layer"] in ("features.0", "classifier.1")]
    assert h.number_of_nodes() == len(kept)
    expected = sorted(
        (kept.index(e.source), kept.index(e.target), e["multiplicity"])
        for e in g.es
        if e.source in kept and e.target in kept and e["multiplicity"] >= 10
    )
    strip = (lambda n: int(n[1:])) if fmt == "graphml" else int
    got = sorted((strip(u), strip(v), d["multiplicity"]) for u, v, d in h.edges(data=True))
    assert got == expected and len(got) > 0
    # the part keeps the whole graph's layout, so separate exports line up
    first = h.nodes[("n0" if fmt == "graphml" else "0")]
    x = first["x"] if fmt == "graphml" else first["viz"]["position"]["x"]
    assert x == whole.vs[kept[0]]["x"]


def test_write_gephi_whole_graph_by_default(tmp_path):
    g = _layered()
    h = nx.read_graphml(write_gephi(g, tmp_path / "all.graphml"))
    assert h.number_of_nodes() == g.vcount() and h.number_of_edges() == g.ecount()


def test_write_gephi_errors(tmp_path):
    g = _layered()
    with pytest.raises(GephiExportError, match=r"unknown layer\(s\) \['fc9'\]: the graph's layers are \['input'"):
        write_gephi(g, tmp_path / "x.graphml", layers=["fc9"])
    with pytest.raises(GephiExportError, match="format must be 'graphml' or 'gexf', not 'gml'"):
        write_gephi(g, tmp_path / "x.gml", format="gml")
    del g.es["multiplicity"]
    with pytest.raises(GephiExportError, match="min_multiplicity needs a 'multiplicity' edge attribute"):
        write_gephi(g, tmp_path / "x.graphml", min_multiplicity=2)


def _big_layered(n_edges_per_unit=30, seed=0):
    rng = np.random.default_rng(seed)
    sizes = [300, 200, 100]
    offsets = np.cumsum([0] + sizes)
    edges = []
    for i in range(2):
        for j in range(offsets[i + 1], offsets[i + 2]):
            for k in rng.choice(np.arange(offsets[i], offsets[i + 1]), n_edges_per_unit, replace=False):
                edges.append((int(k), j))
    g = ig.Graph(n=int(offsets[-1]), edges=edges, directed=True)
    g.vs["layer"] = [name for name, s in zip(("input", "fc1", "fc2"), sizes) for _ in range(s)]
    g.vs["unit"] = [u for s in sizes for u in range(s)]
    g.es["multiplicity"] = rng.integers(1, 400, g.ecount()).tolist()
    g.es["weight"] = rng.random(g.ecount()).tolist()
    return g


@pytest.mark.parametrize("fmt", ["graphml", "gexf"])
def test_estimated_file_size_is_close_to_the_real_size(tmp_path, fmt):
    from nn2graph.gephi import estimated_file_size, style_for_gephi

    for g in (_big_layered(), _big_layered(3, seed=1), style_for_gephi(_big_layered(10, seed=2))):
        write = write_graphml if fmt == "graphml" else write_gexf
        real = write(g, tmp_path / f"g.{fmt}").stat().st_size
        assert abs(estimated_file_size(g, fmt) / real - 1) < 0.05


def test_large_files_are_announced_before_they_are_written(tmp_path, monkeypatch):
    import warnings

    import nn2graph.gephi as gephi
    from nn2graph.gephi import LargeGraphFileWarning

    g = _big_layered()  # 9,000 edges, about 1 MB of GraphML
    with warnings.catch_warnings():
        warnings.simplefilter("error", LargeGraphFileWarning)
        write_gephi(g, tmp_path / "quiet.graphml")  # below the threshold: no word
    monkeypatch.setattr(gephi, "LARGE_FILE_BYTES", 500_000)
    seen = []

    def check(path, fmt):  # the warning comes before the file exists
        with pytest.warns(LargeGraphFileWarning) as record:
            write_gephi(g, path, format=fmt)
        seen.append(str(record[0].message))

    for fmt in ("graphml", "gexf"):
        path = tmp_path / f"big.{fmt}"
        check(path, fmt)
        assert path.stat().st_size > 500_000
    assert "about 1 MB of GraphML (9,000 edges, 600 nodes)" in seen[0]
    assert "layers=[...]" in seen[0] and "min_multiplicity=N" in seen[0] and "GEXF" in seen[1]
    with warnings.catch_warnings():  # a part below the threshold is written without a word
        warnings.simplefilter("error", LargeGraphFileWarning)
        write_gephi(g, tmp_path / "part.graphml", layers=["input", "fc1"], min_multiplicity=300)


def test_the_warning_is_emitted_before_writing(tmp_path, monkeypatch):
    import warnings

    import nn2graph.gephi as gephi
    from nn2graph.gephi import LargeGraphFileWarning

    monkeypatch.setattr(gephi, "LARGE_FILE_BYTES", 500_000)
    path = tmp_path / "never.graphml"
    with warnings.catch_warnings():
        warnings.simplefilter("error", LargeGraphFileWarning)
        with pytest.raises(LargeGraphFileWarning):
            write_graphml(_big_layered(), path)
    assert not path.exists()
