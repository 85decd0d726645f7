"""The one analysis of a degree set, used by every command, and its cache.

:func:`analyse_degrees` is what ``nn2graph fit``, ``nn2graph compare``, ``nn2graph demo`` and
every ``nn2graph reproduce`` target run on each degree set (a layer of a network, a degree
kind of a connectome, a developmental stage):

- the power-law verdict of :func:`analysis.assess_power_law` (``"supported"``,
  ``"inconclusive"`` or ``"rejected"``, with its reasons), by default with the widest window
  that fits (method ``"widest"``);
- beside it, the paper's own fit, reproducible as the paper made it: the discrete truncated
  power law with the minimum-D window search (docs/method.md), its bootstrap p-value and the
  likelihood-ratio tests against alternative laws on the same window;
- the untruncated power-law tail (Clauset et al. 2009).

The same degrees with the same options and seed give the same numbers whichever command asks.

Degenerate degree sets, with fewer than :data:`MIN_NODES` nodes of positive degree or fewer
than :data:`MIN_DISTINCT` distinct positive degrees, are reported and not fitted: a few values
fit any law (a three-node layer fits alpha = 40 exactly).

:class:`AnalysisCache` keeps the finished bootstraps (the slow part) in a folder, one JSON file
per content key: the degrees and every option that changes the numbers, so a cached result is
never reused for other degrees or other options.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike

from analysis.alternatives import AlternativesResult, compare_alternatives
from analysis.bootstrap import PValueResult, tpl_pvalue
from analysis.evidence import PowerLawEvidence, assess_power_law
from analysis.tpl import FitError, TPLFit, fit_tpl
from nn2graph._rng import SeedLike
from nn2graph.result_files import ResultFileError, read_json, write_json

__all__ = ["MIN_DISTINCT", "MIN_NODES", "AnalysisCache", "DegreeAnalysis", "analyse_degrees", "degenerate_reason",
           "plot_analyses"]

#: A degree set with fewer nodes of positive degree than this is not fitted.
MIN_NODES = 10
#: A degree set with fewer distinct positive degrees than this is not fitted.
MIN_DISTINCT = 3
#: Version of the cached results; a change of what is cached makes old entries misses.
_CACHE_VERSION = 1


def degenerate_reason(degrees: np.ndarray) -> str | None:
    """Why a degree set is too small to fit, or None when it is large enough.

    Parameters
    ----------
    degrees : numpy.ndarray of int
        Non-negative integer degrees.

    Examples
    --------
    >>> degenerate_reason(np.array([40, 3, 1]))
    '3 nodes of positive degree (a fit needs at least 10 nodes and 3 distinct positive degrees)'
    >>> degenerate_reason(np.array([0, 0] + [5, 6] * 10))
    '2 distinct positive degrees among 20 nodes of positive degree (a fit needs at least 10 nodes and 3 distinct positive degrees)'
    >>> degenerate_reason(np.arange(12)) is None
    True
    """
    positive = degrees[degrees > 0]
    need = f"(a fit needs at least {MIN_NODES} nodes and {MIN_DISTINCT} distinct positive degrees)"
    if positive.size < MIN_NODES:
        of = f" of {degrees.size}" if positive.size != degrees.size else ""
        plural = "" if positive.size == 1 else "s"
        return f"{positive.size} node{plural} of positive degree{of} {need}"
    distinct = np.unique(positive).size
    if distinct < MIN_DISTINCT:
        return (f"{distinct} distinct positive degree{'' if distinct == 1 else 's'} among {positive.size} nodes "
                f"of positive degree {need}")
    return None


def _as_degrees(degrees: ArrayLike) -> np.ndarray:
    """The degrees as int64 when they are non-negative integers; the fit's own error otherwise."""
    values = np.asarray(degrees)
    if values.dtype.kind in "biu" and values.ndim == 1 and (values.size == 0 or values.min() >= 0):
        return values.astype(np.int64)
    if values.dtype.kind == "f" and values.ndim == 1 and np.all(np.isfinite(values)) and \
            np.all(values == np.round(values)) and (values.size == 0 or values.min() >= 0):
        return values.astype(np.int64)
    fit_tpl(values)  # raises FitError naming the offending value
    raise FitError(f"degrees must be a one-dimensional array of non-negative integers, got shape {values.shape}")


