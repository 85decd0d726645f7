"""analysis.tpl against independent computations: powerlaw, igraph, brute force, known laws."""

import contextlib
import io
import math
import random
import warnings

import igraph as ig
import numpy as np
import powerlaw
import pytest
from scipy.optimize import brentq
from scipy.special import zeta

from analysis import FitError, TPLFit, fit_tpl
from analysis._tpl_search import _candidates, _Data, _fit_pairs, _ks_exact, _ks_points
from analysis.tpl import _validate_degrees
from nn2graph.exceptions import NN2GraphError


def _draw_tpl(alpha, xmin, xmax, size, seed):
    """Independent sampler: numpy choice with the exact probabilities."""
    k = np.arange(xmin, xmax + 1)
    p = k.astype(float) ** -alpha
    return np.random.default_rng(seed).choice(k, size=size, p=p / p.sum())


def _model(alpha, xmin, xmax):
    return TPLFit(alpha=alpha, xmin=xmin, xmax=xmax, ks_distance=0.0, n=0, n_tail=0, n_zero_dropped=0,
                  loglikelihood=0.0, n_candidates=0)


def _brute_alpha(tail, a, b):
    """MLE by brentq on the score, direct sums over every integer."""
    k = np.arange(a, b + 1, dtype=float)
    lk = np.log(k)
    target = np.mean(np.log(tail))

    def score(al):
        w = np.exp(-al * (lk - lk[0]))
        return np.sum(w * lk) / np.sum(w) - target

    return brentq(score, -40, 40, xtol=1e-13)


def _brute_d(tail, alpha, a, b, ks):
    """KS distance by a loop over every integer of the window (or the data values)."""
    tail = np.sort(tail)
    k = np.arange(a, b + 1, dtype=float)
    pmf = np.exp(-alpha * (np.log(k) - np.log(a)))
    pmf /= pmf.sum()
    s_model = np.cumsum(pmf[::-1])[::-1]
    xs = range(a, b + 1) if ks == "integers" else np.unique(tail)
    d = 0.0
    for x in xs:
        s_data = np.mean(tail >= x)
        d = max(d, abs(s_data - s_model[int(x) - a]))
    return d


def _slow_search(x, fraction, ks):
    """Reference joint search: brentq + brute-force D over every candidate pair, in order."""
    pos = np.sort(x[x > 0])
    low, high = _candidates(pos, fraction)
    best = (math.inf, None, None, None)
    for a in low:
        for b in high:
            tail = pos[(pos >= a) & (pos <= b)]
            if np.unique(tail).size < 2:
                continue
            al = _brute_alpha(tail, int(a), int(b))
            d = _brute_d(tail, al, int(a), int(b), ks)
            if d < best[0]:
                best = (d, int(a), int(b), al)
    return best


def _quiet_powerlaw(data, **kw):
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = powerlaw.Fit(data, discrete=True, estimate_discrete=False, **kw)
        return fit.power_law.alpha, fit.power_law


@pytest.mark.parametrize("alpha", [1.5, 2.0, 2.5])
def test_matches_powerlaw_at_fixed_bounds(alpha):
    x = _draw_tpl(alpha, 2, 600, 4000, seed=int(alpha * 10))
    fit = fit_tpl(x, xmin=3, xmax=400)
    pl_alpha, dist = _quiet_powerlaw(x, xmin=3, xmax=400, parameter_ranges={"alpha": [-5.0, 10.0]})
    assert abs(fit.alpha - pl_alpha) < 1e-4
    tail = x[(x >= 3) & (x <= 400)]
    assert fit.n_tail == tail.size
    # powerlaw's log-likelihood at our alpha equals ours, and is at least the one at its own alpha
    dist.alpha = fit.alpha
    ll_pl_ours = float(np.sum(np.log(dist.pdf(tail))))
    assert abs(fit.loglikelihood - ll_pl_ours) <= 1e-6 * abs(ll_pl_ours)
    dist.alpha = pl_alpha
    assert fit.loglikelihood >= float(np.sum(np.log(dist.pdf(tail)))) - 1e-9


def test_alpha_below_one_and_negative_not_clipped():
    x = _draw_tpl(0.3, 5, 300, 3000, seed=1)
    fit = fit_tpl(x, xmin=5, xmax=300)
    assert abs(fit.alpha - _brute_alpha(x, 5, 300)) < 1e-8
    x = _draw_tpl(-1.5, 10, 60, 2000, seed=2)  # increasing law
    fit = fit_tpl(x, xmin=10, xmax=60)
    assert fit.alpha < 0 and abs(fit.alpha - _brute_alpha(x, 10, 60)) < 1e-8
    assert fit.on_search_edge == ()


@pytest.mark.parametrize("alpha", [0.5, 1.0, 2.0, 3.5])
def test_recovery_n5000(alpha):
    x = _draw_tpl(alpha, 1, 2000, 5000, seed=int(alpha * 100))
    fixed = fit_tpl(x, xmin=1, xmax=2000)
    assert abs(fixed.alpha - alpha) < 0.05
    with warnings.catch_warnings(record=True):  # steep laws: the window may end at the smallest xmax
        warnings.simplefilter("always")
        searched = fit_tpl(x, search_fraction=0.1)
    assert abs(searched.alpha - alpha) < 0.05 + 0.05 * (alpha > 3)  # steep tails leave few points


