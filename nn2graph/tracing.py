"""Trace a model with torch.fx: its weighted layers, in order, and which nodes feed each.

Every tensor of the traced forward pass carries its *sources*: pairs (index, node) saying
that position ``index`` of the tensor's node axis depends on graph node ``node``.  The
node axis is the channel axis (dimension 1) when the first weighted layers are
convolutions (the image's channels are the input nodes), or the flattened element index
when they are linear layers (every input pixel is a node).  Pass-through operations
(activations, dropout, batch norm, pooling, flatten/view/reshape, identity) carry the
sources along; residual additions merge them; concatenations along the node axis shift
them.  A weighted layer's input sources become, after the pass, the edges of that layer.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp, TensorMetadata

from nn2graph.exceptions import NN2GraphError
from nn2graph.handlers import LayerHandler, UnsupportedLayerError, handler_for, supported_layers


class TracingError(NN2GraphError, RuntimeError):
    """torch.fx cannot trace the model's forward pass."""


class InputShapeError(NN2GraphError, ValueError):
    """The input shape does not fit the model."""


_ELEMENTWISE_MODULES = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU, nn.Mish,
    nn.Sigmoid, nn.Tanh, nn.Hardtanh, nn.Hardswish, nn.Hardsigmoid, nn.Softplus, nn.Softsign,
    nn.Softmax, nn.LogSoftmax, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.AlphaDropout,
    nn.BatchNorm1d, nn.BatchNorm2d, nn.Identity,
)  # fmt: skip
_POOLING_MODULES = (
    nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d,
    nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d,
)  # fmt: skip
_ELEMENTWISE_FUNCTIONS = {
    F.relu, F.relu6, F.leaky_relu, F.elu, F.selu, F.gelu, F.silu, F.mish, F.hardtanh, F.softplus,
    F.sigmoid, F.tanh, F.softmax, F.log_softmax, F.dropout, F.batch_norm,
    torch.relu, torch.sigmoid, torch.tanh, torch.softmax, torch.log_softmax, torch.dropout,
    operator.mul, operator.truediv, torch.mul, torch.div,
}  # fmt: skip
_MERGING_FUNCTIONS = {operator.add, operator.iadd, operator.sub, torch.add, torch.sub}
_POOLING_FUNCTIONS = {
    F.max_pool1d, F.max_pool2d, F.avg_pool1d, F.avg_pool2d,
    F.adaptive_max_pool1d, F.adaptive_max_pool2d, F.adaptive_avg_pool1d, F.adaptive_avg_pool2d,
}  # fmt: skip
_ELEMENTWISE_METHODS = {"relu", "sigmoid", "tanh", "softmax", "log_softmax", "contiguous", "clone", "mul", "div"}
_MERGING_METHODS = {"add", "add_", "sub"}
_RESHAPES = {"view", "reshape", "flatten"}
_SHAPE_QUERIES = {"size", "dim", "numel"}

SUPPORTED_PASS_THROUGH = sorted(
    {m.__name__ for m in (*_ELEMENTWISE_MODULES, *_POOLING_MODULES, nn.Flatten)}
    | {"relu/sigmoid/tanh/softmax/dropout functions", "add/sub (residual)", "cat (channels)",
       "flatten/view/reshape", "mean over spatial dims", "mul/div by a constant"}
)  # fmt: skip


@dataclass(frozen=True)
class Sources:
    """Which graph nodes each position of a tensor's node axis depends on (sorted pairs)."""

    index: np.ndarray
    node: np.ndarray
    length: int

    @staticmethod
    def union(parts: list[Sources]) -> Sources:
        pairs = np.unique(np.stack([np.concatenate([p.index for p in parts]), np.concatenate([p.node for p in parts])]), axis=1)
        return Sources(pairs[0], pairs[1], parts[0].length)


@dataclass
class LayerCall:
    """One weighted layer: its module, nodes, and the inputs of all its calls."""

    path: str
    module: nn.Module
    handler: LayerHandler
    first_node: int
    n_units: int
    in_shape: tuple[int, ...] = ()
    out_shape: tuple[int, ...] = ()
    inputs: list[Sources] = field(default_factory=list)


@dataclass(frozen=True)
class TracedModel:
    """The result of :func:`trace_layers`: input nodes and the weighted layers in order."""

    n_input: int
    layers: list[LayerCall]


