"""analysis.alternatives: MLEs and normalisations against brute force, Vuong's test against
powerlaw's, and the right law winning on data drawn from it."""

import math

import numpy as np
import pytest
from powerlaw.statistics import loglikelihood_ratio
from scipy import stats

from analysis import FitError, compare_alternatives, fit_tpl
from analysis.alternatives import (_exponential, _lognormal, _lognormal_log_norm, _poisson, _power_law,
                                   _vuong)


def _pmf_brute(logf, a, b):
    k = np.arange(a, b + 1, dtype=float)
    w = np.exp(logf(k))
    return k, w / w.sum()


def _check_mle_and_norm(law, tail, a, b, logf_of_params, name_order):
    params, pointwise = law(tail, a, b)
    # normalised over the window by brute force
    k, pmf = _pmf_brute(lambda kk: logf_of_params(kk, *[params[n] for n in name_order]), a, b)
    assert np.allclose(pointwise, np.log(pmf[tail - a]), rtol=0, atol=1e-8)
    # a maximum: nudging any parameter lowers the log-likelihood
    for n in name_order:
        for h in (-1e-3, 1e-3):
            nudged = dict(params)
            nudged[n] = params[n] * (1 + h) if params[n] != 0 else h
            _, pm = _pmf_brute(lambda kk: logf_of_params(kk, *[nudged[m] for m in name_order]), a, b)
            assert np.sum(np.log(pm[tail - a])) <= pointwise.sum() + 1e-9


def test_exponential_mle_and_normalisation():
    tail = np.random.default_rng(0).geometric(0.1, 500) + 2
    tail = tail[tail <= 60]
    _check_mle_and_norm(_exponential, tail, 3, 60, lambda k, lam: -lam * k, ["lambda"])
    rising = 70 - tail  # increasing pmf on the window: lambda < 0
    params, _ = _exponential(rising, 10, 67)
    assert params["lambda"] < 0


def test_poisson_mle_and_normalisation():
    tail = np.random.default_rng(1).poisson(25, 800)
    tail = tail[(tail >= 15) & (tail <= 40)]
    _check_mle_and_norm(_poisson, tail, 15, 40, lambda k, lam: stats.poisson.logpmf(k, lam), ["lambda"])


def test_lognormal_mle_and_normalisation():
    tail = np.rint(np.random.default_rng(2).lognormal(2.5, 0.6, 800)).astype(int)
    tail = tail[(tail >= 2) & (tail <= 100)]
    _check_mle_and_norm(_lognormal, tail, 2, 100,
                        lambda k, mu, s: -((np.log(k) - mu) ** 2) / (2 * s * s) - np.log(k), ["mu", "sigma"])


def test_lognormal_normalisation_on_wide_windows():
    k = np.arange(3, 1_500_001, dtype=float)
    for mu, sigma in [(2.0, 1.0), (8.0, 3.0), (-5.0, 6.0)]:
        direct = np.log(np.sum(np.exp(-((np.log(k) - mu) ** 2) / (2 * sigma**2) - np.log(k))))
        assert abs(_lognormal_log_norm(mu, sigma, 3, 1_500_000) - direct) < 1e-9


def test_power_law_alternative_is_untruncated_mle():
    tail = np.random.default_rng(3).zipf(2.3, 600)
    params, pointwise = _power_law(tail, 1)
    from scipy.special import zeta

    assert np.allclose(pointwise, -params["alpha"] * np.log(tail) - math.log(zeta(params["alpha"], 1)), atol=1e-9)


def test_vuong_matches_powerlaw():
    rng = np.random.default_rng(4)
    l1, l2 = rng.normal(-3, 1, 300), rng.normal(-3.1, 1.2, 300)
    R, p = _vuong(l1, l2, nested=False)
    R_ref, p_ref = loglikelihood_ratio(l1.copy(), l2.copy(), normalized_ratio=True)
    assert R == pytest.approx(R_ref, rel=1e-12) and p == pytest.approx(p_ref, rel=1e-12)
    _, p_nested = _vuong(l1, l2, nested=True)
    _, p_nested_ref = loglikelihood_ratio(l1.copy(), l2.copy(), nested=True)
    assert p_nested == pytest.approx(p_nested_ref, rel=1e-9)


def _draw_tpl(alpha, xmin, xmax, size, seed):
    k = np.arange(xmin, xmax + 1)
    p = k.astype(float) ** -alpha
    return np.random.default_rng(seed).choice(k, size=size, p=p / p.sum())


def test_each_law_wins_on_its_own_data():
    x = _draw_tpl(2.0, 1, 300, 3000, seed=0)
    res = compare_alternatives(x, fit_tpl(x, xmin=1, xmax=300))
    assert res["exponential"].preferred == "tpl" and res["poisson"].preferred == "tpl"
    assert res["power_law"].nested and res.tpl_favoured
    geo = np.random.default_rng(5).geometric(0.05, 2000)
    res = compare_alternatives(geo, fit_tpl(geo, xmin=1, xmax=int(geo.max())))
    assert res["exponential"].preferred == "exponential" and res.best == "exponential" and not res.tpl_favoured
    poi = np.random.default_rng(6).poisson(30, 2000)
    res = compare_alternatives(poi, fit_tpl(poi, xmin=int(poi.min()), xmax=int(poi.max())))
    assert res["poisson"].preferred == "poisson" and res.best == "poisson"


