"""Brute-force references shared by the tests of the attachment analyses."""

import numpy as np

from analysis.growth import random_layered_graph, simulate_growth


def bin_of(d, bins):
    """Index of the bin whose [lo, hi] holds d (independent of bin_degrees' searchsorted)."""
    hits = [k for k in range(len(bins)) if bins.lo[k] <= d <= bins.hi[k]]
    assert len(hits) == 1
    return hits[0]


def grown_pair(seed):
    """A small layered g0 and a g1 whose pairs gain 0-3 connections, some as parallel edges."""
    rng = np.random.default_rng(seed)
    g0 = random_layered_graph([7, 6, 5, 2], n_edges=[25, 20, 12], exponent=2.2, seed=rng)
    g1 = simulate_growth(g0, n_new=[15, 10], seed=rng)
    # A parallel edge (upper -> lower direction) for an existing connection: summed, orientation ignored.
    u, v = g0.get_edgelist()[0]
    g1.add_edges([(v, u)], attributes={"multiplicity": [2]})
    return g0, g1
