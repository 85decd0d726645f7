"""The topology rules of dynamic sparse training: layer densities, initial masks, SET's and RigL's rewiring.

Plain numpy functions on one layer's weights and mask, used by :func:`experiments.dst.train_dst`
and testable on their own: :func:`layer_densities` (the Erdos-Renyi rule of SET, RigL's ERK, or
uniform), :func:`init_masks`, :func:`set_rewire` (remove the weights closest to zero, regrow
uniformly at random among the free positions), :func:`rigl_rewire` (drop by magnitude, grow
where the dense gradient is largest) and :func:`drop_fraction` (RigL's cosine schedule).
``docs/dst.md`` gives the sources and every choice.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from nn2graph._rng import SeedLike, as_generator
from nn2graph.exceptions import NN2GraphError

__all__ = [
    "Rewiring",
    "RewiringError",
    "drop_fraction",
    "init_masks",
    "layer_densities",
    "rigl_rewire",
    "set_rewire",
]


class RewiringError(NN2GraphError, ValueError):
    """Invalid densities or masks."""


# --------------------------------------------------------------------------------------------
# Initial topology
# --------------------------------------------------------------------------------------------


def _erdos_renyi_shape(shape: tuple[int, ...]) -> float:
    """SET's ``(n_in + n_out) / (n_in n_out)``; RigL's kernel form for convolutions."""
    return float(sum(shape)) / float(np.prod(shape))


def layer_densities(shapes: Mapping[str, tuple[int, ...]], *, distribution: str = "erdos-renyi",
                    epsilon: float = 20.0, density: float | None = None) -> dict[str, float]:
    """Density of each sparse layer.

    Parameters
    ----------
    shapes : mapping of layer name to weight shape
        ``(out, in)`` for a linear layer, ``(out, in, kh, kw)`` for a convolution.
    distribution : {"erdos-renyi", "uniform"}
        Erdos-Renyi: density proportional to ``sum(shape) / prod(shape)`` (SET's
        ``(n_in + n_out) / (n_in n_out)``, RigL's ERK for kernels), capped at 1.
    epsilon : float
        SET's scale, used when ``density`` is None: density = epsilon * sum / prod.
    density : float, optional
        Overall share of connections; the Erdos-Renyi scale is solved for it, and layers that
        would exceed 1 are made dense with the rest rescaled (as RigL does).

    Examples
    --------
    >>> d = layer_densities({"fc1": (1024, 784), "fc2": (1024, 1024)})
    >>> {k: round(v, 4) for k, v in d.items()}
    {'fc1': 0.045, 'fc2': 0.0391}
    >>> layer_densities({"a": (10, 10), "b": (100, 100)}, distribution="uniform", density=0.1)
    {'a': 0.1, 'b': 0.1}
    """
    raw = {name: _erdos_renyi_shape(tuple(shape)) for name, shape in shapes.items()}
    sizes = {name: float(np.prod(shape)) for name, shape in shapes.items()}
    if density is None:
        if distribution != "erdos-renyi":
            raise RewiringError("a uniform distribution needs a density: give density=")
        return {name: min(1.0, epsilon * r) for name, r in raw.items()}
    if distribution == "uniform":
        return {name: float(density) for name in shapes}
    dense: set[str] = set()
    while True:
        budget = density * sum(sizes.values()) - sum(sizes[n] for n in dense)
        weight = sum(raw[n] * sizes[n] for n in shapes if n not in dense)
        scale = budget / weight
        over = {n for n in shapes if n not in dense and scale * raw[n] > 1.0}
        if not over:
            return {n: 1.0 if n in dense else scale * raw[n] for n in shapes}
        dense |= over


def init_masks(shapes: Mapping[str, tuple[int, ...]], densities: Mapping[str, float], *, method: str,
               seed: SeedLike = None) -> dict[str, np.ndarray]:
    """Initial boolean mask of each sparse layer.

    SET draws every connection independently with the layer's density (an Erdos-Renyi graph,
    as its reference implementation); RigL chooses exactly ``round(density * size)``
    positions uniformly at random.

    Examples
    --------
    >>> m = init_masks({"fc": (20, 30)}, {"fc": 0.1}, method="rigl", seed=0)
    >>> m["fc"].shape, int(m["fc"].sum())
    ((20, 30), 60)
    """
    rng = as_generator(seed)
    masks = {}
    for name, shape in shapes.items():
        size = int(np.prod(shape))
        if method == "set":
            flat = rng.random(size) < densities[name]
        else:
            flat = np.zeros(size, dtype=bool)
            flat[rng.choice(size, size=int(round(densities[name] * size)), replace=False)] = True
        masks[name] = flat.reshape(shape)
    return masks


# --------------------------------------------------------------------------------------------
# Rewiring steps (numpy, on one layer)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Rewiring:
    """One rewiring of one layer.

    Attributes
    ----------
    mask : numpy.ndarray of bool
        The new mask (same shape as the layer's weight).
    kept : numpy.ndarray of bool
        The mask after the removal, before the growth (the connections that keep their weight).
    removed, grown : numpy.ndarray of int64
        Flat indices of the connections removed and grown (sorted); a position can be in both
        (removed and chosen again): it is then a connection again, at weight zero.
    """

    mask: np.ndarray
    kept: np.ndarray
    removed: np.ndarray
    grown: np.ndarray

    @property
    def added(self) -> np.ndarray:
        """Flat indices that are connections now and were not before."""
        return np.setdiff1d(self.grown, self.removed)

    @property
    def lost(self) -> np.ndarray:
        """Flat indices that were connections and are not any more."""
        return np.setdiff1d(self.removed, self.grown)


def _smallest(values: np.ndarray, k: int) -> np.ndarray:
    """Positions of the k smallest values, ties resolved to the lower positions (the first k of a
    stable sort, as a set), in O(n)."""
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    if k >= len(values):
        return np.arange(len(values))
    kth = np.partition(values, k - 1)[k - 1]
    below = np.flatnonzero(values < kth)
    return np.concatenate([below, np.flatnonzero(values == kth)[:k - len(below)]])


def _choose_free(free: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k distinct positions drawn uniformly from ``free`` (SET's regrowth)."""
    return rng.choice(free, size=k, replace=False)


def _finish(mask: np.ndarray, kept: np.ndarray, removed: np.ndarray, grown: np.ndarray) -> Rewiring:
    new = kept.copy().ravel()
    new[grown] = True
    return Rewiring(mask=new.reshape(mask.shape), kept=kept, removed=np.sort(removed), grown=np.sort(grown))


def set_rewire(weight: np.ndarray, mask: np.ndarray, *, zeta: float, seed: SeedLike = None) -> Rewiring:
    """SET's rewiring of one layer.

    Among the connections (``mask``), the ``round(zeta * n)`` non-negative weights closest to
    zero and the ``round(zeta * n)`` negative weights closest to zero (n counted on each side)
    are removed; as many connections are then drawn uniformly at random, without
    replacement, among all positions that are not connections after the removal (including
    the ones just removed, as in SET's reference implementation).  Ties are broken by position.

    Parameters
    ----------
    weight : numpy.ndarray
        The layer's weights.
    mask : numpy.ndarray of bool
        Its connections (same shape).
    zeta : float
        Fraction removed on each side of zero.
    seed : int, Generator or None
        The regrowth's random generator.

    Returns
    -------
    Rewiring

    Examples
    --------
    >>> w = np.array([[0.5, -0.1, 0.0, 0.2], [-0.7, 0.05, 0.0, 0.0]])
    >>> m = np.array([[True, True, False, True], [True, True, False, False]])
    >>> r = set_rewire(w, m, zeta=0.4, seed=0)
    >>> r.removed.tolist(), int(r.mask.sum()) == int(m.sum())
    ([1, 5], True)
    """
    flat_w, flat_m = np.asarray(weight).ravel(), np.asarray(mask, dtype=bool).ravel()
    active = np.flatnonzero(flat_m)
    w = flat_w[active]
    positive, negative = active[w >= 0], active[w < 0]
    remove_pos = positive[_smallest(flat_w[positive], int(round(zeta * len(positive))))]
    remove_neg = negative[_smallest(-flat_w[negative], int(round(zeta * len(negative))))]
    removed = np.concatenate([remove_pos, remove_neg])
    kept = flat_m.copy()
    kept[removed] = False
    grown = _choose_free(np.flatnonzero(~kept), len(removed), as_generator(seed))
    return _finish(np.asarray(mask), kept.reshape(np.shape(mask)), removed, grown)


def rigl_rewire(weight: np.ndarray, mask: np.ndarray, gradient: np.ndarray, *, fraction: float) -> Rewiring:
    """RigL's rewiring of one layer.

    ``k = round(fraction * n_active)`` connections of smallest ``|weight|`` are dropped; the
    ``k`` positions of largest ``|gradient|`` among those that are not connections after the
    drop (the dropped ones included, as in RigL) are grown.  Ties are broken by position.

    Examples
    --------
    >>> w = np.array([0.9, -0.2, 0.0, 0.0, 0.4, 0.0])
    >>> m = np.array([True, True, False, False, True, False])
    >>> g = np.array([0.0, 0.1, -3.0, 0.5, 0.0, 2.0])
    >>> r = rigl_rewire(w, m, g, fraction=0.5)
    >>> r.removed.tolist(), r.grown.tolist(), r.mask.tolist()
    ([1, 4], [2, 5], [True, False, True, False, False, True])
    """
    flat_w, flat_m = np.asarray(weight).ravel(), np.asarray(mask, dtype=bool).ravel()
    flat_g = np.asarray(gradient).ravel()
    active = np.flatnonzero(flat_m)
    k = int(round(fraction * len(active)))
    removed = active[_smallest(np.abs(flat_w[active]), k)]
    kept = flat_m.copy()
    kept[removed] = False
    free = np.flatnonzero(~kept)
    grown = free[_smallest(-np.abs(flat_g[free]), k)]
    return _finish(np.asarray(mask), kept.reshape(np.shape(mask)), removed, grown)


def drop_fraction(step: int, *, alpha: float, t_end: int) -> float:
    """RigL's cosine-decayed drop fraction ``alpha (1 + cos(pi step / t_end)) / 2`` (0 from ``t_end`` on).

    Examples
    --------
    >>> drop_fraction(0, alpha=0.3, t_end=100), round(drop_fraction(50, alpha=0.3, t_end=100), 3)
    (0.3, 0.15)
    >>> drop_fraction(100, alpha=0.3, t_end=100)
    0.0
    """
    if step >= t_end:
        return 0.0
    return alpha * (1.0 + math.cos(math.pi * step / t_end)) / 2.0
