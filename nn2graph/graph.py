"""Layered graphs of neural networks: :func:`to_graph`, :func:`layer_degrees`, :class:`LayeredGraph`.

Nodes (METHOD.md §2): the units of a linear layer, the channels (feature maps) of a
convolution, and the input -- every input element when the first weighted layers are
linear (an MLP's pixels), every input channel when they are convolutions.  An edge
joins a node to a node of a later weighted layer that reads it (the next layer, or a
later one through a residual addition or a concatenation).  Its ``multiplicity`` is the
number of real connections it stands for (convolutional weight reuse and padding
counted exactly, see :func:`nn2graph.handlers.conv_connections`), its ``weight`` the
sum of |w| over those connections.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import igraph as ig
import numpy as np
from torch import nn

from nn2graph.degrees import graph_degrees
from nn2graph.handlers import effective_weight
from nn2graph.tracing import LayerCall, Sources, TracedModel, trace_layers

INPUT_LAYER = "input"


@dataclass(frozen=True)
class LayeredGraph:
    """A network as a directed layered graph (edges point from lower to upper layers).

    Attributes
    ----------
    graph : igraph.Graph
        Vertex attributes ``layer`` (module path, ``"input"`` for the input),
        ``layer_index`` (0 for the input), ``unit`` (index within the layer) and
        ``layer_type`` (module class name); edge attributes ``multiplicity`` (int) and
        ``weight`` (float).
    layers : tuple of str
        Layer names, input first, output layer last.
    """

    graph: ig.Graph
    layers: tuple[str, ...]

    def degrees(
        self, *, include_input: bool = True, include_output: bool = False, output_edges: bool = False
    ) -> dict[str, np.ndarray]:
        """Degrees per layer with the paper's conventions (see :func:`nn2graph.graph_degrees`).

        Examples
        --------
        >>> from torch import nn
        >>> g = to_graph(nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 1)), (3,))
        >>> {k: v.tolist() for k, v in g.degrees().items()}
        {'input': [2, 2, 2], '0': [3, 3]}
        """
        return graph_degrees(
            self.graph, include_input=include_input, include_output=include_output, output_edges=output_edges
        )

    def to_networkx(self):
        """The graph as a :class:`networkx.DiGraph` (one edge per node pair, with its multiplicity).

        Nodes are the vertex indices, with attributes ``layer``, ``layer_index``, ``unit``,
        ``layer_type`` and a Gephi ``label`` (``"layer:unit"``); edges carry
        ``multiplicity`` (int) and ``weight`` (float).  Attribute values are plain Python
        ``int``/``float``/``str``.

        Examples
        --------
        >>> from torch import nn
        >>> nx_graph = to_graph(nn.Sequential(nn.Linear(2, 2)), (2,)).to_networkx()
        >>> nx_graph.number_of_nodes(), nx_graph.nodes[2]["label"]
        (4, '0:0')
        """
        import networkx as nx

        g = self.graph
        result = nx.DiGraph()
        names = ("layer", "layer_index", "unit", "layer_type")
        columns = [g.vs[name] for name in names]
        result.add_nodes_from(
            (v, {**dict(zip(names, values)), "label": f"{values[0]}:{values[2]}"})
            for v, values in enumerate(zip(*columns))
        )
        result.add_edges_from(
            (s, t, {"multiplicity": int(m), "weight": float(w)})
            for (s, t), m, w in zip(g.get_edgelist(), g.es["multiplicity"], g.es["weight"])
        )
        return result

    def write_graphml(
        self, path: str | PathLike, *, layers: Sequence[str] | None = None, min_multiplicity: int | None = None
    ) -> Path:
        """Write GraphML for Gephi, whole or in part; integer attributes stay integers.

        Nodes carry ``layer``, ``layer_index``, ``unit``, ``layer_type``, a ``label``
        (``"layer:unit"``) and Gephi's layered layout, colour per layer and size by
        degree; edges carry ``multiplicity`` and ``weight``.  ``layers`` keeps only those
        layers and ``min_multiplicity`` only the heavier edges, for graphs too large for
        Gephi.  See :func:`nn2graph.gephi.write_gephi`.
        """
        from nn2graph.gephi import write_gephi

        return write_gephi(self.graph, path, format="graphml", layers=layers, min_multiplicity=min_multiplicity)

    def write_gexf(
        self, path: str | PathLike, *, layers: Sequence[str] | None = None, min_multiplicity: int | None = None
    ) -> Path:
        """Write GEXF for Gephi: the attributes of :meth:`write_graphml`, layout as GEXF ``viz``."""
        from nn2graph.gephi import write_gephi

        return write_gephi(self.graph, path, format="gexf", layers=layers, min_multiplicity=min_multiplicity)


def _groups(sources: Sources) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """Partition the node axis by source set.

    Returns ``groups`` (group of each index), ``ptr`` and ``nodes`` (CSR: the nodes of
    group g are ``nodes[ptr[g]:ptr[g+1]]``) and whether a node lies in several groups.
    """
    count = np.bincount(sources.index, minlength=sources.length)
    if np.all(count == 1):
        nodes, groups = np.unique(sources.node, return_inverse=True)
        return groups.astype(np.int64), np.arange(len(nodes) + 1), nodes, False
    split = np.split(sources.node, np.cumsum(count)[:-1])
    keys: dict[tuple[int, ...], int] = {}
    groups = np.array([keys.setdefault(tuple(s.tolist()), len(keys)) for s in split], dtype=np.int64)
    sets = list(keys)
    ptr = np.concatenate([[0], np.cumsum([len(s) for s in sets])]).astype(np.int64)
    nodes = np.array([n for s in sets for n in s], dtype=np.int64)
    return groups, ptr, nodes, len(np.unique(nodes)) < len(nodes)


def _edge_blocks(call: LayerCall) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Edges (source node, target node, multiplicity, weight) into one layer, block by block.

    Node pairs are unique across the blocks of one layer (blocks split the output units).
    """
    sources = Sources.union(call.inputs)
    groups, ptr, nodes, overlapping = _groups(sources)
    weight = effective_weight(call.module, call.path)
    for block in call.handler.function(call.module, weight, groups, len(ptr) - 1, call.in_shape, call.out_shape):
        size = ptr[block.source + 1] - ptr[block.source]
        if np.all(size == 1):
            source, keep = nodes[ptr[block.source]], slice(None)
        else:
            keep = np.repeat(np.arange(len(size)), size)
            within = np.arange(len(keep)) - np.repeat(np.cumsum(size) - size, size)
            source = nodes[ptr[block.source][keep] + within]
        target, mult, wsum = block.target[keep], block.multiplicity[keep], block.weight[keep]
        if overlapping:
            key = source * call.n_units + target
            unique, inverse = np.unique(key, return_inverse=True)
            source, target = unique // call.n_units, unique % call.n_units
            mult = np.bincount(inverse, weights=mult).round().astype(np.int64)
            wsum = np.bincount(inverse, weights=wsum)
        yield source, target + call.first_node, mult, wsum


