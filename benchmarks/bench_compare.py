"""Cost of analysis.compare.analyse_degrees beyond the bootstrap it runs (a script, not a test).

Run from the repository root:  PYTHONPATH=. python benchmarks/bench_compare.py

Baseline: the bootstrap alone, analysis.tpl_pvalue on the paper-method fit (docs/method.md §3) with the same number
of sets and the same seed.  analyse_degrees adds the tail fit (xmin over every value), the
alternatives and the bookkeeping; the ratio says how much that costs on top.  Degree sets: the
Varshney 2011 in-degrees (280 neurons, needs cect) and a synthetic 1024-node layer with
degrees like the sparse MLP's (binomial around 100).
"""

from __future__ import annotations

import time

import numpy as np

from analysis import connectome_degrees, fit_tpl, load_connectome, tpl_pvalue
from analysis.compare import analyse_degrees

N_BOOT = 200


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    import warnings

    warnings.simplefilter("ignore", UserWarning)
    sets = {
        "varshney2011 in-degree (n=280)": connectome_degrees(load_connectome("varshney2011"), kind="in"),
        "MLP-like layer (n=1024)": np.random.default_rng(0).binomial(1024, 0.1, 1024),
    }
    for name, d in sets.items():
        fit = fit_tpl(d)
        base = timed(lambda: tpl_pvalue(d, fit=fit, n_boot=N_BOOT, seed=0, n_jobs=1, progress=False))
        ours = timed(lambda: analyse_degrees(d, n_boot=N_BOOT, seed=0, n_jobs=1))
        print(f"{name}: analyse_degrees {ours:.2f} s, bootstrap alone {base:.2f} s "
              f"({N_BOOT} sets), ratio {ours / base:.3f}")


if __name__ == "__main__":
    main()
