"""``nn2graph reproduce celegans-development`` and experiments.celegans_development: every artefact."""

import csv
import json

import pytest

from analysis.development import development_attachment
from nn2graph.cli import main


def _strict_json(path):
    def refuse(constant):
        raise AssertionError(f"{path} holds {constant}, which is not JSON")

    return json.loads(path.read_text(), parse_constant=refuse)


def test_reproduce_three_stages_writes_everything(tmp_path, capsys, monkeypatch):
    out = tmp_path / "dev"
    code = main(["reproduce", "celegans-development", "--out", str(out), "--stages", "1-3", "--n-boot", "5", "--jobs", "1"])
    assert code == 0
    assert "1-2: gained 789, lost 255 synapses" in capsys.readouterr().out
    transitions = ["1-2", "2-3", "1-3"]
    for unit in ("synapses", "pairs"):
        for t in transitions:
            for kind in ("delta", "omega"):
                assert (out / "figures" / f"{kind}-{unit}-{t}.png").stat().st_size > 5_000
        assert (out / "figures" / f"summary-{unit}.png").exists()
        with open(out / f"transitions-{unit}.csv") as fh:
            rows = list(csv.DictReader(fh))
        assert [r["transition"] for r in rows] == transitions
        expected = development_attachment([1, 2, 3], weighted=unit == "synapses")
        for row, t in zip(rows, expected.transitions):
            assert float(row["gains_origin_slope"]) == pytest.approx(t.result.omega_gains.origin_slope)
            assert float(row["lost"]) == t.result.n_lost
        for name in (f"delta-{unit}.csv", f"omega-{unit}.csv"):
            with open(out / name) as fh:
                assert {r["transition"] for r in csv.DictReader(fh)} == set(transitions)
        assert _strict_json(out / f"attachment-{unit}.json")["stages"] == [1, 2, 3]
    metrics = _strict_json(out / "metrics.json")
    assert metrics["options"]["stages"] == [1, 2, 3] and metrics["options"]["n_boot"] == 5
    assert [r["transition"] for r in metrics["attachment"]["pairs"]] == transitions
    assert [r["source"] for r in metrics["stage_degrees"]] == [f"witvliet2020-{s}" for s in (1, 2, 3)]
    assert all(0.0 <= r["p_value"] <= 1.0 and r["n_boot"] == 5 for r in metrics["stage_degrees"])
    assert all(r["verdict"] in ("supported", "inconclusive", "rejected") for r in metrics["stage_degrees"])
    assert (out / "figures" / "stage-ccdf.png").exists() and (out / "stage-degrees.csv").exists()
    report = (out / "report.md").read_text()
    assert report.startswith("# Internal preferential attachment in the developing C. elegans brain")
    assert "| 1-2 | 161 | 789 | 255 |" in report and "## Connections counted as pairs" in report
    assert "| witvliet2020-3 | total | 162 |" in report and "verdict (widest window)" in report
    assert f"| {metrics['stage_degrees'][0]['verdict_summary']} |" in report

    # a rerun of the finished folder computes no stage again: no attachment, no fit, no figure
    def fail(*args, **kwargs):
        raise AssertionError("a finished stage was computed again")

    before = {p.name: p.read_bytes() for p in out.rglob("*.png")}
    for name in ("development_attachment", "analyse_degrees", "plot_delta", "plot_omega", "plot_degree_ccdfs"):
        monkeypatch.setattr(f"experiments.celegans_development.{name}", fail)
    monkeypatch.setattr("analysis.degree_analysis.tpl_pvalue", fail)
    assert main(["reproduce", "celegans-development", "--out", str(out), "--stages", "1-3", "--n-boot", "5", "--jobs", "1"]) == 0
    assert _strict_json(out / "metrics.json") == metrics and (out / "report.md").read_text() == report
    assert {p.name: p.read_bytes() for p in out.rglob("*.png")} == before
    # a figure deleted is drawn again (only its stage runs)
    monkeypatch.undo()
    (out / "figures" / "stage-ccdf.png").unlink()
    monkeypatch.setattr("experiments.celegans_development.development_attachment", fail)
    monkeypatch.setattr("analysis.degree_analysis.tpl_pvalue", fail)  # the bootstraps come from analyses/
    assert main(["reproduce", "celegans-development", "--out", str(out), "--stages", "1-3", "--n-boot", "5", "--jobs", "1"]) == 0
    assert (out / "figures" / "stage-ccdf.png").read_bytes() == before["stage-ccdf.png"]


def test_bad_stages_are_a_clear_error(tmp_path, capsys):
    assert main(["reproduce", "celegans-development", "--out", str(tmp_path), "--stages", "3,2"]) == 2
    err = capsys.readouterr().err
    assert "nn2graph reproduce: error: stages=(3, 2) must be in developmental order" in err
    with pytest.raises(SystemExit):
        main(["reproduce", "celegans-development", "--out", str(tmp_path), "--stages", "one-two"])
    assert "expected a range such as 1-8" in capsys.readouterr().err
