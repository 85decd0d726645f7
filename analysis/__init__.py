"""Graph analysis for nn2graph: degree distributions, discrete truncated power laws,
preferential attachment and connectomes.  Works on plain integer arrays and igraph graphs.
"""

__all__: list[str] = []

# connectomes (helper "connectomes")
from analysis.connectomes import (  # noqa: E402
    ConnectomeDependencyError,
    ConnectomeError,
    ConnectomeSource,
    connectome_degrees,
    list_connectomes,
    load_connectome,
)
from analysis.graph_files import GraphFileError, read_graph_file  # noqa: E402

__all__ += [
    "ConnectomeDependencyError",
    "ConnectomeError",
    "ConnectomeSource",
    "GraphFileError",
    "connectome_degrees",
    "list_connectomes",
    "load_connectome",
    "read_graph_file",
]
