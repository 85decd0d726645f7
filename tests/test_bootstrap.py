"""analysis.bootstrap: calibration on data from the model, power against non-power-law data,
reproducibility across processes, the synthetic sets of docs/method.md §3."""

import math
import warnings

import numpy as np
import pytest

from analysis import FitError, PValueResult, fit_tpl, tpl_pvalue
from analysis.bootstrap import _synthetic


def _draw_tpl(alpha, xmin, xmax, size, seed):
    k = np.arange(xmin, xmax + 1)
    p = k.astype(float) ** -alpha
    return np.random.default_rng(seed).choice(k, size=size, p=p / p.sum())


def _quiet_pvalue(x, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return tpl_pvalue(x, n_jobs=1, progress=False, **kw)


def test_data_from_the_model_get_large_p():
    ps = [_quiet_pvalue(_draw_tpl(1.8, 1, 100, 150, seed=s), n_boot=20, seed=s).p_value for s in range(20)]
    assert sum(p > 0.05 for p in ps) >= 16
    assert 0.25 < np.mean(ps) < 0.75  # p is uniform under the null


@pytest.mark.parametrize("name", ["poisson", "geometric"])
def test_non_power_law_degrees_get_p_near_zero(name):
    rng = np.random.default_rng(1)
    x = rng.poisson(20, 1000) if name == "poisson" else rng.geometric(0.05, 1000)
    # wide windows (search_fraction 0.05): with 0.3 a narrow central window of a Poisson
    # sample is itself well described by a TPL (the narrow-window trap of docs/method.md §3)
    res = _quiet_pvalue(x, n_boot=20, seed=2, search_fraction=0.05)
    assert res.p_value <= 0.05
    assert res.observed == res.fit.ks_distance


def test_same_seed_same_distances_for_any_n_jobs():
    x = _draw_tpl(2.0, 1, 60, 120, seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        one = tpl_pvalue(x, n_boot=12, seed=5, n_jobs=1, progress=False)
        two = tpl_pvalue(x, n_boot=12, seed=5, n_jobs=2, progress=False)
        other = tpl_pvalue(x, n_boot=12, seed=6, n_jobs=1, progress=False)
    assert np.array_equal(one.distances, two.distances)
    assert not np.array_equal(one.distances, other.distances)
    assert one.p_value == np.mean(one.distances >= one.observed)
    assert one.std_error == pytest.approx(math.sqrt(one.p_value * (1 - one.p_value) / 12))
    assert isinstance(one, PValueResult) and one.to_dict()["n_boot"] == 12


def test_synthetic_sets_follow_method():
    x = np.concatenate([np.zeros(30, int), _draw_tpl(1.5, 5, 80, 600, seed=1), np.arange(90, 160)])
    fit = fit_tpl(x, xmin=5, xmax=80)
    outside = x[(x < 5) | (x > 80)]
    rng = np.random.default_rng(0)
    sets = [_synthetic(fit, outside, rng) for _ in range(200)]
    assert all(s.size == x.size for s in sets)
    in_tail = np.array([np.mean((s >= 5) & (s <= 80)) for s in sets])
    assert abs(in_tail.mean() - fit.n_tail / fit.n) < 0.01
    rest = np.concatenate([s[(s < 5) | (s > 80)] for s in sets])
    assert set(np.unique(rest)) <= set(np.unique(outside))
    pooled = np.concatenate([s[(s >= 5) & (s <= 80)] for s in sets])
    freq = np.bincount(pooled, minlength=81)[5:81] / pooled.size
    assert np.max(np.abs(freq - fit.pmf(np.arange(5, 81)))) < 0.01


def test_untruncated_bootstrap_refits_untruncated():
    x = np.random.default_rng(4).zipf(2.3, 300)
    res = _quiet_pvalue(x, xmax=math.inf, n_boot=10, seed=1)
    assert math.isinf(res.fit.xmax) and res.distances.shape == (10,)
    again = _quiet_pvalue(x, fit=res.fit, n_boot=10, seed=1)
    assert np.array_equal(res.distances, again.distances)


def test_bad_arguments():
    x = _draw_tpl(2.0, 1, 60, 100, seed=3)
    with pytest.raises(FitError, match="n_boot=0"):
        tpl_pvalue(x, n_boot=0)
    with pytest.raises(FitError, match="n_jobs=0"):
        tpl_pvalue(x, n_boot=5, n_jobs=0)
    fit = fit_tpl(x, xmin=1, xmax=60)
    with pytest.raises(FitError, match="the fit was made from 100 degrees"):
        tpl_pvalue(x[:50], fit=fit, n_boot=5)


def _record_refits(monkeypatch):
    """Record every synthetic set the bootstrap refits, with its options and its distance."""
    import analysis.bootstrap as bootstrap

    calls = []

    def recording(values, **options):
        fit = fit_tpl(values, **options)
        calls.append((np.array(values), options, fit))
        return fit

    monkeypatch.setattr(bootstrap, "fit_tpl", recording)
    return calls


def test_refits_rerun_the_search_not_the_observed_bounds(monkeypatch):
    x = np.concatenate([_draw_tpl(1.3, 2, 150, 400, seed=11), np.random.default_rng(1).integers(1, 300, 60)])
    fit = fit_tpl(x)
    calls = _record_refits(monkeypatch)
    res = tpl_pvalue(x, fit=fit, n_boot=15, seed=2, n_jobs=1, progress=False)
    assert len(calls) == 15
    for (values, options, refit), d in zip(calls, res.distances):
        assert options == {"xmin": None, "xmax": None, "search_fraction": 0.3, "ks": "integers"}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            searched = fit_tpl(values)  # independent: the whole search, by hand
        assert d == searched.ks_distance and (refit.xmin, refit.xmax) == (searched.xmin, searched.xmax)
    assert any((r.xmin, r.xmax) != (fit.xmin, fit.xmax) for _, _, r in calls)


def test_synthetic_tail_count_is_binomial_and_zeros_are_drawn(monkeypatch):
    rng = np.random.default_rng(12)
    x = np.concatenate([np.zeros(150, int), _draw_tpl(1.5, 5, 80, 600, seed=12), rng.integers(100, 200, 250)])
    fit = fit_tpl(x, xmin=5, xmax=80)
    calls = _record_refits(monkeypatch)
    tpl_pvalue(x, fit=fit, n_boot=200, seed=3, n_jobs=1, progress=False)
    sets = [values for values, _, _ in calls]
    in_tail = np.array([np.sum((s >= 5) & (s <= 80)) for s in sets])
    share = fit.n_tail / fit.n
    sd = math.sqrt(fit.n * share * (1 - share))  # Binomial(n, n_tail / n): about 14.6 here
    assert 0.75 * sd < in_tail.std() < 1.25 * sd
    assert abs(in_tail.mean() - fit.n * share) < 4 * sd / math.sqrt(len(sets))
    zeros = np.array([np.mean(s == 0) for s in sets])  # zeros are outside values like any other
    assert abs(zeros.mean() - 150 / x.size) < 0.01


def test_the_fits_own_options_are_reused():
    x = np.random.default_rng(13).zipf(2.4, 500)
    fit = fit_tpl(x, xmax=math.inf, search_fraction=0.6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        reused = tpl_pvalue(x, fit=fit, n_boot=8, seed=4, n_jobs=1, progress=False)
        explicit = tpl_pvalue(x, fit=fit, n_boot=8, seed=4, n_jobs=1, progress=False, xmax=math.inf,
                              search_fraction=0.6)
    assert np.array_equal(reused.distances, explicit.distances)
    with pytest.raises(FitError, match=r"search_fraction=0.3 differs from the fit, which was made with "
                                       r"search_fraction=0.6"):
        tpl_pvalue(x, fit=fit, n_boot=8, search_fraction=0.3)
    with pytest.raises(FitError, match="xmin=2 differs from the fit"):
        tpl_pvalue(x, fit=fit, n_boot=8, xmin=2)