def _symbolic_trace(model: nn.Module) -> fx.GraphModule:
    if isinstance(model, torch.jit.ScriptModule):
        raise TracingError(
            f"{type(model).__name__} is a TorchScript module, which torch.fx cannot trace: "
            "load it with nn2graph.torchscript.from_torchscript (or `nn2graph convert`)"
        )
    try:
        return fx.symbolic_trace(model)
    except Exception as error:  # fx raises TraceError, TypeError, NotImplementedError, ...
        raise TracingError(
            f"torch.fx cannot trace {type(model).__name__}.forward ({type(error).__name__}: {error}). "
            "Make the forward pass static: no Python control flow that depends on tensor values "
            "(use torch.where, or fix the branch with torch.fx.symbolic_trace's concrete_args), "
            "no data-dependent shapes"
        ) from error


def _describe(gm: fx.GraphModule, node: fx.Node) -> str:
    if node.op == "call_module":
        return f"layer '{node.target}' ({type(gm.get_submodule(node.target)).__name__})"
    name = getattr(node.target, "__name__", str(node.target))
    return f"operation '{name}' (fx node {node.name})"


def _expected_input(module: nn.Module) -> str:
    if isinstance(module, nn.Linear):
        return f"(batch, {module.in_features}) features"
    if isinstance(module, (nn.Conv1d, nn.Conv2d)):
        dims = "L" if isinstance(module, nn.Conv1d) else "H, W"
        return f"(batch, {module.in_channels}, {dims}) with enough pixels for the kernel"
    return "a shape this module accepts"


def _propagate_shapes(gm: fx.GraphModule, model: nn.Module, input_shape: tuple[int, ...]) -> None:
    """Run ShapeProp on a zero input; name the layer that rejects it."""
    failed: list[fx.Node] = []

    class _Prop(ShapeProp):
        def run_node(self, n):
            try:
                return super().run_node(n)
            except Exception:
                failed.append(n)
                raise

    training = [m.training for m in model.modules()]
    model.eval()
    try:
        with torch.no_grad():
            _Prop(gm).propagate(torch.zeros(1, *input_shape))
    except Exception as error:
        node = failed[0] if failed else None
        cause = error.__cause__ or error
        if node is None:
            raise InputShapeError(f"input_shape {tuple(input_shape)} does not fit {type(model).__name__}: {cause}") from error
        got = [tuple(a.meta["tensor_meta"].shape) for a in node.all_input_nodes if isinstance(a.meta.get("tensor_meta"), TensorMetadata)]
        expected = _expected_input(gm.get_submodule(node.target)) if node.op == "call_module" else "a compatible shape"
        raise InputShapeError(
            f"{_describe(gm, node)} got input of shape {got[0] if got else '?'} but expects {expected} "
            f"(input_shape={tuple(input_shape)} excludes the batch dimension): {cause}"
        ) from error
    finally:
        for module, mode in zip(model.modules(), training):
            module.training = mode


def _first_weighted(gm: fx.GraphModule, start: fx.Node) -> list[LayerHandler]:
    """Handlers of the weighted layers reached from ``start`` through non-weighted nodes."""
    found, seen, stack = [], set(), [start]
    while stack:
        node = stack.pop()
        for user in node.users:
            if user in seen:
                continue
            seen.add(user)
            handler = handler_for(gm.get_submodule(user.target)) if user.op == "call_module" else None
            if handler is not None:
                found.append(handler)
            else:
                stack.append(user)
    return found


def _shape(node: fx.Node) -> tuple[int, ...] | None:
    meta = node.meta.get("tensor_meta")
    return tuple(meta.shape) if isinstance(meta, TensorMetadata) else None


