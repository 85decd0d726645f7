"""The paper profile end to end through ``nn2graph reproduce`` (static and continual), and
``nn2graph reproduce ablation`` on those tiny runs (experiments.profile_ablation)."""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import json
import shutil

import numpy as np
import pytest

from experiments.profile_ablation import COLUMNS, plot_ablation_ccdfs, profile_ablation, read_run, summarise
from experiments.reproduce import ReproduceError
from experiments.training import get_profile
from nn2graph.cli import main
from nn2graph.degree_csv import read_degree_csv
from nn2graph.run_folder import RunFolderError
from tests.test_data import write_mnist

# tiny training sets give degree distributions whose best window touches the search edge
pytestmark = pytest.mark.filterwarnings("ignore:TPL fit on the edge of its search range:UserWarning")

COMMON = ["--limit-train", "60", "--n-boot", "2", "--jobs", "1", "--threads", "1", "--quiet"]
PAPER = ["--profile", "paper", "--epochs", "2", "--retrain-epochs", "2"]
QUICK = ["--profile", "quick", "--epochs", "1", "--retrain-epochs", "1"]
# folder -> (command, options); the folder names do not say the profile or seed on purpose
RUNS = {"static-a": (["mlp-mnist"], PAPER + ["--seed", "0"]),
        "static-b": (["mlp-mnist"], QUICK + ["--seed", "0"]),
        "static-c": (["mlp-mnist"], QUICK + ["--seed", "1"]),
        "cont-a": (["continual", "--P", "8"], PAPER + ["--seed", "0"]),
        "cont-b": (["continual", "--P", "8"], QUICK + ["--seed", "0"])}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("profiles")
    write_mnist(root / "mnist", n_train=90, n_test=20)
    printed = {}
    for name, (target, options) in RUNS.items():
        argv = ["reproduce", *target, "--data-dir", str(root / "mnist"), "--out", str(root / name), *COMMON,
                *options]
        with contextlib.redirect_stdout(io.StringIO()) as out:
            assert main(argv) == 0, name
        printed[name] = out.getvalue()
    return root, printed


def _metrics(folder):
    return json.loads((folder / "metrics.json").read_text())


def _check_training(metrics, report, printed, phases):
    profile = get_profile("paper", "mnist").with_epochs(2, 2)
    training = metrics["training"]
    assert training["profile"] == "paper" and training["hyperparameters"] == dataclasses.asdict(profile)
    assert training["hyperparameters"]["patience"] == 15 and training["hyperparameters"]["optimizer"] == "sgd"
    assert list(training["phases"]) == list(phases)
    description = ("profile 'paper': SGD with Nesterov momentum 0.9, lr 0.01, batch 500, constant learning rate, "
                   "up to 2 dense + 2 retraining epochs, early stopping after 15 epochs without a better validation "
                   "accuracy")
    assert training["description"].startswith(description)
    assert description in report and description in printed
    for name, record in phases.items():
        phase = training["phases"][name]
        vals = [r["val_accuracy"] for r in record["history"]]
        # the best epoch is the first of the highest validation accuracy in the phase's own history
        assert phase == {"phase": name, "epochs_run": 2, "max_epochs": 2, "best_epoch": vals.index(max(vals)),
                         "best_val_accuracy": max(vals), "patience": 15, "stopped_early": False}
        row = (f"| {name} | 2 of up to 2 | {vals.index(max(vals)) + 1} | {max(vals):.4f} | the epoch limit |")
        assert row in report, row
        assert f"{name}: 2 of up to 2 epochs" in printed


def test_static_paper_profile_end_to_end(runs):
    root, printed = runs
    metrics = _metrics(root / "static-a")
    assert metrics["profile"] == "paper" and metrics["hyperparameters"]["batch_size"] == 500
    report = (root / "static-a" / "report.md").read_text()
    assert "## Training" in report
    _check_training(metrics, report, printed["static-a"],
                    {"dense": metrics["dense"]["training"], "retrain": metrics["sparse"]["training"]})
    assert "quick" in _metrics(root / "static-b")["training"]["description"]


def test_continual_paper_profile_end_to_end(runs):
    root, printed = runs
    metrics = _metrics(root / "cont-a")
    # the same fields as a static run's metrics.json: the profile's name and its hyperparameters
    assert metrics["profile"] == "paper" and metrics["hyperparameters"]["batch_size"] == 500
    report = (root / "cont-a" / "report.md").read_text()
    phases = metrics["continual"]["phases"]
    _check_training(metrics, report, printed["cont-a"], {name: phases[name]["training"] for name in phases})
    assert list(phases) == ["a-dense", "a-sparse", "b-dense", "b-sparse"]


