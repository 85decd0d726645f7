"""analysis.degree_analysis: the one analysis of a degree set, its cache, degenerate sets, and the
same numbers through ``nn2graph fit``, ``nn2graph compare`` and the reproduce path."""

from __future__ import annotations

import json
import math
import warnings

import igraph
import numpy as np
import pytest

from analysis import AnalysisCache, FitError, analyse_degrees, compare_alternatives, fit_tpl, tpl_pvalue
from analysis.degree_analysis import MIN_DISTINCT, MIN_NODES
from experiments.reproduce import fit_layer
from nn2graph.cli import main
from nn2graph.degree_csv import write_degree_csv


def _sample() -> np.ndarray:
    rng = np.random.default_rng(12)
    k = np.arange(1, 201)
    x = rng.choice(k, 600, p=k**-1.8 / np.sum(k**-1.8))
    return np.concatenate([x, np.zeros(7, int)])


# Computed with the five separate loops this analysis replaces (experiments.reproduce.fit_layer
# and analysis.compare.analyse_degrees before they were merged), on _sample() with n_boot=30, seed=4.
OLD = {"alpha": 1.9665224973461852, "xmin": 1, "xmax": 3, "D": 0.015928723287266425, "p": 0.16666666666666666,
       "distances": [0.020626279600716224, 0.00283751551200645, 1.1102230246251565e-16], "best": "tpl",
       "tail_alpha": 1.8065177378486061, "tail_xmin": 1}


@pytest.fixture
def cheap_alternatives(monkeypatch):
    """The alternative laws take seconds per set; tests of other parts stand one fixed test in."""
    from analysis import AlternativesResult, AlternativeTest

    monkeypatch.setattr("analysis.degree_analysis.compare_alternatives", lambda degrees, fit: AlternativesResult(
        fit, (AlternativeTest("exponential", {"lambda": 0.1}, fit.loglikelihood - 1.0, 1.0, 0.5),)))


@pytest.fixture(scope="module")
def sample_analysis():
    return analyse_degrees(_sample(), n_boot=30, seed=4, n_jobs=1)


def test_same_numbers_as_the_old_loops(sample_analysis):
    a = sample_analysis
    assert (a.fit.xmin, a.fit.xmax) == (OLD["xmin"], OLD["xmax"])
    assert a.fit.alpha == pytest.approx(OLD["alpha"], abs=1e-12)
    assert a.fit.ks_distance == pytest.approx(OLD["D"], abs=1e-12)
    assert a.p_value == OLD["p"] and a.pvalue.n_boot == 30
    np.testing.assert_allclose(a.pvalue.distances[:3], OLD["distances"], atol=1e-12)
    assert a.best == OLD["best"]
    assert a.tail_fit.alpha == pytest.approx(OLD["tail_alpha"], abs=1e-10) and a.tail_fit.xmin == OLD["tail_xmin"]
    assert (a.n, a.n_zero) == (607, 7) and a.mean_degree == pytest.approx(_sample().mean())


def test_each_part_is_the_public_function_on_the_same_input(sample_analysis):
    x, a = _sample(), sample_analysis
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        fit = fit_tpl(x)
    assert a.fit == fit
    ref = tpl_pvalue(x, fit=fit, n_boot=30, seed=4, n_jobs=1, progress=False)
    np.testing.assert_array_equal(a.pvalue.distances, ref.distances)
    assert a.alternatives.to_dict() == compare_alternatives(x, fit).to_dict()
    # the untruncated tail equals igraph's discrete power-law fit (Clauset's method)
    ig = igraph.power_law_fit(x[x > 0], method="discrete")
    assert a.tail_fit.xmin == ig.xmin and a.tail_fit.alpha == pytest.approx(ig.alpha, abs=1e-8)


@pytest.mark.parametrize("degrees, start", [
    ([40, 3, 1], "3 nodes of positive degree"),
    ([0] * 20 + [5] * 9, "9 nodes of positive degree of 29"),
    ([5, 6] * 10, "2 distinct positive degrees among 20 nodes"),
    ([0, 0, 0], "0 nodes of positive degree of 3"),
    ([], "0 nodes of positive degree"),
])
def test_degenerate_sets_are_reported_not_fitted(degrees, start):
    a = analyse_degrees(degrees, n_boot=10, seed=0)
    assert not a.fitted and a.not_fitted.startswith(start)
    assert f"at least {MIN_NODES} nodes and {MIN_DISTINCT} distinct positive degrees" in a.not_fitted
    assert a.fit is a.pvalue is a.alternatives is a.tail_fit is None
    row = a.row()
    assert row["alpha"] is None and row["p_value"] is None and row["not_fitted"] == a.not_fitted
    assert json.dumps(a.to_dict())  # JSON-ready


def test_the_smallest_sets_that_are_fitted(cheap_alternatives):
    assert analyse_degrees(np.arange(1, MIN_NODES + 1), n_boot=0).fitted
    assert analyse_degrees([1, 2, 3] * 4, n_boot=0).fitted
    assert not analyse_degrees(np.arange(1, MIN_NODES), n_boot=0).fitted


@pytest.mark.parametrize("bad, message", [
    ([1, 2, -3] * 5, "negative"), ([1.5, 2, 3] * 5, "not an integer"), ([1, 2, float("nan")] * 5, "nan"),
])
def test_bad_degrees_are_an_error(bad, message):
    with pytest.raises(FitError, match=message):
        analyse_degrees(bad, n_boot=0)


