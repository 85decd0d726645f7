"""Structured sparsity of a weight matrix: dense, per-row, per-column and N:M patterns.

Pruning methods leave signatures in the zeros of a weight matrix ``W`` (rows: output units,
columns: inputs).  Per-row pruning such as Wanda keeps the same number of weights in every
row, so every output unit has the same in-degree; N:M pruning (2:4 for sparse tensor cores)
keeps at most N non-zeros in every group of M consecutive inputs of a row; a dense layer has
no zeros at all.  A degree distribution made constant by such a rule says nothing about how
the network organised itself, so the constant side is reported and not fitted.

The N:M test is exact and streams: :class:`GroupCounter` takes the non-zero mask chunk by
chunk (whole rows) and keeps, for each group size M in :data:`NM_GROUP_SIZES` that divides the
row, the largest number of non-zeros in one group.  The pattern N:M is reported for the
smallest M whose largest group count N is below M and whose groups are nearly full
(``density * M >= NM_FILL * N``: every group holds about N, not just at most N, so a very
sparse unstructured matrix is not taken for one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["NM_FILL", "NM_GROUP_SIZES", "GroupCounter", "SparsityPattern", "sparsity_pattern"]

#: Group sizes M tried for N:M patterns.
NM_GROUP_SIZES: tuple[int, ...] = (2, 4, 8, 16)
#: An N:M pattern needs ``density * M >= NM_FILL * N`` (groups nearly full).
NM_FILL = 0.9

_WORD = {2: np.uint16, 4: np.uint32, 8: np.uint64}  # M bools viewed as one word: popcount = non-zeros


@dataclass(frozen=True)
class SparsityPattern:
    """What the zeros of one weight matrix look like.

    Attributes
    ----------
    kind : str
        ``"dense"`` (no zeros), ``"N:M"``, ``"per-row"`` (every row has the same number of
        non-zeros), ``"per-column"`` (every column does), ``"unstructured"`` or ``"empty"``
        (all zeros).  The first that applies, in this order after ``"empty"``.
    density : float
        Share of non-zero weights.
    n_m : tuple of int or None
        ``(N, M)`` when at most N of every M consecutive inputs are non-zero (and groups are
        nearly full), else None.
    row_count, column_count : int or None
        The number of non-zeros of every row (column) when all rows (columns) have the same.
    """

    kind: str
    density: float
    n_m: tuple[int, int] | None
    row_count: int | None
    column_count: int | None

    @property
    def structured(self) -> bool:
        """True unless the zeros are unstructured."""
        return self.kind != "unstructured"

    def describe(self) -> str:
        """One line for a person, e.g. ``"2:4 (every 4 consecutive inputs keep at most 2)"``.

        Examples
        --------
        >>> SparsityPattern("per-row", 0.5, None, 64, None).describe()
        'per-row: every row keeps 64 non-zeros (density 0.500)'
        """
        if self.kind == "dense":
            return "dense: no zero weights"
        if self.kind == "empty":
            return "empty: every weight is zero"
        if self.kind == "N:M":
            n, m = self.n_m
            text = f"{n}:{m}: every {m} consecutive inputs keep at most {n} non-zeros"
        elif self.kind == "per-row":
            text = f"per-row: every row keeps {self.row_count} non-zeros"
        elif self.kind == "per-column":
            text = f"per-column: every column keeps {self.column_count} non-zeros"
        else:
            text = "unstructured"
        return f"{text} (density {self.density:.3f})"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return {"kind": self.kind, "density": self.density, "n_m": list(self.n_m) if self.n_m else None,
                "row_count": self.row_count, "column_count": self.column_count}


class GroupCounter:
    """Largest number of non-zeros in a group of M consecutive entries of a row, chunk by chunk.

    Parameters
    ----------
    row_length : int
        Entries per row; group sizes that do not divide it are not tried.
    sizes : tuple of int
        Group sizes M to try.

    Examples
    --------
    >>> mask = np.array([[1, 0, 1, 0, 0, 1, 1, 0]], dtype=bool)
    >>> counter = GroupCounter(8)
    >>> counter.add(mask)
    >>> counter.largest
    {2: 1, 4: 2, 8: 4}
    """

    def __init__(self, row_length: int, sizes: tuple[int, ...] = NM_GROUP_SIZES) -> None:
        if any(m < 2 or m & (m - 1) for m in sizes):
            raise ValueError(f"group sizes {sizes} must be powers of two (2, 4, 8, ...)")
        self.largest: dict[int, int] = {m: 0 for m in sizes if m <= row_length and row_length % m == 0}

    def add(self, mask: np.ndarray) -> None:
        """Take the boolean non-zero mask of whole rows (C-contiguous, rows x row_length)."""
        flat = np.ascontiguousarray(mask).reshape(-1).view(np.uint8)
        # pieces of whole groups, small first: unstructured zeros rule out every M at once
        piece, start = max((1 << 12, *self.largest)), 0  # powers of two: pieces hold whole groups
        while start < flat.size and self.open:
            stop = min(flat.size, start + piece)
            cache: dict[int, np.ndarray] = {}
            for m in self.open:
                counts = _group_counts(flat[start:stop], m, cache)
                if counts.size:
                    self.largest[m] = max(self.largest[m], int(counts.max()))
            start, piece = stop, min(piece * 4, 1 << 24)

    @property
    def open(self) -> list[int]:
        """Group sizes still possible: no group of that size was full."""
        return [m for m in sorted(self.largest) if self.largest[m] < m]

    def best(self, density: float) -> tuple[int, int] | None:
        """The N:M pattern of the smallest M that holds (see the module notes), or None."""
        for m in sorted(self.largest):
            n = self.largest[m]
            if 0 < n < m and density * m >= NM_FILL * n:
                return n, m
        return None


def _group_counts(flat: np.ndarray, m: int, cache: dict[int, np.ndarray]) -> np.ndarray:
    """Non-zeros of each group of m consecutive mask bytes (m a power of two)."""
    if m not in cache:
        if m in _WORD:  # m bools (bytes 0/1) as one word: its popcount is the group's count
            cache[m] = np.bitwise_count(flat.view(_WORD[m]))
        else:
            half = _group_counts(flat, m // 2, cache)
            cache[m] = half[0::2].astype(np.uint16) + half[1::2]
    return cache[m]


def sparsity_pattern(row_counts: np.ndarray, column_counts: np.ndarray, n_elements: int,
                     groups: GroupCounter | None = None) -> SparsityPattern:
    """Classify a matrix from its non-zeros per row and per column (and its N:M group counts).

    Parameters
    ----------
    row_counts, column_counts : numpy.ndarray of int
        Non-zero weights of each row (output unit) and column (input).
    n_elements : int
        Number of weights.
    groups : GroupCounter, optional
        Group counts along the input dimension; without it no N:M pattern is reported.

    Examples
    --------
    >>> sparsity_pattern(np.array([2, 2, 2]), np.array([3, 0, 1, 2]), 12).kind
    'per-row'
    >>> sparsity_pattern(np.array([4, 4]), np.array([2, 2, 2, 2]), 8).kind
    'dense'
    """
    nonzero = int(np.sum(row_counts))
    density = nonzero / n_elements if n_elements else 0.0
    row = int(row_counts[0]) if row_counts.size and np.all(row_counts == row_counts[0]) else None
    col = int(column_counts[0]) if column_counts.size and np.all(column_counts == column_counts[0]) else None
    n_m = groups.best(density) if groups is not None and 0 < nonzero < n_elements else None
    if nonzero == 0:
        kind = "empty"
    elif nonzero == n_elements:
        kind = "dense"
    elif n_m is not None:
        kind = "N:M"
    elif row is not None:
        kind = "per-row"
    elif col is not None:
        kind = "per-column"
    else:
        kind = "unstructured"
    return SparsityPattern(kind=kind, density=density, n_m=n_m, row_count=row, column_count=col)
