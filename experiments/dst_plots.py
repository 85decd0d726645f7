"""Figures of dynamic sparse training in the paper's style: attachment strength over the
rewiring steps, degree CCDFs at chosen steps, accuracy over the steps.

Each function takes plain rows or arrays (as :func:`experiments.dst_report.reproduce_dst` writes
them), returns a matplotlib Figure and writes a PNG when given a path; matplotlib is imported
inside the functions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from analysis.plotting import ccdf_points, finish_figure, fit_ccdf_curve, label_ccdf_axes

__all__ = ["plot_accuracy", "plot_attachment_strength", "plot_step_ccdfs"]


def _values(rows, key):
    return np.array([np.nan if r[key] is None else float(r[key]) for r in rows], dtype=np.float64)


def _label_steps(ax, ylabel: str) -> None:
    """Axis labels and legend of a panel over the training steps."""
    ax.set_xlabel("training step", fontsize=8)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.legend(fontsize=7, frameon=False)


def plot_attachment_strength(delta_runs: Mapping[str, list[dict]], omega_runs: Mapping[str, list[dict]] | None = None,
                             *, path=None, title: str | None = None):
    """Attachment strength over the rewiring steps, one line per run (e.g. SET and RigL).

    Top row: Delta's elasticity in d1 d2 per layer pair, gains (solid) and losses (dashed);
    1 is internal preferential attachment (and degree-blind losses), 0 uniformly random gains.
    Bottom row (with ``omega_runs``): r^2 of Omega's least-squares line (solid) and of its line
    through the origin (dashed) per layer, gains; values below -1 are drawn at -1.

    Parameters
    ----------
    delta_runs : mapping of run label to delta rows
        Rows of :func:`analysis.attachment_series.transition_rows` (or ``attachment-delta.csv``).
    omega_runs : mapping of run label to omega rows, optional
    path : str or path-like, optional
        Write the figure there (PNG).
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> rows = [{"step": s, "kind": k, "lower": "input", "elasticity": e}
    ...         for s, e in ((1, 0.9), (2, 1.1)) for k in ("gains", "losses")]
    >>> len(plot_attachment_strength({"RigL": rows}).axes)
    1
    """
    from matplotlib.figure import Figure

    pairs = list(dict.fromkeys(r["lower"] for rows in delta_runs.values() for r in rows))
    layers = list(dict.fromkeys(r["layer"] for rows in (omega_runs or {}).values() for r in rows))
    ncols = max(len(pairs), len(layers), 1)
    nrows = 2 if layers else 1
    fig = Figure(figsize=(4.2 * ncols, 3.2 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for j, lower in enumerate(pairs):
        ax = axes[0, j]
        for c, (label, rows) in enumerate(delta_runs.items()):
            for kind, style in (("gains", "-"), ("losses", "--")):
                sel = [r for r in rows if r["kind"] == kind and r["lower"] == lower]
                if sel:
                    # dashed lines without markers, so that the legend and dense series keep them apart
                    ax.plot(_values(sel, "step"), _values(sel, "elasticity"), style, color=f"C{c}",
                            marker="." if kind == "gains" else None, label=f"{label} {kind}")
        ax.axhline(1.0, color="0.5", lw=0.8, ls=":")
        ax.axhline(0.0, color="0.5", lw=0.8, ls=":")
        upper = next((r.get("upper") for rows in delta_runs.values() for r in rows if r["lower"] == lower), "")
        ax.set_title(f"{lower} \u2192 {upper}", fontsize=9)
        _label_steps(ax, "elasticity of \u0394 in d1\u00b7d2")
    for j, layer in enumerate(layers):
        ax = axes[1, j]
        for c, (label, rows) in enumerate((omega_runs or {}).items()):
            sel = [r for r in rows if r["kind"] == "gains" and r["layer"] == layer]
            steps = _values(sel, "step")
            ax.plot(steps, np.maximum(_values(sel, "r2"), -1.0), "-", color=f"C{c}", marker=".",
                    label=f"{label} least squares")
            ax.plot(steps, np.maximum(_values(sel, "origin_r2"), -1.0), "--", color=f"C{c}",
                    label=f"{label} through 0")
        ax.set_ylim(-1.05, 1.05)
        ax.set_title(f"\u03a9 of {layer} (gains)", fontsize=9)
        _label_steps(ax, "r\u00b2 of the line (below -1 drawn at -1)")
    for ax in axes.ravel():
        if not ax.has_data():
            ax.set_visible(False)
    return finish_figure(fig, path=path, title=title)


def plot_step_ccdfs(degrees_at: Mapping[int, Mapping[str, np.ndarray]], fits: Mapping[tuple, dict] | None = None,
                    *, path=None, title: str | None = None):
    """Log-log degree CCDFs of each layer at several steps (one colour per step), with the TPL fits.

    Parameters
    ----------
    degrees_at : mapping of step to (mapping of layer to degrees)
    fits : mapping of (step, layer) to (TPLFit or None, verdict or None), optional
        The fitted TPL is drawn in the step's colour, dashed, over ``[xmin, xmax]``.
    path, title
        As for :func:`plot_attachment_strength`.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> fig = plot_step_ccdfs({0: {"fc1": rng.poisson(5, 100)}, 9: {"fc1": rng.zipf(2.5, 100)}})
    >>> len(fig.axes)
    1
    """
    from matplotlib.figure import Figure

    layers = list(dict.fromkeys(layer for per in degrees_at.values() for layer in per))
    fig = Figure(figsize=(4.0 * len(layers), 3.3), layout="constrained")
    axes = fig.subplots(1, len(layers), squeeze=False).ravel()
    for ax, layer in zip(axes, layers):
        for c, (step, per) in enumerate(degrees_at.items()):
            x, s = ccdf_points(per[layer])
            if not x.size:
                continue
            ax.loglog(x, s, "o", ms=3, color=f"C{c}", alpha=0.7, label=f"step {step}")
            fit, verdict = (fits or {}).get((step, layer), (None, None))
            if fit is not None:
                ax.loglog(*fit_ccdf_curve(fit, per[layer]), "--", color=f"C{c}", lw=1.2,
                          label=f"TPL \u03b1={fit.alpha:.2f}" + (f", {verdict}" if verdict else ""))
        ax.set_title(layer, fontsize=9)
        label_ccdf_axes(ax, np.concatenate([np.asarray(per[layer]) for per in degrees_at.values()]), legend_size=6)
    return finish_figure(fig, path=path, title=title)


def plot_accuracy(histories: Mapping[str, Sequence[dict]], *, path=None, title: str | None = None):
    """Test (solid) and validation (dotted) accuracy after every rewiring step, one colour per run.

    Examples
    --------
    >>> h = [{"step": 0, "test_accuracy": 0.1, "val_accuracy": 0.1}, {"step": 5, "test_accuracy": 0.8, "val_accuracy": 0.7}]
    >>> len(plot_accuracy({"SET": h}).axes)
    1
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.0, 3.4), layout="constrained")
    ax = fig.add_subplot()
    for c, (label, rows) in enumerate(histories.items()):
        steps = [r["step"] for r in rows]
        ax.plot(steps, [100 * r["test_accuracy"] for r in rows], "-", color=f"C{c}", marker=".", label=f"{label} test")
        ax.plot(steps, [100 * r["val_accuracy"] for r in rows], ":", color=f"C{c}", label=f"{label} validation")
    _label_steps(ax, "accuracy (%)")
    return finish_figure(fig, path=path, title=title)
