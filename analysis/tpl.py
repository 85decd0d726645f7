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
  2. Tile filter (finite xmax, more pairs than one block): windows come in tiles of 512 x 512
     candidates.  Split a window at a split point x: the data and the model below x depend on
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
     O(rows + columns) a cell; (b) the windows of the cells left open, one by one; (c) those
     still open, a second-order bound at the grid exponent nearest their alpha (the root of
     ``g`` and ``S_model`` at it, bracketed with bounds of their derivatives: _taylor_bound),
     then wider grids.  Every test carries a slack of 1e-8, far above the rounding of the
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
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike

from nn2graph._rng import SeedLike, as_generator
from nn2graph.exceptions import NN2GraphError

__all__ = ["ALPHA_RANGE", "FitError", "TPLFit", "fit_tpl"]

#: Exponents are searched in this closed interval (the untruncated law needs alpha > 1).
ALPHA_RANGE: tuple[float, float] = (-40.0, 40.0)

_EM_START = 64  # integers below this are summed one by one (16 when |alpha| <= 8)
_EM_START_SMALL = 16
# B_2j / (2j)! for j = 1..6 (Euler–Maclaurin coefficients)
_EM_COEF = np.array([1 / 6 / 2, -1 / 30 / 24, 1 / 42 / 720, -1 / 30 / 40320, 5 / 66 / 3628800,
                     -691 / 2730 / 479001600])
_TOL = 1e-11
# power series of phi_1, phi_2 (see _phi): groups of |z| and the last power each needs, and the
# coefficients 1 / (k! (k + r + 1)) (rows r = 1, 2; columns k = 0..18)
_PHI_GROUPS = ((0.0, 1 / 16, 10), (1 / 16, 1 / 4, 13), (1 / 4, 1.0, 18))
_PHI_COEF = np.array([[1.0 / (math.factorial(k) * (k + r + 1)) for k in range(19)] for r in (1, 2)])
_PRUNE_POINTS = (9, 33, 129, 513)  # points of the successive lower bounds of D
_CHUNK_POINTS = 1 << 15
_BLOCK_PAIRS = 1 << 14
_PROBE_PAIRS = 16  # most promising windows taken to their exact D first at each later stage
_SEED_PAIRS = 256  # pairs of the sub-grid that seeds the pruning threshold
_TILE = 512  # xmin and xmax candidates a side of a tile of the certified filter
_GRID_ONE_BY_ONE = True  # windows of open cells through the per-window grid before the second-order bound
_CELL = 32  # a side of the cells of windows that share one bound (_cell_bounds) within a tile
_HOT_POINTS = 6  # split points of the certified filter
_HOT_GRID = 9  # its sub-grid (a side) of windows whose exact D locates the split points
_ALPHA_GRID = 6  # exponents per tile at which the certified filter evaluates every window
_CERT_TOL = 1e-8  # slack of its sign tests of the likelihood equation and of its bounds of D
_WIDER_GRIDS = (1.0, 4.0, 16.0)  # widenings (in grid widths, each side) of the exponents for open windows
_WIDE_GRID = 24  # exponents of each wider grid


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
# sums over integer windows


def _phi(z: np.ndarray, nr: int) -> np.ndarray:
    """phi_r(z) = integral_0^1 exp(z w) w**r dw for r < nr (rows), accurate for every real z."""
    out = np.empty((nr, z.size))
    with np.errstate(invalid="ignore", divide="ignore"):
        em1 = np.expm1(z)
        out[0] = np.where(z == 0.0, 1.0, em1 / z)  # expm1 keeps phi_0 accurate near 0
        if nr > 1:
            e = em1 + 1.0
            z2 = z * z
            out[1] = (e * (z - 1.0) + 1.0) / z2
            if nr > 2:
                out[2] = (e * (z2 - 2.0 * z + 2.0) - 2.0) / (z2 * z)
    if nr > 1:  # the closed forms of phi_1, phi_2 cancel near 0: power series there, in groups
        # of |z| (smaller |z|, fewer terms), by Horner's rule; each group sums every term
        # z^k / k! / (k + r + 1) with |z|^k / k! >= 1e-17 at its largest |z|, so each series
        # gets every term that can change its float value
        az = np.abs(z)
        for lo_z, hi_z, n_terms in _PHI_GROUPS:
            small = np.flatnonzero((az >= lo_z) & (az < hi_z))
            if not small.size:
                continue
            zs = z[small]
            coef = _PHI_COEF[: nr - 1, n_terms::-1]
            total = np.repeat(coef[:, :1], small.size, axis=1)
            for c in coef[:, 1:].T:
                total *= zs
                total += c[:, None]
            out[1:, small] = total
    return out


