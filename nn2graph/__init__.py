"""nn2graph: deep networks as layered graphs.

Trained and pruned PyTorch models become layered :mod:`igraph` graphs whose edges carry
the number of real connections they stand for (convolutional weight reuse counted
exactly), ready for degree distributions, power-law fits and Gephi.
"""

from nn2graph.degrees import LayeredGraphError, graph_degrees, layer_order
from nn2graph.exceptions import NN2GraphError

__all__ = [
    "LayeredGraphError",
    "NN2GraphError",
    "graph_degrees",
    "layer_order",
]

__version__ = "0.1.0"
