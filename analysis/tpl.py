"""Discrete truncated power laws (TPL): exact maximum likelihood, KS distance, bound search.

The model (docs/method.md) is ``f(x) = x**-alpha / zeta(alpha, xmin, xmax)`` for the integers
``xmin <= x <= xmax``, with ``zeta(alpha, a, b) = sum_{k=a}^{b} k**-alpha``.  ``xmax = inf`` is
the untruncated discrete power law of Clauset, Shalizi & Newman (2009), which needs
``alpha > 1``; with a finite ``xmax`` any real ``alpha`` is allowed.

How the numbers are computed
----------------------------
* Every sum over a window of integers is ``T(a) - T(b + 1)`` where ``T(x)`` is a regularised
  upper sum of ``(k / a)**-alpha * log(k / a)**r`` (r = 0, 1, 2).  ``T`` adds the integers
  below 64 one by one and uses the Euler–Maclaurin formula (six Bernoulli terms, exact
  integral written relative to ``a`` so that nothing cancels) from 64 on.  The relative error
  is below 1e-11 for ``|alpha| <= 40``, the range of exponents searched (``ALPHA_RANGE``).
* ``alpha`` at fixed bounds solves ``E_alpha[log k] = mean(log x)`` over the tail (the
  likelihood is concave in ``alpha``) by Newton's method safeguarded by bisection, to ~1e-12,
  starting from the MLE of the continuous power law on ``[a - 1/2, b + 1/2]`` (closed form).
* ``ks="integers"`` (default): ``D = max |S_data(x) - S_model(x)|`` over every integer of
  the window; both are step functions, so it is evaluated at each data value ``u`` and at
  ``u + 1``.  ``ks="data"``: at the data values only, the convention of Clauset et al., the
  ``powerlaw`` package and igraph.
* Search (docs/method.md): zeros are dropped (and counted); of the ``n`` positive degrees,
  xmin ranges over the distinct values among the ``floor(search_fraction * n)`` smallest and
  xmax over those among the ``floor(search_fraction * n)`` largest (at least one value each;
  ``search_fraction`` is 1 for the untruncated law unless given); a window must hold at
  least two distinct data values.  The pair with the smallest ``D`` wins, ties going to the
  smaller xmin, then the smaller xmax.  The search is exact, in three layers, each of which
  only discards windows whose lower bound of ``D`` exceeds the best ``D`` found so far:

  1. Seed and split points.  The exact ``D`` of a 9 x 9 sub-grid of windows locates the data
     values where ``|S_data - S_model|`` peaks (for most windows of a data set it peaks at
     one of a few values; the six most frequent are the split points); sub-grids of the pairs
     (every s-th xmin and xmax candidate, then finer ones around the winner) give a first best
     ``D``.
  2. Tile filter (finite xmax, more pairs than one block): windows come in tiles of 1024 x 1024
     candidates, visited best first (by a lower bound of the D of their corners and centre at
     the split points).  Split a window at a split point x: the data and the model below x depend on
     xmin alone, those from x on on xmax alone, so at a fixed exponent ``beta`` the
     likelihood equation ``g(beta) = E_beta[log k] - mean(log x)`` and ``S_data(x) -
     S_model(x; beta)`` of every window of the tile cost a few array operations on per-xmin and
     per-xmax sums.  ``g`` falls with ``beta`` and vanishes at the window's alpha, and
     ``S_model(x; beta)`` falls with ``beta``, so ``g(beta) > 0`` gives ``D >= S_data(x) -
     S_model(x; beta)`` and ``g(beta) < 0`` gives ``D >= S_model(x; beta) - S_data(x)``, at six
     exponents spanning the exact alpha of the tile's corners and centre.  In three stages:
     (a) cells of 32 x 32 windows: both quantities are functions of the per-xmin and per-xmax
     sums, nearly separable within a cell, so their minimum and maximum over a cell follow
     from its rows and columns plus a bound of the mixed second differences (_cell_bounds),
     O(rows + columns) a cell, at the split point where the tile's corners and centre come
     closest to their D first; (b) the windows of the cells left open, one by one; (c) those
     still open, a second-order bound at the grid exponent nearest their alpha (the root of
     ``g`` and ``S_model`` at it, bracketed with bounds of their derivatives: _taylor_bound),
     then wider grids where it found no root.  Every test carries a slack of 1e-8, far above the rounding of the
     sums.  No alpha is solved for the windows this discards (all but a few thousand of the
     900 million of n = 100,000 distinct values).
  3. The windows left get their exact ``alpha`` (blocks of up to 16,384 pairs) and then
     successively finer lower bounds of ``D`` (its maximum over 9, 33, 129, then 513 data
     values of the window, the split points among the first: evenly spaced at first, then
     half of them zooming in on where the coarser bound peaked), most promising pairs first
     (the 16 most promising are carried to their exact ``D`` before the others are bounded
     further); the remaining pairs get their exact ``D``.

  The filter only decides which windows are evaluated, never how: the winner is that of an
  exhaustive evaluation of every window, with the same alpha and ``D`` (tested).  Memory is
  bounded by the tile, block and chunk sizes, whatever the number of pairs.

Code layout: this module holds the input validation, ``FitError``, ``TPLFit`` and ``fit_tpl``;
the window sums and the alpha solve are in ``analysis/_tpl_sums.py``, the search in
``analysis/_tpl_search.py`` (private modules; the names other code uses are re-imported here).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike

from analysis._tpl_search import ALPHA_RANGE, _candidates, _Data, _search
from analysis._tpl_sums import _range_sums
from nn2graph._rng import SeedLike, as_generator
from nn2graph.exceptions import NN2GraphError

__all__ = ["ALPHA_RANGE", "FitError", "TPLFit", "fit_tpl"]


class FitError(NN2GraphError, ValueError):
    """Degrees that cannot be fitted, or bounds that do not make sense for them."""


# --------------------------------------------------------------------------------------------
# input validation


def _validate_degrees(degrees: ArrayLike) -> tuple[np.ndarray, int, int]:
    """Return (sorted positive degrees as int64, number of zeros, n) or raise FitError."""
    try:
        arr = np.asarray(degrees)
    except Exception as error:  # ragged lists and the like
        raise FitError(f"degrees must be a one-dimensional array of non-negative integers: {error}") from None
    if arr.ndim != 1:
        raise FitError(f"degrees must be one-dimensional (one value per node), got an array of shape {arr.shape}: "
                       "pass one layer's degrees, or flatten them yourself (e.g. numpy.ravel) if that is meant")
    if arr.dtype == object:
        _check_objects(arr)
        arr = arr.astype(np.int64)
    if arr.dtype.kind not in "biuf":
        raise FitError(f"degrees must be numbers (non-negative integers), got an array of dtype {arr.dtype}")
    if arr.size == 0:
        raise FitError("degrees is empty: give at least two distinct positive degrees")
    if arr.dtype.kind == "f":
        bad = np.flatnonzero(~np.isfinite(arr))
        if bad.size:
            raise FitError(f"degrees[{bad[0]}] is {arr[bad[0]]}: degrees must be finite non-negative integers")
        bad = np.flatnonzero(arr != np.round(arr))
        if bad.size:
            raise FitError(f"degrees[{bad[0]}] = {float(arr[bad[0]])!r} is not an integer: degrees must be "
                           "non-negative integers")
        if np.any(np.abs(arr) > 2.0**53):
            bad = np.flatnonzero(np.abs(arr) > 2.0**53)
            raise FitError(f"degrees[{bad[0]}] = {float(arr[bad[0]])!r} is too large (at most 2**53)")
    if arr.dtype.kind == "u" and arr.dtype.itemsize == 8:
        bad = np.flatnonzero(arr > np.uint64(_INT64_MAX))
        if bad.size:  # would wrap to a negative int64
            raise FitError(f"degrees[{bad[0]}] = {int(arr[bad[0]])} is too large: degrees must be below 2**63")
    arr = arr.astype(np.int64)
    bad = np.flatnonzero(arr < 0)
    if bad.size:
        raise FitError(f"degrees[{bad[0]}] = {arr[bad[0]]} is negative: degrees must be non-negative integers")
    positive = np.sort(arr[arr > 0])
    n_zero = int(arr.size - positive.size)
    if positive.size == 0:
        raise FitError(f"all {arr.size} degrees are 0: a power law needs positive degrees")
    if positive[0] == positive[-1]:
        raise FitError(f"all positive degrees equal {positive[0]}: a fit needs at least two distinct "
                       "positive values")
    return positive, n_zero, int(arr.size)


_INT64_MAX = 2**63 - 1
#: Integers of the window whose CCDF :meth:`TPLFit.sample` tabulates before it bisects.
_SAMPLE_TABLE = 4096


def _check_objects(arr: np.ndarray) -> None:
    """Raise FitError for the first element of an object array that is not an int64-sized integer."""
    for i, value in enumerate(arr):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
            kind = "not an integer" if isinstance(value, (float, np.floating)) else f"of type {type(value).__name__}"
            raise FitError(f"degrees[{i}] = {value!r} is {kind}: degrees must be non-negative integers")
        if int(value) > _INT64_MAX:
            raise FitError(f"degrees[{i}] = {int(value)} is too large: degrees must be below 2**63")
        if int(value) < 0:
            raise FitError(f"degrees[{i}] = {int(value)} is negative: degrees must be non-negative integers")


# --------------------------------------------------------------------------------------------
# the result


@dataclass(frozen=True)
class TPLFit:
    """A discrete truncated power law fitted to degrees.

    Attributes
    ----------
    alpha : float
        Exponent (maximum likelihood for the window).
    xmin, xmax : int, int or float
        The window; ``xmax`` is ``math.inf`` for the untruncated law.
    ks_distance : float
        KS distance ``D`` of the tail under the convention ``ks``.
    n : int
        Number of degrees given, zeros included.
    n_tail : int
        Number of degrees in ``[xmin, xmax]``.
    n_zero_dropped : int
        Number of zero degrees left out.
    loglikelihood : float
        Log-likelihood of the tail, ``sum log f(x)``.
    n_candidates : int
        Number of (xmin, xmax) pairs searched (1 when both bounds were given).
    ks : str
        ``"integers"`` or ``"data"``.
    on_search_edge : tuple of str
        ``"alpha"`` if alpha hit ``ALPHA_RANGE``, ``"xmin"``/``"xmax"`` if a searched bound is the
        first/last of its candidates; empty when the fit is inside the search range.
    search_options : dict
        The options of :func:`fit_tpl` that made this fit (``xmin``, ``xmax``: the bounds given,
        ``None`` where searched; ``search_fraction`` as used; ``ks``).  The bootstrap of
        :func:`analysis.tpl_pvalue` refits every synthetic set with them.
    """

    alpha: float
    xmin: int
    xmax: float
    ks_distance: float
    n: int
    n_tail: int
    n_zero_dropped: int
    loglikelihood: float
    n_candidates: int
    ks: str = "integers"
    on_search_edge: tuple[str, ...] = ()
    search_options: dict[str, Any] = field(default_factory=dict, compare=False)
    tail_values: np.ndarray = field(default=None, repr=False, compare=False)
    tail_counts: np.ndarray = field(default=None, repr=False, compare=False)

    @property
    def tail_fraction(self) -> float:
        """Share of the ``n`` degrees (zeros included) that lie in the window."""
        return self.n_tail / self.n

    def _upper(self, x: np.ndarray) -> np.ndarray:
        """sum_{k=x}^{xmax} k^-alpha / zeta(alpha, xmin, xmax) for integers x in the window."""
        loga = math.log(self.xmin)
        z0 = _range_sums(self.alpha, loga, float(self.xmin), float(self.xmax), 0)[0]
        return _range_sums(self.alpha, loga, x, float(self.xmax), 0)[0] / z0

    def pmf(self, x: ArrayLike) -> np.ndarray:
        """Probability of each ``x``: ``x**-alpha / zeta(alpha, xmin, xmax)`` for integers in the
        window, 0 elsewhere (non-integers included)."""
        x = np.asarray(x, dtype=np.float64)
        inside = (x >= self.xmin) & (x <= self.xmax) & (x == np.round(x))
        xi = np.where(inside, x, self.xmin)
        return np.where(inside, self._upper(xi) - self._upper(xi + 1.0), 0.0)

    def ccdf(self, x: ArrayLike) -> np.ndarray:
        """``P(X >= x)``: 1 for ``x <= xmin``, 0 for ``x > xmax`` (any real ``x``)."""
        x = np.asarray(x, dtype=np.float64)
        s = self._upper(np.clip(np.ceil(x), self.xmin, min(self.xmax, 2.0**62)))
        return np.where(x <= self.xmin, 1.0, np.where(x > self.xmax, 0.0, np.clip(s, 0.0, 1.0)))

    def sample(self, size: int, seed: SeedLike = None) -> np.ndarray:
        """Exact inverse-CDF draws (int64) from the fitted law.

        Each draw is the largest integer ``k`` in the window with ``ccdf(k) >= u`` for a uniform
        ``u`` in (0, 1].  The CCDF is tabulated once on the first :data:`_SAMPLE_TABLE`
        integers of the window (a window that short is sampled from the table alone); draws
        beyond the table are found by bisection.  For ``xmax = inf`` draws are capped at 2**53
        (a probability below 1e-15 for alpha >= 2).
        """
        rng = as_generator(seed)
        u = 1.0 - rng.random(size)  # in (0, 1]
        top = min(float(self.xmax), 2.0**53)
        k = np.arange(float(self.xmin), min(top, self.xmin + _SAMPLE_TABLE - 1.0) + 1.0)
        s = np.minimum.accumulate(self._upper(k))  # ccdf(k), kept non-increasing against rounding
        s[0] = 1.0  # ccdf(xmin) >= u always
        idx = np.searchsorted(-s, -u, side="right") - 1  # the last k with s >= u
        out = k[idx]
        beyond = idx == k.size - 1 if k[-1] < top else np.zeros(size, dtype=bool)
        if beyond.any():  # bisection on [k[-1], top]: ccdf(lo) >= u, ccdf(hi) < u (or the cap)
            ub = u[beyond]
            lo = np.full(ub.size, k[-1])
            hi = np.full(ub.size, top + 1.0)
            while True:
                open_ = hi - lo > 1
                if not open_.any():
                    break
                mid = np.floor(0.5 * (lo + hi))
                cut = np.where(open_, self._upper(np.where(open_, mid, self.xmin)), 0.0)
                up = open_ & (cut >= ub)
                lo = np.where(up, mid, lo)
                hi = np.where(open_ & ~up, mid, hi)
            out[beyond] = lo
        return out.astype(np.int64)

    def plot(self, ax: Any = None, *, color: str = "C0", label: str | None = None) -> Any:
        """Log-log CCDF of the tail (points) with the fitted law in red; returns the Axes."""
        from analysis.plotting import plot_ccdf_fit

        return plot_ccdf_fit(self, ax=ax, color=color, label=label)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (``xmax`` is the string ``"inf"`` for the untruncated law)."""
        return {
            "alpha": self.alpha, "xmin": self.xmin,
            "xmax": "inf" if math.isinf(self.xmax) else int(self.xmax),
            "ks_distance": self.ks_distance, "ks": self.ks, "n": self.n, "n_tail": self.n_tail,
            "tail_fraction": self.tail_fraction, "n_zero_dropped": self.n_zero_dropped,
            "loglikelihood": self.loglikelihood, "n_candidates": self.n_candidates,
            "on_search_edge": list(self.on_search_edge),
            "search_options": {k: ("inf" if isinstance(v, float) and math.isinf(v) else v)
                               for k, v in self.search_options.items()},
        }