def trace_layers(model: nn.Module, input_shape: tuple[int, ...]) -> TracedModel:
    """Trace ``model`` and return its input node count and its weighted layers with their inputs.

    Parameters
    ----------
    model : torch.nn.Module
        Any module torch.fx can trace symbolically.
    input_shape : tuple of int
        Shape of one input, without the batch dimension.

    Examples
    --------
    >>> net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(64, 2))
    >>> traced = trace_layers(net, (1, 6, 6))
    >>> traced.n_input, [(c.path, c.first_node, c.n_units) for c in traced.layers]
    (1, [('0', 1, 4), ('3', 5, 2)])
    """
    gm = _symbolic_trace(model)
    input_shape = tuple(int(s) for s in input_shape)
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    if len(placeholders) != 1:
        raise TracingError(
            f"{type(model).__name__}.forward takes {len(placeholders)} tensor arguments; nn2graph handles "
            "models with exactly one input"
        )
    _propagate_shapes(gm, model, input_shape)
    first = _first_weighted(gm, placeholders[0])
    if not first:
        raise NN2GraphError(
            f"{type(model).__name__} has no weighted layer reachable from its input; "
            f"supported weighted layers: {', '.join(supported_layers())}"
        )
    kinds = {h.spatial for h in first}
    if len(kinds) > 1:
        raise TracingError(
            f"the input of {type(model).__name__} feeds both linear and convolutional layers, so its nodes "
            "would be both pixels and channels; give the model one kind of first layer"
        )
    elementwise_input = not kinds.pop()
    n_input = int(np.prod(input_shape)) if elementwise_input else input_shape[0]
    tracer = _Propagation(gm, elementwise_input)
    tracer.run(placeholders[0], Sources(np.arange(n_input), np.arange(n_input), n_input))
    return TracedModel(n_input, list(tracer.layers.values()))


