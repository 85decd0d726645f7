"""The tracing rules: how each torch operation maps the traced features of its inputs to its output.

:func:`dispatch` looks an operation up in the tables of :mod:`nn2graph.operations` and
applies its rule (docs/graph.md): feature moves (permute, view, slicing, concatenation,
...) are applied to the feature codes themselves; elementwise operations of several traced
tensors merge them; reductions and contractions (attention) take the union over the
reduced dimensions; normalisations pass through; a multiplication by a tensor that
depends on no node is a gate whose zeros remove features.  Anything else is refused,
naming the operation, the module path and type.  Functional forms of the weighted layers
(``F.linear``, ``F.conv2d``, ``F.embedding``, ``F.multi_head_attention_forward``) are
handed back to the recorder's :meth:`~nn2graph.trace_recorder.Recorder.weighted`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils._pytree import tree_flatten, tree_map

from nn2graph import operations as ops
from nn2graph.features import Sources, Tracked, combine, compact, gate, reduce_dims
from nn2graph.handlers import handler_for, linear_handler

if TYPE_CHECKING:
    from nn2graph.trace_recorder import Recorder

__all__ = ["attention", "dispatch", "norm_gate"]


def dispatch(trace: Recorder, func, args, kwargs, result) -> None:
    """Apply the rule of ``func`` (called with ``args`` and ``kwargs``, giving ``result``).

    The recorder calls this for every operation of a traced tensor outside the weighted
    layers; the rule records the traced features of ``result`` with ``trace.put``.

    Parameters
    ----------
    trace : Recorder
        The running recorder: its traced tensors (``get``/``put``), its messages
        (``refuse``) and its weighted layers (``weighted``).
    func : callable
        The torch function or tensor method.
    args, kwargs
        Its arguments, as the model passed them.
    result
        What ``func`` returned.

    Raises
    ------
    nn2graph.handlers.UnsupportedLayerError
        For an operation without a rule, naming it, the module path and type, and the
        supported operations.
    """
    attribute = ops.attribute(func)
    if attribute is not None:
        if attribute in ops.SHAPE_ATTRIBUTES:
            return _shape_op(trace, func, args, kwargs, result)
        if attribute in ops.PASS_ATTRIBUTES:
            return trace.put(result, trace.get(args[0]))
        if attribute in ("grad", "real", "imag"):
            return None
        raise trace.refuse(f"tensor attribute '{attribute}'")
    if func in (F.linear, torch.conv1d, torch.conv2d, torch.conv3d, F.embedding):
        return _functional_layer(trace, func, args, kwargs, result)
    if func in ops.NO_NODES:
        return None
    tokens = [trace.get(a) for a in tree_flatten((args, kwargs))[0] if trace.get(a) is not None and trace.get(a).tokens]
    if tokens and func not in ops.SHAPE:
        raise trace.refuse(f"operation '{ops.name(func)}' on the input token ids",
                           "token ids are read by an embedding; only shape operations may come before it")
    if func in ops.SHAPE:
        return _shape_op(trace, func, args, kwargs, result)
    if func in ops.UNARY:
        return _unary(trace, func, args, kwargs, result)
    if func in ops.BINARY:
        return _binary(trace, func, args, kwargs, result)
    if func in ops.MASK_FILL:
        return _mask_fill(trace, func, args, kwargs, result)
    if func in ops.NORMS:
        return _norm(trace, func, args, kwargs, result)
    if func in ops.SPATIAL_POOLING:
        return _pooling(trace, func, args, result)
    if func in ops.REDUCTIONS:
        return _reduction(trace, func, args, kwargs, result)
    if func in ops.MATMUL:
        a, b = args[:2] if func is not torch.Tensor.__rmatmul__ else (args[1], args[0])
        if a.ndim < 2 or b.ndim < 2:
            raise trace.refuse(f"operation '{ops.name(func)}' on a 1-D operand")
        return trace.put(result, _contract(trace, "...ij,...jk->...ik", [a, b], result, ops.name(func)))
    if func is torch.einsum:
        equation, operands = args[0], args[1:]
        if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
            operands = operands[0]
        return trace.put(result, _contract(trace, equation, list(operands), result, "einsum"))
    if func is F.glu:
        return _glu(trace, args, kwargs, result)
    if func is F.scaled_dot_product_attention:
        return _sdpa(trace, args, kwargs, result)
    if func is F.multi_head_attention_forward:
        return _mha(trace, args, kwargs, result)
    raise trace.refuse(f"operation '{ops.name(func)}'")


def _unary(trace: Recorder, func, args, kwargs, result):
    outputs = result if isinstance(result, (tuple, list)) else (result,)
    tracked = [trace.get(a) for a in tree_flatten((args, kwargs))[0] if trace.get(a) is not None]
    trace.put(outputs[0], combine(tracked, outputs[0].ndim))


def _binary(trace: Recorder, func, args, kwargs, result):
    operands = [a for a in (*args[:2], *kwargs.values()) if isinstance(a, torch.Tensor)]
    tracked = [trace.get(a) for a in operands if trace.get(a) is not None]
    out = combine(tracked, result.ndim)
    if func in ops.MULTIPLY:
        for a in operands:
            if trace.get(a) is None:  # a gate: parameter, buffer or constant
                out = gate(out, a.detach().cpu().numpy(), result.ndim)
    trace.put(result, out)


def _mask_fill(trace: Recorder, func, args, kwargs, result):
    name = ops.name(func).rstrip("_")
    if name == "where":
        condition = args[0] if args else kwargs["condition"]
        if trace.get(condition) is not None:
            raise trace.refuse("operation 'where' with a condition computed from traced features",
                               "a data-dependent selection is no connection; compute the condition from constants")
        values = [*args[1:3], *(kwargs[k] for k in ("input", "other") if k in kwargs)]
        parts = [trace.get(v) for v in values if trace.get(v) is not None]
        sources, offsets = Sources.concatenate([p.sources for p in parts])
        shifted, offsets = [], iter(offsets)
        for value in values:
            t = trace.get(value)
            if t is None:
                shifted.append(np.zeros((1,) * result.ndim, dtype=np.int64))
            else:
                o = next(offsets)
                shifted.append(np.where(t.aligned(result.ndim) > 0, t.aligned(result.ndim) + o, 0))
        chosen = np.where(condition.cpu().numpy().astype(bool), *np.broadcast_arrays(*shifted))
        return trace.put(result, Tracked(compact(np.broadcast_to(chosen, result.shape)), sources))
    x, mask = args[0], args[1] if len(args) > 1 else kwargs["mask"]
    if trace.get(mask) is not None or trace.get(x) is None:
        raise trace.refuse("operation 'masked_fill' with a mask computed from traced features")
    trace.put(result, gate(combine([trace.get(x)], result.ndim), ~mask.cpu().numpy().astype(bool), result.ndim))


def _norm(trace: Recorder, func, args, kwargs, result):
    where, position = ops.NORMS[func]
    tracked = trace.get(args[0])
    others = [a for a in tree_flatten((args[1:], kwargs))[0] if trace.get(a) is not None]
    if tracked is None or others:
        raise trace.refuse(f"operation '{ops.name(func)}' with traced statistics or weights")
    weight = kwargs.get("weight")
    if weight is None and position is not None and len(args) > position:
        weight = args[position]
    trace.put(result, norm_gate(trace, combine([tracked], result.ndim), weight, where, result))


def norm_gate(trace: Recorder, tracked: Tracked, weight, where, result) -> Tracked:
    """A normalisation's features, with the features its zero weights remove gated off.

    Parameters
    ----------
    trace : Recorder
        The running recorder (for its refusal messages).
    tracked : Tracked
        The normalisation's input features.
    weight : torch.Tensor or None
        The normalisation's weight (None or a non-tensor: nothing is gated).
    where : {"channel", "trailing"} or None
        Whether the weight is per channel (dimension 1) or over the trailing dimensions.
    result : torch.Tensor
        The normalisation's output.
    """
    if not isinstance(weight, torch.Tensor) or where is None:
        return tracked
    w = weight.detach().cpu().numpy()
    if where == "channel":
        w = w.reshape((1, -1) + (1,) * (result.ndim - 2))
    elif tuple(result.shape[result.ndim - w.ndim:]) != w.shape:
        if (w == 0).any():
            raise trace.refuse(f"normalisation weight of shape {w.shape} on an output of shape {tuple(result.shape)}",
                               "its zero entries cannot be placed on features")
        return tracked
    return gate(tracked, w, result.ndim)


def _pooling(trace: Recorder, func, args, result):
    tracked = trace.get(args[0])
    outputs = result if isinstance(result, (tuple, list)) else (result,)
    codes = tracked.aligned(args[0].ndim)
    if any(n > 1 for n in codes.shape[2:]) or codes.ndim < 3 and trace.mode == "elements":
        raise trace.refuse(
            f"operation '{ops.name(func)}' mixing positions that carry different nodes (input pixels are the "
            "nodes of a model whose first weighted layer is linear)",
            "pooling is followed over positions of channel nodes only",
        )
    trace.put(outputs[0], Tracked(codes, tracked.sources))


def _reduction(trace: Recorder, func, args, kwargs, result):
    x = args[0]
    if len(args) > 1 and isinstance(args[1], torch.Tensor) or isinstance(kwargs.get("other"), torch.Tensor):
        return _binary(trace, func, args, kwargs, result)  # torch.max(a, b): elementwise
    if ops.name(func) == "norm":
        dims = kwargs.get("dim", args[2] if len(args) > 2 else None)
    else:
        dims = kwargs.get("dim", kwargs.get("axis", args[1] if len(args) > 1 else None))
    dims = list(range(x.ndim)) if dims is None else [dims] if isinstance(dims, int) else list(dims)
    outputs = [t for t in tree_flatten(result)[0] if isinstance(t, torch.Tensor)]
    keepdim = outputs[0].ndim == x.ndim and x.ndim > 0
    trace.put(outputs[0], reduce_dims(trace.get(x), dims, x.ndim, keepdim=keepdim))  # max/min indices: no nodes


def _shape_op(trace: Recorder, func, args, kwargs, result):
    """Apply the operation to the feature codes themselves (as float64, exact below 2**53)."""
    parts, tensors = [], []
    def collect(value):
        tracked = trace.get(value)
        if tracked is not None:
            parts.append(tracked)
            tensors.append(value)
        return value
    tree_map(collect, (args, kwargs))
    sources, offsets = Sources.concatenate([p.sources for p in parts]) if len(parts) > 1 else (parts[0].sources, [0])
    offset = {id(t): o for t, o in zip(tensors, offsets)}
    by_id = {id(t): p for t, p in zip(tensors, parts)}
    name = ops.name(func)
    data_args = name in ("cat", "concat", "concatenate", "stack")

    def substitute(value, data=False):
        if isinstance(value, torch.Tensor):
            tracked = by_id.get(id(value))
            if tracked is not None:
                codes = np.where(tracked.codes > 0, tracked.codes + offset[id(value)], 0)
                full = np.broadcast_to(codes.reshape((1,) * (value.ndim - codes.ndim) + codes.shape), value.shape)
                return torch.from_numpy(np.ascontiguousarray(full, dtype=np.float64))
            if data:
                return torch.zeros(value.shape, dtype=torch.float64)
        return value

    new_args = list(args)
    if data_args:
        new_args[0] = [substitute(t, data=True) for t in args[0]]
        new_args[1:] = [substitute(a) for a in args[1:]]
    elif func is torch.Tensor.__setitem__:
        new_args = [substitute(args[0], data=True), args[1], substitute(args[2], data=True)]
        if trace.get(args[1]) is not None:
            raise trace.refuse("indexing with traced indices")
    else:
        if any(trace.get(a) is not None for a in tree_flatten(args[1:])[0]) and name not in ("expand_as", "view_as", "reshape_as", "type_as"):
            raise trace.refuse(f"operation '{name}' indexed by traced values")
        new_args = [substitute(args[0])] + [a if name not in ("expand_as", "view_as", "reshape_as") else torch.empty(a.shape) for a in args[1:]]
    new_kwargs = {k: (0.0 if k == "value" and name == "pad" else substitute(v)) for k, v in kwargs.items()}
    if name == "pad" and len(new_args) > 3:
        new_args[3] = 0.0
    coded = func(*new_args, **new_kwargs)
    if func is torch.Tensor.__setitem__:
        target = new_args[0]
        return trace.put(args[0], Tracked(compact(target.numpy().astype(np.int64)), sources))
    real = [t for t in tree_flatten(result)[0] if isinstance(t, torch.Tensor)]
    coded = [t for t in tree_flatten(coded)[0] if isinstance(t, torch.Tensor)]
    tokens = any(p.tokens for p in parts)
    for r, c in zip(real, coded):
        trace.put(r, Tracked(compact(c.numpy().astype(np.int64)), sources, tokens))


def _contract(trace: Recorder, equation: str, operands: list, result: torch.Tensor, name: str) -> Tracked:
    """einsum-style contraction: each operand is reduced over its contracted indices, then all are combined."""
    equation = equation.replace(" ", "")
    if "->" not in equation:
        raise trace.refuse(f"operation '{name}' without an explicit output ('->')")
    inputs, output = equation.split("->")
    out = _subscripts(output, result.ndim)
    tracked = []
    for subscripts, operand in zip(inputs.split(","), operands):
        t = trace.get(operand)
        if t is None:
            learned = trace.learned.get(id(operand))
            raise trace.refuse(
                f"operation '{name}' multiplying traced features by "
                + (f"parameter '{learned}'" if learned else "a tensor that depends on no node"),
                "a weight matrix needs a layer with a handler: use nn.Linear (or register one with "
                "nn2graph.handlers.register)",
            )
        letters = _subscripts(subscripts, operand.ndim)
        if len(set(letters)) != len(letters) or operand.ndim < 2 and name != "einsum":
            raise trace.refuse(f"operation '{name}' on a {operand.ndim}-D operand ({subscripts})")
        reduced = reduce_dims(t, [d for d, x in enumerate(letters) if x not in out], len(letters), keepdim=False)
        kept = [x for x in letters if x in out]
        order = sorted(range(len(kept)), key=lambda i: out.index(kept[i]))
        codes = np.transpose(reduced.aligned(len(kept)), order)
        shape = [1] * len(out)
        for i, n in zip(order, codes.shape):
            shape[out.index(kept[i])] = n
        tracked.append(Tracked(codes.reshape(shape), reduced.sources))
    return combine(tracked, result.ndim)


def _glu(trace: Recorder, args, kwargs, result):
    """F.glu: the two halves of the feature axis multiplied, feature by feature."""
    x = args[0]
    dim = (args[1] if len(args) > 1 else kwargs.get("dim", -1)) % x.ndim
    codes = trace.get(x).aligned(x.ndim)
    if codes.shape[dim] == 1:
        return trace.put(result, combine([trace.get(x)], result.ndim))
    first, second = np.split(codes, 2, axis=dim)
    sources = trace.get(x).sources
    trace.put(result, combine([Tracked(first, sources), Tracked(second, sources)], result.ndim))


def _sdpa(trace: Recorder, args, kwargs, result):
    names = ["query", "key", "value", "attn_mask", "dropout_p", "is_causal", "scale", "enable_gqa"]
    bound = dict(zip(names, args)) | kwargs
    q, k, v = bound["query"], bound["key"], bound["value"]
    if any(trace.get(t) is None for t in (q, k, v)):
        raise trace.refuse("scaled_dot_product_attention with a query, key or value that depends on no node")
    if trace.get(bound.get("attn_mask")) is not None:
        raise trace.refuse("scaled_dot_product_attention with a mask computed from traced features")
    key, value = trace.get(k), trace.get(v)
    if q.ndim >= 3 and k.shape[-3] != q.shape[-3]:  # grouped-query attention: key/value heads repeat
        repeat = q.shape[-3] // k.shape[-3]
        key = Tracked(np.repeat(key.aligned(k.ndim), repeat, axis=-3) if key.aligned(k.ndim).shape[-3] > 1 else key.aligned(k.ndim), key.sources)
        value = Tracked(np.repeat(value.aligned(v.ndim), repeat, axis=-3) if value.aligned(v.ndim).shape[-3] > 1 else value.aligned(v.ndim), value.sources)
    trace.put(result, attention(trace.get(q), key, value, result.ndim))


def _mha(trace: Recorder, args, kwargs, result):
    names = ["query", "key", "value", "embed_dim_to_check", "num_heads", "in_proj_weight", "in_proj_bias",
             "bias_k", "bias_v", "add_zero_attn", "dropout_p", "out_proj_weight", "out_proj_bias", "training",
             "key_padding_mask", "need_weights", "attn_mask", "use_separate_proj_weight"]  # fmt: skip
    bound = dict(zip(names, args)) | kwargs
    query = bound["query"]
    if bound.get("use_separate_proj_weight") or bound.get("bias_k") is not None or bound.get("add_zero_attn"):
        raise trace.refuse("multi_head_attention_forward with separate q/k/v weights, bias_k/bias_v or add_zero_attn")
    if not (query is bound["key"] is bound["value"]) and not (
        trace.get(query) is trace.get(bound["key"]) is trace.get(bound["value"])
    ):
        raise trace.refuse("multi_head_attention_forward with different query, key and value inputs",
                           "nn2graph follows self-attention (one input)")
    in_entry = trace.weights.get(id(bound["in_proj_weight"]))
    out_entry = trace.weights.get(id(bound["out_proj_weight"]))
    if in_entry is None or out_entry is None:
        raise trace.refuse("multi_head_attention_forward with weights that belong to no nn.MultiheadAttention")
    mha = in_entry[1]
    embed, heads = int(bound["embed_dim_to_check"]), int(bound["num_heads"])
    if query.ndim != 3:
        raise trace.refuse(f"multi_head_attention_forward on an unbatched {query.ndim}-D input")
    length, batch = query.shape[:2]
    proj = torch.empty(length, batch, 3 * embed)
    trace.weighted(in_entry[0], mha, linear_handler(3 * embed), query, proj, weight_name="in_proj_weight")
    qkv = trace.get(proj)
    if qkv is None:
        return None
    codes = np.broadcast_to(qkv.aligned(3), proj.shape).reshape(length, batch, 3, heads, embed // heads)
    q, k, v = (Tracked(compact(codes[:, :, i]), qkv.sources) for i in range(3))
    # (L, N, heads, d) -> (N, heads, L, d): attention over the L positions of each head
    out = _move(attention(_move(q, 0, -2), _move(k, 0, -2), _move(v, 0, -2), 4), -2, 0)
    full = np.broadcast_to(out.aligned(4), (length, batch, heads, embed // heads)).reshape(length, batch, embed)
    attended = torch.empty(length, batch, embed)
    trace.put(attended, Tracked(compact(full), out.sources))
    output = result[0] if isinstance(result, (tuple, list)) else result
    path, out_module, _ = out_entry
    trace.weighted(path, out_module, handler_for(out_module), attended, output)


def _functional_layer(trace: Recorder, func, args, kwargs, result):
    x = args[0] if args else kwargs.get("input")
    weight = args[1] if len(args) > 1 else kwargs.get("weight")
    if trace.get(weight) is not None:
        raise trace.refuse(f"operation '{ops.name(func)}' with a weight computed from traced features")
    entry = trace.weights.get(id(weight))
    if entry is None:
        learned = trace.learned.get(id(weight))
        raise trace.refuse(
            f"operation '{ops.name(func)}' with "
            + (f"parameter '{learned}'" if learned else "a weight tensor") + " that belongs to no layer with a handler",
            "call the layer module (nn.Linear, nn.Conv2d, ...), or register a handler for the module that "
            "owns the weight (nn2graph.handlers.register)",
        )
    path, module, name = entry
    trace.weighted(path, module, handler_for(module), x, result, weight_name=name)


def _subscripts(subscripts: str, ndim: int) -> list[str]:
    """einsum letters of each dimension; the ellipsis' dimensions are named by their distance from its end."""
    if "..." not in subscripts:
        return list(subscripts)
    head, tail = subscripts.split("...")
    k = ndim - len(head) - len(tail)
    return list(head) + [f".{k - i}" for i in range(k)] + list(tail)


