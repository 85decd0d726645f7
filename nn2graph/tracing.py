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

The parts: :mod:`nn2graph.trace_input` (the input and its nodes, wrong input shapes),
:mod:`nn2graph.trace_recorder` (the torch function mode and the hooks),
:mod:`nn2graph.operation_rules` (the rules of the operations),
:mod:`nn2graph.traced_model` (the result).
"""

from __future__ import annotations

import torch
from torch import nn

from nn2graph.exceptions import NN2GraphError
from nn2graph.handlers import supported_layers
from nn2graph.trace_input import InputShapeError, input_features, input_tensor, shape_error
from nn2graph.trace_recorder import Recorder, Restart, hooked
from nn2graph.traced_model import LayerCall, TracedModel

__all__ = [
    "InputShapeError",
    "LayerCall",
    "TracedModel",
    "TracingError",
    "trace_layers",
]


class TracingError(NN2GraphError, RuntimeError):
    """The model cannot be run for tracing (a TorchScript module, a forward that needs other arguments)."""


def _run(model: nn.Module, x: torch.Tensor, mode: str) -> Recorder:
    """Run ``model`` on ``x`` under a recorder whose input nodes are counted by ``mode``."""
    n_input, tracked = input_features(x, mode)
    trace = Recorder(model, mode, n_input)
    trace.put(x, tracked)
    with hooked(model, trace), torch.no_grad():
        try:
            with trace:
                model(x)
        except Restart:
            raise
        except Exception as error:
            if trace.refusal is not None:
                raise trace.refusal from None
            if isinstance(error, NN2GraphError):
                raise
            if not isinstance(error, TypeError):
                raise shape_error(model, x, trace.failure, error) from None
            if trace.failure is None:
                raise TracingError(
                    f"nn2graph calls {type(model).__name__}.forward with one input tensor of shape {tuple(x.shape)} "
                    f"and it failed: {error}. Wrap the model so that forward takes one tensor"
                ) from None
            raise shape_error(model, x, trace.failure, error) from None
    return trace


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
    x = input_tensor(input_shape, dtype)
    if not x.is_floating_point():
        trace = _run(model, x, "tokens")
    else:
        try:
            trace = _run(model, x, "channels")
        except Restart:
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
