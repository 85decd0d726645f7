"""``nn2graph convert`` end to end (``nn2graph demo``: tests/test_reproduce.py)."""

import csv
from pathlib import Path

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
    with pytest.raises(SystemExit) as stop:
        main(["convert", str(tmp_path / "nope.pt"), "--input-shape", "1,28,28"])
    assert stop.value.code == 2 and "nope.pt': no such file" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["convert", str(Path(__file__)), "--input-shape", "1,x,28"])
    assert "is not a shape" in capsys.readouterr().err


def test_wrong_input_shape_on_the_command_line(cnn, tmp_path, capsys):
    path = tmp_path / "cnn.pt"
    script(cnn).save(str(path))
    assert main(["convert", str(path), "--input-shape", "1,32,32"]) == 2
    assert "layer '7' (Linear) got input of shape (1, 800)" in capsys.readouterr().err


def _sparse_mlp_state_dict(path, *, permanent=True):
    """What `nn2graph demo`/`train`/`reproduce` save as sparse.pt (experiments.pipeline), untrained."""
    from experiments.models import build_model, pruning_fractions
    from experiments.pruning import make_pruning_permanent, prune_layers

    torch.manual_seed(0)
    model = build_model("mlp")
    prune_layers(model, pruning_fractions("mlp"))
    if permanent:
        make_pruning_permanent(model)
    torch.save(model.state_dict(), path)
    return model


def test_state_dict_of_a_built_in_model_converts_with_model_name(tmp_path, capsys):
    path = tmp_path / "sparse.pt"
    model = _sparse_mlp_state_dict(path)
    out = tmp_path / "d.csv"
    assert main(["convert", str(path), "--model", "mlp", "--degrees", str(out)]) == 0  # its own input shape
    assert "fc2" in capsys.readouterr().out
    with open(out) as handle:
        rows = list(csv.DictReader(handle))
    w1 = (model.fc1.weight != 0).long()
    assert [int(r["degree"]) for r in rows if r["layer"] == "input"] == w1.sum(0).tolist()
    # a state dict saved while the pruning masks were still installed gives the same degrees
    masked = tmp_path / "masked.pt"
    _sparse_mlp_state_dict(masked, permanent=False)
    out2 = tmp_path / "d2.csv"
    assert main(["convert", str(masked), "--model", "mlp", "--degrees", str(out2)]) == 0
    assert out2.read_text() == out.read_text()


def test_state_dict_errors_name_the_file_and_the_fix(tmp_path, capsys):
    path = tmp_path / "sparse.pt"
    _sparse_mlp_state_dict(path)
    assert main(["convert", str(path), "--model", "resnet"]) == 2
    assert "unknown model 'resnet': known are mlp, cnn-mnist" in capsys.readouterr().err
    assert main(["convert", str(path), "--model", "cnn-mnist"]) == 2
    assert "missing keys" in capsys.readouterr().err
    assert main(["convert", str(path)]) == 2
    assert "--input-shape is required" in capsys.readouterr().err
    assert main(["convert", str(path), "--input-shape", "784"]) == 2
    assert "pass --model NAME" in capsys.readouterr().err


def test_traced_torchscript_converts(tmp_path, capsys):
    import warnings

    from experiments.models import build_model

    model = build_model("cnn-mnist").eval()
    path = tmp_path / "traced.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.save(torch.jit.trace(model, torch.zeros(1, 1, 28, 28)), str(path))
    out = tmp_path / "d.csv"
    assert main(["convert", str(path), "--input-shape", "1,28,28", "--degrees", str(out)]) == 0
    assert "conv2" in capsys.readouterr().out
    with open(out) as handle:
        rows = list(csv.DictReader(handle))
    for layer, degrees in to_graph(model, (1, 28, 28)).degrees().items():
        assert [int(r["degree"]) for r in rows if r["layer"] == layer] == degrees.tolist()


def test_part_of_the_graph_for_gephi(cnn, tmp_path):
    path = tmp_path / "cnn.pt"
    script(cnn).save(str(path))
    graphml = tmp_path / "part.graphml"
    layered = to_graph(cnn, (1, 28, 28))
    first = [name for name in layered.layers][:2]
    assert main(["convert", str(path), "--input-shape", "1,28,28", "--graphml", str(graphml),
                 "--layers", ",".join(first)]) == 0
    g = nx.read_graphml(graphml)
    assert {d["layer"] for _, d in g.nodes(data=True)} == set(first)
    assert main(["convert", str(path), "--input-shape", "1,28,28", "--layers", "x"]) == 2