def _layer_names(traced: TracedModel) -> list[str]:
    return [INPUT_LAYER] + [call.path for call in traced.layers]


def to_graph(model: nn.Module, input_shape: tuple[int, ...]) -> LayeredGraph:
    """Build the layered graph of a PyTorch model.

    Parameters
    ----------
    model : torch.nn.Module
        A model torch.fx can trace (no data-dependent control flow).  Weighted layers:
        see :func:`nn2graph.handlers.supported_layers`; pruning with
        :mod:`torch.nn.utils.prune` is honoured (the masked weight is read).
    input_shape : tuple of int
        Shape of one input without the batch dimension, e.g. ``(1, 28, 28)`` or ``(784,)``.

    Returns
    -------
    LayeredGraph

    Raises
    ------
    nn2graph.tracing.TracingError
        The forward pass cannot be traced.
    nn2graph.tracing.InputShapeError
        ``input_shape`` does not fit the model (the message names the layer).
    nn2graph.handlers.UnsupportedLayerError
        A module or operation is neither a handled weighted layer nor a pass-through.
    nn2graph.NN2GraphError
        NaN/inf weights, or no weighted layer.

    Examples
    --------
    The MNIST CNN's first two layers: each conv1 map reads the one input channel through
    25 taps at 24 x 24 positions, and feeds each conv2 map through 25 taps at 8 x 8
    (counted here although conv2 is the output layer).

    >>> import torch
    >>> net = nn.Sequential(nn.Conv2d(1, 32, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 32, 5))
    >>> g = to_graph(net, (1, 28, 28))
    >>> g.layers, g.graph.vcount(), g.graph.ecount()
    (('input', '0', '3'), 65, 1056)
    >>> sorted(set(g.degrees(output_edges=True)["0"].tolist()))
    [65600]
    """
    traced = trace_layers(model, input_shape)
    names = _layer_names(traced)
    parts: list[list[np.ndarray]] = [[], [], [], []]  # source, target, multiplicity, weight
    for call in traced.layers:
        for block in _edge_blocks(call):
            for part, column in zip(parts, block):
                part.append(column)
    columns = []
    for part, dtype in zip(parts, (np.int64, np.int64, np.int64, np.float64)):
        columns.append(np.concatenate(part) if part else np.zeros(0, dtype=dtype))
        part.clear()  # free this column's blocks before concatenating the next
    source, target, mult, wsum = columns
    del columns
    sizes = [traced.n_input] + [call.n_units for call in traced.layers]
    types = ["Input"] + [type(call.module).__name__ for call in traced.layers]
    graph = ig.Graph(n=int(sum(sizes)), directed=True)
    graph.add_edges(np.column_stack([source, target]))
    del source, target
    rank = np.repeat(np.arange(len(sizes)), sizes)
    graph.vs["layer"] = [names[r] for r in rank]
    graph.vs["layer_index"] = rank.tolist()
    graph.vs["unit"] = np.concatenate([np.arange(s) for s in sizes]).tolist()
    graph.vs["layer_type"] = [types[r] for r in rank]
    graph.es["multiplicity"] = mult.tolist()
    del mult
    graph.es["weight"] = wsum.tolist()
    return LayeredGraph(graph, tuple(names))