def _upper_sums(alpha: ArrayLike, loga: ArrayLike, x: ArrayLike, rmax: int) -> np.ndarray:
    """Regularised T_r(x) ~ sum_{k >= x} (k/a)^-alpha log(k/a)^r for r = 0..rmax (rows).

    Differences are exact window sums: ``sum_{k=x}^{b} = T(x) - T(b + 1)``.  ``x`` may be
    ``inf`` (then ``alpha > 1``).  The arguments broadcast to one shape; the result has the
    shape ``(rmax + 1, *shape)``.  Integers below ``M`` are added one by one and the
    Euler–Maclaurin formula starts at ``M`` (16 for |alpha| <= 8, else 64).
    """
    alpha, loga, x = np.broadcast_arrays(np.asarray(alpha, np.float64), np.asarray(loga, np.float64),
                                         np.asarray(x, np.float64))
    shape = alpha.shape
    alpha, loga, x = alpha.ravel(), loga.ravel(), x.ravel()
    nr = rmax + 1
    out = np.empty((nr, alpha.size))
    inf = np.isinf(x)
    if inf.any():
        ai, la = alpha[inf], loga[inf]
        for r in range(nr):  # minus the integral from a to infinity: -a r! / (alpha - 1)^(r+1)
            out[r, inf] = -np.exp(la) * math.factorial(r) / (ai - 1.0) ** (r + 1)
    all_fin = not inf.any()
    al, la, xf = (alpha, loga, x) if all_fin else (alpha[~inf], loga[~inf], x[~inf])
    if xf.size:
        start = np.where(np.abs(al) <= 8.0, _EM_START_SMALL, _EM_START)
        xe = np.maximum(xf, start)
        ell = np.log(xe) - la
        w = np.exp(-al * ell)
        neg = -al
        xinv = 1.0 / xe
        # the n-th derivative of (k/a)^-alpha log(k/a)^r is k^-n (k/a)^-alpha P_n(log(k/a)),
        # P_{n+1} = (-alpha - n) P_n + P_n'; c0, c1, c2 are the coefficients of P_n
        xpow = np.ones_like(al)
        if nr == 1:
            deriv = np.zeros_like(al)
            c0 = np.ones_like(al)
            for n in range(2 * _EM_COEF.size):
                c0 = (neg - n) * c0 * xinv
                if n % 2 == 0:
                    term = _EM_COEF[n // 2] * c0
                    deriv += term
                    if n and np.max(np.abs(term)) < 1e-17:  # later terms are smaller still
                        break
            phi = _phi((1.0 - al) * ell, 1)[0]
            vals = (w * (0.5 - deriv) - np.exp(la) * ell * phi)[None, :]
        else:
            # P_n(ell) = p + q ell + r ell^2 / 2 for log^2: p_n = prod (-alpha - i), q_n and r_n follow
            # q' = f q + p, r' = f r + 2 q (log^1 uses q + ell p, log^0 uses p alone)
            deriv = np.zeros((nr, xf.size))
            pn, qn, rn = np.ones_like(al), np.zeros_like(al), np.zeros_like(al)
            damp = 1.0 + ell * ell
            for n in range(2 * _EM_COEF.size):
                f = neg - n
                if nr > 2:
                    rn = f * rn + 2.0 * qn
                qn = f * qn + pn
                pn = f * pn
                xpow = xpow * xinv
                if n % 2 == 0:
                    scale = _EM_COEF[n // 2] * xpow
                    terms = [scale * pn, scale * (qn + ell * pn)]
                    if nr > 2:
                        terms.append(scale * (rn + ell * (2.0 * qn + ell * pn)))
                    for r, term in enumerate(terms):
                        deriv[r] += term
                    if n and max(np.max(np.abs(t) / damp) for t in terms) < 1e-17:  # the rest is smaller
                        break
            phi = _phi((1.0 - al) * ell, nr)
            powers = ell ** np.arange(nr)[:, None]  # ell^r
            vals = w * (0.5 * powers - deriv) - np.exp(la) * (powers * ell) * phi
        low = np.flatnonzero(xf < start)
        if low.size:
            width = int(start[low].max()) - 1
            k = np.arange(1, width + 1, dtype=np.float64)
            lk = np.log(k)[None, :] - la[low][:, None]
            inside = k[None, :] >= xf[low][:, None]
            if start[low].min() <= width:  # mixed starts: rows starting at 16 stop there
                inside &= k[None, :] < start[low][:, None]
            terms = np.where(inside, np.exp(-al[low][:, None] * np.where(inside, lk, 0.0)), 0.0)
            ones = np.ones(width)  # row sums as a matrix-vector product: faster for short rows
            vals[0, low] += terms @ ones
            for r in range(1, nr):
                terms = terms * lk
                vals[r, low] += terms @ ones
        if all_fin:
            out = vals
        else:
            out[:, ~inf] = vals
    return out.reshape((nr, *shape))


def _range_sums(alpha, loga, x, b, rmax):
    """Sums over the integers k in [x, b] of (k/a)^-alpha log(k/a)^r (rows r = 0..rmax).

    Windows ending below 63 are summed term by term (for alpha < 0 the regularised upper
    sums would be dominated by the terms above b); the others are T(x) - T(b + 1).
    """
    alpha, loga, x, b = np.broadcast_arrays(*(np.asarray(v, np.float64) for v in (alpha, loga, x, b)))
    shape = alpha.shape
    alpha, loga, x, b = alpha.ravel(), loga.ravel(), x.ravel(), b.ravel()
    small = b + 1.0 < _EM_START
    if not small.any():
        both = _upper_sums(np.r_[alpha, alpha], np.r_[loga, loga], np.r_[x, b + 1.0], rmax)
        return (both[:, : alpha.size] - both[:, alpha.size:]).reshape((rmax + 1, *shape))
    out = np.empty((rmax + 1, alpha.size))
    big = ~small
    if big.any():
        out[:, big] = (_upper_sums(alpha[big], loga[big], x[big], rmax)
                       - _upper_sums(alpha[big], loga[big], b[big] + 1.0, rmax))
    k = np.arange(1, _EM_START, dtype=np.float64)
    lk = np.log(k)[None, :] - loga[small][:, None]
    inside = (k[None, :] >= x[small][:, None]) & (k[None, :] <= b[small][:, None])
    terms = np.where(inside, np.exp(-alpha[small][:, None] * np.where(inside, lk, 0.0)), 0.0)
    for r in range(rmax + 1):
        out[r, small] = (terms * lk**r).sum(axis=1)
    return out.reshape((rmax + 1, *shape))


def _mean_log(alpha, loga, a, b):
    """E_alpha[log(k/a)] and Var_alpha[log(k/a)] over the integers of [a, b]."""
    z0, z1, z2 = _range_sums(alpha, loga, a, b, 2)
    mean = z1 / z0
    return mean, np.maximum(z2 / z0 - mean * mean, 0.0)


def _solve_alpha(loga, a, b, target, lower, upper, start):
    """Vectorised MLE: solve E_alpha[log(k/a)] = target over [a, b]; returns (alpha, at_edge).

    E_alpha[log k] decreases in alpha, so the root is unique; it is clipped to [lower, upper].
    Newton's method from ``start``, safeguarded by bisection, stops after a Newton step below
    1e-7 (quadratic convergence leaves an error near 1e-14) or a bracket below 1e-11; a Newton
    step beyond a bound first tries the bound itself (ending there if the root lies beyond it).  ``lower`` is never evaluated when it is 1 and b is infinite.
    """
    loga, a, b, target = (np.asarray(v, np.float64) for v in (loga, a, b, target))
    lower, upper = float(lower), float(upper)
    alpha = np.clip(np.asarray(start, np.float64), lower + 1e-6, upper - 1e-6) * np.ones(target.shape)
    lo = np.full(target.shape, lower)
    hi = np.full(target.shape, upper)
    can_low = not (lower == 1.0 and np.isinf(b).any())
    active = np.ones(target.shape, bool)
    for _ in range(200):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        al = alpha[idx]
        mean, var = _mean_log(al, loga[idx], a[idx], b[idx])
        gap = mean - target[idx]  # gap > 0: alpha too small
        lo_i = np.where(gap > 0, al, lo[idx])
        hi_i = np.where(gap > 0, hi[idx], al)
        with np.errstate(divide="ignore", invalid="ignore"):
            newton = al + gap / var
        ok = np.isfinite(newton) & (newton > lo_i) & (newton < hi_i)
        new = np.where(ok, newton, 0.5 * (lo_i + hi_i))
        to_upper = ~ok & (gap > 0) & (hi_i == upper) & (al < upper)
        new = np.where(to_upper, upper, new)
        if can_low:
            to_lower = ~ok & (gap < 0) & (lo_i == lower) & (al > lower)
            new = np.where(to_lower, lower, new)
        # a Newton step within rounding of al on the bracket's edge: al is the root (bisecting
        # on would only creep through the noise of the sums)
        new = np.where(~ok & (np.abs(newton - al) <= _TOL * np.maximum(1.0, np.abs(al))), al, new)
        lo[idx], hi[idx], alpha[idx] = lo_i, hi_i, new
        # Newton converges quadratically: after a step below 1e-7 the error is ~1e-14
        step = np.abs(new - al) / np.maximum(1.0, np.abs(al))
        done = (step <= _TOL) | (ok & (step <= 1e-7)) | (hi_i - lo_i <= _TOL)
        active[idx[done]] = False
    return alpha, (alpha == upper) | (alpha == lower)


# --------------------------------------------------------------------------------------------
# the search


@dataclass
class _Data:
    values: np.ndarray  # distinct positive degrees (int64, ascending)
    counts: np.ndarray  # their counts (int64)
    cum: np.ndarray  # cum[k] = number of degrees below values[k] (length K + 1)
    # cum_log[k] = sum of log(x) over the degrees below values[k], in extended precision (long
    # double: 64-bit mantissa on x86), so that a difference minus m log(a) keeps ~1e-16 relative
    cum_log: np.ndarray = field(default=None, repr=False)

    @classmethod
    def from_sorted(cls, positive: np.ndarray) -> "_Data":
        values, counts = np.unique(positive, return_counts=True)
        cum = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        cum_log = np.concatenate([[0], np.cumsum(counts.astype(np.longdouble) * np.log(values.astype(np.longdouble)))])
        return cls(values.astype(np.int64), counts.astype(np.int64), cum, cum_log)


@dataclass
class _Pairs:
    """Windows [a, b]: a, log a, first data index i, b, last data index j, alpha, edge, zeta,
    and T(b + 1) (NaN for windows summed term by term)."""

    a: np.ndarray
    loga: np.ndarray
    i: np.ndarray
    b: np.ndarray
    j: np.ndarray
    alpha: np.ndarray
    edge: np.ndarray
    z0: np.ndarray
    tb: np.ndarray

    def take(self, sel) -> "_Pairs":
        return _Pairs(*(getattr(self, f)[sel] for f in self.__dataclass_fields__))


def _continuous_start(a, b, target):
    """Starting exponents for the windows [a, b]: the MLE of the continuous power law on
    [a - 1/2, b + 1/2] with the same mean of log(x / a) (`target`); typically within 1e-3 of
    the discrete MLE, so Newton needs two steps.  Each window's start depends on it alone.

    With u = log(x / a), that law is exp((1 - alpha) u) on [lo, hi]; its mean is lo + w g(z),
    w = hi - lo, z = (1 - alpha) w, g(z) = 1 / (1 - exp(-z)) - 1 / z (increasing from 0 to 1),
    solved for z by Newton's method on g(z) = q.  ``b = inf``: alpha = 1 + 1 / (target - lo).
    """
    lo = np.log1p(-0.5 / a)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        w = np.log((b + 0.5) / (a - 0.5))  # hi - lo
        q = np.clip((target - lo) / w, 1e-12, 1.0 - 1e-12)
        z = 1.0 / (1.0 - q) - 1.0 / q  # right at both ends, 0 at q = 1/2
        for _ in range(4):  # enough: more steps save no exact Newton step on the benchmarks
            small = np.abs(z) < 1e-2
            zs = np.where(small, 1.0, z)
            # t = 1 / (1 - exp(-|z|)): 1 / (1 - exp(-z)) is t (z > 0) or 1 - t (z < 0), and
            # 1 / (4 sinh(z / 2)^2) = t (t - 1)
            t = -1.0 / np.expm1(-np.abs(zs))
            zz = z * z
            g = np.where(small, 0.5 + z / 12.0 - zz * z / 720.0, np.where(zs > 0.0, t, 1.0 - t) - 1.0 / zs)
            dg = np.where(small, 1.0 / 12.0 - zz / 240.0, 1.0 / (zs * zs) - t * (t - 1.0))
            z = z - (g - q) / np.maximum(dg, 1e-300)
        start = np.where(np.isinf(b), 1.0 + 1.0 / (target - lo), 1.0 - z / w)
    return np.where(np.isfinite(start), start, 1.0 + 1.0 / np.maximum(target, 1e-300))


def _fit_pairs(data: _Data, a: np.ndarray, b: np.ndarray, lower: float, upper: float) -> _Pairs:
    """MLE exponents and normalisers of the windows [a, b] (arrays of equal length)."""
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    i = np.searchsorted(data.values, a)
    j = np.searchsorted(data.values, np.minimum(b, 2.0**62), side="right") - 1
    loga = np.log(a)
    m = (data.cum[j + 1] - data.cum[i]).astype(np.float64)
    # mean of log(x / a) over each tail: a difference of the extended-precision cumulative sums
    # of log(x), minus m log(a) (O(1) a window; a cumulative sum per distinct a would cost O(n) each)
    ld = np.longdouble
    target = ((data.cum_log[j + 1] - data.cum_log[i] - m.astype(ld) * np.log(a.astype(ld))) / m.astype(ld)).astype(
        np.float64)
    alpha, edge = _solve_alpha(loga, a, b, target, lower, upper, _continuous_start(a, b, target))
    # T(a) and T(b + 1) in one call: z0 = T(a) - T(b + 1), except for windows ending below 63
    # (summed term by term, tb NaN)
    small = b + 1.0 < _EM_START
    both = _upper_sums(np.r_[alpha, alpha], np.r_[loga, loga], np.r_[a, np.maximum(b + 1.0, _EM_START)], 0)[0]
    tb = np.where(small, np.nan, both[a.size:])
    z0 = both[: a.size] - tb
    if small.any():
        z0[small] = _range_sums(alpha[small], loga[small], a[small], b[small], 0)[0]
    return _Pairs(a, loga, i, b, j, alpha, edge, z0, tb)


def _ks_points(data: _Data, p: _Pairs, row: np.ndarray, k: np.ndarray, ks: str) -> np.ndarray:
    """|S_data - S_model| of window p[row] at data value values[k] (one entry per point), and
    at values[k] + 1 for ks='integers' (their maximum)."""
    top = data.cum[p.j + 1]
    inv_m = 1.0 / (top - data.cum[p.i])
    top, inv_m = top[row], inv_m[row]
    alpha, loga, z0, tb = p.alpha[row], p.loga[row], p.z0[row], p.tb[row]
    x = data.values[k].astype(np.float64)
    small = np.isnan(tb)
    if small.any():  # windows ending below 63: summed term by term
        s_model = np.empty(x.size)
        s_model[small] = _range_sums(alpha[small], loga[small], x[small], p.b[row[small]], 0)[0]
        big = ~small
        s_model[big] = _upper_sums(alpha[big], loga[big], x[big], 0)[0] - tb[big]
        s_model /= z0
    else:  # T(b + 1) is known
        s_model = (_upper_sums(alpha, loga, x, 0)[0] - tb) / z0
    diff = np.abs((top - data.cum[k]) * inv_m - s_model)
    if ks == "integers":
        pmf = np.exp(-alpha * (np.log(x) - loga)) / z0
        after = np.abs((top - data.cum[k + 1]) * inv_m - (s_model - pmf))
        diff = np.maximum(diff, np.where(x + 1.0 <= p.b[row], after, 0.0))
    return diff


def _ks_exact(data: _Data, p: _Pairs, ks: str, argmax: bool = False):
    """Exact D of every window of p (all data values of each window, ragged), and with
    `argmax` the data index where each is reached (the first such)."""
    lengths = p.j - p.i + 1
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    row = np.repeat(np.arange(lengths.size), lengths)
    k = p.i[row] + np.arange(lengths.sum()) - offsets[row]
    diff = _ks_points(data, p, row, k, ks)
    d = np.maximum.reduceat(diff, offsets)
    if not argmax:
        return d
    first = np.flatnonzero(diff == d[row])
    return d, k[first[np.searchsorted(row[first], np.arange(lengths.size))]]


def _ks_bound(data: _Data, p: _Pairs, ks: str, points: int, centre: np.ndarray | None = None,
              spread: np.ndarray | None = None, extra: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """max |S_data - S_model| over `points` data values of each window, and the data index
    where it is reached: a lower bound of D, equal to D for windows of at most `points` values.

    Without `centre` the points are evenly spaced.  With it (the argmax of a coarser bound),
    half are evenly spaced and half zoom in on centre +- spread (the coarser spacing), where
    the maximum usually is; windows of at most `points` values still get all of theirs.
    The data indices `extra` (clipped to each window) are added to every window's points.
    """
    q = np.linspace(0.0, 1.0, points)
    span = (p.j - p.i)[:, None]
    k = np.rint(p.i[:, None] + q[None, :] * span).astype(np.int64)
    if centre is not None:
        n_even = (points + 1) // 2
        even = np.rint(p.i[:, None] + np.linspace(0.0, 1.0, n_even)[None, :] * span)
        zoom = np.rint(centre[:, None] + np.linspace(-1.0, 1.0, points - n_even)[None, :] * spread[:, None])
        mixed = np.clip(np.concatenate([even, zoom], axis=1), p.i[:, None], p.j[:, None]).astype(np.int64)
        k = np.where(span + 1 <= points, k, mixed)
    if extra is not None and extra.size:  # data indices where D usually peaks, clipped to each window
        k = np.concatenate([k, np.clip(extra[None, :], p.i[:, None], p.j[:, None])], axis=1)
    row = np.repeat(np.arange(p.i.size), k.shape[1])
    diff = _ks_points(data, p, row, k.ravel(), ks).reshape(k.shape)
    at = diff.argmax(axis=1)
    return diff[np.arange(at.size), at], k[np.arange(at.size), at]


@dataclass
class _Best:
    d: float = math.inf
    a: float = -1.0
    b: float = -1.0
    alpha: float = math.nan
    edge: bool = False
    cand: int = 0
    cap: float = math.inf  # D of a window met before (a seed), plus slack
    hot: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # data indices where D peaks

    def threshold(self) -> float:
        """Windows whose lower bound of D exceeds this cannot win (with float slack)."""
        return min(self.d * (1 + 1e-12) + 1e-15, self.cap)

    def offer(self, d: np.ndarray, p: _Pairs) -> None:
        """Keep the smallest (D, xmin, xmax) of the current best and the windows p."""
        s = np.lexsort((p.b, p.a, d))[0]
        if (d[s], p.a[s], p.b[s]) < (self.d, self.a, self.b) or self.a < 0:
            self.d, self.a, self.b = float(d[s]), float(p.a[s]), float(p.b[s])
            self.alpha, self.edge = float(p.alpha[s]), bool(p.edge[s])


def _blocks(first_b: np.ndarray, n_b: int):
    """Yield (a index, b index) arrays of the valid pairs, about _BLOCK_PAIRS at a time, in
    row-major order; memory stays O(_BLOCK_PAIRS) whatever the number of pairs."""
    counts = n_b - first_b
    ends = np.cumsum(counts)
    start_a, done = 0, 0
    while start_a < counts.size:
        stop_a = max(start_a + 1, int(np.searchsorted(ends, done + _BLOCK_PAIRS, side="right")))
        rows = np.repeat(np.arange(start_a, stop_a), counts[start_a:stop_a])
        if rows.size:
            offsets = np.cumsum(counts[start_a:stop_a]) - counts[start_a:stop_a]
            cols = first_b[rows] + np.arange(rows.size) - np.repeat(offsets, counts[start_a:stop_a])
            yield rows, cols
        done = int(ends[stop_a - 1])
        start_a = stop_a


def _refine(data: _Data, pairs: _Pairs, sel: np.ndarray, lb: np.ndarray | None, stage: int, best: "_Best",
            ks: str, centre: np.ndarray | None = None) -> None:
    """Offer the windows pairs[sel] to best, discarding those whose lower bound of D cannot win.

    Stage s bounds D by its maximum over _PRUNE_POINTS[s] points of each window (exact for
    windows with no more data values), zooming in on where the previous stage's maximum
    (`centre`) was; after the last stage the survivors get their exact D.  Windows are
    processed in chunks, the most promising (smallest bound) first, so that the best D found
    so far prunes the rest; at stages after the first, the first chunk is only the
    _PROBE_PAIRS most promising windows, carried to their exact D before the others are
    bounded further, so that a good D prunes from the start.
    """
    last = stage == len(_PRUNE_POINTS)
    points = 0 if last else _PRUNE_POINTS[stage]
    probe = _PROBE_PAIRS if lb is not None else 0
    while sel.size:
        if lb is not None:
            keep = lb <= best.threshold()  # the others cannot win
            sel, lb, centre = sel[keep], lb[keep], centre[keep]
            if not sel.size:
                return
        if last:
            take = max(1, int(np.searchsorted(np.cumsum(pairs.j[sel] - pairs.i[sel] + 1), _CHUNK_POINTS)))
        else:
            take = max(1, _CHUNK_POINTS // points)
        if probe:
            take, probe = min(take, probe), 0
        chunk, sel = sel[:take], sel[take:]
        sub = pairs.take(chunk)
        if lb is not None:
            sub_centre, lb, centre = centre[:take], lb[take:], centre[take:]
        if last:
            best.offer(_ks_exact(data, sub, ks), sub)
            continue
        if lb is None:
            bound, at = _ks_bound(data, sub, ks, points, extra=best.hot)
        else:
            spread = (sub.j - sub.i) / (_PRUNE_POINTS[stage - 1] - 1)
            bound, at = _ks_bound(data, sub, ks, points, sub_centre, spread)
        exact = sub.j - sub.i + 1 <= points  # the bound is D there
        if exact.any():
            best.offer(bound[exact], sub.take(exact))
        rest = np.flatnonzero(~exact)
        order = rest[np.argsort(bound[rest], kind="stable")]
        _refine(data, pairs, chunk[order], bound[order], stage + 1, best, ks, at[order])


def _search(data: _Data, a_cands: np.ndarray, b_cands: np.ndarray, ks: str) -> _Best:
    """Exact joint search over xmin in a_cands and xmax in b_cands (b may be inf)."""
    best = _Best()
    lower, upper = (1.0, ALPHA_RANGE[1]) if np.isinf(b_cands).any() else ALPHA_RANGE
    ia = np.searchsorted(data.values, a_cands)
    jb = np.searchsorted(data.values, np.minimum(b_cands, 2.0**62), side="right") - 1
    # window (a, b) is valid when it holds two distinct data values: jb >= ia + 1; jb is
    # non-decreasing in b, so the valid b of each a form a suffix of b_cands
    first_b = np.searchsorted(jb, ia + 1, side="left")
    per_a = b_cands.size - first_b
    best.cand = int(per_a.sum())
    big = best.cand >= _BLOCK_PAIRS and not np.isinf(b_cands).any()
    hot = _hot_points(data, a_cands, b_cands, first_b, lower, upper, ks) if big else np.zeros(0)
    best.hot = np.searchsorted(data.values, hot)
    best.cap = _seed(data, a_cands, b_cands, first_b, lower, upper, ks, best.hot)
    if hot.size and math.isfinite(best.cap):
        batches = _certified(data, a_cands, b_cands, first_b, hot, lower, upper, best)
    else:
        batches = _blocks(first_b, b_cands.size)
    for r, c in batches:
        pairs = _fit_pairs(data, a_cands[r], b_cands[c], lower, upper)
        _refine(data, pairs, np.arange(pairs.i.size), None, 0, best, ks)
    return best


def _hot_points(data: _Data, a_cands: np.ndarray, b_cands: np.ndarray, first_b: np.ndarray, lower: float,
                upper: float, ks: str) -> np.ndarray:
    """Data values where the exact D of a sub-grid of windows (_HOT_GRID a side) is reached,
    the most frequent first (at most _HOT_POINTS): the maximum of |S_data - S_model| sits at
    the same few values for most windows of a data set, so these points bound D tightly."""
    rows = np.unique(np.linspace(0, a_cands.size - 1, _HOT_GRID).astype(np.int64))
    cols = np.unique(np.linspace(0, b_cands.size - 1, _HOT_GRID).astype(np.int64))
    r, c = np.repeat(rows, cols.size), np.tile(cols, rows.size)
    ok = c >= first_b[r]
    if not ok.any():
        return np.zeros(0)
    pairs = _fit_pairs(data, a_cands[r[ok]], b_cands[c[ok]], lower, upper)
    _, at = _ks_exact(data, pairs, ks, argmax=True)
    where, freq = np.unique(at, return_counts=True)
    return data.values[where[np.argsort(-freq, kind="stable")][:_HOT_POINTS]].astype(np.float64)


def _tiles(first_b: np.ndarray, n_b: int):
    """Yield (a indices, b indices, valid) of each tile of at most _TILE x _TILE candidates
    holding a valid pair, in row-major order; valid[p, q] says whether (rows[p], cols[q]) is."""
    for r0 in range(0, first_b.size, _TILE):
        rows = np.arange(r0, min(first_b.size, r0 + _TILE))
        for c0 in range(int(first_b[rows[0]]) // _TILE * _TILE, n_b, _TILE):
            cols = np.arange(c0, min(n_b, c0 + _TILE))
            valid = cols[None, :] >= first_b[rows][:, None]
            if valid.any():
                yield rows, cols, valid


def _certified(data: _Data, a_cands: np.ndarray, b_cands: np.ndarray, first_b: np.ndarray, hot: np.ndarray,
               lower: float, upper: float, best: _Best):
    """Yield the (a index, b index) arrays of the pairs of each tile that a certified lower
    bound of D (_tile_bound) cannot discard, in blocks of at most _BLOCK_PAIRS pairs."""
    splits = []
    for x in hot:  # the data sums of each split point, shared by every tile
        kx = int(np.searchsorted(data.values, x))
        splits.append((x, kx, np.concatenate([[0.0], np.cumsum(data.counts * np.log(data.values / x))])))
    # the exact alpha of every tile's probes (corners and centre), in a few large batches: one
    # small batch per tile would cost more than the tile's own filter
    pr, pc, starts = [], [], [0]
    for rows, cols, valid in _tiles(first_b, b_cands.size):
        r, c = _probes(valid)
        pr.append(rows[r])
        pc.append(cols[c])
        starts.append(starts[-1] + r.size)
    pr, pc = np.concatenate(pr), np.concatenate(pc)
    alphas = np.concatenate([_fit_pairs(data, a_cands[pr[s: s + _BLOCK_PAIRS]], b_cands[pc[s: s + _BLOCK_PAIRS]],
                                        lower, upper).alpha for s in range(0, pr.size, _BLOCK_PAIRS)])
    for t, (rows, cols, valid) in enumerate(_tiles(first_b, b_cands.size)):
        bound = _tile_bound(data, a_cands[rows], b_cands[cols], valid, splits, lower, upper, best.threshold(),
                            alphas[starts[t]: starts[t + 1]])
        keep = np.flatnonzero(valid & (bound <= best.threshold()))
        bound = bound.ravel()
        for start in range(0, keep.size, _BLOCK_PAIRS):
            sel = keep[start: start + _BLOCK_PAIRS]
            sel = sel[bound[sel] <= best.threshold()]  # the threshold may have fallen meanwhile
            if sel.size:
                yield rows[sel // cols.size], cols[sel % cols.size]


def _probes(valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of the valid corners and centre of a tile: the windows whose exact
    alpha sets the tile's exponents."""
    nr, nc = valid.shape
    probe_r = np.array([0, 0, nr - 1, nr - 1, nr // 2])
    probe_c = np.array([0, nc - 1, 0, nc - 1, nc // 2])
    ok = valid[probe_r, probe_c]
    return probe_r[ok], probe_c[ok]


def _tile_bound(data: _Data, a: np.ndarray, b: np.ndarray, valid: np.ndarray, splits: list, lower: float,
                upper: float, thr: float = math.inf, probe_alpha: np.ndarray | None = None) -> np.ndarray:
    """A lower bound of D for each window (a[p], b[q]) (finite b) of a tile, without its alpha.

    Split each window at a data value x inside it: the data and the model below x depend on
    xmin alone, those from x on on xmax alone, so at a fixed exponent every window's
    S_data(x), S_model(x) and likelihood equation cost a few operations on per-xmin and
    per-xmax sums.  The likelihood equation g(alpha) = E_alpha[log k] - mean(log x) falls with
    alpha and vanishes at the window's alpha, and S_model(x) falls with alpha, so at the
    exponents beta of a small grid: g(beta) > 0 gives D >= S_data(x) - S_model(x; beta), and
    g(beta) < 0 gives D >= S_model(x; beta) - S_data(x).  The grid spans the exact alpha of
    the tile's valid corners and centre, widened; a window it does not bracket keeps a weaker
    bound, or -inf.  Both tests have a slack of _CERT_TOL, far above the rounding of the sums.
    The tests run on whole cells of windows first (_cell_bounds), then window by window on the
    cells left open, then the second-order bound (_taylor_bound) and wider grids on the windows
    still open (see _split_bounds).  Windows that are not valid get arbitrary values.  `probe_alpha`: the exact alpha of the
    windows of _probes(valid), if known.
    """
    if probe_alpha is None:
        r, c = _probes(valid)
        probe_alpha = _fit_pairs(data, a[r], b[c], lower, upper).alpha if r.size else np.zeros(0)
    if not probe_alpha.size:
        return np.full(valid.shape, -np.inf)
    al = probe_alpha
    lo, hi = float(al.min()), float(al.max())
    pad = 0.25 * (hi - lo) + 1e-5 * (1.0 + abs(lo) + abs(hi))
    beta = np.linspace(max(lower + 1e-9, lo - pad), min(upper - 1e-9, hi + pad), _ALPHA_GRID)[:, None]
    ia = np.searchsorted(data.values, a)
    jb = np.searchsorted(data.values, b, side="right") - 1
    bound = np.zeros(valid.shape)  # D >= 0
    _split_bounds(data, a, b, ia, jb, valid, splits, beta, bound, thr, True, lower, upper)
    # windows whose alpha lies beyond the exponents of the probes (alpha need not be extreme at
    # a tile's corners) get only a one-sided, weak bound: try wider grids on the windows left open
    width = float(beta[-1, 0] - beta[0, 0])
    for widen in _WIDER_GRIDS:
        open_ = valid & (bound <= thr)
        if not open_.any():
            break
        beta = np.linspace(max(lower + 1e-9, float(beta[0, 0]) - widen * width),
                           min(upper - 1e-9, float(beta[-1, 0]) + widen * width), _WIDE_GRID)[:, None]
        _split_bounds(data, a, b, ia, jb, open_, splits, beta, bound, thr)
    return bound - _CERT_TOL


def _split_bounds(data: _Data, a: np.ndarray, b: np.ndarray, ia: np.ndarray, jb: np.ndarray, valid: np.ndarray,
                  splits: list, beta: np.ndarray, bound: np.ndarray, thr: float, taylor: bool = False,
                  lower: float = ALPHA_RANGE[0], upper: float = ALPHA_RANGE[1]) -> None:
    """Raise bound[p, q] (in place) to the certified lower bound of D of window (a[p], b[q]) at
    each split point and exponent of beta (column), for the windows where valid is True and the
    bound does not yet exceed thr (see _tile_bound).  With `taylor` (the sums then have r = 0..2),
    each split point's rectangle first gets the bounds of its cells (_cell_bounds, while more
    than a quarter of its windows are open), and after the per-window tests the windows still
    open get _taylor_bound at the exponent of beta nearest their alpha."""
    stored = [None] * len(splits)
    if taylor:  # first the bounds of whole cells, split point after split point (sums kept)
        for n_split, (x, kx, cl) in enumerate(splits):
            na, c0 = int(np.searchsorted(a, x, side="right")), int(np.searchsorted(b, x))  # a <= x <= b
            open_ = valid[:na, c0:] & (bound[:na, c0:] <= thr)
            if min(na, b.size - c0) < 2 * _CELL or open_.mean() <= 0.25:
                continue
            stored[n_split] = _split_sums(data, a, b, ia, jb, x, kx, cl, beta, np.arange(na), np.arange(b.size - c0),
                                          na, c0, 2)
            _cell_bounds(*stored[n_split], valid[:na, c0:], bound[:na, c0:])
    for n_split, (x, kx, cl) in enumerate(splits):
        na, c0 = int(np.searchsorted(a, x, side="right")), int(np.searchsorted(b, x))  # a <= x <= b
        open_ = valid[:na, c0:] & (bound[:na, c0:] <= thr)  # windows this split may still discard
        if not open_.any():
            continue
        dense = open_.mean() > 0.25  # most windows open: the whole rectangle, by broadcasting
        if stored[n_split] is not None:  # the sums of every row and column, from the cells' pass
            ri, ci = np.arange(na), np.arange(b.size - c0)
            low, up, n_low, n_up, l_low, l_up = stored[n_split]
        else:  # else only the rows and columns holding open windows get their sums (row ri[k] is k)
            ri = np.arange(na) if dense else np.flatnonzero(open_.any(axis=1))
            ci = np.arange(b.size - c0) if dense else np.flatnonzero(open_.any(axis=0))
            low, up, n_low, n_up, l_low, l_up = _split_sums(data, a, b, ia, jb, x, kx, cl, beta, ri, ci, na, c0,
                                                            1 + taylor)
        av, bv = a[:na][ri], b[c0:][ci]
        with np.errstate(all="ignore"):
            if dense or not taylor or _GRID_ONE_BY_ONE:
                _grid_bounds(low, up, n_low, n_up, l_low, l_up, ri, ci, open_, dense, beta, bound[:na, c0:])
            if not taylor:
                continue
            p, q = np.nonzero(open_ & (bound[:na, c0:] <= thr))
            if not p.size:
                continue
            sp, sq = np.searchsorted(ri, p), np.searchsorted(ci, q)
            m = n_low[sp] + n_up[sq]
            mean = (l_low[sp] + l_up[sq]) / m
            # each window at the exponent of the grid nearest its alpha (smallest |g(beta)|)
            gaps = np.abs((low[1][:, sp] + up[1][:, sq]) / (low[0][:, sp] + up[0][:, sq]) - mean)
            near = np.argmin(np.where(np.isfinite(gaps), gaps, np.inf), axis=0)
            w = np.log(bv[sq]) - np.log(av[sp])  # log(b / a): |log k - E log k| <= w in the window
            bound[:na, c0:][p, q] = np.fmax(bound[:na, c0:][p, q], _taylor_bound(
                beta[near, 0], low[:, near, sp], up[:, near, sq], n_up[sq] / m, mean, w, lower, upper))


def _cell_bounds(low: np.ndarray, up: np.ndarray, n_low: np.ndarray, n_up: np.ndarray, l_low: np.ndarray,
                 l_up: np.ndarray, valid: np.ndarray, bound: np.ndarray) -> None:
    """Raise bound (in place) to a certified lower bound of D shared by all windows of each cell
    of _CELL x _CELL windows, in O(rows + columns) a cell and exponent instead of O(rows x columns).

    The windows (a, b) of a rectangle split at x (a <= x <= b) and the sums below and above x
    at the exponents beta (low, up: rows r = 0, 1 by exponent and xmin / xmax; counts n_low, n_up
    and sums of log(x_i / x) l_low, l_up of the data).  At one exponent, with A = (P0, P1, p, M)
    the sums below x (model r = 0, 1; data count, log) and B = (U0, U1, u, N) those from x on,
    F = S_data(x) - S_model(x) = u / (p + u) - U0 / (P0 + U0) and g = E[log(k / x)] - mean =
    (P1 + U1) / (P0 + U0) - (M + N) / (p + u) are functions h(A(a), B(b)).  For a cell with
    first row a* and first column b*, h(a, b) = h(a, b*) + h(a*, b) - h(a*, b*) + X, where X
    is the double difference, the integral of the mixed second derivatives over straight paths
    from A(a*) to A(a) and B(b*) to B(b):
      U0 / (P0 + U0): |d2 / dP0 dU0| = |U0 - P0| / Z^3 <= 1 / Z^2, so |X| <= dP0 dU0 / Z_min^2;
      (P1 + U1) / (P0 + U0): d2 / dP0 dU0 = 2 E / Z^2, d2 / dP1 dU0 = d2 / dP0 dU1 = -1 / Z^2,
      d2 / dP1 dU1 = 0, so |X| <= (2 E_max dP0 dU0 + dP1 dU0 + dP0 dU1) / Z_min^2,
    and the same for the data terms.  Every sum is monotone in a (the sums over [a, x)) or in b
    (over [x, b]), so the largest change d.. within a cell, Z_min = P0(last row) + U0(b*) and
    |E| <= max(|P1(a*)|, U1(last column)) / Z_min come from the cell's first and last row and
    column.  The first two terms are separable, so their minimum (maximum) over a cell is the
    sum of the minima (maxima) over its rows and its columns.  With g_min - X_g > _CERT_TOL the
    cell's windows all have alpha > beta, so D >= F(alpha) > F(beta) >= F_min - X_F; with
    g_max + X_g < -_CERT_TOL, D >= -(F_max + X_F).  Cells holding an invalid window are left.
    The exponents must lie inside the search range (alpha is clipped to it).
    """
    na, nb = valid.shape
    rs, cs = np.arange(0, na, _CELL), np.arange(0, nb, _CELL)
    re, ce = np.minimum(rs + _CELL, na) - 1, np.minimum(cs + _CELL, nb) - 1
    cell_ok = np.minimum.reduceat(np.minimum.reduceat(valid.astype(np.int8), rs, axis=0), cs, axis=1) > 0
    if not cell_ok.any():
        return
    with np.errstate(all="ignore"):
        p0, p1, u0, u1 = low[0], low[1], up[0], up[1]  # (exponents, rows / columns)

        def f_and_g(p0, p1, pn, pm, u0, u1, un, um):
            z, m = p0 + u0, pn + un
            return un / m - u0 / z, (p1 + u1) / z - (pm + um) / m

        # rows against each cell's first column, columns against each cell's first row
        rf, rg = f_and_g(p0[:, :, None], p1[:, :, None], n_low[None, :, None], l_low[None, :, None],
                         u0[:, None, cs], u1[:, None, cs], n_up[None, None, cs], l_up[None, None, cs])
        cf, cg = f_and_g(p0[:, rs, None], p1[:, rs, None], n_low[None, rs, None], l_low[None, rs, None],
                         u0[:, None, :], u1[:, None, :], n_up[None, None, :], l_up[None, None, :])
        f_star, g_star = rf[:, rs, :], rg[:, rs, :]
        f_min = np.minimum.reduceat(rf, rs, axis=1) + np.minimum.reduceat(cf, cs, axis=2) - f_star
        f_max = np.maximum.reduceat(rf, rs, axis=1) + np.maximum.reduceat(cf, cs, axis=2) - f_star
        g_min = np.minimum.reduceat(rg, rs, axis=1) + np.minimum.reduceat(cg, cs, axis=2) - g_star
        g_max = np.maximum.reduceat(rg, rs, axis=1) + np.maximum.reduceat(cg, cs, axis=2) - g_star
        # largest changes within a cell, and the smallest normalisers
        d_p0 = np.abs(p0[:, rs] - p0[:, re])[:, :, None]
        d_p1 = np.abs(p1[:, rs] - p1[:, re])[:, :, None]
        d_u0 = np.abs(u0[:, ce] - u0[:, cs])[:, None, :]
        d_u1 = np.abs(u1[:, ce] - u1[:, cs])[:, None, :]
        z_min = p0[:, re][:, :, None] + u0[:, cs][:, None, :]
        e_max = np.maximum(np.abs(p1[:, rs])[:, :, None], np.abs(u1[:, ce])[:, None, :]) / z_min
        d_pn = np.abs(n_low[rs] - n_low[re])[:, None]
        d_pm = np.abs(l_low[rs] - l_low[re])[:, None]
        d_un = np.abs(n_up[ce] - n_up[cs])[None, :]
        d_um = np.abs(l_up[ce] - l_up[cs])[None, :]
        m_min = n_low[re][:, None] + n_up[cs][None, :]
        mm_max = np.maximum(np.abs(l_low[rs])[:, None], np.abs(l_up[ce])[None, :]) / m_min
        x_f = d_p0 * d_u0 / z_min**2 + d_pn * d_un / m_min**2
        x_g = ((2.0 * e_max * d_p0 * d_u0 + d_p1 * d_u0 + d_p0 * d_u1) / z_min**2
               + (2.0 * mm_max * d_pn * d_un + d_pm * d_un + d_pn * d_um) / m_min**2)
        above = np.where(g_min - x_g > _CERT_TOL, f_min - x_f, -np.inf)  # beta < alpha for every window
        below = np.where(g_max + x_g < -_CERT_TOL, -(f_max + x_f), -np.inf)  # beta > alpha
        cell = np.max(np.fmax(above, below), axis=0, initial=-np.inf)
        cell = np.where(cell_ok & np.isfinite(cell), cell, -np.inf)
    rows = np.diff(np.r_[rs, na])
    cols = np.diff(np.r_[cs, nb])
    np.fmax(bound, np.repeat(np.repeat(cell, rows, axis=0), cols, axis=1), out=bound)


def _grid_bounds(low, up, n_low, n_up, l_low, l_up, ri, ci, open_, dense, beta, bound) -> None:
    """The per-window tests of _split_bounds at each exponent of beta, on the windows where
    open_ is True (bound: the split's rectangle, raised in place; sums for rows ri, columns ci)."""
    if dense:
        pa, pb, out = (slice(None), None), (None, slice(None)), bound
    else:  # the few left open: one by one
        p, q = np.nonzero(open_)
        pa, pb, out = np.searchsorted(ri, p), np.searchsorted(ci, q), bound[p, q]
    m = n_low[pa] + n_up[pb]
    s_data = n_up[pb] / m
    mean = (l_low[pa] + l_up[pb]) / m
    hi_mean, lo_mean = mean + _CERT_TOL, mean - _CERT_TOL
    for g in range(beta.shape[0]):
        z = low[0, g][pa] + up[0, g][pb]
        e = (low[1, g][pa] + up[1, g][pb]) / z  # E_beta[log(k / x)]
        sign = (e > hi_mean).astype(np.float64) - (e < lo_mean)  # +1: beta < alpha, -1: beta > alpha
        out = np.fmax(out, sign * (s_data - up[0, g][pb] / z))
    if dense:
        bound[...] = out
    else:
        bound[p, q] = out


def _split_sums(data: _Data, a: np.ndarray, b: np.ndarray, ia: np.ndarray, jb: np.ndarray, x: float, kx: int,
                cl: np.ndarray, beta: np.ndarray, ri: np.ndarray, ci: np.ndarray, na: int, c0: int, rmax: int):
    """Sums of the windows split at x, for rows a[:na][ri] and columns b[c0:][ci]: model sums
    of (k / x)^-beta log(k / x)^r below x and from x on (r = 0..rmax, by exponent), and the data's
    counts and sums of log(x_i / x) below x and from x on."""
    av, bv = a[:na][ri], b[c0:][ci]
    ra, cb = ia[:na][ri], jb[c0:][ci] + 1
    n_low = (data.cum[kx] - data.cum[ra]).astype(np.float64)
    n_up = (data.cum[cb] - data.cum[kx]).astype(np.float64)
    l_low, l_up = cl[kx] - cl[ra], cl[cb] - cl[kx]
    logx = math.log(x)
    with np.errstate(all="ignore"):
        if x >= _EM_START:  # both parts as differences of T(a), T(x), T(b + 1)
            t = _upper_sums(beta, logx, np.r_[av, x, bv + 1.0][None, :], rmax)
            low = t[:, :, :ri.size] - t[:, :, ri.size: ri.size + 1]
            up = t[:, :, ri.size: ri.size + 1] - t[:, :, ri.size + 1:]
        else:
            low = _range_sums(beta, logx, av[None, :], x - 1.0, rmax)  # k in [a, x - 1]
            up = _range_sums(beta, logx, x, bv[None, :], rmax)  # k in [x, b]
    return low, up, n_low, n_up, l_low, l_up


def _taylor_bound(beta: float, low: np.ndarray, up: np.ndarray, s_data: np.ndarray, mean: np.ndarray,
                  w: np.ndarray, lower: float, upper: float) -> np.ndarray:
    """A lower bound of |S_data(x) - S_model(x; alpha)| for windows split at x, from sums at a
    single exponent beta near their alpha (tight to second order in alpha - beta).

    `low`, `up`: rows r = 0, 1, 2 of the sums of (k / x)^-beta log(k / x)^r below x and from x
    on (one column a window); `s_data`, `mean`: the window's S_data(x) and mean of log(x_i / x);
    `w`: log(b / a).  With l = log(k / x) and the model at exponent t: g(t) = E_t[l] - mean
    has g' = -V(t) (the variance of l), and |dV / dt| = |E_t[(l - E l)^3]| <= w V(t), so
    V(t) lies within V(beta) exp(+-w |t - beta|); the root alpha of g is therefore within
    [log1p(w g / V) / w, -log1p(-w g / V) / w] of beta (g = g(beta); both ends for either sign,
    with g widened by _CERT_TOL and V by 1e-6 of itself for rounding).  S(t) = S_model(x; t) has
    S' = -Cov_t(1{k >= x}, l) and |S''| = |E_t[(1{k >= x} - S)(l - E l)^2]| <= V(t), so S(alpha)
    = S(beta) - Cov * (alpha - beta) within V(beta) exp(w d) d^2 / 2 (d = |alpha - beta|).  The
    bound is the distance of S_data from that interval; -inf where the root is not bracketed
    (w |g| / V >= 1/2, or beyond the search range).  The caller subtracts _CERT_TOL.
    """
    with np.errstate(all="ignore"):
        z = low[0] + up[0]
        e1 = (low[1] + up[1]) / z
        e2 = (low[2] + up[2]) / z
        var = e2 - e1 * e1
        s0 = up[0] / z
        cov = up[1] / z - s0 * e1
        gap = e1 - mean
        v_lo, v_hi = var * (1.0 - 1e-6), var * (1.0 + 1e-6)
        g_lo, g_hi = gap - _CERT_TOL, gap + _CERT_TOL
        d_lo = np.minimum(np.log1p(w * g_lo / v_lo), np.log1p(w * g_lo / v_hi)) / w
        d_hi = np.maximum(-np.log1p(-w * g_hi / v_lo), -np.log1p(-w * g_hi / v_hi)) / w
        d = np.maximum(np.abs(d_lo), np.abs(d_hi))
        ok = ((w * np.maximum(np.abs(g_lo), np.abs(g_hi)) < 0.5 * v_lo) & (var > 1e-4 * np.abs(e2))
              & (beta + d_lo > lower) & (beta + d_hi < upper) & np.isfinite(d))
        rem = 0.5 * v_hi * np.exp(w * d) * d * d
        s_lo = s0 + np.minimum(-cov * d_lo, -cov * d_hi) - rem
        s_hi = s0 + np.maximum(-cov * d_lo, -cov * d_hi) + rem
        out = np.maximum(s_data - s_hi, s_lo - s_data)
    return np.where(ok, out, -np.inf)


def _seed(data: _Data, a_cands: np.ndarray, b_cands: np.ndarray, first_b: np.ndarray, lower: float,
          upper: float, ks: str, hot: np.ndarray) -> float:
    """A cap on the pruning threshold: the smallest D of a sub-grid of the pairs (every s-th
    xmin and xmax candidate, about _SEED_PAIRS pairs), then of ever finer sub-grids (s / 8,
    s / 64, ... down to 1) within s of the winner so far; none (inf) when all the pairs fit in
    one block.  Each sub-grid has a few hundred pairs, whatever the number of pairs.

    Only the cap is kept, never a winner: alpha (hence D) of a window may differ in the last
    bits from the main pass, where the other windows of its batch differ (a series stops when
    the whole batch's terms are negligible), so the cap adds 1e-9 of slack; the
    main pass then finds the same window, alpha and D as without the seed, just sooner.
    """
    n_pairs = int((b_cands.size - first_b).sum())
    if n_pairs < _BLOCK_PAIRS:  # one block: its own ordering does as well, the seed's fixed cost would show
        return math.inf
    step = int(math.isqrt(n_pairs // _SEED_PAIRS))
    if step < 2:  # the sub-grid would be the whole search
        return math.inf
    seed = _Best(hot=hot)
    rows = np.arange(0, a_cands.size, step)
    cols = np.arange(0, b_cands.size, step)
    while True:
        r = np.repeat(rows, cols.size)
        c = np.tile(cols, rows.size)
        ok = c >= first_b[r]
        if ok.any():
            pairs = _fit_pairs(data, a_cands[r[ok]], b_cands[c[ok]], lower, upper)
            _refine(data, pairs, np.arange(pairs.i.size), None, 0, seed, ks)
        if seed.a < 0:
            return math.inf
        if step == 1:
            return seed.d + 1e-9
        # a finer sub-grid within one step of the winner
        ra, cb = int(np.searchsorted(a_cands, seed.a)), int(np.searchsorted(b_cands, seed.b))
        finer = max(1, step // 8)
        rows = np.arange(max(0, ra - step + finer), min(a_cands.size, ra + step), finer)
        cols = np.arange(max(0, cb - step + finer), min(b_cands.size, cb + step), finer)
        step = finer


def _candidates(positive: np.ndarray, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values among the floor(fraction * n) smallest and largest positive degrees."""
    count = max(1, int(math.floor(fraction * positive.size + 1e-9)))
    return np.unique(positive[:count]), np.unique(positive[positive.size - count:])


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

        For ``xmax = inf`` draws are capped at 2**53 (a probability below 1e-15 for alpha >= 2).
        """
        rng = as_generator(seed)
        u = 1.0 - rng.random(size)  # in (0, 1]
        lo = np.full(size, float(self.xmin))  # ccdf(lo) >= u always
        hi = np.full(size, min(float(self.xmax), 2.0**53) + 1.0)  # ccdf(hi) < u (or cap)
        while True:
            open_ = hi - lo > 1
            if not open_.any():
                break
            mid = np.floor(0.5 * (lo + hi))
            s = np.where(open_, self._upper(np.where(open_, mid, self.xmin)), 0.0)
            up = open_ & (s >= u)
            lo = np.where(up, mid, lo)
            hi = np.where(open_ & ~up, mid, hi)
        return lo.astype(np.int64)

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
