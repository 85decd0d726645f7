"""Figures of internal preferential attachment in the style of the paper's Figures 7 and 8.

:func:`plot_delta` draws Delta(d1, d2) as a heat map on log-log degree axes, one panel per
adjacent layer pair (or gains and losses for :func:`analysis.attachment_general`);
:func:`plot_omega` draws Omega(d) with its least-squares line, its line through the origin and
the slope eq. 10 predicts.  Both take result objects, return a matplotlib Figure and write a
PNG when given a path.  matplotlib is imported inside the functions.
"""

from __future__ import annotations

import numpy as np

from analysis.attachment import AttachmentResult, DeltaTable, OmegaFit
from analysis.general_attachment import GeneralAttachmentResult
from analysis.plotting import finish_figure
from nn2graph.exceptions import NN2GraphError


class AttachmentPlotError(NN2GraphError, TypeError):
    """A plotting function got something other than attachment results."""


def _panels(obj, kind: str) -> list[tuple[str, object]]:
    """(title, item) per panel for a result, a sequence of items or one item."""
    if isinstance(obj, AttachmentResult):
        if kind == "delta":
            return [(f"{t.lower} \u2192 {t.upper}", t) for t in obj.deltas]
        return [(o.layer, o) for o in obj.omegas]
    if isinstance(obj, GeneralAttachmentResult):
        if kind == "delta":
            return [("gains", obj.delta_gains), ("losses", obj.delta_losses)]
        return [("gains", obj.omega_gains), ("losses", obj.omega_losses)]
    wanted = DeltaTable if kind == "delta" else OmegaFit
    items = [obj] if isinstance(obj, wanted) else list(obj)
    if not items or not all(isinstance(i, wanted) for i in items):
        raise AttachmentPlotError(f"plot_{kind} expected an AttachmentResult, a GeneralAttachmentResult or {wanted.__name__} objects, "
                        f"got {type(obj).__name__}")
    return [(f"{i.lower} \u2192 {i.upper}" if kind == "delta" else i.layer, i) for i in items]


def _log_edges(centers: np.ndarray) -> np.ndarray:
    """Cell boundaries around positive bin centres, halfway between neighbours in log space."""
    logs = np.log10(centers)
    if len(logs) == 1:
        half = np.array([np.log10(1.5)])
    else:
        half = np.diff(logs) / 2
    mids = logs[:-1] + half[: len(logs) - 1]
    first = logs[0] - half[0]
    last = logs[-1] + half[-1]
    return 10 ** np.concatenate([[first], mids, [last]])


