"""Real C. elegans connectomes from cect, checked against their publications.

Published numbers and why cect's data differ where they do:

- Varshney et al. 2011 (PLoS Comput Biol 7, e1001066; text checked against arXiv 0907.2373):
  "Since neurons CANL/R and VC06 do not make synapses with other neurons, we restrict our
  attention to the remaining 279 somatic neurons. The wiring diagram consists of 6393
  chemical synapses, 890 gap junctions, and 1410 neuromuscular junctions"; the chemical
  network has "279 neurons and 2194 directed connections", the gap-junction network
  "279 neurons and 514 gap junction connections".
- Cook et al. 2019 (Nature 571, 63-71): 302 hermaphrodite neurons; the connection counts
  are those of the publication's adjacency matrices (SI 5, the file cect reads): 4879
  non-zero chemical entries summing to 28113, 2883 non-zero gap-junction entries summing
  to 23313 over all cells.
- Witvliet et al. 2021 (Nature 596, 257-261): the datasets released with the publication
  (WormWiring spreadsheets): dataset 1 (L1, birth) 775 non-zero chemical entries and 164
  gap-junction entries, dataset 8 (adult) 2186 and 612.  We found no per-dataset totals in
  the paper's text offline, so these are the counts of the released tables.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import sys
import warnings

import igraph as ig
import numpy as np
import pytest

from analysis.connectomes import (
    INSTALL_COMMAND,
    ConnectomeDependencyError,
    ConnectomeError,
    ConnectomeSource,
    connectome_degrees,
    list_connectomes,
    load_connectome,
)

NAMES = [
    "cook2019-herm",
    "cook2019-male",
    "white1986",
    "varshney2011",
    *[f"witvliet2020-{i}" for i in range(1, 9)],
]


def _matrix_entries(graph: ig.Graph) -> tuple[int, int]:
    """(non-zero entries, total weight) of the symmetric matrix behind an undirected graph."""
    loops = np.asarray(graph.is_loop(), dtype=bool)
    weight = np.asarray(graph.es["weight"], dtype=np.int64)
    return 2 * graph.ecount() - int(loops.sum()), int(2 * weight.sum() - weight[loops].sum())


# ---------------------------------------------------------------- list_connectomes


def test_list_connectomes_names_every_dataset_with_its_source():
    rows = list_connectomes()
    assert [row.name for row in rows] == NAMES
    assert all(isinstance(row, ConnectomeSource) for row in rows)
    for row in rows:
        assert row.doi.startswith("10.") and row.citation and row.weights and row.description
        assert row.cect_reader.startswith("cect.readers.")
        assert row.to_dict()["name"] == row.name
    with pytest.raises(AttributeError):
        rows[0].name = "x"


@pytest.mark.parametrize("name", NAMES)
def test_every_listed_connectome_loads_offline(name):
    for synapses in ("chemical", "electrical", "both"):
        g = load_connectome(name, synapses=synapses)
        assert g.vcount() > 150 and g.ecount() > 50
        assert g["connectome"] == name and g["synapses"] == synapses
        assert g.vs["name"] == sorted(g.vs["name"])
        assert all(isinstance(w, int) and w > 0 for w in g.es["weight"])
        assert not any(g.is_loop())


# ---------------------------------------------------------------- published counts


def test_varshney2011_matches_the_publication():
    chem = load_connectome("varshney2011")
    assert chem.is_directed()
    # cect keeps VC6 (it has neuromuscular junctions only): 280 neurons, 279 connected,
    # exactly the paper's 279 (CANL/R are absent from the data).
    assert chem.vcount() == 280
    gap = load_connectome("varshney2011", synapses="electrical")
    total = connectome_degrees(chem) + connectome_degrees(gap)
    assert int((total > 0).sum()) == 279
    assert chem.vs[int(np.flatnonzero(total == 0)[0])]["name"] == "VC6"
    assert chem.ecount() == 2194  # published: 2194 directed connections
    # Published 6393 synapses; the released table (NeuronConnect.xls) sums to 6394.
    assert sum(chem.es["weight"]) == 6394
    assert not gap.is_directed()
    assert gap.ecount() == 514  # published: 514 gap-junction connections
    # The released table has 887 gap junctions between distinct neurons plus three of a
    # neuron with itself (RIBL, RIBR, VA8): 890, the published total.
    assert sum(gap.es["weight"]) == 887
    with_loops = load_connectome("varshney2011", synapses="electrical", self_loops=True)
    assert sum(with_loops.es["weight"]) == 890
    loops = [with_loops.vs[e.source]["name"] for e in with_loops.es if e.is_loop()]
    assert sorted(loops) == ["RIBL", "RIBR", "VA8"]


def test_varshney2011_with_every_cell_adds_the_lumped_body_wall_muscle():
    g = load_connectome("varshney2011", neurons_only=False)
    assert g.vcount() == 281 and "BWM" in g.vs["name"]
    bwm = g.vs.find(name="BWM").index
    assert g.degree(bwm, mode="in") > 0 and g.degree(bwm, mode="out") == 0


def test_cook2019_hermaphrodite_matches_the_publication():
    g = load_connectome("cook2019-herm")
    assert g.vcount() == 302  # the hermaphrodite's 302 neurons
    every = load_connectome("cook2019-herm", neurons_only=False, self_loops=True)
    assert every.ecount() == 4879 and sum(every.es["weight"]) == 28113
    gap = load_connectome("cook2019-herm", synapses="electrical", neurons_only=False, self_loops=True)
    assert _matrix_entries(gap) == (2883, 23313)
    assert set(g.vs["name"]) < set(every.vs["name"])


@pytest.mark.parametrize(
    ("name", "neurons", "chemical", "gap_entries"),
    [("witvliet2020-1", 161, 775, 164), ("witvliet2020-8", 180, 2186, 612)],
)
def test_witvliet_stages_match_the_released_tables(name, neurons, chemical, gap_entries):
    assert load_connectome(name).vcount() == neurons  # cect's neuron classification
    every = load_connectome(name, neurons_only=False, self_loops=True)
    assert every.ecount() == chemical
    gap = load_connectome(name, synapses="electrical", neurons_only=False, self_loops=True)
    assert _matrix_entries(gap)[0] == gap_entries


def test_witvliet_brain_grows_from_birth_to_adulthood():
    synapses = [sum(load_connectome(f"witvliet2020-{i}").es["weight"]) for i in (1, 8)]
    assert synapses[1] > 5 * synapses[0]


# ---------------------------------------------------------------- independent reference


def test_chemical_graph_equals_cects_own_networkx_graph():
    reader = importlib.import_module("cect.readers.VarshneyDataReader")
    with contextlib.redirect_stdout(io.StringIO()):
        reference = reader.get_instance(from_cache=True).to_networkx_graph("Generic_CS")
    g = load_connectome("varshney2011")
    names = set(g.vs["name"])
    expected = {
        (u, v): int(d["weight"]) for u, v, d in reference.edges(data=True) if u in names and v in names and u != v
    }
    got = {(g.vs[e.source]["name"], g.vs[e.target]["name"]): e["weight"] for e in g.es}
    assert got == expected


def test_degrees_agree_with_igraph():
    chem = load_connectome("witvliet2020-4")
    gap = load_connectome("witvliet2020-4", synapses="electrical")
    for kind, mode in (("in", "in"), ("out", "out"), ("total", "all")):
        assert connectome_degrees(chem, kind=kind).tolist() == chem.degree(mode=mode)
        weighted = connectome_degrees(chem, kind=kind, weighted=True)
        assert weighted.tolist() == [int(s) for s in chem.strength(mode=mode, weights="weight")]
        assert connectome_degrees(gap, kind=kind).tolist() == gap.degree()
        assert connectome_degrees(gap, kind=kind, weighted=True).tolist() == [
            int(s) for s in gap.strength(weights="weight")
        ]


@pytest.mark.parametrize("self_loops", [False, True])
def test_both_is_chemical_plus_electrical(self_loops):
    kw = dict(neurons_only=False, self_loops=self_loops)
    chem = load_connectome("witvliet2020-7", synapses="chemical", **kw)
    gap = load_connectome("witvliet2020-7", synapses="electrical", **kw)
    both = load_connectome("witvliet2020-7", synapses="both", **kw)
    assert both.is_directed() and both.vs["name"] == chem.vs["name"] == gap.vs["name"]
    assert both.ecount() == chem.ecount() + 2 * gap.ecount()
    assert both.es["synapse"].count("electrical") == 2 * gap.ecount()
    for kind in ("in", "out", "total"):
        for weighted in (False, True):
            expected = connectome_degrees(chem, kind=kind, weighted=weighted) + connectome_degrees(
                gap, kind=kind, weighted=weighted
            )
            assert np.array_equal(connectome_degrees(both, kind=kind, weighted=weighted), expected)


def test_degrees_are_int64_with_zeros_kept():
    g = load_connectome("varshney2011")
    for kind in ("in", "out", "total"):
        degrees = connectome_degrees(g, kind=kind)
        assert degrees.dtype == np.int64 and len(degrees) == g.vcount()
    assert int((connectome_degrees(g) == 0).sum()) == 1


def test_degrees_feed_a_discrete_power_law_fit():
    # fit_tpl (helper "fits") takes int64 arrays and drops zeros itself; here the
    # degrees go through the reference package for discrete power laws.
    import powerlaw

    degrees = connectome_degrees(load_connectome("varshney2011"), kind="total")
    with np.errstate(all="ignore"), warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore", DeprecationWarning)
        fit = powerlaw.Fit(degrees[degrees > 0], discrete=True, verbose=False)
    assert 1.5 < fit.power_law.alpha < 6 and fit.power_law.xmin >= 1


def test_degrees_feed_fit_tpl():
    from analysis import fit_tpl

    degrees = connectome_degrees(load_connectome("varshney2011"), kind="in")
    # The default search (30% of values at each end) ends on its edge for these small
    # in-degrees, and says so.
    with pytest.warns(UserWarning, match="edge of its search range"):
        fit_tpl(degrees)
    # Searching every value finds the degenerate two-degree window, and says so.
    with pytest.warns(UserWarning, match=r"window \[1, 2\] holds only two degrees"):
        fit = fit_tpl(degrees, search_fraction=1.0)
    assert fit.n_zero_dropped == int((degrees == 0).sum())
    assert fit.xmin >= 1 and fit.xmax <= degrees.max()


# ---------------------------------------------------------------- errors


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ConnectomeError, match=r"unknown connectome 'celegans'.*varshney2011"):
        load_connectome("celegans")


def test_bad_options_are_named():
    with pytest.raises(ConnectomeError, match=r"synapses must be .* not 'gap'"):
        load_connectome("varshney2011", synapses="gap")
    g = load_connectome("witvliet2020-1")
    with pytest.raises(ConnectomeError, match=r"kind must be .* not 'both'"):
        connectome_degrees(g, kind="both")


def test_weighted_degrees_need_whole_weights():
    g = ig.Graph(n=2, edges=[(0, 1)], directed=True)
    with pytest.raises(ConnectomeError, match="'weight' edge attribute"):
        connectome_degrees(g, weighted=True)
    g.es["weight"] = [2.5]
    with pytest.raises(ConnectomeError, match=r"edge \[0, 1\] has weight 2.5"):
        connectome_degrees(g, weighted=True)


def test_missing_cect_names_the_install_command(monkeypatch):
    for module in [m for m in sys.modules if m == "cect" or m.startswith("cect.")]:
        monkeypatch.setitem(sys.modules, module, None)
    monkeypatch.setitem(sys.modules, "cect", None)
    with pytest.raises(ConnectomeDependencyError, match=r"needs the optional package 'cect'") as info:
        load_connectome("varshney2011")
    assert INSTALL_COMMAND in str(info.value)
    assert "pip install 'nn2graph[connectomes]' && pip install --no-deps 'cect==0.3.5'" in str(info.value)
    assert isinstance(info.value, ImportError)
