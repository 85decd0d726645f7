"""`nn2graph fit`: per-layer fits equal to fit_tpl, JSON and PNG outputs, clear errors."""

import csv
import json
import math
import warnings

import numpy as np
import pytest

from analysis import fit_tpl, tpl_pvalue
from nn2graph.cli import main


def _write(path, header, rows):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


@pytest.fixture
def layered(tmp_path):
    rng = np.random.default_rng(0)
    layers = {"input": rng.zipf(2.0, 300), "fc1": np.rint(rng.lognormal(3, 0.7, 200)).astype(int)}
    rows = [(name, i, int(v)) for name, d in layers.items() for i, v in enumerate(d)]
    return _write(tmp_path / "deg.csv", ["layer", "unit", "degree"], rows), layers


def test_fits_each_layer_and_writes_json_and_png(layered, tmp_path, capsys):
    path, layers = layered
    out_json, out_png = tmp_path / "fits.json", tmp_path / "fits.png"
    code = main(["fit", str(path), "--pvalue", "--n-boot", "8", "--seed", "3", "--jobs", "1",
                 "--json", str(out_json), "--plot", str(out_png)])
    assert code == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:4] == ["layer", "n", "zeros", "xmin"] and "p" in table[0].split()
    assert [line.split()[0] for line in table[1:3]] == ["input", "fc1"]
    assert table[0].split()[-2:] == ["law", "verdict"]
    # the verdict of each layer, then its reasons, one per criterion
    result = json.loads(out_json.read_text())
    for name, line in zip(layers, table[1:3]):
        verdict = result["layers"][name]["evidence"]["verdict"]
        assert line.split()[-1] == verdict and verdict in ("supported", "inconclusive", "rejected")
        summary = result["layers"][name]["verdict_summary"]
        assert any(line.startswith(f"{name}: {summary} (method widest") for line in table)
    reasons = [line for line in table if line.startswith("  - ")]
    assert len(reasons) == sum(len(result["layers"][n]["evidence"]["reasons"]) for n in layers) >= 10
    assert any(r.startswith("  - goodness of fit: p = ") for r in reasons)
    result = json.loads(out_json.read_text())
    for name, deg in layers.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # edge notes; the CLI puts them in the table
            ref = fit_tpl(deg)
        got = result["layers"][name]["fit"]
        assert (got["xmin"], got["xmax"], got["n_tail"]) == (ref.xmin, ref.xmax, ref.n_tail)
        assert got["alpha"] == pytest.approx(ref.alpha, abs=1e-12)
        p = tpl_pvalue(deg, fit=ref, n_boot=8, seed=3, n_jobs=1, progress=False).p_value
        assert result["layers"][name]["pvalue"]["p_value"] == p
    assert out_png.read_bytes()[:4] == b"\x89PNG"


def test_single_column_untruncated(tmp_path, capsys):
    x = np.random.default_rng(1).zipf(2.5, 400)
    path = _write(tmp_path / "d.csv", ["k"], [[int(v)] for v in x])
    out = tmp_path / "r.json"
    assert main(["fit", str(path), "--column", "k", "--xmax", "inf", "--ks", "data", "--json", str(out)]) == 0
    got = json.loads(out.read_text())["layers"]["k"]["fit"]
    ref = fit_tpl(x, xmax=math.inf, ks="data")
    assert got["xmax"] == "inf" and got["xmin"] == ref.xmin and got["alpha"] == pytest.approx(ref.alpha)
    assert "inf" in capsys.readouterr().out


def test_unfittable_layer_is_reported_and_exit_1(tmp_path, capsys):
    rows = [("a", i, int(v)) for i, v in enumerate(np.random.default_rng(2).zipf(2.0, 100))]
    rows += [("b", i, 0) for i in range(5)]
    path = _write(tmp_path / "d.csv", ["layer", "unit", "degree"], rows)
    assert main(["fit", str(path)]) == 1
    out = capsys.readouterr().out
    assert "not fitted: 0 nodes of positive degree of 5 (a fit needs at least 10 nodes" in out
    assert [line.split()[:3] for line in out.splitlines()[1:]][1] == ["b", "5", "5"]


@pytest.mark.parametrize("header, rows, args, message", [
    (["layer", "degree"], [["x", 1]], ["--column", "deg"], "no column 'deg' .*columns: layer, degree"),
    (["degree"], [[1], ["many"]], [], r"line 3: degree 'many' is not a non-negative integer"),
    (["degree"], [[1], [2.5], [3]], [], r"line 3: degree '2.5' is not a non-negative integer"),
    (["degree"], [], [], "no rows below the header"),
])
def test_errors_name_the_problem(tmp_path, capsys, header, rows, args, message):
    path = _write(tmp_path / "bad.csv", header, rows)
    assert main(["fit", str(path), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nn2graph fit: error:")
    import re

    assert re.search(message, err)


def test_missing_file(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:  # refused when the arguments are parsed
        main(["fit", str(tmp_path / "nope.csv")])
    assert stop.value.code == 2 and "nope.csv': no such file" in capsys.readouterr().err


def test_untruncated_searches_every_distinct_xmin(tmp_path):
    # 40% ones beside a power law from 5 on: the 0.3 n smallest are all 1, so a search over them
    # alone would have the single xmin candidate 1; the untruncated fit searches every value
    x = np.r_[np.ones(160, int), 4 + np.random.default_rng(1).zipf(2.2, 240)]
    assert np.unique(np.sort(x)[: int(0.3 * x.size)]).tolist() == [1]
    path = _write(tmp_path / "d.csv", ["k"], [[int(v)] for v in x])
    got = {}
    for name, extra in (("default", []), ("0.3", ["--search-fraction", "0.3"])):
        out = tmp_path / f"{name}.json"
        assert main(["fit", str(path), "--column", "k", "--xmax", "inf", "--json", str(out)] + extra) == 0
        got[name] = json.loads(out.read_text())["layers"]["k"]["fit"]
    ref = fit_tpl(x, xmax=math.inf, search_fraction=1.0)
    assert got["default"]["search_options"]["search_fraction"] == 1.0
    assert got["default"]["n_candidates"] == np.unique(x).size - 1 > 1  # every distinct xmin but the largest
    assert (got["default"]["xmin"], got["default"]["alpha"]) == (ref.xmin, pytest.approx(ref.alpha, abs=1e-12))
    assert ref.xmin > 1
    # told otherwise, it searches what it is told
    assert got["0.3"]["search_options"]["search_fraction"] == 0.3
    assert (got["0.3"]["xmin"], got["0.3"]["n_candidates"]) == (1, 1)
