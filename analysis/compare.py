"""Degree distributions of networks and connectomes side by side.

Every degree set, whether a layer of a pruned network or a connectome's in-, out- or total
degrees, gets the one analysis of :func:`analysis.analyse_degrees` (the TPL fit, its bootstrap
p-value, the alternative laws and the untruncated power-law tail, the fit the connectome
literature reports: Varshney et al. 2011 give an in-degree tail exponent of 3.17).

:func:`compare_networks` resolves source specifications (degree CSVs, graph files, connectome
names such as ``celegans:cook2019-herm:in``), analyses each degree set and returns a
:class:`Comparison` that writes the table as CSV and markdown and draws the overlaid CCDFs of
degree divided by its mean.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from analysis.degree_analysis import AnalysisCache, DegreeAnalysis, analyse_degrees
from analysis.tpl import FitError
from nn2graph._rng import SeedLike
from nn2graph.degree_csv import DegreeFileError, read_degree_csv
from nn2graph.exceptions import NN2GraphError
from nn2graph.result_files import json_ready, write_csv_rows, write_json

__all__ = [
    "CompareError",
    "Comparison",
    "ComparisonEntry",
    "DegreeSet",
    "compare_networks",
    "markdown_table",
    "plot_degree_ccdfs",
    "resolve_source",
]

#: Prefix of a connectome source: ``celegans:NAME[:KIND[:SYNAPSES]]``.
CONNECTOME_PREFIX = "celegans:"
_KINDS = ("in", "out", "total")
_SYNAPSES = ("chemical", "electrical", "both")
_GRAPH_SUFFIXES = (".graphml", ".xml", ".gexf")


class CompareError(NN2GraphError, ValueError):
    """A source that cannot be resolved into degrees, or a degree set that cannot be analysed."""


# --------------------------------------------------------------------------------------------
# sources


@dataclass(frozen=True)
class DegreeSet:
    """Degrees of one layer (or one degree kind of a connectome) of one source."""

    source: str
    layer: str
    degrees: np.ndarray = field(repr=False, compare=False)


def _connectome_sets(spec: str, label: str | None, synapses: str, weighted: bool) -> list[DegreeSet]:
    from analysis.connectomes import connectome_degrees, list_connectomes, load_connectome

    parts = spec[len(CONNECTOME_PREFIX):].split(":")
    names = [row.name for row in list_connectomes()]
    if not 1 <= len(parts) <= 3 or parts[0] not in names:
        raise CompareError(f"unknown connectome source {spec!r}: expected celegans:NAME[:KIND[:SYNAPSES]] with "
                           f"NAME one of {', '.join(names)}")
    kinds = _KINDS if len(parts) < 2 or parts[1] in ("", "all") else (parts[1],)
    if kinds[0] not in _KINDS:
        raise CompareError(f"source {spec!r}: degree kind {parts[1]!r} is not one of in, out, total, all")
    syn = parts[2] if len(parts) == 3 else synapses
    if syn not in _SYNAPSES:
        raise CompareError(f"source {spec!r}: synapses {syn!r} is not one of {', '.join(_SYNAPSES)}")
    graph = load_connectome(parts[0], synapses=syn)
    if not graph.is_directed():
        kinds = ("total",)  # gap junctions: in = out = total
    name = label or (parts[0] if syn == "chemical" else f"{parts[0]} ({syn})")
    return [DegreeSet(name, k, connectome_degrees(graph, kind=k, weighted=weighted)) for k in kinds]


def _degree_csv_sets(path: Path, label: str) -> list[DegreeSet]:
    try:
        layers = read_degree_csv(path)
    except DegreeFileError as error:
        raise CompareError(str(error)) from None
    return [DegreeSet(label, layer, degrees) for layer, degrees in layers.items()]


def _graph_sets(path: Path, label: str, weighted: bool, include_output: bool) -> list[DegreeSet]:
    from analysis.connectomes import connectome_degrees
    from analysis.graph_files import read_graph_file
    from nn2graph.degrees import graph_degrees

    graph = read_graph_file(path)
    if "layer" in graph.vs.attributes():
        degrees = graph_degrees(graph, include_output=include_output, output_edges=include_output)
        return [DegreeSet(label, layer, d) for layer, d in degrees.items()]
    kinds = _KINDS if graph.is_directed() else ("total",)
    return [DegreeSet(label, k, connectome_degrees(graph, kind=k, weighted=weighted)) for k in kinds]


def resolve_source(
    spec: str | os.PathLike,
    *,
    synapses: Literal["chemical", "electrical", "both"] = "chemical",
    weighted: bool = False,
    include_output: bool = False,
) -> list[DegreeSet]:
    """Turn one source specification into its degree sets.

    Parameters
    ----------
    spec : str or path-like
        ``[LABEL=]SOURCE[:SELECT]`` where SOURCE is

        - ``celegans:NAME[:KIND[:SYNAPSES]]``: a connectome of :func:`analysis.list_connectomes`;
          KIND ``in``, ``out``, ``total`` (default: all three), SYNAPSES overrides ``synapses``;
        - a degree CSV with columns ``layer`` and ``degree`` (``nn2graph convert --degrees``);
        - a graph file (GraphML, GEXF, or an edge-list CSV with ``source,target``): layered graphs
          (vertex attribute ``layer``, e.g. from ``LayeredGraph.write_graphml``) give one set per
          layer with the paper's degree conventions, other graphs their in-, out- and total degrees.

        For files, ``:SELECT`` keeps only the layer (or degree kind) SELECT.  ``LABEL=`` names the
        source in tables and legends (default: the file's stem or the connectome's name).
    synapses : {"chemical", "electrical", "both"}, default "chemical"
        Connections of a connectome.
    weighted : bool, default False
        Connectomes and non-layered graphs: sum synapse counts (``weight``) instead of counting
        connected partners.
    include_output : bool, default False
        Layered graphs: analyse the output (softmax) layer too (the paper does not).

    Returns
    -------
    list of DegreeSet

    Raises
    ------
    CompareError
        An unknown connectome, kind or layer, a missing file, a malformed degree CSV.

    Examples
    --------
    >>> [(s.source, s.layer, s.degrees.size) for s in resolve_source("celegans:varshney2011:in")]
    [('varshney2011', 'in', 280)]
    >>> resolve_source("nowhere.csv")
    Traceback (most recent call last):
    ...
    analysis.compare.CompareError: unknown source 'nowhere.csv': no such file, and not celegans:NAME[:KIND[:SYNAPSES]]
    """
    text = os.fspath(spec)
    label = None
    head, sep, tail = text.partition("=")
    if sep and head and not Path(text).exists() and "/" not in head and "\\" not in head:
        label, text = head, tail
    if text.startswith(CONNECTOME_PREFIX):
        return _connectome_sets(text, label, synapses, weighted)
    path, select = Path(text), None
    if not path.exists() and ":" in text:
        stem, _, select = text.rpartition(":")
        path = Path(stem)
    if not path.is_file():
        raise CompareError(f"unknown source {text!r}: no such file, and not celegans:NAME[:KIND[:SYNAPSES]]")
    name = label or path.stem
    suffix = path.suffix.lower()
    if suffix in (".pt", ".pth", ".ts"):
        raise CompareError(f"{path}: model files are not read here; convert it first with "
                           f"'nn2graph convert {path} --input-shape ... --degrees DEGREES.csv' and compare that CSV")
    if suffix == ".csv":
        try:
            with open(path, newline="", encoding="utf-8") as fh:
                header = {c.strip().lower() for c in next(csv.reader(fh), [])}
        except (UnicodeDecodeError, csv.Error):
            raise CompareError(f"{path}: not a text CSV; expected a degree CSV (layer,unit,degree) or an "
                               "edge list (source,target)") from None
        sets = (_graph_sets(path, name, weighted, include_output) if {"source", "target"} <= header
                else _degree_csv_sets(path, name))
    elif suffix in _GRAPH_SUFFIXES:
        sets = _graph_sets(path, name, weighted, include_output)
    else:
        raise CompareError(f"{path}: unknown file type {suffix or '(none)'!r}; expected a degree CSV "
                           f"(layer,unit,degree), an edge-list CSV, GraphML or GEXF")
    if select is not None:
        kept = [s for s in sets if s.layer == select]
        if not kept:
            raise CompareError(f"{path} has no layer {select!r}; it has {', '.join(s.layer for s in sets)}")
        sets = kept
    return sets


# --------------------------------------------------------------------------------------------
# the comparison


@dataclass(frozen=True)
class ComparisonEntry:
    """One row of a :class:`Comparison`: a degree set and its analysis."""

    source: str
    layer: str
    analysis: DegreeAnalysis

    @property
    def label(self) -> str:
        """``"source: layer"``, the legend entry."""
        return f"{self.source}: {self.layer}"

    def row(self) -> dict[str, Any]:
        """The table row: source, layer, then :meth:`DegreeAnalysis.row`."""
        return {"source": self.source, "layer": self.layer} | self.analysis.row()


_MD_COLUMNS = (("source", "source", "{}"), ("layer", "layer / kind", "{}"), ("n", "n", "{}"),
               ("mean_degree", "mean degree", "{:.2f}"), ("alpha", "alpha", "{:.3f}"), ("xmin", "xmin", "{}"),
               ("xmax", "xmax", "{}"), ("tail_share", "n_tail / n", "{:.2f}"), ("ks_distance", "D", "{:.4f}"),
               ("p_value", "p", "{:.3f}"), ("best", "best law", "{}"), ("tail_alpha", "tail alpha", "{:.2f}"),
               ("tail_xmin", "tail xmin", "{}"), ("tail_n", "tail n", "{}"), ("tail_p_value", "tail p", "{:.3f}"),
               ("verdict_summary", "verdict (widest window)", "{}"), ("tail_verdict_summary", "tail verdict", "{}"))


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """Markdown table of comparison rows (:meth:`ComparisonEntry.row`): the TPL window fit (the
    paper's method), its p-value and best law, the untruncated power-law tail with its p-value, and
    the two verdicts (widest window, tail) with what decided them (or why a degenerate set was not
    fitted).

    Examples
    --------
    >>> import numpy as np
    >>> a = analyse_degrees(np.array([1, 1, 1, 2, 2, 3, 4, 5, 8, 13]), n_boot=0)
    >>> print(markdown_table([ComparisonEntry("toy", "fc1", a).row()]).splitlines()[2][:39])
    | toy | fc1 | 10 | 4.00 | 0.776 | 1 | 5
    """
    lines = ["| " + " | ".join(h for _, h, _ in _MD_COLUMNS) + " |", "|" + "---|" * len(_MD_COLUMNS)]
    for row in rows:
        cells = ["n/a" if row[k] is None else fmt.format(row[k]) for k, _, fmt in _MD_COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


@dataclass(frozen=True)
class Comparison:
    """Degree analyses of several sources (:func:`compare_networks`).

    Attributes
    ----------
    entries : tuple of ComparisonEntry
        One per degree set, in the order of the sources.
    n_boot : int
        Bootstrap sets per p-value (0: none computed).
    """

    entries: tuple[ComparisonEntry, ...]
    n_boot: int

    def rows(self) -> list[dict[str, Any]]:
        """One flat dictionary per entry (the CSV rows)."""
        return [e.row() for e in self.entries]

    def to_csv(self, path: str | os.PathLike) -> None:
        """Write :meth:`rows` as CSV."""
        write_csv_rows(path, self.rows())

    def to_markdown(self) -> str:
        """The table in markdown (:func:`markdown_table`)."""
        return markdown_table(self.rows())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return {"n_boot": self.n_boot,
                "entries": [{"source": e.source, "layer": e.layer} | e.analysis.to_dict() for e in self.entries]}

    def to_json(self, path: str | os.PathLike | None = None) -> str:
        """:meth:`to_dict` as JSON text, also written to ``path`` when given."""
        if path is not None:
            write_json(path, self.to_dict())
        return json.dumps(json_ready(self.to_dict()), indent=2, allow_nan=False)

    def plot(self, *, path: str | os.PathLike | None = None, title: str | None = None):
        """Overlaid log-log CCDFs of degree / mean degree, one curve per entry
        (:func:`plot_degree_ccdfs`).

        Returns
        -------
        matplotlib.figure.Figure
        """
        sets = [DegreeSet(e.source, e.layer, e.analysis.degrees) for e in self.entries]
        return plot_degree_ccdfs(sets, path=path, title=title)


def plot_degree_ccdfs(degree_sets, *, path: str | os.PathLike | None = None, title: str | None = None):
    """Overlaid log-log CCDFs of degree divided by its mean, one curve per degree set.

    The mean is over all nodes, zeros included; the curves show the positive degrees.
    Every curve has its own colour and line style: one colour a source when no source has more
    than four sets, otherwise one line style a source.

    Parameters
    ----------
    degree_sets : sequence of DegreeSet
    path : str or path-like, optional
        Write the figure there (PNG by the suffix).
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> fig = plot_degree_ccdfs([DegreeSet("a", "fc1", np.array([0, 1, 2, 2, 5])),
    ...                          DegreeSet("b", "in", np.array([3, 3, 9]))])
    >>> [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    ['a: fc1 (n=5, mean 2)', 'b: in (n=3, mean 5)']
    """
    from matplotlib.figure import Figure

    from analysis.plotting import ccdf_points, finish_figure

    fig = Figure(figsize=(7.5, 5.2), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    for s, style in zip(degree_sets, _line_styles([s.source for s in degree_sets])):
        mean = float(np.mean(s.degrees))
        if mean <= 0:
            raise CompareError(f"{s.source}: {s.layer}: every degree is 0, there is no CCDF to draw")
        x, share = ccdf_points(s.degrees)
        ax.step(x / mean, share, where="post", **style,
                label=f"{s.source}: {s.layer} (n={s.degrees.size}, mean {mean:.3g})")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("degree / mean degree")
    ax.set_ylabel("P(degree \u2265 x)")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=7, loc="lower left")
    if title:
        ax.set_title(title)
    return finish_figure(fig, path=path, dpi=110)


def _line_styles(sources: Sequence[str]) -> list[dict[str, Any]]:
    """Matplotlib styles that tell every line apart.

    When no source has more than four sets (layers of a small network, a connectome's in, out
    and total degree) the colour says the source (tab10, tab20 beyond 10 sources, then a
    marker for every further 20) and the line style the set within it.  Otherwise the line
    style says the source and the colour the set within it (tab10, tab20 beyond 10 sets), with
    a marker for each further group of four sources and of twenty sets.

    >>> [(st["color"], st["linestyle"]) for st in _line_styles(["a", "a", "b"])]
    [('C0', '-'), ('C0', '--'), ('C1', '-')]
    >>> styles = _line_styles(["x"] * 45 + ["y"] * 3)
    >>> len({(st["linestyle"], str(st["color"]), st.get("marker")) for st in styles})
    48
    """
    from matplotlib import colormaps

    dashes = ("-", "--", ":", "-.")
    markers = ("o", "s", "^", "v", "D", "x", "+", "*", "p", "h")
    index = {src: i for i, src in enumerate(dict.fromkeys(sources))}
    per_source = {src: sources.count(src) for src in index}
    most = max(per_source.values(), default=0)
    seen: dict[str, int] = {}
    styles = []
    for src in sources:
        k = seen[src] = seen.get(src, -1) + 1
        si = index[src]
        if most <= len(dashes):
            color = f"C{si}" if len(index) <= 10 else colormaps["tab20"](si % 20)
            style: dict[str, Any] = {"color": color, "linestyle": dashes[k]}
            group = si // 20
        else:
            color = f"C{k}" if per_source[src] <= 10 else colormaps["tab20"](k % 20)
            style = {"color": color, "linestyle": dashes[si % len(dashes)]}
            group = (si // len(dashes)) * (most // 20 + 1) + k // 20
        if group:
            style |= {"marker": markers[(group - 1) % len(markers)], "markevery": 0.2, "markersize": 3}
        styles.append(style)
    return styles


def compare_networks(
    sources,
    *,
    n_boot: int = 2500,
    seed: SeedLike = 0,
    n_jobs: int | None = None,
    synapses: Literal["chemical", "electrical", "both"] = "chemical",
    weighted: bool = False,
    include_output: bool = False,
    search_fraction: float = 0.3,
    tail_verdict: bool = True,
    cache: AnalysisCache | str | os.PathLike | None = None,
    progress: bool = False,
) -> Comparison:
    """Analyse the degrees of the layers of networks and of connectomes side by side.

    Parameters
    ----------
    sources : sequence of str, path-like or DegreeSet
        Source specifications (see :func:`resolve_source`) or ready degree sets.
    n_boot : int, default 2500
        Bootstrap sets per p-value; 0 skips p-values.
    seed : int, SeedSequence, Generator or None, default 0
        Seed of every degree set's bootstrap, as :func:`analysis.analyse_degrees` takes it: the
        same degrees give the same p-value here as in ``nn2graph fit`` and ``nn2graph reproduce``.
    n_jobs : int or None, default None
        Bootstrap worker processes (None: every core).
    synapses, weighted, include_output
        Passed to :func:`resolve_source`.
    search_fraction : float, default 0.3
        TPL window search range.
    tail_verdict : bool, default True
        Judge the untruncated tail fit too (:func:`analysis.analyse_degrees`): the tail is what
        the connectome literature reports, so its exponent comes with its p-value and verdict.
        A second bootstrap per degree set (with the xmin search in every refit).
    cache : AnalysisCache, path or None
        Folder of finished bootstraps (:class:`analysis.AnalysisCache`).
    progress : bool, default False
        Show bootstrap progress bars.

    Returns
    -------
    Comparison
        Degenerate degree sets (too few nodes or distinct degrees) are in it, not fitted.

    Raises
    ------
    CompareError
        An unresolvable source, or degrees that are not non-negative integers (named by source
        and layer).

    Examples
    --------
    >>> import numpy as np
    >>> toy = DegreeSet("toy", "fc1", np.array([1, 1, 1, 2, 2, 3, 4, 5, 8, 13]))
    >>> c = compare_networks([toy, "celegans:varshney2011:in"], n_boot=0)
    >>> [(r["source"], r["layer"], r["n"]) for r in c.rows()]
    [('toy', 'fc1', 10), ('varshney2011', 'in', 280)]
    """
    if not len(sources):
        raise CompareError("no sources given: name degree CSVs, graph files or celegans:NAME connectomes")
    sets: list[DegreeSet] = []
    for spec in sources:
        if isinstance(spec, DegreeSet):
            sets.append(spec)
        else:
            sets.extend(resolve_source(spec, synapses=synapses, weighted=weighted, include_output=include_output))
    entries = []
    for s in sets:
        try:
            analysis = analyse_degrees(s.degrees, n_boot=n_boot, seed=seed, n_jobs=n_jobs,
                                       search_fraction=search_fraction, tail_verdict=tail_verdict, cache=cache,
                                       progress=progress)
        except FitError as error:
            raise CompareError(f"{s.source}: {s.layer}: cannot analyse its degrees: {error}") from error
        entries.append(ComparisonEntry(s.source, s.layer, analysis))
    return Comparison(entries=tuple(entries), n_boot=int(n_boot))
