"""Goodness of fit of a discrete truncated power law: Clauset's semi-parametric bootstrap.

Clauset, Shalizi & Newman (2009), as docs/method.md describes it: each synthetic set has ``n``
values (the ``n`` of the fit, zeros included); each value is, with probability ``n_tail / n``,
a draw from the fitted TPL and otherwise a draw from the observed values outside
``[xmin, xmax]`` (zeros included).  Every synthetic set is refitted with the whole search, with
the options that made the observed fit (``TPLFit.search_options``), and ``p`` is the share of
synthetic KS distances at least the observed one.  2,500 sets give ``p`` to about ±0.01.

Synthetic set ``i`` draws from its own random stream (child ``i`` of the seed's
``SeedSequence``), so a given seed gives the same distances for any ``n_jobs``.
"""

from __future__ import annotations

import math
import os
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike

from analysis.tpl import FitError, TPLFit, _validate_degrees, fit_tpl
from nn2graph._rng import SeedLike, as_generator

__all__ = ["PValueResult", "tpl_pvalue"]


@dataclass(frozen=True)
class PValueResult:
    """Result of :func:`tpl_pvalue`.

    Attributes
    ----------
    p_value : float
        Share of synthetic KS distances ``>=`` the observed one.
    std_error : float
        ``sqrt(p (1 - p) / n_valid)``, the Monte Carlo standard error of ``p``.
    distances : numpy.ndarray
        KS distance of every synthetic set (NaN where a synthetic set could not be fitted).
    n_boot : int
        Number of synthetic sets drawn.
    observed : float
        KS distance of the fit being tested.
    fit : TPLFit
        The fit being tested.
    n_failed : int
        Synthetic sets that could not be fitted (too few distinct values); left out of ``p``.
    """

    p_value: float
    std_error: float
    distances: np.ndarray = field(repr=False, compare=False)
    n_boot: int
    observed: float
    fit: TPLFit = field(repr=False)
    n_failed: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (without the distances)."""
        return {"p_value": self.p_value, "std_error": self.std_error, "n_boot": self.n_boot,
                "observed_ks": self.observed, "n_failed": self.n_failed}


def _synthetic(fit: TPLFit, outside: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One synthetic set of fit.n values: Binomial(n, n_tail / n) from the TPL, the rest from `outside`."""
    n_model = int(rng.binomial(fit.n, fit.n_tail / fit.n)) if outside.size else fit.n
    parts = [fit.sample(n_model, rng)]
    if fit.n - n_model:
        parts.append(rng.choice(outside, size=fit.n - n_model))
    return np.concatenate(parts)


def _distances(fit: TPLFit, outside: np.ndarray, options: dict[str, Any],
               seeds: list[np.random.SeedSequence]) -> np.ndarray:
    """KS distances of the refitted synthetic sets, one per seed (NaN when unfittable)."""
    out = np.empty(len(seeds))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # edge-of-search notes on synthetic sets
        for s, seq in enumerate(seeds):
            try:
                out[s] = fit_tpl(_synthetic(fit, outside, np.random.default_rng(seq)), **options).ks_distance
            except FitError:
                out[s] = math.nan
    return out


# --------------------------------------------------------------------------------------------
# the fixed-window test of Deluca & Corral (2013)

_DENSE_INTEGERS = 1 << 17  # windows of more integers draw each set as values and refit it with fit_tpl
_DENSE_CELLS = 1 << 21  # sets x integers per chunk of the dense path


def _window_distances(fit: TPLFit, counts: np.ndarray) -> np.ndarray:
    """KS distance (every integer of the window) of each row of `counts` (sets x integers of
    [xmin, xmax]) to the TPL refitted to that row with the bounds held fixed."""
    from analysis._tpl_search import ALPHA_RANGE
    from analysis._tpl_sums import _continuous_start, _solve_alpha

    a, b = float(fit.xmin), float(fit.xmax)
    k = np.arange(fit.xmin, int(fit.xmax) + 1, dtype=np.float64)
    lk = np.log1p((k - a) / a)  # log(k / a)
    m = counts.sum(axis=1).astype(np.float64)
    target = counts @ lk / m
    ones = np.ones(target.size)
    alpha, _ = _solve_alpha(math.log(a) * ones, a * ones, b * ones, target, ALPHA_RANGE[0], ALPHA_RANGE[1],
                            _continuous_start(a * ones, b * ones, target))
    e = -alpha[:, None] * lk[None, :]
    w = np.exp(e - e.max(axis=1, keepdims=True))
    s_model = np.cumsum(w[:, ::-1], axis=1)[:, ::-1]
    s_model /= s_model[:, :1]
    s_data = np.cumsum(counts[:, ::-1], axis=1)[:, ::-1] / m[:, None]
    return np.max(np.abs(s_data - s_model), axis=1)