def test_untruncated_fit_has_no_power_law_row_and_serialises():
    import json

    x = np.random.default_rng(7).zipf(2.2, 800)
    res = compare_alternatives(x, fit_tpl(x, xmin=2, xmax=math.inf))
    assert [t.name for t in res.tests] == ["exponential", "lognormal", "poisson"]
    json.dumps(res.to_dict())
    assert res.to_markdown().count("\n") == 5
    with pytest.raises(KeyError, match="no alternative 'power_law'"):
        res["power_law"]


def test_degrees_must_match_the_fit():
    x = _draw_tpl(2.0, 1, 50, 300, seed=1)
    fit = fit_tpl(x, xmin=1, xmax=50)
    with pytest.raises(FitError, match="pass the degrees that were fitted"):
        compare_alternatives(x[:100], fit)


def _direct_log_norm(mu, sigma, a, b):
    k = np.arange(a, b + 1, dtype=float)
    logf = -((np.log(k) - mu) ** 2) / (2 * sigma**2) - np.log(k)
    top = logf.max()  # shifted, then summed pairwise (a running logaddexp loses 1e-5 over 3e6 terms)
    return float(top + np.log(np.sum(np.exp(logf - top))))


@pytest.mark.parametrize("mu, sigma", [(2.0, 1.0), (-150.0, 12.0), (-1.5e5, 400.0)])
def test_lognormal_normaliser_equals_a_direct_sum(mu, sigma):
    """Narrow, wide and untruncated windows, including the power-law-like fits with mu far below
    log xmin (the words data: mu ~ -1.5e5), where the mass beyond the head underflows in linear space."""
    for a, b in [(7, 60), (7, 3_000_000)]:
        assert abs(_lognormal_log_norm(mu, sigma, a, b) - _direct_log_norm(mu, sigma, a, b)) < 1e-9
    # untruncated: the direct sum to 3e6 plus its tail, which for these laws is below 1e-9 (mu = 2) or
    # the integral of a power law of exponent 1 + (log k - mu) / sigma^2 beyond 3e6 (added here)
    k_end = 3_000_000
    head = _direct_log_norm(mu, sigma, 7, k_end)
    slope = 1 + (math.log(k_end) - mu) / sigma**2
    logf_end = -((math.log(k_end) - mu) ** 2) / (2 * sigma**2) - math.log(k_end)
    tail = logf_end + math.log(k_end / (slope - 1)) if mu < 0 else -math.inf
    assert abs(_lognormal_log_norm(mu, sigma, 7, math.inf) - np.logaddexp(head, tail)) < 2e-6


def test_words_lognormal_is_not_significantly_better():
    """Clauset et al.'s word frequencies: the power law from xmin = 7 and the lognormal cannot be
    told apart (powerlaw: R = +0.44, p = 0.66)."""
    import os

    import powerlaw

    x = np.loadtxt(os.path.join(os.path.dirname(powerlaw.__file__), "reference_data", "words.txt")).astype(int)
    fit = fit_tpl(x, xmax=math.inf)
    test = compare_alternatives(x, fit)["lognormal"]
    assert math.isfinite(test.R) and math.isfinite(test.loglikelihood)
    assert test.p > 0.1 and test.preferred == "neither"
    assert test.loglikelihood <= fit.loglikelihood + 1e-6  # the power law is the lognormal's limit


def test_nan_is_never_significant():
    from analysis.alternatives import AlternativeTest, AlternativesResult

    nan_p = AlternativeTest(name="lognormal", params={}, loglikelihood=math.inf, R=-7.0, p=math.nan)
    nan_r = AlternativeTest(name="lognormal", params={}, loglikelihood=math.inf, R=math.nan, p=math.nan)
    assert nan_p.preferred == "neither" and nan_r.preferred == "neither"
    fit = fit_tpl(np.arange(1, 50), xmin=1, xmax=49)
    assert AlternativesResult(fit=fit, tests=(nan_r,)).tpl_favoured


def test_nested_vuong_p_is_chi2_of_twice_the_log_ratio():
    # a log-likelihood ratio of 0.5: p = P(chi2_1 > 1) = erfc(sqrt(0.5)) = 0.3173 (0.4795 for chi2.sf(0.5))
    l_alt = np.zeros(100)
    l_tpl = np.full(100, 0.005) + np.linspace(-0.01, 0.01, 100)
    _, p = _vuong(l_tpl, l_alt, nested=True)
    assert p == pytest.approx(math.erfc(math.sqrt(0.5)), rel=1e-9) and 0.1 < p < 0.5
