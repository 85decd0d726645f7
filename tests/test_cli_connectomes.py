"""``nn2graph connectomes`` on the command line."""

from __future__ import annotations

import csv

import networkx as nx

from analysis.connectomes import connectome_degrees, load_connectome
from nn2graph.cli import main


def test_lists_every_connectome(capsys):
    assert main(["connectomes"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 12 and out[3].startswith("varshney2011") and "10.1371/journal.pcbi.1001066" in out[3]


def test_summary_export_and_degrees(tmp_path, capsys):
    graphml, table = tmp_path / "v.graphml", tmp_path / "v.csv"
    assert main(["connectomes", "varshney2011", "--out", str(graphml), "--degrees", str(table)]) == 0
    out = capsys.readouterr().out
    assert "varshney2011 (chemical): 280 cells, 2194 directed edges, weight 6394" in out
    assert "1 without connections" in out
    h = nx.read_graphml(graphml)
    assert h.number_of_edges() == 2194 and sum(d["weight"] for _, _, d in h.edges(data=True)) == 6394
    # the one degree CSV format: layer = degree kind, unit = the cell's name
    rows = list(csv.DictReader(table.open()))
    assert list(rows[0]) == ["layer", "unit", "degree"]
    g = load_connectome("varshney2011")
    kinds = {}
    for r in rows:
        kinds.setdefault(r["layer"], []).append(r)
    assert list(kinds) == ["in", "out", "total", "in_weighted", "out_weighted", "total_weighted"]
    assert all([r["unit"] for r in v] == g.vs["name"] for v in kinds.values())
    assert [int(r["degree"]) for r in kinds["in_weighted"]] == connectome_degrees(g, kind="in", weighted=True).tolist()
    assert [int(r["degree"]) for r in kinds["total"]] == connectome_degrees(g).tolist()


def test_gexf_of_gap_junctions_with_every_cell(tmp_path, capsys):
    path = tmp_path / "w.gexf"
    assert main(["connectomes", "witvliet2020-1", "--synapses", "electrical", "--all-cells", "--out", str(path)]) == 0
    h = nx.read_gexf(path)
    g = load_connectome("witvliet2020-1", synapses="electrical", neurons_only=False)
    assert not h.is_directed() and h.number_of_nodes() == g.vcount() and h.number_of_edges() == g.ecount()


def test_errors_exit_2_with_a_message(tmp_path, capsys):
    assert main(["connectomes", "worm"]) == 2
    assert "nn2graph connectomes: error: unknown connectome 'worm'" in capsys.readouterr().err
    assert main(["connectomes", "varshney2011", "--out", str(tmp_path / "g.png")]) == 2
    assert "expected a .graphml or .gexf file" in capsys.readouterr().err
