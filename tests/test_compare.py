"""analysis.compare: one analysis for network layers and connectomes, sources, the comparison table."""

import contextlib
import csv
import io
import math
import warnings

import igraph as ig
import numpy as np
import pytest

from analysis import (
    FitError,
    analyse_degrees,
    assess_power_law,
    compare_alternatives,
    connectome_degrees,
    fit_tpl,
    load_connectome,
    tpl_pvalue,
)
from analysis.compare import (
    CompareError,
    DegreeSet,
    compare_networks,
    markdown_table,
    plot_degree_ccdfs,
    resolve_source,
)
from nn2graph import to_graph
from nn2graph.degree_csv import write_degree_csv
from tests.graph_models import mlp, prune_all


def _quiet_powerlaw(data, **kw):
    import powerlaw

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), \
            warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return powerlaw.Fit(data, discrete=True, estimate_discrete=False, verbose=False, **kw).power_law


@pytest.fixture(scope="module")
def tiny_network():
    model = prune_all(mlp((30, 40, 30, 5)), 0.6, seed=3)
    return to_graph(model, (30,))


# ------------------------------------------------------------------ analyse_degrees


@pytest.mark.filterwarnings("ignore:TPL fit on the edge of its search range")
@pytest.mark.filterwarnings("ignore:the searched window .* holds only two degrees")
def test_analysis_is_the_fits_modules_own_results():
    x = np.random.default_rng(4).zipf(2.2, 400)
    x = np.minimum(x, 500)
    a = analyse_degrees(x, n_boot=15, seed=7)
    fit = fit_tpl(x)
    assert a.fit == fit
    assert a.tail_fit == fit_tpl(x, xmax=math.inf, search_fraction=1.0)
    ref = tpl_pvalue(x, fit=fit, n_boot=15, seed=7, n_jobs=1, progress=False)
    assert a.p_value == ref.p_value and np.array_equal(a.pvalue.distances, ref.distances)
    assert a.best == compare_alternatives(x, fit).best
    assert (a.n, a.n_zero, a.max_degree) == (400, 0, int(x.max()))
    assert a.mean_degree == pytest.approx(x.mean())


def test_no_bootstrap_and_bad_n_boot():
    a = analyse_degrees([0, 1, 1, 2, 3, 5, 8, 13, 1, 2, 4, 6], n_boot=0)
    assert a.pvalue is None and a.p_value is None and a.row()["p_value"] is None and a.row()["n_boot"] == 0
    assert a.n_zero == 1 and a.mean_degree == pytest.approx(46 / 12)
    with pytest.raises(FitError, match="n_boot=-1"):
        analyse_degrees([1, 2, 3], n_boot=-1)


@pytest.mark.parametrize("synapses,kind,reported", [("chemical", "in", 3.17), ("electrical", "total", 3.14)])
def test_varshney_steep_tails(synapses, kind, reported):
    # Varshney et al. 2011 report power-law tails with exponents 3.17 (chemical in-degree) and
    # 3.14 (gap-junction degree); the untruncated tail fit finds them, and powerlaw agrees at
    # the same xmin once its default alpha range (which stops at 3) is widened.
    d = connectome_degrees(load_connectome("varshney2011", synapses=synapses), kind=kind)
    a = analyse_degrees(d, n_boot=10, seed=0)
    assert a.tail_fit.alpha > 3 and abs(a.tail_fit.alpha - reported) < 0.01
    ref = _quiet_powerlaw(d[d > 0], xmin=a.tail_fit.xmin, parameter_ranges={"alpha": [1.0, 10.0]})
    assert abs(ref.alpha - a.tail_fit.alpha) < 1e-3
    # the paper-method window fit succeeds on these small integers and is reported in full
    assert math.isfinite(a.fit.alpha) and 1 <= a.fit.xmin < a.fit.xmax <= d.max()
    assert a.fit.n_zero_dropped == int((d == 0).sum())
    assert 0 < a.fit.n_tail <= a.n and 0.0 <= a.p_value <= 1.0


def test_cook_hermaphrodite_all_kinds_sane():
    g = load_connectome("cook2019-herm")
    for kind in ("in", "out", "total"):
        d = connectome_degrees(g, kind=kind)
        a = analyse_degrees(d, n_boot=5, seed=1)
        assert a.n == 302 and math.isfinite(a.fit.alpha) and math.isfinite(a.tail_fit.alpha)
        assert a.fit.xmin >= 1 and a.fit.xmax <= d.max() and a.fit.n_tail >= 2
        assert a.tail_fit.xmax == math.inf and a.tail_fit.xmin >= 1
        assert a.best in ("tpl", "power_law", "exponential", "lognormal", "poisson")
        assert a.mean_degree == pytest.approx(d.mean())
    # every chemical connection has one source and one target
    assert (connectome_degrees(g, kind="in").mean() == pytest.approx(connectome_degrees(g, kind="out").mean()))


# ------------------------------------------------------------------ sources


