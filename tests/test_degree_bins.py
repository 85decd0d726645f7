"""Degree bins: explicit, quantile and log boundaries, checked against counts worked out by hand."""

import numpy as np
import pytest

from analysis.attachment_errors import AttachmentError
from analysis.degree_bins import bin_degrees


@pytest.mark.parametrize(
    "bins, match",
    [("linear", "bins must be 'exact', 'log', 'quantile'"), ([3, 2], "strictly increasing"),
     ([1, 2, 3], r"do not cover the degrees 0..4")],
)
def test_error_bad_bins(bins, match):
    with pytest.raises(AttachmentError, match=match):
        bin_degrees([0, 1, 4], bins=bins)


def test_bin_degrees_quantile_balances_counts():
    d = np.arange(100)
    b, index = bin_degrees(d, bins="quantile", n_bins=4)
    assert b.count.tolist() == [25, 25, 25, 25]
    assert b.lo.tolist() == [0, 25, 50, 75] and b.hi.tolist() == [24, 49, 74, 99]
    np.testing.assert_array_equal(index, d // 25)
    np.testing.assert_allclose(b.center, [12, 37, 62, 87])


def test_bin_degrees_log_separates_zero_and_grows_geometrically():
    b, _ = bin_degrees(np.array([0] * 3 + list(range(1, 1001))), bins="log", n_bins=3)
    assert b.labels() == ["0", "1-9", "10-99", "100-1000"]
    with pytest.raises(AttachmentError, match="n_bins must be at least 1"):
        bin_degrees([1, 2], bins="log", n_bins=0)


def test_bin_degrees_matches_a_loop_over_the_nodes():
    d = np.random.default_rng(3).integers(0, 40, size=200)
    b, index = bin_degrees(d, bins=[0, 1, 3, 10, 41])
    for k in range(len(b)):
        members = d[index == k]
        assert b.lo[k] == members.min() and b.hi[k] == members.max() and b.count[k] == members.size
        assert b.center[k] == pytest.approx(members.mean())
    assert all(lo >= edge for lo, edge in zip(b.lo, [0, 1, 3, 10]))
    assert b.to_dict()["count"] == b.count.tolist() and len(b) == 4
