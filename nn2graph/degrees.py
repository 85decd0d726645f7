"""Node degrees of layered graphs, with the paper's conventions (docs/method.md §2).

The degree of a node is the sum of the multiplicities of its edges to the layers below
and above.  A node of the input layer has only upper edges.  Edges into the output
(softmax) layer are not counted, so the last pruned layer counts its lower edges only,
and the output layer itself is left out.  Each convention can be switched off.
"""

from __future__ import annotations

import igraph as ig
import numpy as np

from nn2graph.exceptions import NN2GraphError


class LayeredGraphError(NN2GraphError, ValueError):
    """A graph lacks the vertex or edge attributes of a layered graph."""


def layer_order(graph: ig.Graph) -> tuple[list[str], np.ndarray]:
    """Return the ordered layer names and each vertex's position in that order.

    The order comes from the ``layer_index`` vertex attribute when the graph has one,
    otherwise from the order in which ``layer`` names first appear among the vertices.

    Parameters
    ----------
    graph : igraph.Graph
        A graph with a ``layer`` vertex attribute (``layer_index`` optional).

    Returns
    -------
    names : list of str
        Layer names, lowest layer first.
    position : numpy.ndarray of int
        For each vertex, the index of its layer in ``names``.

    Examples
    --------
    >>> import igraph as ig
    >>> g = ig.Graph(n=3, directed=True)
    >>> g.vs["layer"] = ["input", "input", "fc1"]
    >>> names, position = layer_order(g)
    >>> names, position.tolist()
    (['input', 'fc1'], [0, 0, 1])
    """
    if "layer" not in graph.vs.attributes():
        raise LayeredGraphError(
            "the graph has no 'layer' vertex attribute: give every vertex the name of its layer "
            "(graphs from nn2graph.to_graph have it)"
        )
    labels = np.asarray(graph.vs["layer"], dtype=object)
    if "layer_index" in graph.vs.attributes():
        index = np.asarray(graph.vs["layer_index"], dtype=np.int64)
        ranks, position = np.unique(index, return_inverse=True)
        names = [str(labels[np.flatnonzero(position == r)[0]]) for r in range(len(ranks))]
        return names, position.astype(np.int64)
    names, first, position = np.unique(labels.astype(str), return_index=True, return_inverse=True)
    order = np.argsort(first)
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return [str(names[i]) for i in order], rank[position].astype(np.int64)


def graph_degrees(
    graph: ig.Graph,
    *,
    include_input: bool = True,
    include_output: bool = False,
    output_edges: bool = False,
) -> dict[str, np.ndarray]:
    """Degrees of every node of a layered graph, layer by layer.

    Parameters
    ----------
    graph : igraph.Graph
        A layered graph: vertex attribute ``layer`` (and optionally ``layer_index``),
        edge attribute ``multiplicity`` (each edge counts 1 without it).
    include_input : bool, default True
        Report the lowest (input) layer.  Its nodes have upper edges only.
    include_output : bool, default False
        Report the highest (output) layer, whose degrees are its lower edges.
    output_edges : bool, default False
        Count the edges into the output layer in the degrees of the nodes below it.
        The paper does not (connections into the softmax are never pruned), so the
        last pruned layer counts its lower edges only.

    Returns
    -------
    dict of str to numpy.ndarray of int64
        One array per reported layer, lowest layer first, in vertex order.

    Examples
    --------
    A 2-3-1 network: two input nodes, three hidden nodes, one output node.

    >>> import igraph as ig
    >>> g = ig.Graph(n=6, edges=[(0, 2), (0, 3), (1, 3), (1, 4), (2, 5), (3, 5), (4, 5)], directed=True)
    >>> g.vs["layer"] = ["input"] * 2 + ["fc1"] * 3 + ["out"]
    >>> g.es["multiplicity"] = [1, 2, 1, 1, 1, 1, 1]
    >>> {k: v.tolist() for k, v in graph_degrees(g).items()}
    {'input': [3, 2], 'fc1': [1, 3, 1]}
    >>> {k: v.tolist() for k, v in graph_degrees(g, include_output=True, output_edges=True).items()}
    {'input': [3, 2], 'fc1': [2, 4, 2], 'out': [3]}
    """
    names, position = layer_order(graph)
    out_rank = len(names) - 1
    edges = np.asarray(graph.get_edgelist(), dtype=np.int64).reshape(-1, 2)
    if "multiplicity" in graph.es.attributes():
        mult = np.asarray(graph.es["multiplicity"], dtype=np.float64)
    else:
        mult = np.ones(len(edges))
    if not output_edges and len(names) > 1:
        keep = (position[edges[:, 0]] != out_rank) & (position[edges[:, 1]] != out_rank)
        # Edges into the output layer still count for the output layer itself.
        into_output = ~keep
        edges_kept, mult_kept = edges[keep], mult[keep]
    else:
        into_output = np.zeros(len(edges), dtype=bool)
        edges_kept, mult_kept = edges, mult
    n = graph.vcount()
    # Float sums are exact for counts below 2**53; np.bincount of no edges gives int64.
    total = np.zeros(n)
    total += np.bincount(edges_kept[:, 0], weights=mult_kept, minlength=n)
    total += np.bincount(edges_kept[:, 1], weights=mult_kept, minlength=n)
    if into_output.any():
        ends = edges[into_output]
        side = np.where(position[ends[:, 0]] == out_rank, ends[:, 0], ends[:, 1])
        total += np.bincount(side, weights=mult[into_output], minlength=n)
    total = np.rint(total).astype(np.int64)
    result = {}
    for rank, name in enumerate(names):
        if rank == 0 and not include_input:
            continue
        if rank == out_rank and rank > 0 and not include_output:
            continue
        result[name] = total[position == rank]
    return result