def _folders(root):
    return [root / name for name in RUNS]


@pytest.fixture(scope="module")
def ablation(runs):
    root, _ = runs
    with contextlib.redirect_stdout(io.StringIO()) as out:
        assert main(["reproduce", "ablation", *map(str, _folders(root)), "--out", str(root / "ablation")]) == 0
    return root, out.getvalue()


def _rows(root):
    with open(root / "ablation" / "ablation.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def test_ablation_csv_has_every_run_and_layer_from_the_runs_files(ablation):
    root, printed = ablation
    rows = _rows(root)
    assert list(rows[0]) == list(COLUMNS)
    assert len(rows) == 5 * 3
    assert "mlp-mnist profile paper seed 0" in printed and "continual-P8 profile quick seed 0" in printed
    # profile and seed come from run.json, not from the folder's name
    key = {(r["run"].rsplit("/", 1)[-1], r["layer"]): r for r in rows}
    assert {(n, key[(n, "fc1")]["profile"], key[(n, "fc1")]["seed"]) for n in RUNS} == {
        ("static-a", "paper", "0"), ("static-b", "quick", "0"), ("static-c", "quick", "1"),
        ("cont-a", "paper", "0"), ("cont-b", "quick", "0")}
    for name in ("static-a", "static-c"):
        metrics = _metrics(root / name)
        for layer in ("input", "fc1", "fc2"):
            row, entry = key[(name, layer)], metrics["layers"][layer]
            degrees = read_degree_csv(root / name / f"degrees-{layer}.csv")[layer]
            assert (int(row["degree_min"]), int(row["degree_max"])) == (degrees.min(), degrees.max())
            assert float(row["alpha"]) == entry["fit"]["alpha"] and row["verdict"] == entry["verdict"]
            assert (int(row["xmin"]), row["xmax"]) == (entry["fit"]["xmin"], str(entry["fit"]["xmax"]))
            assert float(row["test_sparse"]) == pytest.approx(100 * metrics["accuracy"]["sparse_test"])
            assert row["test_a_dense"] == row["elasticity"] == ""
    assert key[("static-a", "fc1")]["epochs_run"] == "dense 2/2; retrain 2/2"
    # continual: Figure 8's lines from omega-summary.csv, Figure 7's elasticity from metrics.json
    for name in ("cont-a", "cont-b"):
        metrics = _metrics(root / name)
        with open(root / name / "omega-summary.csv", newline="") as handle:
            omega = {o["layer"]: o for o in csv.DictReader(handle)}
        degrees = read_degree_csv(root / name / "degrees-t1.csv")
        for layer in ("input", "fc1", "fc2"):
            row = key[(name, layer)]
            for column in ("slope", "r2", "origin_slope", "origin_r2"):
                assert float(row[f"omega_{column}"]) == pytest.approx(float(omega[layer][column]))
            assert int(row["degree_max"]) == degrees[layer].max()
            assert float(row["test_b_sparse"]) == pytest.approx(metrics["continual"]["table1"]["b_sparse"])
        trends = metrics["attachment"]["delta_trend"]
        assert [key[(name, t["lower"])]["delta_pair"] for t in trends] == ["input->fc1", "fc1->fc2"]
        assert float(key[(name, "input")]["elasticity"]) == pytest.approx(trends[0]["elasticity"])
        assert key[(name, "fc2")]["elasticity"] == ""


def test_ablation_md_gives_the_seed_spread(ablation):
    root, _ = ablation
    text = (root / "ablation" / "ablation.md").read_text()
    rows = [r for r in _rows(root) if r["model"] == "mlp-mnist" and r["profile"] == "quick"]
    for layer in ("input", "fc1", "fc2"):
        alphas = [float(r["alpha"]) for r in rows if r["layer"] == layer]
        verdicts = sorted(r["verdict"] for r in rows if r["layer"] == layer)
        assert len(alphas) == 2
        spread = f"{np.mean(alphas):.3g} ± {np.std(alphas, ddof=1):.3g}"
        line = next(line for line in text.splitlines() if line.startswith(f"| {layer} | quick | 2 |"))
        assert spread in line
        counts = {v: verdicts.count(v) for v in verdicts}
        assert line.endswith(" | " + ", ".join(f"{v} {c}" for v, c in sorted(counts.items())) + " |")
    dense = [float(r["test_dense"]) for r in rows if r["layer"] == "fc1"]
    assert f"| quick | 0, 1 | {np.mean(dense):.2f} ± {np.std(dense, ddof=1):.2f} |" in text
    assert "## continual-P8" in text and "omega_origin_r2" in text and "| input | paper | 1 |" in text
    assert "figure-ablation-ccdf.png" in text


def test_summarise_marks_missing_values():
    rows = [{"model": "m", "profile": "p", "seed": s, "layer": "input", "alpha": a, "xmax": x, "verdict": v}
            for s, a, x, v in ((0, 1.0, 10, "supported"), (1, None, "inf", "not fitted"), (2, 4.0, 20, "supported"))]
    (group,) = summarise(rows)
    assert group["n_seeds"] == 3 and group["seeds"] == "0, 1, 2"
    assert group["alpha"] == f"2.5 ± {np.std([1.0, 4.0], ddof=1):.3g} [2 of 3]"
    assert group["xmax"] == f"15 ± {np.std([10, 20], ddof=1):.3g} [2 of 3]"
    assert group["verdicts"] == "not fitted 1, supported 2"


def test_ablation_figure_overlays_the_profiles(ablation):
    root, _ = ablation
    png = root / "ablation" / "figure-ablation-ccdf.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    runs = [read_run(folder) for folder in _folders(root)]
    fig = plot_ablation_ccdfs(runs)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == [f"{m}: {layer}" for m in ("mlp-mnist", "continual-P8")
                                                  for layer in ("input", "fc1", "fc2")]
    mlp_fc1 = visible[1]
    lines = mlp_fc1.get_lines()
    assert len(lines) == 3  # one line per seed: paper 0, quick 0, quick 1
    colours = [line.get_color() for line in lines]
    assert colours[1] == colours[2] != colours[0]
    # the lines are the CCDFs of the runs' degrees
    degrees = read_degree_csv(root / "static-c" / "degrees-fc1.csv")["fc1"]
    x, share = lines[2].get_data()
    values = np.unique(degrees[degrees > 0])
    np.testing.assert_array_equal(x, values)
    np.testing.assert_allclose(share, [(degrees >= v).sum() / (degrees > 0).sum() for v in values])
    legend = [t.get_text() for t in mlp_fc1.get_legend().get_texts()]
    verdicts = {r.seed: r.verdicts["fc1"] for r in runs if r.model == "mlp-mnist" and r.profile == "quick"}
    assert legend == [f"paper: s0 {runs[0].verdicts['fc1']}", f"quick: s0 {verdicts[0]}, s1 {verdicts[1]}"]


def test_ablation_refuses_what_it_cannot_compare(ablation, tmp_path, capsys):
    root, _ = ablation
    with pytest.raises(ReproduceError, match="static-a and .*static-a.* are both mlp-mnist, profile 'paper', seed 0"):
        profile_ablation([root / "static-a", root / "static-a"], out=tmp_path / "a")
    with pytest.raises(ReproduceError, match="run identity file .*run.json does not exist"):
        profile_ablation([root / "mnist"], out=tmp_path / "a")
    with pytest.raises(ReproduceError, match="is not a folder"):
        profile_ablation([root / "static-a" / "report.md"], out=tmp_path / "a")
    # an unfinished run: refused, or left out with --skip-unfinished
    unfinished = tmp_path / "unfinished"
    shutil.copytree(root / "static-c", unfinished)
    metrics = _metrics(unfinished)
    (unfinished / "metrics.json").write_text(json.dumps({**metrics, "phase": "trained"}))
    with pytest.raises(ReproduceError, match="holds an unfinished run: finish it"):
        profile_ablation([root / "static-a", unfinished], out=tmp_path / "b")
    with pytest.warns(UserWarning, match="left out: .*unfinished"):
        result = profile_ablation([root / "static-a", unfinished], out=tmp_path / "b", skip_unfinished=True)
    assert [r.path for r in result.runs] == [root / "static-a"] and result.skipped == (str(unfinished),)
    assert f"Left out (unfinished): {unfinished}." in (tmp_path / "b" / "ablation.md").read_text()
    # seed of metrics.json and run.json disagree: a mixed folder
    (unfinished / "metrics.json").write_text(json.dumps({**metrics, "seed": 7}))
    with pytest.raises(ReproduceError, match="run.json says seed 1, metrics.json 7"):
        read_run(unfinished)
    # another set of runs into the same folder: refused unless --restart
    with pytest.raises(RunFolderError, match="holds a run with other settings"):
        profile_ablation([root / "static-b"], out=tmp_path / "b")
    assert profile_ablation([root / "static-b"], out=tmp_path / "b", restart=True).runs[0].profile == "quick"
    # the CLI says it in one line
    assert main(["reproduce", "ablation", str(root / "mnist"), "--out", str(tmp_path / "c")]) == 2
    assert "run.json does not exist" in capsys.readouterr().err