class _Propagation:
    """Walk the fx graph once, carrying :class:`Sources` from node to node."""

    def __init__(self, gm: fx.GraphModule, elementwise_input: bool):
        self.gm = gm
        self.elementwise = elementwise_input
        self.layers: dict[str, LayerCall] = {}
        self.env: dict[fx.Node, Sources | None] = {}
        self.next_node = 0

    def run(self, placeholder: fx.Node, input_sources: Sources) -> None:
        env = self.env
        env[placeholder] = input_sources
        self.next_node = input_sources.length
        for node in self.gm.graph.nodes:
            if node.op in ("placeholder", "output"):
                continue
            tracked = [a for a in node.all_input_nodes if env.get(a) is not None]
            if _shape(node) is None:
                if tracked and not self._is_shape_query(node):
                    raise self._unsupported(node)
                env[node] = None
            elif not tracked:
                env[node] = None  # a constant, e.g. a tensor created inside forward
            else:
                env[node] = self._visit(node, [env[a] for a in tracked], tracked)

    @staticmethod
    def _is_shape_query(node: fx.Node) -> bool:
        if node.op == "call_method":
            return node.target in _SHAPE_QUERIES
        return node.op == "call_function" and node.target is getattr and node.args[1] in ("shape", "ndim")

    def _unsupported(self, node: fx.Node) -> UnsupportedLayerError:
        return UnsupportedLayerError(
            f"{_describe(self.gm, node)} is not supported. Supported weighted layers: "
            f"{', '.join(supported_layers())}; pass-through: {', '.join(SUPPORTED_PASS_THROUGH)}. "
            "Register a handler with nn2graph.handlers.register for a new weighted layer"
        )

    def _visit(self, node: fx.Node, sources: list[Sources], tracked: list[fx.Node]) -> Sources:
        if node.op == "call_module":
            module = self.gm.get_submodule(node.target)
            handler = handler_for(module)
            if handler is not None:
                return self._weighted(node, module, handler, sources, tracked)
            if isinstance(module, _ELEMENTWISE_MODULES):
                return sources[0]
            if isinstance(module, _POOLING_MODULES):
                return self._spatial(node, sources[0])
            if isinstance(module, nn.Flatten):
                return self._reshape(node, sources[0], tracked[0])
            raise self._unsupported(node)
        target = node.target
        if node.op == "call_function" and target in _MERGING_FUNCTIONS or node.op == "call_method" and target in _MERGING_METHODS:
            return self._merge(node, sources, tracked)
        if node.op == "call_function" and target in _ELEMENTWISE_FUNCTIONS or node.op == "call_method" and target in _ELEMENTWISE_METHODS:
            if len(sources) > 1:
                raise self._unsupported(node)  # a product of two branches is not a connection
            return sources[0]
        if node.op == "call_function" and target in _POOLING_FUNCTIONS:
            return self._spatial(node, sources[0])
        if node.op == "call_function" and target is torch.flatten or node.op == "call_method" and target in _RESHAPES:
            return self._reshape(node, sources[0], tracked[0])
        if node.op == "call_function" and target is torch.cat:
            return self._cat(node)
        if target == "mean" or target is torch.mean:
            return self._mean(node, sources[0])
        raise self._unsupported(node)

    def _weighted(self, node, module, handler: LayerHandler, sources, tracked) -> Sources:
        path = str(node.target)
        in_shape, out_shape = _shape(tracked[0]), _shape(node)
        if not handler.spatial and len(in_shape) != 2:
            raise UnsupportedLayerError(
                f"layer '{path}' ({type(module).__name__}) gets a {len(in_shape)}-D input {in_shape}; "
                "nn2graph handles linear layers on (batch, features) inputs: flatten first"
            )
        call = self.layers.get(path)
        if call is None:
            n_units = handler.n_units(module)
            call = LayerCall(path, module, handler, self.next_node, n_units, in_shape, out_shape)
            self.next_node += n_units
            self.layers[path] = call
        elif (call.in_shape, call.out_shape) != (in_shape, out_shape):
            raise UnsupportedLayerError(
                f"layer '{path}' ({type(module).__name__}) is called with inputs of shapes {call.in_shape} "
                f"and {in_shape}; a layer called several times must see one input shape"
            )
        merged = Sources.union(sources)
        own = (merged.node >= call.first_node) & (merged.node < call.first_node + call.n_units)
        if own.any():
            raise UnsupportedLayerError(
                f"layer '{path}' ({type(module).__name__}) is fed by its own output; weight sharing across "
                "depths (a recurrent loop) has no layered graph"
            )
        call.inputs.append(merged)
        units = np.arange(call.n_units)
        return Sources(units, units + call.first_node, call.n_units)

    def _spatial(self, node, source: Sources) -> Sources:
        """Pooling or a mean over spatial dimensions: channels pass through unchanged."""
        if self.elementwise:
            raise UnsupportedLayerError(
                f"{_describe(self.gm, node)} mixes input pixels, which are the nodes of a model whose "
                "first weighted layer is linear; pooling there has no node-to-node meaning"
            )
        in_shape = _shape(node.all_input_nodes[0])
        out_shape = _shape(node)
        if len(out_shape) < 2 or out_shape[1] != in_shape[1]:
            raise self._unsupported(node)
        return source

    def _mean(self, node, source: Sources) -> Sources:
        """A mean over spatial dimensions (global average pooling) keeps the channels."""
        dims = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim")
        ndim = len(_shape(node.all_input_nodes[0]))
        dims = [dims] if isinstance(dims, int) else list(dims or [])
        if not dims or {d % ndim for d in dims} & {0, 1}:
            raise UnsupportedLayerError(
                f"{_describe(self.gm, node)} averages over dimensions {dims or 'all'}; nn2graph follows means "
                "over spatial dimensions (2 and higher) only"
            )
        return self._spatial(node, source)

    def _reshape(self, node, source: Sources, tracked: fx.Node) -> Sources:
        in_shape, out_shape = _shape(tracked), _shape(node)
        if out_shape == in_shape:
            return source
        if len(out_shape) != 2 or out_shape[0] != in_shape[0]:
            raise UnsupportedLayerError(
                f"{_describe(self.gm, node)} reshapes {in_shape} to {out_shape}; nn2graph follows only "
                "flattening to (batch, features)"
            )
        if self.elementwise:
            return source
        per_channel = int(np.prod(in_shape[2:]))
        offset = np.arange(per_channel)
        return Sources(
            (source.index[:, None] * per_channel + offset).reshape(-1),
            np.repeat(source.node, per_channel),
            source.length * per_channel,
        )

    def _merge(self, node, sources, tracked) -> Sources:
        shapes = {_shape(t) for t in tracked}
        if len(shapes) > 1:
            raise UnsupportedLayerError(
                f"{_describe(self.gm, node)} adds tensors of shapes {sorted(shapes)}; residual additions "
                "need equal shapes"
            )
        return Sources.union(sources) if len(sources) > 1 else sources[0]

    def _cat(self, node) -> Sources:
        tensors = node.args[0] if node.args else node.kwargs["tensors"]
        dim = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim", 0)
        ndim = len(_shape(node))
        if dim % ndim != 1 or self.elementwise and ndim != 2:
            raise UnsupportedLayerError(
                f"{_describe(self.gm, node)} concatenates {ndim}-D tensors along dimension {dim}; nn2graph "
                "follows concatenations along the channel/feature dimension 1 (of (batch, features) "
                "tensors when the input pixels are nodes)"
            )
        index, nodes, offset = [], [], 0
        for tensor in tensors:
            width = _shape(tensor)[1]
            part = self.env.get(tensor)
            if part is not None:
                index.append(part.index + offset)
                nodes.append(part.node)
            offset += width
        return Sources(np.concatenate(index), np.concatenate(nodes), offset)
