"""Trace a model eagerly: its weighted layers, in execution order, and which nodes feed each.

The model runs once (batch of one, ``torch.no_grad``, eval mode) under a
:class:`torch.overrides.TorchFunctionMode` that sees every torch function and tensor
method called outside the weighted layers, and forward hooks that see the weighted
layers (modules with a handler, :mod:`nn2graph.handlers`).  Every tensor that depends
on the input carries a :class:`~nn2graph.features.Tracked`: which graph nodes each of
its features depends on.  The rules (docs/graph.md) are the operation tables below:
feature moves (permute, view, slicing, concatenation, ...) are applied to the feature
codes themselves; elementwise operations of several traced tensors merge them;
reductions and contractions (attention) take the union over the reduced dimensions;
normalisations pass through; a multiplication by a tensor that depends on no node is a
gate whose zeros remove features.  Anything else is refused, naming the operation, the
module path and type.  Nothing of the model is changed: hooks are removed and the
training flags restored, whether the trace succeeds or not.
"""

from __future__ import annotations

import contextlib
import weakref
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten, tree_map

from nn2graph.exceptions import NN2GraphError
from nn2graph import operations as ops
from nn2graph.features import Sources, Tracked, combine, compact, gate, reduce_dims
from nn2graph.handlers import LayerHandler, UnsupportedLayerError, handler_for, linear_handler, supported_layers

__all__ = [
    "InputShapeError",
    "LayerCall",
        "TracedModel",
    "TracingError",
    "trace_layers",
]


class TracingError(NN2GraphError, RuntimeError):
    """The model cannot be run for tracing (a TorchScript module, a forward that needs other arguments)."""


class InputShapeError(NN2GraphError, ValueError):
    """The input shape does not fit the model."""


class _Restart(Exception):
    """The input's nodes are not its channels: trace again with other input nodes."""


@dataclass
class LayerCall:
    """One weighted layer: its module, nodes, and the inputs of all its calls.

    ``inputs`` holds one :class:`~nn2graph.features.Sources` per call, over the layer's
    input features (the channels of a convolution, the last axis of a linear layer, the
    vocabulary of an embedding).  ``weight_name`` is the module attribute holding the
    weight (``in_proj_weight`` for the input projection of ``nn.MultiheadAttention``).
    """

    path: str
    module: nn.Module
    handler: LayerHandler
    first_node: int
    n_units: int
    in_shape: tuple[int, ...] = ()
    out_shape: tuple[int, ...] = ()
    inputs: list[Sources] = field(default_factory=list)
    weight_name: str = "weight"


@dataclass(frozen=True)
class TracedModel:
    """The result of :func:`trace_layers`: input nodes and the weighted layers in order."""

    n_input: int
    layers: list[LayerCall]


# --- the tracer --------------------------------------------------------------------------------

