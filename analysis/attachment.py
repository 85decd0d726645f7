"""Internal preferential attachment between two snapshots of a network (paper §4, docs/method.md §4).

These functions share one set of binning and line-fitting helpers:

* :func:`preferential_attachment` -- two snapshots of a *layered* graph with the same vertices,
  where the later one contains the earlier one's connections (the continual-learning setting of
  the paper).  It estimates Delta_0^l(d1, d2) (eq. 6, Figure 7) for every adjacent layer pair and
  Omega_0^l(d) (eq. 10, Figure 8) for every layer.
* :func:`layered_changes` -- the same for two layered snapshots where connections are also lost
  (a network rewired during training): gains and losses reported separately.
* :func:`analysis.general_attachment.attachment_general` -- the non-layered form of eq. 5 for
  any two snapshots of a network, built on the same helpers.

Degrees are binned by :func:`bin_degrees` ("exact", "log", "quantile" or explicit boundaries).
Every Delta cell is the mean over *all* node pairs of the cell, including pairs that are not
connected in either snapshot; it is computed from per-edge sums and per-bin node counts, without
enumerating the pairs.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import igraph as ig
import numpy as np
from scipy import stats

from nn2graph.degrees import graph_degrees, layer_order
from nn2graph.exceptions import NN2GraphError

__all__ = [
    "AttachmentError",
    "AttachmentResult",
    "DegreeBins",
    "DeltaTable",
    "LayeredChanges",
    "OmegaFit",
    "aggregate_keys",
    "bin_degrees",
    "edge_array",
    "layered_changes",
    "preferential_attachment",
    "sorted_unique",
]

BinsLike = Literal["exact", "log", "quantile"] | Sequence[int] | np.ndarray


class AttachmentError(NN2GraphError, ValueError):
    """Two snapshots cannot be compared (different vertices, lost connections, bad bins)."""


# --------------------------------------------------------------------------------------------
# Binning
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class DegreeBins:
    """Degree bins of one set of nodes.

    Attributes
    ----------
    lo, hi : numpy.ndarray of int64
        Smallest and largest degree of the nodes in each bin (inclusive).
    center : numpy.ndarray of float
        Mean degree of the nodes in each bin (the x value used for plots and fits).
    count : numpy.ndarray of int64
        Number of nodes in each bin.  Empty bins are never kept.
    """

    lo: np.ndarray
    hi: np.ndarray
    center: np.ndarray
    count: np.ndarray

    def __len__(self) -> int:
        return len(self.count)

    def labels(self) -> list[str]:
        """Bin labels such as ``"3"`` or ``"4-7"``."""
        return [f"{a}" if a == b else f"{a}-{b}" for a, b in zip(self.lo.tolist(), self.hi.tolist())]

    def to_dict(self) -> dict:
        """JSON-ready dictionary of the four arrays."""
        return {
            "lo": self.lo.tolist(),
            "hi": self.hi.tolist(),
            "center": self.center.tolist(),
            "count": self.count.tolist(),
        }


def _boundaries(degrees: np.ndarray, bins: BinsLike, n_bins: int) -> np.ndarray:
    """Increasing integer boundaries B; a node of degree d falls in bin k if B[k] <= d < B[k+1]."""
    top = int(degrees.max()) + 1
    if isinstance(bins, str):
        if bins == "exact":
            return np.append(sorted_unique(degrees), top)
        if n_bins < 1:
            raise AttachmentError(f"n_bins must be at least 1, got {n_bins}")
        if bins == "log":
            positive = degrees[degrees > 0]
            cuts = [np.zeros(1)] if positive.size < degrees.size else []
            if positive.size:
                cuts.append(np.floor(np.geomspace(positive.min(), top, n_bins + 1)))
            cuts.append(np.array([top]))
            return np.unique(np.concatenate(cuts)).astype(np.int64)
        if bins == "quantile":
            q = np.quantile(degrees, np.linspace(0, 1, n_bins + 1)[1:-1])
            return np.unique(np.concatenate([[degrees.min()], np.ceil(q), [top]])).astype(np.int64)
        raise AttachmentError(f"bins must be 'exact', 'log', 'quantile' or a sequence of integer boundaries, not {bins!r}")
    edges = np.asarray(bins)
    if edges.ndim != 1 or edges.size < 2 or not np.issubdtype(edges.dtype, np.integer) or np.any(np.diff(edges) <= 0):
        raise AttachmentError(
            f"explicit bins must be at least two strictly increasing integers (boundaries, bin k = [B[k], B[k+1])), got {bins!r}"
        )
    if degrees.min() < edges[0] or degrees.max() >= edges[-1]:
        raise AttachmentError(
            f"explicit bins [{edges[0]}, {edges[-1]}) do not cover the degrees {degrees.min()}..{degrees.max()}; "
            f"widen the first or last boundary"
        )
    return edges.astype(np.int64)


def bin_degrees(
    degrees: np.ndarray | Sequence[int], *, bins: BinsLike = "log", n_bins: int = 10
) -> tuple[DegreeBins, np.ndarray]:
    """Put nodes into degree bins.

    Parameters
    ----------
    degrees : array_like of int
        Degree of each node (non-negative).
    bins : {"exact", "log", "quantile"} or sequence of int, default "log"
        ``"exact"``: one bin per distinct degree.  ``"log"``: ``n_bins`` logarithmically spaced
        bins over the positive degrees (integer boundaries, so small degrees may merge into
        fewer bins), plus a bin of its own for degree 0.  ``"quantile"``: about ``n_bins`` bins
        holding similar numbers of nodes (ties keep equal degrees together).  A sequence gives
        the boundaries B: bin k holds degrees ``B[k] <= d < B[k+1]``.
    n_bins : int, default 10
        Number of bins for "log" and "quantile".

    Returns
    -------
    bins : DegreeBins
        The non-empty bins, lowest degrees first.
    index : numpy.ndarray of int64
        The bin of each node.

    Examples
    --------
    >>> b, index = bin_degrees([0, 1, 1, 2, 5, 9, 30], bins="log", n_bins=3)
    >>> b.labels(), b.count.tolist(), index.tolist()
    (['0', '1-2', '5', '9-30'], [1, 3, 1, 2], [0, 1, 1, 1, 2, 3, 3])
    >>> bin_degrees([3, 3, 4], bins="exact")[0].labels()
    ['3', '4']
    """
    d = np.asarray(degrees)
    if d.ndim != 1 or d.size == 0:
        raise AttachmentError(f"degrees must be a non-empty 1-D array, got shape {d.shape}")
    if np.any(d < 0):
        raise AttachmentError(f"degrees must be non-negative, got minimum {d.min()}")
    boundaries = _boundaries(d, bins, n_bins)
    raw = np.searchsorted(boundaries, d, side="right") - 1
    used, index = np.unique(raw, return_inverse=True)
    count = np.bincount(index, minlength=len(used)).astype(np.int64)
    center = np.bincount(index, weights=d.astype(np.float64), minlength=len(used)) / count
    lo = np.full(len(used), np.iinfo(np.int64).max)
    hi = np.full(len(used), np.iinfo(np.int64).min)
    np.minimum.at(lo, index, d.astype(np.int64))
    np.maximum.at(hi, index, d.astype(np.int64))
    return DegreeBins(lo=lo, hi=hi, center=center, count=count), index.astype(np.int64)


# --------------------------------------------------------------------------------------------
# Result types
# --------------------------------------------------------------------------------------------


def _jsonable(a: np.ndarray) -> list:
    """Nested lists with NaN replaced by None."""
    return np.where(np.isnan(a), None, a).tolist() if a.dtype.kind == "f" else a.tolist()


@dataclass(frozen=True, eq=False)
class DeltaTable:
    """Delta(d1, d2): mean change of connections per node pair, by degree bins.

    Attributes
    ----------
    lower, upper : str
        Names of the two node sets: the layers l and l + 1, or "source"/"target" (or
        "node"/"node") for :func:`attachment_general`.
    bins1, bins2 : DegreeBins
        Bins of the t = 0 degrees of the first and second node of each pair.
    changed : numpy.ndarray of float, shape (len(bins1), len(bins2))
        Sum over the pairs of a cell of the connections gained (or lost).
    n_pairs : numpy.ndarray of int64, same shape
        Number of node pairs behind each cell, connected or not.  For
        :func:`attachment_general` with ``degree="total"`` the table is symmetric: every
        unordered pair {i, j} is counted as (i, j) and (j, i), in ``changed`` and in
        ``n_pairs`` alike, so the means are those of the unordered pairs and ``changed.sum()``
        is twice the total.
    delta : numpy.ndarray of float, same shape
        ``changed / n_pairs``; NaN exactly where ``n_pairs`` is 0 (a one-node bin paired with
        itself in :func:`attachment_general`).
    pa_constant : float
        c of the internal preferential-attachment model Delta = c d1 d2 fitted to the totals:
        the total change divided by the sum of d_i d_j over all pairs (eq. 5 / eq. 6).
    """

    lower: str
    upper: str
    bins1: DegreeBins
    bins2: DegreeBins
    changed: np.ndarray
    n_pairs: np.ndarray
    delta: np.ndarray
    pa_constant: float

    def expected_pa(self) -> np.ndarray:
        """Delta predicted by internal preferential attachment, ``pa_constant * d1 * d2``.

        With bin centres the mean degrees of the bins, this is the exact mean of c d_i d_j over
        the pairs of a cell (off the diagonal of :func:`attachment_general`'s tables).
        """
        return self.pa_constant * np.outer(self.bins1.center, self.bins2.center)

    def rows(self) -> list[dict]:
        """One CSV-friendly row per cell with at least one pair."""
        i, j = np.nonzero(self.n_pairs)
        l1, l2 = self.bins1.labels(), self.bins2.labels()
        expected = self.expected_pa()
        return [
            {
                "lower": self.lower,
                "upper": self.upper,
                "d1_bin": l1[a],
                "d1_center": float(self.bins1.center[a]),
                "d2_bin": l2[b],
                "d2_center": float(self.bins2.center[b]),
                "n_pairs": int(self.n_pairs[a, b]),
                "changed": float(self.changed[a, b]),
                "delta": float(self.delta[a, b]),
                "expected_pa": float(expected[a, b]),
            }
            for a, b in zip(i.tolist(), j.tolist())
        ]

    def to_dict(self) -> dict:
        """JSON-ready dictionary (NaN cells become None)."""
        return {
            "lower": self.lower,
            "upper": self.upper,
            "bins1": self.bins1.to_dict(),
            "bins2": self.bins2.to_dict(),
            "changed": _jsonable(self.changed),
            "n_pairs": self.n_pairs.tolist(),
            "delta": _jsonable(self.delta),
            "pa_constant": self.pa_constant,
        }


@dataclass(frozen=True, eq=False)
class OmegaFit:
    """Omega(d): mean number of connections gained (or lost) by the nodes of t = 0 degree d.

    The two lines are fitted to the points (bin centre, Omega) with equal weight per bin, as in
    the paper's Figure 8.  Fields that are undefined for the data (a line through fewer than two
    points, a correlation of constant values) are None.

    Attributes
    ----------
    layer : str
        The layer (or "all" for :func:`attachment_general`).
    bins : DegreeBins
        Bins of the t = 0 degrees of the layer's nodes.
    omega : numpy.ndarray of float
        Mean change per node in each bin.
    changed : numpy.ndarray of float
        Total change of the nodes of each bin.
    slope, intercept, r2 : float or None
        Ordinary least-squares line ``Omega = slope * d + intercept`` and its r^2.
    origin_slope, origin_r2 : float or None
        Least-squares line through the origin (the form of eq. 10), ``sum(x y) / sum(x^2)``;
        its r^2 is ``1 - SS_res / SS_tot`` with the usual centred SS_tot, so it is comparable
        with ``r2`` and negative when the line fits worse than a constant.
    pearson, spearman : float or None
        Correlation coefficients of the points (scipy.stats).
    predicted_slope : float or None
        The slope eq. 10 predicts from the snapshot (see the function that made the fit).
    """

    layer: str
    bins: DegreeBins
    omega: np.ndarray
    changed: np.ndarray
    slope: float | None
    intercept: float | None
    r2: float | None
    origin_slope: float | None
    origin_r2: float | None
    pearson: float | None
    spearman: float | None
    predicted_slope: float | None

    _SCALARS = ("slope", "intercept", "r2", "origin_slope", "origin_r2", "pearson", "spearman", "predicted_slope")

    def summary(self) -> dict:
        """The layer and the scalar fields (one CSV row per layer)."""
        return {"layer": self.layer, "n_nodes": int(self.bins.count.sum())} | {
            k: getattr(self, k) for k in self._SCALARS
        }

    def rows(self) -> list[dict]:
        """One CSV-friendly row per degree bin."""
        return [
            {"layer": self.layer, "d_bin": lab, "d_center": float(c), "n_nodes": int(n), "changed": float(s), "omega": float(o)}
            for lab, c, n, s, o in zip(self.bins.labels(), self.bins.center, self.bins.count, self.changed, self.omega)
        ]

    def to_dict(self) -> dict:
        """JSON-ready dictionary."""
        return self.summary() | {"bins": self.bins.to_dict(), "omega": self.omega.tolist(), "changed": self.changed.tolist()}


def _to_json(payload: dict, path) -> str:
    from nn2graph.result_files import json_ready, write_json

    if path is not None:
        write_json(path, payload)
    return json.dumps(json_ready(payload), indent=2, allow_nan=False)


@dataclass(frozen=True, eq=False)
class AttachmentResult:
    """Internal preferential attachment between two snapshots of a layered graph.

    Attributes
    ----------
    layers : tuple of str
        The analysed layers, lowest first.
    degrees : dict of str to numpy.ndarray
        t = 0 degree of every node of each analysed layer, in vertex order.
    new_connections : dict of str to numpy.ndarray
        New connections each of those nodes made between t = 0 and t = 1.
    deltas : tuple of DeltaTable
        One table per adjacent layer pair, lowest pair first.
    omegas : tuple of OmegaFit
        One fit per analysed layer.
    n_new : int
        Total number of new connections between analysed layers.
    """

    layers: tuple[str, ...]
    degrees: dict[str, np.ndarray]
    new_connections: dict[str, np.ndarray]
    deltas: tuple[DeltaTable, ...]
    omegas: tuple[OmegaFit, ...]
    n_new: int

    def delta(self, lower: str) -> DeltaTable:
        """The Delta table of the pair (``lower``, the layer above it)."""
        for t in self.deltas:
            if t.lower == lower:
                return t
        raise KeyError(f"no layer pair starts at {lower!r}; pairs start at {[t.lower for t in self.deltas]}")

    def omega(self, layer: str) -> OmegaFit:
        """The Omega fit of ``layer``."""
        for o in self.omegas:
            if o.layer == layer:
                return o
        raise KeyError(f"no layer {layer!r}; layers are {list(self.layers)}")

    def delta_rows(self) -> list[dict]:
        """CSV rows of every Delta cell of every layer pair."""
        return [row for t in self.deltas for row in t.rows()]

    def omega_rows(self) -> list[dict]:
        """CSV rows of every Omega bin of every layer."""
        return [row for o in self.omegas for row in o.rows()]

    def omega_summary(self) -> list[dict]:
        """One CSV row per layer: slopes, r^2, correlations and the eq. 10 slope."""
        return [o.summary() for o in self.omegas]

    def to_dict(self) -> dict:
        """JSON-ready dictionary (without the per-node arrays)."""
        return {
            "layers": list(self.layers),
            "n_new": self.n_new,
            "deltas": [t.to_dict() for t in self.deltas],
            "omegas": [o.to_dict() for o in self.omegas],
        }

    def to_json(self, path=None) -> str:
        """:meth:`to_dict` as JSON text, also written to ``path`` when given."""
        return _to_json(self.to_dict(), path)


# --------------------------------------------------------------------------------------------
# Shared computations
# --------------------------------------------------------------------------------------------


def _line_fits(x: np.ndarray, y: np.ndarray) -> dict:
    """Least-squares line, line through the origin, r^2 of each, Pearson and Spearman."""
    out = dict.fromkeys(("slope", "intercept", "r2", "origin_slope", "origin_r2", "pearson", "spearman"))
    if len(x) < 2:
        return out
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    x_varies = bool(np.ptp(x) > 0)
    if x_varies:
        slope, intercept = np.polyfit(x, y, 1)
        out["slope"], out["intercept"] = float(slope), float(intercept)
        if ss_tot > 0:
            out["r2"] = 1.0 - float(np.sum((y - slope * x - intercept) ** 2)) / ss_tot
    sxx = float(np.dot(x, x))
    if sxx > 0:
        origin = float(np.dot(x, y)) / sxx
        out["origin_slope"] = origin
        if ss_tot > 0:
            out["origin_r2"] = 1.0 - float(np.sum((y - origin * x) ** 2)) / ss_tot
    if x_varies and ss_tot > 0:
        out["pearson"] = float(stats.pearsonr(x, y).statistic)
        out["spearman"] = float(stats.spearmanr(x, y).statistic)
    return out


def _omega_fit(layer: str, degrees: np.ndarray, change: np.ndarray, bins: BinsLike, n_bins: int,
               predicted_slope: float | None) -> OmegaFit:
    b, index = bin_degrees(degrees, bins=bins, n_bins=n_bins)
    changed = np.bincount(index, weights=change, minlength=len(b))
    omega = changed / b.count
    return OmegaFit(layer=layer, bins=b, omega=omega, changed=changed, predicted_slope=predicted_slope,
                    **_line_fits(b.center, omega))


def _delta_table(lower: str, upper: str, binned1: tuple[DegreeBins, np.ndarray], binned2: tuple[DegreeBins, np.ndarray],
                 end1: np.ndarray, end2: np.ndarray, change: np.ndarray, pa_constant: float,
                 self_pairs: np.ndarray | None = None) -> DeltaTable:
    """Delta table from per-pair changes; ``end1``/``end2`` index the nodes of the two sets.

    ``self_pairs`` (node indices into both sets, for a set paired with itself) removes the pairs
    (i, i) from the pair counts.
    """
    (b1, idx1), (b2, idx2) = binned1, binned2
    k1, k2 = len(b1), len(b2)
    cell = idx1[end1] * k2 + idx2[end2]
    changed = np.bincount(cell, weights=change, minlength=k1 * k2).reshape(k1, k2)
    n_pairs = np.outer(b1.count, b2.count)
    if self_pairs is not None:
        n_pairs -= np.bincount(idx1[self_pairs] * k2 + idx2[self_pairs], minlength=k1 * k2).reshape(k1, k2)
    with np.errstate(invalid="ignore", divide="ignore"):
        delta = np.where(n_pairs > 0, changed / np.maximum(n_pairs, 1), np.nan)
    return DeltaTable(lower=lower, upper=upper, bins1=b1, bins2=b2, changed=changed, n_pairs=n_pairs,
                      delta=delta, pa_constant=pa_constant)


def edge_array(graph: ig.Graph) -> np.ndarray:
    """The edges of ``graph`` as an (m, 2) int64 array (faster than ``np.asarray(get_edgelist())``)."""
    flat = itertools.chain.from_iterable(graph.get_edgelist())
    return np.fromiter(flat, dtype=np.int64, count=2 * graph.ecount()).reshape(-1, 2)


def _edge_weights(graph: ig.Graph, weight: str | None, what: str) -> np.ndarray:
    if weight is None:
        return np.ones(graph.ecount())
    if weight not in graph.es.attributes():
        if weight == "multiplicity":
            return np.ones(graph.ecount())
        raise AttachmentError(f"{what} has no edge attribute {weight!r}; its edge attributes are {graph.es.attributes()}")
    w = np.asarray(graph.es[weight], dtype=np.float64)
    if np.any(~np.isfinite(w)) or np.any(w < 0):
        raise AttachmentError(f"edge attribute {weight!r} of {what} must be finite and non-negative")
    return w


def sorted_unique(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values (by sorting: ``np.unique``'s hash path is slow on large int64 arrays)."""
    ordered = np.sort(values)
    return ordered[np.r_[True, ordered[1:] != ordered[:-1]]] if ordered.size else ordered


