"""Graph analysis for nn2graph: degree distributions, discrete truncated power laws,
preferential attachment and connectomes.  Works on plain integer arrays and igraph graphs.

Power laws: :func:`fit_tpl`, :func:`tpl_pvalue`, :func:`compare_alternatives`,
:func:`plot_layer_fits`.  Preferential attachment: :func:`preferential_attachment`,
:func:`attachment_general`, :func:`simulate_growth`.  Connectomes and graph files:
:func:`load_connectome`, :func:`list_connectomes`, :func:`connectome_degrees`,
:func:`read_graph_file`.
"""

from analysis.alternatives import AlternativesResult, AlternativeTest, compare_alternatives
from analysis.attachment import (
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
from analysis.bootstrap import PValueResult, tpl_pvalue
from analysis.connectomes import (
    ConnectomeDependencyError,
    ConnectomeError,
    ConnectomeSource,
    connectome_degrees,
    list_connectomes,
    load_connectome,
)
from analysis.graph_files import GraphFileError, read_graph_file
from analysis.growth import GrowthError, empty_layered_graph, random_layered_graph, simulate_growth
from analysis.plotting import plot_layer_fits
from analysis.tpl import FitError, TPLFit, fit_tpl

__all__ = [
    "AlternativeTest",
    "AlternativesResult",
    "AttachmentError",
    "AttachmentResult",
    "ConnectomeDependencyError",
    "ConnectomeError",
    "ConnectomeSource",
    "DegreeBins",
    "DeltaTable",
    "FitError",
    "GeneralAttachmentResult",
    "GraphFileError",
    "GrowthError",
    "OmegaFit",
    "PValueResult",
    "TPLFit",
    "attachment_general",
    "bin_degrees",
    "compare_alternatives",
    "connectome_degrees",
    "empty_layered_graph",
    "fit_tpl",
    "list_connectomes",
    "load_connectome",
    "plot_layer_fits",
    "preferential_attachment",
    "random_layered_graph",
    "read_graph_file",
    "simulate_growth",
    "tpl_pvalue",
]

# compare (helper "compare"): networks beside connectomes, developmental attachment
from analysis.compare import (  # noqa: E402
    CompareError,
    Comparison,
    DegreeAnalysis,
    DegreeSet,
    analyse_degrees,
    compare_networks,
    plot_degree_ccdfs,
)
from analysis.development import DevelopmentError, DevelopmentResult, development_attachment  # noqa: E402

__all__ += [
    "CompareError",
    "Comparison",
    "DegreeAnalysis",
    "DegreeSet",
    "DevelopmentError",
    "DevelopmentResult",
    "analyse_degrees",
    "compare_networks",
    "development_attachment",
    "plot_degree_ccdfs",
]
