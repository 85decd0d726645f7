"""Degree bins: nodes grouped by degree ("exact", "log", "quantile" or explicit boundaries)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from analysis.attachment_errors import AttachmentError
from analysis.pair_keys import sorted_unique

__all__ = ["BinsLike", "DegreeBins", "bin_degrees"]

BinsLike = Literal["exact", "log", "quantile"] | Sequence[int] | np.ndarray


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
