"""analysis.development: Witvliet stages as snapshots, checked against a plain pair-by-pair count."""

from collections import defaultdict

import numpy as np
import pytest

from analysis import load_connectome
from analysis.development import DevelopmentError, check_stages, development_attachment


def _pair_counts(graph, weighted):
    """{frozenset(names): connections} summed over both directions, self-loops left out."""
    names = graph.vs["name"]
    counts = defaultdict(float)
    for e in graph.es:
        a, b = names[e.source], names[e.target]
        if a != b:
            counts[frozenset((a, b))] += e["weight"] if weighted else 1
    return counts


@pytest.mark.parametrize("weighted", [True, False])
def test_gains_and_losses_match_a_plain_count(weighted):
    r = development_attachment([4, 5], weighted=weighted)
    assert r.stages == (4, 5) and len(r.transitions) == 1  # no "overall" for two stages
    t = r.transitions[0]
    g0, g1 = load_connectome("witvliet2020-4"), load_connectome("witvliet2020-5")
    common = set(g0.vs["name"]) & set(g1.vs["name"])
    c0, c1 = _pair_counts(g0, weighted), _pair_counts(g1, weighted)
    gained, lost = defaultdict(float), defaultdict(float)
    for pair in set(c0) | set(c1):
        if pair <= common:
            change = c1.get(pair, 0) - c0.get(pair, 0)
            for name in pair:
                (gained if change > 0 else lost)[name] += abs(change)
    names = list(t.result.names)
    assert set(names) == common
    assert np.allclose(t.result.gained, [gained[n] for n in names])
    assert np.allclose(t.result.lost, [lost[n] for n in names])
    assert t.result.n_gained == pytest.approx(sum(gained.values()) / 2)
    assert t.result.n_lost == pytest.approx(sum(lost.values()) / 2)
    assert set(t.result.only_in_g1) == set(g1.vs["name"]) - set(g0.vs["name"])
    # stage-0 degrees in the same unit: summed weights (or partner edges) in g0
    deg = dict(zip(g0.vs["name"], g0.strength(weights="weight" if weighted else None, loops=False)))
    assert t.result.degrees.tolist() == [deg[n] for n in names]
    row = t.summary()
    assert row["transition"] == "4-5" and row["gained"] == t.result.n_gained
    assert row["gains_origin_slope"] == t.result.omega_gains.origin_slope


def test_consecutive_transitions_then_overall(tmp_path):
    r = development_attachment([1, 3, 8])
    assert [t.label for t in r.transitions] == ["1-3", "3-8", "1-8"]
    assert len(development_attachment([1, 3, 8], overall=False).transitions) == 2
    fig = r.plot_summary(path=tmp_path / "s.png")
    assert (tmp_path / "s.png").stat().st_size > 5_000
    assert [t.label for t in r.consecutive] == ["1-3", "3-8"]
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["1-3", "3-8"]
    d = r.to_dict()
    assert d["stages"] == [1, 3, 8] and d["transitions"][2]["result"]["n_gained"] == r.transitions[2].result.n_gained


def test_development_gains_follow_degree():
    # The data: in each L1 transition, neurons with more synapses gain more (Spearman > 0.9).
    for t in development_attachment([1, 2, 3], overall=False).transitions:
        assert t.result.omega_gains.spearman > 0.9


@pytest.mark.parametrize("stages,message", [
    ([1], r"at least two"),
    ([0, 1], r"stage 0 is not a Witvliet dataset: expected integers 1-8"),
    ([5, 9], r"stage 9 is not"),
    ([3, 2], r"must be in developmental order"),
])
def test_bad_stages(stages, message):
    with pytest.raises(DevelopmentError, match=message):
        check_stages(stages)


def test_gap_junctions_alone_not_both():
    r = development_attachment([7, 8], synapses="electrical")
    assert r.synapses == "electrical" and r.transitions[0].result.n_gained > 0
    with pytest.raises(DevelopmentError, match=r"synapses='both': expected 'chemical' or 'electrical'"):
        development_attachment([7, 8], synapses="both")
