"""Do these degrees follow a power law?  A verdict with its reasons, not only a fit.

:func:`assess_power_law` fits a discrete truncated power law (TPL), tests it and judges five
criteria, each with its uncertainty (docs/fits.md gives every criterion and its source):

* goodness of fit: a bootstrap p-value (Clauset, Shalizi & Newman 2009) and its Monte Carlo
  standard error;
* range: the decades ``log10(xmax / xmin)`` of the window, the decades its data cover in 95%
  of bootstrap resamples (a claim over less than a decade is no evidence; Stumpf & Porter 2012
  ask for two), and the decades the CCDF of those data spans (Stumpf & Porter ask for two on
  both axes);
* decay: ``alpha`` with its standard error (``alpha <= 0`` is a flat or rising density);
* alternatives: likelihood-ratio tests on the same window (:func:`analysis.compare_alternatives`);
* tail share: the share of the degrees in the window, with its binomial standard error.

The verdict is ``"rejected"`` when the fit fails (p clearly below the threshold) or another law
is significantly better, ``"supported"`` when every criterion passes, and ``"inconclusive"``
otherwise; the reasons say which criterion decided and with what numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from analysis._tpl_search import _Data, _fit_pairs, _ks_exact
from analysis._tpl_sums import _mean_log
from analysis.alternatives import AlternativesResult, compare_alternatives, curvature_test
from analysis.bootstrap import PValueResult, _window_pvalue, tpl_pvalue
from analysis.tpl import ALPHA_RANGE, FitError, TPLFit, _validate_degrees, fit_tpl
from nn2graph._rng import SeedLike, as_generator

__all__ = ["Criterion", "PowerLawEvidence", "assess_power_law"]

VERDICTS = ("supported", "inconclusive", "rejected")
_MIN_TAIL = 50  # fewer values in the window leave every test without power
_MIN_TAIL_SHARE = 0.05
_Z_ONE_SIDED = 1.6448536269514722  # 95% one-sided
_RESAMPLE_LEVEL = 0.025  # each end of the window's data, so both ends hold in 95% of resamples
_MIN_CCDF_DECADES = 2.0  # Stumpf & Porter 2012: two orders of magnitude on the y axis too
_GRID_PER_DECADE = 40  # candidate bounds of method "widest" are at least 10**(1/40) apart
_CHUNK_PAIRS = 512  # windows fitted and screened at a time, widest first


@dataclass(frozen=True)
class Criterion:
    """One criterion of a verdict.

    Attributes
    ----------
    name : str
        ``"goodness_of_fit"``, ``"alternatives"``, ``"range"``, ``"decay"`` or ``"tail_share"``.
    status : str
        ``"pass"``, ``"fail"`` (rejects the power law) or ``"unclear"`` (cannot support it).
    reason : str
        A sentence naming the criterion, its numbers and their uncertainty.
    short : str
        A few words for tables and legends, e.g. ``"range 0.3 decades < 1"``.
    """

    name: str
    status: str
    reason: str
    short: str

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "status": self.status, "reason": self.reason, "short": self.short}


@dataclass(frozen=True)
class PowerLawEvidence:
    """The verdict of :func:`assess_power_law` with its reasons and everything it rests on.

    Attributes
    ----------
    verdict : str
        ``"supported"``, ``"inconclusive"`` or ``"rejected"``.
    reasons : tuple of str
        One sentence per criterion (goodness of fit, alternatives, curvature, range, decay, tail share).
    fit : TPLFit
        The fitted window and exponent.
    pvalue : PValueResult
        The goodness-of-fit test of ``fit``.
    alternatives : AlternativesResult
        Likelihood-ratio tests against other laws on the same window.
    decades : float
        ``log10(xmax / xmin)`` (for an untruncated fit, up to the largest degree).
    tail_share : float
        Share of the degrees (zeros included) in the window.
    criteria : tuple of Criterion
        The criteria behind ``reasons``, with their status.
    method : str
        ``"widest"``, ``"paper"`` or ``"untruncated"``.
    alpha_std_error : float
        Standard error of ``alpha`` (inverse Fisher information of the window's law).
    decades_lower : float
        Decades covered by the window's data in 95% of bootstrap resamples.
    ccdf_decades : float
        Decades the window's CCDF spans between those two ends (``log10`` of the ratio of the
        values at or beyond the lower end to those at or beyond the upper end).
    tail_share_std_error : float
        Binomial standard error of ``tail_share``.
    p_threshold, min_decades : float
        The thresholds judged against.
    n_windows_tested : int
        Windows whose goodness of fit was computed (method ``"widest"``; 1 otherwise).
    """

    verdict: str
    reasons: tuple[str, ...]
    fit: TPLFit = field(repr=False)
    pvalue: PValueResult = field(repr=False)
    alternatives: AlternativesResult = field(repr=False)
    decades: float
    tail_share: float
    criteria: tuple[Criterion, ...] = field(repr=False)
    method: str
    alpha_std_error: float
    decades_lower: float
    tail_share_std_error: float
    p_threshold: float
    min_decades: float
    n_windows_tested: int = 1
    ccdf_decades: float = math.nan
    degrees: np.ndarray = field(default=None, repr=False, compare=False)

    def summary(self) -> str:
        """One line for tables and legends: the verdict and what decided it.

        ``"supported: 1.5 decades, alpha 1.52 ± 0.03, p 0.42"`` or
        ``"inconclusive: range 0.3 decades < 1"``.
        """
        if self.verdict == "supported":
            return (f"supported: {self.decades:.1f} decades, alpha {self.fit.alpha:.2f} ± {self.alpha_std_error:.2f}, "
                    f"p {self.pvalue.p_value:.2f}")
        worst = "fail" if self.verdict == "rejected" else "unclear"
        return f"{self.verdict}: " + "; ".join(c.short for c in self.criteria if c.status == worst)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary: verdict, summary, reasons, criteria, the numbers, fit, p and tests."""
        return {
            "verdict": self.verdict, "summary": self.summary(), "reasons": list(self.reasons),
            "criteria": [c.to_dict() for c in self.criteria], "method": self.method,
            "decades": self.decades, "decades_lower": self.decades_lower, "ccdf_decades": self.ccdf_decades,
            "tail_share": self.tail_share,
            "tail_share_std_error": self.tail_share_std_error, "alpha": self.fit.alpha,
            "alpha_std_error": self.alpha_std_error, "p_threshold": self.p_threshold,
            "min_decades": self.min_decades, "n_windows_tested": self.n_windows_tested,
            "fit": self.fit.to_dict(), "pvalue": self.pvalue.to_dict(), "alternatives": self.alternatives.to_dict(),
        }

    def plot(self, ax: Any = None) -> Any:
        """Log-log CCDF of the degrees with the fitted TPL in red and the verdict in the legend;
        returns the Axes."""
        from analysis.plotting import draw_fit_panel

        if ax is None:
            from matplotlib.figure import Figure

            ax = Figure(figsize=(4.5, 3.5), layout="constrained").add_subplot()
        degrees = self.degrees if self.degrees is not None else np.repeat(self.fit.tail_values, self.fit.tail_counts)
        draw_fit_panel(ax, degrees, self.fit, self)
        return ax


