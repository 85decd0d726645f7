"""Layered graphs that open well in Gephi: layout, colours, sizes, and fast writers.

:func:`style_for_gephi` lays a layered graph out (x by layer, y by unit), gives each
layer a colour and each node a size that grows with its degree.  :func:`write_graphml`
and :func:`write_gexf` are streaming writers: they keep integer attributes integers
(GraphML ``long``, GEXF ``long``; igraph's own GraphML writer turns every number into a
``double``) and write ten million edges in well under a minute.  :func:`write_gephi`
styles a graph and writes it, optionally only some layers or only the edges of at least
a given multiplicity, for graphs too large for Gephi.  Both writers warn
(:class:`LargeGraphFileWarning`) before writing a file of more than :data:`LARGE_FILE_BYTES`
(estimated by :func:`estimated_file_size`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Literal
from xml.sax.saxutils import escape

import warnings

import igraph as ig
import numpy as np

from nn2graph.degrees import layer_order
from nn2graph.exceptions import NN2GraphError
from nn2graph.result_files import atomic_open

#: Colours given to layers in order (Tableau 10), as (r, g, b) in 0..255.
PALETTE: tuple[tuple[int, int, int], ...] = (
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
)
#: Smallest and largest node size written for Gephi.
SIZE_RANGE: tuple[float, float] = (2.0, 20.0)
#: Vertex attributes added by :func:`style_for_gephi`.
STYLE_ATTRIBUTES: tuple[str, ...] = ("x", "y", "r", "g", "b", "size")

#: Files larger than this (bytes, estimated before writing) get a :class:`LargeGraphFileWarning`.
LARGE_FILE_BYTES: int = 100_000_000

_CHUNK = 200_000
_SAMPLE = 1000


class LargeGraphFileWarning(UserWarning):
    """A GraphML or GEXF file about to be written is larger than :data:`LARGE_FILE_BYTES`."""


class GephiExportError(NN2GraphError, ValueError):
    """A Gephi export was asked for something the graph does not have."""


def style_for_gephi(graph: ig.Graph) -> ig.Graph:
    """Return a copy of a layered graph with Gephi layout, colour and size attributes.

    Parameters
    ----------
    graph : igraph.Graph
        A layered graph: vertex attribute ``layer`` (``layer_index`` and ``unit``
        optional), edge attribute ``multiplicity`` optional (1 per edge without it).

    Returns
    -------
    igraph.Graph
        A copy with vertex attributes ``x`` (layer position; layers are spread over
        about the height of the largest layer), ``y`` (unit index, each layer centred
        on 0), ``r``, ``g``, ``b`` (int, one colour of :data:`PALETTE` per layer) and
        ``size`` (from :data:`SIZE_RANGE`, growing with the square root of the node's
        degree: the sum of the multiplicities of all its edges), and ``label``
        (``"layer:unit"``) when the graph has neither ``label`` nor ``name``.

    Examples
    --------
    >>> import igraph as ig
    >>> g = ig.Graph(n=4, edges=[(0, 2), (1, 2), (2, 3)], directed=True)
    >>> g.vs["layer"] = ["input", "input", "fc1", "out"]
    >>> g.vs["unit"] = [0, 1, 0, 0]
    >>> s = style_for_gephi(g)
    >>> s.vs["x"], s.vs["y"], s.vs["r"]
    ([0.0, 0.0, 1.0, 2.0], [-0.5, 0.5, 0.0, 0.0], [31, 31, 255, 44])
    >>> [round(size, 2) for size in s.vs["size"]]
    [12.39, 12.39, 20.0, 12.39]
    """
    names, position = layer_order(graph)
    n = graph.vcount()
    if "unit" in graph.vs.attributes():
        unit = np.asarray(graph.vs["unit"], dtype=np.float64)
    else:
        unit = np.zeros(n)
        for rank in range(len(names)):
            members = np.flatnonzero(position == rank)
            unit[members] = np.arange(len(members))
    sizes = np.bincount(position, minlength=len(names))
    low = np.zeros(len(names))
    high = np.zeros(len(names))
    for rank in range(len(names)):
        members = unit[position == rank]
        if len(members):
            low[rank], high[rank] = members.min(), members.max()
    centre = (low + high) / 2
    spacing = max(1.0, float(sizes.max()) / max(1, len(names) - 1))
    edges = np.asarray(graph.get_edgelist(), dtype=np.int64).reshape(-1, 2)
    if "multiplicity" in graph.es.attributes():
        mult = np.asarray(graph.es["multiplicity"], dtype=np.float64)
    else:
        mult = np.ones(len(edges))
    degree = np.bincount(edges[:, 0], weights=mult, minlength=n) + np.bincount(edges[:, 1], weights=mult, minlength=n)
    top = degree.max() if n and degree.max() > 0 else 1.0
    small, large = SIZE_RANGE
    colour = np.asarray([PALETTE[rank % len(PALETTE)] for rank in range(len(names))], dtype=np.int64).reshape(-1, 3)

    styled = graph.copy()
    styled.vs["x"] = (position * spacing).astype(np.float64).tolist()
    styled.vs["y"] = (unit - centre[position]).tolist()
    for channel, key in enumerate("rgb"):
        styled.vs[key] = colour[position, channel].tolist()
    styled.vs["size"] = (small + (large - small) * np.sqrt(np.clip(degree, 0, None) / top)).tolist()
    if not {"label", "name"} & set(graph.vs.attributes()):
        layer_names = np.asarray(names, dtype=object)[position]
        styled.vs["label"] = [f"{layer}:{int(u)}" for layer, u in zip(layer_names, unit)]
    return styled


def write_gephi(
    graph: ig.Graph,
    path: str | Path,
    *,
    format: Literal["graphml", "gexf"] = "graphml",
    layers: Sequence[str] | None = None,
    min_multiplicity: int | None = None,
) -> Path:
    """Style a layered graph for Gephi and write it, whole or in part.

    Parameters
    ----------
    graph : igraph.Graph
        A layered graph (see :func:`style_for_gephi`).
    path : str or pathlib.Path
        The file to write.
    format : {"graphml", "gexf"}, default "graphml"
        GraphML (Gephi reads ``x``, ``y``, ``r``, ``g``, ``b``, ``size``) or GEXF (written
        as GEXF ``viz`` position, colour and size).
    layers : sequence of str, optional
        Keep only the vertices of these layers (and the edges among them).
    min_multiplicity : int, optional
        Keep only the edges whose ``multiplicity`` is at least this; vertices stay.

    Layout, colours and sizes come from the whole graph, so parts exported separately
    line up and keep their colours.

    Returns
    -------
    pathlib.Path
        The path written.

    Examples
    --------
    >>> import igraph as ig, tempfile, pathlib, networkx as nx
    >>> g = ig.Graph(n=4, edges=[(0, 2), (1, 2), (2, 3)], directed=True)
    >>> g.vs["layer"] = ["input", "input", "fc1", "out"]
    >>> g.es["multiplicity"] = [1, 3, 2]
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "part.gexf"
    >>> _ = write_gephi(g, out, format="gexf", layers=["input", "fc1"], min_multiplicity=2)
    >>> h = nx.read_gexf(out)
    >>> h.number_of_nodes(), [(u, v, d["multiplicity"]) for u, v, d in h.edges(data=True)]
    (3, [('1', '2', 3)])
    """
    if format not in ("graphml", "gexf"):
        raise GephiExportError(f"format must be 'graphml' or 'gexf', not {format!r}")
    styled = style_for_gephi(graph)
    if min_multiplicity is not None:
        if "multiplicity" not in styled.es.attributes():
            raise GephiExportError(
                "min_multiplicity needs a 'multiplicity' edge attribute; the graph has only "
                f"{styled.es.attributes() or 'no edge attributes'}"
            )
        mult = np.asarray(styled.es["multiplicity"], dtype=np.float64)
        styled.delete_edges(np.flatnonzero(mult < min_multiplicity).tolist())
    if layers is not None:
        names, position = layer_order(styled)
        unknown = [layer for layer in layers if layer not in names]
        if unknown:
            raise GephiExportError(f"unknown layer(s) {unknown}: the graph's layers are {names}")
        wanted = np.isin(np.asarray(names, dtype=object)[position], np.asarray(list(layers), dtype=object))
        styled = styled.induced_subgraph(np.flatnonzero(wanted).tolist())
    write = write_graphml if format == "graphml" else write_gexf
    return write(styled, path)


def _value_type(values: list) -> str:
    """Return 'boolean', 'long', 'double' or 'string' for a list of attribute values."""
    present = [v for v in values if v is not None]
    if not present:
        return "string"
    if all(isinstance(v, (bool, np.bool_)) for v in present):
        return "boolean"
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) for v in present):
        return "long"
    if all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_)) for v in present):
        return "double"
    return "string"


def _formatter(kind: str) -> Callable[[object], str]:
    if kind == "boolean":
        return lambda v: "true" if v else "false"
    if kind == "long":
        return lambda v: str(int(v))
    if kind == "double":
        return lambda v: repr(float(v))
    return lambda v: escape(str(v), {'"': "&quot;"})


def _attribute_table(seq, skip: Iterable[str] = ()) -> list[tuple[str, str, list]]:
    """(name, type, values) for every attribute of a VertexSeq/EdgeSeq except ``skip``."""
    table = []
    for name in seq.attributes():
        if name in skip:
            continue
        values = seq[name]
        table.append((name, _value_type(values), values))
    return table


def _edge_array(graph: ig.Graph) -> np.ndarray:
    return np.asarray(graph.get_edgelist(), dtype=np.int64).reshape(-1, 2)


def estimated_file_size(graph: ig.Graph, format: Literal["graphml", "gexf"] = "graphml") -> int:
    """Estimate the bytes :func:`write_graphml` or :func:`write_gexf` writes for ``graph``.

    The bytes per vertex and per edge are measured by writing up to 1,000 evenly spaced
    vertices and edges of the graph itself; the estimate is typically within a few percent.

    Examples
    --------
    >>> import igraph as ig, tempfile, pathlib
    >>> g = ig.Graph.Full_Bipartite(100, 100, directed=True)
    >>> g.vs["layer"] = ["input"] * 100 + ["fc1"] * 100
    >>> g.es["multiplicity"] = [1] * g.ecount()
    >>> real = write_graphml(g, pathlib.Path(tempfile.mkdtemp()) / "g.graphml").stat().st_size
    >>> abs(estimated_file_size(g) / real - 1) < 0.05
    True
    """
    write = _graphml_to if format == "graphml" else _gexf_to
    n, m = graph.vcount(), graph.ecount()
    vertices = np.unique(np.linspace(0, n - 1, min(n, _SAMPLE)).astype(np.int64)).tolist() if n else []
    edges = np.unique(np.linspace(0, m - 1, min(m, _SAMPLE)).astype(np.int64)).tolist() if m else []

    def size(sample: ig.Graph) -> int:  # bytes the writer produces, counted in memory
        counter = _ByteCounter()
        write(sample, counter)
        return counter.bytes

    base = size(graph.induced_subgraph([]))
    only_vertices = graph.induced_subgraph(vertices)
    only_vertices.delete_edges(list(range(only_vertices.ecount())))
    per_vertex = (size(only_vertices) - base) / max(len(vertices), 1)
    with_edges = graph.subgraph_edges(edges, delete_vertices=True)
    edge_bytes = size(with_edges)
    with_edges.delete_edges(list(range(with_edges.ecount())))
    per_edge = (edge_bytes - size(with_edges)) / max(len(edges), 1)
    # ids of the sample are shorter than the graph's: add the missing digits
    digits = len(str(max(n - 1, 0))) - len(str(max(2 * len(edges) - 1, 0)))
    return int(base + n * per_vertex + m * (per_edge + 2 * max(digits, 0)))


class _ByteCounter:
    """A text stream that only counts the UTF-8 bytes written to it."""

    def __init__(self) -> None:
        self.bytes = 0

    def write(self, text: str) -> int:
        self.bytes += len(text.encode("utf-8"))
        return len(text)


def _warn_if_large(graph: ig.Graph, path: Path, format: Literal["graphml", "gexf"]) -> None:
    if graph.vcount() + graph.ecount() < LARGE_FILE_BYTES // 1000:  # smaller than 1 kB per element
        return
    size = estimated_file_size(graph, format)
    if size > LARGE_FILE_BYTES:
        warnings.warn(
            f"{path}: writing about {size / 1e6:,.0f} MB of {'GraphML' if format == 'graphml' else 'GEXF'} "
            f"({graph.ecount():,} edges, {graph.vcount():,} nodes); Gephi gets slow beyond a few hundred "
            "thousand edges. To write less, export some layers or only the heavier edges: "
            "LayeredGraph.write_graphml(path, layers=[...]) or min_multiplicity=N (also write_gexf and "
            "nn2graph.gephi.write_gephi; nn2graph convert --layers, --min-multiplicity); see docs/gephi.md",
            LargeGraphFileWarning, stacklevel=3,
        )


def write_graphml(graph: ig.Graph, path: str | Path) -> Path:
    """Write any igraph graph as GraphML, fast, keeping integer attributes integers.

    Every vertex, edge and graph attribute is written with a GraphML type: ``boolean``,
    ``long`` (all values ints), ``double`` (numbers) or ``string`` (anything else,
    written with ``str``).  A ``None`` value is left out.  Vertex ids are ``n0``, ``n1``...
    in vertex order; edges are written in edge order.

    Parameters
    ----------
    graph : igraph.Graph
        The graph.
    path : str or pathlib.Path
        The file to write.

    Returns
    -------
    pathlib.Path
        The path written.

    Examples
    --------
    >>> import igraph as ig, tempfile, pathlib, networkx as nx
    >>> g = ig.Graph(n=2, edges=[(0, 1)], directed=True)
    >>> g.vs["layer"] = ["input", "fc1"]
    >>> g.es["multiplicity"] = [25]
    >>> g.es["weight"] = [0.5]
    >>> out = write_graphml(g, pathlib.Path(tempfile.mkdtemp()) / "g.graphml")
    >>> list(nx.read_graphml(out).edges(data=True))
    [('n0', 'n1', {'multiplicity': 25, 'weight': 0.5})]
    """
    path = Path(path)
    _warn_if_large(graph, path, "graphml")
    with atomic_open(path) as out:
        _graphml_to(graph, out)
    return path


def _graphml_to(graph: ig.Graph, out) -> None:
    """Write ``graph`` as GraphML to the text stream ``out``."""
    graph_attrs = [(name, _value_type([graph[name]]), [graph[name]]) for name in graph.attributes()]
    vertex_attrs = _attribute_table(graph.vs)
    edge_attrs = _attribute_table(graph.es)
    out.write(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<graphml xmlns="http://graphml.graphdrawing.org/xmlns" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xsi:schemaLocation="http://graphml.graphdrawing.org/xmlns '
        'http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd">\n'
    )
    for prefix, domain, attrs in (("g", "graph", graph_attrs), ("v", "node", vertex_attrs), ("e", "edge", edge_attrs)):
        for i, (name, kind, _) in enumerate(attrs):
            out.write(
                f'  <key id="{prefix}{i}" for="{domain}" attr.name="{escape(name, {chr(34): "&quot;"})}" '
                f'attr.type="{kind}"/>\n'
            )
    edgedefault = "directed" if graph.is_directed() else "undirected"
    out.write(f'  <graph id="G" edgedefault="{edgedefault}">\n')
    for i, (_, kind, values) in enumerate(graph_attrs):
        if values[0] is not None:
            out.write(f'    <data key="g{i}">{_formatter(kind)(values[0])}</data>\n')
    vertex_ids = np.arange(graph.vcount(), dtype=np.int64).reshape(-1, 1)
    _stream(out, vertex_ids, vertex_attrs, "v", '    <node id="n{}">', "</node>\n")
    _stream(out, _edge_array(graph), edge_attrs, "e", '    <edge source="n{}" target="n{}">', "</edge>\n")
    out.write("  </graph>\n</graphml>\n")


def _stream(out, ids: np.ndarray, attrs, prefix: str, head: str, tail: str) -> None:
    """Write one element per row of ``ids`` (``head`` formatted with the row), with data.

    Columns without missing values are formatted by one template per element (``{}``
    for integers, ``{!r}`` for floats, which round-trips them exactly); columns with a
    ``None`` are rendered piece by piece.
    """
    template, columns = head, []
    for i, (_, kind, values) in enumerate(attrs):
        opening = f'<data key="{prefix}{i}">'
        if kind in ("long", "double") and None not in values:
            template += opening + ("{}" if kind == "long" else "{!r}") + "</data>"
            columns.append((kind, values, None))
        else:
            template += "{}"
            columns.append((kind, values, opening))
    template += tail
    numeric = {"long": np.int64, "double": np.float64}
    for start in range(0, len(ids), _CHUNK):
        stop = min(start + _CHUNK, len(ids))
        fields = list(ids[start:stop].T.tolist())
        for kind, values, opening in columns:
            block = values[start:stop]
            if opening is None:
                fields.append(np.asarray(block, dtype=numeric[kind]).tolist())
            else:
                fmt = _formatter(kind)
                fields.append([opening + fmt(v) + "</data>" if v is not None else "" for v in block])
        out.write("".join(map(template.format, *fields)))


def write_gexf(graph: ig.Graph, path: str | Path) -> Path:
    """Write any igraph graph as GEXF 1.2, with Gephi's ``viz`` layout, colour and size.

    Vertex attributes ``x``, ``y``, ``r``, ``g``, ``b`` and ``size`` (see
    :func:`style_for_gephi`) become GEXF ``viz:position``, ``viz:color`` and
    ``viz:size``; a vertex attribute ``label`` (or else ``name``) becomes the node label; an edge attribute
    ``weight`` becomes the GEXF edge weight.  Other attributes are GEXF attributes typed
    ``boolean``, ``long``, ``double`` or ``string``.  Node ids are ``0``, ``1``... in
    vertex order.

    Parameters
    ----------
    graph : igraph.Graph
        The graph.
    path : str or pathlib.Path
        The file to write.

    Returns
    -------
    pathlib.Path
        The path written.

    Examples
    --------
    >>> import igraph as ig, tempfile, pathlib, networkx as nx
    >>> g = ig.Graph(n=2, edges=[(0, 1)], directed=True)
    >>> g.vs["name"] = ["AVAL", "AVBL"]
    >>> g.es["weight"] = [3]
    >>> out = write_gexf(g, pathlib.Path(tempfile.mkdtemp()) / "g.gexf")
    >>> h = nx.read_gexf(out)
    >>> [h.nodes[v]["label"] for v in h], list(h.edges(data="weight"))
    (['AVAL', 'AVBL'], [('0', '1', 3.0)])
    """
    path = Path(path)
    _warn_if_large(graph, path, "gexf")
    with atomic_open(path) as out:
        _gexf_to(graph, out)
    return path


def _gexf_to(graph: ig.Graph, out) -> None:
    """Write ``graph`` as GEXF 1.2 to the text stream ``out``."""
    viz = set(STYLE_ATTRIBUTES)
    vertex_names = set(graph.vs.attributes())
    has_viz = viz <= vertex_names
    label_key = next((key for key in ("label", "name") if key in vertex_names), None)
    skip = (viz if has_viz else set()) | {label_key}
    vertex_attrs = _attribute_table(graph.vs, skip=skip)
    edge_attrs = _attribute_table(graph.es, skip={"weight"})
    vertex_formats = [_formatter(kind) for _, kind, _ in vertex_attrs]
    edge_formats = [_formatter(kind) for _, kind, _ in edge_attrs]
    n = graph.vcount()
    labels = graph.vs[label_key] if label_key else [str(v) for v in range(n)]
    out.write(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<gexf xmlns="http://www.gexf.net/1.2draft" xmlns:viz="http://www.gexf.net/1.2draft/viz" '
        'version="1.2">\n'
    )
    edgetype = "directed" if graph.is_directed() else "undirected"
    out.write(f'  <graph defaultedgetype="{edgetype}" mode="static">\n')
    for domain, attrs in (("node", vertex_attrs), ("edge", edge_attrs)):
        if attrs:
            out.write(f'    <attributes class="{domain}">\n')
            for i, (name, kind, _) in enumerate(attrs):
                title = escape(name, {'"': "&quot;"})
                out.write(f'      <attribute id="{i}" title="{title}" type="{kind}"/>\n')
            out.write("    </attributes>\n")
    out.write("    <nodes>\n")
    style = {key: graph.vs[key] for key in STYLE_ATTRIBUTES} if has_viz else None
    for start in range(0, n, _CHUNK):
        stop = min(start + _CHUNK, n)
        lines = []
        for v in range(start, stop):
            label = escape(str(labels[v]), {'"': "&quot;"})
            line = f'      <node id="{v}" label="{label}">' + _attvalues(vertex_attrs, vertex_formats, v)
            if style is not None:
                line += (
                    f'<viz:color r="{int(style["r"][v])}" g="{int(style["g"][v])}" b="{int(style["b"][v])}"/>'
                    f'<viz:position x="{float(style["x"][v])!r}" y="{float(style["y"][v])!r}" z="0.0"/>'
                    f'<viz:size value="{float(style["size"][v])!r}"/>'
                )
            lines.append(line + "</node>\n")
        out.write("".join(lines))
    out.write("    </nodes>\n    <edges>\n")
    edges = _edge_array(graph)
    weights = graph.es["weight"] if "weight" in graph.es.attributes() else None
    for start in range(0, len(edges), _CHUNK):
        stop = min(start + _CHUNK, len(edges))
        lines = []
        for e, (s, t) in zip(range(start, stop), edges[start:stop].tolist()):
            weight = "" if weights is None or weights[e] is None else f' weight="{float(weights[e])!r}"'
            lines.append(f'      <edge id="{e}" source="{s}" target="{t}"{weight}>' + _attvalues(edge_attrs, edge_formats, e) + "</edge>\n")
        out.write("".join(lines))
    out.write("    </edges>\n  </graph>\n</gexf>\n")


def _attvalues(attrs, formats, index: int) -> str:
    values = [
        f'<attvalue for="{i}" value="{fmt(values[index])}"/>'
        for i, ((_, _, values), fmt) in enumerate(zip(attrs, formats))
        if values[index] is not None
    ]
    return "<attvalues>" + "".join(values) + "</attvalues>" if values else ""


__all__ = [
    "GephiExportError",
    "LARGE_FILE_BYTES",
    "LargeGraphFileWarning",
    "PALETTE",
    "SIZE_RANGE",
    "STYLE_ATTRIBUTES",
    "estimated_file_size",
    "style_for_gephi",
    "write_gephi",
    "write_gexf",
    "write_graphml",
]
