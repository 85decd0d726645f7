"""Read anyone's connectome (or any graph) from GraphML, GEXF or an edge-list CSV.

Every reader returns an :class:`igraph.Graph` with a string vertex attribute ``name``, ready
for :func:`analysis.connectomes.connectome_degrees`.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Literal

import igraph as ig
import numpy as np

from nn2graph.exceptions import NN2GraphError

GraphFormat = Literal["graphml", "gexf", "csv"]

_SUFFIXES = {".graphml": "graphml", ".gexf": "gexf", ".csv": "csv"}


class GraphFileError(NN2GraphError, ValueError):
    """A graph file is missing, of an unknown format, or does not hold what was expected."""


def read_graph_file(
    path: str | Path,
    *,
    format: GraphFormat | None = None,
    directed: bool | None = None,
) -> ig.Graph:
    """Read a graph from a GraphML, GEXF or edge-list CSV file.

    Parameters
    ----------
    path : str or pathlib.Path
        The file.
    format : {"graphml", "gexf", "csv"}, optional
        The file's format; by default from its suffix (``.graphml``, ``.gexf``, ``.csv``).
    directed : bool, optional
        For GraphML and GEXF, None keeps the direction the file declares; True turns an
        undirected graph into a directed one with each edge both ways (as gap junctions
        conduct), False drops the directions.  A CSV gives a directed graph unless
        ``directed=False``.

    Returns
    -------
    igraph.Graph
        Vertex attribute ``name`` (the file's node ids, or the CSV's cell names); the
        file's other attributes as igraph attributes.  A CSV gives edge attribute
        ``weight`` (int when every weight is whole, else float; 1 where the file has no
        ``weight`` column).

    Notes
    -----
    A CSV has a header row naming at least ``source`` and ``target`` (any case); an
    optional ``weight`` column gives each edge's weight (e.g. its synapse count).  Other
    columns are ignored.  Each row is one edge; repeated pairs stay separate edges.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "worm.csv"
    >>> _ = path.write_text("source,target,weight\\nAVAL,AVBL,3\\nAVBL,DB1,1\\n")
    >>> g = read_graph_file(path)
    >>> g.vs["name"], g.get_edgelist(), g.es["weight"]
    (['AVAL', 'AVBL', 'DB1'], [(0, 1), (1, 2)], [3, 1])
    """
    path = Path(path)
    if format is None:
        format = _SUFFIXES.get(path.suffix.lower())
        if format is None:
            raise GraphFileError(
                f"{path}: cannot tell the format from the suffix {path.suffix!r}; "
                f"expected one of {', '.join(_SUFFIXES)} or pass format='graphml'|'gexf'|'csv'"
            )
    if format not in ("graphml", "gexf", "csv"):
        raise GraphFileError(f"{path}: format must be 'graphml', 'gexf' or 'csv', not {format!r}")
    if not path.is_file():
        raise GraphFileError(f"{path}: no such file")
    if format == "csv":
        return _read_csv(path, directed=True if directed is None else directed)
    graph = _read_graphml(path) if format == "graphml" else _read_gexf(path)
    if directed is True and not graph.is_directed():
        graph.to_directed(mode="mutual")
    elif directed is False and graph.is_directed():
        graph.to_undirected(mode="each")
    return graph


def _read_graphml(path: Path) -> ig.Graph:
    try:
        graph = ig.Graph.Read_GraphML(str(path))
    except Exception as error:  # igraph raises InternalError/OSError with its own text
        raise GraphFileError(f"{path}: not a readable GraphML file ({error})") from error
    if "name" not in graph.vs.attributes():
        graph.vs["name"] = graph.vs["id"] if "id" in graph.vs.attributes() else [str(i) for i in range(graph.vcount())]
    return graph


def _read_gexf(path: Path) -> ig.Graph:
    import networkx as nx

    try:
        nxg = nx.read_gexf(path)
    except Exception as error:  # XML and GEXF-schema errors come in many types
        raise GraphFileError(f"{path}: not a readable GEXF file ({error})") from error
    graph = ig.Graph.from_networkx(nxg)
    graph.vs["name"] = [str(v) for v in graph.vs["_nx_name"]]
    del graph.vs["_nx_name"]
    return graph


def _read_csv(path: Path, *, directed: bool) -> ig.Graph:
    with path.open(newline="") as handle:
        rows = csv.reader(handle)
        header = next(rows, None)
        if header is None:
            raise GraphFileError(f"{path}: the file is empty; expected a header row 'source,target,weight'")
        columns = {name.strip().lower(): i for i, name in enumerate(header)}
        missing = [c for c in ("source", "target") if c not in columns]
        if missing:
            raise GraphFileError(
                f"{path}: the header {header} lacks the column(s) {', '.join(missing)}; "
                "expected a header row 'source,target,weight' (weight optional)"
            )
        i_src, i_dst, i_w = columns["source"], columns["target"], columns.get("weight")
        index: dict[str, int] = {}
        edges: list[tuple[int, int]] = []
        weights: list[float] = []
        for line, row in enumerate(rows, start=2):
            if not row or all(not cell.strip() for cell in row):
                continue
            cells = [row[i].strip() if i < len(row) else "" for i in (i_src, i_dst)]
            if not all(cells):
                raise GraphFileError(f"{path}: row {line} has no {'source' if not cells[0] else 'target'}: {row}")
            if i_w is not None:
                text = row[i_w].strip() if i_w < len(row) else ""
                try:
                    weight = float(text)
                except ValueError:
                    raise GraphFileError(
                        f"{path}: row {line} has the non-numeric weight {text!r}; expected a number"
                    ) from None
                if not math.isfinite(weight):
                    raise GraphFileError(f"{path}: row {line} has the weight {text!r}; expected a finite number")
                weights.append(weight)
            ends = [index.setdefault(cell, len(index)) for cell in cells]
            edges.append((ends[0], ends[1]))
    graph = ig.Graph(n=len(index), edges=edges, directed=directed)
    graph.vs["name"] = list(index)
    values = np.asarray(weights if i_w is not None else np.ones(len(edges)), dtype=np.float64)
    whole = np.array_equal(values, np.rint(values))
    graph.es["weight"] = values.astype(np.int64).tolist() if whole else values.tolist()
    return graph
