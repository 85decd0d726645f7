"""Per-layer degree summary of a layered graph, as rows and as a text table."""

from __future__ import annotations

__all__ = ["LayerSummary", "degree_summary", "format_summary"]

from dataclasses import asdict, dataclass

import numpy as np

from nn2graph.graph import LayeredGraph


@dataclass(frozen=True)
class LayerSummary:
    """One layer: its nodes, the edges and connections from the layers below, its degrees.

    Degrees follow the paper's conventions (input: upper edges only; the last pruned
    layer: lower edges only); the output layer's degrees are its lower edges.
    """

    layer: str
    type: str
    nodes: int
    edges: int
    connections: int
    min_degree: int
    mean_degree: float
    max_degree: int

    def to_dict(self) -> dict:
        """The row as a plain dict."""
        return asdict(self)


def degree_summary(layered: LayeredGraph) -> list[LayerSummary]:
    """One :class:`LayerSummary` per layer, input first.

    Examples
    --------
    >>> from torch import nn
    >>> from nn2graph import to_graph
    >>> rows = degree_summary(to_graph(nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 1)), (3,)))
    >>> [(r.layer, r.type, r.nodes, r.edges, r.max_degree) for r in rows]
    [('input', 'Input', 3, 0, 2), ('0', 'Linear', 2, 6, 3), ('2', 'Linear', 1, 2, 2)]
    """
    degrees = layered.degrees(include_output=True)
    upper = np.searchsorted(layered.starts, layered.target, side="right") - 1
    n_edges = np.bincount(upper, minlength=len(layered.layers))
    connections = np.bincount(upper, weights=layered.multiplicity, minlength=len(layered.layers))
    types = dict(zip(layered.layers, layered.types))
    rows = []
    for index, name in enumerate(layered.layers):
        values = degrees[name]
        rows.append(
            LayerSummary(
                layer=name,
                type=types[name],
                nodes=len(values),
                edges=int(n_edges[index]),
                connections=int(round(connections[index])),
                min_degree=int(values.min()) if len(values) else 0,
                mean_degree=float(values.mean()) if len(values) else 0.0,
                max_degree=int(values.max()) if len(values) else 0,
            )
        )
    return rows


def format_summary(rows: list[LayerSummary]) -> str:
    """The rows as an aligned text table.

    Examples
    --------
    >>> print(format_summary([LayerSummary("input", "Input", 3, 0, 0, 1, 1.5, 2)]))
    layer  type   nodes  edges  connections  min degree  mean degree  max degree
    input  Input      3      0            0           1          1.5           2
    """
    header = ["layer", "type", "nodes", "edges", "connections", "min degree", "mean degree", "max degree"]
    table = [header] + [
        [r.layer, r.type, str(r.nodes), str(r.edges), str(r.connections), str(r.min_degree),
         f"{r.mean_degree:.6g}", str(r.max_degree)]
        for r in rows
    ]  # fmt: skip
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    lines = []
    for line in table:
        cells = [cell.ljust(w) if i < 2 else cell.rjust(w) for i, (cell, w) in enumerate(zip(line, widths))]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)