class _Trace(TorchFunctionMode):
    """Carry :class:`Tracked` from tensor to tensor while the model runs."""

    def __init__(self, model: nn.Module, mode: str, n_input: int):
        super().__init__()
        self.model = model
        self.mode = mode  # "channels", "elements", "features" or "tokens"
        self.n_input = n_input
        self.next_node = n_input
        self.layers: dict[str, LayerCall] = {}
        self.env: dict[int, tuple[weakref.ref, Tracked]] = {}
        self.stack: list[tuple[str, nn.Module, tuple]] = []
        self.leaf = 0
        self.learned = {id(t): name for name, t in (*model.named_parameters(remove_duplicate=False),
                                                     *model.named_buffers(remove_duplicate=False))}
        self.weights: dict[int, tuple[str, nn.Module, str]] = {}
        self.paths: dict[nn.Module, str] = {}
        for path, module in model.named_modules():
            self.paths.setdefault(module, path)
        for module, path in self.paths.items():
            self._map_weights(module, path)
        self.first_kinds: set[str] = set()
        self.failure: tuple | None = None
        self.refusal: NN2GraphError | None = None

    # environment ---------------------------------------------------------------------------
    def get(self, tensor) -> Tracked | None:
        if not isinstance(tensor, torch.Tensor):
            return None
        entry = self.env.get(id(tensor))
        return entry[1] if entry is not None and entry[0]() is tensor else None

    def put(self, tensor: torch.Tensor, tracked: Tracked | None) -> None:
        key = id(tensor)
        if tracked is None or not (tracked.codes > 0).any():
            self.env.pop(key, None)
            return
        env = self.env

        def forget(ref, key=key):
            if key in env and env[key][0] is ref:
                del env[key]

        env[key] = (weakref.ref(tensor, forget), tracked)

    def _map_weights(self, module: nn.Module, path: str) -> None:
        handler = handler_for(module)
        if handler is not None and isinstance(getattr(module, "weight", None), torch.Tensor):
            self.weights[id(module.weight)] = (path, module, "weight")
        if isinstance(module, nn.MultiheadAttention) and module.in_proj_weight is not None:
            self.weights[id(module.in_proj_weight)] = (f"{path}.in_proj" if path else "in_proj", module, "in_proj_weight")

    # messages ------------------------------------------------------------------------------
    def where(self) -> str:
        if not self.stack:
            return f"the forward of {type(self.model).__name__}"
        path, module, _ = self.stack[-1]
        return f"module '{path or '(the model)'}' ({type(module).__name__})"

    def refuse(self, what: str, fix: str = "") -> UnsupportedLayerError:
        fix = fix or (
            "Use supported operations (docs/graph.md lists them: " + ops.SUPPORTED_OPERATIONS + "), "
            "or make the weights a layer with a handler (nn2graph.handlers.register; weighted layers: "
            + ", ".join(supported_layers()) + ")"
        )
        return UnsupportedLayerError(f"{what} in {self.where()} is not supported: {fix}")

    def refuse_layer(self, what: str, fix: str) -> UnsupportedLayerError:
        return UnsupportedLayerError(f"{what}: {fix}")

    # hooks ---------------------------------------------------------------------------------
    def pre_hook(self, module, args, kwargs):
        path = self.paths.get(module, "?")
        shapes = tuple(tuple(a.shape) for a in args if isinstance(a, torch.Tensor))
        self.stack.append((path, module, shapes))
        self._map_weights(module, path)  # a pruning hook has just recomputed module.weight
        if self.leaf:
            self.leaf += 1
        elif handler_for(module) is not None or ops.NORM_MODULE_NAME.search(type(module).__name__) and not isinstance(
            module, ops.TORCH_NORMS
        ):
            self.leaf = 1

    def post_hook(self, module, args, kwargs, output):
        path, _, _ = self.stack.pop()
        if not self.leaf:
            return None
        if output is None:  # the forward raised (hooks registered with always_call run anyway)
            self.leaf -= 1
            return None
        self.leaf -= 1
        if self.leaf or not isinstance(output, torch.Tensor):
            if not self.leaf and not isinstance(output, torch.Tensor):
                inputs = [a for a in (*args, *kwargs.values()) if self.get(a) is not None]
                if inputs:
                    raise self.refuse(f"layer output of type {type(output).__name__}",
                                      "nn2graph follows weighted layers that return one tensor")
            return None
        inputs = [a for a in (*args, *kwargs.values()) if isinstance(a, torch.Tensor)]
        if not inputs:
            return None
        handler = handler_for(module)
        self.stack.append((path, module, ()))
        try:
            if handler is None:  # a normalisation module: pass-through, its zero weights gate
                tracked = self.get(inputs[0])
                if tracked is not None:
                    tracked = self._norm_gate(combine([tracked], output.ndim), getattr(module, "weight", None), "trailing", output)
                self.put(output, tracked)
            else:
                self.weighted(path, module, handler, inputs[0], output)
        finally:
            self.stack.pop()
        return None

    # weighted layers ----------------------------------------------------------------------
    def weighted(self, path, module, handler: LayerHandler, x: torch.Tensor, out: torch.Tensor, weight_name="weight"):
        tracked = self.get(x)
        if tracked is None:
            return  # the layer reads only constants: its output is a learned constant, no nodes
        in_shape, out_shape = tuple(x.shape), tuple(out.shape)
        what = f"layer '{path}' ({type(module).__name__})"
        if handler.tokens:
            if not tracked.tokens:
                raise self.refuse_layer(f"{what} reads features, not the input token ids",
                                  "an embedding is followed when it looks up the model's input token ids")
            n_in = handler.n_inputs(module)
            if self.mode != "tokens" or self.n_input not in (0, n_in):
                raise self.refuse_layer(f"{what} with {n_in} entries reads token ids that another embedding of "
                                  f"{self.n_input} entries reads", "one vocabulary per model input")
            if self.n_input == 0:
                self.n_input = self.next_node = n_in
            sources = Sources.identity(np.arange(n_in))
            axis_out = -1
        else:
            if tracked.tokens:
                raise self.refuse_layer(f"{what} reads the integer token ids",
                                  "token ids are read by an embedding (nn.Embedding)")
            axis = 1 if handler.spatial else len(in_shape) - 1
            if self.mode != "tokens" and (tracked.sources.node < self.n_input).any():
                self.first_kinds.add("convolution" if handler.spatial else "linear" if len(in_shape) == 2 else "positions")
                if self.mode == "channels" and "positions" in self.first_kinds:
                    raise _Restart  # a linear layer reads the input per position: its nodes are the last dimension
            codes = tracked.aligned(len(in_shape))
            spread = [d for d in range(len(in_shape)) if d != axis and codes.shape[d] > 1]
            if spread or len(in_shape) < 2:
                raise self.refuse_layer(
                    f"{what} reads an input of shape {in_shape} whose features lie along dimension(s) "
                    f"{sorted([axis % len(in_shape), *spread])}",
                    f"{'a convolution reads its features along dimension 1' if handler.spatial else 'a linear layer reads its features along the last dimension'}"
                    "; permute or reshape the input so that every position carries the same features",
                )
            line = np.broadcast_to(codes.reshape(-1) if codes.shape[axis] > 1 else codes.reshape(1), (in_shape[axis],))
            sources = tracked.sources.take(line - 1)
            axis_out = 1 if handler.spatial else -1
        call = self.layers.get(path)
        if call is None:
            n_units = handler.n_units(module)
            call = LayerCall(path, module, handler, self.next_node, n_units, in_shape, out_shape, weight_name=weight_name)
            self.next_node += n_units
            self.layers[path] = call
        elif (call.in_shape, call.out_shape) != (in_shape, out_shape):
            raise self.refuse_layer(f"{what} is called with inputs of shapes {call.in_shape} and {in_shape}",
                              "a layer called several times must see one input shape")
        if sources.length and ((sources.node >= call.first_node) & (sources.node < call.first_node + call.n_units)).any():
            raise self.refuse_layer(f"{what} is fed by its own output",
                              "weight sharing across depths (a recurrent loop) has no layered graph")
        if out_shape[axis_out] != call.n_units:
            raise self.refuse_layer(f"{what} produces shape {out_shape} for {call.n_units} units",
                              "the handler's n_units must be the size of the output's feature axis")
        call.inputs.append(sources)
        units = np.arange(call.n_units)
        codes = (units + 1).reshape([-1 if d == axis_out % len(out_shape) else 1 for d in range(len(out_shape))])
        self.put(out, Tracked(codes, Sources.identity(units + call.first_node)))

    # the mode ------------------------------------------------------------------------------
    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        try:
            result = func(*args, **kwargs)
        except (NN2GraphError, _Restart):
            raise
        except Exception:
            if self.failure is None:
                shapes = [tuple(a.shape) for a in tree_flatten((args, kwargs))[0] if isinstance(a, torch.Tensor)]
                self.failure = (ops.name(func), shapes, self.where(), list(self.stack))
            raise
        if self.leaf:
            return result
        inputs = [a for a in tree_flatten((args, kwargs))[0] if isinstance(a, torch.Tensor)]
        if not any(self.get(a) is not None for a in inputs):
            return result
        outputs = [t for t in tree_flatten(result)[0] if isinstance(t, torch.Tensor)]
        if not outputs and func is not torch.Tensor.__setitem__:
            return result
        try:
            self.dispatch(func, args, kwargs, result)
        except NN2GraphError as refusal:  # torch turns a TypeError of an operator into NotImplemented
            self.refusal = refusal
            raise
        return result

    def dispatch(self, func, args, kwargs, result):
        attribute = ops.attribute(func)
        if attribute is not None:
            if attribute in ops.SHAPE_ATTRIBUTES:
                return self.shape_op(func, args, kwargs, result)
            if attribute in ops.PASS_ATTRIBUTES:
                return self.put(result, self.get(args[0]))
            if attribute in ("grad", "real", "imag"):
                return None
            raise self.refuse(f"tensor attribute '{attribute}'")
        if func in (F.linear, torch.conv1d, torch.conv2d, torch.conv3d, F.embedding):
            return self.functional_layer(func, args, kwargs, result)
        if func in ops.NO_NODES:
            return None
        tokens = [self.get(a) for a in tree_flatten((args, kwargs))[0] if self.get(a) is not None and self.get(a).tokens]
        if tokens and func not in ops.SHAPE:
            raise self.refuse(f"operation '{ops.name(func)}' on the input token ids",
                              "token ids are read by an embedding; only shape operations may come before it")
        if func in ops.SHAPE:
            return self.shape_op(func, args, kwargs, result)
        if func in ops.UNARY:
            return self.unary(func, args, kwargs, result)
        if func in ops.BINARY:
            return self.binary(func, args, kwargs, result)
        if func in ops.MASK_FILL:
            return self.mask_fill(func, args, kwargs, result)
        if func in ops.NORMS:
            return self.norm(func, args, kwargs, result)
        if func in ops.SPATIAL_POOLING:
            return self.pooling(func, args, result)
        if func in ops.REDUCTIONS:
            return self.reduction(func, args, kwargs, result)
        if func in ops.MATMUL:
            a, b = args[:2] if func is not torch.Tensor.__rmatmul__ else (args[1], args[0])
            if a.ndim < 2 or b.ndim < 2:
                raise self.refuse(f"operation '{ops.name(func)}' on a 1-D operand")
            return self.put(result, self.contract("...ij,...jk->...ik", [a, b], result, ops.name(func)))
        if func is torch.einsum:
            equation, operands = args[0], args[1:]
            if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
                operands = operands[0]
            return self.put(result, self.contract(equation, list(operands), result, "einsum"))
        if func is F.glu:
            return self.glu(args, kwargs, result)
        if func is F.scaled_dot_product_attention:
            return self.sdpa(args, kwargs, result)
        if func is F.multi_head_attention_forward:
            return self.mha(args, kwargs, result)
        raise self.refuse(f"operation '{ops.name(func)}'")

    # rules ---------------------------------------------------------------------------------
    def unary(self, func, args, kwargs, result):
        outputs = result if isinstance(result, (tuple, list)) else (result,)
        tracked = [self.get(a) for a in tree_flatten((args, kwargs))[0] if self.get(a) is not None]
        self.put(outputs[0], combine(tracked, outputs[0].ndim))

    def binary(self, func, args, kwargs, result):
        operands = [a for a in (*args[:2], *kwargs.values()) if isinstance(a, torch.Tensor)]
        tracked = [self.get(a) for a in operands if self.get(a) is not None]
        out = combine(tracked, result.ndim)
        if func in ops.MULTIPLY:
            for a in operands:
                if self.get(a) is None:  # a gate: parameter, buffer or constant
                    out = gate(out, a.detach().cpu().numpy(), result.ndim)
        self.put(result, out)

    def mask_fill(self, func, args, kwargs, result):
        name = ops.name(func).rstrip("_")
        if name == "where":
            condition = args[0] if args else kwargs["condition"]
            if self.get(condition) is not None:
                raise self.refuse("operation 'where' with a condition computed from traced features",
                                  "a data-dependent selection is no connection; compute the condition from constants")
            values = [*args[1:3], *(kwargs[k] for k in ("input", "other") if k in kwargs)]
            parts = [self.get(v) for v in values if self.get(v) is not None]
            sources, offsets = Sources.concatenate([p.sources for p in parts])
            shifted, offsets = [], iter(offsets)
            for value in values:
                t = self.get(value)
                if t is None:
                    shifted.append(np.zeros((1,) * result.ndim, dtype=np.int64))
                else:
                    o = next(offsets)
                    shifted.append(np.where(t.aligned(result.ndim) > 0, t.aligned(result.ndim) + o, 0))
            chosen = np.where(condition.cpu().numpy().astype(bool), *np.broadcast_arrays(*shifted))
            return self.put(result, Tracked(compact(np.broadcast_to(chosen, result.shape)), sources))
        x, mask = args[0], args[1] if len(args) > 1 else kwargs["mask"]
        if self.get(mask) is not None or self.get(x) is None:
            raise self.refuse("operation 'masked_fill' with a mask computed from traced features")
        self.put(result, gate(combine([self.get(x)], result.ndim), ~mask.cpu().numpy().astype(bool), result.ndim))

    def norm(self, func, args, kwargs, result):
        where, position = ops.NORMS[func]
        tracked = self.get(args[0])
        others = [a for a in tree_flatten((args[1:], kwargs))[0] if self.get(a) is not None]
        if tracked is None or others:
            raise self.refuse(f"operation '{ops.name(func)}' with traced statistics or weights")
        weight = kwargs.get("weight")
        if weight is None and position is not None and len(args) > position:
            weight = args[position]
        self.put(result, self._norm_gate(combine([tracked], result.ndim), weight, where, result))

    def _norm_gate(self, tracked: Tracked, weight, where, result) -> Tracked:
        if not isinstance(weight, torch.Tensor) or where is None:
            return tracked
        w = weight.detach().cpu().numpy()
        if where == "channel":
            w = w.reshape((1, -1) + (1,) * (result.ndim - 2))
        elif tuple(result.shape[result.ndim - w.ndim:]) != w.shape:
            if (w == 0).any():
                raise self.refuse(f"normalisation weight of shape {w.shape} on an output of shape {tuple(result.shape)}",
                                  "its zero entries cannot be placed on features")
            return tracked
        return gate(tracked, w, result.ndim)

    def pooling(self, func, args, result):
        tracked = self.get(args[0])
        outputs = result if isinstance(result, (tuple, list)) else (result,)
        codes = tracked.aligned(args[0].ndim)
        if any(n > 1 for n in codes.shape[2:]) or codes.ndim < 3 and self.mode == "elements":
            raise self.refuse(
                f"operation '{ops.name(func)}' mixing positions that carry different nodes (input pixels are the "
                "nodes of a model whose first weighted layer is linear)",
                "pooling is followed over positions of channel nodes only",
            )
        self.put(outputs[0], Tracked(codes, tracked.sources))

    def reduction(self, func, args, kwargs, result):
        x = args[0]
        if len(args) > 1 and isinstance(args[1], torch.Tensor) or isinstance(kwargs.get("other"), torch.Tensor):
            return self.binary(func, args, kwargs, result)  # torch.max(a, b): elementwise
        if ops.name(func) == "norm":
            dims = kwargs.get("dim", args[2] if len(args) > 2 else None)
        else:
            dims = kwargs.get("dim", kwargs.get("axis", args[1] if len(args) > 1 else None))
        dims = list(range(x.ndim)) if dims is None else [dims] if isinstance(dims, int) else list(dims)
        outputs = [t for t in tree_flatten(result)[0] if isinstance(t, torch.Tensor)]
        keepdim = outputs[0].ndim == x.ndim and x.ndim > 0
        self.put(outputs[0], reduce_dims(self.get(x), dims, x.ndim, keepdim=keepdim))  # max/min indices: no nodes

    def shape_op(self, func, args, kwargs, result):
        """Apply the operation to the feature codes themselves (as float64, exact below 2**53)."""
        parts, tensors = [], []
        def collect(value):
            tracked = self.get(value)
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
            if self.get(args[1]) is not None:
                raise self.refuse("indexing with traced indices")
        else:
            if any(self.get(a) is not None for a in tree_flatten(args[1:])[0]) and name not in ("expand_as", "view_as", "reshape_as", "type_as"):
                raise self.refuse(f"operation '{name}' indexed by traced values")
            new_args = [substitute(args[0])] + [a if name not in ("expand_as", "view_as", "reshape_as") else torch.empty(a.shape) for a in args[1:]]
        new_kwargs = {k: (0.0 if k == "value" and name == "pad" else substitute(v)) for k, v in kwargs.items()}
        if name == "pad" and len(new_args) > 3:
            new_args[3] = 0.0
        coded = func(*new_args, **new_kwargs)
        if func is torch.Tensor.__setitem__:
            target = new_args[0]
            return self.put(args[0], Tracked(compact(target.numpy().astype(np.int64)), sources))
        real = [t for t in tree_flatten(result)[0] if isinstance(t, torch.Tensor)]
        coded = [t for t in tree_flatten(coded)[0] if isinstance(t, torch.Tensor)]
        tokens = any(p.tokens for p in parts)
        for r, c in zip(real, coded):
            self.put(r, Tracked(compact(c.numpy().astype(np.int64)), sources, tokens))

    def contract(self, equation: str, operands: list, result: torch.Tensor, name: str) -> Tracked:
        """einsum-style contraction: each operand is reduced over its contracted indices, then all are combined."""
        equation = equation.replace(" ", "")
        if "->" not in equation:
            raise self.refuse(f"operation '{name}' without an explicit output ('->')")
        inputs, output = equation.split("->")
        out = _subscripts(output, result.ndim)
        tracked = []
        for subscripts, operand in zip(inputs.split(","), operands):
            t = self.get(operand)
            if t is None:
                learned = self.learned.get(id(operand))
                raise self.refuse(
                    f"operation '{name}' multiplying traced features by "
                    + (f"parameter '{learned}'" if learned else "a tensor that depends on no node"),
                    "a weight matrix needs a layer with a handler: use nn.Linear (or register one with "
                    "nn2graph.handlers.register)",
                )
            letters = _subscripts(subscripts, operand.ndim)
            if len(set(letters)) != len(letters) or operand.ndim < 2 and name != "einsum":
                raise self.refuse(f"operation '{name}' on a {operand.ndim}-D operand ({subscripts})")
            reduced = reduce_dims(t, [d for d, x in enumerate(letters) if x not in out], len(letters), keepdim=False)
            kept = [x for x in letters if x in out]
            order = sorted(range(len(kept)), key=lambda i: out.index(kept[i]))
            codes = np.transpose(reduced.aligned(len(kept)), order)
            shape = [1] * len(out)
            for i, n in zip(order, codes.shape):
                shape[out.index(kept[i])] = n
            tracked.append(Tracked(codes.reshape(shape), reduced.sources))
        return combine(tracked, result.ndim)

    def glu(self, args, kwargs, result):
        """F.glu: the two halves of the feature axis multiplied, feature by feature."""
        x = args[0]
        dim = (args[1] if len(args) > 1 else kwargs.get("dim", -1)) % x.ndim
        codes = self.get(x).aligned(x.ndim)
        if codes.shape[dim] == 1:
            return self.put(result, combine([self.get(x)], result.ndim))
        first, second = np.split(codes, 2, axis=dim)
        sources = self.get(x).sources
        self.put(result, combine([Tracked(first, sources), Tracked(second, sources)], result.ndim))

    def sdpa(self, args, kwargs, result):
        names = ["query", "key", "value", "attn_mask", "dropout_p", "is_causal", "scale", "enable_gqa"]
        bound = dict(zip(names, args)) | kwargs
        q, k, v = bound["query"], bound["key"], bound["value"]
        if any(self.get(t) is None for t in (q, k, v)):
            raise self.refuse("scaled_dot_product_attention with a query, key or value that depends on no node")
        if self.get(bound.get("attn_mask")) is not None:
            raise self.refuse("scaled_dot_product_attention with a mask computed from traced features")
        key, value = self.get(k), self.get(v)
        if q.ndim >= 3 and k.shape[-3] != q.shape[-3]:  # grouped-query attention: key/value heads repeat
            repeat = q.shape[-3] // k.shape[-3]
            key = Tracked(np.repeat(key.aligned(k.ndim), repeat, axis=-3) if key.aligned(k.ndim).shape[-3] > 1 else key.aligned(k.ndim), key.sources)
            value = Tracked(np.repeat(value.aligned(v.ndim), repeat, axis=-3) if value.aligned(v.ndim).shape[-3] > 1 else value.aligned(v.ndim), value.sources)
        self.put(result, attention(self.get(q), key, value, result.ndim))

    def mha(self, args, kwargs, result):
        names = ["query", "key", "value", "embed_dim_to_check", "num_heads", "in_proj_weight", "in_proj_bias",
                 "bias_k", "bias_v", "add_zero_attn", "dropout_p", "out_proj_weight", "out_proj_bias", "training",
                 "key_padding_mask", "need_weights", "attn_mask", "use_separate_proj_weight"]  # fmt: skip
        bound = dict(zip(names, args)) | kwargs
        query = bound["query"]
        if bound.get("use_separate_proj_weight") or bound.get("bias_k") is not None or bound.get("add_zero_attn"):
            raise self.refuse("multi_head_attention_forward with separate q/k/v weights, bias_k/bias_v or add_zero_attn")
        if not (query is bound["key"] is bound["value"]) and not (
            self.get(query) is self.get(bound["key"]) is self.get(bound["value"])
        ):
            raise self.refuse("multi_head_attention_forward with different query, key and value inputs",
                              "nn2graph follows self-attention (one input)")
        in_entry = self.weights.get(id(bound["in_proj_weight"]))
        out_entry = self.weights.get(id(bound["out_proj_weight"]))
        if in_entry is None or out_entry is None:
            raise self.refuse("multi_head_attention_forward with weights that belong to no nn.MultiheadAttention")
        mha = in_entry[1]
        embed, heads = int(bound["embed_dim_to_check"]), int(bound["num_heads"])
        if query.ndim != 3:
            raise self.refuse(f"multi_head_attention_forward on an unbatched {query.ndim}-D input")
        length, batch = query.shape[:2]
        proj = torch.empty(length, batch, 3 * embed)
        self.weighted(in_entry[0], mha, linear_handler(3 * embed), query, proj, weight_name="in_proj_weight")
        qkv = self.get(proj)
        if qkv is None:
            return None
        codes = np.broadcast_to(qkv.aligned(3), proj.shape).reshape(length, batch, 3, heads, embed // heads)
        q, k, v = (Tracked(compact(codes[:, :, i]), qkv.sources) for i in range(3))
        # (L, N, heads, d) -> (N, heads, L, d): attention over the L positions of each head
        out = _move(attention(_move(q, 0, -2), _move(k, 0, -2), _move(v, 0, -2), 4), -2, 0)
        full = np.broadcast_to(out.aligned(4), (length, batch, heads, embed // heads)).reshape(length, batch, embed)
        attended = torch.empty(length, batch, embed)
        self.put(attended, Tracked(compact(full), out.sources))
        output = result[0] if isinstance(result, (tuple, list)) else result
        path, out_module, _ = out_entry
        self.weighted(path, out_module, handler_for(out_module), attended, output)

    def functional_layer(self, func, args, kwargs, result):
        x = args[0] if args else kwargs.get("input")
        weight = args[1] if len(args) > 1 else kwargs.get("weight")
        if self.get(weight) is not None:
            raise self.refuse(f"operation '{ops.name(func)}' with a weight computed from traced features")
        entry = self.weights.get(id(weight))
        if entry is None:
            learned = self.learned.get(id(weight))
            raise self.refuse(
                f"operation '{ops.name(func)}' with "
                + (f"parameter '{learned}'" if learned else "a weight tensor") + " that belongs to no layer with a handler",
                "call the layer module (nn.Linear, nn.Conv2d, ...), or register a handler for the module that "
                "owns the weight (nn2graph.handlers.register)",
            )
        path, module, name = entry
        self.weighted(path, module, handler_for(module), x, result, weight_name=name)


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
    """
    keys = reduce_dims(k, [-1], ndim, keepdim=True)
    scores = combine([reduce_dims(q, [-1], ndim, keepdim=True), Tracked(np.swapaxes(keys.aligned(ndim), -1, -2), keys.sources)], ndim)
    probs = reduce_dims(scores, [-1], ndim, keepdim=True)  # (..., L, 1)
    values = reduce_dims(v, [-2], ndim, keepdim=True)  # (..., 1, d)
    return combine([probs, values], ndim)


# --- entry point -------------------------------------------------------------------------------

def _input(input_shape, dtype) -> torch.Tensor:
    if dtype is not None and not dtype.is_floating_point:
        return torch.zeros(1, *input_shape, dtype=dtype)
    return torch.zeros(1, *input_shape, dtype=dtype or torch.float32)


@contextlib.contextmanager
def _hooked(model: nn.Module, trace: _Trace):
    handles = []
    training = [(m, m.training) for m in model.modules()]
    try:
        for module in {m: None for m in model.modules()}:
            handles.append(module.register_forward_pre_hook(trace.pre_hook, with_kwargs=True))
            handles.append(module.register_forward_hook(trace.post_hook, with_kwargs=True, always_call=True))
        model.eval()
        yield
    finally:
        for handle in handles:
            handle.remove()
        for module, mode in training:
            module.training = mode


def _run(model: nn.Module, x: torch.Tensor, mode: str) -> _Trace:
    if mode == "tokens":
        n_input, tracked = 0, Tracked(np.ones((1,) * x.ndim, dtype=np.int64), Sources.identity(np.array([0])), tokens=True)
    elif mode == "channels":
        n_input = x.shape[1]
        codes = np.arange(1, n_input + 1).reshape((1, -1) + (1,) * (x.ndim - 2))
        tracked = Tracked(codes, Sources.identity(np.arange(n_input)))
    elif mode == "features":
        n_input = x.shape[-1]
        tracked = Tracked(np.arange(1, n_input + 1).reshape((1,) * (x.ndim - 1) + (-1,)), Sources.identity(np.arange(n_input)))
    else:
        n_input = x[0].numel()
        tracked = Tracked(compact(np.arange(1, n_input + 1).reshape(x.shape)), Sources.identity(np.arange(n_input)))
    trace = _Trace(model, mode, n_input)
    trace.put(x, tracked)
    with _hooked(model, trace), torch.no_grad():
        try:
            with trace:
                model(x)
        except _Restart:
            raise
        except Exception as error:
            if trace.refusal is not None:
                raise trace.refusal from None
            if isinstance(error, NN2GraphError):
                raise
            if not isinstance(error, TypeError):
                raise _shape_error(model, x, trace, error) from None
            if trace.failure is None:
                raise TracingError(
                    f"nn2graph calls {type(model).__name__}.forward with one input tensor of shape {tuple(x.shape)} "
                    f"and it failed: {error}. Wrap the model so that forward takes one tensor"
                ) from None
            raise _shape_error(model, x, trace, error) from None
    return trace


def _shape_error(model, x, trace: _Trace, error: Exception) -> InputShapeError:
    shape = tuple(x.shape[1:])
    if trace.failure is None:
        return InputShapeError(f"input_shape {shape} does not fit {type(model).__name__}: {type(error).__name__}: {error}")
    name, shapes, where, stack = trace.failure
    if stack and stack[-1][2]:
        path, module, inputs = stack[-1]
        got = inputs[0]
        return InputShapeError(
            f"layer '{path}' ({type(module).__name__}) got input of shape {got} but expects {_expected_input(module)} "
            f"(input_shape={shape} excludes the batch dimension): {error}"
        )
    return InputShapeError(
        f"operation '{name}' in {where} failed on inputs of shapes {shapes} "
        f"(input_shape={shape} excludes the batch dimension): {error}"
    )


def _expected_input(module: nn.Module) -> str:
    if isinstance(module, nn.Linear):
        return f"(..., {module.in_features}) features"
    if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        dims = {nn.Conv1d: "L", nn.Conv2d: "H, W", nn.Conv3d: "D, H, W"}[type(module)] if type(module) in (nn.Conv1d, nn.Conv2d, nn.Conv3d) else "..."
        return f"(batch, {module.in_channels}, {dims}) with enough pixels for the kernel"
    if isinstance(module, nn.Embedding):
        return (f"token ids below {module.num_embeddings} (integers: call with dtype=torch.long, "
                "e.g. layer_degrees(model, (tokens,), dtype=torch.long))")
    return "a shape this module accepts"


def trace_layers(model: nn.Module, input_shape: tuple[int, ...], *, dtype: torch.dtype | None = None) -> TracedModel:
    """Run ``model`` once and return its input node count and its weighted layers with their inputs.

    Parameters
    ----------
    model : torch.nn.Module
        Any module whose forward takes one tensor (Python control flow is fine: the model
        runs eagerly on a zero input).
    input_shape : tuple of int
        Shape of one input, without the batch dimension.
    dtype : torch.dtype, optional
        ``torch.long`` for token ids (language models: the input nodes are then the
        vocabulary entries of the embedding that reads them); float32 by default.

    Examples
    --------
    >>> net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(64, 2))
    >>> traced = trace_layers(net, (1, 6, 6))
    >>> traced.n_input, [(c.path, c.first_node, c.n_units) for c in traced.layers]
    (1, [('0', 1, 4), ('3', 5, 2)])
    """
    if isinstance(model, torch.jit.ScriptModule):
        raise TracingError(
            f"{type(model).__name__} is a TorchScript module, which nn2graph cannot trace: "
            "load it with nn2graph.torchscript.from_torchscript (or `nn2graph convert`)"
        )
    input_shape = tuple(int(s) for s in input_shape)
    x = _input(input_shape, dtype)
    if not x.is_floating_point():
        trace = _run(model, x, "tokens")
    else:
        try:
            trace = _run(model, x, "channels")
        except _Restart:
            trace = _run(model, x, "features")
        if "convolution" in trace.first_kinds and len(trace.first_kinds) > 1:
            raise TracingError(
                f"the input of {type(model).__name__} feeds both linear and convolutional layers, so its nodes "
                "would be both pixels and channels; give the model one kind of first layer"
            )
        if len(input_shape) > 1 and trace.first_kinds == {"linear"}:
            trace = _run(model, x, "elements")  # flattened into a linear layer: every element is a node
        elif trace.mode == "features" and len(trace.first_kinds) > 1:
            if "linear" in trace.first_kinds:
                raise TracingError(
                    f"the input of {type(model).__name__} feeds linear layers both flattened and per position, so "
                    "its nodes would be both its elements and its last dimension's features; give the model one "
                    "kind of first layer"
                )
    if not trace.layers or not trace.n_input:
        raise NN2GraphError(
            f"{type(model).__name__} has no weighted layer reachable from its input; "
            f"supported weighted layers: {', '.join(supported_layers())}"
        )
    return TracedModel(trace.n_input, list(trace.layers.values()))
