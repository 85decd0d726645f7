"""Delta tables and Omega fits of internal preferential attachment: the result types and how
they are computed from the change of every node pair.

:func:`delta_table` turns per-pair changes into a :class:`DeltaTable` (Delta(d1, d2), the
mean change per node pair by degree bins); :func:`omega_fit` turns per-node changes into an
:class:`OmegaFit` (Omega(d) with the :func:`line_fits`); :class:`AttachmentResult` holds
both for every layer of a layered graph (:func:`analysis.attachment.preferential_attachment`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
from scipy import stats

from analysis.degree_bins import BinsLike, DegreeBins, bin_degrees

__all__ = ["AttachmentResult", "DeltaTable", "OmegaFit", "delta_table", "line_fits", "omega_fit", "result_json"]


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
        "node"/"node") for :func:`~analysis.general_attachment.attachment_general`.
    bins1, bins2 : DegreeBins
        Bins of the t = 0 degrees of the first and second node of each pair.
    changed : numpy.ndarray of float, shape (len(bins1), len(bins2))
        Sum over the pairs of a cell of the connections gained (or lost).
    n_pairs : numpy.ndarray of int64, same shape
        Number of node pairs behind each cell, connected or not.  For
        :func:`~analysis.general_attachment.attachment_general` with ``degree="total"`` the table is symmetric: every
        unordered pair {i, j} is counted as (i, j) and (j, i), in ``changed`` and in
        ``n_pairs`` alike, so the means are those of the unordered pairs and ``changed.sum()``
        is twice the total.
    delta : numpy.ndarray of float, same shape
        ``changed / n_pairs``; NaN exactly where ``n_pairs`` is 0 (a one-node bin paired with
        itself in :func:`~analysis.general_attachment.attachment_general`).
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
        the pairs of a cell (off the diagonal of :func:`~analysis.general_attachment.attachment_general`'s tables).
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
        The layer (or "all" for :func:`~analysis.general_attachment.attachment_general`).
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


def result_json(payload: dict, path) -> str:
    """``payload`` as indented JSON text, also written atomically to ``path`` unless it is None.

    Examples
    --------
    >>> print(result_json({"n_new": np.int64(3), "delta": [0.5]}, None))
    {
      "n_new": 3,
      "delta": [
        0.5
      ]
    }
    """
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
        return result_json(self.to_dict(), path)


def line_fits(x: np.ndarray, y: np.ndarray) -> dict:
    """Least-squares line, line through the origin, r^2 of each, Pearson and Spearman.

    The fields of :class:`OmegaFit` of those names; each is None where the data do not
    define it (fewer than two points, constant x or y).

    Examples
    --------
    >>> fits = line_fits(np.array([1.0, 2.0, 3.0]), np.array([2.0, 4.0, 7.0]))
    >>> round(fits["slope"], 3), round(fits["origin_slope"], 3), fits["spearman"]
    (2.5, 2.214, 1.0)
    >>> line_fits(np.array([1.0]), np.array([2.0]))["slope"] is None
    True
    """
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


def omega_fit(layer: str, degrees: np.ndarray, change: np.ndarray, bins: BinsLike, n_bins: int,
               predicted_slope: float | None) -> OmegaFit:
    """Omega(d) of one set of nodes: the mean ``change`` of the nodes of each degree bin, with its lines.

    Parameters
    ----------
    layer : str
        The name of the set (a layer, or "all").
    degrees, change : numpy.ndarray
        t = 0 degree and change (connections gained or lost) of every node.
    bins, n_bins
        As for :func:`~analysis.degree_bins.bin_degrees`.
    predicted_slope : float or None
        The slope eq. 10 predicts, kept in the result.

    Examples
    --------
    >>> fit = omega_fit("fc1", np.array([1, 1, 2]), np.array([0.0, 1.0, 2.0]), "exact", 10, None)
    >>> fit.bins.labels(), fit.omega.tolist(), round(fit.origin_slope, 3)
    (['1', '2'], [0.5, 2.0], 0.9)
    """
    b, index = bin_degrees(degrees, bins=bins, n_bins=n_bins)
    changed = np.bincount(index, weights=change, minlength=len(b))
    omega = changed / b.count
    return OmegaFit(layer=layer, bins=b, omega=omega, changed=changed, predicted_slope=predicted_slope,
                    **line_fits(b.center, omega))


def delta_table(lower: str, upper: str, binned1: tuple[DegreeBins, np.ndarray], binned2: tuple[DegreeBins, np.ndarray],
                 end1: np.ndarray, end2: np.ndarray, change: np.ndarray, pa_constant: float,
                 self_pairs: np.ndarray | None = None) -> DeltaTable:
    """Delta table from per-pair changes; ``end1``/``end2`` index the nodes of the two sets.

    ``binned1`` and ``binned2`` are :func:`~analysis.degree_bins.bin_degrees` of the two sets;
    ``change`` is the change of the pair (``end1[k]``, ``end2[k]``), pairs without a change
    left out.  ``self_pairs`` (node indices into both sets, for a set paired with itself)
    removes the pairs (i, i) from the pair counts.

    Examples
    --------
    Node 1 of the lower set (degree 2) gains a connection to node 2 of the upper set (degree 3):

    >>> t = delta_table("input", "fc1", bin_degrees([1, 2], bins="exact"), bin_degrees([1, 1, 3], bins="exact"),
    ...                 np.array([1]), np.array([2]), np.array([1.0]), 0.1)
    >>> t.n_pairs.tolist(), t.delta.tolist()
    ([[2, 1], [2, 1]], [[0.0, 0.0], [0.0, 1.0]])
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
