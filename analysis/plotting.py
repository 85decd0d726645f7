"""Plots in the style of the paper's figures: log-log CCDFs with the fitted TPL in red.

matplotlib is imported inside the functions (``matplotlib.figure.Figure``, no pyplot), so
importing :mod:`analysis` stays light and plotting works without a display.  The pieces every
figure of the project shares are here: :func:`ccdf_points` and :func:`fit_ccdf_curve` (the
points and the fitted line of a degree CCDF), :func:`label_ccdf_axes` (a log-log CCDF panel's
ticks, labels and legend) and :func:`finish_figure` (the title and the atomic PNG).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from analysis.tpl import FitError, TPLFit
from nn2graph.result_files import save_figure

__all__ = [
    "ccdf_points",
    "draw_fit_panel",
    "finish_figure",
    "fit_ccdf_curve",
    "label_ccdf_axes",
    "model_ccdf_curve",
    "plot_ccdf_fit",
    "plot_layer_fits",
]


def ccdf_points(values: ArrayLike, counts: ArrayLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Distinct positive values and the share of the positive values at least each.

    Examples
    --------
    >>> x, s = ccdf_points([1, 1, 2, 4])
    >>> x.tolist(), s.tolist()
    ([1, 2, 4], [1.0, 0.5, 0.25])
    """
    v = np.asarray(values)
    if counts is None:
        v, c = np.unique(v[v > 0], return_counts=True)
    else:
        c = np.asarray(counts)
    if v.size == 0:
        return v.astype(np.int64), np.zeros(0)
    tail = np.cumsum(c[::-1])[::-1]
    return v.astype(np.int64), tail / tail[0]


