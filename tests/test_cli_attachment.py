"""``nn2graph attachment``: the command writes what the functions compute."""

from __future__ import annotations

import csv
import json

import pytest

from analysis.attachment import preferential_attachment
from analysis.general_attachment import attachment_general
from analysis.growth import random_layered_graph, simulate_growth
from nn2graph.cli import main


@pytest.fixture()
def snapshots(tmp_path):
    g0 = random_layered_graph([60, 40, 30, 5], n_edges=[400, 300, 100], seed=0)
    g1 = simulate_growth(g0, n_new=[300, 200], seed=1)
    g0.vs["name"] = [f"v{i}" for i in range(g0.vcount())]
    g1.vs["name"] = g0.vs["name"]
    p0, p1 = tmp_path / "t0.graphml", tmp_path / "t1.graphml"
    g0.write_graphml(str(p0))
    g1.write_graphml(str(p1))
    return g0, g1, p0, p1


def test_layered_command_writes_json_csv_and_figures(snapshots, tmp_path, capsys):
    g0, g1, p0, p1 = snapshots
    out = tmp_path / "out"
    assert main(["attachment", str(p0), str(p1), "--out", str(out), "--bins", "quantile", "--n-bins", "4"]) == 0
    expected = preferential_attachment(g0, g1, bins="quantile", n_bins=4)
    assert json.loads((out / "attachment.json").read_text()) == json.loads(expected.to_json())
    with open(out / "delta.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(expected.delta_rows())
    assert sum(float(r["changed"]) for r in rows) == expected.n_new == 500
    assert (out / "delta.png").stat().st_size > 0 and (out / "omega.png").stat().st_size > 0
    assert f"fc1: slope {expected.omega('fc1').slope}" in capsys.readouterr().out
    with open(out / "omega-summary.csv") as fh:
        assert [r["layer"] for r in csv.DictReader(fh)] == ["input", "fc1", "fc2"]


def test_general_command(snapshots, tmp_path):
    g0, g1, p0, p1 = snapshots
    out = tmp_path / "general"
    assert main(["attachment", str(p0), str(p1), "--out", str(out), "--general", "--bins", "exact"]) == 0
    payload = json.loads((out / "attachment.json").read_text())
    expected = attachment_general(g0, g1, bins="exact")
    assert payload["n_gained"] == expected.n_gained == 500 and payload["n_lost"] == 0
    with open(out / "omega.csv") as fh:
        kinds = {r["kind"] for r in csv.DictReader(fh)}
    assert kinds == {"gains", "losses"}
    with open(out / "omega-summary.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["kind"] for r in rows] == ["gains", "losses"]
    assert float(rows[0]["predicted_slope"]) == pytest.approx(expected.omega_gains.predicted_slope)


def test_command_errors_name_the_file(tmp_path, capsys):
    bad = tmp_path / "bad.graphml"
    bad.write_text("not a graph")
    assert main(["attachment", str(bad), str(bad), "--out", str(tmp_path)]) == 2
    assert f"nn2graph attachment: error: {bad}: not a readable" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:  # refused as the command line is read, before any work
        main(["attachment", str(tmp_path / "none.graphml"), str(bad), "--out", str(tmp_path / "y")])
    assert stop.value.code == 2
    assert f"argument G0: '{tmp_path / 'none.graphml'}': no such file" in capsys.readouterr().err
    assert not (tmp_path / "y").exists()


def test_command_is_a_run_folder(snapshots, tmp_path, capsys, monkeypatch):
    g0, g1, p0, p1 = snapshots
    out = tmp_path / "run"
    argv = ["attachment", str(p0), str(p1), "--out", str(out), "--bins", "quantile", "--n-bins", "4"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    files = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file() and p.name != ".nn2graph.lock"}
    assert json.loads((out / "run.json").read_text())["identity"]["n_bins"] == 4

    def fail(*args, **kwargs):
        raise AssertionError("a finished analysis was computed again")

    # a rerun of the finished folder reads no graph and computes nothing; it prints the same fits
    monkeypatch.setattr("analysis.graph_files.read_graph_file", fail)
    monkeypatch.setattr("analysis.attachment.preferential_attachment", fail)
    assert main(argv) == 0
    assert capsys.readouterr().out == printed
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file() and p.name != ".nn2graph.lock"} == files
    # other settings, or another G1 with the same name, are refused naming what differs
    assert main([*argv[:-1], "5"]) == 2
    assert "holds a run with other settings: n_bins is 4 there, 5 here" in capsys.readouterr().err
    original = p1.read_bytes()
    p1.write_bytes(original.replace(b"</graphml>", b"<!-- edited -->\n</graphml>"))
    assert main(argv) == 2
    assert "g1 is" in capsys.readouterr().err
    p1.write_bytes(original)
    # --restart deletes that run's files and starts the new one
    monkeypatch.undo()
    assert main([*argv[:-1], "5", "--restart"]) == 0
    assert json.loads((out / "run.json").read_text())["identity"]["n_bins"] == 5


def test_command_reports_lost_connections(snapshots, tmp_path, capsys):
    g0, g1, p0, p1 = snapshots
    assert main(["attachment", str(p1), str(p0), "--out", str(tmp_path / "x")]) == 2
    assert "nn2graph attachment: error: g1 lost connections of g0" in capsys.readouterr().err
