"""End to end: ``nn2graph reproduce continual`` on a tiny MNIST writes every artefact."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from scipy import stats

import experiments.continual_report as continual_report
from analysis import preferential_attachment
from analysis.growth import random_layered_graph, simulate_growth
from experiments.continual_report import delta_trend, reproduce_continual
from nn2graph.cli import main
from nn2graph.result_files import json_ready
from tests.test_data import write_mnist

# a 40-image training set gives degree distributions whose best window touches the search edge
pytestmark = pytest.mark.filterwarnings("ignore:TPL fit on the edge of its search range:UserWarning")

ARTEFACTS = ("table1.csv", "table1.md", "figure-7.png", "figure-8.png", "figure-9.png", "metrics.json",
             "report.md", "delta.csv", "omega.csv", "omega-summary.csv", "degrees-t0.csv", "degrees-t1.csv",
             "new-connections.csv", "fits.csv", "attachment.json", "a-dense.pt", "a-sparse.pt", "b-dense.pt", "b-sparse.pt")


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("reproduce")
    write_mnist(root / "mnist", n_train=60, n_test=20)
    out = root / "out"
    argv = ["reproduce", "continual", "--P", "8", "--data-dir", str(root / "mnist"), "--out", str(out),
            "--epochs", "1", "--retrain-epochs", "1", "--limit-train", "40", "--n-boot", "3", "--seed", "2",
            "--quiet", "--threads", "1", "--jobs", "1"]
    assert main(argv) == 0
    return root, out, argv


def test_every_artefact_written(cli_run, capsys):
    _, out, _ = cli_run
    for name in ARTEFACTS:
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    for name in ("figure-7.png", "figure-8.png", "figure-9.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_table1_and_metrics(cli_run):
    _, out, _ = cli_run
    rows = list(csv.DictReader(open(out / "table1.csv")))
    assert [r["source"] for r in rows] == ["paper", "ours"]
    assert rows[0]["a_sparse"] == "98.21" and rows[0]["b_dense"] == "98.17"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["P"] == 8 and metrics["data"]["train"] == 40
    table = metrics["continual"]["table1"]
    assert set(table) == {"a_dense", "a_sparse", "b_dense", "b_sparse"}
    assert all(0 <= v <= 100 for v in table.values())
    assert float(rows[1]["b_sparse"]) == pytest.approx(table["b_sparse"], abs=0.006)
    assert metrics["continual"]["a_test_after_b"] * 100 == pytest.approx(table["a_sparse"])
    conn = metrics["continual"]["connections"]["fc1"]
    assert conn["a"] == 784 * 1024 - round(0.9 * 784 * 1024)
    assert [o["layer"] for o in metrics["attachment"]["omega"]] == ["input", "fc1", "fc2"]
    assert [t["lower"] for t in metrics["attachment"]["delta_trend"]] == ["input", "fc1"]
    assert [f["layer"] for f in metrics["fits_t1"]] == ["input", "fc1", "fc2"]
    assert all(f["pvalue"]["n_boot"] == 3 and 0 <= f["pvalue"]["p_value"] <= 1 for f in metrics["fits_t1"])
    assert all(f["verdict"] == f["evidence"]["verdict"] for f in metrics["fits_t1"])
    report = (out / "report.md").read_text()
    for f in metrics["fits_t1"]:
        assert f"| {f['verdict_summary']} |" in report
    for text in ("98.21", "verdict (widest window)", "Figure 7", "Figure 8", "eq. 10 slope", "Spearman (nodes)", "Figure 9", "3 bootstrap sets",
                 "relatively low"):
        assert text in report


def test_degrees_csv_matches_snapshots(cli_run):
    _, out, _ = cli_run
    rows_all = rows = list(csv.DictReader(open(out / "new-connections.csv")))
    by_layer = {}
    for r in rows:
        by_layer.setdefault(r["layer"], []).append(r)
    assert {k: len(v) for k, v in by_layer.items()} == {"input": 784, "fc1": 1024, "fc2": 1024}
    # input nodes count only upper edges: t1 - t0 = their new connections
    for r in by_layer["input"][:50]:
        assert int(r["degree_t1"]) - int(r["degree_t0"]) == int(r["new_connections"])
    metrics = json.loads((out / "metrics.json").read_text())
    n_new = sum(int(r["new_connections"]) for r in by_layer["input"])
    assert n_new == metrics["continual"]["connections"]["fc1"]["b"]
    # the node-level correlations are those of the CSV's columns
    for nodes in metrics["attachment"]["nodes"]:
        rows = by_layer[nodes["layer"]]
        d0 = np.array([int(r["degree_t0"]) for r in rows])
        new = np.array([int(r["new_connections"]) for r in rows])
        assert nodes["spearman"] == pytest.approx(stats.spearmanr(d0, new).statistic)
        assert nodes["zero_degree_nodes"] == int((d0 == 0).sum())
    # degrees-t0.csv and degrees-t1.csv are the one degree CSV format, with the same numbers
    for t in ("t0", "t1"):
        table = list(csv.DictReader(open(out / f"degrees-{t}.csv")))
        assert list(table[0]) == ["layer", "unit", "degree"]
        assert [(r["layer"], r["unit"], r["degree"]) for r in table] == [
            (r["layer"], r["unit"], r[f"degree_{t}"]) for r in rows_all]


def test_rerun_reuses_every_stage(cli_run, monkeypatch):
    root, out, argv = cli_run
    metrics = json.loads((out / "metrics.json").read_text())
    assert len(list((out / "analyses").glob("*.json"))) == 3
    files = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*")
             if p.is_file() and p.name not in ("metrics.json", ".nn2graph.lock")}

    def fail(*args, **kwargs):
        raise AssertionError("a finished stage was computed again")

    # no training, no graph, no attachment, no bootstrap, no figure
    for target in ("experiments.continual.train", "analysis.degree_analysis.tpl_pvalue", "nn2graph.to_graph",
                   "analysis.preferential_attachment", "analysis.plot_analyses", "analysis.attachment_plots.plot_delta",
                   "analysis.attachment_plots.plot_omega"):
        monkeypatch.setattr(target, fail)
    report = reproduce_continual(out, size=8, data_dir=root / "mnist", epochs=1, retrain_epochs=1,
                                 limit_train=40, n_boot=3, seed=2, n_jobs=1, progress=False)
    again = json.loads((out / "metrics.json").read_text())
    assert {k: v for k, v in again.items() if k != "seconds_total_this_run"} == \
        {k: v for k, v in metrics.items() if k != "seconds_total_this_run"}
    assert {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*")
            if p.is_file() and p.name not in ("metrics.json", ".nn2graph.lock")} == files
    assert report.table1() == again["continual"]["table1"]
    assert report.attachment_summary == again["attachment"]
    monkeypatch.undo()
    # the attachment itself, computed when asked for, is the one whose numbers were written
    assert json_ready(report.attachment.omega_summary()) == again["attachment"]["omega"]


def test_bad_n_boot(tmp_path):
    with pytest.raises(continual_report.ReproduceError, match="n_boot must be a positive number"):
        reproduce_continual(tmp_path, size=8, n_boot=0)


def test_delta_trend_separates_preferential_from_uniform_growth():
    g0 = random_layered_graph([300, 300, 10], n_edges=3000, seed=0)
    pa = preferential_attachment(g0, simulate_growth(g0, n_new=20000, seed=1), n_bins=6)
    uniform = preferential_attachment(g0, simulate_growth(g0, n_new=20000, mode="uniform", seed=1), n_bins=6)
    t_pa, t_uni = delta_trend(pa.deltas[0]), delta_trend(uniform.deltas[0])
    assert t_pa["elasticity"] == pytest.approx(1.0, abs=0.1) and t_pa["spearman_d1d2"] > 0.9
    assert abs(t_uni["elasticity"]) < 0.1
    # the elasticity is a weighted least-squares slope of log Delta on log d1 d2: check by hand
    table = pa.deltas[0]
    a, b = np.nonzero(table.n_pairs)
    d1d2, delta = table.bins1.center[a] * table.bins2.center[b], table.delta[a, b]
    keep = (delta > 0) & (d1d2 > 0)
    x, y, w = np.log(d1d2[keep]), np.log(delta[keep]), table.n_pairs[a, b][keep]
    assert t_pa["elasticity"] == pytest.approx(np.polyfit(x, y, 1, w=np.sqrt(w))[0])


def test_cli_bad_p(tmp_path, capsys):
    assert main(["reproduce", "continual", "--P", "30", "--out", str(tmp_path / "x")]) == 2
    assert "P must be an integer in 1..28" in capsys.readouterr().err