def model_ccdf_curve(fit: TPLFit, *, upper: float | None = None, points: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """Integers spread log-evenly over ``[xmin, xmax]`` (``upper`` for an untruncated fit) and
    the fitted ``P(X >= x)`` there."""
    top = fit.xmax if math.isfinite(fit.xmax) else (upper if upper is not None else 100.0 * fit.xmin)
    x = np.unique(np.rint(np.geomspace(fit.xmin, max(top, fit.xmin + 1), points)))
    return x, fit.ccdf(x)


def fit_ccdf_curve(fit: TPLFit, degrees: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """The fitted TPL drawn over the CCDF of all the positive ``degrees``, on ``[xmin, xmax]``.

    ``P(X >= x)`` of the positive degrees with the window's share following the TPL: the
    share above ``xmax`` plus the window's share times the fitted CCDF, so the line starts at
    the data's CCDF at ``xmin`` and follows the data where the TPL describes them.

    Examples
    --------
    >>> from analysis import fit_tpl
    >>> degrees = np.array([0, 1, 1, 2, 3, 5, 8, 40])
    >>> x, y = fit_ccdf_curve(fit_tpl(degrees, xmin=2, xmax=8), degrees)
    >>> float(x[0]), float(x[-1]), round(float(y[0]), 3), round(float(y[-1]), 3)
    (2.0, 8.0, 0.714, 0.197)
    """
    deg = np.asarray(degrees)
    pos = deg[deg > 0]
    mx, ms = model_ccdf_curve(fit, upper=float(pos.max()))
    above, share = float(np.mean(pos > fit.xmax)), fit.n_tail / pos.size
    return mx, above + share * ms


def label_ccdf_axes(ax: Any, degrees: ArrayLike, *, legend_size: float = 7) -> Any:
    """Ticks, labels and legend of a log-log degree CCDF panel showing ``degrees``.

    A degree axis of less than three decades gets a few plain tick labels; the axes are
    "degree" and "P(X ≥ x)"; the legend (font size ``legend_size``) sits at the lower left.
    Returns the Axes.

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> ax = Figure().add_subplot()
    >>> _ = ax.loglog([1, 2, 4], [1.0, 0.5, 0.25], "o", label="data")
    >>> label_ccdf_axes(ax, [1, 2, 4]).get_xlabel(), ax.get_legend().get_texts()[0].get_text()
    ('degree', 'data')
    """
    deg = np.asarray(degrees)
    positive = deg[deg > 0]
    if positive.size:
        _readable_log_ticks(ax.xaxis, float(positive.min()), float(positive.max()))
    ax.set_xlabel("degree", fontsize=8)
    ax.set_ylabel("P(X ≥ x)", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=legend_size, frameon=False, loc="lower left")
    return ax


def finish_figure(fig: Any, *, path: str | Path | None = None, title: str | None = None, dpi: int = 120) -> Any:
    """Give ``fig`` its title and write it to ``path`` (atomically, format by the suffix).

    The ending of every figure function of the project: ``title`` (when given) is the
    figure's title, and the file is written through :func:`nn2graph.result_files.save_figure`
    at ``dpi``, so that a figure is either whole or absent.  Returns the figure.

    Examples
    --------
    >>> import tempfile
    >>> from matplotlib.figure import Figure
    >>> path = Path(tempfile.mkdtemp()) / "f.png"
    >>> fig = finish_figure(Figure(figsize=(2, 2)), path=path, title="Figure 1", dpi=40)
    >>> fig.get_suptitle(), path.read_bytes()[:4]
    ('Figure 1', b'\x89PNG')
    """
    if title:
        fig.suptitle(title)
    if path is not None:
        save_figure(fig, path, dpi=dpi)
    return fig


def plot_ccdf_fit(fit: TPLFit, ax: Any = None, *, color: str = "C0", label: str | None = None) -> Any:
    """Log-log CCDF of the fit's tail (points) with the fitted law in red; returns the Axes."""
    if ax is None:
        from matplotlib.figure import Figure

        ax = Figure(figsize=(4.5, 3.5), layout="constrained").add_subplot()
    x, s = ccdf_points(fit.tail_values, fit.tail_counts)
    ax.loglog(x, s, "o", ms=3, color=color, alpha=0.7, label=label or "tail")
    mx, ms = model_ccdf_curve(fit, upper=float(x[-1]) if x.size else None)
    ax.loglog(mx, ms, "-", color="red", lw=1.5, label=_legend(fit, None))
    ax.set_xlabel("degree")
    ax.set_ylabel("P(X ≥ x)")
    ax.legend(fontsize=7, frameon=False)
    return ax


def _legend(fit: TPLFit, pvalue: Any, verdict: str | None = None) -> str:
    """Legend of a fit: alpha, window, tail size, then p (a number or a PValueResult) or the
    verdict of a PowerLawEvidence (its p and its summary); ``verdict``, a summary line kept
    from an earlier PowerLawEvidence, when there is no PowerLawEvidence."""
    xmax = "∞" if math.isinf(fit.xmax) else f"{int(fit.xmax)}"
    text = f"TPL α={fit.alpha:.2f}\n[{fit.xmin}, {xmax}], {fit.n_tail}/{fit.n} in tail"
    if pvalue is not None:
        evidence = pvalue if hasattr(pvalue, "verdict") else None
        p = evidence.pvalue.p_value if evidence is not None else getattr(pvalue, "p_value", pvalue)
        text += f"\np={float(p):.2f}"
        if evidence is not None:
            verdict = evidence.summary()
    if verdict:
        text += "\n" + verdict.replace("; ", "\n")
    return text


def _readable_log_ticks(axis: Any, low: float, high: float) -> None:
    """Give a log axis that spans less than three decades a few plain tick labels.

    On such axes matplotlib labels minor ticks as ``2x10^1``, ``3x10^1``... and the labels
    overlap; this labels a few round values instead (1, 2, 5 per decade, or evenly spaced
    values below one decade) and leaves the minor ticks unlabelled.
    """
    from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

    if low <= 0 or high / low >= 1000:
        return
    locator = MaxNLocator(nbins=4) if high / low < 10 else LogLocator(subs=(1.0, 2.0, 5.0))
    axis.set_major_locator(locator)
    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axis.set_minor_formatter(NullFormatter())


def draw_fit_panel(ax: Any, degrees: ArrayLike, fit: TPLFit | None, note: Any = None,
                   verdict: str | None = None) -> Any:
    """Draw one panel: the log-log CCDF of the positive degrees (blue points) and the fitted TPL
    in red over its shaded window; ``note`` (a p-value, PValueResult or PowerLawEvidence) goes
    in the legend.  Returns the Axes."""
    deg = np.asarray(degrees)
    x, s = ccdf_points(deg)
    if x.size == 0:
        ax.text(0.5, 0.5, "no positive degrees", transform=ax.transAxes, ha="center", va="center")
        return ax
    ax.loglog(x, s, "o", ms=3, color="C0", alpha=0.75, label="data")
    if fit is not None:
        ax.loglog(*fit_ccdf_curve(fit, deg), "-", color="red", lw=1.6, label=_legend(fit, note, verdict))
        ax.axvspan(fit.xmin, fit.xmax if math.isfinite(fit.xmax) else x[-1], color="red", alpha=0.05)
    return label_ccdf_axes(ax, deg)


def plot_layer_fits(
    degrees_by_layer: Mapping[str, ArrayLike],
    fits_by_layer: Mapping[str, Any],
    *,
    pvalues: Mapping[str, Any] | None = None,
    verdicts: Mapping[str, str] | None = None,
    path: str | Path | None = None,
    title: str | None = None,
) -> Any:
    """One log-log CCDF panel per layer with its TPL fit in red (the paper's Figures 3–6, 9).

    Parameters
    ----------
    degrees_by_layer : mapping of layer name to degrees
        Panels appear in this order; zeros are left out of the CCDF.
    fits_by_layer : mapping of layer name to TPLFit, PowerLawEvidence or None
        A :class:`analysis.PowerLawEvidence` draws its fit and puts its verdict
        (:meth:`~analysis.PowerLawEvidence.summary`) in the legend.  The red line spans ``[xmin, xmax]``: the share of degrees above ``xmax`` plus the
        window's share times the fitted CCDF, so it starts at the data's CCDF at ``xmin`` and
        follows the data where the TPL describes them.
    pvalues : mapping of layer name to float or PValueResult, optional
        Shown in the legend.
    verdicts : mapping of layer name to str, optional
        A verdict's one-line summary (:meth:`analysis.PowerLawEvidence.summary`) to show in the
        legend of a panel whose fit is a plain TPLFit, e.g. one read back from a table.
    path : str or Path, optional
        Where to write the figure (format from the suffix, e.g. ``.png``).
    title : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> from analysis import fit_tpl
    >>> x = np.random.default_rng(0).zipf(2.0, 300)
    >>> fig = plot_layer_fits({"fc1": x}, {"fc1": fit_tpl(x, xmin=1, xmax=int(x.max()))})
    >>> len(fig.axes)
    1
    """
    from matplotlib.figure import Figure

    names = list(degrees_by_layer)
    if not names:
        raise FitError("degrees_by_layer is empty: give at least one layer's degrees")
    missing = [n for n in fits_by_layer if n not in degrees_by_layer]
    if missing:
        raise FitError(f"fits_by_layer has layers {missing} that are not in degrees_by_layer {names}")
    ncols = min(4, len(names))
    nrows = math.ceil(len(names) / ncols)
    fig = Figure(figsize=(4.0 * ncols, 3.3 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, name in zip(axes, names):
        ax.set_title(name, fontsize=9)
        fit = fits_by_layer.get(name)
        note = None if pvalues is None else pvalues.get(name)
        if hasattr(fit, "verdict"):  # a PowerLawEvidence: its fit, its verdict in the legend
            fit, note = fit.fit, fit
        draw_fit_panel(ax, np.asarray(degrees_by_layer[name]), fit, note,
                       None if verdicts is None else verdicts.get(name))
    for ax in axes[len(names):]:
        ax.set_visible(False)
    return finish_figure(fig, path=path, title=title)
