"""Graph analysis for nn2graph: degree distributions, discrete truncated power laws,
preferential attachment and connectomes.  Works on plain integer arrays and igraph graphs.
"""

__all__: list[str] = []