def _fixed_refit_distance(fit: TPLFit, values: np.ndarray) -> float:
    """KS distance of `values` to the TPL refitted with the fit's bounds (NaN if it cannot be fitted)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        try:
            return fit_tpl(values, xmin=fit.xmin, xmax=fit.xmax).ks_distance
        except FitError:
            return math.nan


def _draw_counts(pmf: np.ndarray, m: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """`size` rows of counts of m draws from pmf: multinomial when m exceeds the width, else
    m inverse-CDF draws a row (a binomial per integer costs more than a search per value then)."""
    width = pmf.size
    if m > width:
        return rng.multinomial(m, pmf, size=size)
    cdf = np.cumsum(pmf)
    out = np.empty((size, width), np.int64)
    rows = max(1, _DENSE_CELLS // m)
    for r in range(0, size, rows):
        k = min(rows, size - r)
        idx = np.minimum(np.searchsorted(cdf, rng.random((k, m)) * cdf[-1], side="right"), width - 1)
        out[r: r + k] = np.bincount((idx + width * np.arange(k)[:, None]).ravel(), minlength=k * width).reshape(k, width)
    return out


def _window_pvalue(fit: TPLFit, n_boot: int, threshold: float, rng: np.random.Generator,
                   stages: tuple[int, ...] = (100, 400)) -> PValueResult | None:
    """p of a TPL with both bounds fixed: sets of n_tail values drawn from the fitted law, alpha
    refitted with the same bounds, p = share of their KS distances >= the observed one.

    Sequential: after each stage of `stages` sets (then n_boot), a window whose p is more than
    3 standard errors (at the threshold) below `threshold` is given up (None): more sets could
    not bring it to the threshold but by a 3-sigma chance.
    """
    m = fit.n_tail
    width = int(fit.xmax) - fit.xmin + 1
    dense = width <= _DENSE_INTEGERS
    if dense:
        observed_counts = np.zeros((1, width), np.int64)
        observed_counts[0, fit.tail_values - fit.xmin] = fit.tail_counts
        observed = float(_window_distances(fit, observed_counts)[0])
        e = -fit.alpha * np.log1p(np.arange(width, dtype=np.float64) / fit.xmin)  # log (k / xmin)^-alpha
        pmf = np.exp(e - e.max())
        pmf /= pmf.sum()
        rows = max(1, _DENSE_CELLS // width)
    else:
        observed = fit.ks_distance
    parts: list[np.ndarray] = []
    done = 0
    for total in sorted({min(s, n_boot) for s in stages} | {n_boot}):
        while done < total:
            size = min(total - done, rows) if dense else total - done
            if dense:
                parts.append(_window_distances(fit, _draw_counts(pmf, m, size, rng)))
            else:
                parts.append(np.array([_fixed_refit_distance(fit, fit.sample(m, rng)) for _ in range(size)]))
            done += size
        distances = np.concatenate(parts)
        valid = distances[~np.isnan(distances)]
        p = float(np.mean(valid >= observed)) if valid.size else 0.0
        if total < n_boot and p + 3.0 * math.sqrt(threshold * (1 - threshold) / total) < threshold:
            return None
    return PValueResult(p_value=p, std_error=math.sqrt(p * (1 - p) / max(valid.size, 1)), distances=distances,
                        n_boot=int(n_boot), observed=observed, fit=fit, n_failed=int(distances.size - valid.size))


def _refit_options(fit: TPLFit, given: dict[str, Any]) -> dict[str, Any]:
    """The fit's search options; an option given explicitly must agree with them."""
    options = dict(fit.search_options)
    if not options:  # a TPLFit built by hand: its bounds, fixed
        options = {"xmin": fit.xmin, "xmax": fit.xmax, "search_fraction": 0.3, "ks": fit.ks}
    for name, value in given.items():
        if value is None:
            continue
        mine = options[name]
        same = (mine == value) if isinstance(value, str) or mine is None else math.isclose(float(mine), float(value))
        if mine is None or not same:
            raise FitError(f"{name}={value!r} differs from the fit, which was made with {name}={mine!r}: leave "
                           f"{name} out to refit with the fit's own options, or refit with {name}={value!r} first")
    return options