# --------------------------------------------------------------------------------------------
# the criteria


def _data_decades(data: _Data, i: np.ndarray, j: np.ndarray, ccdf: bool = False):
    """Decades between the smallest and the largest value of the window's data (data indices
    i..j) that a bootstrap resample of the window's values contains with probability at least
    1 - _RESAMPLE_LEVEL each: a resample of m values misses the c values at an end with
    probability (1 - c / m)^m, so an end counts once c >= m (1 - level^(1/m)) (about 3.7).

    With `ccdf`, also the decades the window's CCDF spans between those ends: log10 of the
    number of values at or beyond the lower end over the number at or beyond the upper end
    (at most log10(m / 3.7): the y axis of the log-log CCDF plot)."""
    base = data.cum[i]
    m = data.cum[j + 1] - base
    need = m * -np.expm1(np.log(_RESAMPLE_LEVEL) / m)
    lo = np.searchsorted(data.cum, base + need, side="left") - 1  # first k with cum[k + 1] - base >= need
    hi = np.searchsorted(data.cum, data.cum[j + 1] - need, side="right") - 1  # last k with top - cum[k] >= need
    lo, hi = np.clip(lo, i, j), np.clip(hi, i, j)
    out = np.where(hi > lo, np.log10(data.values[hi] / data.values[lo]), 0.0)
    if not ccdf:
        return out
    top = data.cum[j + 1]
    y = np.log10((top - data.cum[lo]) / (top - data.cum[hi]))
    return out, np.where(hi > lo, y, 0.0)