def _panel_figure(n_panels: int, columns: int):
    """A figure for ``n_panels`` panels, ``columns`` a row at most, and its number of rows and columns."""
    from matplotlib.figure import Figure

    ncols = min(columns, n_panels)
    nrows = -(-n_panels // ncols)
    return Figure(figsize=(4.6 * ncols, 3.9 * nrows), layout="constrained"), nrows, ncols


def plot_delta(tables, *, path=None, title: str | None = None, columns: int = 3):
    """Heat maps of Delta(d1, d2), one panel per layer pair (paper's Figure 7).

    Each cell spans its degree bin on log-log axes (x: t = 0 degree d1 of the lower node,
    y: d2 of the upper node); its colour is Delta on a logarithmic scale.  Cells where no new
    connection was made are white, cells with no pairs grey.  Bins of degree 0 cannot sit on a
    log axis: they are left out and the panel says how many pairs they hold.

    Parameters
    ----------
    tables : AttachmentResult, GeneralAttachmentResult, DeltaTable or sequence of DeltaTable
    path : str or path-like, optional
        Write the figure there (PNG by the suffix).
    title : str, optional
        Figure title.
    columns : int, default 3
        Panels per row.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from analysis.growth import random_layered_graph, simulate_growth
    >>> from analysis.attachment import preferential_attachment
    >>> g0 = random_layered_graph([50, 40, 30, 5], n_edges=300, seed=0)
    >>> r = preferential_attachment(g0, simulate_growth(g0, n_new=400, seed=1), n_bins=5)
    >>> fig = plot_delta(r)
    >>> len(fig.axes)  # two layer pairs, each with a colour bar
    4
    """
    from matplotlib import colormaps, colors
    from matplotlib.ticker import NullFormatter

    panels = _panels(tables, "delta")
    fig, nrows, ncols = _panel_figure(len(panels), columns)
    cmap = colormaps["viridis"].with_extremes(under="white", bad="0.8")
    for k, (label, t) in enumerate(panels):
        ax = fig.add_subplot(nrows, ncols, k + 1)
        keep1, keep2 = t.bins1.center > 0, t.bins2.center > 0
        delta = t.delta[np.ix_(keep1, keep2)]
        dropped = int(t.n_pairs.sum() - t.n_pairs[np.ix_(keep1, keep2)].sum())
        positive = delta[delta > 0]
        if positive.size and keep1.any() and keep2.any():
            norm = colors.LogNorm(vmin=positive.min(), vmax=max(positive.max(), positive.min() * 1.0001))
            shown = np.where(delta > 0, delta, positive.min() / 10)
            shown = np.ma.masked_invalid(shown)
            mesh = ax.pcolormesh(_log_edges(t.bins1.center[keep1]), _log_edges(t.bins2.center[keep2]), shown.T,
                                 cmap=cmap, norm=norm)
            change = "lost" if label == "losses" else "new"
            fig.colorbar(mesh, ax=ax, label=f"\u0394 (mean {change} connections per pair)")
            ax.set_xscale("log")
            ax.set_yscale("log")
            for axis in (ax.xaxis, ax.yaxis):
                axis.set_minor_formatter(NullFormatter())
        else:
            ax.text(0.5, 0.5, "no change between nodes of positive degree", ha="center", va="center",
                    transform=ax.transAxes)
        ax.set_xlabel(f"t = 0 degree d1 ({t.lower})")
        ax.set_ylabel(f"t = 0 degree d2 ({t.upper})")
        note = f"\n(degree-0 bins left out: {dropped} pairs)" if dropped else ""
        ax.set_title(f"{label}{note}", fontsize=10)
    return finish_figure(fig, path=path, title=title)


def plot_omega(fits, *, path=None, title: str | None = None, columns: int = 3):
    """Omega(d) with its two lines and eq. 10's prediction, one panel per layer (Figure 8).

    Points are the bins (x: mean t = 0 degree of the bin, y: mean new connections per node).
    Red: least-squares line; blue dashed: line through the origin (the form of eq. 10); grey
    dotted: the slope eq. 10 predicts from the snapshot.  r^2 of each line is in the legend,
    Pearson and Spearman in the panel title.

    Parameters
    ----------
    fits : AttachmentResult, GeneralAttachmentResult, OmegaFit or sequence of OmegaFit
    path, title, columns
        As for :func:`plot_delta`.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from analysis.growth import random_layered_graph, simulate_growth
    >>> from analysis.attachment import preferential_attachment
    >>> g0 = random_layered_graph([50, 40, 30, 5], n_edges=300, seed=0)
    >>> r = preferential_attachment(g0, simulate_growth(g0, n_new=400, seed=1), n_bins=5)
    >>> fig = plot_omega(r)
    >>> [ax.get_title().split(" ")[0] for ax in fig.axes]
    ['input', 'fc1', 'fc2']
    """
    def fmt(value, spec=".3g"):
        return "n/a" if value is None else format(value, spec)

    panels = _panels(fits, "omega")
    fig, nrows, ncols = _panel_figure(len(panels), columns)
    for k, (label, o) in enumerate(panels):
        ax = fig.add_subplot(nrows, ncols, k + 1)
        x, y = o.bins.center, o.omega
        ax.scatter(x, y, s=14 + 6 * np.log1p(o.bins.count), color="black", zorder=3, label="bins (size ~ log nodes)")
        xs = np.linspace(0, x.max() * 1.05 if x.max() > 0 else 1.0, 50)
        if o.slope is not None:
            sign = "+" if o.intercept >= 0 else "\u2212"
            ax.plot(xs, o.slope * xs + o.intercept, color="tab:red",
                    label=f"least squares {fmt(o.slope)} d {sign} {fmt(abs(o.intercept))}, r\u00b2 = {fmt(o.r2, '.3f')}")
        if o.origin_slope is not None:
            ax.plot(xs, o.origin_slope * xs, color="tab:blue", linestyle="--",
                    label=f"through origin {fmt(o.origin_slope)} d, r\u00b2 = {fmt(o.origin_r2, '.3f')}")
        if o.predicted_slope is not None:
            ax.plot(xs, o.predicted_slope * xs, color="0.5", linestyle=":",
                    label=f"eq. 10 prediction {fmt(o.predicted_slope)} d")
        ax.set_xlabel("t = 0 degree d")
        ax.set_ylabel(f"\u03a9(d): mean {'connections lost' if label == 'losses' else 'new connections'}")
        ax.set_title(f"{label}  (Pearson {fmt(o.pearson, '.3f')}, Spearman {fmt(o.spearman, '.3f')})", fontsize=10)
        ax.legend(fontsize=7, loc="upper left")
    return finish_figure(fig, path=path, title=title)