def tpl_pvalue(
    degrees: ArrayLike,
    *,
    fit: TPLFit | None = None,
    n_boot: int = 2500,
    seed: SeedLike = None,
    n_jobs: int | None = None,
    search_fraction: float | None = None,
    xmin: int | None = None,
    xmax: float | None = None,
    ks: Literal["integers", "data"] | None = None,
    progress: bool = True,
) -> PValueResult:
    """p-value of a discrete TPL fit by the semi-parametric bootstrap of Clauset et al. (2009).

    Parameters
    ----------
    degrees : array_like of int
        The degrees that were fitted.
    fit : TPLFit, optional
        The fit to test; by default ``fit_tpl(degrees, xmin=xmin, xmax=xmax,
        search_fraction=search_fraction, ks=ks)``.  Its ``search_options`` are the options of
        every refit.
    n_boot : int
        Number of synthetic sets.
    seed : int, Generator, SeedSequence or None
        Reproducible for a given seed whatever ``n_jobs``.
    n_jobs : int, optional
        Worker processes; ``None`` uses every core, ``1`` runs in this process.
    search_fraction, xmin, xmax, ks
        Search options of :func:`analysis.fit_tpl`, used for every refit.  With ``fit`` given,
        leave them out (the fit's own options are used); an option given that differs from the
        fit's is an error.
    progress : bool
        Show a progress bar on stderr.

    Returns
    -------
    PValueResult

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).zipf(2.0, 200)
    >>> res = tpl_pvalue(x, xmax=float("inf"), n_boot=20, seed=1, n_jobs=1, progress=False)
    >>> res.n_boot, 0.0 <= res.p_value <= 1.0, res.distances.shape
    (20, True, (20,))
    """
    if int(n_boot) != n_boot or n_boot < 1:
        raise FitError(f"n_boot={n_boot!r}: expected a positive integer number of synthetic sets")
    if n_jobs is not None and (int(n_jobs) != n_jobs or n_jobs < 1):
        raise FitError(f"n_jobs={n_jobs!r}: expected a positive integer or None (every core)")
    if fit is None:
        fit = fit_tpl(degrees, xmin=xmin, xmax=xmax, search_fraction=search_fraction, ks=ks or "integers")
    options = _refit_options(fit, {"xmin": xmin, "xmax": xmax, "search_fraction": search_fraction, "ks": ks})
    positive, n_zero, n = _validate_degrees(degrees)
    if n != fit.n or n_zero != fit.n_zero_dropped:
        raise FitError(f"the fit was made from {fit.n} degrees ({fit.n_zero_dropped} zeros), not from these "
                       f"{n} ({n_zero} zeros): pass the degrees that were fitted")
    allvals = np.concatenate([np.zeros(n_zero, np.int64), positive])
    outside = allvals[(allvals < fit.xmin) | (allvals > fit.xmax)]
    seeds = as_generator(seed).bit_generator.seed_seq.spawn(int(n_boot))
    jobs = (os.cpu_count() or 1) if n_jobs is None else int(n_jobs)
    jobs = min(jobs, int(n_boot))
    size = max(1, min(50, int(n_boot) // (4 * jobs)))
    chunks = [seeds[i: i + size] for i in range(0, len(seeds), size)]
    from nn2graph.progress import progress as progress_bar

    parts: list[np.ndarray] = []
    if jobs == 1:
        with progress_bar(total=int(n_boot), desc="bootstrap", unit="set", enabled=progress) as bar:
            for chunk in chunks:
                parts.append(_distances(fit, outside, options, chunk))
                bar.update(len(chunk))
    else:
        with ProcessPoolExecutor(max_workers=jobs) as pool:  # workers start before the bar's thread
            futures = [pool.submit(_distances, fit, outside, options, chunk) for chunk in chunks]
            with progress_bar(total=int(n_boot), desc="bootstrap", unit="set", enabled=progress) as bar:
                for fut, chunk in zip(futures, chunks):
                    parts.append(fut.result())
                    bar.update(len(chunk))
    distances = np.concatenate(parts)
    valid = distances[~np.isnan(distances)]
    n_failed = int(distances.size - valid.size)
    if valid.size == 0:
        raise FitError(f"none of the {n_boot} synthetic sets could be fitted: the fit's tail has too few "
                       "distinct values for a bootstrap")
    if n_failed:
        warnings.warn(f"{n_failed} of {n_boot} synthetic sets could not be fitted and were left out of p",
                      stacklevel=2)
    p = float(np.mean(valid >= fit.ks_distance))
    return PValueResult(p_value=p, std_error=math.sqrt(p * (1 - p) / valid.size), distances=distances,
                        n_boot=int(n_boot), observed=fit.ks_distance, fit=fit, n_failed=n_failed)
