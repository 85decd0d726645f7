"""Layer handlers: the connections that one weighted layer makes (docs/graph.md).

A handler turns a weighted module into blocks of edges from *input groups* to its
output units.  The input of a layer is one axis (the channels of a convolution, the
features of a linear layer); the caller partitions that axis into groups, one per
distinct set of source nodes (usually one group per node of the layer below: all the
features that a flattened feature map produces form one group).  A block entry
``(source, target, multiplicity, weight)`` says that the input group ``source`` reaches
output unit ``target`` through ``multiplicity`` real connections whose absolute weights
sum to ``weight``.

Adding a layer type is one function and one line::

    @register(MyLayer, spatial=False, n_units=lambda m: m.out_features)
    def my_layer(module, weight, groups, n_groups, in_shape, out_shape):
        ...  # yield ConnectionBlock(...)

``spatial=True`` says that the layer's nodes are channels (its input is read per
channel, along dimension 1); ``spatial=False`` that they are features read along the
last dimension (a linear layer, at every position of the other dimensions).
``n_units(module)`` is the number of nodes of the layer.  ``tokens=True`` (with
``n_inputs``) marks a layer that reads integer token ids (an embedding).

Lookup goes through the module's method resolution order, so subclasses use their
base's handler; a few layers of optional packages are registered by their qualified
class name (transformers' ``Conv1D``), so that those packages need not be imported.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from nn2graph.exceptions import NN2GraphError

__all__ = [
    "CHUNK_ELEMENTS",
    "ConnectionBlock",
    "LayerHandler",
    "UnsupportedLayerError",
    "conv_connections",
    "effective_weight",
    "embedding_connections",
    "handler_for",
    "linear_connections",
    "linear_handler",
    "register",
    "supported_layers",
    "tap_counts",
    "transposed_linear_connections",
]


class UnsupportedLayerError(NN2GraphError, TypeError):
    """A module or operation has no handler and is not a pass-through."""


#: Elements a handler materialises at once (rows x input width); bounds memory.
CHUNK_ELEMENTS = 1 << 22


@dataclass(frozen=True)
class ConnectionBlock:
    """Edges from input groups to output units, as parallel arrays (sparse COO).

    Attributes
    ----------
    source : numpy.ndarray of int64
        Input group of each edge.
    target : numpy.ndarray of int64
        Output unit of each edge.
    multiplicity : numpy.ndarray of int64
        Number of real connections the edge stands for (always >= 1).
    weight : numpy.ndarray of float64
        Sum of |w| over those connections.
    """

    source: np.ndarray
    target: np.ndarray
    multiplicity: np.ndarray
    weight: np.ndarray


Handler = Callable[..., Iterator[ConnectionBlock]]


@dataclass(frozen=True)
class LayerHandler:
    """A registered handler: the function, whether its nodes are channels, its unit count.

    ``tokens`` is true for a layer that reads integer token ids (an embedding); then
    ``n_inputs(module)`` is its vocabulary size, the number of input nodes.
    """

    function: Handler
    spatial: bool
    n_units: Callable[[nn.Module], int]
    tokens: bool = False
    n_inputs: Callable[[nn.Module], int] | None = None


HANDLERS: dict[type[nn.Module], LayerHandler] = {}
#: Handlers of optional packages' layers, by ``module.qualname`` of the class.
NAMED_HANDLERS: dict[str, LayerHandler] = {}


def register(
    module_type: type[nn.Module] | str,
    *,
    spatial: bool,
    n_units: Callable[[nn.Module], int],
    tokens: bool = False,
    n_inputs: Callable[[nn.Module], int] | None = None,
):
    """Register ``function`` as the handler of ``module_type`` (a decorator).

    Parameters
    ----------
    module_type : type or str
        The :class:`torch.nn.Module` subclass (subclasses are looked up through their
        method resolution order), or its qualified name ``"package.module.Class"`` for a
        layer of a package that should not be imported.
    spatial : bool
        True when the layer's nodes are channels and it reads its input per channel.
    n_units : callable
        ``n_units(module)`` gives the number of nodes (output units) of the layer.
    tokens : bool, default False
        True when the layer reads integer token ids (an embedding).
    n_inputs : callable, optional
        With ``tokens``: ``n_inputs(module)`` gives the vocabulary size.
    """
    if tokens and n_inputs is None:
        raise ValueError("a handler with tokens=True needs n_inputs (the vocabulary size of the module)")

    def decorate(function: Handler) -> Handler:
        handler = LayerHandler(function, spatial, n_units, tokens, n_inputs)
        if isinstance(module_type, str):
            NAMED_HANDLERS[module_type] = handler
        else:
            HANDLERS[module_type] = handler
        return function

    return decorate


def handler_for(module: nn.Module) -> LayerHandler | None:
    """Return the handler of ``module``'s type (or of its nearest registered base), if any.

    Examples
    --------
    >>> class MyLinear(nn.Linear):
    ...     pass
    >>> handler_for(MyLinear(2, 3)).spatial, handler_for(nn.ReLU()) is None
    (False, True)
    """
    for cls in type(module).__mro__:
        if cls in HANDLERS:
            return HANDLERS[cls]
        named = NAMED_HANDLERS.get(f"{cls.__module__}.{cls.__qualname__}")
        if named is not None:
            return named
    return None


def supported_layers() -> list[str]:
    """Names of the weighted layer types that have a handler (named ones with their package).

    Examples
    --------
    >>> supported_layers()[:3]
    ['Conv1D (transformers.pytorch_utils)', 'Conv1d', 'Conv2d']
    """
    named = [f"{name.rsplit('.', 1)[1]} ({name.rsplit('.', 1)[0]})" for name in NAMED_HANDLERS]
    return sorted({cls.__name__ for cls in HANDLERS} | set(named))


def linear_handler(n_units: int) -> LayerHandler:
    """The linear handler for a weight that is not a module's ``weight`` (``in_proj_weight``)."""
    return LayerHandler(linear_connections, False, lambda module: n_units)


