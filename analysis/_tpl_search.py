"""The exact (xmin, xmax) window search of analysis.tpl: the data and window containers
(``_Data``, ``_Pairs``), alpha of many windows at once (``_fit_pairs``), their exact KS distance
and its lower bounds (``_ks_*``), the seed and split points, the certified tile filter (tiles,
cells, split, grid and second-order bounds), the pruned refinement (``_refine``) and the driver
``_search``, with the candidate bounds (``_candidates``) and the exponent range ``ALPHA_RANGE``.

The method is described in the docstring of :mod:`analysis.tpl`; this module is private.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from analysis._tpl_sums import _EM_START, _continuous_start, _range_sums, _solve_alpha, _split_sums, _upper_sums

__all__ = ["ALPHA_RANGE", "_Data", "_Pairs", "_candidates", "_fit_pairs", "_ks_bound", "_ks_exact", "_ks_points",
           "_search"]

#: Exponents are searched in this closed interval (the untruncated law needs alpha > 1).
ALPHA_RANGE: tuple[float, float] = (-40.0, 40.0)

_PRUNE_POINTS = (9, 33, 129, 513)  # points of the successive lower bounds of D
_CHUNK_POINTS = 1 << 15
_BLOCK_PAIRS = 1 << 14
_PROBE_PAIRS = 16  # most promising windows taken to their exact D first at each later stage
_SEED_PAIRS = 256  # pairs of the sub-grid that seeds the pruning threshold
_TILE = 1024  # xmin and xmax candidates a side of a tile of the certified filter
_CELL = 32  # a side of the cells of windows that share one bound (_cell_bounds) within a tile
_HOT_POINTS = 6  # split points of the certified filter
_HOT_GRID = 9  # its sub-grid (a side) of windows whose exact D locates the split points
_ALPHA_GRID = 6  # exponents per tile at which the certified filter evaluates every window
_CERT_TOL = 1e-8  # slack of its sign tests of the likelihood equation and of its bounds of D
_WIDER_GRIDS = (1.0, 4.0, 16.0)  # widenings (in grid widths, each side) of the exponents for open windows
_WIDE_GRID = 24  # exponents of each wider grid
_WINDOW_CHUNK = 1 << 13  # windows a chunk of the per-window tests


@dataclass
class _Data:
    values: np.ndarray  # distinct positive degrees (int64, ascending)
    counts: np.ndarray  # their counts (int64)
    cum: np.ndarray  # cum[k] = number of degrees below values[k] (length K + 1)
    # cum_log[k] = sum of log(x) over the degrees below values[k], in extended precision (long
    # double: 64-bit mantissa on x86), so that a difference minus m log(a) keeps ~1e-16 relative
    cum_log: np.ndarray = field(default=None, repr=False)

    @classmethod
    def from_sorted(cls, positive: np.ndarray) -> "_Data":
        values, counts = np.unique(positive, return_counts=True)
        cum = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        cum_log = np.concatenate([[0], np.cumsum(counts.astype(np.longdouble) * np.log(values.astype(np.longdouble)))])
        return cls(values.astype(np.int64), counts.astype(np.int64), cum, cum_log)


@dataclass
class _Pairs:
    """Windows [a, b]: a, log a, first data index i, b, last data index j, alpha, edge, zeta,
    and T(b + 1) (NaN for windows summed term by term)."""

    a: np.ndarray
    loga: np.ndarray
    i: np.ndarray
    b: np.ndarray
    j: np.ndarray
    alpha: np.ndarray
    edge: np.ndarray
    z0: np.ndarray
    tb: np.ndarray

    def take(self, sel) -> "_Pairs":
        return _Pairs(*(getattr(self, f)[sel] for f in self.__dataclass_fields__))


def _fit_pairs(data: _Data, a: np.ndarray, b: np.ndarray, lower: float, upper: float) -> _Pairs:
    """MLE exponents and normalisers of the windows [a, b] (arrays of equal length)."""
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    i = np.searchsorted(data.values, a)
    j = np.searchsorted(data.values, np.minimum(b, 2.0**62), side="right") - 1
    loga = np.log(a)
    m = (data.cum[j + 1] - data.cum[i]).astype(np.float64)
    # mean of log(x / a) over each tail: a difference of the extended-precision cumulative sums
    # of log(x), minus m log(a) (O(1) a window; a cumulative sum per distinct a would cost O(n) each)
    ld = np.longdouble
    target = ((data.cum_log[j + 1] - data.cum_log[i] - m.astype(ld) * np.log(a.astype(ld))) / m.astype(ld)).astype(
        np.float64)
    alpha, edge = _solve_alpha(loga, a, b, target, lower, upper, _continuous_start(a, b, target))
    # T(a) and T(b + 1) in one call: z0 = T(a) - T(b + 1), except for windows ending below 63
    # (summed term by term, tb NaN)
    small = b + 1.0 < _EM_START
    both = _upper_sums(np.r_[alpha, alpha], np.r_[loga, loga], np.r_[a, np.maximum(b + 1.0, _EM_START)], 0)[0]
    tb = np.where(small, np.nan, both[a.size:])
    z0 = both[: a.size] - tb
    if small.any():
        z0[small] = _range_sums(alpha[small], loga[small], a[small], b[small], 0)[0]
    return _Pairs(a, loga, i, b, j, alpha, edge, z0, tb)


def _ks_points(data: _Data, p: _Pairs, row: np.ndarray, k: np.ndarray, ks: str) -> np.ndarray:
    """|S_data - S_model| of window p[row] at data value values[k] (one entry per point), and
    at values[k] + 1 for ks='integers' (their maximum)."""
    top = data.cum[p.j + 1]
    inv_m = 1.0 / (top - data.cum[p.i])
    top, inv_m = top[row], inv_m[row]
    alpha, loga, z0, tb = p.alpha[row], p.loga[row], p.z0[row], p.tb[row]
    x = data.values[k].astype(np.float64)
    small = np.isnan(tb)
    if small.any():  # windows ending below 63: summed term by term
        s_model = np.empty(x.size)
        s_model[small] = _range_sums(alpha[small], loga[small], x[small], p.b[row[small]], 0)[0]
        big = ~small
        s_model[big] = _upper_sums(alpha[big], loga[big], x[big], 0)[0] - tb[big]
        s_model /= z0
    else:  # T(b + 1) is known
        s_model = (_upper_sums(alpha, loga, x, 0)[0] - tb) / z0
    diff = np.abs((top - data.cum[k]) * inv_m - s_model)
    if ks == "integers":
        pmf = np.exp(-alpha * (np.log(x) - loga)) / z0
        after = np.abs((top - data.cum[k + 1]) * inv_m - (s_model - pmf))
        diff = np.maximum(diff, np.where(x + 1.0 <= p.b[row], after, 0.0))
    return diff


def _ks_exact(data: _Data, p: _Pairs, ks: str, argmax: bool = False):
    """Exact D of every window of p (all data values of each window, ragged), and with
    `argmax` the data index where each is reached (the first such)."""
    lengths = p.j - p.i + 1
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    row = np.repeat(np.arange(lengths.size), lengths)
    k = p.i[row] + np.arange(lengths.sum()) - offsets[row]
    diff = _ks_points(data, p, row, k, ks)
    d = np.maximum.reduceat(diff, offsets)
    if not argmax:
        return d
    first = np.flatnonzero(diff == d[row])
    return d, k[first[np.searchsorted(row[first], np.arange(lengths.size))]]


def _ks_bound(data: _Data, p: _Pairs, ks: str, points: int, centre: np.ndarray | None = None,
              spread: np.ndarray | None = None, extra: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """max |S_data - S_model| over `points` data values of each window, and the data index
    where it is reached: a lower bound of D, equal to D for windows of at most `points` values.

    Without `centre` the points are evenly spaced.  With it (the argmax of a coarser bound),
    half are evenly spaced and half zoom in on centre +- spread (the coarser spacing), where
    the maximum usually is; windows of at most `points` values still get all of theirs.
    The data indices `extra` (clipped to each window) are added to every window's points.
    """
    q = np.linspace(0.0, 1.0, points)
    span = (p.j - p.i)[:, None]
    k = np.rint(p.i[:, None] + q[None, :] * span).astype(np.int64)
    if centre is not None:
        n_even = (points + 1) // 2
        even = np.rint(p.i[:, None] + np.linspace(0.0, 1.0, n_even)[None, :] * span)
        zoom = np.rint(centre[:, None] + np.linspace(-1.0, 1.0, points - n_even)[None, :] * spread[:, None])
        mixed = np.clip(np.concatenate([even, zoom], axis=1), p.i[:, None], p.j[:, None]).astype(np.int64)
        k = np.where(span + 1 <= points, k, mixed)
    if extra is not None and extra.size:  # data indices where D usually peaks, clipped to each window
        k = np.concatenate([k, np.clip(extra[None, :], p.i[:, None], p.j[:, None])], axis=1)
    row = np.repeat(np.arange(p.i.size), k.shape[1])
    diff = _ks_points(data, p, row, k.ravel(), ks).reshape(k.shape)
    at = diff.argmax(axis=1)
    return diff[np.arange(at.size), at], k[np.arange(at.size), at]


@dataclass
class _Best:
    d: float = math.inf
    a: float = -1.0
    b: float = -1.0
    alpha: float = math.nan
    edge: bool = False
    cand: int = 0
    cap: float = math.inf  # D of a window met before (a seed), plus slack
    hot: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # data indices where D peaks

    def threshold(self) -> float:
        """Windows whose lower bound of D exceeds this cannot win (with float slack)."""
        return min(self.d * (1 + 1e-12) + 1e-15, self.cap)

    def offer(self, d: np.ndarray, p: _Pairs) -> None:
        """Keep the smallest (D, xmin, xmax) of the current best and the windows p."""
        s = np.lexsort((p.b, p.a, d))[0]
        if (d[s], p.a[s], p.b[s]) < (self.d, self.a, self.b) or self.a < 0:
            self.d, self.a, self.b = float(d[s]), float(p.a[s]), float(p.b[s])
            self.alpha, self.edge = float(p.alpha[s]), bool(p.edge[s])


def _blocks(first_b: np.ndarray, n_b: int):
    """Yield (a index, b index) arrays of the valid pairs, about _BLOCK_PAIRS at a time, in
    row-major order; memory stays O(_BLOCK_PAIRS) whatever the number of pairs."""
    counts = n_b - first_b
    ends = np.cumsum(counts)
    start_a, done = 0, 0
    while start_a < counts.size:
        stop_a = max(start_a + 1, int(np.searchsorted(ends, done + _BLOCK_PAIRS, side="right")))
        rows = np.repeat(np.arange(start_a, stop_a), counts[start_a:stop_a])
        if rows.size:
            offsets = np.cumsum(counts[start_a:stop_a]) - counts[start_a:stop_a]
            cols = first_b[rows] + np.arange(rows.size) - np.repeat(offsets, counts[start_a:stop_a])
            yield rows, cols
        done = int(ends[stop_a - 1])
        start_a = stop_a


def _refine(data: _Data, pairs: _Pairs, sel: np.ndarray, lb: np.ndarray | None, stage: int, best: "_Best",
            ks: str, centre: np.ndarray | None = None) -> None:
    """Offer the windows pairs[sel] to best, discarding those whose lower bound of D cannot win.

    Stage s bounds D by its maximum over _PRUNE_POINTS[s] points of each window (exact for
    windows with no more data values), zooming in on where the previous stage's maximum
    (`centre`) was; after the last stage the survivors get their exact D.  Windows are
    processed in chunks, the most promising (smallest bound) first, so that the best D found
    so far prunes the rest; at stages after the first, the first chunk is only the
    _PROBE_PAIRS most promising windows, carried to their exact D before the others are
    bounded further, so that a good D prunes from the start.
    """
    last = stage == len(_PRUNE_POINTS)
    points = 0 if last else _PRUNE_POINTS[stage]
    probe = _PROBE_PAIRS if lb is not None else 0
    while sel.size:
        if lb is not None:
            keep = lb <= best.threshold()  # the others cannot win
            sel, lb, centre = sel[keep], lb[keep], centre[keep]
            if not sel.size:
                return
        if last:
            take = max(1, int(np.searchsorted(np.cumsum(pairs.j[sel] - pairs.i[sel] + 1), _CHUNK_POINTS)))
        else:
            take = max(1, _CHUNK_POINTS // points)
        if probe:
            take, probe = min(take, probe), 0
        chunk, sel = sel[:take], sel[take:]
        sub = pairs.take(chunk)
        if lb is not None:
            sub_centre, lb, centre = centre[:take], lb[take:], centre[take:]
        if last:
            best.offer(_ks_exact(data, sub, ks), sub)
            continue
        if lb is None:
            bound, at = _ks_bound(data, sub, ks, points, extra=best.hot)
        else:
            spread = (sub.j - sub.i) / (_PRUNE_POINTS[stage - 1] - 1)
            bound, at = _ks_bound(data, sub, ks, points, sub_centre, spread)
        exact = sub.j - sub.i + 1 <= points  # the bound is D there
        if exact.any():
            best.offer(bound[exact], sub.take(exact))
        rest = np.flatnonzero(~exact)
        order = rest[np.argsort(bound[rest], kind="stable")]
        _refine(data, pairs, chunk[order], bound[order], stage + 1, best, ks, at[order])


def _search(data: _Data, a_cands: np.ndarray, b_cands: np.ndarray, ks: str) -> _Best:
    """Exact joint search over xmin in a_cands and xmax in b_cands (b may be inf)."""
    best = _Best()
    lower, upper = (1.0, ALPHA_RANGE[1]) if np.isinf(b_cands).any() else ALPHA_RANGE
    ia = np.searchsorted(data.values, a_cands)
    jb = np.searchsorted(data.values, np.minimum(b_cands, 2.0**62), side="right") - 1
    # window (a, b) is valid when it holds two distinct data values: jb >= ia + 1; jb is
    # non-decreasing in b, so the valid b of each a form a suffix of b_cands
    first_b = np.searchsorted(jb, ia + 1, side="left")
    per_a = b_cands.size - first_b
    best.cand = int(per_a.sum())
    big = best.cand >= _BLOCK_PAIRS and not np.isinf(b_cands).any()
    hot = _hot_points(data, a_cands, b_cands, first_b, lower, upper, ks) if big else np.zeros(0)
    best.hot = np.searchsorted(data.values, hot)
    best.cap = _seed(data, a_cands, b_cands, first_b, lower, upper, ks, best.hot)
    if hot.size and math.isfinite(best.cap):
        batches = _certified(data, a_cands, b_cands, first_b, hot, lower, upper, best, ks)
    else:
        batches = _blocks(first_b, b_cands.size)
    for r, c in batches:
        pairs = _fit_pairs(data, a_cands[r], b_cands[c], lower, upper)
        _refine(data, pairs, np.arange(pairs.i.size), None, 0, best, ks)
    return best


def _hot_points(data: _Data, a_cands: np.ndarray, b_cands: np.ndarray, first_b: np.ndarray, lower: float,
                upper: float, ks: str) -> np.ndarray:
    """Data values where the exact D of a sub-grid of windows (_HOT_GRID a side) is reached,
    the most frequent first (at most _HOT_POINTS): the maximum of |S_data - S_model| sits at
    the same few values for most windows of a data set, so these points bound D tightly."""
    rows = np.unique(np.linspace(0, a_cands.size - 1, _HOT_GRID).astype(np.int64))
    cols = np.unique(np.linspace(0, b_cands.size - 1, _HOT_GRID).astype(np.int64))
    r, c = np.repeat(rows, cols.size), np.tile(cols, rows.size)
    ok = c >= first_b[r]
    if not ok.any():
        return np.zeros(0)
    pairs = _fit_pairs(data, a_cands[r[ok]], b_cands[c[ok]], lower, upper)
    _, at = _ks_exact(data, pairs, ks, argmax=True)
    where, freq = np.unique(at, return_counts=True)
    return data.values[where[np.argsort(-freq, kind="stable")][:_HOT_POINTS]].astype(np.float64)


def _tiles(first_b: np.ndarray, n_b: int):
    """Yield (a indices, b indices) of each tile of at most _TILE x _TILE candidates holding a
    valid pair, in row-major order (its valid pairs: _valid)."""
    for r0 in range(0, first_b.size, _TILE):
        if first_b[r0] >= n_b:  # first_b is non-decreasing: no valid pair from here on
            return
        rows = np.arange(r0, min(first_b.size, r0 + _TILE))
        for c0 in range(int(first_b[r0]) // _TILE * _TILE, n_b, _TILE):
            yield rows, np.arange(c0, min(n_b, c0 + _TILE))


def _valid(first_b: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """valid[p, q]: whether the pair (rows[p], cols[q]) holds two distinct data values."""
    return cols[None, :] >= first_b[rows][:, None]


def _certified(data: _Data, a_cands: np.ndarray, b_cands: np.ndarray, first_b: np.ndarray, hot: np.ndarray,
               lower: float, upper: float, best: _Best, ks: str):
    """Yield the (a index, b index) arrays of the pairs of each tile that a certified lower
    bound of D (_tile_bound) cannot discard, in blocks of at most _BLOCK_PAIRS pairs.

    The tiles come best first and each tries its split points in the order of _best_first, from
    the |S_data - S_model| of its probes (corners and centre, _probes) at the split points, so
    that the exact stage meets the best windows early and the threshold falls before most tiles
    are filtered.  Neither order changes what a window's bound certifies.
    """
    splits = []
    for x in hot:  # the data sums of each split point, shared by every tile
        kx = int(np.searchsorted(data.values, x))
        splits.append((x, kx, np.concatenate([[0.0], np.cumsum(data.counts * np.log(data.values / x))])))
    # the exact alpha of every tile's probes, and their |S_data - S_model| at the split points, in
    # a few large batches: one small batch per tile would cost more than the tile's own filter
    tiles = list(_tiles(first_b, b_cands.size))
    pr, pc, starts = [], [], [0]
    for rows, cols in tiles:
        r, c = _probes(rows.size, cols.size)
        ok = cols[c] >= first_b[rows[r]]  # (0, last column) is valid in every tile
        pr.append(rows[r[ok]])
        pc.append(cols[c[ok]])
        starts.append(starts[-1] + int(ok.sum()))
    pr, pc = np.concatenate(pr), np.concatenate(pc)
    alphas, at_split = [], []
    hot_k = np.searchsorted(data.values, hot)
    for s in range(0, pr.size, _BLOCK_PAIRS):
        probes = _fit_pairs(data, a_cands[pr[s: s + _BLOCK_PAIRS]], b_cands[pc[s: s + _BLOCK_PAIRS]], lower, upper)
        alphas.append(probes.alpha)
        at_split.append(_split_values(data, probes, hot_k, ks))
    alphas, at_split = np.concatenate(alphas), np.concatenate(at_split)
    tile_order, split_order = _best_first(at_split, np.array(starts))
    for t in tile_order:
        rows, cols = tiles[t]
        valid = _valid(first_b, rows, cols)
        bound = _tile_bound(data, a_cands[rows], b_cands[cols], valid, [splits[k] for k in split_order[t]], lower,
                            upper, best.threshold(), alphas[starts[t]: starts[t + 1]])
        keep = np.flatnonzero(valid & (bound <= best.threshold()))
        bound = bound.ravel()
        for start in range(0, keep.size, _BLOCK_PAIRS):
            sel = keep[start: start + _BLOCK_PAIRS]
            sel = sel[bound[sel] <= best.threshold()]  # the threshold may have fallen meanwhile
            if sel.size:
                yield rows[sel // cols.size], cols[sel % cols.size]


def _best_first(at_split: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The order of the tiles and, by tile, of the split points in _certified, from the probes'
    |S_data - S_model| at the split points (at_split: a row a probe, those of tile t in rows
    starts[t]:starts[t + 1], at least one a tile).  The tiles in ascending order of the smallest,
    over their probes, of the largest value of a probe (a lower bound of its D, close to it where
    D peaks at a split point); each tile's split points in descending order of the largest value
    of its probes there, the split whose cells discard most of the tile first (ties: the earlier
    tile or split point first)."""
    peak = np.maximum.reduceat(at_split, starts[:-1], axis=0)  # by tile and split point
    score = np.minimum.reduceat(at_split.max(axis=1), starts[:-1])  # by tile
    return np.argsort(score, kind="stable"), np.argsort(-peak, axis=1, kind="stable")


