"""Is a truncated power law the best description?  Likelihood-ratio tests against alternatives.

Each alternative is a discrete law on the tail window ``[xmin, xmax]`` of a :class:`TPLFit`,
normalised by summing its pmf over the integers of the window, and fitted by maximum
likelihood to the same tail values:

* ``power_law``: the untruncated discrete power law on ``[xmin, inf)`` (the TPL is this law
  cut at ``xmax``; the two are nested, so its p-value is the chi-squared likelihood-ratio test
  with one degree of freedom, as in Clauset et al. 2009).  Left out when the fit is untruncated.
* ``exponential``: ``p(x) ∝ exp(-lambda x)`` (any real lambda on a finite window).
* ``lognormal``: ``p(x) ∝ exp(-(log x - mu)^2 / (2 sigma^2)) / x``.
* ``poisson``: ``p(x) ∝ lambda^x / x!``.

For the non-nested ones, Vuong's test: ``R`` is the normalised log-likelihood ratio
``sum(l_tpl - l_alt) / (sqrt(n) * sd(l_tpl - l_alt))`` and ``p = erfc(|R_raw| / sqrt(2 n var))``,
the formulas of Clauset et al. and ``powerlaw``'s ``distribution_compare(...,
normalized_ratio=True)``.  ``R > 0`` favours the TPL; a small ``p`` says the sign is significant.

:func:`curvature_test` uses that the TPL is the lognormal family's member of zero curvature in
log-log: a score test of that member, more powerful than Vuong's test, which treats the two
laws as unrelated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import optimize, special

from analysis.tpl import FitError, TPLFit, _validate_degrees

__all__ = ["AlternativeTest", "AlternativesResult", "compare_alternatives", "curvature_test"]

_DIRECT = 20_000  # windows with more integers than this sum a head directly and integrate the rest
_SIGNIFICANCE = 0.1


@dataclass(frozen=True)
class AlternativeTest:
    """One alternative law and its test against the TPL."""

    name: str
    params: dict[str, float]
    loglikelihood: float
    R: float
    p: float
    nested: bool = False

    @property
    def preferred(self) -> str:
        """``"tpl"``, the alternative's name, or ``"neither"`` when ``p >= 0.1`` (or R or p is NaN:
        a test that could not be computed is never significant)."""
        if not (math.isfinite(self.R) and math.isfinite(self.p)) or self.p >= _SIGNIFICANCE or self.R == 0:
            return "neither"
        return "tpl" if self.R > 0 else self.name

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "params": dict(self.params), "loglikelihood": self.loglikelihood,
                "R": self.R, "p": self.p, "nested": self.nested, "preferred": self.preferred}


@dataclass(frozen=True)
class AlternativesResult:
    """The TPL fit and its tests against each alternative (:func:`compare_alternatives`)."""

    fit: TPLFit = field(repr=False)
    tests: tuple[AlternativeTest, ...]

    @property
    def best(self) -> str:
        """Name of the law with the largest log-likelihood on the tail (``"tpl"`` for the TPL)."""
        best = max(self.tests, key=lambda t: t.loglikelihood)
        return "tpl" if self.fit.loglikelihood >= best.loglikelihood else best.name

    @property
    def tpl_favoured(self) -> bool:
        """True when no alternative is significantly better than the TPL."""
        return all(t.preferred != t.name for t in self.tests)

    def __getitem__(self, name: str) -> AlternativeTest:
        for t in self.tests:
            if t.name == name:
                return t
        raise KeyError(f"no alternative {name!r}; have {[t.name for t in self.tests]}")

    def to_dict(self) -> dict[str, Any]:
        return {"tpl_loglikelihood": self.fit.loglikelihood, "best": self.best,
                "tests": [t.to_dict() for t in self.tests]}

    def to_markdown(self) -> str:
        """A markdown table, one row per alternative."""
        lines = ["| alternative | parameters | log-likelihood | R | p | preferred |", "|---|---|---|---|---|---|",
                 f"| tpl | alpha={self.fit.alpha:.4g} | {self.fit.loglikelihood:.2f} | | | |"]
        for t in self.tests:
            params = ", ".join(f"{k}={v:.4g}" for k, v in t.params.items())
            lines.append(f"| {t.name} | {params} | {t.loglikelihood:.2f} | {t.R:.3f} | {t.p:.3g} | {t.preferred} |")
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# discrete laws on a window: pointwise log-likelihoods at the MLE


def _power_law(tail: np.ndarray, a: int) -> tuple[dict[str, float], np.ndarray]:
    from analysis.tpl import fit_tpl

    f = fit_tpl(tail, xmin=a, xmax=math.inf)
    return {"alpha": f.alpha}, np.log(f.pmf(tail))


def _exp_log_norm(lam: float, n_int: float) -> float:
    """log sum_{j=0}^{N-1} exp(-lam j) (N may be inf, then lam > 0)."""
    if math.isinf(n_int):
        return -math.log(-math.expm1(-lam))
    if lam == 0:
        return math.log(n_int)
    u = abs(lam)
    base = math.log(-math.expm1(-u * n_int)) - math.log(-math.expm1(-u))
    return base + (u * (n_int - 1) if lam < 0 else 0.0)


def _exp_mean(lam: float, n_int: float) -> float:
    """E[j] for p(j) ∝ exp(-lam j), j = 0..N-1."""
    if math.isinf(n_int):
        return 1.0 / math.expm1(lam)
    if abs(lam) < 1e-9:
        return (n_int - 1) / 2
    return 1.0 / math.expm1(lam) - n_int / math.expm1(lam * n_int) if lam * n_int < 700 else 1.0 / math.expm1(lam)


def _exponential(tail: np.ndarray, a: int, b: float) -> tuple[dict[str, float], np.ndarray]:
    j = tail - a
    n_int = b - a + 1
    target = float(np.mean(j))
    if math.isinf(n_int):
        lam = math.log1p(1.0 / target)
    else:
        g = lambda lam: _exp_mean(lam, n_int) - target  # noqa: E731  (decreasing in lam)
        lo, hi = -1.0, 1.0
        while g(lo) < 0:
            lo *= 2
        while g(hi) > 0:
            hi *= 2
        lam = optimize.brentq(g, lo, hi, xtol=1e-14, rtol=1e-14)
    return {"lambda": lam}, -lam * j - _exp_log_norm(lam, n_int)


def _log_ndtr_diff(lo: float, hi: float) -> float:
    """log(Phi(hi) - Phi(lo)) for lo < hi (hi may be inf), without cancellation or underflow."""
    if lo > 0:  # both in the upper tail: Phi(-lo) - Phi(-hi), small numbers subtracted
        lo, hi = -hi, -lo
    big, small = special.log_ndtr(hi), special.log_ndtr(lo)
    return float(big + np.log1p(-np.exp(small - big))) if small < big else -math.inf


def _lognormal_log_norm(mu: float, sigma: float, a: int, b: float) -> float:
    """log sum_{k=a}^{b} exp(-(log k - mu)^2 / (2 sigma^2)) / k, in log space throughout.

    The first _DIRECT integers are summed term by term; beyond them the Euler–Maclaurin formula
    (the integral, the endpoint halves and the B2 terms), every term as a logarithm with its
    sign, so that nothing underflows when mu is far below log a or the window is very wide.
    """
    end = min(b, a + _DIRECT - 1)
    k = np.arange(a, end + 1, dtype=np.float64)
    lk = np.log(k)
    logf = -((lk - mu) ** 2) / (2 * sigma * sigma) - lk
    top = float(logf.max())
    head = top + math.log(float(np.sum(np.exp(logf - top))))
    if end >= b:
        return head
    m = end + 1.0
    s2 = sigma * sigma

    def log_f(x: float) -> float:
        return -((math.log(x) - mu) ** 2) / (2 * s2) - math.log(x)

    def dlog_f(x: float) -> float:  # f'(x) = f(x) * dlog_f(x)
        return -((math.log(x) - mu) / s2 + 1.0) / x

    zm = (math.log(m) - mu) / sigma
    zb = math.inf if math.isinf(b) else (math.log(b) - mu) / sigma
    # integral of f over [m, b] = sigma sqrt(2 pi) (Phi(zb) - Phi(zm)); f(m) / 2 - f'(m) / 12 at m,
    # f(b) / 2 + f'(b) / 12 at b
    logs = [math.log(sigma * math.sqrt(2 * math.pi)) + _log_ndtr_diff(zm, zb), log_f(m) + math.log(0.5)]
    signs = [1.0, 1.0]
    dm = -dlog_f(m) / 12
    logs.append(log_f(m) + math.log(abs(dm)) if dm else -math.inf)
    signs.append(math.copysign(1.0, dm))
    if math.isfinite(b):
        db = dlog_f(b) / 12
        logs += [log_f(b) + math.log(0.5), log_f(b) + math.log(abs(db)) if db else -math.inf]
        signs += [1.0, math.copysign(1.0, db)]
    rest, sign = special.logsumexp(logs, b=signs, return_sign=True)
    return float(np.logaddexp(head, rest)) if sign > 0 else head


_C2_MIN = 1e-9  # smallest curvature of the lognormal (sigma = 1 / sqrt(2 c2) ~ 22,000): its power-law limit


def _lognormal(tail: np.ndarray, a: int, b: float) -> tuple[dict[str, float], np.ndarray]:
    """MLE of the discrete lognormal on [a, b].  With u = log(k / a) its log-pmf is
    d1 u - c2 u^2 - log Z: an exponential family, concave in (d1, c2), so windows of at most
    _DIRECT integers are fitted by Newton's method on the exact sums (c2 >= _C2_MIN, where the
    lognormal becomes a power law); wider windows by Nelder-Mead on (mu, log sigma)."""
    if b - a + 1 > _DIRECT:
        return _lognormal_wide(tail, a, b)
    k = np.arange(a, int(b) + 1, dtype=np.float64)
    uk = np.log1p((k - a) / a)
    u = np.log1p((tail - a) / a)
    t = np.array([u.mean(), -(u * u).mean()])  # data means of the statistics (u, -u^2)
    stat = np.stack([uk, -uk * uk])

    def moments(theta):
        e = theta @ stat
        top = e.max()
        w = np.exp(e - top)
        z = w.sum()
        w /= z
        mean = stat @ w
        cov = (stat * w) @ stat.T - np.outer(mean, mean)
        return top + math.log(z), mean, cov

    def ll(theta):
        return float(theta @ t) - moments(theta)[0]

    theta = np.array([-1.0, _C2_MIN])
    for _ in range(100):
        _, mean, cov = moments(theta)
        grad = t - mean
        free = theta[1] > _C2_MIN or grad[1] > 0  # c2 at its floor and pushed down: solve d1 alone
        if free:
            step = np.linalg.lstsq(cov, grad, rcond=None)[0]  # singular for windows of two integers
        else:
            step = np.array([grad[0] / max(cov[0, 0], 1e-300), 0.0])
        base, scale = ll(theta), 1.0
        while True:  # backtracking: the log-likelihood is concave, a short enough step improves it
            new = theta + scale * step
            new[1] = max(new[1], _C2_MIN)
            if ll(new) >= base - 1e-12 * abs(base) or scale < 1e-8:
                break
            scale *= 0.5
        done = np.max(np.abs(new - theta) / np.maximum(1.0, np.abs(theta))) < 1e-12
        theta = new
        if done:
            break
    d1, c2 = theta
    log_z = moments(theta)[0]
    sigma2 = 1.0 / (2.0 * c2)  # d1 u - c2 u^2 = -(log k - mu)^2 / (2 sigma^2) - log k + const
    mu = sigma2 * (d1 + 2.0 * c2 * math.log(a) + 1.0)
    return {"mu": float(mu), "sigma": math.sqrt(sigma2)}, d1 * u - c2 * u * u - log_z


def _lognormal_wide(tail: np.ndarray, a: int, b: float) -> tuple[dict[str, float], np.ndarray]:
    values, counts = np.unique(tail, return_counts=True)
    lv = np.log(values.astype(np.float64))
    lt = np.log(tail.astype(np.float64))
    n = float(tail.size)

    def neg_ll(params):  # over the distinct values, weighted by their counts
        mu, log_sigma = params
        sigma = math.exp(log_sigma)
        total = float(counts @ (-((lv - mu) ** 2) / (2 * sigma * sigma) - lv))
        return -(total - n * _lognormal_log_norm(mu, sigma, a, b))

    start = np.array([lt.mean(), math.log(max(lt.std(), 1e-3))])
    res = optimize.minimize(neg_ll, start, method="Nelder-Mead",
                            options={"xatol": 1e-8, "fatol": 1e-10, "maxiter": 2000})
    mu, log_sigma = res.x
    sigma = math.exp(log_sigma)
    pointwise = -((lt - mu) ** 2) / (2 * sigma * sigma) - lt - _lognormal_log_norm(mu, sigma, a, b)
    return {"mu": float(mu), "sigma": sigma}, pointwise


def _poisson_support(lam: float, a: int, b: float) -> np.ndarray:
    """Integers of [a, b] that carry all but a negligible share of the truncated Poisson mass."""
    spread = 40.0 * math.sqrt(lam) + 50.0
    pieces = [np.arange(a, min(b, a + 1000) + 1)]
    if math.isfinite(b):
        pieces.append(np.arange(max(a, b - 1000), b + 1))
    lo, hi = max(a, math.floor(lam - spread)), min(b, math.ceil(lam + spread))
    if lo <= hi:
        pieces.append(np.arange(lo, hi + 1))
    return np.unique(np.concatenate(pieces)).astype(np.float64)


def _poisson_logpmf(k, lam):
    return k * math.log(lam) - lam - special.gammaln(k + 1.0)


def _poisson(tail: np.ndarray, a: int, b: float) -> tuple[dict[str, float], np.ndarray]:
    target = float(np.mean(tail))

    def mean_gap(loglam):
        lam = math.exp(loglam)
        k = _poisson_support(lam, a, b)
        w = _poisson_logpmf(k, lam)
        w = np.exp(w - w.max())
        return float(np.sum(w * k) / np.sum(w)) - target

    lo, hi = math.log(1e-6), math.log(max(2.0 * target, 10.0))
    while mean_gap(hi) < 0:  # the truncated mean increases with lambda
        hi += 1.0
    lam = math.exp(optimize.brentq(mean_gap, lo, hi, xtol=1e-14))
    k = _poisson_support(lam, a, b)
    log_norm = special.logsumexp(_poisson_logpmf(k, lam))
    return {"lambda": lam}, _poisson_logpmf(tail.astype(np.float64), lam) - log_norm


def _vuong(l_tpl: np.ndarray, l_alt: np.ndarray, nested: bool) -> tuple[float, float]:
    """Normalised log-likelihood ratio R and its p-value (Clauset et al. 2009)."""
    diff = l_tpl - l_alt
    n = diff.size
    raw = float(diff.sum())
    sd = float(np.sqrt(np.mean((diff - diff.mean()) ** 2)))
    if nested:
        from scipy.stats import chi2

        p = float(chi2.sf(2 * abs(raw), 1))
    else:
        p = float(special.erfc(abs(raw) / (math.sqrt(2 * n) * sd))) if sd > 0 else 1.0
    return (raw / (math.sqrt(n) * sd) if sd > 0 else 0.0), p


def compare_alternatives(degrees: ArrayLike, fit: TPLFit) -> AlternativesResult:
    """Test the TPL ``fit`` of ``degrees`` against other discrete laws on the same tail.

    Parameters
    ----------
    degrees : array_like of int
        The degrees that were fitted.
    fit : TPLFit
        The TPL fit (its window ``[xmin, xmax]`` defines the tail).

    Returns
    -------
    AlternativesResult
        One :class:`AlternativeTest` per alternative (``power_law`` only when ``xmax`` is
        finite, ``exponential``, ``lognormal``, ``poisson``).

    Examples
    --------
    >>> import numpy as np
    >>> from analysis import fit_tpl
    >>> k = np.arange(1, 301)
    >>> x = np.random.default_rng(0).choice(k, 3000, p=k**-2.0 / np.sum(k**-2.0))
    >>> res = compare_alternatives(x, fit_tpl(x, xmin=1, xmax=300))
    >>> res["exponential"].preferred, res["poisson"].preferred
    ('tpl', 'tpl')
    """
    positive, _, _ = _validate_degrees(degrees)
    tail = positive[(positive >= fit.xmin) & (positive <= fit.xmax)]
    if tail.size != fit.n_tail:
        raise FitError(f"the fit has {fit.n_tail} degrees in [{fit.xmin}, {fit.xmax}] but these degrees have "
                       f"{tail.size}: pass the degrees that were fitted")
    a, b = int(fit.xmin), float(fit.xmax)
    l_tpl = np.log(fit.pmf(tail))
    laws = [("exponential", _exponential(tail, a, b), False), ("lognormal", _lognormal(tail, a, b), False),
            ("poisson", _poisson(tail, a, b), False)]
    if math.isfinite(b):
        laws.insert(0, ("power_law", _power_law(tail, a), True))
    tests = []
    for name, (params, l_alt), nested in laws:
        R, p = _vuong(l_tpl, l_alt, nested)
        tests.append(AlternativeTest(name=name, params={k: float(v) for k, v in params.items()},
                                     loglikelihood=float(np.sum(l_alt)), R=R, p=p, nested=nested))
    return AlternativesResult(fit=fit, tests=tuple(tests))


# --------------------------------------------------------------------------------------------
# curvature: a score test of the TPL inside the discrete lognormal family

_SUM_CHUNK = 1 << 20  # integers summed at a time
_SUM_DIRECT = 1 << 22  # untruncated windows: integers summed one by one before the integral of the rest


def _log_moments(alpha: float, a: int, b: float) -> np.ndarray:
    """E[u^r] for r = 0..4, u = log(k / a), under the TPL on the integers of [a, b] (E[u^0] = 1).

    Direct sums (in chunks); an untruncated window sums _SUM_DIRECT integers and adds the
    integral of the rest from the midpoint on, a * Gamma(r + 1, (alpha - 1) u0) / (alpha - 1)^(r + 1).
    """
    end = b if math.isfinite(b) else a + _SUM_DIRECT - 1
    sums = np.zeros(5)
    for lo in range(a, int(end) + 1, _SUM_CHUNK):
        k = np.arange(lo, min(int(end), lo + _SUM_CHUNK - 1) + 1, dtype=np.float64)
        u = np.log1p((k - a) / a)
        w = np.exp(-alpha * u)
        sums += [float(np.sum(w * u**r)) for r in range(5)]
    if not math.isfinite(b):
        u0 = math.log((end + 0.5) / a)
        z = (alpha - 1.0) * u0
        sums += [a * special.gammaincc(r + 1, z) * math.factorial(r) / (alpha - 1.0) ** (r + 1) for r in range(5)]
    return sums / sums[0]


def curvature_test(fit: TPLFit) -> tuple[float, float]:
    """Score test of ``fit`` against the discrete lognormal on the same window: ``(z, p)``.

    With ``u = log(k / xmin)`` the lognormal's log-pmf is ``c1 u - c2 u^2`` up to a constant, and
    the TPL is its member ``c2 = 0`` (no curvature in log-log).  The score for ``c2`` at the TPL
    fit is ``n (E[u^2] - mean(u^2))``; its variance, with ``c1`` (alpha) estimated, is
    ``n (Var u^2 - Cov(u, u^2)^2 / Var u)``; ``z`` is their ratio, standard normal under the TPL,
    and ``p`` is two-sided (a log-log curve bending either way is not a power law).  ``z > 0``:
    bending down, as a lognormal does.

    Examples
    --------
    >>> import numpy as np
    >>> from analysis import fit_tpl
    >>> x = np.rint(np.random.default_rng(0).lognormal(2, 1, 3000)).astype(int)
    >>> z, p = curvature_test(fit_tpl(x, xmin=5, xmax=200))
    >>> z > 0 and p < 0.01
    True
    """
    e = _log_moments(fit.alpha, fit.xmin, float(fit.xmax))
    u = np.log1p((fit.tail_values - fit.xmin) / fit.xmin)
    mean_u2 = float(fit.tail_counts @ (u * u)) / fit.n_tail
    var_u = e[2] - e[1] ** 2
    var_u2 = e[4] - e[2] ** 2
    cov = e[3] - e[1] * e[2]
    var = fit.n_tail * (var_u2 - cov * cov / var_u) if var_u > 0 else 0.0
    if not var > 0:
        return 0.0, 1.0
    z = fit.n_tail * (e[2] - mean_u2) / math.sqrt(var)
    return float(z), float(math.erfc(abs(z) / math.sqrt(2.0)))
