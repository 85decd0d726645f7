"""``nn2graph reproduce dst`` end to end: a tiny RigL run killed (SIGKILL) and resumed to identical results."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from experiments.dst import load_topology, topology_steps
from nn2graph.cli import main
from tests.test_data import write_mnist

ROOT = Path(__file__).resolve().parents[1]


def _command(mnist: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "nn2graph", "reproduce", "dst", "--method", "rigl", "--data-dir", str(mnist),
            "--out", str(out), "--epochs", "8", "--batch-size", "20", "--delta-t", "6", "--n-boot", "5",
            "--threads", "1", "--quiet"]


def _start(mnist: Path, out: Path) -> subprocess.Popen:
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    return subprocess.Popen(_command(mnist, out), cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _rows(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_killed_and_resumed_run_equals_an_uninterrupted_one(tmp_path):
    mnist = tmp_path / "mnist"
    write_mnist(mnist, n_train=120, n_test=40)
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    reference = _start(mnist, clean)
    victim = _start(mnist, killed)
    deadline = time.monotonic() + 300
    while not (killed / "checkpoint.pt").is_file():
        assert victim.poll() is None, victim.communicate()[0]
        assert time.monotonic() < deadline
        time.sleep(0.02)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    assert victim.returncode == -signal.SIGKILL
    assert not (killed / "report.md").exists()

    resumed = _start(mnist, killed)
    for process in (resumed, reference):
        output = process.communicate(timeout=600)[0]
        assert process.returncode == 0, output
    metrics = {name: json.loads((folder / "metrics.json").read_text()) for name, folder in
               (("killed", killed), ("clean", clean))}
    assert metrics["clean"]["resumed_from_epoch"] == 0
    assert 0 < metrics["killed"]["resumed_from_epoch"] < 8
    for key in ("config", "densities", "final", "fits", "attachment", "rewiring_steps"):
        assert metrics["killed"][key] == metrics["clean"][key], key
    assert metrics["clean"]["rewiring_steps"] == 4
    history = {name: json.loads((folder / "history.json").read_text()) for name, folder in
               (("killed", killed), ("clean", clean))}
    assert history["killed"] == history["clean"]
    assert topology_steps(killed) == topology_steps(clean) == [0, 6, 12, 18, 24]
    for step in topology_steps(clean):
        a = load_topology(killed / "topology" / f"step-{step:08d}.pt")
        b = load_topology(clean / "topology" / f"step-{step:08d}.pt")
        assert all(np.array_equal(a[layer], b[layer]) for layer in b)
    weights = [torch.load(folder / "model.pt", weights_only=True) for folder in (killed, clean)]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[1])
    fitted = sorted(p.name for p in clean.glob("degrees-step-*.csv"))
    assert fitted == ["degrees-step-00000000.csv", "degrees-step-00000012.csv", "degrees-step-00000024.csv"]
    for name in ("attachment-delta.csv", "attachment-omega.csv", "connections.csv", "fits.csv", *fitted):
        assert _rows(killed / name) == _rows(clean / name), name
    # what the run wrote is complete: every transition's gains and losses for both layer pairs
    delta = _rows(clean / "attachment-delta.csv")
    assert {(r["step"], r["kind"], r["lower"]) for r in delta} == {
        (str(s), kind, lower) for s in (6, 12, 18, 24) for kind in ("gains", "losses") for lower in ("input", "fc1")}
    report = (clean / "report.md").read_text()
    assert "RigL" in report and "## Degree distributions" in report
    for figure in ("attachment.png", "degree-ccdf.png", "accuracy.png"):
        assert (clean / figure).stat().st_size > 1000


def test_bad_fit_steps_are_a_clear_error(tmp_path, capsys):
    argv = ["reproduce", "dst", "--method", "set", "--fit-steps", "a,b", "--out", str(tmp_path)]
    assert main(argv) == 2
    assert "--fit-steps must be comma-separated step numbers" in capsys.readouterr().err


def test_compare_with_a_folder_that_is_no_run_is_a_clear_error(tmp_path, capsys):
    argv = ["reproduce", "dst", "--method", "rigl", "--compare", str(tmp_path / "nothing"), "--out", str(tmp_path / "o")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "metrics.json" in err and "finished 'nn2graph reproduce dst' run" in err
