"""Speed and memory of analysis.tpl / analysis.bootstrap.  Run:

    PYTHONPATH=. python benchmarks/bench_tpl.py [--searches | --scaling [--with-100k]]

``--searches`` runs the three searches and their powerlaw baselines only; ``--scaling`` the
large searches (n = 10,000 all distinct, an untruncated heavy-tailed n = 100,000, and with
``--with-100k`` n = 100,000 all distinct: 900 million windows, 42-44 s of CPU time with the
tiles visited best first (98-126 s before), under its 60 s target, see docs/fits.md) against the
previous search engine, and the equality check of the two on 57 fits.  The 100k data set is
``all_distinct(100_000, seed=100_000)``: 100,000 distinct integers drawn without replacement
from 1 .. 4,999,999.

Previous engine: ``analysis/tpl.py`` of commit 83ef9d6 (the last one before the tile filter),
loaded from ``git show 83ef9d6:analysis/tpl.py`` into a temporary module and run in the same
process.  On n = 100,000 it would take hours, so it runs its seed and then the first blocks of
its pairs for a fixed time, and its time is extrapolated to all its blocks (said in the output).

Baseline: a Python loop calling ``powerlaw.Fit`` over the same candidate pairs as
our search, on the same data set, reading ``alpha`` and ``D`` of its ``power_law``.  Its cost
per pair grows with the tail, so it is measured separately for every data set: on 20 random
pairs of that search, then extrapolated to all of them (said in the output).  The call is the
issue's ``powerlaw.Fit(data, xmin=a, xmax=b, discrete=True, parameter_ranges={"alpha": ALPHA_RANGE})``
with every other option left at its default: with ``xmax`` given, powerlaw's default
``estimate_discrete=None`` means the exact discrete likelihood, maximised numerically
(Nelder-Mead), and ``D`` is computed at the end of the fit.  (Forcing
``estimate_discrete=True`` would skip the numerical fit for some windows and return a non-MLE
alpha; the alpha range makes no measurable difference to the time, see docs/fits.md.)  Its
warnings are filtered ("ignore") and its prints discarded.

Every figure is printed with its target and, for searches, its ratio to the baseline measured
in this same run, both in wall-clock time and in CPU time of this process (the box is shared:
under load, wall-clock times of both sides stretch, CPU times much less).
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import resource
import sys
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis import fit_tpl, tpl_pvalue  # noqa: E402
from analysis.tpl import ALPHA_RANGE, _candidates  # noqa: E402


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


def timed(fn, repeat: int = 1) -> tuple[float, float, object]:
    """Best wall-clock and CPU seconds (this process) of `repeat` calls, and the last result."""
    wall, cpu, out = math.inf, math.inf, None
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        out = fn()
        wall, cpu = min(wall, time.perf_counter() - t), min(cpu, time.process_time() - c)
    return wall, cpu, out


def candidate_pairs(x: np.ndarray, fraction: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """Every (xmin, xmax) pair the search tries: xmin and xmax candidates as docs/method.md §3 says,
    and at least two distinct data values in the window."""
    pos = np.sort(x[x > 0])
    low, high = _candidates(pos, fraction)
    values = np.unique(pos)
    second = values[np.minimum(np.searchsorted(values, low) + 1, values.size - 1)]  # 2nd value >= a
    a = np.repeat(low, high.size)
    b = np.tile(high, low.size)
    ok = (b >= np.repeat(second, high.size)) & (np.repeat(second, high.size) > a)
    return a[ok], b[ok]


class Baseline:
    """powerlaw.Fit loop over the candidate pairs of one data set, timed on a random subset."""

    def __init__(self, x: np.ndarray, n_sample: int = 20, seed: int = 0) -> None:
        import powerlaw

        a, b = candidate_pairs(x)
        self.n_pairs = a.size
        pick = np.random.default_rng(seed).choice(a.size, min(n_sample, a.size), replace=False)
        alphas = []
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), \
                warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t, c = time.perf_counter(), time.process_time()
            for i in pick:
                fit = powerlaw.Fit(x, xmin=float(a[i]), xmax=float(b[i]), discrete=True,
                                   parameter_ranges={"alpha": list(ALPHA_RANGE)})
                alphas.append(fit.power_law.alpha)
                _ = fit.power_law.D
            self.wall = (time.perf_counter() - t) / pick.size
            self.cpu = (time.process_time() - c) / pick.size
        self.n_sample = pick.size
        # powerlaw's discrete law uses scipy's Hurwitz zeta, undefined for alpha <= 1: windows
        # whose MLE is below 1 end near alpha = 1
        self.near_one = int(np.sum(np.abs(np.array(alphas) - 1.0) < 1e-2))

    def describe(self) -> str:
        return (f"baseline: powerlaw.Fit loop, {self.wall * 1e3:.2f} ms a pair wall-clock, {self.cpu * 1e3:.2f} ms "
                f"CPU ({self.n_sample} random pairs of this search timed, extrapolated to its {self.n_pairs} pairs; "
                f"{self.near_one} of them ended at alpha ~ 1, its lower limit)")


def report(name: str, seconds: float, target: float | None, cpu: float | None = None,
           baseline: Baseline | None = None) -> None:
    parts = [f"{name:<48s} {seconds:9.3f} s"]
    if cpu is not None:
        parts.append(f"(CPU {cpu:.3f} s)")
    if target is not None:
        parts.append(f"target <= {target:g} s ({'OK' if seconds <= target else 'MISSED'}, {seconds / target:.2f} of it)")
    print("  ".join(parts), flush=True)
    if baseline is not None:
        bw, bc = baseline.wall * baseline.n_pairs, baseline.cpu * baseline.n_pairs
        print(f"{'  vs baseline':<48s} {bw:9.1f} s wall (CPU {bc:.1f} s) -> {bw / seconds:,.0f}x faster wall-clock, "
              f"{bc / cpu:,.0f}x in CPU time", flush=True)


BASELINE_COMMIT = "83ef9d6"


def previous_engine():
    """analysis/tpl.py of BASELINE_COMMIT as a module of its own (tpl_83ef9d6)."""
    import importlib.util
    import subprocess
    import tempfile

    root = Path(__file__).resolve().parents[1]
    text = subprocess.run(["git", "show", f"{BASELINE_COMMIT}:analysis/tpl.py"], cwd=root, check=True,
                          capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / f"tpl_{BASELINE_COMMIT}.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location(f"tpl_{BASELINE_COMMIT}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


class Counts:
    """Windows whose alpha is solved and windows taken to their exact D, in a search engine."""

    def __init__(self, module) -> None:
        self.module, self.fitted, self.exact = module, 0, 0
        self._fit, self._exact = module._fit_pairs, module._ks_exact

    def __enter__(self) -> "Counts":
        def fit(data, a, *args):
            self.fitted += a.size
            return self._fit(data, a, *args)

        def exact(data, p, *args, **kw):
            self.exact += p.i.size
            return self._exact(data, p, *args, **kw)

        self.module._fit_pairs, self.module._ks_exact = fit, exact
        return self

    def __exit__(self, *exc) -> None:
        self.module._fit_pairs, self.module._ks_exact = self._fit, self._exact


def capped_previous(old, x: np.ndarray, seconds: float) -> tuple[float, int, int]:
    """Run the previous engine's search on x for about `seconds` of CPU after its seed:
    (extrapolated CPU seconds for all its blocks, blocks run, blocks in all)."""
    real_blocks = old._blocks
    state = {"run": 0, "total": 0, "t0": 0.0}

    def blocks(first_b, n_b):
        state["total"] = sum(1 for _ in real_blocks(first_b, n_b))
        state["t0"] = time.process_time()
        for block in real_blocks(first_b, n_b):
            if time.process_time() - state["t0"] > seconds:
                return
            state["run"] += 1
            yield block

    old._blocks = blocks
    try:
        c0 = time.process_time()
        with contextlib.suppress(old.FitError):  # cut off before any window beat its seed: no winner
            old.fit_tpl(x)
        seed = state["t0"] - c0
        spent = time.process_time() - state["t0"]
    finally:
        old._blocks = real_blocks
    return seed + spent * state["total"] / max(1, state["run"]), state["run"], state["total"]


def equality_sets() -> list[tuple[str, np.ndarray, dict]]:
    """57 fits: the MLP-like layer, an fc6-like layer, Zipf-, Poisson-, lognormal-like and all-distinct sets, each
    with the default search, ks="data", search_fraction=1.0 (small sets) and xmax=inf over every
    distinct xmin."""
    sets = [("MLP layer", mlp_layer_degrees())]
    for seed in range(3):
        rng = np.random.default_rng(100 + seed)
        sets += [(f"zipf {seed}", np.minimum(rng.zipf(1.9 + 0.2 * seed, 1500), 10**6)),
                 (f"poisson {seed}", rng.poisson(30 + 40 * seed, 1200)),
                 (f"lognormal {seed}", np.rint(rng.lognormal(2.5 + seed, 0.7, 1200)).astype(int))]
    sets += [(f"all distinct {n}", all_distinct(n, seed=n + 1)) for n in (300, 800, 2000)]
    rng = np.random.default_rng(1)  # the fc6-like layer of main(), and a wide Poisson
    sets += [("fc6-like n=25,088", rng.binomial(4096, np.clip(0.09 * rng.lognormal(0, 0.5, 25088) / np.exp(0.125), 0, 1))),
             ("poisson(3000)", rng.poisson(3000, 5000))]
    fits = []
    for name, x in sets:
        options = [{}, {"ks": "data"}, {"xmax": math.inf, "search_fraction": 1.0}]
        if np.unique(x).size <= 400:
            options.append({"search_fraction": 1.0})
        fits += [(name, x, o) for o in options]
    return fits


def scaling(with_100k: bool) -> None:
    """The large searches, against the previous engine, and the equality check."""
    import analysis._tpl_search as engine  # _tile_bound is looked up there
    import analysis.tpl as new

    old = previous_engine()
    print(f"previous engine: analysis/tpl.py of {BASELINE_COMMIT}; load average {os.getloadavg()}", flush=True)
    worst = {"alpha": 0.0, "D": 0.0}
    fits = equality_sets()
    t_new = t_old = 0.0
    filtered, real_bound, ties = 0, engine._tile_bound, 0
    for name, x, options in fits:
        used = []
        engine._tile_bound = lambda *args: used.append(1) or real_bound(*args)
        c = time.process_time()
        f_new = new.fit_tpl(x, **options)
        t_new += time.process_time() - c
        engine._tile_bound = real_bound
        filtered += bool(used)
        c = time.process_time()
        f_old = old.fit_tpl(x, **options)
        t_old += time.process_time() - c
        same = (f_new.xmin, f_new.xmax, f_new.n_candidates) == (f_old.xmin, f_old.xmax, f_old.n_candidates)
        if not same and max(f_new.ks_distance, f_old.ks_distance) < 1e-12 and f_new.n_candidates == f_old.n_candidates:
            # two-value windows (the narrow-window trap) have D = 0 up to rounding: which of them
            # wins is decided in the last bit, where the two engines' tail means differ
            ties += 1
            continue
        assert same, (name, options, f_new, f_old)
        worst["alpha"] = max(worst["alpha"], abs(f_new.alpha - f_old.alpha))
        worst["D"] = max(worst["D"], abs(f_new.ks_distance - f_old.ks_distance))
        # the tail means of log x now come from extended-precision cumulative sums (about 20x
        # closer to the exact mean than the previous engine's float64 sums), so alpha and D may
        # differ from it in the last bits
        assert worst["alpha"] <= 1e-11 and worst["D"] <= 1e-13, (name, options, worst)
    print(f"equality check, {len(fits)} fits ({filtered} through the tile filter): every window and candidate count the same, alpha within "
          f"{worst['alpha']:.1e}, D within {worst['D']:.1e}, except {ties} rounding-level ties of D = 0 (two-value windows); "
          f"CPU {t_new:.2f} s (new) vs {t_old:.2f} s (previous)", flush=True)

    rng = np.random.default_rng(7)
    heavy = np.minimum(rng.zipf(1.6, 100_000), 10**9)
    cases = [("n=10,000 all distinct", all_distinct(10_000, seed=10_000), {}, 5.0, None)]
    if with_100k:
        cases.append(("n=100,000 all distinct", all_distinct(100_000, seed=100_000), {}, 60.0, 60.0))
    cases.append((f"n=100,000 Zipf(1.6), untruncated ({np.unique(heavy).size} distinct)", heavy,
                  {"xmax": math.inf, "search_fraction": 1.0}, None, None))
    for name, x, options, target, cap in cases:
        load = os.getloadavg()
        with Counts(engine) as counts:
            wall, cpu, fit = timed(lambda: new.fit_tpl(x, **options))
        print(f"search, {name}: {fit.n_candidates:,} windows, alpha solved for {counts.fitted:,}, exact D of "
              f"{counts.exact:,}; window [{fit.xmin}, {fit.xmax}], D = {fit.ks_distance:.6g}; load {load[0]:.2f}",
              flush=True)
        report("  new engine", wall, target, cpu)
        if cap is None:
            c = time.process_time()
            f_old = old.fit_tpl(x, **options)
            old_cpu = time.process_time() - c
            assert (f_old.xmin, f_old.xmax) == (fit.xmin, fit.xmax) and abs(f_old.ks_distance - fit.ks_distance) <= 1e-13
            print(f"{'  previous engine':<48s} CPU {old_cpu:9.3f} s, same window and D -> {old_cpu / cpu:.1f}x "
                  f"faster in CPU time", flush=True)
        else:
            old_cpu, run, total = capped_previous(old, x, cap)
            print(f"{'  previous engine (extrapolated)':<48s} CPU {old_cpu:9.0f} s: its seed, then {run} of its "
                  f"{total} blocks of pairs in {cap:g} s CPU, scaled to all -> {old_cpu / cpu:.0f}x faster in CPU "
                  f"time", flush=True)
    print(f"load average at end: {os.getloadavg()}")


def main() -> None:
    warnings.simplefilter("ignore", UserWarning)
    if "--scaling" in sys.argv[1:]:
        scaling("--with-100k" in sys.argv[1:])
        return
    print(f"cores: {os.cpu_count()}, load average at start: {os.getloadavg()}")
    mlp = mlp_layer_degrees()
    print(f"MLP layer: n={mlp.size}, distinct degrees={np.unique(mlp).size}, range [{mlp.min()}, {mlp.max()}]")
    searches = [("90%-pruned MLP layer n=1024", mlp, 0.2, 3)]
    searches += [(f"n={n} all distinct", all_distinct(n, seed=n), target, 1) for n, target in [(1024, 2.0), (4096, 30.0)]]
    for name, x, target, repeat in searches:
        base = Baseline(x)
        print(base.describe(), flush=True)
        t, c, fit = timed(lambda: fit_tpl(x), repeat=repeat)
        assert fit.n_candidates == base.n_pairs
        report(f"search, {name} ({fit.n_candidates} pairs)", t, target, c, base)
    if "--searches" in sys.argv[1:]:
        print(f"load average at end: {os.getloadavg()}")
        return

    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t, _, res = timed(lambda: tpl_pvalue(mlp, n_boot=1000, seed=0, n_jobs=2, progress=False))
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    workers = (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime)
    report(f"bootstrap p-value, 1000 sets, MLP n=1024 (p={res.p_value:.3f})", t, 60.0)
    print(f"{'  (2 workers used':<48s} {workers:9.3f} s CPU = {workers / t:.2f} cores on average, "
          f"{workers / 2:.1f} s if both cores were free)")
    t1, _, _ = timed(lambda: tpl_pvalue(mlp, n_boot=100, seed=0, n_jobs=1, progress=False))
    print(f"{'  (1 process, 100 sets, x10)':<48s} {10 * t1:9.3f} s  -> 2 processes {10 * t1 / t:.2f}x faster")

    # fc6 of VGG-16 has 25,088 inputs, 4,096 outputs, 9% kept: binomial degrees with unit factors
    rng = np.random.default_rng(1)
    share = 0.09 * rng.lognormal(0, 0.5, 25088) / np.exp(0.125)
    big = rng.binomial(4096, np.clip(share, 0, 1))
    t, c, fit = timed(lambda: fit_tpl(big))
    report(f"search, n=25,088 ({np.unique(big).size} distinct, {fit.n_candidates} pairs)", t, None, c)
    tracemalloc.start()  # numpy's allocations are traced too
    fit_tpl(big)
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    print(f"peak memory allocated by that search {peak:.1f} MiB (a dense pairs x values matrix would need "
          f"{fit.n_candidates * np.unique(big).size * 8 / 2**20:,.0f} MiB); process peak RSS "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB, mostly imports")
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
