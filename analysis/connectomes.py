"""Real C. elegans connectomes as igraph graphs, and their degrees.

The data come offline from the ``cect`` package (OpenWorm's ConnectomeToolbox), whose
readers ship a JSON cache of every dataset.  ``cect`` is an optional dependency: install
it with ``pip install 'nn2graph[connectomes]' && pip install --no-deps 'cect==0.3.5'`` (see
``docs/connectomes.md`` for why ``--no-deps``).

Graph conventions
-----------------
- ``synapses="chemical"``: a directed graph, one edge per connected ordered pair
  (presynaptic -> postsynaptic), ``weight`` = the dataset's weight of that connection.
- ``synapses="electrical"``: an undirected graph, one edge per pair joined by gap
  junctions, ``weight`` = number of gap junctions.
- ``synapses="both"``: a directed graph whose edges carry ``synapse`` = ``"chemical"`` or
  ``"electrical"``; every gap-junction pair becomes two opposite edges (a gap junction
  conducts both ways).  :func:`connectome_degrees` counts such a pair once in the total
  degree, so degrees of ``"both"`` are the sums of the chemical and electrical degrees.
- Vertices are the cells of the dataset sorted by name (``name`` attribute); with
  ``neurons_only=True`` only neurons, as classified by ``cect.Cells.is_any_neuron``.
  Cells without any connection of the chosen kind stay in the graph (degree 0).
- Self-connections (a cell's synapse or gap junction onto itself) are left out unless
  ``self_loops=True``; the publications count connections between distinct cells.
"""

from __future__ import annotations

import contextlib
import importlib
import io
from dataclasses import dataclass
from typing import Literal

import igraph as ig
import numpy as np

from nn2graph.exceptions import NN2GraphError

SynapseKind = Literal["chemical", "electrical", "both"]
DegreeKind = Literal["in", "out", "total"]

#: The command that installs the optional connectome data (the version the tests check).
INSTALL_COMMAND = "pip install 'nn2graph[connectomes]' && pip install --no-deps 'cect==0.3.5'"


class ConnectomeError(NN2GraphError, ValueError):
    """An unknown connectome name or option, or a graph unfit for connectome degrees."""


class ConnectomeDependencyError(NN2GraphError, ImportError):
    """The optional ``cect`` package (or one of its needs) is not installed."""


@dataclass(frozen=True)
class ConnectomeSource:
    """One connectome that :func:`load_connectome` can load, and where it comes from.

    Attributes
    ----------
    name : str
        The name to pass to :func:`load_connectome`.
    description : str
        What the dataset covers.
    citation : str
        The publication of the data.
    doi : str
        The publication's DOI.
    cect_reader : str
        The ``cect.readers`` module that provides the data.
    weights : str
        What an edge's ``weight`` counts in this dataset.
    """

    name: str
    description: str
    citation: str
    doi: str
    cect_reader: str
    weights: str

    def to_dict(self) -> dict[str, str]:
        """Return the fields as a plain dictionary."""
        return {
            "name": self.name,
            "description": self.description,
            "citation": self.citation,
            "doi": self.doi,
            "cect_reader": self.cect_reader,
            "weights": self.weights,
        }


_COUNTS = "number of synapses (chemical) or gap junctions (electrical) between the two cells"
# Stages as named by the released spreadsheets ("witvliet_2020_1 L1.xlsx" ...).
_WITVLIET_STAGES = {1: "L1", 2: "L1", 3: "L1", 4: "L1", 5: "L2", 6: "L3", 7: "adult", 8: "adult"}