def _split_values(data: _Data, p: _Pairs, hot_k: np.ndarray, ks: str) -> np.ndarray:
    """|S_data - S_model| of each window of p (rows) at the data indices hot_k (columns), 0 where
    the data value lies outside the window: lower bounds of its D."""
    row = np.repeat(np.arange(p.i.size), hot_k.size)
    k = np.tile(hot_k, p.i.size)
    inside = (k >= p.i[row]) & (k <= p.j[row])
    out = np.zeros(row.size)
    if inside.any():
        out[inside] = _ks_points(data, p, row[inside], k[inside], ks)
    return out.reshape(p.i.size, hot_k.size)


def _probes(nr: int, nc: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of the corners and centre of a tile of nr x nc candidates: its valid
    ones are the windows whose exact alpha sets the tile's exponents."""
    return np.array([0, 0, nr - 1, nr - 1, nr // 2]), np.array([0, nc - 1, 0, nc - 1, nc // 2])


def _tile_bound(data: _Data, a: np.ndarray, b: np.ndarray, valid: np.ndarray, splits: list, lower: float,
                upper: float, thr: float = math.inf, probe_alpha: np.ndarray | None = None) -> np.ndarray:
    """A lower bound of D for each window (a[p], b[q]) (finite b) of a tile, without its alpha.

    Split each window at a data value x inside it: the data and the model below x depend on
    xmin alone, those from x on on xmax alone, so at a fixed exponent every window's
    S_data(x), S_model(x) and likelihood equation cost a few operations on per-xmin and
    per-xmax sums.  The likelihood equation g(alpha) = E_alpha[log k] - mean(log x) falls with
    alpha and vanishes at the window's alpha, and S_model(x) falls with alpha, so at the
    exponents beta of a small grid: g(beta) > 0 gives D >= S_data(x) - S_model(x; beta), and
    g(beta) < 0 gives D >= S_model(x; beta) - S_data(x).  The grid spans the exact alpha of
    the tile's valid corners and centre, widened; a window it does not bracket keeps a weaker
    bound, or -inf.  Both tests have a slack of _CERT_TOL, far above the rounding of the sums.
    The tests run on whole cells of windows first (_cell_bounds), split point after split point
    in the order of `splits`, then window by window on the cells left open, with the second-order
    bound (_taylor_bound), and wider grids on the windows still open where it bracketed no root
    (see _split_bounds).  Windows that are not valid get arbitrary values.  `probe_alpha`: the
    exact alpha of the valid windows of _probes, if known.
    """
    if probe_alpha is None:
        r, c = _probes(*valid.shape)
        r, c = r[valid[r, c]], c[valid[r, c]]
        probe_alpha = _fit_pairs(data, a[r], b[c], lower, upper).alpha if r.size else np.zeros(0)
    if not probe_alpha.size:
        return np.full(valid.shape, -np.inf)
    al = probe_alpha
    lo, hi = float(al.min()), float(al.max())
    pad = 0.25 * (hi - lo) + 1e-5 * (1.0 + abs(lo) + abs(hi))
    beta = np.linspace(max(lower + 1e-9, lo - pad), min(upper - 1e-9, hi + pad), _ALPHA_GRID)[:, None]
    ia = np.searchsorted(data.values, a)
    jb = np.searchsorted(data.values, b, side="right") - 1
    bound = np.zeros(valid.shape)  # D >= 0
    far = np.zeros(valid.shape, bool)
    _split_bounds(data, a, b, ia, jb, valid, splits, beta, bound, thr, far, lower, upper)
    # windows whose alpha lies beyond the exponents of the probes (alpha need not be extreme at
    # a tile's corners) get only a one-sided, weak bound: try wider grids on the windows left open
    # whose second-order bound found no root near the grid (where it did, it is within ~1e-8 of
    # what any exponent's sign test can give at that split point)
    width = float(beta[-1, 0] - beta[0, 0])
    for widen in _WIDER_GRIDS if far.any() else ():
        open_ = valid & far & (bound <= thr)
        if not open_.any():
            break
        beta = np.linspace(max(lower + 1e-9, float(beta[0, 0]) - widen * width),
                           min(upper - 1e-9, float(beta[-1, 0]) + widen * width), _WIDE_GRID)[:, None]
        _split_bounds(data, a, b, ia, jb, open_, splits, beta, bound, thr)
    bound -= _CERT_TOL
    return bound


def _split_bounds(data: _Data, a: np.ndarray, b: np.ndarray, ia: np.ndarray, jb: np.ndarray, valid: np.ndarray,
                  splits: list, beta: np.ndarray, bound: np.ndarray, thr: float, far: np.ndarray | None = None,
                  lower: float = ALPHA_RANGE[0], upper: float = ALPHA_RANGE[1]) -> None:
    """Raise bound[p, q] (in place) to the certified lower bound of D of window (a[p], b[q]) at
    each split point and exponent of beta (column), for the windows where valid is True and the
    bound does not yet exceed thr (see _tile_bound).  With `far` (the sums then have r = 0..2),
    each split point's rectangle first gets the bounds of its cells (_cell_bounds, while more
    than a quarter of its windows are open), after the per-window tests the windows still open
    get _taylor_bound at the exponent of beta nearest their alpha, and far (the tile's shape) is
    set for those where it bracketed no root."""
    taylor = far is not None
    stored = [None] * len(splits)
    open_ = valid & (bound <= thr)
    if taylor:  # first the bounds of whole cells, split point after split point (sums kept)
        n_open = int(np.count_nonzero(open_))  # in the whole tile: at least as many as in a rectangle
        for n_split, (x, kx, cl) in enumerate(splits):
            na, c0 = int(np.searchsorted(a, x, side="right")), int(np.searchsorted(b, x))  # a <= x <= b
            if (min(na, b.size - c0) < 2 * _CELL or n_open <= 0.25 * na * (b.size - c0)
                    or np.count_nonzero(open_[:na, c0:]) <= 0.25 * na * (b.size - c0)):
                continue
            stored[n_split] = _split_sums(data, a, b, ia, jb, x, kx, cl, beta, np.arange(na), np.arange(b.size - c0),
                                          na, c0, 2)
            _cell_bounds(*stored[n_split], valid[:na, c0:], bound[:na, c0:])
            open_ = valid & (bound <= thr)
            n_open = int(np.count_nonzero(open_))
    f_all = np.flatnonzero(open_)  # the windows still open, one by one (flat indices into the tile)
    log_a, log_b = np.log(a), np.log(b)
    for n_split, (x, kx, cl) in enumerate(splits):
        if not f_all.size:
            return
        na, c0 = int(np.searchsorted(a, x, side="right")), int(np.searchsorted(b, x))  # a <= x <= b
        p_all, q_all = np.divmod(f_all, b.size)
        here = np.flatnonzero((p_all < na) & (q_all >= c0))  # the open windows this split may discard
        if not here.size:
            continue
        p, q = p_all[here], q_all[here] - c0
        if stored[n_split] is not None:  # the sums of every row and column, from the cells' pass
            sp, sq, sums = p, q, stored[n_split]
        else:  # else only the rows and columns holding open windows get their sums
            ri, ci = np.unique(p), np.unique(q)
            sp, sq = np.searchsorted(ri, p), np.searchsorted(ci, q)
            sums = _split_sums(data, a, b, ia, jb, x, kx, cl, beta, ri, ci, na, c0, 1 + taylor)
        w = log_b[c0:][q] - log_a[p] if taylor else None  # log(b / a)
        new, unbracketed = np.empty(here.size), np.zeros(here.size, bool)
        for start in range(0, here.size, _WINDOW_CHUNK):  # chunks whose arrays stay in the cache
            c = slice(start, start + _WINDOW_CHUNK)
            new[c], unb = _window_bounds(*sums, sp[c], sq[c], beta, thr, None if w is None else w[c], lower, upper)
            if taylor:
                unbracketed[c] = unb
        f = f_all[here]
        new = np.fmax(bound.take(f), new)
        bound.put(f, new)
        if taylor:
            far.put(f[unbracketed], True)
        closed = here[new > thr]
        if closed.size:
            f_all = np.delete(f_all, closed)


def _cell_bounds(low: np.ndarray, up: np.ndarray, n_low: np.ndarray, n_up: np.ndarray, l_low: np.ndarray,
                 l_up: np.ndarray, valid: np.ndarray, bound: np.ndarray) -> None:
    """Raise bound (in place) to a certified lower bound of D shared by all windows of each cell
    of _CELL x _CELL windows, in O(rows + columns) a cell and exponent instead of O(rows x columns).

    The windows (a, b) of a rectangle split at x (a <= x <= b) and the sums below and above x
    at the exponents beta (low, up: rows r = 0, 1 by exponent and xmin / xmax; counts n_low, n_up
    and sums of log(x_i / x) l_low, l_up of the data).  At one exponent, with A = (P0, P1, p, M)
    the sums below x (model r = 0, 1; data count, log) and B = (U0, U1, u, N) those from x on,
    F = S_data(x) - S_model(x) = u / (p + u) - U0 / (P0 + U0) and g = E[log(k / x)] - mean =
    (P1 + U1) / (P0 + U0) - (M + N) / (p + u) are functions h(A(a), B(b)).  For a cell with
    first row a* and first column b*, h(a, b) = h(a, b*) + h(a*, b) - h(a*, b*) + X, where X
    is the double difference, the integral of the mixed second derivatives over straight paths
    from A(a*) to A(a) and B(b*) to B(b):
      U0 / (P0 + U0): |d2 / dP0 dU0| = |U0 - P0| / Z^3 <= 1 / Z^2, so |X| <= dP0 dU0 / Z_min^2;
      (P1 + U1) / (P0 + U0): d2 / dP0 dU0 = 2 E / Z^2, d2 / dP1 dU0 = d2 / dP0 dU1 = -1 / Z^2,
      d2 / dP1 dU1 = 0, so |X| <= (2 E_max dP0 dU0 + dP1 dU0 + dP0 dU1) / Z_min^2,
    and the same for the data terms.  Every sum is monotone in a (the sums over [a, x)) or in b
    (over [x, b]), so the largest change d.. within a cell, Z_min = P0(last row) + U0(b*) and
    |E| <= max(|P1(a*)|, U1(last column)) / Z_min come from the cell's first and last row and
    column.  The first two terms are separable, so their minimum (maximum) over a cell is the
    sum of the minima (maxima) over its rows and its columns.  With g_min - X_g > _CERT_TOL the
    cell's windows all have alpha > beta, so D >= F(alpha) > F(beta) >= F_min - X_F; with
    g_max + X_g < -_CERT_TOL, D >= -(F_max + X_F).  Cells holding an invalid window are left.
    `valid` is a staircase (a window is valid when the one below it or to its left is), so a cell
    is valid when its last row and first column is.  The exponents must lie inside the search
    range (alpha is clipped to it).
    """
    na, nb = valid.shape
    rs, cs = np.arange(0, na, _CELL), np.arange(0, nb, _CELL)
    re, ce = np.minimum(rs + _CELL, na) - 1, np.minimum(cs + _CELL, nb) - 1
    cell_ok = valid[re][:, cs]  # the cell's last row and first column: its last valid window (a staircase)
    if not cell_ok.any():
        return
    with np.errstate(all="ignore"):
        p0, p1, u0, u1 = low[0], low[1], up[0], up[1]  # (exponents, rows / columns)

        # S_data(x) and the data's mean of log(k / x) (no exponent): rows against each cell's first
        # column (as cell column, row: reduceat is fastest along the last axis), columns against
        # each cell's first row
        m = n_low[None, :] + n_up[cs, None]
        row_data = n_up[cs, None] / m, (l_low[None, :] + l_up[cs, None]) / m
        m = n_low[rs, None] + n_up[None, :]
        col_data = n_up[None, :] / m, (l_low[rs, None] + l_up[None, :]) / m

        def f_and_g(p0, p1, u0, u1, s_data, mean):
            z = p0 + u0
            return s_data - u0 / z, (p1 + u1) / z - mean

        def by_cell(reduce, rows, cols, star):  # reduce over the rows and columns of each cell
            return reduce.reduceat(rows, rs, axis=1).T + reduce.reduceat(cols, cs, axis=1) - star

        f_min, f_max, g_min, g_max = (np.empty((p0.shape[0], rs.size, cs.size)) for _ in range(4))
        for e in range(p0.shape[0]):  # one exponent at a time: arrays that stay in the cache
            rf, rg = f_and_g(p0[e, None, :], p1[e, None, :], u0[e, cs, None], u1[e, cs, None], *row_data)
            cf, cg = f_and_g(p0[e, rs, None], p1[e, rs, None], u0[e, None, :], u1[e, None, :], *col_data)
            f_star, g_star = rf[:, rs].T, rg[:, rs].T
            f_min[e], f_max[e] = by_cell(np.minimum, rf, cf, f_star), by_cell(np.maximum, rf, cf, f_star)
            g_min[e], g_max[e] = by_cell(np.minimum, rg, cg, g_star), by_cell(np.maximum, rg, cg, g_star)
        # largest changes within a cell, and the smallest normalisers
        d_p0 = np.abs(p0[:, rs] - p0[:, re])[:, :, None]
        d_p1 = np.abs(p1[:, rs] - p1[:, re])[:, :, None]
        d_u0 = np.abs(u0[:, ce] - u0[:, cs])[:, None, :]
        d_u1 = np.abs(u1[:, ce] - u1[:, cs])[:, None, :]
        z_min = p0[:, re][:, :, None] + u0[:, cs][:, None, :]
        e_max = np.maximum(np.abs(p1[:, rs])[:, :, None], np.abs(u1[:, ce])[:, None, :]) / z_min
        d_pn = np.abs(n_low[rs] - n_low[re])[:, None]
        d_pm = np.abs(l_low[rs] - l_low[re])[:, None]
        d_un = np.abs(n_up[ce] - n_up[cs])[None, :]
        d_um = np.abs(l_up[ce] - l_up[cs])[None, :]
        m_min = n_low[re][:, None] + n_up[cs][None, :]
        mm_max = np.maximum(np.abs(l_low[rs])[:, None], np.abs(l_up[ce])[None, :]) / m_min
        x_f = d_p0 * d_u0 / z_min**2 + d_pn * d_un / m_min**2
        x_g = ((2.0 * e_max * d_p0 * d_u0 + d_p1 * d_u0 + d_p0 * d_u1) / z_min**2
               + (2.0 * mm_max * d_pn * d_un + d_pm * d_un + d_pn * d_um) / m_min**2)
        above = np.where(g_min - x_g > _CERT_TOL, f_min - x_f, -np.inf)  # beta < alpha for every window
        below = np.where(g_max + x_g < -_CERT_TOL, -(f_max + x_f), -np.inf)  # beta > alpha
        cell = np.max(np.fmax(above, below), axis=0, initial=-np.inf)
        cell = np.where(cell_ok & np.isfinite(cell), cell, -np.inf)
    _spread(cell, bound)


def _spread(cell: np.ndarray, bound: np.ndarray) -> None:
    """bound = fmax(bound, the value of each window's cell of _CELL x _CELL windows), in place:
    through a view of the whole cells (no array of the tile's size), then the partial ones."""
    na, nb = bound.shape
    fr, fc = na // _CELL, nb // _CELL
    whole = bound[: fr * _CELL, : fc * _CELL].view()
    whole.shape = (fr, _CELL, fc, _CELL)  # a view (raises rather than copy)
    np.fmax(whole, cell[:fr, None, :fc, None], out=whole)
    if fc < cell.shape[1]:  # the last, partial column of cells
        np.fmax(bound[:, fc * _CELL:], np.repeat(cell[:, fc:], _CELL, axis=0)[:na], out=bound[:, fc * _CELL:])
    if fr < cell.shape[0]:  # the last, partial row of cells
        np.fmax(bound[fr * _CELL:, : fc * _CELL], np.repeat(cell[fr:, :fc], _CELL, axis=1),
                out=bound[fr * _CELL:, : fc * _CELL])


def _window_bounds(low, up, n_low, n_up, l_low, l_up, sp, sq, beta, thr, w, lower, upper):
    """The per-window tests of _split_bounds (see _tile_bound) for the windows of rows sp and
    columns sq of the sums of _split_sums: the sign tests at each exponent of beta, then, with
    `w` (log(b / a) of each window; the sums then have r = 0..2), _taylor_bound at the exponent
    nearest each window's alpha for the windows whose bound does not exceed thr.  Returns the
    bounds and, by window, whether _taylor_bound was tried and bracketed no root (None without w)."""
    m = n_low[sp] + n_up[sq]
    s_data = n_up[sq] / m
    mean = (l_low[sp] + l_up[sq]) / m
    with np.errstate(all="ignore"):
        u0 = np.take(up[0], sq, axis=1)  # (np.take: faster than fancy indexing along the last axis)
        z = np.take(low[0], sp, axis=1) + u0
        gap = (np.take(low[1], sp, axis=1) + np.take(up[1], sq, axis=1)) / z - mean  # E_beta[log(k / x)] - mean
        sign = (gap > _CERT_TOL).astype(np.float64) - (gap < -_CERT_TOL)  # +1: beta < alpha, -1: beta > alpha
        out = np.fmax.reduce(sign * (s_data - u0 / z), axis=0)
        if w is None:
            return out, None
        unbracketed = np.zeros(out.size, bool)
        op = np.flatnonzero(~(out > thr))
        if op.size:
            gap = gap[:, op]
            near = np.argmin(np.where(np.isfinite(gap), np.abs(gap), np.inf), axis=0)
            second = _taylor_bound(beta[near, 0], low[:, near, sp[op]], up[:, near, sq[op]], s_data[op], mean[op],
                                   w[op], lower, upper)
            unbracketed[op] = second == -np.inf
            out[op] = np.fmax(out[op], second)
    return out, unbracketed


def _taylor_bound(beta: float, low: np.ndarray, up: np.ndarray, s_data: np.ndarray, mean: np.ndarray,
                  w: np.ndarray, lower: float, upper: float) -> np.ndarray:
    """A lower bound of |S_data(x) - S_model(x; alpha)| for windows split at x, from sums at a
    single exponent beta near their alpha (tight to second order in alpha - beta).

    `low`, `up`: rows r = 0, 1, 2 of the sums of (k / x)^-beta log(k / x)^r below x and from x
    on (one column a window); `s_data`, `mean`: the window's S_data(x) and mean of log(x_i / x);
    `w`: log(b / a).  With l = log(k / x) and the model at exponent t: g(t) = E_t[l] - mean
    has g' = -V(t) (the variance of l), and |dV / dt| = |E_t[(l - E l)^3]| <= w V(t), so
    V(t) lies within V(beta) exp(+-w |t - beta|); the root alpha of g is therefore within
    [log1p(w g / V) / w, -log1p(-w g / V) / w] of beta (g = g(beta); both ends for either sign,
    with g widened by _CERT_TOL and V by 1e-6 of itself for rounding).  S(t) = S_model(x; t) has
    S' = -Cov_t(1{k >= x}, l) and |S''| = |E_t[(1{k >= x} - S)(l - E l)^2]| <= V(t), so S(alpha)
    = S(beta) - Cov * (alpha - beta) within V(beta) exp(w d) d^2 / 2 (d = |alpha - beta|).  The
    bound is the distance of S_data from that interval; -inf where the root is not bracketed
    (w |g| / V >= 1/2, or beyond the search range).  The caller subtracts _CERT_TOL.
    """
    with np.errstate(all="ignore"):
        z = low[0] + up[0]
        e1 = (low[1] + up[1]) / z
        e2 = (low[2] + up[2]) / z
        var = e2 - e1 * e1
        s0 = up[0] / z
        cov = up[1] / z - s0 * e1
        gap = e1 - mean
        v_lo, v_hi = var * (1.0 - 1e-6), var * (1.0 + 1e-6)
        g_lo, g_hi = gap - _CERT_TOL, gap + _CERT_TOL
        d_lo = np.minimum(np.log1p(w * g_lo / v_lo), np.log1p(w * g_lo / v_hi)) / w
        d_hi = np.maximum(-np.log1p(-w * g_hi / v_lo), -np.log1p(-w * g_hi / v_hi)) / w
        d = np.maximum(np.abs(d_lo), np.abs(d_hi))
        ok = ((w * np.maximum(np.abs(g_lo), np.abs(g_hi)) < 0.5 * v_lo) & (var > 1e-4 * np.abs(e2))
              & (beta + d_lo > lower) & (beta + d_hi < upper) & np.isfinite(d))
        rem = 0.5 * v_hi * np.exp(w * d) * d * d
        s_lo = s0 + np.minimum(-cov * d_lo, -cov * d_hi) - rem
        s_hi = s0 + np.maximum(-cov * d_lo, -cov * d_hi) + rem
        out = np.maximum(s_data - s_hi, s_lo - s_data)
    return np.where(ok, out, -np.inf)


def _seed(data: _Data, a_cands: np.ndarray, b_cands: np.ndarray, first_b: np.ndarray, lower: float,
          upper: float, ks: str, hot: np.ndarray) -> float:
    """A cap on the pruning threshold: the smallest D of a sub-grid of the pairs (every s-th
    xmin and xmax candidate, about _SEED_PAIRS pairs), then of ever finer sub-grids (s / 8,
    s / 64, ... down to 1) within s of the winner so far; none (inf) when all the pairs fit in
    one block.  Each sub-grid has a few hundred pairs, whatever the number of pairs.

    Only the cap is kept, never a winner: alpha (hence D) of a window may differ in the last
    bits from the main pass, where the other windows of its batch differ (a series stops when
    the whole batch's terms are negligible), so the cap adds 1e-9 of slack; the
    main pass then finds the same window, alpha and D as without the seed, just sooner.
    """
    n_pairs = int((b_cands.size - first_b).sum())
    if n_pairs < _BLOCK_PAIRS:  # one block: its own ordering does as well, the seed's fixed cost would show
        return math.inf
    step = int(math.isqrt(n_pairs // _SEED_PAIRS))
    if step < 2:  # the sub-grid would be the whole search
        return math.inf
    seed = _Best(hot=hot)
    rows = np.arange(0, a_cands.size, step)
    cols = np.arange(0, b_cands.size, step)
    while True:
        r = np.repeat(rows, cols.size)
        c = np.tile(cols, rows.size)
        ok = c >= first_b[r]
        if ok.any():
            pairs = _fit_pairs(data, a_cands[r[ok]], b_cands[c[ok]], lower, upper)
            _refine(data, pairs, np.arange(pairs.i.size), None, 0, seed, ks)
        if seed.a < 0:
            return math.inf
        if step == 1:
            return seed.d + 1e-9
        # a finer sub-grid within one step of the winner
        ra, cb = int(np.searchsorted(a_cands, seed.a)), int(np.searchsorted(b_cands, seed.b))
        finer = max(1, step // 8)
        rows = np.arange(max(0, ra - step + finer), min(a_cands.size, ra + step), finer)
        cols = np.arange(max(0, cb - step + finer), min(b_cands.size, cb + step), finer)
        step = finer


def _candidates(positive: np.ndarray, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values among the floor(fraction * n) smallest and largest positive degrees."""
    count = max(1, int(math.floor(fraction * positive.size + 1e-9)))
    return np.unique(positive[:count]), np.unique(positive[positive.size - count:])
