"""Graph analysis for nn2graph: degree distributions, discrete truncated power laws,
preferential attachment and connectomes.  Works on plain integer arrays and igraph graphs.
"""

__all__: list[str] = []

# --- fits (discrete truncated power laws) ---
from analysis.tpl import FitError, TPLFit, fit_tpl  # noqa: E402

__all__ += ["FitError", "TPLFit", "fit_tpl"]
from analysis.bootstrap import PValueResult, tpl_pvalue  # noqa: E402

__all__ += ["PValueResult", "tpl_pvalue"]
from analysis.alternatives import AlternativesResult, AlternativeTest, compare_alternatives  # noqa: E402

__all__ += ["AlternativeTest", "AlternativesResult", "compare_alternatives"]
from analysis.plotting import plot_layer_fits  # noqa: E402

__all__ += ["plot_layer_fits"]