def _criteria(fit: TPLFit, pvalue: PValueResult, alt: AlternativesResult, decades: float, decades_lower: float,
              ccdf_decades: float, alpha_se: float, share_se: float, p_threshold: float, min_decades: float, p_source: str,
              curvature: tuple[float, float]) -> tuple[Criterion, ...]:
    out = []
    p, n_valid = pvalue.p_value, pvalue.n_boot - pvalue.n_failed
    se_t = math.sqrt(p_threshold * (1 - p_threshold) / max(n_valid, 1))
    gof = f"p = {p:.3f} ± {pvalue.std_error:.3f} ({n_valid} sets, {p_source})"
    if p >= p_threshold:
        out.append(Criterion("goodness_of_fit", "pass", f"goodness of fit: {gof}, at least {p_threshold:g}.",
                             f"p {p:.2f}"))
    elif p + 2 * se_t < p_threshold:
        out.append(Criterion("goodness_of_fit", "fail", f"goodness of fit: {gof}, more than two standard errors "
                             f"below {p_threshold:g}: the degrees are unlikely under the fitted law.",
                             f"p {p:.2f} < {p_threshold:g}"))
    else:
        out.append(Criterion("goodness_of_fit", "unclear", f"goodness of fit: {gof}, below {p_threshold:g} but "
                             "within two standard errors of it: more sets would tell.", f"p {p:.2f} ~ {p_threshold:g}"))

    better = [t for t in alt.tests if t.preferred == t.name]
    failed = [t.name for t in alt.tests if not (math.isfinite(t.R) and math.isfinite(t.p))]
    note = f" ({', '.join(failed)}: could not be computed, not counted)" if failed else ""
    window = f"[{fit.xmin}, {_fmt_bound(fit.xmax)}]"
    try:
        expo = alt["exponential"]
    except KeyError:  # pragma: no cover - compare_alternatives always tests the exponential
        expo = None
    if better:
        names = ", ".join(f"{t.name} (R = {t.R:.2f}, p = {t.p:.2g})" for t in better)
        out.append(Criterion("alternatives", "fail", f"alternatives: on {window} significantly better than the "
                             f"TPL (Vuong's test, p < 0.1): {names}{note}.",
                             f"{better[0].name} better (p {better[0].p:.2g})"))
    elif expo is not None and expo.preferred != "tpl":
        out.append(Criterion("alternatives", "unclear", f"alternatives: none significantly better on {window}, but "
                             f"the exponential fits as well (R = {expo.R:.2f}, p = {expo.p:.2g}): without beating "
                             f"the exponential the window shows no heavy tail{note}.",
                             f"exponential as good (p {expo.p:.2g})"))
    else:
        rows = ", ".join(f"{t.name} R = {t.R:.2f} (p = {t.p:.2g})" for t in alt.tests)
        out.append(Criterion("alternatives", "pass", f"alternatives: none significantly better on {window}, the "
                             f"exponential significantly worse; {rows}{note}.", "alternatives worse"))

    z, pz = curvature
    bend = "down, as a lognormal does" if z > 0 else "up"
    if pz >= p_threshold:
        out.append(Criterion("curvature", "pass", f"curvature: the score test of the TPL inside the lognormal family "
                             f"on {window} finds no curvature in log-log (z = {z:.2f}, p = {pz:.2g}, at least "
                             f"{p_threshold:g}).", "straight"))
    else:
        out.append(Criterion("curvature", "fail", f"curvature: the score test of the TPL inside the lognormal "
                             f"family on {window} finds the log-log curve bending {bend} (z = {z:.2f}, p = {pz:.2g}, "
                             f"below {p_threshold:g}): not a power law over the window.", f"curved (p {pz:.2g})"))

    span = (f"the window {window} spans {decades:.2f} decades and its data cover at least {decades_lower:.2f} "
            f"in 95% of bootstrap resamples, over which their CCDF spans {ccdf_decades:.2f} decades")
    if decades_lower < min_decades:
        out.append(Criterion("range", "unclear", f"range: {span}; less than the {min_decades:g} asked for: a power "
                             "law over so short a range is no evidence of one.",
                             f"range {decades_lower:.1f} decades < {min_decades:g}"))
    elif ccdf_decades < _MIN_CCDF_DECADES:
        out.append(Criterion("range", "unclear", f"range: {span}; the CCDF spans less than "
                             f"{_MIN_CCDF_DECADES:g} decades (Stumpf & Porter 2012 ask for two on both axes): too "
                             "few values in the window to see the law's shape.",
                             f"CCDF {ccdf_decades:.1f} decades < {_MIN_CCDF_DECADES:g}"))
    else:
        out.append(Criterion("range", "pass", f"range: {span}, at least the {min_decades:g} and "
                             f"{_MIN_CCDF_DECADES:g} asked for.", f"{decades:.1f} decades"))

    lo = fit.alpha - _Z_ONE_SIDED * alpha_se
    decay = f"alpha = {fit.alpha:.3f} ± {alpha_se:.3f}"
    if lo > 0:
        out.append(Criterion("decay", "pass", f"decay: {decay}, above 0 at 95% confidence: the density decays.",
                             f"alpha {fit.alpha:.2f}"))
    else:
        what = "rising" if fit.alpha + _Z_ONE_SIDED * alpha_se < 0 else "not clearly decaying"
        out.append(Criterion("decay", "unclear", f"decay: {decay}, not above 0 at 95% confidence: the density is "
                             f"{what} over the window, not a power-law tail.",
                             f"alpha {fit.alpha:.2f} ± {alpha_se:.2f} not > 0"))

    share = fit.n_tail / fit.n
    text = f"{fit.n_tail} of {fit.n} degrees ({100 * share:.1f}% ± {100 * share_se:.1f}%) lie in the window"
    if fit.n_tail < _MIN_TAIL:
        out.append(Criterion("tail_share", "unclear", f"tail share: {text}, fewer than {_MIN_TAIL}: too few for the "
                             "tests to tell laws apart.", f"{fit.n_tail} values in window"))
    elif share + _Z_ONE_SIDED * share_se < _MIN_TAIL_SHARE:
        out.append(Criterion("tail_share", "unclear", f"tail share: {text}, below {100 * _MIN_TAIL_SHARE:g}% at 95% "
                             "confidence: the fit describes a sliver of the degrees.", f"tail {100 * share:.1f}%"))
    else:
        out.append(Criterion("tail_share", "pass", f"tail share: {text}.", f"tail {100 * share:.0f}%"))
    return tuple(out)