def layer_degrees(
    model: nn.Module,
    input_shape: tuple[int, ...],
    *,
    include_input: bool = True,
    include_output: bool = False,
    output_edges: bool = False,
) -> dict[str, np.ndarray]:
    """Degrees per layer straight from the weights, without building the graph.

    Equal to ``to_graph(model, input_shape).degrees(...)`` with the same switches, but
    each layer's edges are reduced to degrees block by block and never kept, so memory
    stays bounded for models whose graph would not fit.

    Parameters
    ----------
    model, input_shape
        As for :func:`to_graph`.
    include_input, include_output, output_edges : bool
        As for :func:`nn2graph.graph_degrees`: report the input layer; report the output
        layer; count edges into the output layer in the degrees of the nodes below it.

    Returns
    -------
    dict of str to numpy.ndarray of int64

    Examples
    --------
    >>> net = nn.Sequential(nn.Conv2d(1, 32, 5), nn.MaxPool2d(2), nn.Conv2d(32, 32, 5), nn.MaxPool2d(2),
    ...                     nn.Flatten(), nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 10))
    >>> degrees = layer_degrees(net, (1, 28, 28))
    >>> list(degrees), degrees["input"].tolist(), int(degrees["0"][0])
    (['input', '0', '2', '5'], [460800], 65600)
    """
    traced = trace_layers(model, input_shape)
    names = _layer_names(traced)
    sizes = np.array([traced.n_input] + [call.n_units for call in traced.layers])
    start = np.concatenate([[0], np.cumsum(sizes)])
    out_first = start[-2]
    total = np.zeros(start[-1], dtype=np.int64)
    for call in traced.layers:
        for source, target, mult, _ in _edge_blocks(call):
            total += np.bincount(target, weights=mult, minlength=len(total)).round().astype(np.int64)
            counted = mult if output_edges or call.first_node < out_first else np.zeros_like(mult)
            total += np.bincount(source, weights=counted, minlength=len(total)).round().astype(np.int64)
    result = {}
    for rank, name in enumerate(names):
        if rank == 0 and not include_input or rank == len(names) - 1 and rank > 0 and not include_output:
            continue
        result[name] = total[start[rank] : start[rank + 1]]
    return result