def aggregate_keys(keys: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct pair keys, sorted, and the summed weight of each (parallel edges summed)."""
    if keys.size == 0:
        return keys.astype(np.int64), np.zeros(0)
    order = np.argsort(keys)
    ordered = keys[order]
    start = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    return ordered[start], np.add.reduceat(np.asarray(weights, dtype=np.float64)[order], start)


def _pair_changes(k0: np.ndarray, m0: np.ndarray, k1: np.ndarray, m1: np.ndarray):
    """Keys of the union of pairs with their multiplicities in both snapshots."""
    keys = sorted_unique(np.concatenate([k0, k1]))
    a = np.zeros(len(keys))
    b = np.zeros(len(keys))
    a[np.searchsorted(keys, k0)] = m0
    b[np.searchsorted(keys, k1)] = m1
    return keys, a, b


# --------------------------------------------------------------------------------------------
# Layered snapshots (paper eqs. 6-10)
# --------------------------------------------------------------------------------------------


def _layered_pairs(graph: ig.Graph, rank: np.ndarray, names: list[str], what: str):
    """(lower vertex * n + upper vertex) keys and multiplicities of the edges between analysed layers."""
    n = graph.vcount()
    edges = edge_array(graph)
    mult = _edge_weights(graph, "multiplicity", what)
    r = rank[edges]
    keep = (r[:, 0] >= 0) & (r[:, 1] >= 0)
    edges, mult, r = edges[keep], mult[keep], r[keep]
    bad = np.abs(r[:, 0] - r[:, 1]) != 1
    if bad.any():
        e = edges[np.argmax(bad)]
        ra, rb = r[np.argmax(bad)]
        raise AttachmentError(
            f"{what} has {int(bad.sum())} edges that do not join adjacent layers, e.g. vertex {e[0]} ({names[ra]}) "
            f"to vertex {e[1]} ({names[rb]}); internal preferential attachment is defined between adjacent layers "
            f"only (use analysis.attachment_general for arbitrary pairs)"
        )
    low = np.where(r[:, 0] < r[:, 1], edges[:, 0], edges[:, 1])
    up = np.where(r[:, 0] < r[:, 1], edges[:, 1], edges[:, 0])
    return aggregate_keys(low * n + up, mult)


def _check_same_vertices(g0: ig.Graph, g1: ig.Graph) -> None:
    if g0.vcount() != g1.vcount():
        raise AttachmentError(
            f"the snapshots have different vertices: g0 has {g0.vcount()}, g1 has {g1.vcount()}; "
            f"preferential_attachment needs the same vertices in the same order (attachment_general matches "
            f"vertices by name)"
        )
    for attribute in ("layer", "unit"):
        if attribute in g0.vs.attributes() and attribute in g1.vs.attributes():
            a = np.asarray(g0.vs[attribute], dtype=object)
            b = np.asarray(g1.vs[attribute], dtype=object)
            differ = a != b
            if differ.any():
                i = int(np.argmax(differ))
                raise AttachmentError(
                    f"the snapshots have different vertices: {int(differ.sum())} vertices differ in {attribute!r}, "
                    f"e.g. vertex {i} is {a[i]!r} in g0 and {b[i]!r} in g1"
                )


def preferential_attachment(
    g0: ig.Graph,
    g1: ig.Graph,
    *,
    bins: BinsLike = "log",
    n_bins: int = 10,
    omega_bins: BinsLike | None = None,
    output_edges: bool = False,
) -> AttachmentResult:
    r"""Internal preferential attachment between two snapshots of a layered graph.

    Parameters
    ----------
    g0, g1 : igraph.Graph
        The snapshots at t = 0 and t = 1: the same vertices in the same order, with a ``layer``
        vertex attribute (optional ``layer_index``) and an optional ``multiplicity`` edge
        attribute (1 per edge without it; parallel edges between the same two vertices are
        summed).  Graphs from ``nn2graph.to_graph(...).graph`` qualify.  Every edge must join
        adjacent layers, and g1 must keep g0's connections: per node pair, multiplicity in g1
        >= in g0.  The new connections of a pair are the difference.
    bins : {"exact", "log", "quantile"} or sequence of int, default "log"
        Degree bins for Delta, taken per layer (see :func:`bin_degrees`).
    n_bins : int, default 10
        Number of "log" or "quantile" bins.
    omega_bins : same as ``bins``, optional
        Degree bins for Omega; default ``bins``.
    output_edges : bool, default False
        The paper's convention (False): the output (softmax) layer is not analysed and edges
        into it are ignored, both in the t = 0 degrees and in the new connections.  True
        analyses the output layer and counts its edges like any other.

    Returns
    -------
    AttachmentResult

    Notes
    -----
    *Degrees.* t = 0 degrees are ``nn2graph.degrees.graph_degrees(g0, include_input=True,
    include_output=output_edges, output_edges=output_edges)``: sums of multiplicities of a node's
    edges to the layers below and above, the input layer with upper edges only.

    *Delta* (eq. 6, Figure 7).  For the layers l and l + 1, Delta(d1, d2) is the mean number of
    new connections over all pairs (i in l, j in l + 1) whose t = 0 degrees fall in the bins of
    d1 and d2 -- connected or not.  The cell's sum over the new edges is divided by
    ``count_l(bin1) * count_{l+1}(bin2)``.  ``DeltaTable.pa_constant`` is the c of
    Delta = c d1 d2 matching the total: with :math:`G^l` the new connections between l and l + 1
    (:math:`N^l a^l` of eq. 6) and :math:`D^l = \sum_{s \in l} d_s(0)`,
    :math:`c^l = G^l / (D^l D^{l+1})`.

    *Omega* (eq. 10, Figure 8).  For layer l, Omega(d) is the mean number of new connections
    (to both neighbouring analysed layers) of the nodes whose t = 0 degree falls in the bin of d.
    Summing eq. 6 over the partners of node i in layer l + 1 gives
    :math:`\sum_m c^l d_i d_m = G^l d_i / D^l`; summing eq. 6 for the pair (l - 1, l) over the
    partners in layer l - 1 gives :math:`G^{l-1} d_i / D^l`.  Their sum is eq. 10,

    .. math:: \Omega^l(d) = d \, \frac{G^{l-1} + G^l}{D^l},

    so ``OmegaFit.predicted_slope`` is :math:`(G^{l-1} + G^l) / D^l` (the input layer has no
    :math:`G^{l-1}`, the highest analysed layer no :math:`G^l`); it is None when
    :math:`D^l = 0`.  Whatever the growth, the node-weighted mean of Omega is
    :math:`(G^{l-1} + G^l) / N^l`, so the prediction tests the *shape* (proportionality to d),
    not the total.

    Examples
    --------
    A 2-2-1 network; at t = 1 the well-connected input node 0 gains a connection to the
    well-connected hidden node 2, and the output layer is left out (paper's convention).

    >>> import igraph as ig
    >>> g0 = ig.Graph(n=5, edges=[(0, 2), (0, 3), (1, 2), (2, 4), (3, 4)], directed=True)
    >>> g0.vs["layer"] = ["input", "input", "fc1", "fc1", "out"]
    >>> g1 = g0.copy()
    >>> g1.add_edges([(0, 2)])
    >>> r = preferential_attachment(g0, g1, bins="exact")
    >>> r.layers, r.n_new
    (('input', 'fc1'), 1)
    >>> t = r.delta("input")
    >>> t.bins1.labels(), t.bins2.labels(), t.delta.tolist()
    (['1', '2'], ['1', '2'], [[0.0, 0.0], [0.0, 1.0]])
    >>> r.omega("input").omega.tolist(), r.omega("input").predicted_slope
    ([0.0, 1.0], 0.3333333333333333)
    """
    analysed, degrees, rank, keys, a, b = _layered_snapshots(g0, g1, output_edges)
    n = g0.vcount()
    change = b - a
    lost = change < 0
    if lost.any():
        per_pair = np.bincount(rank[keys[lost] // n], minlength=len(analysed))
        places = ", ".join(f"{analysed[r_]}->{analysed[r_ + 1]}: {c}" for r_, c in enumerate(per_pair.tolist()) if c)
        i = int(np.argmax(lost))
        raise AttachmentError(
            f"g1 lost connections of g0 at {int(lost.sum())} node pairs ({places}); e.g. vertices "
            f"{keys[i] // n} ({analysed[rank[keys[i] // n]]}) and {keys[i] % n} ({analysed[rank[keys[i] % n]]}) have "
            f"multiplicity {a[i]:g} in g0 and {b[i]:g} in g1.  preferential_attachment needs g1 to contain g0; "
            f"analysis.layered_changes reports the gains and losses of two layered snapshots, "
            f"analysis.attachment_general those of any two snapshots"
        )
    return _layered_result(analysed, degrees, rank, keys, change, bins=bins, n_bins=n_bins, omega_bins=omega_bins)


def _layered_snapshots(g0: ig.Graph, g1: ig.Graph, output_edges: bool):
    """Analysed layers, t = 0 degrees, analysed rank of every vertex, and the pair keys with
    their multiplicities in g0 (``a``) and g1 (``b``)."""
    _check_same_vertices(g0, g1)
    names, position = layer_order(g0)
    if len(names) - (0 if output_edges else 1) < 2:
        raise AttachmentError(
            f"g0 has {len(names)} layers ({', '.join(names)}) and {len(names) - (0 if output_edges else 1)} of them "
            f"are analysed: no adjacent layer pair; the output layer is left out by default (paper's convention), "
            f"pass output_edges=True to analyse it"
        )
    degrees = graph_degrees(g0, include_input=True, include_output=output_edges, output_edges=output_edges)
    analysed = list(degrees)
    rank_of_layer = np.array([analysed.index(nm) if nm in degrees else -1 for nm in names], dtype=np.int64)
    rank = rank_of_layer[position]
    k0, m0 = _layered_pairs(g0, rank, analysed, "g0")
    k1, m1 = _layered_pairs(g1, rank, analysed, "g1")
    keys, a, b = _pair_changes(k0, m0, k1, m1)
    return analysed, degrees, rank, keys, a, b


def _layered_result(analysed: list[str], degrees: dict[str, np.ndarray], rank: np.ndarray, keys: np.ndarray,
                    change: np.ndarray, *, bins: BinsLike, n_bins: int, omega_bins: BinsLike | None) -> AttachmentResult:
    """Delta and Omega of the positive part of ``change`` (one value per pair key)."""
    n = len(rank)
    grown = change > 0
    low, up, change = keys[grown] // n, keys[grown] % n, change[grown]

    members = [np.flatnonzero(rank == r_) for r_ in range(len(analysed))]
    local = np.full(n, -1, dtype=np.int64)
    for m in members:
        local[m] = np.arange(len(m))
    binned = [bin_degrees(degrees[nm], bins=bins, n_bins=n_bins) for nm in analysed]
    totals = [float(degrees[nm].sum()) for nm in analysed]
    pair_rank = rank[low]
    gains = np.bincount(pair_rank, weights=change, minlength=max(len(analysed) - 1, 0))

    deltas = []
    for r_ in range(len(analysed) - 1):
        sel = pair_rank == r_
        denominator = totals[r_] * totals[r_ + 1]
        deltas.append(
            _delta_table(analysed[r_], analysed[r_ + 1], binned[r_], binned[r_ + 1], local[low[sel]], local[up[sel]],
                         change[sel], float(gains[r_]) / denominator if denominator > 0 else 0.0)
        )

    per_node = np.bincount(low, weights=change, minlength=n) + np.bincount(up, weights=change, minlength=n)
    new_connections = {nm: per_node[members[r_]] for r_, nm in enumerate(analysed)}
    omegas = []
    for r_, nm in enumerate(analysed):
        touching = (gains[r_ - 1] if r_ > 0 else 0.0) + (gains[r_] if r_ < len(gains) else 0.0)
        predicted = float(touching) / totals[r_] if totals[r_] > 0 else None
        omegas.append(_omega_fit(nm, degrees[nm], new_connections[nm], omega_bins if omega_bins is not None else bins,
                                 n_bins, predicted))
    return AttachmentResult(layers=tuple(analysed), degrees=degrees, new_connections=new_connections,
                            deltas=tuple(deltas), omegas=tuple(omegas), n_new=int(round(change.sum())))


@dataclass(frozen=True, eq=False)
class LayeredChanges:
    """Connections gained and lost between two snapshots of a layered graph (:func:`layered_changes`).

    Attributes
    ----------
    gains : AttachmentResult
        Delta and Omega of the connections g1 has and g0 has not (``new_connections`` and
        ``n_new`` count them), against the t = 0 degrees.
    losses : AttachmentResult
        The same for the connections g0 has and g1 has not: read ``new_connections`` and
        ``n_new`` as connections *lost*, ``pa_constant`` and ``predicted_slope`` as those of a
        removal proportional to d1 d2.
    """

    gains: AttachmentResult
    losses: AttachmentResult

    def to_dict(self) -> dict:
        """JSON-ready dictionary: ``{"gains": ..., "losses": ...}``."""
        return {"gains": self.gains.to_dict(), "losses": self.losses.to_dict()}


def layered_changes(
    g0: ig.Graph,
    g1: ig.Graph,
    *,
    bins: BinsLike = "log",
    n_bins: int = 10,
    omega_bins: BinsLike | None = None,
    output_edges: bool = False,
) -> LayeredChanges:
    """Gains and losses of connections between two snapshots of a layered graph.

    Like :func:`preferential_attachment`, whose conventions (same vertices, adjacent layers,
    t = 0 degrees, the output layer left out by default, bins) it shares, but g1 need not
    contain g0: per node pair, a rise of multiplicity is a gain and a fall a loss, and each
    gets its own Delta tables and Omega fits against the t = 0 degrees, as in
    :func:`attachment_general`.  When g1 contains g0, ``gains`` equals
    :func:`preferential_attachment`'s result and ``losses`` is empty.

    Parameters
    ----------
    g0, g1 : igraph.Graph
        The snapshots (e.g. a network before and after a rewiring step).
    bins, n_bins, omega_bins, output_edges
        As for :func:`preferential_attachment`.

    Returns
    -------
    LayeredChanges

    Examples
    --------
    Between the snapshots, the input node 0 moves its connection from hidden node 3 to the
    better connected hidden node 2.

    >>> import igraph as ig
    >>> g0 = ig.Graph(n=5, edges=[(0, 3), (1, 2), (2, 4), (3, 4)], directed=True)
    >>> g0.vs["layer"] = ["input", "input", "fc1", "fc1", "out"]
    >>> g1 = ig.Graph(n=5, edges=[(0, 2), (1, 2), (2, 4), (3, 4)], directed=True)
    >>> g1.vs["layer"] = g0.vs["layer"]
    >>> r = layered_changes(g0, g1, bins="exact")
    >>> r.gains.n_new, r.losses.n_new
    (1, 1)
    >>> r.gains.new_connections["fc1"].tolist(), r.losses.new_connections["fc1"].tolist()
    ([1.0, 0.0], [0.0, 1.0])
    """
    analysed, degrees, rank, keys, a, b = _layered_snapshots(g0, g1, output_edges)
    options = {"bins": bins, "n_bins": n_bins, "omega_bins": omega_bins}
    return LayeredChanges(gains=_layered_result(analysed, degrees, rank, keys, b - a, **options),
                          losses=_layered_result(analysed, degrees, rank, keys, a - b, **options))
