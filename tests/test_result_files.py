"""nn2graph.result_files: atomic writes of every kind of artefact, plain torch files."""

from __future__ import annotations

import dataclasses
import json

import igraph
import matplotlib
import numpy as np
import pytest
import torch

from nn2graph.result_files import (
    PARTIAL_SUFFIX,
    ResultFileError,
    atomic_open,
    atomic_path,
    load_torch,
    save_figure,
    save_torch,
    write_csv_rows,
    write_json,
)

matplotlib.use("Agg")


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = write_json(tmp_path / "m.json", {"a": 1})
    with pytest.raises(TypeError):
        write_json(path, {"a": 2, "b": object()})  # fails while encoding
    with pytest.raises(ZeroDivisionError):
        with atomic_open(path) as handle:
            handle.write('{"a": ')
            1 / 0
    assert json.loads(path.read_text()) == {"a": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json"]


def test_temporary_names_are_unique_and_beside_the_target(tmp_path):
    with atomic_open(tmp_path / "x.csv") as first, atomic_open(tmp_path / "x.csv") as second:
        names = {p.name for p in tmp_path.iterdir()}
        assert len(names) == 2 and all(n.startswith(".x.csv.") and n.endswith(PARTIAL_SUFFIX) for n in names)
        first.write("first")
        second.write("second")
    assert (tmp_path / "x.csv").read_text() == "first"  # the later commit wins, whole
    write_csv_rows(tmp_path / "x.csv", [{"a": 1, "b": "q"}])
    assert (tmp_path / "x.csv").read_text().splitlines() == ["a,b", "1,q"]


def test_figures_and_graphs_through_the_atomic_writer(tmp_path):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([1, 2], [3, 4])
    save_figure(fig, tmp_path / "f.png", dpi=40)
    save_figure(fig, tmp_path / "f.pdf")
    plt.close(fig)
    assert (tmp_path / "f.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "f.pdf").read_bytes()[:5] == b"%PDF-"
    g = igraph.Graph.Ring(5)
    with atomic_path(tmp_path / "g.graphml") as tmp:
        g.write_graphml(str(tmp))
    assert igraph.Graph.Read_GraphML(str(tmp_path / "g.graphml")).ecount() == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.pdf", "f.png", "g.graphml"]


@dataclasses.dataclass
class Record:
    x: int


@pytest.mark.parametrize("bad,what", [({"r": Record(1)}, "test_result_files.Record at ['r']"),
                                      ({"a": [np.float64(1.0)]}, "numpy.float64 at ['a'][0]"),
                                      ({"m": torch.nn.Linear(1, 1)}, "Linear at ['m']"),
                                      ({(1, 2): 3}, "key of type tuple")])
def test_save_torch_takes_plain_data_only(tmp_path, bad, what):
    with pytest.raises(ResultFileError, match=r"x.pt (holds a .*|has a )" + what.replace("[", r"\[").replace("]", r"\]")):
        save_torch(tmp_path / "x.pt", bad)
    assert not any(tmp_path.iterdir())


def test_plain_torch_files_round_trip_with_weights_only(tmp_path):
    state = {"model": {"w": torch.arange(6.).reshape(2, 3)}, "epoch": 3, "best": None, "ok": True,
             "betas": (0.9, 0.999), "history": [{"loss": 0.5, "phase": "train"}]}
    path = save_torch(tmp_path / "s.pt", state)
    again = torch.load(path, weights_only=True)
    assert again["epoch"] == 3 and again["betas"] == (0.9, 0.999) and torch.equal(again["model"]["w"], state["model"]["w"])
    assert load_torch(path)["history"] == state["history"]
    (tmp_path / "half.pt").write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ResultFileError, match="cannot read checkpoint .*half.pt: it is truncated or not a torch file"):
        load_torch(tmp_path / "half.pt", what="checkpoint")
    (tmp_path / "text.pt").write_text("hello")
    with pytest.raises(ResultFileError, match="text.pt: it is truncated or not a torch file"):
        load_torch(tmp_path / "text.pt")
