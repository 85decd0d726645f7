"""End-to-end test of ``nn2graph train`` through the CLI's main() on a tiny MNIST."""

from __future__ import annotations

import json

import torch

from experiments.models import build_model
from experiments.pruning import sparsity_report
from nn2graph.cli import main
from tests.test_data import write_mnist


def test_train_prune_retrain_end_to_end(tmp_path, capsys):
    write_mnist(tmp_path / "mnist", n_train=60, n_test=20)
    out = tmp_path / "run"
    argv = ["train", "mlp", "--data-dir", str(tmp_path / "mnist"), "--epochs", "2",
            "--retrain-epochs", "1", "--limit-train", "40", "--out", str(out), "--seed", "3", "--quiet"]
    assert main(argv) == 0
    assert "sparse:" in capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["model"] == "mlp" and metrics["profile"] == "quick"
    assert metrics["data"]["train"] == 40 and metrics["data"]["val"] == 10 and metrics["data"]["test"] == 20
    assert len(metrics["dense"]["training"]["history"]) == 2
    assert len(metrics["sparse"]["training"]["history"]) == 1
    rows = {r["layer"]: r for r in metrics["sparse"]["sparsity"]}
    assert rows["fc1"]["nonzero"] == 784 * 1024 - round(0.9 * 784 * 1024)
    assert rows["out"]["sparsity"] == 0.0
    for key in ("val_accuracy", "test_accuracy", "pruned_test_accuracy"):
        assert 0.0 <= metrics["sparse"][key] <= 1.0
    # the saved state dicts load into fresh models and reproduce the reported numbers
    sparse = build_model("mlp", weights=out / "sparse.pt")
    assert {r.layer: r.nonzero for r in sparsity_report(sparse).rows} == \
        {k: v["nonzero"] for k, v in rows.items()}
    dense = build_model("mlp", weights=out / "dense.pt")
    assert sparsity_report(dense).rows[0].sparsity == 0.0
    # --resume after completion redoes nothing and gives the same weights
    assert main(argv + ["--resume"]) == 0
    again = build_model("mlp", weights=out / "sparse.pt")
    for key, value in sparse.state_dict().items():
        assert torch.equal(value, again.state_dict()[key])
    assert json.loads((out / "metrics.json").read_text())["sparse"]["test_accuracy"] == \
        metrics["sparse"]["test_accuracy"]


def test_no_pruning(tmp_path):
    write_mnist(tmp_path / "mnist", n_train=24, n_test=6)
    out = tmp_path / "run"
    assert main(["train", "cnn-mnist", "--data-dir", str(tmp_path / "mnist"), "--epochs", "1",
                 "--prune", "0", "--out", str(out), "--quiet"]) == 0
    assert (out / "dense.pt").is_file() and not (out / "sparse.pt").exists()
    assert "sparse" not in json.loads((out / "metrics.json").read_text())


def test_missing_data_is_a_clear_error(tmp_path, capsys):
    assert main(["train", "mlp", "--data-dir", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nn2graph train: error: MNIST not found in")
    assert "--data-dir" in err and "--download" in err


def test_bad_prune_fraction(tmp_path, capsys):
    assert main(["train", "mlp", "--prune", "1.5", "--out", str(tmp_path)]) == 2
    assert "--prune must be in [0, 1), not 1.5" in capsys.readouterr().err


def test_two_runs_on_one_folder(tmp_path, capsys):
    import os
    import signal

    from tests.test_run_folder import hold_in_child

    write_mnist(tmp_path / "mnist", n_train=24, n_test=6)
    out = tmp_path / "run"
    argv = ["train", "mlp", "--data-dir", str(tmp_path / "mnist"), "--epochs", "1", "--prune", "0",
            "--out", str(out), "--quiet", "--seed", "0"]
    pid = hold_in_child(out, {"other": "run"}, command="nn2graph train mlp --seed 0")
    try:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert f"is in use by another run: process {pid} on " in err and "nn2graph train mlp --seed 0" in err
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    (out / "run.json").unlink()  # the holder's identity, not a train run's
    assert main(argv) == 0
    first = json.loads((out / "metrics.json").read_text())
    # the same folder with another seed is refused, naming seed; nothing is mixed
    assert main(argv[:-1] + ["1", "--resume"]) == 2
    err = capsys.readouterr().err
    assert "holds a run with other settings: seed is 0 there, 1 here" in err and "--restart" in err
    assert json.loads((out / "metrics.json").read_text()) == first
    # without --resume the finished run is not silently mixed with a new one either
    assert main(argv) == 2
    assert "already holds this run" in capsys.readouterr().err
    assert main(argv[:-1] + ["1", "--restart"]) == 0
    assert json.loads((out / "metrics.json").read_text())["seed"] == 1


def test_clean_errors_for_bad_run_options(tmp_path, capsys):
    for argv, message in [
        (["train", "mlp", "--threads", "0"], "--threads must be a positive number of CPU threads, not 0"),
        (["train", "mlp", "--device", "tpu"], "unknown device 'tpu'"),
        (["reproduce", "continual", "--P", "8", "--threads", "0"], "--threads must be a positive number"),
        (["reproduce", "mlp-mnist", "--threads", "-1"], "--threads must be a positive number"),
    ]:
        assert main(argv + ["--out", str(tmp_path / "o")]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err
    if not torch.cuda.is_available():
        assert main(["train", "mlp", "--device", "cuda", "--out", str(tmp_path / "o")]) == 2
        assert "finds no CUDA GPU here: use --device cpu" in capsys.readouterr().err


def test_out_that_is_a_file_or_holds_a_truncated_checkpoint(tmp_path, capsys):
    write_mnist(tmp_path / "mnist", n_train=24, n_test=6)
    (tmp_path / "file").write_text("x")
    argv = ["train", "mlp", "--data-dir", str(tmp_path / "mnist"), "--epochs", "1", "--prune", "0", "--quiet"]
    assert main(argv + ["--out", str(tmp_path / "file")]) == 2
    assert "is a file, not a folder: choose another --out" in capsys.readouterr().err
    out = tmp_path / "run"
    assert main(argv + ["--out", str(out)]) == 0
    checkpoint = out / "dense-checkpoint.pt"
    checkpoint.write_bytes(checkpoint.read_bytes()[:1000])
    assert main(argv + ["--out", str(out), "--resume"]) == 2
    err = capsys.readouterr().err
    assert f"cannot read training checkpoint {checkpoint}: it is truncated or not a torch file" in err
    assert "Traceback" not in err