def test_connectome_sources():
    sets = resolve_source("celegans:varshney2011")
    assert [(s.source, s.layer) for s in sets] == [("varshney2011", k) for k in ("in", "out", "total")]
    g = load_connectome("varshney2011")
    for s in sets:
        assert np.array_equal(s.degrees, connectome_degrees(g, kind=s.layer))
    gap = resolve_source("worm=celegans:varshney2011:in:electrical")
    assert [(s.source, s.layer) for s in gap] == [("worm", "total")]  # undirected: one kind
    weighted = resolve_source("celegans:cook2019-herm:out", weighted=True)
    assert np.array_equal(weighted[0].degrees, connectome_degrees(load_connectome("cook2019-herm"), kind="out",
                                                                 weighted=True))


def test_layered_sources_degree_csv_graphml_gexf(tiny_network, tmp_path):
    expected = tiny_network.degrees()
    csv_path, gml, gexf = tmp_path / "net.csv", tmp_path / "net.graphml", tmp_path / "net.gexf"
    write_degree_csv(csv_path, expected)
    tiny_network.write_graphml(gml)
    tiny_network.write_gexf(gexf)
    for path in (csv_path, gml, gexf):
        sets = resolve_source(path)
        assert [s.layer for s in sets] == list(expected) and {s.source for s in sets} == {"net"}
        for s in sets:
            assert np.array_equal(s.degrees, expected[s.layer])
    assert "2" not in [s.layer for s in resolve_source(gml)]  # the output layer is not analysed
    with_output = resolve_source(gml, include_output=True)
    assert len(with_output) == len(expected) + 1
    only = resolve_source(f"mine={csv_path}:{list(expected)[1]}")
    assert [(s.source, s.layer) for s in only] == [("mine", list(expected)[1])]


def test_edge_list_graph_source(tmp_path):
    path = tmp_path / "worm.csv"
    path.write_text("source,target,weight\na,b,2\nb,c,1\na,c,5\nc,a,1\n")
    sets = {s.layer: s.degrees for s in resolve_source(path)}
    g = ig.Graph(directed=True, edges=[(0, 1), (1, 2), (0, 2), (2, 0)])
    assert sets["in"].tolist() == g.indegree() and sets["out"].tolist() == g.outdegree()
    assert sets["total"].tolist() == g.degree()
    weighted = {s.layer: s.degrees for s in resolve_source(path, weighted=True)}
    assert weighted["out"].tolist() == [7, 1, 1]


@pytest.mark.parametrize("spec,message", [
    ("nowhere.csv", r"unknown source 'nowhere.csv': no such file, and not celegans:NAME"),
    ("celegans:worm2000", r"unknown connectome source 'celegans:worm2000'.*cook2019-herm"),
    ("celegans:varshney2011:sideways", r"degree kind 'sideways' is not one of in, out, total"),
    ("celegans:varshney2011:in:chemicals", r"synapses 'chemicals' is not one of chemical, electrical, both"),
])
def test_bad_sources(spec, message):
    with pytest.raises(CompareError, match=message):
        resolve_source(spec)


def test_bad_files(tmp_path, tiny_network):
    bad = tmp_path / "bad.csv"
    bad.write_text("layer,unit,degree\nfc1,0,3\nfc1,1,2.5\n")
    with pytest.raises(CompareError, match=r"bad.csv, line 3: degree '2.5' is not a non-negative integer"):
        resolve_source(bad)
    model = tmp_path / "model.pt"
    model.write_bytes(b"x")
    with pytest.raises(CompareError, match=r"model files are not read here; convert it first with 'nn2graph convert"):
        resolve_source(model)
    odd = tmp_path / "degrees.txt"
    odd.write_text("1 2 3")
    with pytest.raises(CompareError, match=r"unknown file type '.txt'"):
        resolve_source(odd)
    gml = tmp_path / "net.graphml"
    tiny_network.write_graphml(gml)
    with pytest.raises(CompareError, match=r"net.graphml has no layer 'fc9'; it has input, "):
        resolve_source(f"{gml}:fc9")


# ------------------------------------------------------------------ the comparison