@pytest.mark.parametrize("ks", ["integers", "data"])
def test_ks_equals_brute_force(ks):
    rng = np.random.default_rng(5)
    for _ in range(12):
        a = int(rng.integers(1, 90))
        b = a + int(rng.integers(5, 400))
        x = np.concatenate([_draw_tpl(rng.uniform(-1, 3), a, b, 300, seed=int(rng.integers(1 << 30))),
                            rng.integers(1, 1000, 50)])
        tail = x[(x >= a) & (x <= b)]
        if np.unique(tail).size < 2:
            continue
        fit = fit_tpl(x, xmin=a, xmax=b, ks=ks)
        assert abs(fit.alpha - _brute_alpha(tail, a, b)) < 1e-7
        assert abs(fit.ks_distance - _brute_d(tail, fit.alpha, a, b, ks)) < 1e-10


def test_ks_integers_sees_gaps_that_data_convention_misses():
    x = np.array([5] * 30 + [6] * 30 + [50] * 40)  # the model CCDF at 7 is far below the data's
    integers = fit_tpl(x, xmin=5, xmax=50)
    data = fit_tpl(x, xmin=5, xmax=50, ks="data")
    assert integers.alpha == data.alpha
    assert integers.ks_distance > data.ks_distance


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("ks", ["integers", "data"])
def test_fast_search_equals_slow_reference(seed, ks):
    rng = np.random.default_rng(seed)
    x = np.concatenate([_draw_tpl(rng.uniform(0.5, 2.5), 2, 120, 150, seed=seed), rng.integers(0, 3, 10),
                        rng.integers(100, 150, 8)])
    fit = fit_tpl(x, ks=ks)
    d, a, b, al = _slow_search(x, 0.3, ks)
    assert (fit.xmin, fit.xmax) == (a, b)
    assert abs(fit.alpha - al) < 1e-6
    assert abs(fit.ks_distance - d) < 1e-10
    pos = x[x > 0]
    low, high = _candidates(np.sort(pos), 0.3)
    assert fit.n_candidates == sum(int(np.unique(pos[(pos >= u) & (pos <= v)]).size >= 2) for u in low for v in high)
    assert fit.n_zero_dropped == int(np.sum(x == 0)) and fit.n == x.size


