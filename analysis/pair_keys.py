"""Node pairs of graph snapshots as sorted integer keys, with the connections of each pair.

An edge (u, v) of a graph on n vertices is the key ``u * n + v`` (or the key of its lower
and upper vertex, as the caller orders them); parallel edges are summed by
:func:`aggregate_keys`, and :func:`pair_changes` lines up the pairs of two snapshots.
These are the building blocks of :mod:`analysis.attachment`,
:mod:`analysis.general_attachment` and :mod:`analysis.growth`.
"""

from __future__ import annotations

import itertools

import igraph as ig
import numpy as np

from analysis.attachment_errors import AttachmentError

__all__ = ["aggregate_keys", "edge_array", "edge_weights", "pair_changes", "sorted_unique"]


def edge_array(graph: ig.Graph) -> np.ndarray:
    """The edges of ``graph`` as an (m, 2) int64 array (faster than ``np.asarray(get_edgelist())``).

    Examples
    --------
    >>> edge_array(ig.Graph(n=3, edges=[(0, 1), (2, 0)], directed=True)).tolist()
    [[0, 1], [2, 0]]
    """
    flat = itertools.chain.from_iterable(graph.get_edgelist())
    return np.fromiter(flat, dtype=np.int64, count=2 * graph.ecount()).reshape(-1, 2)


def edge_weights(graph: ig.Graph, weight: str | None, what: str) -> np.ndarray:
    """The edge attribute ``weight`` of ``graph`` as floats (None: 1 per edge).

    A graph without a ``"multiplicity"`` attribute counts each edge once; any other missing
    attribute, or a negative or non-finite weight, is an :class:`AttachmentError` naming
    ``what`` (the graph's name in the message, e.g. ``"g0"``).

    Examples
    --------
    >>> g = ig.Graph(n=3, edges=[(0, 1), (0, 2)], directed=True)
    >>> g.es["weight"] = [1.0, 2.5]
    >>> edge_weights(g, "weight", "g0").tolist(), edge_weights(g, "multiplicity", "g0").tolist()
    ([1.0, 2.5], [1.0, 1.0])
    >>> edge_weights(g, "w", "g0")
    Traceback (most recent call last):
    ...
    analysis.attachment_errors.AttachmentError: g0 has no edge attribute 'w'; its edge attributes are ['weight']
    """
    if weight is None:
        return np.ones(graph.ecount())
    if weight not in graph.es.attributes():
        if weight == "multiplicity":
            return np.ones(graph.ecount())
        raise AttachmentError(f"{what} has no edge attribute {weight!r}; its edge attributes are {graph.es.attributes()}")
    w = np.asarray(graph.es[weight], dtype=np.float64)
    if np.any(~np.isfinite(w)) or np.any(w < 0):
        raise AttachmentError(f"edge attribute {weight!r} of {what} must be finite and non-negative")
    return w


def sorted_unique(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values (by sorting: ``np.unique``'s hash path is slow on large int64 arrays).

    Examples
    --------
    >>> sorted_unique(np.array([5, 1, 5, 3])).tolist()
    [1, 3, 5]
    """
    ordered = np.sort(values)
    return ordered[np.r_[True, ordered[1:] != ordered[:-1]]] if ordered.size else ordered


def aggregate_keys(keys: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct pair keys, sorted, and the summed weight of each (parallel edges summed).

    Examples
    --------
    >>> keys, weights = aggregate_keys(np.array([7, 2, 7]), np.array([1.0, 1.0, 2.0]))
    >>> keys.tolist(), weights.tolist()
    ([2, 7], [1.0, 3.0])
    """
    if keys.size == 0:
        return keys.astype(np.int64), np.zeros(0)
    order = np.argsort(keys)
    ordered = keys[order]
    start = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    return ordered[start], np.add.reduceat(np.asarray(weights, dtype=np.float64)[order], start)


def pair_changes(k0: np.ndarray, m0: np.ndarray, k1: np.ndarray, m1: np.ndarray):
    """Keys of the union of pairs with their multiplicities in both snapshots.

    ``k0`` and ``k1`` are the distinct keys of the two snapshots (as :func:`aggregate_keys`
    returns them) and ``m0``, ``m1`` their multiplicities; a pair missing from a snapshot has
    multiplicity 0 there.

    Examples
    --------
    >>> keys, a, b = pair_changes(np.array([1, 5]), np.array([1.0, 2.0]), np.array([5, 7]), np.array([3.0, 1.0]))
    >>> keys.tolist(), a.tolist(), b.tolist()
    ([1, 5, 7], [1.0, 2.0, 0.0], [0.0, 3.0, 1.0])
    """
    keys = sorted_unique(np.concatenate([k0, k1]))
    a = np.zeros(len(keys))
    b = np.zeros(len(keys))
    a[np.searchsorted(keys, k0)] = m0
    b[np.searchsorted(keys, k1)] = m1
    return keys, a, b
