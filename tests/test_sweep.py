"""analysis.sweep: one table whatever the scheduler; resumes without recomputing; structure reported."""

import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import save_file

from analysis import assess_power_law
from analysis.sweep import SweepError, sweep
from nn2graph.exceptions import NN2GraphError
from analysis.sweep_tasks import _task_seed

ROOT = Path(__file__).resolve().parents[1]


def _heavy_tailed(rows, cols, rng):
    """A weight matrix whose rows keep Zipf-distributed numbers of weights (a fit has a tail)."""
    keep = np.minimum(cols, rng.zipf(1.8, rows) + 1)
    w = np.zeros((rows, cols), np.float32)
    for r in range(rows):
        w[r, rng.choice(cols, keep[r], replace=False)] = rng.standard_normal(keep[r]) + 3.0
    return torch.from_numpy(w)


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sweep-sources")
    rng = np.random.default_rng(0)
    paths = []
    for k in range(2):
        weights = {"fc1.weight": _heavy_tailed(70, 90, rng), "fc2.weight": _heavy_tailed(50, 70, rng)}
        if k == 1:  # a Wanda-style layer: 7 weights in every row
            w = torch.randn(20, 50, generator=torch.Generator().manual_seed(1))
            weights["fc3.weight"] = w.scatter(1, w.abs().topk(43, dim=1, largest=False).indices, 0.0)
        save_file(weights, folder / f"run{k}.safetensors")
        paths.append(folder / f"run{k}.safetensors")
    degrees = rng.zipf(2.0, 150)
    lines = ["layer,unit,degree"] + [f"hidden,{i},{d}" for i, d in enumerate(degrees)]
    (folder / "net.csv").write_text("\n".join(lines) + "\n")
    return paths + [folder / "net.csv"]


def _check_rows_independently(table, sources, n_boot, seed):
    warnings.simplefilter("ignore", UserWarning)  # fits on the edge of their search range: said in the table
    w = {}
    from safetensors.torch import load_file

    for k in range(2):
        w.update({(f"run{k}", name[:-7]): t for name, t in load_file(sources[k]).items()})
    for _, row in table[table["source"] != "net"].iterrows():
        layer, side = row["layer"].split(":")
        deg = torch.count_nonzero(w[(row["source"], layer)], dim=1 if side == "in_degree" else 0).numpy()
        assert row["n"] == deg.size and row["max_degree"] == deg.max()
        if row["fitted"]:
            ev = assess_power_law(deg, n_boot=n_boot, n_jobs=1, seed=_task_seed(seed, row["source"], row["layer"]))
            assert (row["alpha"], row["xmin"], row["xmax"]) == (ev.fit.alpha, ev.fit.xmin, ev.fit.xmax)
            assert (row["pvalue"], row["verdict"], row["summary"]) == (ev.pvalue.p_value, ev.verdict, ev.summary())


def test_rows_equal_assess_power_law_on_the_same_degrees(sources):
    table = sweep(sources, scheduler="synchronous", n_boot=8, seed=5, progress=False)
    assert len(table) == 2 * 2 + 2 * 3 + 1 and table["source"].tolist()[-1] == "net"
    _check_rows_independently(table, sources, 8, 5)


def test_same_table_on_a_local_cluster_and_the_default(sources, tmp_path):
    from distributed import LocalCluster

    few = [sources[1], sources[2]]  # a checkpoint (a Wanda layer in it) and a degree file
    options = {"n_boot": 8, "seed": 5, "progress": False}
    default = sweep(few, n_workers=2, **options)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        on_cluster = sweep(few, scheduler=cluster.scheduler_address, out=tmp_path / "c", **options)
    pd.testing.assert_frame_equal(default, on_cluster, check_exact=True)
    pd.testing.assert_frame_equal(default, sweep(few, scheduler="synchronous", **options), check_exact=True)
    from_csv = pd.read_csv(tmp_path / "c" / "sweep.csv")
    assert from_csv["alpha"].tolist()[:2] == default["alpha"].tolist()[:2]  # floats written exactly
    assert sorted(p.name for p in (tmp_path / "c" / "figures").iterdir()) == ["net.png", "run1.png"]


def test_structured_layer_is_reported_not_fitted(sources):
    table = sweep(sources[1:2], scheduler="synchronous", n_boot=5, seed=0, progress=False)
    row = table.set_index("layer").loc["fc3:in_degree"]
    assert not row["fitted"] and row["verdict"] == "not fitted" and row["pattern"] == "per-row"
    assert row["not_fitted"].startswith("in-degree is 7 for every unit") and pd.isna(row["alpha"])
    assert table.set_index("layer").loc["fc3:out_degree", "fitted"]


def test_killed_sweep_resumes_without_recomputing(sources, tmp_path):
    out = tmp_path / "s"
    cmd = [sys.executable, "-m", "nn2graph", "sweep", *map(str, sources), "--out", str(out), "--n-boot", "30",
           "--seed", "2", "--scheduler", "synchronous", "--no-figures"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(list((out / "rows").glob("*.json"))) < 2:
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    finished = {p: p.stat().st_mtime_ns for p in (out / "rows").glob("*.json")}
    assert 2 <= len(finished) < 11, "the sweep was not stopped half way"
    resumed = sweep(sources, out=out, n_boot=30, seed=2, scheduler="synchronous", progress=False, figures=False)
    assert resumed.attrs == {"computed": 11 - len(finished), "reused": len(finished)}
    assert all(p.stat().st_mtime_ns == t for p, t in finished.items())  # finished rows untouched
    fresh = sweep(sources, n_boot=30, seed=2, scheduler="synchronous", progress=False)
    pd.testing.assert_frame_equal(resumed, fresh, check_exact=True)
    again = sweep(sources, out=out, n_boot=30, seed=2, scheduler="synchronous", progress=False, figures=False)
    assert again.attrs == {"computed": 0, "reused": 11}


def test_folder_refuses_other_options_and_bad_input(sources, tmp_path):
    sweep(sources[2:], out=tmp_path / "s", n_boot=5, seed=1, scheduler="synchronous", progress=False)
    with pytest.raises(NN2GraphError, match="holds a run with other settings: n_boot is 5 there, 6 here"):
        sweep(sources[2:], out=tmp_path / "s", n_boot=6, seed=1, scheduler="synchronous", progress=False)
    kept = sweep(sources[2:], out=tmp_path / "s", n_boot=5, scheduler="synchronous", progress=False)
    assert kept.attrs["reused"] == 1  # no seed given: the folder's is used
    with pytest.raises(SweepError, match="no such file"):
        sweep([tmp_path / "absent.pt"], scheduler="synchronous")
    with pytest.raises(SweepError, match="n_boot"):
        sweep(sources, n_boot=0)
