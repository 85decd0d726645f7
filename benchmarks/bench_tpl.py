"""Speed and memory of analysis.tpl / analysis.bootstrap (issue 3).  Run:

    timeout 900 /work/venv/bin/python benchmarks/bench_tpl.py

Baseline: a Python loop calling ``powerlaw.Fit(data, xmin=a, xmax=b, discrete=True, ...)``
over the same candidate pairs as our search; it is timed on a random subset of the pairs
and extrapolated to all of them (said in the output).  Every figure is printed with its
target and, for searches, its ratio to the baseline measured in this same run.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import resource
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis import fit_tpl, tpl_pvalue  # noqa: E402
from analysis.tpl import _candidates  # noqa: E402


def mlp_layer_degrees(n_units: int = 1024, fan_in: int = 1024, keep: float = 0.1, seed: int = 0) -> np.ndarray:
    """Degrees of a 90%-pruned fully connected layer whose weights look trained: Gaussian
    weights scaled by lognormal per-unit input and output factors (trained layers have units
    of very different weight norms), pruned by magnitude; degree = non-zero weights per unit."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((n_units, fan_in)) * rng.lognormal(0, 0.5, (n_units, 1)) * rng.lognormal(0, 0.5, (1, fan_in))
    thr = np.quantile(np.abs(w), 1 - keep)
    return (np.abs(w) > thr).sum(axis=1)


def all_distinct(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(np.arange(1, 50 * n), n, replace=False))


def timed(fn, repeat: int = 1) -> tuple[float, object]:
    best, out = math.inf, None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def baseline_per_pair(x: np.ndarray, n_sample: int = 20, seed: int = 0) -> tuple[float, int]:
    """Seconds per candidate pair of a powerlaw.Fit loop (timed on n_sample random pairs)."""
    pos = np.sort(x[x > 0])
    low, high = _candidates(pos, 0.3)
    pairs = [(a, b) for a in low for b in high if np.unique(pos[(pos >= a) & (pos <= b)]).size >= 2]
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(pairs), min(n_sample, len(pairs)), replace=False)
    t = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import powerlaw

        for i in pick:
            a, b = pairs[i]
            fit = powerlaw.Fit(x, xmin=float(a), xmax=float(b), discrete=True, estimate_discrete=False,
                               parameter_ranges={"alpha": [-10.0, 10.0]})
            _ = fit.power_law.alpha, fit.power_law.D
    return (time.perf_counter() - t) / len(pick), len(pairs)


def report(name: str, seconds: float, target: float | None, baseline: float | None = None) -> None:
    parts = [f"{name:<48s} {seconds:9.3f} s"]
    if target is not None:
        parts.append(f"target <= {target:g} s ({'OK' if seconds <= target else 'MISSED'}, {seconds / target:.2f} of it)")
    if baseline is not None:
        parts.append(f"baseline {baseline:9.1f} s -> {baseline / seconds:,.0f}x faster")
    print("  ".join(parts), flush=True)


def main() -> None:
    warnings.simplefilter("ignore", UserWarning)
    print(f"cores: {os.cpu_count()}, load average at start: {os.getloadavg()}")
    mlp = mlp_layer_degrees()
    print(f"MLP layer: n={mlp.size}, distinct degrees={np.unique(mlp).size}, range [{mlp.min()}, {mlp.max()}]")
    per_pair, n_pairs = baseline_per_pair(mlp)
    print(f"baseline: powerlaw.Fit loop, {per_pair * 1e3:.1f} ms a pair (20 random pairs timed), "
          f"extrapolated to the {n_pairs} pairs of each search below")

    t, fit = timed(lambda: fit_tpl(mlp), repeat=3)
    report(f"search, 90%-pruned MLP layer n=1024 ({fit.n_candidates} pairs)", t, 0.2, per_pair * fit.n_candidates)
    for n, target in [(1024, 2.0), (4096, 30.0)]:
        x = all_distinct(n, seed=n)
        t, fit = timed(lambda: fit_tpl(x))
        report(f"search, n={n} all distinct ({fit.n_candidates} pairs)", t, target, per_pair * fit.n_candidates)

    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t, res = timed(lambda: tpl_pvalue(mlp, n_boot=1000, seed=0, n_jobs=2, progress=False))
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    workers = (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime)
    report(f"bootstrap p-value, 1000 sets, MLP n=1024 (p={res.p_value:.3f})", t, 60.0)
    print(f"{'  (2 workers used':<48s} {workers:9.3f} s CPU = {workers / t:.2f} cores on average, "
          f"{workers / 2:.1f} s if both cores were free)")
    t1, _ = timed(lambda: tpl_pvalue(mlp, n_boot=100, seed=0, n_jobs=1, progress=False))
    print(f"{'  (1 process, 100 sets, x10)':<48s} {10 * t1:9.3f} s  -> 2 processes {10 * t1 / t:.2f}x faster")

    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # fc6 of VGG-16 has 25,088 inputs, 4,096 outputs, 9% kept: binomial degrees with unit factors
    rng = np.random.default_rng(1)
    share = 0.09 * rng.lognormal(0, 0.5, 25088) / np.exp(0.125)
    big = rng.binomial(4096, np.clip(share, 0, 1))
    t, fit = timed(lambda: fit_tpl(big))
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    report(f"search, n=25,088 ({np.unique(big).size} distinct, {fit.n_candidates} pairs)", t, None)
    print(f"peak RSS {rss1:.0f} MiB (before the n=25,088 layer: {rss0:.0f} MiB; a dense pairs x values "
          f"matrix would need {fit.n_candidates * np.unique(big).size * 8 / 2**20:,.0f} MiB)")
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
