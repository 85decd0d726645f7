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

# attachment (helper "attachment")
from analysis.attachment import (  # noqa: E402
    AttachmentError,
    AttachmentResult,
    DegreeBins,
    DeltaTable,
    GeneralAttachmentResult,
    OmegaFit,
    attachment_general,
    bin_degrees,
    preferential_attachment,
)
from analysis.growth import GrowthError, empty_layered_graph, random_layered_graph, simulate_growth  # noqa: E402

__all__ += [
    "AttachmentError",
    "AttachmentResult",
    "DegreeBins",
    "DeltaTable",
    "GeneralAttachmentResult",
    "GrowthError",
    "OmegaFit",
    "attachment_general",
    "bin_degrees",
    "empty_layered_graph",
    "preferential_attachment",
    "random_layered_graph",
    "simulate_growth",
]