def _fmt_bound(x: float) -> str:
    return "inf" if math.isinf(x) else str(int(x))


# --------------------------------------------------------------------------------------------
# method "widest"


def _grid(values: np.ndarray) -> np.ndarray:
    """Indices of the candidate bounds: the distinct values, each kept only when at least
    10**(1 / _GRID_PER_DECADE) times the last one kept (all of them below 17), and the largest."""
    ratio = 10.0 ** (1.0 / _GRID_PER_DECADE)
    keep, last = [0], float(values[0])
    logs = np.log(values.astype(np.float64))
    step = math.log(ratio)
    k = 0
    while True:
        k = int(np.searchsorted(logs, math.log(last) + step - 1e-12, side="left"))
        if k >= values.size:
            break
        keep.append(k)
        last = float(values[k])
    if keep[-1] != values.size - 1:
        keep.append(values.size - 1)
    return np.array(keep, np.int64)


def _widest(positive: np.ndarray, n_zero: int, n: int, xmax: float | None, n_boot: int, p_threshold: float,
            rng: np.random.Generator) -> tuple[TPLFit, PValueResult, int]:
    """Deluca & Corral's widest window: screen the windows widest first, stop at the first whose
    fixed-window p reaches the threshold."""
    data = _Data.from_sorted(positive)
    grid = _grid(data.values)
    if xmax is None:
        ia = np.repeat(grid, grid.size)
        jb = np.tile(grid, grid.size)
        b = data.values[jb].astype(np.float64)
    else:
        ia = grid[data.values[grid] < xmax]
        jb = np.full(ia.size, int(np.searchsorted(data.values, xmax, side="right")) - 1)
        b = np.full(ia.size, float(xmax))
    ok = jb >= ia + 1
    ia, jb, b = ia[ok], jb[ok], b[ok]
    if ia.size == 0:
        raise FitError(f"no window below xmax={xmax!r} holds two distinct degrees: give a larger xmax")
    a = data.values[ia].astype(np.float64)
    m = data.cum[jb + 1] - data.cum[ia]
    lower = _data_decades(data, ia, jb)
    order = np.lexsort((-m, -(np.log(b) - np.log(a)), -lower))  # widest supported range first
    tested = 0
    best_d = (math.inf, -1)  # the window of smallest D, tested last if none passes
    for start in range(0, order.size, _CHUNK_PAIRS):
        sel = order[start: start + _CHUNK_PAIRS]
        pairs = _fit_pairs(data, a[sel], b[sel], *ALPHA_RANGE)
        d = _ks_exact(data, pairs, "integers")
        s = int(np.argmin(d))
        if d[s] < best_d[0]:
            best_d = (float(d[s]), int(sel[s]))
        # Kolmogorov's limiting distribution with the law known bounds p from above for a
        # discrete law with a fitted exponent: windows it puts below the threshold cannot pass;
        # nor can a window whose log-log curve bends significantly
        screen = stats.kstwobign.sf(np.sqrt(m[sel]) * d) >= p_threshold
        for q in np.flatnonzero(screen):
            i0, j0 = int(pairs.i[q]), int(pairs.j[q])
            trial = TPLFit(alpha=float(pairs.alpha[q]), xmin=int(a[sel[q]]), xmax=int(b[sel[q]]),
                           ks_distance=float(d[q]), n=n, n_tail=int(m[sel[q]]), n_zero_dropped=n_zero,
                           loglikelihood=math.nan, n_candidates=1, tail_values=data.values[i0: j0 + 1],
                           tail_counts=data.counts[i0: j0 + 1])  # what the tests need; the winner is refitted
            if curvature_test(trial)[1] < p_threshold:
                continue
            tested += 1
            res = _window_pvalue(trial, n_boot, p_threshold, rng)
            if res is not None and res.p_value >= p_threshold:
                fit = _window_fit(positive, n_zero, n, a[sel[q]], b[sel[q]])
                return fit, replace(res, fit=fit), tested
    fit = _window_fit(positive, n_zero, n, a[best_d[1]], b[best_d[1]])
    res = _window_pvalue(fit, n_boot, p_threshold, rng, stages=())
    return fit, res, tested + 1


