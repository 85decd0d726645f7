"""Internal preferential attachment as a time series over many snapshots of a layered network.

A network rewired during training (dynamic sparse training) gives a sequence of snapshots;
each consecutive pair is one transition t -> t + 1 with connections gained *and* lost.
:func:`transition_rows` measures one transition with :func:`analysis.layered_changes` and
reduces it to one row per layer pair (Delta: how the change grows with d1 d2, the elasticity)
and one row per layer (Omega: the two line fits), gains and losses separately;
:func:`attachment_series` does it for a whole sequence and returns an :class:`AttachmentSeries`.
:func:`delta_trend` is the reduction of one Delta table.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import igraph as ig
import numpy as np
from scipy import stats

from analysis.attachment import AttachmentError, BinsLike, DeltaTable, layered_changes

__all__ = ["AttachmentSeries", "attachment_series", "delta_trend", "transition_rows"]

#: The two kinds of change, in the order the rows list them.
KINDS = ("gains", "losses")


def delta_trend(table: DeltaTable) -> dict:
    """How Delta grows with the degrees of a :class:`analysis.DeltaTable`.

    Over the cells with at least one pair: Spearman's correlation of Delta with d1, with d2
    and with d1 * d2 (bin centres), and the elasticity of Delta in d1 * d2 -- the slope of
    log Delta against log(d1 d2) by least squares over the cells with Delta > 0 and d1 d2 > 0,
    weighted by their numbers of pairs.  Internal preferential attachment (eq. 6) gives an
    elasticity of 1, uniformly random new connections 0.

    Examples
    --------
    >>> from analysis.growth import random_layered_graph, simulate_growth
    >>> from analysis import preferential_attachment
    >>> g0 = random_layered_graph([300, 300, 10], n_edges=3000, seed=0)
    >>> r = preferential_attachment(g0, simulate_growth(g0, n_new=20000, seed=1), n_bins=6)
    >>> round(delta_trend(r.deltas[0])["elasticity"], 1)
    1.0
    """
    a, b = np.nonzero(table.n_pairs)
    d1, d2 = table.bins1.center[a], table.bins2.center[b]
    delta, weight = table.delta[a, b], table.n_pairs[a, b].astype(float)

    def spearman(x):
        if len(x) < 2 or np.ptp(x) == 0 or np.ptp(delta) == 0:
            return None
        return float(stats.spearmanr(x, delta).statistic)

    ok = (delta > 0) & (d1 * d2 > 0)
    elasticity = None
    if ok.sum() >= 2 and np.ptp(np.log(d1[ok] * d2[ok])) > 0:
        x, y, w = np.log(d1[ok] * d2[ok]), np.log(delta[ok]), weight[ok]
        xm, ym = np.average(x, weights=w), np.average(y, weights=w)
        elasticity = float(np.sum(w * (x - xm) * (y - ym)) / np.sum(w * (x - xm) ** 2))
    return {"lower": table.lower, "upper": table.upper, "cells": int(len(delta)),
            "spearman_d1": spearman(d1), "spearman_d2": spearman(d2), "spearman_d1d2": spearman(d1 * d2),
            "elasticity": elasticity, "pa_constant": table.pa_constant}


def transition_rows(
    g0: ig.Graph,
    g1: ig.Graph,
    *,
    step: int,
    bins: BinsLike = "log",
    n_bins: int = 10,
    omega_bins: BinsLike | None = None,
    output_edges: bool = False,
) -> tuple[list[dict], list[dict]]:
    """Delta and Omega rows of one transition g0 -> g1, gains and losses separately.

    Parameters
    ----------
    g0, g1 : igraph.Graph
        Consecutive snapshots of a layered graph (as for :func:`analysis.layered_changes`).
    step : int
        Label of the transition (e.g. the training step of the rewiring that made g1).
    bins, n_bins, omega_bins, output_edges
        As for :func:`analysis.preferential_attachment`.

    Returns
    -------
    delta_rows : list of dict
        Per kind ("gains", "losses") and adjacent layer pair: ``step``, ``kind``, ``lower``,
        ``upper``, ``changed`` (connections gained or lost), then :func:`delta_trend`'s fields.
    omega_rows : list of dict
        Per kind and layer: ``step``, ``kind``, ``changed``, then
        :meth:`analysis.OmegaFit.summary`'s fields (``slope``, ``r2``, ``origin_slope``,
        ``origin_r2``, ``predicted_slope``, ...).

    Examples
    --------
    >>> from analysis.growth import random_layered_graph, simulate_growth
    >>> g0 = random_layered_graph([50, 40, 5], n_edges=400, seed=0)
    >>> deltas, omegas = transition_rows(g0, simulate_growth(g0, n_new=300, seed=1), step=7)
    >>> [(r["kind"], r["lower"], r["changed"]) for r in deltas]
    [('gains', 'input', 300.0), ('losses', 'input', 0.0)]
    >>> [(r["kind"], r["layer"]) for r in omegas]
    [('gains', 'input'), ('gains', 'fc1'), ('losses', 'input'), ('losses', 'fc1')]
    """
    changes = layered_changes(g0, g1, bins=bins, n_bins=n_bins, omega_bins=omega_bins, output_edges=output_edges)
    delta_rows, omega_rows = [], []
    for kind in KINDS:
        result = getattr(changes, kind)
        for table in result.deltas:
            trend = delta_trend(table)
            delta_rows.append({"step": int(step), "kind": kind, "lower": table.lower, "upper": table.upper,
                               "changed": float(table.changed.sum())}
                              | {k: v for k, v in trend.items() if k not in ("lower", "upper")})
        for fit in result.omegas:
            summary = fit.summary()
            omega_rows.append({"step": int(step), "kind": kind, "layer": summary.pop("layer"),
                               "changed": float(fit.changed.sum())} | summary)
    return delta_rows, omega_rows


@dataclass(frozen=True, eq=False)
class AttachmentSeries:
    """Delta and Omega summaries of every transition of a sequence of snapshots.

    Attributes
    ----------
    delta_rows, omega_rows : tuple of dict
        The rows of :func:`transition_rows`, transition after transition (CSV-ready).
    """

    delta_rows: tuple[dict, ...]
    omega_rows: tuple[dict, ...]

    @property
    def steps(self) -> np.ndarray:
        """The transition labels, in order."""
        return np.array(sorted({r["step"] for r in self.delta_rows}), dtype=np.int64)

    def _series(self, rows, kind: str, key: str, name: str, field: str) -> np.ndarray:
        if kind not in KINDS:
            raise AttachmentError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
        picked = {r["step"]: r[field] for r in rows if r["kind"] == kind and r[key] == name}
        if not picked:
            known = sorted({r[key] for r in rows})
            raise AttachmentError(f"no {key} {name!r} in the series; known are {known}")
        return np.array([np.nan if picked.get(s) is None else picked[s] for s in self.steps.tolist()],
                        dtype=np.float64)

    def delta_series(self, kind: str, lower: str, field: str = "elasticity") -> np.ndarray:
        """One Delta field (default the elasticity) of the layer pair starting at ``lower``,
        per transition; NaN where it is undefined."""
        return self._series(self.delta_rows, kind, "lower", lower, field)

    def omega_series(self, kind: str, layer: str, field: str = "origin_slope") -> np.ndarray:
        """One Omega field (default the slope of the line through the origin) of ``layer``,
        per transition; NaN where it is undefined."""
        return self._series(self.omega_rows, kind, "layer", layer, field)


def attachment_series(
    snapshots: Iterable[ig.Graph],
    *,
    steps: Sequence[int] | None = None,
    bins: BinsLike = "log",
    n_bins: int = 10,
    omega_bins: BinsLike | None = None,
    output_edges: bool = False,
) -> AttachmentSeries:
    """Internal preferential attachment over consecutive snapshots of a layered graph.

    Parameters
    ----------
    snapshots : iterable of igraph.Graph
        Snapshots in time order (read one at a time: a generator keeps two in memory).
    steps : sequence of int, optional
        A label per snapshot; transition k (snapshot k -> k + 1) is labelled ``steps[k + 1]``.
        Default: 1, 2, ... for the transitions.
    bins, n_bins, omega_bins, output_edges
        As for :func:`analysis.preferential_attachment`.

    Returns
    -------
    AttachmentSeries

    Examples
    --------
    Three steps of preferential growth: the elasticity of Delta in d1 d2 stays near 1.

    >>> from analysis.growth import random_layered_graph, simulate_growth
    >>> g = [random_layered_graph([300, 300, 10], n_edges=3000, seed=0)]
    >>> for k in range(3):
    ...     g.append(simulate_growth(g[-1], n_new=20000, seed=k))
    >>> s = attachment_series(g, n_bins=6)
    >>> s.steps.tolist(), np.round(s.delta_series("gains", "input"), 1).tolist()
    ([1, 2, 3], [1.0, 1.0, 1.0])
    """
    delta_rows: list[dict] = []
    omega_rows: list[dict] = []
    previous = None
    k = 0
    for k, graph in enumerate(snapshots):
        if steps is not None and k >= len(steps):
            raise AttachmentError(f"steps has {len(steps)} labels for more snapshots; give one per snapshot")
        if previous is not None:
            label = k if steps is None else steps[k]
            d, o = transition_rows(previous, graph, step=label, bins=bins, n_bins=n_bins, omega_bins=omega_bins,
                                   output_edges=output_edges)
            delta_rows += d
            omega_rows += o
        previous = graph
    if previous is None or k == 0:
        raise AttachmentError("attachment_series needs at least two snapshots")
    if steps is not None and len(steps) != k + 1:
        raise AttachmentError(f"steps has {len(steps)} labels for {k + 1} snapshots; give one per snapshot")
    return AttachmentSeries(tuple(delta_rows), tuple(omega_rows))