def _move(tracked: Tracked, source: int, destination: int) -> Tracked:
    return Tracked(np.moveaxis(tracked.codes, source, destination), tracked.sources)


def attention(q: Tracked, k: Tracked, v: Tracked, ndim: int) -> Tracked:
    """softmax(q k^T) v over (..., positions, features): the attention rule of docs/graph.md.

    The scores contract q and k over the features of a head; the output feature (head h,
    feature d) then depends on every q and k feature of head h and on v's feature d.

    Examples
    --------
    Two positions of two features; q reads nodes 0 and 1, k nodes 2 and 3, v nodes 4 and 5:

    >>> feat = lambda nodes: Tracked(np.array([[1, 2]]), Sources.identity(np.array(nodes)))
    >>> out = attention(feat([0, 1]), feat([2, 3]), feat([4, 5]), 2)
    >>> [out.sources.node[out.sources.index == f].tolist() for f in range(out.sources.length)]
    [[0, 1, 2, 3, 4], [0, 1, 2, 3, 5]]
    """
    keys = reduce_dims(k, [-1], ndim, keepdim=True)
    scores = combine([reduce_dims(q, [-1], ndim, keepdim=True), Tracked(np.swapaxes(keys.aligned(ndim), -1, -2), keys.sources)], ndim)
    probs = reduce_dims(scores, [-1], ndim, keepdim=True)  # (..., L, 1)
    values = reduce_dims(v, [-2], ndim, keepdim=True)  # (..., 1, d)
    return combine([probs, values], ndim)

