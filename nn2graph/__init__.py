"""nn2graph: deep networks as layered graphs.

Trained and pruned PyTorch models become layered :mod:`igraph` graphs whose edges carry
the number of real connections they stand for (convolutional weight reuse counted
exactly), ready for degree distributions, power-law fits and Gephi.
"""

from nn2graph.degrees import LayeredGraphError, graph_degrees, layer_order
from nn2graph.exceptions import NN2GraphError
from nn2graph.graph import LayeredGraph, layer_degrees, to_graph
from nn2graph.handlers import ConnectionBlock, UnsupportedLayerError, register, supported_layers
from nn2graph.tracing import InputShapeError, TracingError

__all__ = [
    "ConnectionBlock",
    "InputShapeError",
    "LayeredGraph",
    "LayeredGraphError",
    "NN2GraphError",
    "TracingError",
    "UnsupportedLayerError",
    "graph_degrees",
    "layer_degrees",
    "layer_order",
    "register",
    "supported_layers",
    "to_graph",
]

__version__ = "0.1.0"
