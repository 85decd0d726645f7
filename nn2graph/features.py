"""Which graph nodes each feature of a traced tensor depends on.

A traced tensor is described by a :class:`Tracked`: an integer array ``codes`` that
broadcasts to the tensor's shape, and a :class:`Sources` table.  The element at a
position has feature ``codes[position] - 1`` (0 means the element depends on no graph
node: padding, a constant, a zero gate) and depends on the graph nodes that
``sources`` lists for that feature.  ``codes`` is kept *compact*: a dimension along which
every element has the same feature (wherever it has one) has size 1, so the channels of
a feature map take ``C`` integers, not ``C x H x W``.

The operations here are the rules of docs/graph.md, independent of torch:
:func:`combine` (an elementwise operation of several traced tensors: residual sums,
products of branches; each feature depends on the union of its operands' features),
:func:`reduce_dims` (a sum or a contraction over dimensions: the union over them), and
:func:`compact`.  Shape operations (permute, view, slicing, concatenation, ...) are
applied by the tracer to the codes themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

__all__ = ["Sources", "Tracked", "combine", "compact", "gate", "reduce_dims"]


@dataclass(frozen=True)
class Sources:
    """The graph nodes of each feature: sorted unique pairs ``(index, node)``.

    Attributes
    ----------
    index : numpy.ndarray of int64
        Feature of each pair, in ``[0, length)``, non-decreasing.
    node : numpy.ndarray of int64
        Graph node of each pair (sorted within one feature).
    length : int
        Number of features (a feature may have no pair).

    Examples
    --------
    >>> s = Sources.union([Sources.identity(np.array([5, 6])), Sources(np.array([0]), np.array([9]), 2)])
    >>> s.index.tolist(), s.node.tolist(), s.take(np.array([1, -1, 0])).node.tolist()
    ([0, 0, 1], [5, 9, 6], [6, 5, 9])
    """

    index: np.ndarray
    node: np.ndarray
    length: int

    @staticmethod
    def identity(nodes: np.ndarray) -> Sources:
        """Feature ``i`` depends on ``nodes[i]`` only."""
        nodes = np.asarray(nodes, dtype=np.int64)
        return Sources(np.arange(len(nodes), dtype=np.int64), nodes, len(nodes))

    @staticmethod
    def from_pairs(index: np.ndarray, node: np.ndarray, length: int) -> Sources:
        """Sort and deduplicate pairs (features and nodes below 2**31)."""
        key = np.unique(np.asarray(index, dtype=np.int64) << 31 | np.asarray(node, dtype=np.int64))
        return Sources(key >> 31, key & (2**31 - 1), int(length))

    @staticmethod
    def union(parts: list[Sources]) -> Sources:
        """Feature-wise union of tables of the same length."""
        if len(parts) == 1:
            return parts[0]
        return Sources.from_pairs(
            np.concatenate([p.index for p in parts]), np.concatenate([p.node for p in parts]), parts[0].length
        )

    @staticmethod
    def concatenate(parts: list[Sources]) -> tuple[Sources, list[int]]:
        """One table holding every part's features one after another, and each part's offset."""
        offsets = np.cumsum([0] + [p.length for p in parts])
        index = np.concatenate([p.index + o for p, o in zip(parts, offsets)])
        node = np.concatenate([p.node for p in parts])
        return Sources(index, node, int(offsets[-1])), [int(o) for o in offsets[:-1]]

    @cached_property
    def ptr(self) -> np.ndarray:
        """CSR offsets: the pairs of feature ``f`` are ``ptr[f]:ptr[f + 1]``."""
        return np.searchsorted(self.index, np.arange(self.length + 1))

    def take(self, features: np.ndarray) -> Sources:
        """A table whose feature ``i`` is this table's feature ``features[i]`` (-1: none)."""
        features = np.asarray(features, dtype=np.int64).ravel()
        valid = np.flatnonzero(features >= 0)
        start = self.ptr[features[valid]]
        count = self.ptr[features[valid] + 1] - start
        total = int(count.sum())
        within = np.arange(total) - np.repeat(np.cumsum(count) - count, count)
        return Sources(np.repeat(valid, count), self.node[np.repeat(start, count) + within], len(features))

    def nodes(self) -> np.ndarray:
        """Every node some feature depends on."""
        return np.unique(self.node)


@dataclass(frozen=True)
class Tracked:
    """A traced tensor: compact feature codes (0: no node) and the sources of each feature.

    ``tokens`` marks the model's integer input (token ids), which only embeddings read.
    """

    codes: np.ndarray
    sources: Sources
    tokens: bool = False

    def aligned(self, ndim: int) -> np.ndarray:
        """The codes with leading size-1 dimensions up to ``ndim`` dimensions (broadcasting)."""
        return self.codes.reshape((1,) * (ndim - self.codes.ndim) + self.codes.shape)

    def varying(self) -> list[int]:
        """Dimensions along which the feature changes."""
        return [d for d, n in enumerate(self.codes.shape) if n > 1]


