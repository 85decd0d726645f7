"""Internal preferential attachment between two snapshots of a network (paper §4, docs/method.md §4).

These functions share the degree bins of :mod:`analysis.degree_bins`, the Delta tables and
Omega fits of :mod:`analysis.attachment_tables` and the pair keys of :mod:`analysis.pair_keys`:

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

from dataclasses import dataclass

import igraph as ig
import numpy as np

from analysis.attachment_errors import AttachmentError
from analysis.attachment_tables import AttachmentResult, DeltaTable, OmegaFit, delta_table, omega_fit
from analysis.degree_bins import BinsLike, DegreeBins, bin_degrees
from analysis.pair_keys import aggregate_keys, edge_array, edge_weights, pair_changes, sorted_unique
from nn2graph.degrees import graph_degrees, layer_order

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


def _layered_pairs(graph: ig.Graph, rank: np.ndarray, names: list[str], what: str):
    """(lower vertex * n + upper vertex) keys and multiplicities of the edges between analysed layers."""
    n = graph.vcount()
    edges = edge_array(graph)
    mult = edge_weights(graph, "multiplicity", what)
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
    keys, a, b = pair_changes(k0, m0, k1, m1)
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
            delta_table(analysed[r_], analysed[r_ + 1], binned[r_], binned[r_ + 1], local[low[sel]], local[up[sel]],
                         change[sel], float(gains[r_]) / denominator if denominator > 0 else 0.0)
        )

    per_node = np.bincount(low, weights=change, minlength=n) + np.bincount(up, weights=change, minlength=n)
    new_connections = {nm: per_node[members[r_]] for r_, nm in enumerate(analysed)}
    omegas = []
    for r_, nm in enumerate(analysed):
        touching = (gains[r_ - 1] if r_ > 0 else 0.0) + (gains[r_] if r_ < len(gains) else 0.0)
        predicted = float(touching) / totals[r_] if totals[r_] > 0 else None
        omegas.append(omega_fit(nm, degrees[nm], new_connections[nm], omega_bins if omega_bins is not None else bins,
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
