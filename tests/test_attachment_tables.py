"""Delta tables and Omega fits from per-pair changes, against loops over every pair and scipy."""

import json

import numpy as np
import pytest
from scipy import stats

from analysis.attachment_tables import delta_table, line_fits, omega_fit, result_json
from analysis.degree_bins import bin_degrees


def test_delta_table_matches_a_loop_over_all_pairs():
    rng = np.random.default_rng(1)
    d1, d2 = rng.integers(0, 9, size=12), rng.integers(1, 6, size=10)
    end1, end2 = rng.integers(0, 12, size=30), rng.integers(0, 10, size=30)
    change = rng.integers(1, 3, size=30).astype(float)
    b1, b2 = bin_degrees(d1, bins="log", n_bins=3), bin_degrees(d2, bins="exact")
    t = delta_table("a", "b", b1, b2, end1, end2, change, 0.25)
    sums, pairs = np.zeros((len(b1[0]), len(b2[0]))), np.zeros((len(b1[0]), len(b2[0])), dtype=int)
    for i in range(12):
        for j in range(10):
            pairs[b1[1][i], b2[1][j]] += 1
            sums[b1[1][i], b2[1][j]] += change[(end1 == i) & (end2 == j)].sum()
    np.testing.assert_array_equal(t.n_pairs, pairs)
    np.testing.assert_allclose(t.changed, sums)
    np.testing.assert_allclose(t.delta, sums / pairs)
    np.testing.assert_allclose(t.expected_pa(), 0.25 * np.outer(b1[0].center, b2[0].center))


def test_delta_table_of_a_set_paired_with_itself_leaves_out_the_self_pairs():
    binned = bin_degrees([1, 1, 2], bins="exact")
    t = delta_table("node", "node", binned, binned, np.array([0]), np.array([1]), np.array([1.0]), 0.0,
                    self_pairs=np.arange(3))
    assert t.n_pairs.tolist() == [[2, 2], [2, 0]]
    assert t.delta[0, 0] == 0.5 and np.isnan(t.delta[1, 1])


def test_omega_fit_and_line_fits_match_scipy():
    rng = np.random.default_rng(2)
    degrees = rng.integers(1, 20, size=80)
    change = 0.3 * degrees + rng.normal(0, 1, size=80)
    fit = omega_fit("fc1", degrees, change, "exact", 10, 0.3)
    x, y = fit.bins.center, fit.omega
    for k in range(len(x)):
        assert y[k] == pytest.approx(change[degrees == x[k]].mean())
    ls = stats.linregress(x, y)
    assert fit.slope == pytest.approx(ls.slope) and fit.r2 == pytest.approx(ls.rvalue**2)
    assert fit.spearman == pytest.approx(stats.spearmanr(x, y).statistic)
    assert fit.predicted_slope == 0.3 and fit.summary()["n_nodes"] == 80
    assert line_fits(np.array([2.0, 2.0]), np.array([1.0, 3.0]))["slope"] is None  # x constant
    assert line_fits(np.array([2.0, 2.0]), np.array([1.0, 3.0]))["origin_slope"] == 1.0


def test_result_json_writes_what_it_returns(tmp_path):
    path = tmp_path / "r.json"
    text = result_json({"x": np.arange(3), "y": np.float64(0.5)}, path)
    assert json.loads(path.read_text()) == json.loads(text) == {"x": [0, 1, 2], "y": 0.5}
