"""Internal preferential attachment between any two snapshots of a network (paper eq. 5).

:func:`attachment_general` compares two snapshots of any network (for example the
developmental stages of a connectome): vertices are matched by name or index, every pair of
common vertices counts, and gains and losses of connections are reported separately, each
with its own Delta table and Omega fit.  The binning and line fits are those of
:mod:`analysis.degree_bins` and :mod:`analysis.attachment_tables`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import igraph as ig
import numpy as np

from analysis.attachment_errors import AttachmentError
from analysis.attachment_tables import DeltaTable, OmegaFit, delta_table, omega_fit, result_json
from analysis.degree_bins import BinsLike, bin_degrees
from analysis.pair_keys import aggregate_keys, edge_array, edge_weights, pair_changes

__all__ = ["GeneralAttachmentResult", "attachment_general"]


@dataclass(frozen=True, eq=False)
class GeneralAttachmentResult:
    """Eq. 5 between two snapshots of any network (:func:`attachment_general`).

    Attributes
    ----------
    degree : {"total", "out-in"}
        How the pair degrees (d1, d2) were taken.
    names : tuple
        Identifier (name or index) of each vertex present in both snapshots, in analysis order.
    degrees : numpy.ndarray of int64
        t = 0 total degree of each of those vertices (in g0, all its connections).
    gained, lost : numpy.ndarray of float
        Connections each vertex gained / lost towards other common vertices.
    delta_gains, delta_losses : DeltaTable
        Mean connections gained / lost per pair of common vertices.
    omega_gains, omega_losses : OmegaFit
        Gains / losses per vertex against its t = 0 total degree.
    n_gained, n_lost : float
        Total connections gained / lost between common vertices.
    only_in_g0, only_in_g1 : tuple
        Vertices missing in the later / earlier snapshot (names or indices).
    lost_with_missing, gained_with_new : float
        Connections of g0 touching a vertex missing from g1, and of g1 touching a vertex absent
        from g0; they are outside every Delta and Omega.
    self_loops : tuple of float
        Connections of a vertex to itself in g0 and g1, left out everywhere.
    """

    degree: str
    names: tuple
    degrees: np.ndarray
    gained: np.ndarray
    lost: np.ndarray
    delta_gains: DeltaTable
    delta_losses: DeltaTable
    omega_gains: OmegaFit
    omega_losses: OmegaFit
    n_gained: float
    n_lost: float
    only_in_g0: tuple
    only_in_g1: tuple
    lost_with_missing: float
    gained_with_new: float
    self_loops: tuple[float, float]

    def delta_rows(self) -> list[dict]:
        """CSV rows of every Delta cell, gains then losses (column ``kind``)."""
        return [{"kind": kind} | row for kind, t in (("gains", self.delta_gains), ("losses", self.delta_losses))
                for row in t.rows()]

    def omega_rows(self) -> list[dict]:
        """CSV rows of every Omega bin, gains then losses (column ``kind``)."""
        return [{"kind": kind} | row for kind, o in (("gains", self.omega_gains), ("losses", self.omega_losses))
                for row in o.rows()]

    def omega_summary(self) -> list[dict]:
        """One CSV row for gains and one for losses: slopes, r^2, correlations, eq. 5 slope."""
        return [{"kind": kind} | o.summary() for kind, o in (("gains", self.omega_gains), ("losses", self.omega_losses))]

    def to_dict(self) -> dict:
        """JSON-ready dictionary (without the per-vertex arrays)."""
        return {
            "degree": self.degree,
            "n_common": len(self.names),
            "n_gained": self.n_gained,
            "n_lost": self.n_lost,
            "only_in_g0": list(self.only_in_g0),
            "only_in_g1": list(self.only_in_g1),
            "lost_with_missing": self.lost_with_missing,
            "gained_with_new": self.gained_with_new,
            "self_loops": list(self.self_loops),
            "delta_gains": self.delta_gains.to_dict(),
            "delta_losses": self.delta_losses.to_dict(),
            "omega_gains": self.omega_gains.to_dict(),
            "omega_losses": self.omega_losses.to_dict(),
        }

    def to_json(self, path=None) -> str:
        """:meth:`to_dict` as JSON text, also written to ``path`` when given."""
        return result_json(self.to_dict(), path)


# --------------------------------------------------------------------------------------------
# Any two snapshots of a network (paper eq. 5)
# --------------------------------------------------------------------------------------------


def _identifiers(graph: ig.Graph, match: str, what: str) -> np.ndarray:
    if match == "index":
        return np.arange(graph.vcount(), dtype=object)
    if match != "name":
        raise AttachmentError(f"match must be 'name' or 'index', not {match!r}")
    if "name" not in graph.vs.attributes():
        raise AttachmentError(f"{what} has no 'name' vertex attribute; give vertices names or use match='index'")
    ids = np.asarray(graph.vs["name"], dtype=object)
    unique, counts = np.unique(ids.astype(str), return_counts=True)
    if np.any(counts > 1):
        raise AttachmentError(f"{what} has {int(np.sum(counts > 1))} vertex names used more than once, e.g. "
                              f"{str(unique[np.argmax(counts > 1)])!r}; names must identify vertices")
    return ids


def attachment_general(
    g0: ig.Graph,
    g1: ig.Graph,
    *,
    bins: BinsLike = "log",
    n_bins: int = 10,
    match: Literal["name", "index"] = "name",
    degree: Literal["total", "out-in"] = "total",
    weight: str | None = "multiplicity",
) -> GeneralAttachmentResult:
    r"""Eq. 5 (internal preferential attachment) between any two snapshots of a network.

    Parameters
    ----------
    g0, g1 : igraph.Graph
        The earlier and later snapshot, both directed or both undirected.  Vertices may appear
        in one snapshot only: they are left out of Delta and Omega and reported.
    bins : {"exact", "log", "quantile"} or sequence of int, default "log"
        Degree bins (see :func:`bin_degrees`).
    n_bins : int, default 10
        Number of "log" or "quantile" bins.
    match : {"name", "index"}, default "name"
        Match vertices by the ``name`` vertex attribute (unique in each snapshot) or by index.
    degree : {"total", "out-in"}, default "total"
        ``"total"``: pairs are unordered, d1 and d2 are total degrees (in + out), and the
        connections of a pair are summed over both directions.  ``"out-in"`` (directed graphs
        only): pairs are ordered (source i, target j), d1 is the out-degree of i, d2 the
        in-degree of j, and only connections i -> j count.  Omega always uses total degrees
        and all of a vertex's connections.
    weight : str or None, default "multiplicity"
        Edge attribute with the number of connections an edge stands for (e.g. a synapse
        count); each edge counts 1 when None, or when the default "multiplicity" is absent.
        Parallel edges are summed.

    Returns
    -------
    GeneralAttachmentResult

    Notes
    -----
    Only vertices present in both snapshots ("common" vertices) take part.  Their t = 0 degrees
    are taken in the whole of g0 (self-loops left out).  For every pair of distinct common
    vertices, change = m1 - m0; gains are its positive part, losses its negative part, each
    with its own Delta table and Omega fit.  A Delta cell is the mean over all pairs of the
    cell, connected or not, i != j.

    Eq. 5 reads Delta(d1, d2) = 2 N a d1 d2 / sum_{s, m != s} d_s d_m, with N a the connections
    gained per unit time, G.  Here ``pa_constant`` is the c of Delta = c d1 d2 matching the
    total: c = G / sum_{i<j} d_i d_j = 2 G / (D^2 - sum_i d_i^2) with D = sum_i d_i ("total"),
    or c = G / sum_{i != j} dout_i din_j ("out-in").  Summing c d_i d_j over the partners j of i
    gives Omega_i = c d_i (D - d_i) ~ d_i 2 G / D, so ``predicted_slope`` is 2 G / D (the
    same for losses with L in place of G).

    Examples
    --------
    Neuron "c" is lost between the snapshots; "a" and "b" gain a connection, "b" and "d" are
    new partners.

    >>> import igraph as ig
    >>> g0 = ig.Graph(edges=[(0, 1), (1, 2), (0, 2), (2, 3)])
    >>> g0.vs["name"] = ["a", "b", "c", "d"]
    >>> g1 = ig.Graph(edges=[(0, 1), (0, 1), (1, 2)])
    >>> g1.vs["name"] = ["a", "b", "d"]
    >>> r = attachment_general(g0, g1, bins="exact")
    >>> r.only_in_g0, r.lost_with_missing, r.n_gained, r.n_lost
    (('c',), 3.0, 2.0, 0.0)
    >>> r.degrees.tolist(), r.gained.tolist()
    ([2, 2, 1], [1.0, 2.0, 1.0])
    """
    if g0.is_directed() != g1.is_directed():
        raise AttachmentError(f"g0 is {'' if g0.is_directed() else 'un'}directed but g1 is "
                              f"{'' if g1.is_directed() else 'un'}directed; convert one of them")
    if degree not in ("total", "out-in"):
        raise AttachmentError(f"degree must be 'total' or 'out-in', not {degree!r}")
    if degree == "out-in" and not g0.is_directed():
        raise AttachmentError("degree='out-in' needs directed graphs; these are undirected (use degree='total')")
    id0, id1 = _identifiers(g0, match, "g0"), _identifiers(g1, match, "g1")
    s0, s1 = id0.astype(str), id1.astype(str)
    common = np.intersect1d(s0, s1)
    ordering = np.argsort(s0)
    in_common0 = np.isin(s0, common)
    # Common vertices keep g0's order.
    common_ids = id0[in_common0]
    nc = len(common_ids)
    if nc < 2:
        raise AttachmentError(f"the snapshots share {nc} vertices (matched by {match}); at least two are needed")
    c0 = np.full(g0.vcount(), -1, dtype=np.int64)
    c0[in_common0] = np.arange(nc)
    c1 = np.full(g1.vcount(), -1, dtype=np.int64)
    pos = np.searchsorted(s0[ordering], s1)
    found = np.isin(s1, common)
    c1[found] = c0[ordering[pos[found]]]

    def edges_of(graph, cmap, what):
        e = edge_array(graph)
        w = edge_weights(graph, weight, what)
        loop = e[:, 0] == e[:, 1]
        return e[~loop], w[~loop], float(w[loop].sum()), cmap[e[~loop]]

    e0, w0, loops0, ce0 = edges_of(g0, c0, "g0")
    e1, w1, loops1, ce1 = edges_of(g1, c1, "g1")

    out0 = np.bincount(e0[:, 0], weights=w0, minlength=g0.vcount())
    in0 = np.bincount(e0[:, 1], weights=w0, minlength=g0.vcount())
    total = np.rint(out0 + in0).astype(np.int64)[in_common0]
    dout = np.rint(out0).astype(np.int64)[in_common0]
    din = np.rint(in0).astype(np.int64)[in_common0]

    both0 = np.all(ce0 >= 0, axis=1)
    both1 = np.all(ce1 >= 0, axis=1)

    def keys_of(ce):
        if degree == "out-in":
            return ce[:, 0] * nc + ce[:, 1]
        return ce.min(axis=1) * nc + ce.max(axis=1)

    keys, a, b = pair_changes(*aggregate_keys(keys_of(ce0[both0]), w0[both0]), *aggregate_keys(keys_of(ce1[both1]), w1[both1]))
    change = b - a
    i, j = keys // nc, keys % nc
    gain, loss = np.maximum(change, 0.0), np.maximum(-change, 0.0)
    n_gained, n_lost = float(gain.sum()), float(loss.sum())
    per_gain = np.bincount(i, weights=gain, minlength=nc) + np.bincount(j, weights=gain, minlength=nc)
    per_loss = np.bincount(i, weights=loss, minlength=nc) + np.bincount(j, weights=loss, minlength=nc)

    everyone = np.arange(nc)
    if degree == "out-in":
        binned1 = bin_degrees(dout, bins=bins, n_bins=n_bins)
        binned2 = bin_degrees(din, bins=bins, n_bins=n_bins)
        norm = float(dout.sum()) * float(din.sum()) - float(np.dot(dout, din))
        ends = (i, j)
        labels = ("source", "target")
    else:
        binned1 = binned2 = bin_degrees(total, bins=bins, n_bins=n_bins)
        tf = total.astype(np.float64)
        norm = (tf.sum() ** 2 - np.dot(tf, tf)) / 2.0
        # Each unordered pair fills its cell and the mirrored one: ordered-pair means equal
        # unordered-pair means.
        ends = (np.concatenate([i, j]), np.concatenate([j, i]))
        gain, loss = np.concatenate([gain, gain]), np.concatenate([loss, loss])
        labels = ("node", "node")
    tables = [
        delta_table(*labels, binned1, binned2, *ends, values, total_change / norm if norm > 0 else 0.0,
                     self_pairs=everyone)
        for values, total_change in ((gain, n_gained), (loss, n_lost))
    ]
    d_sum = float(total.sum())
    omegas = [
        omega_fit("all", total, per, bins, n_bins, 2.0 * amount / d_sum if d_sum > 0 else None)
        for per, amount in ((per_gain, n_gained), (per_loss, n_lost))
    ]
    return GeneralAttachmentResult(
        degree=degree,
        names=tuple(common_ids.tolist()),
        degrees=total,
        gained=per_gain,
        lost=per_loss,
        delta_gains=tables[0],
        delta_losses=tables[1],
        omega_gains=omegas[0],
        omega_losses=omegas[1],
        n_gained=n_gained,
        n_lost=n_lost,
        only_in_g0=tuple(id0[~in_common0].tolist()),
        only_in_g1=tuple(id1[~found].tolist()),
        lost_with_missing=float(w0[~both0].sum()),
        gained_with_new=float(w1[~both1].sum()),
        self_loops=(loops0, loops1),
    )