def test_search_candidates_follow_method():
    pos = np.array([1, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    low, high = _candidates(pos, 0.3)
    assert low.tolist() == [1, 2] and high.tolist() == [7, 8, 9]
    low, high = _candidates(pos, 1.0)
    assert low.tolist() == high.tolist() == list(range(1, 10))


def test_vectorised_pairs_equal_single_fits():
    rng = np.random.default_rng(9)
    x = rng.integers(1, 5000, 400)
    data = _Data.from_sorted(np.sort(x))
    a = np.array([1, 7, 7, 30, 200], float)
    b = np.array([4000, 90, 4999, 60, 3000], float)
    pairs = _fit_pairs(data, data.values[np.searchsorted(data.values, a)].astype(float), b, -40.0, 40.0)
    d = _ks_exact(data, pairs, "integers")
    for s in range(a.size):
        if pairs.j[s] - pairs.i[s] < 1:
            continue
        single = fit_tpl(x, xmin=int(pairs.a[s]), xmax=int(b[s]))
        assert abs(single.alpha - pairs.alpha[s]) < 1e-9
        assert abs(single.ks_distance - d[s]) < 1e-12


def test_untruncated_matches_igraph_on_power_law_and_barabasi():
    rng = np.random.default_rng(3)
    # igraph draws from Python's random module: seed it, or the graph changes from run to run.
    ig.set_random_number_generator(random.Random(0))
    try:
        barabasi = np.array(ig.Graph.Barabasi(3000, 2).degree())
    finally:
        ig.set_random_number_generator(random)
    samples = [rng.zipf(2.5, 2000), barabasi]
    for x in samples:
        ref = ig.power_law_fit(x.tolist(), method="discrete", p_precision=0.5)  # p unused: fast
        fit = fit_tpl(x, xmax=math.inf, search_fraction=1.0, ks="data")
        assert fit.xmin == int(ref.xmin)
        assert math.isinf(fit.xmax)
        assert abs(fit.alpha - ref.alpha) < 1e-3
        assert abs(fit.ks_distance - ref.D) < 1e-6


def test_untruncated_alpha_is_hurwitz_mle():
    x = np.random.default_rng(4).zipf(2.2, 3000)
    fit = fit_tpl(x, xmin=3, xmax=math.inf)
    tail = x[x >= 3]
    ll = lambda al: -al * np.log(tail).sum() - tail.size * math.log(zeta(al, 3))  # noqa: E731
    assert abs(fit.loglikelihood - ll(fit.alpha)) < 1e-8 * abs(ll(fit.alpha))
    assert ll(fit.alpha) >= max(ll(fit.alpha - 1e-4), ll(fit.alpha + 1e-4))


def test_huge_degrees_no_overflow():
    rng = np.random.default_rng(6)
    x = rng.zipf(1.6, 4000)
    x = np.concatenate([x[x < 10**7], [10**7, 10**7 - 1, 5 * 10**6]])
    fit = fit_tpl(x, xmin=1, xmax=10**7)
    # independent: Hurwitz zeta differences and a numerical derivative of log zeta
    target = np.log(x).mean()
    logz = lambda s: math.log(zeta(s, 1) - zeta(s, 10**7 + 1))  # noqa: E731
    score = lambda s: -(logz(s + 1e-6) - logz(s - 1e-6)) / 2e-6 - target  # noqa: E731
    assert abs(fit.alpha - brentq(score, 1.05, 3.0, xtol=1e-12)) < 1e-5
    assert abs(fit.loglikelihood - (-fit.alpha * np.log(x).sum() - x.size * logz(fit.alpha))) < 1e-8 * x.size
    with pytest.warns(UserWarning, match="edge of its search range"):
        searched = fit_tpl(x)
    assert searched.on_search_edge == ("xmax",)
    assert np.isfinite(searched.alpha) and np.isfinite(searched.loglikelihood)
    assert 0 < searched.ks_distance < 1


def test_pmf_ccdf_sample_consistent():
    law = _model(1.7, 3, 60)
    k = np.arange(0, 70)
    pmf = law.pmf(k)
    assert pmf[:3].sum() == 0 and pmf[61:].sum() == 0
    assert abs(pmf.sum() - 1) < 1e-12
    ref = np.arange(3, 61, dtype=float) ** -1.7
    assert np.allclose(pmf[3:61], ref / ref.sum(), rtol=1e-12)
    assert np.allclose(law.ccdf(k), np.cumsum(pmf[::-1])[::-1], atol=1e-12)
    assert law.ccdf(2.5) == 1.0 and law.ccdf(60.5) == 0.0
    draws = law.sample(20000, seed=1)
    assert draws.min() >= 3 and draws.max() <= 60
    freq = np.bincount(draws, minlength=61)[3:61] / draws.size
    assert np.max(np.abs(freq - pmf[3:61])) < 0.01
    assert np.array_equal(law.sample(50, seed=7), law.sample(50, seed=7))
    inf_law = _model(2.5, 1, math.inf)
    d = inf_law.sample(5000, seed=2)
    assert abs(np.mean(d == 1) - 1 / zeta(2.5, 1)) < 0.02


@pytest.mark.parametrize("table", [4096, 7, 1])
@pytest.mark.parametrize(("alpha", "xmin", "xmax"), [(1.7, 3, 60), (-2.0, 55, 146), (2.5, 1, 400), (0.4, 10, 3000)])
def test_sample_is_the_inverse_cdf_of_direct_sums(monkeypatch, alpha, xmin, xmax, table):
    # the draw for u is the largest k with P(X >= k) >= u, P from a direct sum of k**-alpha;
    # tables of 7 and 1 integers send most draws through the bisection beyond the table
    import analysis.tpl as tpl_module

    monkeypatch.setattr(tpl_module, "_SAMPLE_TABLE", table)
    k = np.arange(xmin, xmax + 1, dtype=float)
    w = k**-alpha
    ccdf = np.cumsum(w[::-1])[::-1] / w.sum()
    u = 1.0 - np.random.default_rng(11).random(4000)
    expected = k[(ccdf[None, :] >= u[:, None]).sum(axis=1) - 1].astype(np.int64)
    draws = _model(alpha, xmin, xmax).sample(4000, seed=11)
    assert np.mean(draws == expected) > 0.999  # a u within rounding of a CCDF value may go either way
    assert np.all(np.abs(draws - expected) <= 1)


def test_untruncated_sample_reaches_beyond_the_table():
    law = _model(1.3, 2, math.inf)
    draws = law.sample(20000, seed=5)
    far = 2 + 4096
    # P(X >= far) = zeta(1.3, far) / zeta(1.3, 2)
    assert draws.max() > far and abs(np.mean(draws >= far) - zeta(1.3, far) / zeta(1.3, 2)) < 0.01


def test_on_search_edge_is_reported():
    # a power law on [1, 40] and a uniform lump on [1000, 1099]: the xmax candidates (the 40
    # largest values) all hold part of the lump, the smallest holds the least
    x = np.concatenate([_draw_tpl(1.5, 1, 40, 300, seed=3), np.arange(1000, 1100)])
    with pytest.warns(UserWarning, match=r"edge of its search range \(xmax\)"):
        fit = fit_tpl(x, search_fraction=0.1, xmin=1)
    assert fit.on_search_edge == ("xmax",) and fit.xmax == 1060
    # data concentrated at the top of the window drive alpha to the lower bound
    x = np.array([100] * 1 + [101] * 500)
    with pytest.warns(UserWarning, match="alpha"):
        fit = fit_tpl(x, xmin=100, xmax=101)
    assert fit.on_search_edge == ("alpha",) and fit.alpha == -40.0


def test_to_dict_is_json_ready():
    import json

    fit = fit_tpl(np.arange(1, 100), xmax=math.inf, xmin=5)
    d = json.loads(json.dumps(fit.to_dict()))
    assert d["xmax"] == "inf" and d["xmin"] == 5 and d["n_tail"] == 95


@pytest.mark.parametrize("bad, match", [
    ([], "empty"),
    ([1, 2, np.nan], r"degrees\[2\] is nan"),
    ([1, 2, 3.5], r"degrees\[2\] = 3.5 is not an integer"),
    ([1, -2, 3], r"degrees\[1\] = -2 is negative"),
    ([0, 0, 0], "all 3 degrees are 0"),
    ([0, 4, 4, 4], "all positive degrees equal 4"),
    (["a", "b"], "must be numbers"),
])
def test_bad_degrees(bad, match):
    with pytest.raises(FitError, match=match):
        fit_tpl(bad)
    assert issubclass(FitError, NN2GraphError) and issubclass(FitError, ValueError)


def test_bad_options():
    x = np.arange(1, 50)
    with pytest.raises(FitError, match="ks='foo'"):
        fit_tpl(x, ks="foo")
    with pytest.raises(FitError, match="search_fraction=0"):
        fit_tpl(x, search_fraction=0)
    with pytest.raises(FitError, match=r"xmin=2.5 is not a positive integer"):
        fit_tpl(x, xmin=2.5)
    with pytest.raises(FitError, match="must be larger than xmin"):
        fit_tpl(x, xmin=10, xmax=5)
    with pytest.raises(FitError, match="holds two distinct degrees"):
        fit_tpl(x, xmin=49, xmax=60)


def test_validate_keeps_int64():
    pos, zeros, n = _validate_degrees(np.array([0, 3, 10**12, 2], dtype=np.uint64))
    assert pos.dtype == np.int64 and pos.tolist() == [2, 3, 10**12] and zeros == 1 and n == 4


def test_pair_blocks_cover_valid_pairs_in_order(monkeypatch):
    import analysis._tpl_search as tpl  # the search engine, its functions and constants

    rng = np.random.default_rng(0)
    for _ in range(30):
        nb, na = int(rng.integers(1, 200)), int(rng.integers(1, 200))
        first = np.sort(rng.integers(0, nb + 1, na))
        monkeypatch.setattr(tpl, "_BLOCK_PAIRS", int(rng.integers(1, 400)))
        blocks = list(tpl._blocks(first, nb))
        got = [(int(r), int(c)) for rows, cols in blocks for r, c in zip(rows, cols)]
        assert got == [(i, j) for i in range(na) for j in range(first[i], nb)]
        # a block exceeds the limit only when one xmin alone has more pairs
        assert all(rows.size <= tpl._BLOCK_PAIRS or np.unique(rows).size == 1 for rows, _ in blocks)


@pytest.mark.parametrize("points", [(3, 9, 33), (9, 33, 129, 513)])
def test_pruned_search_equals_exhaustive_search(monkeypatch, points):
    """Pruning by lower bounds keeps exactly the winner of an exhaustive evaluation of D."""
    import analysis._tpl_search as tpl  # the search engine, its functions and constants

    monkeypatch.setattr(tpl, "_PRUNE_POINTS", points)
    rng = np.random.default_rng(11)
    x = np.concatenate([_draw_tpl(1.2, 1, 3000, 500, seed=4), rng.integers(1, 3000, 100)])
    fit = fit_tpl(x)
    data = _Data.from_sorted(np.sort(x))
    low, high = _candidates(np.sort(x), 0.3)
    a = np.repeat(low, high.size).astype(float)
    b = np.tile(high, low.size).astype(float)
    valid = np.searchsorted(data.values, b, side="right") - 1 >= np.searchsorted(data.values, a) + 1
    pairs = _fit_pairs(data, a[valid], b[valid], -40.0, 40.0)
    d = _ks_exact(data, pairs, "integers")
    s = np.lexsort((pairs.b, pairs.a, d))[0]
    assert (fit.xmin, fit.xmax, fit.ks_distance) == (pairs.a[s], pairs.b[s], d[s])
    assert fit.n_candidates == valid.sum()


def test_ks_data_equals_powerlaw_D_untruncated():
    x = np.random.default_rng(8).zipf(2.4, 1500)
    fit = fit_tpl(x, xmin=2, xmax=math.inf, ks="data")
    _, dist = _quiet_powerlaw(x, xmin=2, parameter_ranges={"alpha": [1.01, 10.0]})
    dist.alpha = fit.alpha
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dist.compute_distance_metrics()
    assert abs(fit.ks_distance - dist.D) < 1e-10


def test_zoomed_bounds_are_lower_bounds_reached_where_they_say():
    import analysis._tpl_search as tpl  # the search engine, its functions and constants

    rng = np.random.default_rng(12)
    x = np.concatenate([_draw_tpl(0.8, 1, 4000, 900, seed=5), rng.integers(1, 4000, 100)])
    data = _Data.from_sorted(np.sort(x))
    a = np.array([1.0, 3.0, 40.0, 200.0, 3000.0])
    b = np.array([3900.0, 2500.0, 800.0, 3990.0, 3100.0])
    pairs = _fit_pairs(data, data.values[np.searchsorted(data.values, a)].astype(float), b, -40.0, 40.0)
    d = _ks_exact(data, pairs, "integers")
    coarse, at = tpl._ks_bound(data, pairs, "integers", 9)
    zoom, at2 = tpl._ks_bound(data, pairs, "integers", 33, at, (pairs.j - pairs.i) / 8)
    for s in range(a.size):
        for bound, k in ((coarse[s], at[s]), (zoom[s], at2[s])):
            assert bound <= d[s] + 1e-15
            assert pairs.i[s] <= k <= pairs.j[s]
            point = tpl._ks_points(data, pairs.take(np.array([s])), np.zeros(1, int), np.array([k]), "integers")
            assert point[0] == bound
        if pairs.j[s] - pairs.i[s] + 1 <= 33:  # few values: the bound is D
            assert zoom[s] == d[s]


def test_seeded_search_equals_unseeded(monkeypatch):
    import analysis._tpl_search as tpl  # the search engine, its functions and constants

    rng = np.random.default_rng(13)
    x = np.concatenate([_draw_tpl(0.9, 2, 20000, 700, seed=6), rng.integers(1, 20000, 80)])
    seeded = fit_tpl(x)
    assert seeded.n_candidates >= tpl._BLOCK_PAIRS  # the seed is used
    monkeypatch.setattr(tpl, "_SEED_PAIRS", 10**9)  # no sub-grid: no seed
    plain = fit_tpl(x)
    assert (seeded.xmin, seeded.xmax, seeded.alpha, seeded.ks_distance) == \
        (plain.xmin, plain.xmax, plain.alpha, plain.ks_distance)


def test_a_searched_two_value_window_is_flagged():
    # Any two values are fitted exactly, so the search may pick such a window (D ~ 0):
    # the fit says so instead of passing it off as a power law.
    x = np.random.default_rng(0).zipf(2.0, 2000)
    with pytest.warns(UserWarning) as record:
        fit = fit_tpl(x)
    assert any("window [1, 2] holds only two degrees" in str(w.message) for w in record)
    assert (fit.xmin, fit.xmax) == (1, 2)
    assert fit.ks_distance < 1e-9
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fixed = fit_tpl(x, xmin=1, xmax=2)  # bounds chosen by the user: no warning
    assert fixed.alpha == pytest.approx(fit.alpha)


# ------------------------------------------------------------------ the public layer: options, candidates, input


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_candidates_take_the_floor_of_the_fraction():
    # n = 11: 0.3 n = 3.3, so 3 values at each end (the ceiling would take 4)
    pos = np.arange(1, 12)
    low, high = _candidates(pos, 0.3)
    assert low.tolist() == [1, 2, 3] and high.tolist() == [9, 10, 11]
    fit = fit_tpl(pos)
    assert fit.n_candidates == 9  # every pair of {1, 2, 3} x {9, 10, 11}; 16 with the ceiling


def test_d_counts_the_integer_xmax_when_it_is_not_a_data_value():
    # data on 1..9 only, window [1, 10]: the model puts mass on 10, the data none; the largest
    # gap is S_model(10) - S_data(10) = pmf(10) at the integer xmax itself
    x = np.repeat(np.arange(1, 10), [5, 6, 7, 8, 9, 10, 11, 12, 40])
    fit = fit_tpl(x, xmin=1, xmax=10)
    brute = _brute_d(x, fit.alpha, 1, 10, "integers")
    assert abs(fit.ks_distance - brute) < 1e-12
    assert abs(brute - float(fit.pmf(10))) < 1e-12  # the maximum is at xmax


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_untruncated_search_covers_every_distinct_value_by_default():
    import os

    x = np.loadtxt(os.path.join(os.path.dirname(powerlaw.__file__), "reference_data", "words.txt")).astype(int)
    fit = fit_tpl(x, xmax=math.inf)
    assert fit.search_options["search_fraction"] == 1.0
    assert fit.xmin == 7 and abs(fit.alpha - 1.95) < 0.01  # Clauset et al.'s fit
    assert fit.n_candidates == np.unique(x).size - 1  # every distinct value but the largest
    assert fit_tpl(x).search_options["search_fraction"] == 0.3
    assert fit_tpl(x, xmax=math.inf, search_fraction=0.3).xmin == 1  # told otherwise


def test_fit_records_its_search_options():
    x = _draw_tpl(1.5, 1, 200, 500, seed=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        fit = fit_tpl(x, xmin=2, search_fraction=0.5, ks="data")
    assert fit.search_options == {"xmin": 2, "xmax": None, "search_fraction": 0.5, "ks": "data"}
    assert fit_tpl(x, xmax=math.inf, xmin=3).search_options["xmax"] == math.inf
    assert fit_tpl(x, xmax=math.inf, xmin=3).to_dict()["search_options"]["xmax"] == "inf"


@pytest.mark.parametrize("bad, match", [
    (np.array([3, 2**63, 5], dtype=np.uint64), r"degrees\[1\] = 9223372036854775808 is too large"),
    ([3, 2**70, 5], r"degrees\[1\] = 1180591620717411303424 is too large"),
    ([3, 5, -(2**70)], r"degrees\[2\] = -1180591620717411303424 is negative"),
    (np.arange(1, 13).reshape(3, 4), r"one-dimensional .* shape \(3, 4\)"),
    ([1, 2, None], r"degrees\[2\] = None is of type NoneType"),
])
def test_bad_degrees_named_clearly(bad, match):
    with pytest.raises(FitError, match=match):
        fit_tpl(bad)


def _exhaustive(x, fraction, ks, untruncated=False):
    """Every valid window evaluated by the exact machinery (one batch), smallest (D, xmin, xmax)."""
    pos = np.sort(x[x > 0])
    data = _Data.from_sorted(pos)
    low, high = _candidates(pos, fraction)
    high = np.array([math.inf]) if untruncated else high
    a = np.repeat(low, high.size).astype(float)
    b = np.tile(high, low.size).astype(float)
    valid = np.searchsorted(data.values, np.minimum(b, 2.0**62), side="right") - 1 >= \
        np.searchsorted(data.values, a) + 1
    pairs = _fit_pairs(data, a[valid], b[valid], *((1.0, 40.0) if untruncated else (-40.0, 40.0)))
    d = _ks_exact(data, pairs, ks)
    s = np.lexsort((pairs.b, pairs.a, d))[0]
    return d[s], pairs.a[s], pairs.b[s], pairs.alpha[s], int(valid.sum())


def _test_sets(rng):
    """Data sets of every kind the certified filter meets: ties, all distinct, heavy tails,
    a rising law, exact pmf counts (D small for every window: tight bounds), huge values."""
    k = np.arange(3, 80)
    exact = np.repeat(k, np.rint(1500 * k ** -1.3 / np.sum(k ** -1.3)).astype(int))
    return [
        ("poisson", rng.poisson(40, 400)),
        ("zipf", np.minimum(rng.zipf(1.8, 300), 10**6)),
        ("lognormal", np.rint(rng.lognormal(3, 0.8, 300)).astype(int)),
        ("distinct", rng.choice(np.arange(1, 20000), 200, replace=False)),
        ("mixture", np.concatenate([_draw_tpl(1.2, 2, 900, 220, seed=int(rng.integers(1 << 30))),
                                    rng.integers(1, 900, 40)])),
        ("rising", _draw_tpl(-0.8, 20, 400, 300, seed=int(rng.integers(1 << 30)))),
        ("exact pmf", exact),
        ("ties", rng.integers(1, 60, 500)),
        ("huge", rng.choice(np.arange(10**9, 10**9 + 10**6), 150, replace=False)),
    ]


@pytest.fixture
def small_tiles(monkeypatch):
    """Seed and certified filter switched on for searches of a few thousand windows."""
    import analysis._tpl_search as tpl  # the search engine, its functions and constants

    monkeypatch.setattr(tpl, "_BLOCK_PAIRS", 64)
    monkeypatch.setattr(tpl, "_SEED_PAIRS", 16)
    monkeypatch.setattr(tpl, "_TILE", 16)
    monkeypatch.setattr(tpl, "_CELL", 4)
    return tpl


@pytest.mark.parametrize("ks", ["integers", "data"])
def test_certified_search_equals_exhaustive_search(small_tiles, monkeypatch, ks):
    """With the tile filter discarding most windows before alpha is solved, the winner, alpha
    and D are those of an exhaustive evaluation of every window, on many kinds of data."""
    calls = []
    real = small_tiles._tile_bound
    monkeypatch.setattr(small_tiles, "_tile_bound", lambda *args: calls.append(1) or real(*args))
    for name, x in _test_sets(np.random.default_rng(21)):
        for fraction in (0.3, 1.0) if name not in ("distinct", "huge") else (0.3,):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fit = fit_tpl(x, ks=ks, search_fraction=fraction)
            d, a, b, al, count = _exhaustive(np.asarray(x), fraction, ks)
            assert (fit.xmin, fit.xmax) == (a, b), (name, fraction)
            assert abs(fit.alpha - al) <= 1e-12 * max(1.0, abs(al)), (name, fraction)
            assert abs(fit.ks_distance - d) <= 1e-15, (name, fraction)
            assert fit.n_candidates == count
        if name in ("zipf", "lognormal", "ties", "exact pmf"):  # untruncated, every distinct xmin
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fit = fit_tpl(x, ks=ks, xmax=math.inf, search_fraction=1.0)
            d, a, b, al, count = _exhaustive(np.asarray(x), 1.0, ks, untruncated=True)
            assert (fit.xmin, fit.alpha, fit.ks_distance, fit.n_candidates) == (a, al, d, count), name
    assert len(calls) > 50  # the filter was used


def test_certified_search_equals_slow_reference(small_tiles, monkeypatch):
    """Against the independent reference (brentq, D by a loop over every integer)."""
    calls = []
    real = small_tiles._tile_bound
    monkeypatch.setattr(small_tiles, "_tile_bound", lambda *args: calls.append(1) or real(*args))
    rng = np.random.default_rng(22)
    for seed in range(2):
        x = np.concatenate([_draw_tpl(rng.uniform(0.3, 2.0), 2, 300, 90, seed=seed), rng.integers(1, 300, 12)])
        for ks in ("integers", "data"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # edge of the search range
                fit = fit_tpl(x, ks=ks)
            d, a, b, al = _slow_search(x, 0.3, ks)
            assert (fit.xmin, fit.xmax) == (a, b)
            assert abs(fit.alpha - al) < 1e-6 and abs(fit.ks_distance - d) < 1e-10
    assert len(calls) >= 4


def test_certified_search_is_independent_of_tile_and_split_order(small_tiles, monkeypatch):
    """Visiting the tiles best first, and each tile's split points in the order of its probes,
    only changes how soon the threshold falls: with tiles and split points in row-major, reversed
    and random order the search finds the window, alpha and D of an exhaustive evaluation; and
    the probes' values at the split points that set the order never exceed their exact D."""
    tpl = small_tiles
    rng = np.random.default_rng(24)
    real = tpl._best_first
    seen = []

    def checked(at_split, starts):  # the values that set the order: lower bounds of each probe's D
        seen.append(at_split.size)
        assert np.all(at_split >= 0.0)
        return real(at_split, starts)

    def row_major(at_split, starts):
        return np.arange(starts.size - 1), np.tile(np.arange(at_split.shape[1]), (starts.size - 1, 1))

    def reversed_(at_split, starts):
        tiles, splits = real(at_split, starts)
        return tiles[::-1], splits[:, ::-1]

    def random_(at_split, starts):
        return rng.permutation(starts.size - 1), np.argsort(rng.random((starts.size - 1, at_split.shape[1])), axis=1)

    for name, x in _test_sets(np.random.default_rng(25)):
        if name in ("exact pmf", "huge", "rising"):
            continue
        d, a, b, al, count = _exhaustive(np.asarray(x), 0.3, "integers")
        for order in (checked, row_major, reversed_, random_):
            monkeypatch.setattr(tpl, "_best_first", order)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fit = fit_tpl(x)
            assert (fit.xmin, fit.xmax, fit.n_candidates) == (a, b, count), (name, order.__name__)
            assert abs(fit.alpha - al) <= 1e-12 * max(1.0, abs(al)), (name, order.__name__)
            assert abs(fit.ks_distance - d) <= 1e-15, (name, order.__name__)
    assert len(seen) >= 4 and sum(seen) > 100  # the filter ordered tiles
    # _split_values: |S_data - S_model| at data values inside each window, 0 outside; never above D
    x = _test_sets(np.random.default_rng(26))[1][1]
    data = _Data.from_sorted(np.sort(x[x > 0]))
    lo, hi = np.sort(rng.choice(data.values.size, (2, 200)), axis=0)
    keep = hi > lo
    pairs = _fit_pairs(data, data.values[lo[keep]].astype(float), data.values[hi[keep]].astype(float), -40.0, 40.0)
    hot_k = rng.choice(data.values.size, 6, replace=False)
    values = tpl._split_values(data, pairs, hot_k, "integers")
    outside = (hot_k[None, :] < pairs.i[:, None]) | (hot_k[None, :] > pairs.j[:, None])
    assert np.all(values[outside] == 0.0) and np.any(values > 0.0)
    assert np.all(values <= _ks_exact(data, pairs, "integers")[:, None] + 1e-15)


def test_spread_gives_every_window_its_cells_value(small_tiles):
    """_spread raises each window's bound to its cell's value, whole and partial cells, on a
    column slice of a larger array (as _split_bounds passes a split point's rectangle)."""
    tpl = small_tiles  # cells of 4 x 4 windows
    rng = np.random.default_rng(27)
    for na, nb in [(8, 8), (9, 13), (3, 5), (16, 7), (1, 4)]:
        cell = rng.normal(size=(-(-na // 4), -(-nb // 4)))
        cell[0, 0] = -np.inf
        full = rng.normal(size=(na, nb + 3))
        before = full.copy()
        expected = np.fmax(full[:, 3:], np.repeat(np.repeat(cell, 4, axis=0), 4, axis=1)[:na, :nb])
        tpl._spread(cell, full[:, 3:])
        assert np.array_equal(full[:, 3:], expected) and np.array_equal(full[:, :3], before[:, :3])


def test_tile_bound_is_a_lower_bound_of_d(small_tiles):
    """_tile_bound never exceeds the exact D of a window (both KS conventions), and it is
    close to D for most windows (else the filter would discard nothing)."""
    tpl = small_tiles
    rng = np.random.default_rng(23)
    ratios = []
    for name, x in _test_sets(rng):
        pos = np.sort(x[x > 0])
        data = _Data.from_sorted(pos)
        for fraction in (0.3, 1.0) if name not in ("distinct", "huge") else (0.3,):
            low, high = (c.astype(float) for c in _candidates(pos, fraction))
            ia = np.searchsorted(data.values, low)
            jb = np.searchsorted(data.values, high, side="right") - 1
            first_b = np.searchsorted(jb, ia + 1)
            hot = tpl._hot_points(data, low, high, first_b, -40.0, 40.0, "integers")
            # a split below the Euler-Maclaurin start and one at a random data value as well
            hot = np.unique(np.r_[hot, data.values[min(3, data.values.size - 1)],
                                  rng.choice(data.values)]).astype(float)
            splits = [(v, int(np.searchsorted(data.values, v)),
                       np.concatenate([[0.0], np.cumsum(data.counts * np.log(data.values / v))])) for v in hot]
            for rows, cols in tpl._tiles(first_b, high.size):
                valid = tpl._valid(first_b, rows, cols)
                bound = tpl._tile_bound(data, low[rows], high[cols], valid, splits, -40.0, 40.0)
                p, q = np.nonzero(valid)
                pairs = _fit_pairs(data, low[rows][p], high[cols][q], -40.0, 40.0)
                for ks in ("integers", "data"):
                    d = _ks_exact(data, pairs, ks)
                    assert np.all(bound[p, q] <= d + 1e-15), name
                ratios.append(bound[p, q] / np.maximum(d, 1e-300))
    ratios = np.concatenate(ratios)
    assert ratios.size > 10000 and np.mean(ratios > 0.5) > 0.3


def _split_point_values(data, pairs, x, ks):
    """|S_data(x) - S_model(x; alpha)| of each window at the data value x (exact alpha), the
    quantity the split bounds bound from below (at u + 1 too for ks='integers': the larger)."""
    k = np.full(pairs.i.size, int(np.searchsorted(data.values, x)))
    return _ks_points(data, pairs, np.arange(pairs.i.size), k, ks)


def test_taylor_bound_is_a_lower_bound_and_tight_near_alpha():
    """_taylor_bound, at exponents from 1e-6 to 0.3 away from each window's alpha, never
    exceeds |S_data(x) - S_model(x; alpha)| at its split point x, and is mostly within 1e-6 of
    it when the exponent is within 1e-4 of alpha."""
    import analysis._tpl_search as tpl  # the search engine, its functions and constants

    rng = np.random.default_rng(31)
    checked, near = 0, []
    for name, x in _test_sets(rng):
        data = _Data.from_sorted(np.sort(x[x > 0]))
        vals = data.values.astype(float)
        if vals.size < 6:
            continue
        for _ in range(12):
            lo, hi = np.sort(rng.choice(vals.size, 2, replace=False))
            if hi - lo < 3:
                continue
            xv = vals[rng.integers(lo + 1, hi + 1)]  # a split point inside the window
            pairs = _fit_pairs(data, vals[lo: lo + 1], vals[hi: hi + 1], -40.0, 40.0)
            if pairs.edge[0]:
                continue
            exact = _split_point_values(data, pairs, xv, "data")[0]
            kx = int(np.searchsorted(data.values, xv))
            cl = np.concatenate([[0.0], np.cumsum(data.counts * np.log(data.values / xv))])
            ia, jb = pairs.i.copy(), pairs.j.copy()
            for off in (0.0, 1e-6, -1e-6, 1e-4, -1e-4, 1e-3, -3e-3, 3e-2, -0.3):
                beta = np.array([[pairs.alpha[0] + off]])
                low, up, n_low, n_up, l_low, l_up = tpl._split_sums(
                    data, pairs.a, pairs.b, ia, jb, xv, kx, cl, beta, np.arange(1), np.arange(1), 1, 0, 2)
                m = n_low + n_up
                w = np.log(pairs.b) - np.log(pairs.a)
                bound = tpl._taylor_bound(beta[:, 0], low[:, 0], up[:, 0], n_up / m, (l_low + l_up) / m, w,
                                          -40.0, 40.0)[0]
                assert bound <= exact + 1e-12, (name, off, bound, exact)
                checked += 1
                if abs(off) <= 1e-4:
                    near.append(exact - bound)
    # the slack of 1e-8 on the likelihood equation moves alpha by up to 1e-8 / Var(log k)
    near = np.array(near)
    assert checked > 300 and near.size > 100 and np.mean(near <= 1e-6) > 0.9 and np.max(near) < 1e-4


def test_cell_bounds_are_lower_bounds_of_every_window_of_the_cell(small_tiles):
    """_cell_bounds gives every window of a cell a bound that no window of the cell exceeds
    (checked against |S_data(x) - S_model(x; alpha)| at the split point, hence against D), on
    every kind of data, with cells of 4 and 7 windows a side; and it discards windows."""
    tpl = small_tiles
    rng = np.random.default_rng(32)
    raised = total = 0
    big = ("distinct n=20,000", rng.choice(np.arange(1, 10**6), 20000, replace=False))
    for cell in (4, 7, 32):
        tpl._CELL = cell
        for name, x in _test_sets(rng) if cell < 32 else [big]:
            pos = np.sort(x[x > 0])
            data = _Data.from_sorted(pos)
            low_c, high_c = (c.astype(float) for c in _candidates(pos, 1.0 if name not in ("distinct", "huge") else 0.3))
            ia = np.searchsorted(data.values, low_c)
            jb = np.searchsorted(data.values, high_c, side="right") - 1
            split_points = rng.choice(data.values[1:-1], 3).astype(float)
            if cell == 32:  # where D of a window in the middle of the 96 x 96 peaks, as _hot_points takes it
                mid = _fit_pairs(data, low_c[48:49], high_c[-48:-47], -40.0, 40.0)
                split_points = data.values[_ks_exact(data, mid, "data", argmax=True)[1]].astype(float)
            for xv in split_points:
                na, c0 = int(np.searchsorted(low_c, xv, side="right")), int(np.searchsorted(high_c, xv))
                if na < 2 * cell or high_c.size - c0 < 2 * cell:
                    continue
                rows, cols = np.arange(na)[: 3 * cell], np.arange(c0, high_c.size)[-3 * cell:]  # wide windows
                a, b = low_c[rows], high_c[cols]
                valid = (jb[cols][None, :] >= ia[rows][:, None] + 1)
                p, q = np.nonzero(valid)
                pairs = _fit_pairs(data, a[p], b[q], -40.0, 40.0)
                lo, hi = float(pairs.alpha.min()), float(pairs.alpha.max())
                # exponents inside the search range, as _tile_bound takes them (alpha is clipped there)
                beta = np.linspace(max(-40.0 + 1e-9, lo - 0.1 * (hi - lo) - 1e-4),
                                   min(40.0 - 1e-9, hi + 0.1 * (hi - lo) + 1e-4), 6 if cell < 32 else 24)[:, None]
                kx = int(np.searchsorted(data.values, xv))
                cl = np.concatenate([[0.0], np.cumsum(data.counts * np.log(data.values / xv))])
                sums = tpl._split_sums(data, a, b, ia[rows], jb[cols], xv, kx, cl, beta, np.arange(a.size),
                                       np.arange(b.size), a.size, 0, 1)
                bound = np.full(valid.shape, -np.inf)
                tpl._cell_bounds(*sums, valid, bound)
                exact = np.minimum(_split_point_values(data, pairs, xv, "data"),
                                   _split_point_values(data, pairs, xv, "integers"))
                assert np.all(bound[p, q] <= exact + 1e-12), name
                if cell < 32:
                    raised += int(np.sum(bound[p, q] > 0.5 * exact))
                    total += p.size
                else:  # many values a window: cells of 32 x 32 windows still bound tightly
                    assert np.mean(bound[p, q] > 0.5 * exact) > 0.25, name
    # small data sets: a few values a window, so a cell's windows differ much (weak bounds)
    assert total > 2000 and raised > 0.03 * total