def compact(codes: np.ndarray) -> np.ndarray:
    """Shrink to size 1 every dimension along which the non-zero codes are equal.

    Examples
    --------
    >>> compact(np.array([[0, 2, 2], [1, 1, 0]])).tolist()
    [[2], [1]]
    """
    codes = np.asarray(codes, dtype=np.int64)
    for dim in range(codes.ndim):
        if codes.shape[dim] <= 1:
            continue
        high = codes.max(axis=dim, keepdims=True)
        low = np.where(codes > 0, codes, np.iinfo(np.int64).max).min(axis=dim, keepdims=True)
        if np.all((high == 0) | (low == high)):
            codes = high
    return codes


def _renumber(codes: np.ndarray, sources: Sources) -> Tracked:
    """Drop the features no element uses (codes then count from 1 again) and compact."""
    codes = compact(codes)
    used = np.unique(codes[codes > 0]) - 1
    if len(used) == sources.length:
        return Tracked(codes, sources)
    new = np.zeros(sources.length + 1, dtype=np.int64)
    new[used + 1] = np.arange(1, len(used) + 1)
    return Tracked(new[codes], sources.take(used))


def combine(parts: list[Tracked], ndim: int) -> Tracked:
    """An elementwise operation of several traced tensors (broadcast to ``ndim`` dimensions).

    Every element of the result depends on the union of the features of the operands at
    that element: residual sums, products of two branches (gates), attention products
    after :func:`reduce_dims`.

    Examples
    --------
    Channels 0 and 1 of ``a`` (nodes 10, 11) times a one-channel gate (node 20):

    >>> a = Tracked(np.array([[1], [2]]), Sources.identity(np.array([10, 11])))
    >>> g = Tracked(np.array([[1]]), Sources.identity(np.array([20])))
    >>> out = combine([a, g], 2)
    >>> out.codes.ravel().tolist(), out.sources.node.tolist()
    ([1, 2], [10, 20, 11, 20])
    """
    arrays = [p.aligned(ndim) for p in parts]
    shape = np.broadcast_shapes(*(a.shape for a in arrays))
    if len(parts) == 1:
        return Tracked(compact(np.broadcast_to(arrays[0], shape)), parts[0].sources)
    flat = [np.broadcast_to(a, shape).ravel() for a in arrays]
    key = flat[0]
    for column in flat[1:]:
        key = np.unique(key * (int(column.max()) + 1) + column, return_inverse=True)[1].astype(np.int64)
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    taken = [p.sources.take(column[first] - 1) for p, column in zip(parts, flat)]
    sources = Sources.union(taken)
    empty = np.all(np.stack([column[first] for column in flat]) == 0, axis=0)
    codes = np.where(empty[inverse], 0, inverse + 1).reshape(shape)
    return _renumber(codes, sources)


def reduce_dims(tracked: Tracked, dims: list[int], ndim: int, *, keepdim: bool) -> Tracked:
    """A reduction or contraction over ``dims``: each result depends on the union over them.

    Examples
    --------
    Two heads of two features each (nodes 0-3), contracted over the features:

    >>> q = Tracked(np.array([[1, 2], [3, 4]]), Sources.identity(np.arange(4)))
    >>> out = reduce_dims(q, [1], 2, keepdim=False)
    >>> out.codes.tolist(), out.sources.index.tolist(), out.sources.node.tolist()
    ([1, 2], [0, 0, 1, 1], [0, 1, 2, 3])
    """
    codes = tracked.aligned(ndim)
    dims = sorted({d % ndim for d in dims})
    varying = [d for d in dims if codes.shape[d] > 1]
    sources = tracked.sources
    if varying:
        rest = [d for d in range(ndim) if d not in varying]
        moved = np.transpose(codes, rest + varying)
        width = int(np.prod([codes.shape[d] for d in varying]))
        rows, inverse = np.unique(moved.reshape(-1, width), axis=0, return_inverse=True)
        taken = sources.take(rows.ravel() - 1)
        sources = Sources.from_pairs(taken.index // width, taken.node, len(rows))
        empty = np.all(rows == 0, axis=1)
        inverse = inverse.ravel()
        codes = np.where(empty[inverse], 0, inverse + 1).reshape([codes.shape[d] for d in rest])
        codes = np.expand_dims(codes, varying)  # back to ndim dimensions, size 1 where reduced
    if not keepdim:
        codes = codes.reshape([n for d, n in enumerate(codes.shape) if d not in dims])
    return _renumber(codes, sources)


def gate(tracked: Tracked, factor: np.ndarray, ndim: int) -> Tracked:
    """Multiplication by a tensor that depends on no graph node: elements multiplied by 0 lose their nodes.

    Examples
    --------
    A learned per-channel gate whose second entry is zero:

    >>> x = Tracked(np.array([[1], [2], [3]]), Sources.identity(np.array([7, 8, 9])))
    >>> out = gate(x, np.array([[1.5], [0.0], [2.0]]), 2)
    >>> out.codes.ravel().tolist(), out.sources.node.tolist()
    ([1, 0, 2], [7, 9])
    """
    zero = np.asarray(factor) == 0
    if not zero.any():
        return tracked
    codes = tracked.aligned(ndim)
    zero = zero.reshape((1,) * (ndim - zero.ndim) + zero.shape)
    shape = np.broadcast_shapes(codes.shape, zero.shape)
    return _renumber(np.where(np.broadcast_to(zero, shape), 0, np.broadcast_to(codes, shape)), tracked.sources)