def test_cache_is_keyed_by_content(tmp_path, monkeypatch, cheap_alternatives):
    x = _sample()
    cache = AnalysisCache(tmp_path / "analyses")
    first = analyse_degrees(x, n_boot=12, seed=1, n_jobs=1, cache=cache)
    files = list(cache.folder.glob("*.json"))
    assert [f.stem for f in files] == [first.key]

    def no_bootstrap(*args, **kwargs):
        raise AssertionError("bootstrap rerun")

    with monkeypatch.context() as m:
        m.setattr("analysis.degree_analysis.tpl_pvalue", no_bootstrap)
        again = analyse_degrees(x, n_boot=12, seed=1, n_jobs=2, cache=tmp_path / "analyses")  # n_jobs: same key
        np.testing.assert_array_equal(again.pvalue.distances, first.pvalue.distances)
        assert again.p_value == first.p_value and again.key == first.key
        # other degrees, seed, n_boot or search option: another key, so a new bootstrap
        for kwargs in ({"seed": 2}, {"n_boot": 13}, {"search_fraction": 0.25}, {"ks": "data"}):
            with pytest.raises(AssertionError, match="bootstrap rerun"):
                analyse_degrees(x, **{"n_boot": 12, "seed": 1, **kwargs}, cache=cache)
        with pytest.raises(AssertionError, match="bootstrap rerun"):
            analyse_degrees(np.append(x, 3), n_boot=12, seed=1, cache=cache)
        # no seed: not reproducible, never taken from the cache
        with pytest.raises(AssertionError, match="bootstrap rerun"):
            analyse_degrees(x, n_boot=12, seed=None, cache=cache)
    # a damaged or foreign entry is a miss, recomputed and rewritten
    files[0].write_text("{not json")
    assert analyse_degrees(x, n_boot=12, seed=1, n_jobs=1, cache=cache).p_value == first.p_value
    payload = json.loads(files[0].read_text())
    assert payload["key"] == first.key and len(payload["pvalue"]["distances"]) == 12
    payload["pvalue"]["observed_ks"] += 0.1  # made by another fit: ignored
    files[0].write_text(json.dumps(payload))
    with monkeypatch.context() as m:
        m.setattr("analysis.degree_analysis.tpl_pvalue", no_bootstrap)
        with pytest.raises(AssertionError, match="bootstrap rerun"):
            analyse_degrees(x, n_boot=12, seed=1, cache=cache)


def test_fit_compare_and_reproduce_give_the_same_p(tmp_path, capsys):
    rng = np.random.default_rng(3)
    layers = {"fc1": rng.zipf(2.0, 250), "fc2": np.rint(rng.lognormal(2.5, 0.6, 200)).astype(int)}
    path = write_degree_csv(tmp_path / "degrees.csv", layers)
    assert main(["fit", str(path), "--pvalue", "--n-boot", "20", "--seed", "5", "--jobs", "1",
                 "--json", str(tmp_path / "fit.json")]) == 0
    fitted = json.loads((tmp_path / "fit.json").read_text())["layers"]
    assert main(["compare", str(path), "--n-boot", "20", "--seed", "5", "--jobs", "1",
                 "--out", str(tmp_path / "cmp")]) == 0
    compared = {e["layer"]: e for e in json.loads((tmp_path / "cmp" / "compare.json").read_text())["entries"]}
    capsys.readouterr()
    for name, degrees in layers.items():
        reproduced = fit_layer(name, name, degrees, n_boot=20, seed=5, n_jobs=1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            independent = tpl_pvalue(degrees, fit=fit_tpl(degrees), n_boot=20, seed=5, n_jobs=1, progress=False)
        p = independent.p_value
        assert fitted[name]["pvalue"]["p_value"] == compared[name]["pvalue"]["p_value"] == reproduced.pvalue.p_value == p
        assert fitted[name]["fit"] == compared[name]["fit"] == reproduced.fit.to_dict()
    # different layers do not get different seeds: the p of a layer does not depend on its neighbours
    assert main(["compare", f"{path}:fc2", "--n-boot", "20", "--seed", "5", "--jobs", "1",
                 "--out", str(tmp_path / "one")]) == 0
    alone = json.loads((tmp_path / "one" / "compare.json").read_text())["entries"][0]
    assert alone["pvalue"]["p_value"] == compared["fc2"]["pvalue"]["p_value"]
    assert math.isfinite(alone["pvalue"]["p_value"])


def test_the_verdict_is_assess_power_law_beside_the_paper_fit(sample_analysis):
    from analysis import assess_power_law

    x, a = _sample(), sample_analysis
    widest = assess_power_law(x, method="widest", n_boot=30, seed=4, n_jobs=1)
    assert a.evidence.to_dict() == widest.to_dict() and a.verdict == widest.verdict
    row, d = a.row(), a.to_dict()
    assert (row["verdict"], row["verdict_summary"], row["verdict_method"]) == (widest.verdict, widest.summary(), "widest")
    assert (row["verdict_xmin"], row["verdict_xmax"]) == (widest.fit.xmin, widest.fit.xmax)
    assert d["evidence"]["reasons"] == list(widest.reasons) and d["verdict"] == widest.verdict
    # method "paper" judges the paper's own fit: the same window and the same bootstrap
    paper = analyse_degrees(x, n_boot=30, seed=4, n_jobs=1, method="paper")
    assert paper.evidence.method == "paper" and paper.evidence.fit == a.fit
    assert paper.evidence.pvalue.p_value == a.p_value == OLD["p"]
    # no bootstrap, no verdict
    unjudged = analyse_degrees(x, n_boot=0)
    assert unjudged.verdict == "not judged" and unjudged.summary() == "not judged: no bootstrap (n_boot=0)"


def test_a_poisson_layer_is_not_supported():
    x = np.random.default_rng(0).poisson(100, 1000)
    a = analyse_degrees(x, n_boot=50, seed=1, n_jobs=1)
    assert a.verdict != "supported" and a.summary().startswith(a.verdict)
    assert a.p_value is not None  # the paper's fit may pass its own bootstrap: the verdict is what says no