@dataclass(frozen=True)
class DegreeAnalysis:
    """The analysis of one degree set (:func:`analyse_degrees`).

    Attributes
    ----------
    n : int
        Number of nodes, zeros included.
    n_zero : int
        Nodes of degree 0 (left out of every fit).
    n_distinct : int
        Distinct positive degrees.
    mean_degree : float or None
        Mean degree over all ``n`` nodes (None for an empty set).
    max_degree : int or None
        Largest degree.
    fit : TPLFit or None
        Discrete truncated power law, window searched for the smallest KS distance among the
        ``search_fraction`` smallest and largest degrees (the paper's method); None when not
        fitted.
    pvalue : PValueResult or None
        Its bootstrap goodness of fit; None when ``n_boot=0`` or not fitted.
    alternatives : AlternativesResult or None
        The TPL against a power law, exponential, log-normal and Poisson law on the same window.
    tail_fit : TPLFit or None
        Untruncated discrete power law on ``[xmin, inf)`` with xmin searched over every distinct
        degree (Clauset et al. 2009): the exponent of the tail.
    evidence : PowerLawEvidence or None
        The verdict of :func:`analysis.assess_power_law` with its reasons and its own window
        (method ``options["method"]``); None when not fitted.  With method ``"paper"`` its fit,
        p-value and tests are ``fit``, ``pvalue`` and ``alternatives``.
    tail_evidence : PowerLawEvidence or None
        The verdict on ``tail_fit`` (:func:`analysis.assess_power_law` with ``xmax=math.inf``:
        its p-value from a bootstrap that repeats the xmin search); None unless asked for
        (``tail_verdict=True``), or without a bootstrap.
    not_fitted : str or None
        Why the set was not fitted (too few nodes or distinct degrees); None when fitted.
    notes : tuple of str
        Warnings met on the way (edge of the search range, numerical notes of the alternatives,
        synthetic sets that could not be fitted), kept here instead of being raised.
    options : dict
        The options that determine the numbers (n_boot, seed, the search options).
    key : str
        The content key of the cached bootstrap: SHA-256 of the degrees and of the options that
        change it (all of ``options`` but the verdict's ``method`` and thresholds).
    degrees : numpy.ndarray of int64
        The degrees analysed.
    """

    n: int
    n_zero: int
    n_distinct: int
    mean_degree: float | None
    max_degree: int | None
    fit: TPLFit | None
    pvalue: PValueResult | None
    alternatives: AlternativesResult | None
    tail_fit: TPLFit | None
    evidence: PowerLawEvidence | None = None
    tail_evidence: PowerLawEvidence | None = None
    not_fitted: str | None = None
    notes: tuple[str, ...] = ()
    options: dict[str, Any] = field(default_factory=dict, compare=False)
    key: str = ""
    degrees: np.ndarray = field(default=None, repr=False, compare=False)

    @property
    def fitted(self) -> bool:
        """True when the set was fitted."""
        return self.fit is not None

    @property
    def best(self) -> str | None:
        """Law with the largest log-likelihood on the TPL window (``"tpl"`` for the TPL)."""
        return None if self.alternatives is None else self.alternatives.best

    @property
    def p_value(self) -> float | None:
        """Bootstrap p-value of the TPL fit, None when not computed."""
        return None if self.pvalue is None else self.pvalue.p_value

    @property
    def verdict(self) -> str:
        """``"supported"``, ``"inconclusive"``, ``"rejected"``; ``"not fitted"`` for a degenerate set,
        ``"not judged"`` without a bootstrap (``n_boot=0``) or when the assessment failed."""
        if self.evidence is not None:
            return self.evidence.verdict
        return "not fitted" if not self.fitted else "not judged"

    def summary(self) -> str:
        """One line: the verdict and what decided it, or why there is none."""
        if self.evidence is not None:
            return self.evidence.summary()
        if not self.fitted:
            return f"not fitted: {self.not_fitted}"
        return "not judged: " + ("no bootstrap (n_boot=0)" if self.pvalue is None else "; ".join(self.notes[-1:]))

    @property
    def best_alternative(self) -> str | None:
        """The alternative law with the largest log-likelihood, with Vuong's R, p and verdict."""
        if self.alternatives is None:
            return None
        best = max(self.alternatives.tests, key=lambda t: t.loglikelihood)
        return f"{best.name} (R={best.R:.3g}, p={best.p:.3g}: {best.preferred} preferred)"

    def row(self) -> dict[str, Any]:
        """One flat table row (CSV/markdown): fit, p-value, best law, tail fit and their verdicts;
        None where absent."""
        f, t, p, te = self.fit, self.tail_fit, self.pvalue, self.tail_evidence
        return {
            "n": self.n, "n_zero": self.n_zero, "mean_degree": self.mean_degree, "max_degree": self.max_degree,
            "alpha": f and f.alpha, "xmin": f and f.xmin, "xmax": f and f.xmax, "n_tail": f and f.n_tail,
            "tail_share": f and f.tail_fraction, "ks_distance": f and f.ks_distance,
            "p_value": self.p_value, "p_std_error": p and p.std_error, "n_boot": 0 if p is None else p.n_boot,
            "best": self.best, "tpl_favoured": None if self.alternatives is None else self.alternatives.tpl_favoured,
            "on_search_edge": "" if f is None else "+".join(f.on_search_edge),
            "tail_alpha": t and t.alpha, "tail_xmin": t and t.xmin, "tail_n": t and t.n_tail,
            "tail_ks_distance": t and t.ks_distance, "verdict": self.verdict, "verdict_summary": self.summary(),
            "verdict_method": None if self.evidence is None else self.evidence.method,
            "verdict_xmin": self.evidence and self.evidence.fit.xmin,
            "verdict_xmax": self.evidence and self.evidence.fit.xmax,
            "tail_p_value": te and te.pvalue.p_value, "tail_verdict": te and te.verdict,
            "tail_verdict_summary": te and te.summary(),
            "not_fitted": self.not_fitted,
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (without the degrees and the synthetic distances)."""
        d = self.degrees
        return {
            "n": self.n, "n_zero": self.n_zero, "n_distinct": self.n_distinct,
            "min_degree": int(d.min()) if d is not None and d.size else None,
            "mean_degree": self.mean_degree, "max_degree": self.max_degree, "degrees_sha256": _sha(d),
            "options": self.options, "key": self.key,
            "fit": None if self.fit is None else self.fit.to_dict(),
            "pvalue": None if self.pvalue is None else self.pvalue.to_dict(),
            "alternatives": None if self.alternatives is None else self.alternatives.to_dict(),
            "best_alternative": self.best_alternative,
            "tail_fit": None if self.tail_fit is None else self.tail_fit.to_dict(),
            "verdict": self.verdict, "verdict_summary": self.summary(),
            "evidence": None if self.evidence is None else self.evidence.to_dict(),
            "tail_evidence": None if self.tail_evidence is None else self.tail_evidence.to_dict(),
            "not_fitted": self.not_fitted, "notes": list(self.notes),
        }


def _sha(degrees: np.ndarray | None) -> str:
    data = np.zeros(0, np.int64) if degrees is None else np.ascontiguousarray(degrees, dtype=np.int64)
    return hashlib.sha256(data.tobytes()).hexdigest()


def _seed_key(seed: SeedLike) -> Any:
    """The seed as JSON, or None when it does not determine the numbers (None, a Generator)."""
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        return int(seed)
    if isinstance(seed, np.random.SeedSequence):
        return {"entropy": str(seed.entropy), "spawn_key": list(seed.spawn_key)}
    return None


# --------------------------------------------------------------------------------------------
# the cache


class AnalysisCache:
    """Finished bootstraps of :func:`analyse_degrees` in a folder, one JSON file per content key.

    The key is the SHA-256 of the degrees and of every option that changes the numbers
    (``n_boot``, ``seed``, ``search_fraction``, ``xmin``, ``xmax``, ``ks``), so an entry is only
    ever reused for the same degrees analysed the same way.  Only the bootstrap (the synthetic
    KS distances) is stored; the fits are recomputed (they are deterministic and fast) and must
    reproduce the stored observed distance, or the entry is ignored.

    Examples
    --------
    >>> import tempfile
    >>> cache = AnalysisCache(tempfile.mkdtemp())
    >>> x = np.random.default_rng(0).zipf(2.0, 200)
    >>> first = analyse_degrees(x, n_boot=5, seed=1, n_jobs=1, cache=cache)
    >>> len(list(cache.folder.glob("*.json")))
    1
    >>> analyse_degrees(x, n_boot=5, seed=1, n_jobs=1, cache=cache).p_value == first.p_value
    True
    """

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)

    def __repr__(self) -> str:
        return f"AnalysisCache({str(self.folder)!r})"

    def path(self, key: str) -> Path:
        """The file of one key."""
        return self.folder / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored payload of ``key``, or None (missing, unreadable or another key's)."""
        path = self.path(key)
        if not path.exists():
            return None
        try:
            payload = read_json(path, what="cache entry")
        except ResultFileError as error:
            warnings.warn(f"{error}; the entry is ignored and the bootstrap computed again", stacklevel=2)
            return None
        return payload if isinstance(payload, dict) and payload.get("key") == key else None

    def put(self, key: str, payload: dict[str, Any]) -> Path:
        """Store ``payload`` under ``key`` (atomically)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        return write_json(self.path(key), {**payload, "key": key})


def _cached_pvalue(payload: dict[str, Any] | None, fit: TPLFit, n_boot: int) -> PValueResult | None:
    if payload is None:
        return None
    try:
        p = payload["pvalue"]
        distances = np.array([math.nan if v is None or v == "nan" else float(v) for v in p["distances"]])
        if p["n_boot"] != n_boot or distances.size != n_boot or p["observed_ks"] != fit.ks_distance:
            return None
        return PValueResult(p_value=float(p["p_value"]), std_error=float(p["std_error"]), distances=distances,
                            n_boot=int(n_boot), observed=float(p["observed_ks"]), fit=fit,
                            n_failed=int(p["n_failed"]))
    except (KeyError, TypeError, ValueError):
        return None


# --------------------------------------------------------------------------------------------
# the analysis


def analyse_degrees(
    degrees: ArrayLike,
    *,
    n_boot: int = 2500,
    seed: SeedLike = 0,
    n_jobs: int | None = None,
    method: Literal["widest", "paper"] = "widest",
    p_threshold: float = 0.1,
    min_decades: float = 1.0,
    search_fraction: float | None = None,
    xmin: int | None = None,
    xmax: float | None = None,
    ks: Literal["integers", "data"] = "integers",
    tail_verdict: bool = False,
    cache: AnalysisCache | str | os.PathLike | None = None,
    progress: bool = False,
) -> DegreeAnalysis:
    """Fit, test and compare the degree distribution of one layer, connectome or stage.

    The same code path serves every command, so their numbers are comparable: the same
    degrees, options and ``seed`` give the same fit and the same p-value everywhere (the seed
    goes unchanged to :func:`analysis.tpl_pvalue`).

    Parameters
    ----------
    degrees : array_like of int
        Non-negative integer degrees, one per node (zeros allowed, they are left out of fits).
    n_boot : int, default 2500
        Bootstrap sets for the TPL p-value (2500 give p to about +-0.01); 0 skips the p-value.
    seed : int, SeedSequence, Generator or None, default 0
        Seed of the bootstrap.  Results with an int or SeedSequence seed are cached; with None
        or a Generator they are not reproducible and not cached.
    n_jobs : int or None, default None
        Bootstrap worker processes (None: every core).  The numbers do not depend on it.
    method : {"widest", "paper"}, default "widest"
        How :func:`analysis.assess_power_law` chooses the window of the verdict.  ``"paper"``
        judges the paper's own fit (then ``evidence.fit`` is ``fit``).
    p_threshold, min_decades : float
        Thresholds of the verdict (:func:`analysis.assess_power_law`).
    search_fraction, xmin, xmax, ks
        Search options of :func:`analysis.fit_tpl` for the paper's fit (defaults: the paper's
        method; ``xmax=math.inf`` is the untruncated law, for the verdict too), used for every
        bootstrap refit.
    tail_verdict : bool, default False
        Also judge the untruncated tail fit (``tail_evidence``): a second bootstrap of
        ``n_boot`` sets, each with the xmin search (about 20-30 s of CPU for 2500 sets of a few
        hundred nodes).  The fit the connectome literature reports, so ``nn2graph compare``
        asks for it.  Its fit is ``tail_fit`` with the KS distance over the integers
        (``ks="integers"``, the default), whatever ``ks`` says.
    cache : AnalysisCache, path or None
        Where finished bootstraps are kept and looked up (a folder); None: no cache.
    progress : bool, default False
        Show the bootstrap's progress bar.

    Returns
    -------
    DegreeAnalysis
        ``not_fitted`` says why when the set is degenerate (see :func:`degenerate_reason`).
        Without a p-value (``n_boot=0``) there is no verdict.

    Raises
    ------
    FitError
        Degrees that are not non-negative integers, or invalid options.

    Examples
    --------
    >>> k = np.arange(1, 101)
    >>> x = np.random.default_rng(0).choice(k, 500, p=k**-2.5 / np.sum(k**-2.5))
    >>> a = analyse_degrees(x, n_boot=5, seed=1, n_jobs=1)
    >>> a.n, a.pvalue.n_boot, 0.0 <= a.p_value <= 1.0, a.verdict in ("supported", "inconclusive", "rejected")
    (500, 5, True, True)

    The minimum-D search may settle on a narrow window (here two values, where a one-parameter
    law fits exactly); the tail fit gives the exponent of the whole tail:

    >>> (a.fit.xmin, a.fit.xmax, a.fit.n_tail), round(a.tail_fit.alpha, 2)
    ((1, 2, 431), 2.39)

    A three-node layer is reported, not fitted:

    >>> analyse_degrees([40, 3, 1], n_boot=0).not_fitted
    '3 nodes of positive degree (a fit needs at least 10 nodes and 3 distinct positive degrees)'
    """
    if isinstance(n_boot, bool) or int(n_boot) != n_boot or n_boot < 0:
        raise FitError(f"n_boot={n_boot!r}: expected 0 (no p-value) or a positive number of bootstrap sets")
    n_boot = int(n_boot)
    d = _as_degrees(degrees)
    if method not in ("widest", "paper"):
        raise FitError(f"method={method!r}: expected 'widest' or 'paper'")
    options = {"n_boot": n_boot, "seed": _seed_key(seed), "method": method, "p_threshold": float(p_threshold),
               "min_decades": float(min_decades),
               "search_fraction": None if search_fraction is None else float(search_fraction), "xmin": xmin,
               "xmax": None if xmax is None else ("inf" if math.isinf(xmax) else xmax), "ks": ks,
               "tail_verdict": bool(tail_verdict)}
    # the cached part is the paper's bootstrap: the verdicts' method and thresholds do not change it
    bootstrap = {k: v for k, v in options.items() if k not in ("method", "p_threshold", "min_decades", "tail_verdict")}
    key = hashlib.sha256(json.dumps({"version": _CACHE_VERSION, "degrees": _sha(d), **bootstrap},
                                    sort_keys=True).encode()).hexdigest()
    positive = d[d > 0]
    common = {"n": int(d.size), "n_zero": int(d.size - positive.size), "n_distinct": int(np.unique(positive).size),
              "mean_degree": float(d.mean()) if d.size else None, "max_degree": int(d.max()) if d.size else None,
              "options": options, "key": key, "degrees": d}
    reason = degenerate_reason(d)
    if reason is not None:
        return DegreeAnalysis(fit=None, pvalue=None, alternatives=None, tail_fit=None, not_fitted=reason, **common)
    store = None if cache is None else cache if isinstance(cache, AnalysisCache) else AnalysisCache(cache)
    cacheable = store is not None and n_boot > 0 and options["seed"] is not None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = fit_tpl(d, xmin=xmin, xmax=xmax, search_fraction=search_fraction, ks=ks)
        tail_fit = fit_tpl(d, xmax=math.inf, ks=ks)
        alternatives = compare_alternatives(d, fit)
        pvalue = evidence = tail_evidence = None
        if n_boot:
            pvalue = _cached_pvalue(store.get(key), fit, n_boot) if cacheable else None
            if pvalue is None:
                pvalue = tpl_pvalue(d, fit=fit, n_boot=n_boot, seed=seed, n_jobs=n_jobs, progress=progress)
                if cacheable:
                    store.put(key, {"options": options, "degrees_sha256": _sha(d),
                                    "pvalue": pvalue.to_dict() | {"distances": pvalue.distances}})
            evidence = _verdict(d, method=method, xmax=xmax, n_boot=n_boot, seed=seed,
                                n_jobs=n_jobs, p_threshold=p_threshold, min_decades=min_decades, progress=progress)
            if tail_verdict:
                tail_evidence = evidence if xmax is not None and math.isinf(xmax) else _verdict(
                    d, method=method, xmax=math.inf, n_boot=n_boot, seed=seed, n_jobs=n_jobs,
                    p_threshold=p_threshold, min_decades=min_decades, progress=progress)
    notes = tuple(dict.fromkeys(f"{w.category.__name__}: {w.message}" for w in caught))
    if n_boot and evidence is None:
        notes += ("no verdict: the power-law assessment could not be made (see the notes above)",)
    return DegreeAnalysis(fit=fit, pvalue=pvalue, alternatives=alternatives, tail_fit=tail_fit, evidence=evidence,
                          tail_evidence=tail_evidence, notes=notes, **common)


def _verdict(d: np.ndarray, *, method: str, xmax: float | None, n_boot: int, seed: SeedLike, n_jobs: int | None, p_threshold: float,
             min_decades: float, progress: bool) -> PowerLawEvidence | None:
    """The power-law verdict: the one place where :func:`analysis.assess_power_law` plugs in.

    Method ``"widest"`` chooses its own window (a fast fixed-window test).  Method ``"paper"``
    judges the paper's fit with the same seed, so the same numbers, but
    :func:`analysis.assess_power_law` takes no precomputed bootstrap and draws it again (not
    cached); so does ``xmax=math.inf`` (the untruncated tail).
    """
    try:
        return assess_power_law(d, method=method, xmax=xmax, n_boot=n_boot, seed=seed, n_jobs=n_jobs,
                                p_threshold=p_threshold, min_decades=min_decades, progress=progress)
    except FitError as error:
        warnings.warn(f"no power-law verdict: {error}", UserWarning, stacklevel=2)
        return None


def plot_analyses(analyses: dict[str, DegreeAnalysis], *, path: str | os.PathLike | None = None,
                  title: str | None = None) -> Any:
    """One CCDF panel per degree set (:func:`analysis.plot_layer_fits`): the paper's fit in red
    with its p-value, and the verdict in the panel's title (``"fc1: inconclusive"``).

    Examples
    --------
    >>> x = np.random.default_rng(0).zipf(2.0, 300)
    >>> fig = plot_analyses({"fc1": analyse_degrees(x, n_boot=5, n_jobs=1), "in": analyse_degrees([3], n_boot=0)})
    >>> [ax.get_title().split(":")[0] for ax in fig.axes if ax.get_visible()]
    ['fc1', 'in']
    """
    from analysis.plotting import plot_layer_fits

    titled = {f"{name}: {a.verdict}" if a.fitted and a.evidence is not None else
              (name if a.fitted else f"{name}: not fitted"): a for name, a in analyses.items()}
    return plot_layer_fits({t: a.degrees for t, a in titled.items()}, {t: a.fit for t, a in titled.items()},
                           pvalues={t: a.pvalue for t, a in titled.items() if a.pvalue is not None},
                           path=path, title=title)