def test_compare_network_and_connectome_writes_table_and_figure(tiny_network, tmp_path):
    write_degree_csv(tmp_path / "tiny.csv", tiny_network.degrees())
    c = compare_networks([tmp_path / "tiny.csv", "celegans:varshney2011:in"], n_boot=4, seed=3)
    labels = [(e.source, e.layer) for e in c.entries]
    assert labels == [("tiny", layer) for layer in tiny_network.degrees()] + [("varshney2011", "in")]
    c.to_csv(tmp_path / "t.csv")
    with open(tmp_path / "t.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["layer"] for r in rows] == [layer for _, layer in labels]
    for key in ("source", "n", "mean_degree", "alpha", "xmin", "xmax", "ks_distance", "p_value", "best"):
        assert key in rows[0]
    last = c.entries[-1].analysis
    assert float(rows[-1]["alpha"]) == pytest.approx(last.fit.alpha) and rows[-1]["best"] == last.best
    assert rows[-1]["verdict"] == last.evidence.verdict and rows[-1]["verdict_summary"] == last.evidence.summary()
    assert f"| {last.evidence.summary()} |" in c.to_markdown().splitlines()[-1]
    md = c.to_markdown().splitlines()
    assert len(md) == 2 + len(labels) and md[0].startswith("| source | layer / kind | n | mean degree | alpha")
    assert md[-1].startswith("| varshney2011 | in | 280 |")
    fig = c.plot(path=tmp_path / "ccdf.png")
    assert (tmp_path / "ccdf.png").stat().st_size > 10_000
    texts = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert texts[-1].startswith("varshney2011: in (n=280")
    # same seed, same p-values; json has every entry
    again = compare_networks([tmp_path / "tiny.csv", "celegans:varshney2011:in"], n_boot=4, seed=3)
    assert [e.analysis.p_value for e in again.entries] == [e.analysis.p_value for e in c.entries]
    assert len(__import__("json").loads(c.to_json())["entries"]) == len(labels)


def test_the_tail_fit_comes_with_its_own_verdict(tmp_path):
    # the untruncated tail (the fit connectome papers report) is judged by assess_power_law with
    # xmax=inf and the same seed: its p-value repeats the xmin search in every bootstrap set
    c = compare_networks(["celegans:varshney2011:in"], n_boot=20, seed=5, n_jobs=1)
    a = c.entries[0].analysis
    direct = assess_power_law(a.degrees, xmax=math.inf, n_boot=20, seed=5, n_jobs=1)
    assert a.tail_evidence.fit == a.tail_fit == direct.fit and a.tail_fit.xmin == 11
    assert a.tail_evidence.pvalue.p_value == direct.pvalue.p_value and a.tail_evidence.verdict == direct.verdict
    c.to_csv(tmp_path / "t.csv")
    with open(tmp_path / "t.csv") as fh:
        row = next(csv.DictReader(fh))
    assert float(row["tail_p_value"]) == direct.pvalue.p_value and row["tail_verdict"] == direct.verdict
    assert c.to_markdown().splitlines()[-1].endswith(f"| {direct.summary()} |")
    # asked for or not, the paper's bootstrap (and so its cache entry) is the same
    plain = analyse_degrees(a.degrees, n_boot=20, seed=5, n_jobs=1, search_fraction=0.3)
    assert plain.tail_evidence is None and plain.key == a.key and plain.p_value == a.p_value
    assert plain.row()["tail_verdict"] is None


def test_ccdf_curves_are_degree_over_mean():
    d = np.array([0, 1, 1, 2, 4, 4, 4, 10])
    fig = plot_degree_ccdfs([DegreeSet("s", "l", d)])
    line = fig.axes[0].get_lines()[0]
    x, y = line.get_xdata(), line.get_ydata()
    values = np.array([1, 2, 4, 10])
    assert np.allclose(x, values / d.mean())
    assert np.allclose(y, [np.mean(d[d > 0] >= v) for v in values])
    assert fig.axes[0].get_xscale() == "log" and fig.axes[0].get_yscale() == "log"


@pytest.mark.parametrize("sizes", [[3] * 11, [1] * 25, [3, 3, 1, 1, 1, 4, 2], [45, 3], [12] * 9, [30, 25, 2, 1, 7, 21],
                                   [50] * 6])
def test_every_ccdf_curve_has_its_own_style(sizes):
    from analysis.compare import _line_styles

    sources = [f"s{i}" for i, n in enumerate(sizes) for _ in range(n)]
    styles = _line_styles(sources)
    keys = {(st["linestyle"], str(st["color"]), st.get("marker")) for st in styles}
    assert len(keys) == len(sources)
    if max(sizes) <= 4:  # one colour a source
        colours = {}
        for src, st in zip(sources, styles):
            colours.setdefault(src, set()).add(str(st["color"]))
        assert all(len(c) == 1 for c in colours.values())


def test_degenerate_layer_is_reported_and_bad_degrees_named():
    flat = DegreeSet("net", "fc3", np.array([2, 2, 2, 2]))
    c = compare_networks([flat], n_boot=0)
    row = c.rows()[0]
    assert row["not_fitted"].startswith("4 nodes of positive degree") and row["alpha"] is None
    assert c.to_markdown().splitlines()[0].endswith("| verdict (widest window) | tail verdict |")
    assert c.to_markdown().splitlines()[-1].endswith("| not fitted: 4 nodes of positive degree (a fit needs at least "
                                                     "10 nodes and 3 distinct positive degrees) | n/a |")
    with pytest.raises(CompareError, match=r"net: fc3: cannot analyse its degrees"):
        compare_networks([DegreeSet("net", "fc3", np.array([2, -1, 3]))], n_boot=0)
    with pytest.raises(CompareError, match="no sources given"):
        compare_networks([], n_boot=0)


def test_markdown_prints_missing_p_as_na():
    a = analyse_degrees([1, 1, 2, 3, 5, 8], n_boot=0)
    from analysis.compare import ComparisonEntry

    line = markdown_table([ComparisonEntry("x", "y", a).row()]).splitlines()[-1]
    assert "| n/a |" in line
