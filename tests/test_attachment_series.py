"""Tests of analysis.attachment_series and analysis.layered_changes."""

from __future__ import annotations

import igraph as ig
import numpy as np
import pytest

from analysis import attachment_series, layered_changes, preferential_attachment
from analysis.attachment import AttachmentError
from analysis.growth import random_layered_graph, simulate_growth


def _grown_series(mode: str, steps: int = 4):
    graphs = [random_layered_graph([300, 300, 10], n_edges=3000, seed=0)]
    for k in range(steps):
        graphs.append(simulate_growth(graphs[-1], n_new=20000, mode=mode, seed=100 + k))
    return attachment_series(graphs, steps=list(range(0, 10 * (steps + 1), 10)), n_bins=6)


def test_preferential_growth_elasticity_series_is_one():
    series = _grown_series("preferential")
    assert series.steps.tolist() == [10, 20, 30, 40]
    elasticity = series.delta_series("gains", "input")
    assert np.all(np.abs(elasticity - 1.0) < 0.15), elasticity
    # nothing is lost: the losses' elasticity is undefined at every step
    assert np.all(np.isnan(series.delta_series("losses", "input")))
    assert np.all(series.omega_series("gains", "fc1", "origin_r2") > 0.9)


def test_uniform_growth_elasticity_series_is_zero():
    elasticity = _grown_series("uniform").delta_series("gains", "input")
    assert np.all(np.abs(elasticity) < 0.15), elasticity


def _layered(n_in, n_hidden, edges):
    g = ig.Graph(n=n_in + n_hidden + 1, edges=edges + [(n_in + j, n_in + n_hidden) for j in range(n_hidden)],
                 directed=True)
    g.vs["layer"] = ["input"] * n_in + ["fc1"] * n_hidden + ["out"]
    return g


def test_layered_changes_against_enumeration():
    rng = np.random.default_rng(3)
    n_in, n_hidden = 12, 9
    pairs = [(i, n_in + j) for i in range(n_in) for j in range(n_hidden)]
    m0 = rng.random(len(pairs)) < 0.3
    m1 = m0.copy()
    flip = rng.random(len(pairs)) < 0.25
    m1[flip] = ~m1[flip]
    g0 = _layered(n_in, n_hidden, [p for p, keep in zip(pairs, m0) if keep])
    g1 = _layered(n_in, n_hidden, [p for p, keep in zip(pairs, m1) if keep])
    r = layered_changes(g0, g1, bins="exact")
    gained = [p for p, a, b in zip(pairs, m0, m1) if b and not a]
    lost = [p for p, a, b in zip(pairs, m0, m1) if a and not b]
    assert r.gains.n_new == len(gained) and r.losses.n_new == len(lost)
    for kind, changed in (("gains", gained), ("losses", lost)):
        per_node = np.zeros(n_in + n_hidden)
        for i, j in changed:
            per_node[i] += 1
            per_node[j] += 1
        result = getattr(r, kind)
        assert result.new_connections["input"].tolist() == per_node[:n_in].tolist()
        assert result.new_connections["fc1"].tolist() == per_node[n_in:].tolist()
        # Delta: mean change over all pairs of each (d1, d2) cell, by enumeration
        d_in = np.array([sum(1 for (i, j), k in zip(pairs, m0) if k and i == u) for u in range(n_in)])
        d_hid = np.array([sum(1 for (i, j), k in zip(pairs, m0) if k and j == n_in + v) for v in range(n_hidden)])
        table = result.deltas[0]
        for a, lo in enumerate(table.bins1.lo.tolist()):
            for b, hi in enumerate(table.bins2.lo.tolist()):
                cell = [(i, j) for (i, j) in pairs if d_in[i] == lo and d_hid[j - n_in] == hi]
                assert table.delta[a, b] == pytest.approx(sum(1 for p in cell if p in changed) / len(cell))


def test_layered_changes_gains_equal_preferential_attachment_when_nothing_is_lost():
    g0 = random_layered_graph([40, 30, 20, 5], n_edges=200, seed=1)
    g1 = simulate_growth(g0, n_new=150, seed=2)
    r, pa = layered_changes(g0, g1), preferential_attachment(g0, g1)
    assert r.losses.n_new == 0 and r.gains.n_new == pa.n_new == 300
    assert r.gains.delta_rows() == pa.delta_rows() and r.gains.omega_summary() == pa.omega_summary()


def test_preferential_attachment_still_refuses_losses_and_names_the_alternative():
    g0 = random_layered_graph([20, 20, 5], n_edges=100, seed=1)
    g1 = g0.copy()
    g1.delete_edges([0])
    with pytest.raises(AttachmentError, match="layered_changes"):
        preferential_attachment(g0, g1)


def test_series_needs_two_snapshots_and_one_label_each():
    g = random_layered_graph([20, 20, 5], n_edges=100, seed=1)
    with pytest.raises(AttachmentError, match="two snapshots"):
        attachment_series([g])
    with pytest.raises(AttachmentError, match="labels"):
        attachment_series([g, g, g], steps=[0, 1])
    series = attachment_series([g, g])
    with pytest.raises(AttachmentError, match="kind"):
        series.delta_series("both", "input")
    with pytest.raises(AttachmentError, match="no lower 'fc9'"):
        series.delta_series("gains", "fc9")