_SOURCES: tuple[ConnectomeSource, ...] = (
    ConnectomeSource(
        name="cook2019-herm",
        description="Whole adult hermaphrodite: 302 neurons, muscles and other end organs.",
        citation="Cook et al. (2019), Whole-animal connectomes of both Caenorhabditis elegans "
        "sexes, Nature 571, 63-71",
        doi="10.1038/s41586-019-1352-7",
        cect_reader="cect.readers.Cook2019HermReader",
        weights="total number of EM serial sections of connectivity (synapse count and size "
        "together), as in the publication's adjacency matrices",
    ),
    ConnectomeSource(
        name="cook2019-male",
        description="Whole adult male: neurons (sex-shared and male-specific), muscles and "
        "other end organs.",
        citation="Cook et al. (2019), Whole-animal connectomes of both Caenorhabditis elegans "
        "sexes, Nature 571, 63-71",
        doi="10.1038/s41586-019-1352-7",
        cect_reader="cect.readers.Cook2019MaleReader",
        weights="total number of EM serial sections of connectivity (synapse count and size "
        "together), as in the publication's adjacency matrices",
    ),
    ConnectomeSource(
        name="white1986",
        description="White et al.'s whole-animal hermaphrodite wiring (the 'whole' version, "
        "pharynx included), as re-tabulated by Varshney et al.",
        citation="White et al. (1986), The structure of the nervous system of the nematode "
        "Caenorhabditis elegans, Phil. Trans. R. Soc. B 314, 1-340",
        doi="10.1098/rstb.1986.0056",
        cect_reader="cect.readers.White_whole",
        weights=_COUNTS,
    ),
    ConnectomeSource(
        name="varshney2011",
        description="Somatic (non-pharyngeal) hermaphrodite network, corrected and completed "
        "from White et al.; neuromuscular junctions go to one lumped body-wall muscle 'BWM'.",
        citation="Varshney et al. (2011), Structural properties of the Caenorhabditis "
        "elegans neuronal network, PLoS Comput. Biol. 7, e1001066",
        doi="10.1371/journal.pcbi.1001066",
        cect_reader="cect.readers.VarshneyDataReader",
        weights=_COUNTS,
    ),
) + tuple(
    ConnectomeSource(
        name=f"witvliet2020-{i}",
        description=f"Brain (nerve ring and its cells) of one hermaphrodite, dataset {i}: "
        f"{stage}.",
        citation="Witvliet et al. (2021; bioRxiv 2020), Connectomes across development reveal "
        "principles of brain maturation, Nature 596, 257-261",
        doi="10.1038/s41586-021-03778-8",
        cect_reader=f"cect.readers.WitvlietDataReader{i}",
        weights="number of presynaptic active zones (chemical) or gap junctions (electrical); "
        "the publication notes that the gap-junction data are incomplete",
    )
    for i, stage in _WITVLIET_STAGES.items()
)


def list_connectomes() -> list[ConnectomeSource]:
    """List the connectomes :func:`load_connectome` knows, with their sources.

    Returns
    -------
    list of ConnectomeSource
        One row per dataset, in a fixed order.

    Examples
    --------
    >>> rows = list_connectomes()
    >>> [row.name for row in rows][:4]
    ['cook2019-herm', 'cook2019-male', 'white1986', 'varshney2011']
    >>> rows[3].doi
    '10.1371/journal.pcbi.1001066'
    """
    return list(_SOURCES)


def _source(name: str) -> ConnectomeSource:
    for row in _SOURCES:
        if row.name == name:
            return row
    known = ", ".join(row.name for row in _SOURCES)
    raise ConnectomeError(f"unknown connectome {name!r}: expected one of {known}")


def _import_cect(module: str):
    """Import a ``cect`` module, or raise an error naming the install command."""
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            return importlib.import_module(module)
    except ImportError as error:
        raise ConnectomeDependencyError(
            f"loading C. elegans connectomes needs the optional package 'cect' ({error}); "
            f"install it with: {INSTALL_COMMAND}"
        ) from error


