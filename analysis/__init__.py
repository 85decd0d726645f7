"""Graph analysis for nn2graph: degree distributions, discrete truncated power laws,
preferential attachment and connectomes.  Works on plain integer arrays and igraph graphs.

Power laws: :func:`assess_power_law` (a verdict with its reasons), :func:`fit_tpl`,
:func:`tpl_pvalue`, :func:`compare_alternatives`, :func:`plot_layer_fits`.  Preferential attachment: :func:`preferential_attachment`,
:func:`attachment_general`, :func:`layered_changes`, :func:`attachment_series`,
:func:`simulate_growth`, :func:`development_attachment`.
The one analysis of a degree set (fit, p-value, alternatives, tail), used by every command:
:func:`analyse_degrees`.  Side by side: :func:`compare_networks`.  Connectomes and graph files:
:func:`load_connectome`, :func:`list_connectomes`, :func:`connectome_degrees`,
:func:`read_graph_file`.
"""

from analysis.alternatives import AlternativesResult, AlternativeTest, compare_alternatives
from analysis.attachment import (
    AttachmentError,
    AttachmentResult,
    DegreeBins,
    DeltaTable,
    LayeredChanges,
    OmegaFit,
    bin_degrees,
    layered_changes,
    preferential_attachment,
)
from analysis.attachment_series import AttachmentSeries, attachment_series, delta_trend
from analysis.bootstrap import PValueResult, tpl_pvalue
from analysis.compare import CompareError, Comparison, DegreeSet, compare_networks, plot_degree_ccdfs
from analysis.connectomes import (
    ConnectomeDependencyError,
    ConnectomeError,
    ConnectomeSource,
    connectome_degrees,
    list_connectomes,
    load_connectome,
)
from analysis.degree_analysis import AnalysisCache, DegreeAnalysis, analyse_degrees, plot_analyses
from analysis.development import DevelopmentError, DevelopmentResult, development_attachment
from analysis.evidence import Criterion, PowerLawEvidence, assess_power_law
from analysis.general_attachment import GeneralAttachmentResult, attachment_general
from analysis.graph_files import GraphFileError, read_graph_file
from analysis.growth import GrowthError, empty_layered_graph, random_layered_graph, simulate_growth
from analysis.plotting import plot_layer_fits
from analysis.tpl import FitError, TPLFit, fit_tpl

__all__ = [
    "AlternativeTest",
    "AnalysisCache",
    "AlternativesResult",
    "AttachmentError",
    "AttachmentResult",
    "AttachmentSeries",
    "CompareError",
    "Comparison",
    "ConnectomeDependencyError",
    "ConnectomeError",
    "ConnectomeSource",
    "Criterion",
    "DegreeAnalysis",
    "DegreeBins",
    "DegreeSet",
    "DeltaTable",
    "DevelopmentError",
    "DevelopmentResult",
    "FitError",
    "GeneralAttachmentResult",
    "GraphFileError",
    "GrowthError",
    "LayeredChanges",
    "OmegaFit",
    "PValueResult",
    "PowerLawEvidence",
    "TPLFit",
    "analyse_degrees",
    "assess_power_law",
    "attachment_general",
    "attachment_series",
    "bin_degrees",
    "compare_alternatives",
    "compare_networks",
    "connectome_degrees",
    "delta_trend",
    "development_attachment",
    "empty_layered_graph",
    "layered_changes",
    "fit_tpl",
    "list_connectomes",
    "load_connectome",
    "plot_analyses",
    "plot_degree_ccdfs",
    "plot_layer_fits",
    "preferential_attachment",
    "random_layered_graph",
    "read_graph_file",
    "simulate_growth",
    "tpl_pvalue",
]
