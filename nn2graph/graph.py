"""Layered graphs of neural networks: :func:`to_graph`, :func:`layer_degrees`, :class:`LayeredGraph`.

Nodes (docs/method.md §2): the units of a linear layer, the channels (feature maps) of a
convolution, and the input -- every input element when the first weighted layers are
linear (an MLP's pixels), every input channel when they are convolutions.  An edge
joins a node to a node of a later weighted layer that reads it (the next layer, or a
later one through a residual addition or a concatenation).  Its ``multiplicity`` is the
number of real connections it stands for (convolutional weight reuse and padding
counted exactly, see :func:`nn2graph.handlers.conv_connections`), its ``weight`` the
sum of |w| over those connections.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from os import PathLike
from pathlib import Path

import igraph as ig
import numpy as np
import torch
from torch import nn

from nn2graph.handlers import effective_weight
from nn2graph.features import Sources
from nn2graph.tracing import LayerCall, TracedModel, trace_layers

__all__ = ["INPUT_LAYER", "LayeredGraph", "layer_degrees", "to_graph"]

INPUT_LAYER = "input"


@dataclass(frozen=True, eq=False)
class LayeredGraph:
    """A network as a directed layered graph (edges point from lower to upper layers).

    The edges are kept as numpy arrays (about 24 bytes per edge); the igraph graph is
    built on first access to :attr:`graph` (it costs about 130 bytes per edge more:
    igraph's edge index and one Python object per attribute value).

    Attributes
    ----------
    layers : tuple of str
        Layer names, input first, output layer last.
    types : tuple of str
        Module class name of each layer (``"Input"`` for the input).
    sizes : tuple of int
        Nodes of each layer.  Nodes are numbered layer by layer, input first.
    source, target : numpy.ndarray of int32 (int64 past 2**31 nodes)
        Lower and upper node of each edge; edges are stored by upper layer, in layer order.
    multiplicity : numpy.ndarray of int64
        Real connections each edge stands for.
    weight : numpy.ndarray of float64
        Sum of |w| over those connections.
    """

    layers: tuple[str, ...]
    types: tuple[str, ...]
    sizes: tuple[int, ...]
    source: np.ndarray
    target: np.ndarray
    multiplicity: np.ndarray
    weight: np.ndarray

    @property
    def starts(self) -> np.ndarray:
        """First node of each layer, and the node count at the end."""
        return np.concatenate([[0], np.cumsum(self.sizes)]).astype(np.int64)

    @cached_property
    def graph(self) -> ig.Graph:
        """The igraph graph: vertex attributes ``layer`` (module path, ``"input"`` for the input),
        ``layer_index`` (0 for the input), ``unit`` (index within the layer) and ``layer_type``
        (module class name); edge attributes ``multiplicity`` (int) and ``weight`` (float)."""
        sizes = list(self.sizes)
        graph = ig.Graph(n=int(sum(sizes)), directed=True)
        graph.add_edges(np.column_stack([self.source, self.target]))
        rank = np.repeat(np.arange(len(sizes)), sizes)
        graph.vs["layer"] = [self.layers[r] for r in rank]
        graph.vs["layer_index"] = rank.tolist()
        graph.vs["unit"] = np.concatenate([np.arange(n) for n in sizes]).tolist()
        graph.vs["layer_type"] = [self.types[r] for r in rank]
        graph.es["multiplicity"] = self.multiplicity.tolist()
        graph.es["weight"] = self.weight.tolist()
        return graph

    def degrees(
        self, *, include_input: bool = True, include_output: bool = False, output_edges: bool = False
    ) -> dict[str, np.ndarray]:
        """Degrees per layer with the paper's conventions (see :func:`nn2graph.graph_degrees`).

        Computed from the edge arrays (the igraph graph is not built).

        Examples
        --------
        >>> from torch import nn
        >>> g = to_graph(nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 1)), (3,))
        >>> {k: v.tolist() for k, v in g.degrees().items()}
        {'input': [2, 2, 2], '0': [3, 3]}
        """
        starts = self.starts
        total = np.zeros(starts[-1], dtype=np.int64)
        # Edges are stored layer by layer, so the edges into the output layer are the tail.
        into_output = _first(self.target, starts[-2])
        step = 1 << 24  # bounded temporaries
        for lo in range(0, len(self.source), step):
            hi = min(lo + step, len(self.source))
            mult = self.multiplicity[lo:hi].astype(np.float64)
            total += np.bincount(self.target[lo:hi], weights=mult, minlength=len(total)).round().astype(np.int64)
            keep = hi if output_edges else min(hi, max(lo, into_output))
            total += np.bincount(self.source[lo:keep], weights=mult[: keep - lo], minlength=len(total)).round().astype(np.int64)
        return _by_layer(total, self.layers, starts, include_input, include_output)

    def to_networkx(self):
        """The graph as a :class:`networkx.DiGraph` (one edge per node pair, with its multiplicity).

        Nodes are the node numbers, with attributes ``layer``, ``layer_index``, ``unit``,
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

        result = nx.DiGraph()
        node = 0
        for index, (name, kind, size) in enumerate(zip(self.layers, self.types, self.sizes)):
            for unit in range(size):
                result.add_node(node, layer=name, layer_index=index, unit=unit, layer_type=kind, label=f"{name}:{unit}")
                node += 1
        result.add_edges_from(
            (s, t, {"multiplicity": m, "weight": w})
            for s, t, m, w in zip(self.source.tolist(), self.target.tolist(), self.multiplicity.tolist(), self.weight.tolist())
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


def _groups(sources: Sources) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Partition the node axis by source set.

    Returns ``groups`` (group of each index), ``ptr`` and ``nodes`` (CSR: the nodes of
    group g are ``nodes[ptr[g]:ptr[g+1]]``; a node may lie in several groups).
    """
    count = np.bincount(sources.index, minlength=sources.length)
    if np.all(count == 1):
        nodes, groups = np.unique(sources.node, return_inverse=True)
        return groups.astype(np.int64), np.arange(len(nodes) + 1), nodes
    split = np.split(sources.node, np.cumsum(count)[:-1])
    keys: dict[tuple[int, ...], int] = {}
    groups = np.array([keys.setdefault(tuple(s.tolist()), len(keys)) for s in split], dtype=np.int64)
    sets = list(keys)
    ptr = np.concatenate([[0], np.cumsum([len(s) for s in sets])]).astype(np.int64)
    nodes = np.array([n for s in sets for n in s], dtype=np.int64)
    return groups, ptr, nodes


#: Edges expanded at once when a source group holds several nodes; bounds memory.
EXPANSION_ELEMENTS = 1 << 23


def _edge_blocks(call: LayerCall) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Edges (source node, target node, multiplicity, weight) into one layer, block by block.

    Node pairs are unique across the blocks of one layer (blocks split the output units).
    """
    sources = Sources.union(call.inputs)
    groups, ptr, nodes = _groups(sources)
    weight = effective_weight(call.module, call.path, call.weight_name)
    incidence = local = None
    for block in call.handler.function(call.module, weight, groups, len(ptr) - 1, call.in_shape, call.out_shape):
        size = ptr[block.source + 1] - ptr[block.source]
        if np.all(size == 1):
            yield nodes[ptr[block.source]], block.target + call.first_node, block.multiplicity, block.weight
            continue
        if incidence is None:
            from scipy import sparse

            local, column = np.unique(nodes, return_inverse=True)
            incidence = sparse.csr_matrix((np.ones(len(nodes)), column.ravel(), ptr), shape=(len(ptr) - 1, len(local)))
        order = np.argsort(block.target, kind="stable")
        if np.all(order[1:] > order[:-1]):
            order = None
        target = block.target if order is None else block.target[order]
        size = size if order is None else size[order]
        # cut between targets, about every EXPANSION_ELEMENTS (group, node) products
        ends = np.cumsum(size)
        boundaries = np.flatnonzero(np.r_[target[1:] != target[:-1], True]) + 1
        piece_of = ends[boundaries - 1] // EXPANSION_ELEMENTS
        cuts = [0, *boundaries[np.r_[piece_of[1:] != piece_of[:-1], True]].tolist()]
        for a, b in zip(cuts[:-1], cuts[1:]):
            pick = slice(a, b) if order is None else order[a:b]
            yield from _expand(block.source[pick], block.target[pick], block.multiplicity[pick], block.weight[pick],
                               incidence, local, call)


def _expand(group, target, mult, wsum, incidence, local, call: LayerCall):
    """Edges (group -> unit) to edges (node -> unit): a sparse product with the group-node incidence,
    summing the connections of a node that lies in several groups."""
    from scipy import sparse

    shape = (call.n_units, incidence.shape[0])
    by_mult = (sparse.csr_matrix((mult.astype(np.float64), (target, group)), shape=shape) @ incidence).tocsr()
    by_weight = (sparse.csr_matrix((wsum, (target, group)), shape=shape) @ incidence).tocsr()
    by_mult.sort_indices()
    by_weight.sort_indices()
    rows = np.repeat(np.arange(call.n_units), np.diff(by_mult.indptr))
    if by_weight.nnz == by_mult.nnz:
        weights = by_weight.data
    else:  # a weight sum that underflowed to zero dropped out of the product
        weights = np.asarray(by_weight[rows, by_mult.indices]).ravel()
    yield local[by_mult.indices], rows + call.first_node, np.rint(by_mult.data).astype(np.int64), weights


def _first(target: np.ndarray, bound: int) -> int:
    """Index of the first edge whose target is at least ``bound``, for edges stored layer by layer."""
    lo, hi = 0, len(target)
    while lo < hi:  # bisection on the predicate target >= bound, false then true
        mid = (lo + hi) // 2
        if target[mid] >= bound:
            hi = mid
        else:
            lo = mid + 1
    return lo


def _accumulate(total: np.ndarray, source, target, mult, out_first: int, output_edges: bool) -> None:
    """Add edges' multiplicities to both ends' degrees (the lower end of an edge into the output only with ``output_edges``)."""
    n = len(total)
    total += np.bincount(target, weights=mult, minlength=n).round().astype(np.int64)
    if not output_edges:
        keep = target < out_first
        source, mult = source[keep], mult[keep]
    total += np.bincount(source, weights=mult, minlength=n).round().astype(np.int64)


def _by_layer(total, names, starts, include_input: bool, include_output: bool) -> dict[str, np.ndarray]:
    result = {}
    for rank, name in enumerate(names):
        if rank == 0 and not include_input or rank == len(names) - 1 and rank > 0 and not include_output:
            continue
        result[name] = total[starts[rank] : starts[rank + 1]]
    return result


@contextlib.contextmanager
def _one_thread():
    """Run torch on one thread (restored after): the work is many small operations, which
    torch's thread pool slows down several times over on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _layer_names(traced: TracedModel) -> list[str]:
    return [INPUT_LAYER] + [call.path for call in traced.layers]


def to_graph(model: nn.Module, input_shape: tuple[int, ...], *, dtype: torch.dtype | None = None) -> LayeredGraph:
    """Build the layered graph of a PyTorch model.

    Parameters
    ----------
    model : torch.nn.Module
        A model torch.fx can trace (no data-dependent control flow).  Weighted layers:
        see :func:`nn2graph.handlers.supported_layers`; pruning with
        :mod:`torch.nn.utils.prune` is honoured (the masked weight is read).
    input_shape : tuple of int
        Shape of one input without the batch dimension, e.g. ``(1, 28, 28)`` or ``(784,)``;
        ``(tokens,)`` with ``dtype=torch.long`` for a language model.
    dtype : torch.dtype, optional
        The input's dtype: float32 by default; ``torch.long`` feeds token ids (zeros), and
        the vocabulary entries of the embedding that reads them become the input nodes.

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
    >>> g.layers, g.graph.vcount(), g.graph.ecount(), len(g.source)
    (('input', '0', '3'), 65, 1056, 1056)
    >>> sorted(set(g.degrees(output_edges=True)["0"].tolist()))
    [65600]
    """
    with _one_thread():
        return _build(model, input_shape, dtype)


def _build(model: nn.Module, input_shape: tuple[int, ...], dtype: torch.dtype | None) -> LayeredGraph:
    traced = trace_layers(model, input_shape, dtype=dtype)
    sizes = [traced.n_input] + [call.n_units for call in traced.layers]
    index = np.int32 if sum(sizes) < 2**31 else np.int64
    parts: list[list[np.ndarray]] = [[], [], [], []]  # source, target, multiplicity, weight
    for call in traced.layers:
        for block in _edge_blocks(call):
            for part, column, dtype_ in zip(parts, block, (index, index, np.int64, np.float64)):
                part.append(np.asarray(column, dtype=dtype_))
    columns = []
    for part, dtype_ in zip(parts, (index, index, np.int64, np.float64)):
        columns.append(np.concatenate(part) if part else np.zeros(0, dtype=dtype_))
        part.clear()  # free this column's blocks before concatenating the next
    types = ["Input"] + [type(call.module).__name__ for call in traced.layers]
    return LayeredGraph(tuple(_layer_names(traced)), tuple(types), tuple(sizes), *columns)


def layer_degrees(
    model: nn.Module,
    input_shape: tuple[int, ...],
    *,
    include_input: bool = True,
    include_output: bool = False,
    output_edges: bool = False,
    dtype: torch.dtype | None = None,
) -> dict[str, np.ndarray]:
    """Degrees per layer straight from the weights, without building the graph.

    Equal to ``to_graph(model, input_shape).degrees(...)`` with the same switches, but
    each layer's edges are reduced to degrees block by block and never kept, so memory
    stays bounded for models whose graph would not fit.

    Parameters
    ----------
    model, input_shape, dtype
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
    with _one_thread():
        traced = trace_layers(model, input_shape, dtype=dtype)
        sizes = [traced.n_input] + [call.n_units for call in traced.layers]
        starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        total = np.zeros(starts[-1], dtype=np.int64)
        for call in traced.layers:
            for source, target, mult, _ in _edge_blocks(call):
                _accumulate(total, source, target, mult, starts[-2], output_edges)
    return _by_layer(total, _layer_names(traced), starts, include_input, include_output)
