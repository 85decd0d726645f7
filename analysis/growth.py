"""Synthetic growth of layered graphs: internal preferential attachment (paper eq. 6) or uniform.

:func:`random_layered_graph` draws a layered graph with heavy-tailed degrees (a starting
snapshot); :func:`simulate_growth` adds new connections between adjacent layers, either with
probability proportional to d1 * d2 (the internal preferential attachment of eq. 6) or
uniformly at random.  Both sample all connections of a layer pair at once (no Python loop over
connections), so tests of :func:`analysis.preferential_attachment` can check that it recovers
the process.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import igraph as ig
import numpy as np

from analysis.pair_keys import aggregate_keys, edge_array
from nn2graph._rng import SeedLike, as_generator
from nn2graph.degrees import graph_degrees, layer_order
from nn2graph.exceptions import NN2GraphError


class GrowthError(NN2GraphError, ValueError):
    """Bad parameters for a synthetic layered graph or its growth."""


def _per_pair(value: int | Sequence[int], n_pairs: int, what: str) -> np.ndarray:
    counts = np.asarray(value, dtype=np.int64)
    if counts.ndim == 0:
        counts = np.full(n_pairs, counts)
    if counts.shape != (n_pairs,) or np.any(counts < 0):
        raise GrowthError(f"{what} must be a non-negative int or one per adjacent layer pair ({n_pairs}), got {value!r}")
    return counts


def _sample_pairs(rng: np.random.Generator, lower: np.ndarray, upper: np.ndarray, p_lower, p_upper, size: int):
    """``size`` independent (lower, upper) draws; p(i, j) = p_lower[i] * p_upper[j]."""
    return rng.choice(lower, size=size, p=p_lower), rng.choice(upper, size=size, p=p_upper)


def _check_sizes(layer_sizes) -> np.ndarray:
    sizes = np.asarray(layer_sizes)
    if sizes.ndim != 1 or sizes.size < 2 or not np.issubdtype(sizes.dtype, np.integer) or np.any(sizes < 1):
        raise GrowthError(f"layer_sizes must list at least two positive layer sizes, got {layer_sizes!r}")
    return sizes.astype(np.int64)


def empty_layered_graph(layer_sizes: Sequence[int]) -> ig.Graph:
    """A layered graph without edges.

    Vertex attributes ``layer`` ("input", "fc1", ..., the last one "output"), ``layer_index``
    and ``unit``; edge attribute ``multiplicity`` (no edges yet).

    Examples
    --------
    >>> g = empty_layered_graph([2, 3, 1])
    >>> g.vs["layer"], g.vs["unit"]
    (['input', 'input', 'fc1', 'fc1', 'fc1', 'output'], [0, 1, 0, 1, 2, 0])
    """
    sizes = _check_sizes(layer_sizes)
    start = np.concatenate([[0], np.cumsum(sizes)])
    g = ig.Graph(n=int(start[-1]), directed=True)
    names = ["input"] + [f"fc{k}" for k in range(1, len(sizes) - 1)] + ["output"]
    index = np.repeat(np.arange(len(sizes)), sizes)
    g.vs["layer"] = [names[i] for i in index]
    g.vs["layer_index"] = index.tolist()
    g.vs["unit"] = (np.arange(start[-1]) - start[index]).tolist()
    g.es["multiplicity"] = []
    return g


def random_layered_graph(
    layer_sizes: Sequence[int],
    *,
    n_edges: int | Sequence[int],
    exponent: float = 2.5,
    seed: SeedLike = None,
) -> ig.Graph:
    """A random layered graph with heavy-tailed degrees (a Chung-Lu-style model).

    Every node gets a weight w drawn from a Pareto law with density ~ w^-exponent (w >= 1).
    For each pair of adjacent layers, ``n_edges`` connections are drawn with probability
    proportional to w_i w_j; repeated draws of a pair raise its multiplicity.

    Parameters
    ----------
    layer_sizes : sequence of int
        Number of nodes per layer, lowest first (at least two layers).
    n_edges : int or sequence of int
        Connections drawn per adjacent layer pair (the same for all, or one per pair).
    exponent : float, default 2.5
        Tail exponent of the weights (> 1); smaller means more heterogeneous degrees.
    seed : int, Generator or None
        Random seed (see :func:`nn2graph._rng.as_generator`).

    Returns
    -------
    igraph.Graph
        Directed lower -> upper, with vertex attributes ``layer`` ("input", "fc1", ...,
        the last one "output"), ``layer_index`` and ``unit``, edge attribute ``multiplicity``.
        Each connected pair is one edge.

    Examples
    --------
    >>> g = random_layered_graph([5, 4, 2], n_edges=[10, 6], seed=0)
    >>> sorted(set(g.vs["layer"])), int(sum(g.es["multiplicity"]))
    (['fc1', 'input', 'output'], 16)
    """
    sizes = _check_sizes(layer_sizes)
    if not exponent > 1:
        raise GrowthError(f"exponent must be > 1 (a normalisable Pareto law), got {exponent}")
    counts = _per_pair(n_edges, len(sizes) - 1, "n_edges")
    rng = as_generator(seed)
    start = np.concatenate([[0], np.cumsum(sizes)])
    weights = rng.pareto(exponent - 1.0, size=int(start[-1])) + 1.0
    pairs = []
    for r, size in enumerate(counts.tolist()):
        lo, up = np.arange(start[r], start[r + 1]), np.arange(start[r + 1], start[r + 2])
        pairs.append(np.stack(_sample_pairs(rng, lo, up, weights[lo] / weights[lo].sum(),
                                            weights[up] / weights[up].sum(), size), axis=1))
    n = int(start[-1])
    drawn = np.concatenate(pairs)
    keys, multiplicity = aggregate_keys(drawn[:, 0] * n + drawn[:, 1], np.ones(len(drawn)))
    g = empty_layered_graph(sizes)
    g.add_edges(np.stack([keys // n, keys % n], axis=1).tolist(),
                attributes={"multiplicity": multiplicity.astype(np.int64).tolist()})
    return g


def simulate_growth(
    g0: ig.Graph | Sequence[int],
    *,
    n_new: int | Sequence[int],
    mode: Literal["preferential", "uniform"] = "preferential",
    seed: SeedLike = None,
    output_edges: bool = False,
) -> ig.Graph:
    """Grow a layered graph by new connections between adjacent layers.

    For each adjacent pair of layers (l, l + 1), ``n_new`` connections are drawn independently.
    ``"preferential"``: the pair (i, j) with probability d_i d_j / (D^l D^{l+1}), d the
    degrees of g0 and D their layer sums -- the internal preferential attachment of eq. 6, whose
    expected number of new connections of a pair is exactly ``n_new d_i d_j / (D^l D^{l+1})``.
    ``"uniform"``: every pair equally likely.  A pair drawn k times gains k connections.

    Parameters
    ----------
    g0 : igraph.Graph or sequence of int
        A layered graph (``layer`` vertex attribute, optional ``layer_index`` and
        ``multiplicity``), e.g. from :func:`random_layered_graph` or ``nn2graph.to_graph``;
        or layer sizes, meaning :func:`empty_layered_graph` (only ``"uniform"`` growth can
        start from no connections).
    n_new : int or sequence of int
        New connections per adjacent layer pair (the same for all, or one per pair).
    mode : {"preferential", "uniform"}, default "preferential"
    seed : int, Generator or None
        Random seed.
    output_edges : bool, default False
        As in :func:`analysis.preferential_attachment`: by default the output layer takes no
        part (no new connections into it, its edges left out of the degrees).

    Returns
    -------
    igraph.Graph
        A copy of g0 with the same vertices; a pair connected in g0 gets its first edge's
        ``multiplicity`` raised, a new pair gets a new edge (lower -> upper) whose other edge
        attributes are None.

    Examples
    --------
    >>> g0 = random_layered_graph([6, 5, 4, 2], n_edges=20, seed=1)
    >>> g1 = simulate_growth(g0, n_new=[7, 3], seed=2)
    >>> int(sum(g1.es["multiplicity"]) - sum(g0.es["multiplicity"]))
    10
    >>> g = simulate_growth([3, 2, 1], n_new=4, mode="uniform", seed=0)
    >>> int(sum(g.es["multiplicity"]))
    4
    """
    if mode not in ("preferential", "uniform"):
        raise GrowthError(f"mode must be 'preferential' or 'uniform', not {mode!r}")
    if not isinstance(g0, ig.Graph):
        g0 = empty_layered_graph(g0)
    names, position = layer_order(g0)
    if len(names) - (0 if output_edges else 1) < 2:
        raise GrowthError(f"g0 has {len(names)} layers ({', '.join(names)}); without the output layer (left out "
                          f"by default) no adjacent pair can grow: pass output_edges=True")
    degrees = graph_degrees(g0, include_input=True, include_output=output_edges, output_edges=output_edges)
    analysed = list(degrees)
    counts = _per_pair(n_new, len(analysed) - 1, "n_new")
    rng = as_generator(seed)
    n = g0.vcount()
    low_parts, up_parts = [], []
    for r in range(len(analysed) - 1):
        lo = np.flatnonzero(position == names.index(analysed[r]))
        up = np.flatnonzero(position == names.index(analysed[r + 1]))
        d_lo, d_up = degrees[analysed[r]].astype(np.float64), degrees[analysed[r + 1]].astype(np.float64)
        if mode == "uniform":
            p_lo, p_up = np.full(len(lo), 1.0 / len(lo)), np.full(len(up), 1.0 / len(up))
        else:
            for name, d in ((analysed[r], d_lo), (analysed[r + 1], d_up)):
                if d.sum() == 0 and counts[r] > 0:
                    raise GrowthError(f"layer {name!r} has no connections in g0, so preferential attachment cannot "
                                      f"give it new ones; use mode='uniform' or a graph with connections")
            p_lo, p_up = d_lo / d_lo.sum(), d_up / d_up.sum()
        i, j = _sample_pairs(rng, lo, up, p_lo, p_up, int(counts[r]))
        low_parts.append(i)
        up_parts.append(j)
    drawn = np.concatenate(low_parts) * n + np.concatenate(up_parts)
    new_keys, new_counts = aggregate_keys(drawn, np.ones(len(drawn)))
    new_counts = new_counts.astype(np.int64)

    g1 = g0.copy()
    if "multiplicity" not in g1.es.attributes():
        g1.es["multiplicity"] = [1] * g1.ecount()
    edges = edge_array(g0)
    below = position[edges[:, 0]] <= position[edges[:, 1]]
    edge_keys = np.where(below, edges[:, 0] * n + edges[:, 1], edges[:, 1] * n + edges[:, 0])
    order = np.argsort(edge_keys, kind="stable")
    sorted_keys = edge_keys[order]
    at = np.searchsorted(sorted_keys, new_keys)
    exists = at < len(sorted_keys)
    exists[exists] = sorted_keys[at[exists]] == new_keys[exists]
    multiplicity = np.asarray(g1.es["multiplicity"], dtype=np.int64)
    np.add.at(multiplicity, order[at[exists]], new_counts[exists])
    g1.es["multiplicity"] = multiplicity.tolist()
    fresh = new_keys[~exists]
    g1.add_edges(np.stack([fresh // n, fresh % n], axis=1).tolist(),
                 attributes={"multiplicity": new_counts[~exists].tolist()})
    return g1
