"""analysis.sweep over many MLP checkpoints: 2 local Dask workers against one process.

Writes ``--checkpoints`` safetensors checkpoints (default 20) of the paper's MLP
(784-300-100-10) with heavy-tailed sparsity (the number of weights each unit keeps is
Zipf-distributed, about 90% zeros), then sweeps them with ``--n-boot`` bootstrap sets per degree
set (default 1000; six degree sets per checkpoint: in- and out-degrees of three matrices):

* one process: ``scheduler="synchronous"`` (no Dask);
* 2 local workers: the default embedded ``LocalCluster`` (``n_workers=2``), start-up and the
  workers' imports included (measured alone too, on a one-row sweep);

checks that both give the same table bit for bit, and prints the times, their ratio and the load
average.  ``--layers`` limits the degree sets per checkpoint (a pattern on tensor names) when the
full sweep is too long for the machine.

    PYTHONPATH=. python benchmarks/bench_sweep.py [--checkpoints 20] [--n-boot 1000] [--pattern 'fc1*']
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np


def write_mlps(folder: Path, count: int, seed: int = 0) -> list[Path]:
    import torch
    from safetensors.torch import save_file

    rng = np.random.default_rng(seed)
    paths = []
    for k in range(count):
        weights = {}
        for name, (rows, cols) in {"fc1": (300, 784), "fc2": (100, 300), "fc3": (10, 100)}.items():
            keep = np.minimum(cols, rng.zipf(1.7, rows) + cols // 50)
            w = np.zeros((rows, cols), np.float32)
            for r in range(rows):
                w[r, rng.choice(cols, keep[r], replace=False)] = rng.standard_normal(keep[r])
            weights[f"{name}.weight"] = torch.from_numpy(w)
            weights[f"{name}.bias"] = torch.zeros(rows)
        paths.append(folder / f"mlp-{k:02d}.safetensors")
        save_file(weights, paths[-1])
    return paths


def load() -> str:
    return " ".join(open("/proc/loadavg").read().split()[:3])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoints", type=int, default=20)
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--pattern", default=None, help="only tensors matching this pattern, e.g. 'fc1*'")
    args = parser.parse_args()
    import analysis.sweep  # noqa: F401  (imports outside the timings of this process)
    import torch  # noqa: F401
    from analysis.sweep import sweep

    folder = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    try:
        paths = write_mlps(folder, args.checkpoints)
        options = {"n_boot": args.n_boot, "seed": 0, "pattern": args.pattern, "progress": False}
        print(f"{args.checkpoints} MLP checkpoints, n_boot={args.n_boot}, pattern={args.pattern}")
        t = time.perf_counter()
        one = sweep(paths, scheduler="synchronous", **options)
        t_one = time.perf_counter() - t
        print(f"one process: {t_one:.1f} s for {len(one)} rows ({t_one / len(one):.2f} s a row; load {load()})")
        tiny = folder / "tiny.csv"
        tiny.write_text("layer,unit,degree\n" + "".join(f"a,{i},{1 + i % 7}\n" for i in range(40)))
        t = time.perf_counter()
        sweep([tiny], n_workers=2, n_boot=1, seed=0, progress=False)
        t_start = time.perf_counter() - t
        print(f"2 local workers, one 40-node degree set with 1 bootstrap set: {t_start:.1f} s "
              f"(start-up: cluster, workers' imports, shut-down; load {load()})")
        t = time.perf_counter()
        two = sweep(paths, n_workers=2, **options)
        t_two = time.perf_counter() - t
        same = one.equals(two)
        print(f"2 local workers: {t_two:.1f} s (load {load()}); ratio one process / 2 workers = "
              f"{t_one / t_two:.2f}x; same table bit for bit: {same}")
        print(one["verdict"].value_counts().to_dict())
        if not same:
            for col in one.columns:
                a, b = one[col].tolist(), two[col].tolist()
                diff = [i for i in range(len(a)) if a[i] != b[i] and not (a[i] != a[i] and b[i] != b[i])]
                if diff:
                    i = diff[0]
                    print(f"column {col}: {len(diff)} rows differ, e.g. {one.loc[i, 'source']} {one.loc[i, 'layer']}: "
                          f"{a[i]!r} against {b[i]!r}")
            print("dtypes:", dict(one.dtypes[one.dtypes != two.dtypes]), dict(two.dtypes[one.dtypes != two.dtypes]))
            raise SystemExit("the tables differ")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