# --------------------------------------------------------------------------------------------
# public entry point


def _check_bound(name: str, value: Any, allow_inf: bool) -> float | None:
    if value is None:
        return None
    v = float(value)
    if allow_inf and math.isinf(v) and v > 0:
        return math.inf
    if not math.isfinite(v) or v != round(v) or v < 1:
        raise FitError(f"{name}={value!r} is not a positive integer" + (" (or math.inf)" if allow_inf else ""))
    return v


def fit_tpl(
    degrees: ArrayLike,
    *,
    xmin: int | None = None,
    xmax: float | None = None,
    search_fraction: float | None = None,
    ks: Literal["integers", "data"] = "integers",
) -> TPLFit:
    """Fit a discrete truncated power law to degrees by the minimum-KS search (docs/method.md).

    Parameters
    ----------
    degrees : array_like of int
        Non-negative integer degrees (zeros are dropped and counted).
    xmin, xmax : int, optional
        Fix a bound; left ``None`` it is searched.  ``xmax=math.inf`` fits the untruncated
        discrete power law (xmin searched unless given).
    search_fraction : float, optional
        Share of the positive degrees whose distinct smallest (largest) values are the xmin
        (xmax) candidates; ``1.0`` searches all distinct values.  Default: 0.3 for the truncated
        law, 1.0 (every distinct value is an xmin candidate, as Clauset et al. do) when
        ``xmax=math.inf``.
    ks : {"integers", "data"}
        KS convention: every integer of the window (the default) or the data values only.

    Returns
    -------
    TPLFit

    Raises
    ------
    FitError
        Bad degrees (empty, NaN, negative, non-integer, fewer than two distinct positive
        values) or bounds that leave fewer than two distinct values in the window.

    Examples
    --------
    >>> import numpy as np
    >>> fit = fit_tpl([1, 1, 1, 1, 2, 2, 3, 4, 6, 9], xmin=1, xmax=9)
    >>> round(fit.alpha, 4), fit.n_tail, fit.n_candidates
    (1.1463, 10, 1)
    >>> fit = fit_tpl(np.arange(1, 200) ** 2 % 97 + 1)
    >>> fit.xmin <= fit.xmax and 0 <= fit.ks_distance <= 1
    True
    """
    if ks not in ("integers", "data"):
        raise FitError(f"ks={ks!r}: expected 'integers' or 'data'")
    lo_b = _check_bound("xmin", xmin, allow_inf=False)
    hi_b = _check_bound("xmax", xmax, allow_inf=True)
    if search_fraction is None:
        search_fraction = 1.0 if hi_b is not None and math.isinf(hi_b) else 0.3
    try:
        search_fraction = float(search_fraction)
    except (TypeError, ValueError):
        raise FitError(f"search_fraction={search_fraction!r} must be a number in (0, 1]") from None
    if not (0.0 < search_fraction <= 1.0):
        raise FitError(f"search_fraction={search_fraction!r} must be in (0, 1]")
    positive, n_zero, n = _validate_degrees(degrees)
    data = _Data.from_sorted(positive)
    if lo_b is not None and hi_b is not None and hi_b <= lo_b:
        raise FitError(f"xmax={xmax!r} must be larger than xmin={xmin!r}")
    low, high = _candidates(positive, search_fraction)
    a_cands = np.array([int(lo_b)]) if lo_b is not None else low
    if hi_b is not None:
        b_cands = np.array([hi_b])
    else:
        b_cands = high.astype(np.float64)
        if lo_b is not None:
            b_cands = b_cands[b_cands > lo_b]
    best = _search(data, a_cands.astype(np.float64), b_cands, ks)
    if best.a < 0:
        raise FitError(
            f"no window [xmin, xmax] with xmin in {_span(a_cands)} and xmax in {_span(b_cands)} holds two "
            "distinct degrees: widen the bounds or raise search_fraction")
    edges = []
    if best.edge:
        edges.append("alpha")
    if lo_b is None and a_cands.size > 1 and best.a == a_cands[-1]:
        edges.append("xmin")  # a larger xmin might fit better
    if hi_b is None and b_cands.size > 1 and best.b == b_cands[0]:
        edges.append("xmax")  # a smaller xmax might fit better
    i0 = int(np.searchsorted(data.values, best.a))
    j = int(np.searchsorted(data.values, min(best.b, 2.0**62), side="right")) - 1
    tv, tc = data.values[i0: j + 1], data.counts[i0: j + 1]
    m = int(tc.sum())
    loga = math.log(best.a)
    z0 = float(_range_sums(best.alpha, loga, float(best.a), best.b, 0)[0])
    ll = float(-best.alpha * np.sum(tc * np.log(tv)) - m * (math.log(z0) - best.alpha * loga))
    fit = TPLFit(alpha=best.alpha, xmin=int(best.a), xmax=best.b if math.isinf(best.b) else int(best.b),
                 ks_distance=best.d, n=n, n_tail=m, n_zero_dropped=n_zero, loglikelihood=ll,
                 n_candidates=best.cand, ks=ks, on_search_edge=tuple(edges), tail_values=tv, tail_counts=tc,
                 search_options={"xmin": None if lo_b is None else int(lo_b),
                                 "xmax": None if hi_b is None else (hi_b if math.isinf(hi_b) else int(hi_b)),
                                 "search_fraction": search_fraction, "ks": ks})
    if edges:
        warnings.warn(f"TPL fit on the edge of its search range ({', '.join(edges)}): alpha={fit.alpha:.4g}, "
                      f"window [{fit.xmin}, {fit.xmax}]; widen search_fraction or fix the bounds", stacklevel=2)
    if fit.xmax == fit.xmin + 1 and (lo_b is None or hi_b is None):
        warnings.warn(f"the searched window [{fit.xmin}, {fit.xmax}] holds only two degrees: a TPL reproduces the "
                      "share of any two values exactly (D = 0), so this fit says nothing about a power law "
                      "(the narrow-window trap); fix xmin or xmax, or search a smaller search_fraction",
                      stacklevel=2)
    return fit


def _span(values: np.ndarray) -> str:
    return f"[{values[0]:g}, {values[-1]:g}]" if len(values) else "[]"