def effective_weight(module: nn.Module, path: str, name: str = "weight") -> torch.Tensor:
    """The weight the module computes with, checked for NaN and inf.

    With :mod:`torch.nn.utils.prune` the forward pre-hook stores ``weight_orig * weight_mask``
    as ``weight`` only when the module runs; this function recomputes that product so that a
    mask or original changed since the last forward is honoured.

    Examples
    --------
    >>> from torch.nn.utils import prune
    >>> layer = prune.l1_unstructured(nn.Linear(4, 2), "weight", amount=0.5)
    >>> int((effective_weight(layer, "fc") != 0).sum())
    4
    """
    if hasattr(module, name + "_orig") and hasattr(module, name + "_mask"):
        weight = getattr(module, name + "_orig") * getattr(module, name + "_mask")
    else:
        weight = getattr(module, name)
    weight = weight.detach()
    if torch.isfinite(weight.sum()):  # NaN and inf propagate into the sum: no temporary mask needed
        return weight
    bad = int((~torch.isfinite(weight)).sum())
    if bad:
        raise NN2GraphError(
            f"layer '{path}' ({type(module).__name__}) has {bad} NaN or infinite weight(s) out of "
            f"{weight.numel()}: a graph needs finite weights (check the training run or the file)"
        )
    return weight


def _entries(mult: np.ndarray, wsum: np.ndarray, row_offset: int, positions: int = 1) -> ConnectionBlock:
    """COO entries of the non-zero cells of a (units x groups) multiplicity matrix."""
    target, source = np.nonzero(mult)
    return ConnectionBlock(
        source=source.astype(np.int64),
        target=target.astype(np.int64) + row_offset,
        multiplicity=mult[target, source].astype(np.int64) * positions,
        weight=wsum[target, source].astype(np.float64) * positions,
    )