def _cached_dataset(source: ConnectomeSource) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Return (cell names, chemical matrix, gap-junction matrix) from cect's cache."""
    reader = _import_cect(source.cect_reader)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            dataset = reader.get_instance(from_cache=True)
    except OSError as error:
        raise ConnectomeDependencyError(
            f"cect's reader {source.cect_reader} cannot read its cached data for {source.name!r} "
            f"({error}); reinstall it with: {INSTALL_COMMAND}"
        ) from error
    if not dataset or "Generic_CS" not in dataset.connections:
        raise ConnectomeDependencyError(
            f"cect's reader {source.cect_reader} has no cached data for {source.name!r}; "
            f"reinstall it with: {INSTALL_COMMAND}"
        )
    nodes = [str(n) for n in dataset.nodes]
    chemical = np.asarray(dataset.connections["Generic_CS"], dtype=np.float64)
    electrical = np.asarray(dataset.connections["Generic_GJ"], dtype=np.float64)
    return nodes, chemical, electrical


def _as_counts(values: np.ndarray, what: str) -> np.ndarray:
    counts = np.rint(values)
    if not np.array_equal(counts, values):
        raise ConnectomeError(f"{what}: expected whole-number weights, found {values[counts != values][0]}")
    return counts.astype(np.int64)


def load_connectome(
    name: str,
    *,
    synapses: SynapseKind = "chemical",
    neurons_only: bool = True,
    self_loops: bool = False,
) -> ig.Graph:
    """Load a C. elegans connectome as an igraph graph.

    Parameters
    ----------
    name : str
        One of the names of :func:`list_connectomes`, e.g. ``"varshney2011"``.
    synapses : {"chemical", "electrical", "both"}, default "chemical"
        Chemical synapses give a directed graph; gap junctions an undirected one;
        ``"both"`` a directed graph with an edge attribute ``synapse`` in which each
        gap-junction pair is two opposite edges (see the module notes).
    neurons_only : bool, default True
        Keep only neurons (``cect.Cells.is_any_neuron``); otherwise keep every cell of
        the dataset (muscles, glia, end organs, Varshney's lumped "BWM").
    self_loops : bool, default False
        Keep a cell's connections onto itself.

    Returns
    -------
    igraph.Graph
        Vertex attribute ``name``; edge attributes ``weight`` (int: see the source's
        ``weights``) and, for ``"both"``, ``synapse``.  Graph attributes ``connectome``,
        ``synapses`` and ``weights`` record what was loaded.

    Raises
    ------
    ConnectomeError
        Unknown name or option.
    ConnectomeDependencyError
        ``cect`` is not installed.

    Examples
    --------
    >>> g = load_connectome("varshney2011")
    >>> g.is_directed(), g.vcount(), g.ecount(), sum(g.es["weight"])
    (True, 280, 2194, 6394)
    >>> gap = load_connectome("varshney2011", synapses="electrical")
    >>> gap.is_directed(), gap.ecount(), sum(gap.es["weight"])
    (False, 514, 887)
    """
    source = _source(name)
    if synapses not in ("chemical", "electrical", "both"):
        raise ConnectomeError(f"synapses must be 'chemical', 'electrical' or 'both', not {synapses!r}")
    nodes, chemical, electrical = _cached_dataset(source)
    keep = np.arange(len(nodes))
    if neurons_only:
        cells = _import_cect("cect.Cells")
        keep = np.array([i for i, cell in enumerate(nodes) if cells.is_any_neuron(cell)], dtype=np.int64)
    keep = keep[np.argsort(np.asarray(nodes, dtype=object)[keep].astype(str), kind="stable")]
    names = [nodes[i] for i in keep]
    chemical = _as_counts(chemical[np.ix_(keep, keep)], f"{name} chemical synapses")
    electrical = _as_counts(electrical[np.ix_(keep, keep)], f"{name} gap junctions")
    if not np.array_equal(electrical, electrical.T):
        raise ConnectomeError(f"{name}: the gap-junction matrix of cect is not symmetric")
    if not self_loops:
        np.fill_diagonal(chemical, 0)
        np.fill_diagonal(electrical, 0)

    src, dst = np.nonzero(chemical)
    chem_edges = np.column_stack([src, dst])
    chem_weight = chemical[src, dst]
    a, b = np.nonzero(np.triu(electrical))
    gap_edges = np.column_stack([a, b])
    gap_weight = electrical[a, b]

    if synapses == "chemical":
        graph = ig.Graph(n=len(names), edges=chem_edges.tolist(), directed=True)
        graph.es["weight"] = chem_weight.tolist()
    elif synapses == "electrical":
        graph = ig.Graph(n=len(names), edges=gap_edges.tolist(), directed=False)
        graph.es["weight"] = gap_weight.tolist()
    else:
        both_ways = np.concatenate([gap_edges, gap_edges[:, ::-1]])
        edges = np.concatenate([chem_edges, both_ways])
        weight = np.concatenate([chem_weight, gap_weight, gap_weight])
        graph = ig.Graph(n=len(names), edges=edges.tolist(), directed=True)
        graph.es["weight"] = weight.tolist()
        graph.es["synapse"] = ["chemical"] * len(chem_edges) + ["electrical"] * len(both_ways)
    graph.vs["name"] = names
    graph["connectome"] = source.name
    graph["synapses"] = synapses
    graph["weights"] = source.weights
    return graph


