"""``nn2graph convert`` end to end (``nn2graph demo``: tests/test_reproduce.py)."""

import csv

import networkx as nx
import pytest
import torch

from nn2graph import to_graph
from nn2graph.cli import main
from tests.graph_models import script, scriptable_pruned_cnn


@pytest.fixture
def cnn():
    return scriptable_pruned_cnn()


def test_convert_torchscript_writes_everything(cnn, tmp_path, capsys):
    path = tmp_path / "cnn.pt"
    script(cnn).save(str(path))
    files = [tmp_path / name for name in ("g.graphml", "g.gexf", "d.csv")]
    code = main(["convert", str(path), "--input-shape", "1,28,28", "--graphml", str(files[0]),
                 "--gexf", str(files[1]), "--degrees", str(files[2])])  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[:3] == ["layer", "type", "nodes"]
    assert "Conv2d" in out and "Linear" in out
    expected = to_graph(cnn, (1, 28, 28))
    assert nx.read_graphml(files[0]).number_of_edges() == expected.graph.ecount()
    assert nx.read_gexf(files[1]).number_of_nodes() == expected.graph.vcount()
    with open(files[2]) as handle:
        rows = list(csv.DictReader(handle))
    for layer, degrees in expected.degrees().items():
        got = [int(r["degree"]) for r in rows if r["layer"] == layer]
        assert got == degrees.tolist()


def test_pickled_module_needs_trust_pickle(cnn, tmp_path, capsys):
    path = tmp_path / "cnn.pkl"
    torch.save(cnn, path)
    assert main(["convert", str(path), "--input-shape", "1,28,28"]) == 2
    err = capsys.readouterr().err
    assert "nn2graph convert: error:" in err and "--trust-pickle" in err and "arbitrary code" in err
    assert main(["convert", str(path), "--input-shape", "1,28,28", "--trust-pickle"]) == 0
    assert "Linear" in capsys.readouterr().out


def test_missing_file_and_bad_shape_are_reported(tmp_path, capsys):
    assert main(["convert", str(tmp_path / "nope.pt"), "--input-shape", "1,28,28"]) == 2
    assert "nope.pt' does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["convert", "x.pt", "--input-shape", "1,x,28"])
    assert "is not a shape" in capsys.readouterr().err


def test_wrong_input_shape_on_the_command_line(cnn, tmp_path, capsys):
    path = tmp_path / "cnn.pt"
    script(cnn).save(str(path))
    assert main(["convert", str(path), "--input-shape", "1,32,32"]) == 2
    assert "layer '7' (Linear) got input of shape (1, 800)" in capsys.readouterr().err