def _matrix_connections(
    weight: torch.Tensor, groups: np.ndarray, n_groups: int, positions: int
) -> Iterator[ConnectionBlock]:
    """Connections of a (units x features) matrix applied at ``positions`` positions."""
    weight = weight.detach()
    n_out, n_in = weight.shape
    identity = n_groups == n_in and bool(np.array_equal(groups, np.arange(n_in)))
    order = np.argsort(groups, kind="stable")
    if np.array_equal(order, np.arange(n_in)):
        order = None  # already contiguous runs, e.g. the positions of flattened feature maps
    ordered = groups if order is None else groups[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    rows = max(1, CHUNK_ELEMENTS // max(n_in, 1))
    for start in range(0, n_out, rows):
        chunk = weight[start : start + rows].to(torch.float64).numpy()
        if identity:
            target, source = np.nonzero(chunk)
            yield ConnectionBlock(
                source=source.astype(np.int64),
                target=target.astype(np.int64) + start,
                multiplicity=np.full(len(source), positions, dtype=np.int64),
                weight=np.abs(chunk[target, source]) * positions,
            )
            continue
        if order is not None:
            chunk = chunk[:, order]
        mult = np.add.reduceat(chunk != 0, starts, axis=1, dtype=np.int64)
        wsum = np.add.reduceat(np.abs(chunk), starts, axis=1)
        yield _entries(mult, wsum, start, positions)


@register(nn.Linear, spatial=False, n_units=lambda m: m.out_features)
def linear_connections(
    module: nn.Module,
    weight: torch.Tensor,
    groups: np.ndarray,
    n_groups: int,
    in_shape: tuple[int, ...],
    out_shape: tuple[int, ...],
) -> Iterator[ConnectionBlock]:
    """Connections of a linear layer: one per non-zero weight and position.

    The edge from group g to unit j has multiplicity = P x the number of non-zero
    ``W[j, f]`` with feature f in g (a flattened feature map is one group), weight = P x
    the sum of their |w|, where P is the number of positions the layer is applied at:
    1 on ``(batch, features)``, the tokens on ``(batch, tokens, features)``, H x W on a
    channels-last map (batch of one).  Rows are processed in chunks of at most
    :data:`CHUNK_ELEMENTS` cells; the features of a group are summed with
    :func:`numpy.add.reduceat` (after sorting the columns by group when the groups are
    not contiguous runs).

    Examples
    --------
    >>> layer = nn.Linear(4, 2)
    >>> with torch.no_grad():
    ...     _ = layer.weight.copy_(torch.tensor([[1., 0., -2., 0.], [0., 3., 0., 0.]]))
    >>> block, = linear_connections(layer, layer.weight, np.array([0, 0, 1, 1]), 2, (1, 4), (1, 2))
    >>> block.source.tolist(), block.target.tolist(), block.multiplicity.tolist(), block.weight.tolist()
    ([0, 1, 0], [0, 0, 1], [1, 1, 1], [1.0, 2.0, 3.0])

    On 5 tokens every non-zero weight counts 5 connections:

    >>> block, = linear_connections(layer, layer.weight, np.array([0, 0, 1, 1]), 2, (1, 5, 4), (1, 5, 2))
    >>> block.multiplicity.tolist()
    [5, 5, 5]
    """
    yield from _matrix_connections(weight, groups, n_groups, int(np.prod(in_shape[:-1])))


def transposed_linear_connections(module, weight, groups, n_groups, in_shape, out_shape) -> Iterator[ConnectionBlock]:
    """A linear layer that stores its weight as (in_features, out_features): transformers' ``Conv1D``."""
    yield from _matrix_connections(weight.detach().T, groups, n_groups, int(np.prod(in_shape[:-1])))


register("transformers.pytorch_utils.Conv1D", spatial=False, n_units=lambda m: m.nf)(transposed_linear_connections)


@register(nn.Embedding, spatial=False, n_units=lambda m: m.embedding_dim, tokens=True, n_inputs=lambda m: m.num_embeddings)
def embedding_connections(module, weight, groups, n_groups, in_shape, out_shape) -> Iterator[ConnectionBlock]:
    """An embedding: vocabulary entry v (an input node) feeds feature d through ``E[v, d]`` at every token.

    It counts as a linear layer on one-hot token vectors: multiplicity = the number of
    token positions per non-zero entry.

    Examples
    --------
    >>> emb = nn.Embedding(3, 2)
    >>> block, = embedding_connections(emb, emb.weight, np.arange(3), 3, (1, 4), (1, 4, 2))
    >>> sorted(set(block.multiplicity.tolist())), len(block.source)
    ([4], 6)
    """
    yield from _matrix_connections(weight.detach().T, groups, n_groups, int(np.prod(in_shape)))


def _conv_padding(module: nn.Module, kernel: tuple[int, ...]) -> tuple[int, ...]:
    """Left padding per spatial dimension (``'same'`` splits like torch: the extra one goes right)."""
    if module.padding == "valid":
        return (0,) * len(kernel)
    if module.padding == "same":
        return tuple(d * (k - 1) // 2 for d, k in zip(module.dilation, kernel))
    return tuple(module.padding)


def tap_counts(n_in: int, n_out: int, kernel: int, *, stride: int, padding: int, dilation: int) -> np.ndarray:
    """For each kernel tap along one axis, how many output positions read a real input pixel.

    Output position i with tap u reads input index ``i * stride - padding + u * dilation``;
    indices outside ``[0, n_in)`` are padding and do not count.

    Examples
    --------
    A 3-tap kernel with padding 1 over 5 pixels: the border taps miss one position each.

    >>> tap_counts(5, 5, 3, stride=1, padding=1, dilation=1).tolist()
    [4, 5, 4]
    """
    position = np.arange(n_out)[None, :] * stride - padding + np.arange(kernel)[:, None] * dilation
    return ((position >= 0) & (position < n_in)).sum(axis=1).astype(np.int64)


def conv_connections(
    module: nn.Module,
    weight: torch.Tensor,
    groups: np.ndarray,
    n_groups: int,
    in_shape: tuple[int, ...],
    out_shape: tuple[int, ...],
) -> Iterator[ConnectionBlock]:
    """Connections of a convolution (any number of spatial dimensions, zero padding).

    For input channel c and output channel o the multiplicity is the sum over the
    non-zero taps of the number of output positions at which the tap reads a real input
    pixel, ``sum_taps [w != 0] * prod_d count_d[tap_d]``; the weight is
    ``sum_taps |w| * prod_d count_d[tap_d]`` (every (position, tap) connection counts its
    |w| once).  Strides, integer/tuple/``'same'``/``'valid'`` padding, dilation and groups
    are handled; the per-tap counts are separable, so no per-pixel loop is needed.

    Examples
    --------
    The MNIST CNN's first layer: 25 taps x 24 x 24 positions = 14,400 connections.

    >>> conv = nn.Conv2d(1, 2, 5)
    >>> block, = conv_connections(conv, conv.weight, np.array([0]), 1, (1, 1, 28, 28), (1, 2, 24, 24))
    >>> block.multiplicity.tolist()
    [14400, 14400]
    """
    if module.padding_mode != "zeros":
        raise UnsupportedLayerError(
            f"{type(module).__name__} with padding_mode={module.padding_mode!r} is not supported: "
            "only 'zeros' padding, whose taps on padding are not connections, has a defined count"
        )
    kernel = tuple(weight.shape[2:])
    counts = [
        tap_counts(n_in, n_out, k, stride=s, padding=p, dilation=d)
        for n_in, n_out, k, s, p, d in zip(
            in_shape[2:], out_shape[2:], kernel, module.stride, _conv_padding(module, kernel), module.dilation
        )
    ]
    per_tap = torch.from_numpy(functools.reduce(np.multiply.outer, counts).reshape(-1).astype(np.float64))
    n_out_channels, per_group = weight.shape[:2]
    flat = weight.detach().to(torch.float64).reshape(n_out_channels, per_group, -1)
    mult = ((flat != 0).to(torch.float64) @ per_tap).numpy().round().astype(np.int64)  # (out channel, channel in group)
    wsum = (flat.abs() @ per_tap).numpy()
    # Input channel read by (o, i): the i-th channel of o's group; its source group:
    out_per_group = n_out_channels // module.groups
    channel = (np.arange(n_out_channels) // out_per_group)[:, None] * per_group + np.arange(per_group)[None, :]
    source = np.asarray(groups, dtype=np.int64)[channel]
    key = (np.arange(n_out_channels, dtype=np.int64)[:, None] * n_groups + source).ravel()
    real = mult.ravel() > 0
    key, mult, wsum = key[real], mult.ravel()[real], wsum.ravel()[real]
    if len(key) > 1 and not np.all(key[1:] > key[:-1]):  # two channels of one group: sum them
        key, inverse = np.unique(key, return_inverse=True)
        mult = np.bincount(inverse, weights=mult).round().astype(np.int64)
        wsum = np.bincount(inverse, weights=wsum)
    # A batch dimension above 1 holds positions folded into it (the trace runs one sample).
    positions = int(in_shape[0])
    yield ConnectionBlock(source=key % n_groups, target=key // n_groups, multiplicity=mult * positions,
                          weight=wsum * positions)


register(nn.Conv1d, spatial=True, n_units=lambda m: m.out_channels)(conv_connections)
register(nn.Conv2d, spatial=True, n_units=lambda m: m.out_channels)(conv_connections)
register(nn.Conv3d, spatial=True, n_units=lambda m: m.out_channels)(conv_connections)