def connectome_degrees(
    graph: ig.Graph,
    *,
    kind: DegreeKind = "total",
    weighted: bool = False,
) -> np.ndarray:
    """Degree of every vertex of a connectome graph, in vertex order.

    Parameters
    ----------
    graph : igraph.Graph
        A graph from :func:`load_connectome` or :func:`analysis.graph_files.read_graph_file`
        (any igraph graph works).
    kind : {"in", "out", "total"}, default "total"
        Incoming, outgoing or all connections.  In an undirected graph every edge is a
        connection both ways, so the three kinds agree.  In a directed graph with a
        ``synapse`` edge attribute, an ``"electrical"`` pair of opposite edges counts
        once in the total (it is one gap-junction connection), so the degrees of a
        ``"both"`` graph are the chemical plus the electrical degrees.
    weighted : bool, default False
        Sum the ``weight`` of the edges (synapse counts) instead of counting edges.

    Returns
    -------
    numpy.ndarray of int64
        Zeros kept (a fit drops them itself).

    Examples
    --------
    >>> import igraph as ig
    >>> g = ig.Graph(n=3, edges=[(0, 1), (0, 2), (1, 0)], directed=True)
    >>> g.es["weight"] = [2, 5, 1]
    >>> connectome_degrees(g, kind="out").tolist(), connectome_degrees(g, kind="in").tolist()
    ([2, 1, 0], [1, 1, 1])
    >>> connectome_degrees(g, weighted=True).tolist()
    [8, 3, 5]
    """
    if kind not in ("in", "out", "total"):
        raise ConnectomeError(f"kind must be 'in', 'out' or 'total', not {kind!r}")
    n = graph.vcount()
    edges = np.asarray(graph.get_edgelist(), dtype=np.int64).reshape(-1, 2)
    if weighted:
        if "weight" not in graph.es.attributes():
            raise ConnectomeError(
                "weighted degrees need a 'weight' edge attribute (synapse counts); "
                "use weighted=False to count connections"
            )
        raw = np.asarray(graph.es["weight"], dtype=np.float64)
        weight = np.rint(raw)
        bad = np.flatnonzero((weight != raw) | (raw < 0))
        if len(bad):
            raise ConnectomeError(
                f"weighted degrees need non-negative whole-number weights (synapse counts); "
                f"edge {edges[bad[0]].tolist()} has weight {raw[bad[0]]}"
            )
        weight = weight.astype(np.int64)
    else:
        weight = np.ones(len(edges), dtype=np.int64)

    def tally(ends: np.ndarray, w: np.ndarray) -> np.ndarray:
        return np.bincount(ends, weights=w, minlength=n).astype(np.int64)

    if not graph.is_directed():
        return tally(edges[:, 0], weight) + tally(edges[:, 1], weight)
    into, out = tally(edges[:, 1], weight), tally(edges[:, 0], weight)
    if kind == "in":
        return into
    if kind == "out":
        return out
    total = into + out
    if "synapse" in graph.es.attributes():
        electrical = np.asarray(graph.es["synapse"], dtype=object) == "electrical"
        total -= tally(edges[electrical, 0], weight[electrical])
    return total
