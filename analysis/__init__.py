"""Graph analysis for nn2graph: degree distributions, discrete truncated power laws,
preferential attachment and connectomes.  Works on plain integer arrays and igraph graphs.
"""

# --- attachment (helper "attachment") ---
from analysis.attachment import (
    AttachmentError,
    AttachmentResult,
    DeltaTable,
    DegreeBins,
    GeneralAttachmentResult,
    OmegaFit,
    attachment_general,
    bin_degrees,
    preferential_attachment,
)
from analysis.growth import GrowthError, empty_layered_graph, random_layered_graph, simulate_growth

__all__: list[str] = []
__all__ += [
    "AttachmentError",
    "AttachmentResult",
    "DeltaTable",
    "DegreeBins",
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
# --- end attachment ---
