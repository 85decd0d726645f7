"""What a trace returns: the model's input nodes and its weighted layers with their inputs."""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn

from nn2graph.features import Sources
from nn2graph.handlers import LayerHandler

__all__ = ["LayerCall", "TracedModel"]


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
    """The result of :func:`~nn2graph.tracing.trace_layers`: input nodes and the weighted layers in order.

    Examples
    --------
    >>> from nn2graph.tracing import trace_layers
    >>> traced = trace_layers(nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 1)), (3,))
    >>> traced.n_input, [(c.path, c.first_node, c.n_units, c.in_shape) for c in traced.layers]
    (3, [('0', 3, 2, (1, 3)), ('2', 5, 1, (1, 2))])
    """

    n_input: int
    layers: list[LayerCall]