def _window_fit(positive: np.ndarray, n_zero: int, n: int, a: float, b: float) -> TPLFit:
    degrees = np.concatenate([np.zeros(n_zero, np.int64), positive])
    return fit_tpl(degrees, xmin=int(a), xmax=b if math.isinf(b) else int(b))


# --------------------------------------------------------------------------------------------
# public entry point


def assess_power_law(
    degrees: ArrayLike,
    *,
    method: Literal["widest", "paper"] = "widest",
    xmax: float | None = None,
    n_boot: int = 2500,
    seed: SeedLike = None,
    n_jobs: int | None = None,
    p_threshold: float = 0.1,
    min_decades: float = 1.0,
    progress: bool = False,
) -> PowerLawEvidence:
    """Judge whether degrees follow a power law: a TPL fit, its tests and a verdict with reasons.

    Parameters
    ----------
    degrees : array_like of int
        Non-negative integer degrees (zeros are left out of the fit and counted).
    method : {"widest", "paper"}
        ``"widest"`` (Deluca & Corral 2013): among the windows whose goodness-of-fit p reaches
        ``p_threshold``, the one whose data cover the most decades (then the largest
        ``xmax / xmin``); its p is that of the fixed window (sets of ``n_tail`` values drawn
        from the fitted law, alpha refitted with the same bounds).  ``"paper"``: the
        minimum-KS search of :func:`analysis.fit_tpl` and the bootstrap of
        :func:`analysis.tpl_pvalue` (the paper's method).  docs/fits.md says exactly what each does.
    xmax : int or math.inf, optional
        Fix the upper bound (xmin is still chosen).  ``math.inf``: the untruncated fit of
        Clauset et al. (xmin by minimum KS distance over every distinct value, and its bootstrap),
        whatever ``method``.
    n_boot : int
        Bootstrap sets of the goodness-of-fit test (2500 give p to about ±0.01).
    seed : int, Generator, SeedSequence or None
        The same seed gives the same result.
    n_jobs : int, optional
        Worker processes for the bootstrap of ``"paper"`` and untruncated fits (``None``: every
        core); the fixed-window tests of ``"widest"`` are vectorised in this process.
    p_threshold : float
        A fit with ``p`` at least this passes the goodness of fit.
    min_decades : float
        Decades the window's data must cover (``log10(xmax / xmin)``).
    progress : bool
        Show the bootstrap's progress bar on stderr (``"paper"`` and untruncated).

    Returns
    -------
    PowerLawEvidence

    Raises
    ------
    FitError
        Bad degrees or options.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).poisson(100, 1000)
    >>> ev = assess_power_law(x, n_boot=100, seed=1)
    >>> ev.verdict, ev.decades < 1
    ('inconclusive', True)
    >>> "range" in ev.summary()  # what decided, in one line
    True
    """
    if method not in ("widest", "paper"):
        raise FitError(f"method={method!r}: expected 'widest' or 'paper'")
    if int(n_boot) != n_boot or n_boot < 1:
        raise FitError(f"n_boot={n_boot!r}: expected a positive integer number of bootstrap sets")
    if not 0.0 < float(p_threshold) < 1.0:
        raise FitError(f"p_threshold={p_threshold!r}: expected a number between 0 and 1")
    if not (math.isfinite(float(min_decades)) and min_decades >= 0):
        raise FitError(f"min_decades={min_decades!r}: expected a non-negative number of decades")
    if xmax is not None:
        xmax_f = float(xmax)
        if not (math.isinf(xmax_f) and xmax_f > 0) and not (math.isfinite(xmax_f) and xmax_f == round(xmax_f)
                                                              and xmax_f >= 2):
            raise FitError(f"xmax={xmax!r} is not an integer of at least 2 (or math.inf)")
        xmax = xmax_f
    positive, n_zero, n = _validate_degrees(degrees)
    rng = as_generator(seed)
    n_boot, p_threshold, min_decades = int(n_boot), float(p_threshold), float(min_decades)
    tested = 1
    if xmax is not None and math.isinf(xmax):
        used = "untruncated"
        fit = fit_tpl(degrees, xmax=math.inf)
        pvalue = tpl_pvalue(degrees, fit=fit, n_boot=n_boot, seed=rng, n_jobs=n_jobs, progress=progress)
        source = "semi-parametric bootstrap with the xmin search, Clauset et al. 2009"
    elif method == "paper":
        used = "paper"
        fit = fit_tpl(degrees, xmax=xmax)
        pvalue = tpl_pvalue(degrees, fit=fit, n_boot=n_boot, seed=rng, n_jobs=n_jobs, progress=progress)
        source = "semi-parametric bootstrap with the window search, Clauset et al. 2009"
    else:
        used = "widest"
        fit, pvalue, tested = _widest(positive, n_zero, n, xmax, n_boot, p_threshold, rng)
        source = f"fixed window, widest of {tested} tested, Deluca & Corral 2013"
    alternatives = compare_alternatives(degrees, fit)
    data = _Data.from_sorted(positive)
    i = int(np.searchsorted(data.values, fit.xmin))
    j = int(np.searchsorted(data.values, min(fit.xmax, 2.0**62), side="right")) - 1
    top = fit.xmax if math.isfinite(fit.xmax) else float(data.values[j])
    decades = math.log10(top / fit.xmin)
    lower, ccdf = _data_decades(data, np.array([i]), np.array([j]), ccdf=True)
    decades_lower, ccdf_decades = float(lower[0]), float(ccdf[0])
    _, var = _mean_log(fit.alpha, math.log(fit.xmin), float(fit.xmin), float(fit.xmax))
    alpha_se = 1.0 / math.sqrt(fit.n_tail * float(var)) if var > 0 else math.inf
    share = fit.n_tail / fit.n
    share_se = math.sqrt(share * (1 - share) / fit.n)
    criteria = _criteria(fit, pvalue, alternatives, decades, decades_lower, ccdf_decades, alpha_se, share_se, p_threshold,
                         min_decades, source, curvature_test(fit))
    statuses = {c.status for c in criteria}
    verdict = "rejected" if "fail" in statuses else ("supported" if statuses == {"pass"} else "inconclusive")
    return PowerLawEvidence(
        verdict=verdict, reasons=tuple(c.reason for c in criteria), fit=fit, pvalue=pvalue,
        alternatives=alternatives, decades=decades, tail_share=share, criteria=criteria, method=used,
        alpha_std_error=alpha_se, decades_lower=decades_lower, tail_share_std_error=share_se,
        p_threshold=p_threshold, min_decades=min_decades, n_windows_tested=tested, ccdf_decades=ccdf_decades,
        degrees=np.concatenate([np.zeros(n_zero, np.int64), positive]))
