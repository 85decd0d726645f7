"""Speed of analysis.assess_power_law on a 1024-node MLP layer with 1000 bootstrap sets.  Run:

    timeout 900 /work/venv/bin/python benchmarks/bench_evidence.py

Target: method "widest" with 1000 sets in at most 60 s on the 2 cores.

Baselines, measured in this same run on the same layer:

* ``naive widest``: the same scan (the same windows, in the same order, widest first) without
  its two economies, the Kolmogorov and curvature screens and the vectorised sets: every window
  up to the chosen one gets its 1000 sets, each drawn with ``TPLFit.sample`` and refitted with
  ``fit_tpl(xmin=..., xmax=...)``.  The time of one refit is measured on 50 sets of the chosen
  window and multiplied by the number of sets (said in the output).
* ``paper``: ``assess_power_law(method="paper")``, the minimum-KS search with Clauset's
  bootstrap (every set refitted with the whole search) on both cores.

Times are wall-clock and CPU time of this process (workers' CPU not included); the box is
shared, so the load average is printed at the start and the end.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis import assess_power_law, fit_tpl  # noqa: E402
from analysis.evidence import _data_decades, _grid  # noqa: E402
from analysis.tpl import _Data  # noqa: E402
from benchmarks.bench_tpl import mlp_layer_degrees  # noqa: E402


def timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, out


def windows_before(x: np.ndarray, xmin: int, xmax: int) -> int:
    """Windows of the scan up to and including [xmin, xmax], in the scan's order."""
    data = _Data.from_sorted(np.sort(x[x > 0]))
    grid = _grid(data.values)
    ia, jb = np.repeat(grid, grid.size), np.tile(grid, grid.size)
    ok = jb >= ia + 1
    ia, jb = ia[ok], jb[ok]
    a, b = data.values[ia].astype(float), data.values[jb].astype(float)
    m = data.cum[jb + 1] - data.cum[ia]
    order = np.lexsort((-m, -(np.log(b) - np.log(a)), -_data_decades(data, ia, jb)))
    pos = np.flatnonzero((a[order] == xmin) & (b[order] == xmax))
    return int(pos[0]) + 1


def main() -> None:
    print(f"cores: {os.cpu_count()}, load average at start: {os.getloadavg()}")
    layer = mlp_layer_degrees()
    print(f"MLP layer: n={layer.size}, distinct degrees={np.unique(layer).size}, range [{layer.min()}, {layer.max()}]")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        wall, cpu, ev = timed(lambda: assess_power_law(layer, n_boot=1000, seed=0))
        print(f"widest, 1000 sets: {wall:.2f} s wall, {cpu:.2f} s CPU (target <= 60 s: "
              f"{'OK' if wall <= 60 else 'MISSED'}); window [{ev.fit.xmin}, {ev.fit.xmax}], "
              f"{ev.n_windows_tested} windows tested; {ev.summary()}")
        k = windows_before(layer, ev.fit.xmin, int(ev.fit.xmax))
        fit = ev.fit
        rng = np.random.default_rng(1)
        t0 = time.perf_counter()
        for _ in range(50):
            fit_tpl(fit.sample(fit.n_tail, rng), xmin=fit.xmin, xmax=fit.xmax)
        per_set = (time.perf_counter() - t0) / 50
        naive = k * 1000 * per_set
        print(f"naive widest: {k} windows x 1000 sets x {1e3 * per_set:.2f} ms a refit (50 timed) = {naive:.1f} s "
              f"-> widest is {naive / wall:,.0f}x faster wall-clock")
        pwall, pcpu, pev = timed(lambda: assess_power_law(layer, method="paper", n_boot=1000, seed=0, n_jobs=2))
        print(f"paper, 1000 sets, 2 workers: {pwall:.2f} s wall ({pcpu:.2f} s CPU in this process); window "
              f"[{pev.fit.xmin}, {pev.fit.xmax}]; {pev.summary()} -> widest is {pwall / wall:.2f}x its time")
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
