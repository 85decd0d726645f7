"""Sums over integer windows for analysis.tpl: the truncated zeta sums and their log moments
(regularised upper sums, Euler–Maclaurin from ``_EM_START`` on), the mean of log k under the
model, the sums of windows split at a data value (``_split_sums``, for the tile filter of
analysis._tpl_search), and the safeguarded Newton solve of the likelihood equation for alpha
from the continuous law's exponent (``_continuous_start``).

The numerics are described in the docstring of :mod:`analysis.tpl`; this module is private.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["_EM_START", "_continuous_start", "_mean_log", "_phi", "_range_sums", "_solve_alpha", "_split_sums",
           "_upper_sums"]

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


def _split_sums(data, a: np.ndarray, b: np.ndarray, ia: np.ndarray, jb: np.ndarray, x: float, kx: int,
                cl: np.ndarray, beta: np.ndarray, ri: np.ndarray, ci: np.ndarray, na: int, c0: int, rmax: int):
    """Sums of the windows split at x, for rows a[:na][ri] and columns b[c0:][ci]: model sums
    of (k / x)^-beta log(k / x)^r below x and from x on (r = 0..rmax, by exponent), and the data's
    counts and sums of log(x_i / x) below x and from x on (data: the search's _Data, x its
    value data.values[kx], cl the cumulative sums of log(x_i / x))."""
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


def _mean_log(alpha, loga, a, b):
    """E_alpha[log(k/a)] and Var_alpha[log(k/a)] over the integers of [a, b]."""
    z0, z1, z2 = _range_sums(alpha, loga, a, b, 2)
    mean = z1 / z0
    return mean, np.maximum(z2 / z0 - mean * mean, 0.0)


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
