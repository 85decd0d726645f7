"""nn2graph.degree_csv: the one degree CSV (layer,unit,degree), its round trip and the older formats."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from analysis.compare import resolve_source
from nn2graph.cli import main
from nn2graph.degree_csv import DegreeFileError, layer_name_from_file, read_degree_csv, write_degree_csv


def test_round_trip_keeps_layers_order_and_values(tmp_path):
    rng = np.random.default_rng(0)
    degrees = {"input": rng.integers(0, 50, 784), "fc1": rng.integers(0, 9, 1024), "out": np.array([], int),
               "z": np.array([0, 0])}
    path = write_degree_csv(tmp_path / "d.csv", degrees)
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["layer", "unit", "degree"] and len(rows) == 1 + 784 + 1024 + 2
    assert rows[1] == ["input", "0", str(degrees["input"][0])] and rows[785] == ["fc1", "0", str(degrees["fc1"][0])]
    back = read_degree_csv(path)
    assert list(back) == ["input", "fc1", "z"]  # a layer without nodes has no rows
    for layer, values in back.items():
        assert values.dtype == np.int64
        np.testing.assert_array_equal(values, degrees[layer])
    assert not [p for p in tmp_path.iterdir() if p.name != "d.csv"]  # no temporary file left


def test_unit_names_and_float_integers(tmp_path):
    path = write_degree_csv(tmp_path / "w.csv", {"in": np.array([2.0, 0.0]), "out": [1, 4]},
                            units={"in": ["AVAL", "AVAR"], "out": ["AVAL", "AVAR"]})
    assert path.read_text().splitlines() == ["layer,unit,degree", "in,AVAL,2", "in,AVAR,0", "out,AVAL,1", "out,AVAR,4"]
    assert {k: v.tolist() for k, v in read_degree_csv(path).items()} == {"in": [2, 0], "out": [1, 4]}


@pytest.mark.parametrize("degrees, units, message", [
    ({"fc1": [1, -2]}, None, "layer 'fc1': -2 is negative"),
    ({"fc1": [1.5]}, None, "layer 'fc1': expected a one-dimensional array of non-negative integers"),
    ({"fc1": [[1, 2]]}, None, "shape \\(1, 2\\)"),
    ({"in": [1, 2]}, {"in": ["a"]}, "layer 'in': 1 unit names for 2 degrees"),
])
def test_writer_refuses_bad_degrees(tmp_path, degrees, units, message):
    with pytest.raises(DegreeFileError, match=message):
        write_degree_csv(tmp_path / "x.csv", degrees, units=units)
    assert not list(tmp_path.iterdir())


def test_writer_into_a_missing_folder(tmp_path):
    with pytest.raises(DegreeFileError, match="cannot write the degree CSV"):
        write_degree_csv(tmp_path / "no" / "x.csv", {"a": [1]})


def test_old_per_layer_files_of_reproduce(tmp_path):
    old = tmp_path / "degrees-fc1.csv"
    old.write_text("unit,degree\n0,3\n1,0\n2,7\n")
    assert {k: v.tolist() for k, v in read_degree_csv(old).items()} == {"fc1": [3, 0, 7]}
    assert layer_name_from_file(tmp_path / "degrees-.csv") == "degrees-"
    assert [(s.source, s.layer, s.degrees.tolist()) for s in resolve_source(old)] == [("degrees-fc1", "fc1", [3, 0, 7])]


def test_old_wide_files_of_connectomes(tmp_path):
    old = tmp_path / "worm.csv"
    old.write_text("name,in,out,total,in_weighted\nAVAL,2,1,3,5\nAVAR,0,4,4,0\n")
    back = read_degree_csv(old)
    assert {k: v.tolist() for k, v in back.items()} == {"in": [2, 0], "out": [1, 4], "total": [3, 4],
                                                        "in_weighted": [5, 0]}
    assert [s.layer for s in resolve_source(f"{old}:out")] == ["out"]


def test_other_column_and_layer_column(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("group,k,x\na,1,9\nb,2,9\na,3,9\n")
    assert {k: v.tolist() for k, v in read_degree_csv(path, column="k", layer_column="group").items()} == \
        {"a": [1, 3], "b": [2]}
    assert {k: v.tolist() for k, v in read_degree_csv(path, column="x").items()} == {"x": [9, 9, 9]}


@pytest.mark.parametrize("content, message", [
    (b"", "the file is empty"),
    (b"layer,unit,degree\n", "no rows below the header"),
    (b"layer,unit,degree\nfc1,0,3\nfc1,1,2.5\n", r"line 3: degree '2.5' is not a non-negative integer"),
    (b"layer,unit,degree\nfc1,0,-1\n", r"line 2: degree '-1' is not a non-negative integer"),
    (b"layer,unit,degree\nfc1,0\n", r"line 2: degree '' is not a non-negative integer"),
    (b"a,b\n1,2\n", r"no column 'degree' \(columns: a, b\); expected a degree CSV with the columns layer,unit,degree"),
    (b"\x89PNG\r\n\x1a\n\x00\xff\xfe", "not a text CSV"),
])
def test_reader_errors_name_file_line_and_value(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(DegreeFileError, match=message):
        read_degree_csv(path)


def test_reader_missing_file_and_folder(tmp_path):
    with pytest.raises(DegreeFileError, match="nope.csv: no such file"):
        read_degree_csv(tmp_path / "nope.csv")
    with pytest.raises(DegreeFileError, match="it is a folder"):
        read_degree_csv(tmp_path)


def test_compare_reads_what_reproduce_and_connectomes_write(tmp_path, capsys):
    """``nn2graph compare nn2graph-demo/degrees-fc1.csv celegans:varshney2011`` and exported connectomes."""
    rng = np.random.default_rng(1)
    demo = write_degree_csv(tmp_path / "degrees-fc1.csv", {"fc1": rng.zipf(2.0, 300)})
    exported = tmp_path / "varshney.csv"
    assert main(["connectomes", "varshney2011", "--degrees", str(exported)]) == 0
    assert main(["compare", str(demo), "celegans:varshney2011", f"{exported}:in", "--n-boot", "0",
                 "--out", str(tmp_path / "cmp")]) == 0
    with open(tmp_path / "cmp" / "compare.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["source"], r["layer"]) for r in rows] == [("degrees-fc1", "fc1"), ("varshney2011", "in"),
                                                         ("varshney2011", "out"), ("varshney2011", "total"),
                                                         ("varshney", "in")]
    # the exported in-degrees are the connectome's: the same fit
    assert rows[1]["alpha"] == rows[4]["alpha"] and rows[1]["n"] == rows[4]["n"] == "280"
    capsys.readouterr()
