"""The recorder of a trace: a torch function mode and forward hooks that follow the traced features.

:class:`Recorder` keeps, for every tensor that depends on the input, the
:class:`~nn2graph.features.Tracked` that says which graph nodes each of its features
depends on; it records the weighted layers (modules with a handler,
:mod:`nn2graph.handlers`) as :class:`~nn2graph.traced_model.LayerCall`, and leaves the
other operations to :mod:`nn2graph.operation_rules`.  :func:`hooked` puts its hooks on a
model and takes them off again.
"""

from __future__ import annotations

import contextlib
import weakref

import numpy as np
import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten

from nn2graph import operations as ops
from nn2graph.exceptions import NN2GraphError
from nn2graph.features import Sources, Tracked, combine
from nn2graph.handlers import LayerHandler, UnsupportedLayerError, handler_for, supported_layers
from nn2graph.operation_rules import dispatch, norm_gate
from nn2graph.traced_model import LayerCall

__all__ = ["Recorder", "Restart", "hooked"]


class Restart(Exception):
    """The input's nodes are not its channels: trace again with other input nodes."""


class Recorder(TorchFunctionMode):
    """Carry :class:`~nn2graph.features.Tracked` from tensor to tensor while the model runs.

    Entered as a torch function mode, it sees every torch function and tensor method and
    hands those of traced tensors to :func:`nn2graph.operation_rules.dispatch`; its forward
    hooks (:func:`hooked`) see the modules, record the weighted layers (:meth:`weighted`)
    and let normalisation modules pass their input through.  Inside a weighted layer
    (``leaf``) nothing is followed.

    Parameters
    ----------
    model : torch.nn.Module
        The model being traced.
    mode : {"channels", "elements", "features", "tokens"}
        What the input's nodes are: its channels (dimension 1), every element, its last
        dimension's features, or the vocabulary of the embedding that reads its token ids.
    n_input : int
        Number of input nodes (0 for token ids: set by the first embedding).
    """

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
        """The traced features of ``tensor``; None for a tensor that depends on no node (or no tensor)."""
        if not isinstance(tensor, torch.Tensor):
            return None
        entry = self.env.get(id(tensor))
        return entry[1] if entry is not None and entry[0]() is tensor else None

    def put(self, tensor: torch.Tensor, tracked: Tracked | None) -> None:
        """Record the traced features of ``tensor`` (forgotten when the tensor is); None or no node: forget it."""
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
        """The module running now, for messages: ``module 'path' (Type)``."""
        if not self.stack:
            return f"the forward of {type(self.model).__name__}"
        path, module, _ = self.stack[-1]
        return f"module '{path or '(the model)'}' ({type(module).__name__})"

    def refuse(self, what: str, fix: str = "") -> UnsupportedLayerError:
        """The error for an unsupported ``what`` in the running module, with ``fix`` (default: what is supported)."""
        fix = fix or (
            "Use supported operations (docs/graph.md lists them: " + ops.SUPPORTED_OPERATIONS + "), "
            "or make the weights a layer with a handler (nn2graph.handlers.register; weighted layers: "
            + ", ".join(supported_layers()) + ")"
        )
        return UnsupportedLayerError(f"{what} in {self.where()} is not supported: {fix}")

    def refuse_layer(self, what: str, fix: str) -> UnsupportedLayerError:
        """The error for a weighted layer that cannot be followed: ``what``, then ``fix``."""
        return UnsupportedLayerError(f"{what}: {fix}")

    # hooks ---------------------------------------------------------------------------------
    def pre_hook(self, module, args, kwargs):
        """Forward pre-hook: push ``module`` on the stack; a weighted layer or normalisation module starts a leaf."""
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
        """Forward hook: at the end of a leaf, record the weighted layer or pass the normalisation through."""
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
                    tracked = norm_gate(self, combine([tracked], output.ndim), getattr(module, "weight", None), "trailing", output)
                self.put(output, tracked)
            else:
                self.weighted(path, module, handler, inputs[0], output)
        finally:
            self.stack.pop()
        return None

    # weighted layers ----------------------------------------------------------------------
    def weighted(self, path, module, handler: LayerHandler, x: torch.Tensor, out: torch.Tensor, weight_name="weight"):
        """Record a call of the weighted layer at ``path`` on ``x`` giving ``out``.

        The layer's input features (its channels, the last axis, or the token ids of an
        embedding) are appended to :attr:`LayerCall.inputs` (the layer's nodes are numbered
        on its first call), and ``out``'s features become the layer's units.
        """
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
                    raise Restart  # a linear layer reads the input per position: its nodes are the last dimension
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
        except (NN2GraphError, Restart):
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
            dispatch(self, func, args, kwargs, result)
        except NN2GraphError as refusal:  # torch turns a TypeError of an operator into NotImplemented
            self.refusal = refusal
            raise
        return result


@contextlib.contextmanager
def hooked(model: nn.Module, trace: Recorder):
    """Within the block, ``trace``'s forward hooks are on every module of ``model`` in eval mode.

    On leaving, whether the block raised or not, the hooks are removed and every module's
    training flag is restored.

    Examples
    --------
    >>> net = nn.Sequential(nn.Linear(3, 2)).train()
    >>> with hooked(net, Recorder(net, "features", 3)):
    ...     net.training, len(net[0]._forward_hooks)
    (False, 1)
    >>> net.training, len(net[0]._forward_hooks)
    (True, 0)
    """
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

