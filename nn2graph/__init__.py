"""nn2graph: deep networks as layered graphs.

Trained and pruned PyTorch models become layered :mod:`igraph` graphs whose edges carry
the number of real connections they stand for (convolutional weight reuse counted
exactly), ready for degree distributions, power-law fits and Gephi.
"""

from importlib import import_module
from typing import Any

from nn2graph.degrees import LayeredGraphError, graph_degrees, layer_order
from nn2graph.exceptions import NN2GraphError

#: Names that need torch, imported on first use so that ``import analysis`` (and the
#: bootstrap's worker processes) stay light.
_TORCH_NAMES = {
    "CheckpointDegrees": "nn2graph.checkpoint",
    "ConnectionBlock": "nn2graph.handlers",
    "ConvInput": "nn2graph.checkpoint",
    "InputShapeError": "nn2graph.tracing",
    "LayeredGraph": "nn2graph.graph",
    "TracingError": "nn2graph.tracing",
    "UnsupportedLayerError": "nn2graph.handlers",
    "checkpoint_degrees": "nn2graph.checkpoint",
    "layer_degrees": "nn2graph.graph",
    "register": "nn2graph.handlers",
    "supported_layers": "nn2graph.handlers",
    "to_graph": "nn2graph.graph",
}


def __getattr__(name: str) -> Any:
    if name in _TORCH_NAMES:
        value = getattr(import_module(_TORCH_NAMES[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'nn2graph' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_TORCH_NAMES})


__all__ = [
    "CheckpointDegrees",
    "ConnectionBlock",
    "ConvInput",
    "InputShapeError",
    "LayeredGraph",
    "LayeredGraphError",
    "NN2GraphError",
    "TracingError",
    "UnsupportedLayerError",
    "checkpoint_degrees",
    "graph_degrees",
    "layer_degrees",
    "layer_order",
    "register",
    "supported_layers",
    "to_graph",
]

__version__ = "0.1.0"
