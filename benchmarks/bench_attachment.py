"""Timing of analysis.preferential_attachment against an all-pairs baseline (a script, not a test).

Run from the repository root:  PYTHONPATH=. python benchmarks/bench_attachment.py  (or with nn2graph installed)

Baseline: the direct reading of eq. 6 -- dense (n_l x n_{l+1}) multiplicity matrices of both
snapshots and a bin lookup for every node pair (numpy, vectorised, but O(pairs) time and
memory).  Ours touches only the edges (O(edges)).  Both are checked to agree.
"""

from __future__ import annotations

import time
import tracemalloc

import numpy as np

from analysis.attachment import bin_degrees, preferential_attachment
from analysis.growth import random_layered_graph, simulate_growth
from nn2graph.degrees import graph_degrees, layer_order


def all_pairs_delta(g0, g1, lower, upper, bins, n_bins):
    """Delta of one layer pair by enumerating every node pair (dense matrices)."""
    names, position = layer_order(g0)
    deg = graph_degrees(g0)
    lo_v = np.flatnonzero(position == names.index(lower))
    up_v = np.flatnonzero(position == names.index(upper))
    start_lo, start_up = lo_v[0], up_v[0]

    def dense(g):
        m = np.zeros((len(lo_v), len(up_v)))
        e = np.asarray(g.get_edgelist())
        w = np.asarray(g.es["multiplicity"], dtype=float)
        keep = np.isin(e[:, 0], lo_v) & np.isin(e[:, 1], up_v)
        np.add.at(m, (e[keep, 0] - start_lo, e[keep, 1] - start_up), w[keep])
        return m

    new = dense(g1) - dense(g0)
    b1, i1 = bin_degrees(deg[lower], bins=bins, n_bins=n_bins)
    b2, i2 = bin_degrees(deg[upper], bins=bins, n_bins=n_bins)
    cell = (i1[:, None] * len(b2) + i2[None, :]).ravel()
    sums = np.bincount(cell, weights=new.ravel(), minlength=len(b1) * len(b2))
    pairs = np.bincount(cell, minlength=len(b1) * len(b2))
    return (sums / pairs).reshape(len(b1), len(b2))


def timed(fn, repeat=3):
    best = np.inf
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def peak_mib(fn):
    """Peak memory traced (numpy buffers included) while ``fn`` runs, in MiB."""
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def compare(sizes, n_edges, n_new, seed):
    g0 = random_layered_graph(sizes, n_edges=n_edges, seed=seed)
    g1 = simulate_growth(g0, n_new=n_new, seed=seed + 1)
    pairs = sum(a * b for a, b in zip(sizes[:-2], sizes[1:-1]))
    print(f"graph: layers {sizes}, {g0.ecount():,} edges at t = 0, {g1.ecount():,} at t = 1, {pairs:,} node pairs")
    for bins in ("log", "exact"):
        ours, result = timed(lambda: preferential_attachment(g0, g1, bins=bins, n_bins=12))
        base, delta = timed(lambda: [all_pairs_delta(g0, g1, t.lower, t.upper, bins, 12) for t in result.deltas])
        for table, reference in zip(result.deltas, delta):
            np.testing.assert_allclose(table.delta, reference)
        print(f"  bins={bins:5s}  preferential_attachment (Delta + Omega): {ours * 1e3:8.1f} ms; "
              f"all-pairs baseline (Delta only): {base * 1e3:8.1f} ms; ratio baseline/ours = {base / ours:5.2f}")
    ours_mem = peak_mib(lambda: preferential_attachment(g0, g1, bins="log", n_bins=12))
    base_mem = peak_mib(lambda: [all_pairs_delta(g0, g1, t.lower, t.upper, "log", 12) for t in result.deltas])
    print(f"  peak memory: ours {ours_mem:7.1f} MiB; baseline {base_mem:7.1f} MiB; ratio baseline/ours = {base_mem / ours_mem:5.2f}")


def main():
    # MLP of the paper (784-1024-1024-10): about 10 % of the connections at t = 0, task B adds more.
    compare([784, 1024, 1024, 10], [80_000, 105_000, 10_240], [160_000, 210_000], seed=0)
    # Wider layers, same density: the baseline's dense pair matrices grow with the pairs.
    compare([3000, 3000, 3000, 10], [900_000, 900_000, 30_000], [1_800_000, 1_800_000], seed=2)


if __name__ == "__main__":
    main()
