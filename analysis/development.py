"""Internal preferential attachment in a developing brain.

Witvliet et al.'s eight C. elegans brains (datasets 1-8, from birth to adulthood) are taken
as snapshots of one growing network: neurons are matched by name and every transition
between consecutive stages is measured with :func:`analysis.attachment_general` (eq. 5 of the
paper in its general form, gains and losses separately).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from analysis.general_attachment import GeneralAttachmentResult, attachment_general
from analysis.connectomes import load_connectome
from analysis.plotting import finish_figure
from nn2graph.exceptions import NN2GraphError

__all__ = ["DevelopmentError", "DevelopmentResult", "StageTransition", "check_stages", "development_attachment",
           "WITVLIET_STAGES"]

#: Witvliet datasets and their developmental stage.
WITVLIET_STAGES: dict[int, str] = {1: "L1", 2: "L1", 3: "L1", 4: "L1", 5: "L2", 6: "L3", 7: "adult", 8: "adult"}


class DevelopmentError(NN2GraphError, ValueError):
    """Bad stages or options for :func:`development_attachment`."""


@dataclass(frozen=True)
class StageTransition:
    """Attachment between two developmental stages (datasets ``stage0`` -> ``stage1``)."""

    stage0: int
    stage1: int
    result: GeneralAttachmentResult

    @property
    def label(self) -> str:
        """``"1-2"``: the datasets of the transition (used in file names)."""
        return f"{self.stage0}-{self.stage1}"

    def summary(self) -> dict[str, Any]:
        """One flat row: counts, then the Omega fits of gains and losses (slopes, r^2, Spearman)."""
        r = self.result
        row: dict[str, Any] = {
            "transition": self.label, "stage0": self.stage0, "stage1": self.stage1,
            "n_common": len(r.names), "only_in_stage0": len(r.only_in_g0), "only_in_stage1": len(r.only_in_g1),
            "degree_sum0": int(r.degrees.sum()), "gained": r.n_gained, "lost": r.n_lost,
            "gained_with_new_neurons": r.gained_with_new, "lost_with_missing_neurons": r.lost_with_missing,
        }
        for kind, o in (("gains", r.omega_gains), ("losses", r.omega_losses)):
            row |= {f"{kind}_{k}": getattr(o, k) for k in
                    ("slope", "intercept", "r2", "origin_slope", "origin_r2", "predicted_slope", "pearson", "spearman")}
        return row


@dataclass(frozen=True)
class DevelopmentResult:
    """Attachment across Witvliet's stages (:func:`development_attachment`).

    Attributes
    ----------
    stages : tuple of int
        The datasets, in developmental order.
    synapses : str
        Connections analysed (``"chemical"`` or ``"electrical"``).
    weighted : bool
        True: connections are synapse counts (edge ``weight``); False: connected pairs.
    degree : str
        Pair degrees of Delta (``"total"`` or ``"out-in"``).
    transitions : tuple of StageTransition
        Consecutive stages, then (with ``overall``) first -> last.
    """

    stages: tuple[int, ...]
    synapses: str
    weighted: bool
    degree: str
    transitions: tuple[StageTransition, ...]

    @property
    def consecutive(self) -> tuple[StageTransition, ...]:
        """The transitions between consecutive stages (without first -> last)."""
        pairs = set(zip(self.stages, self.stages[1:]))
        return tuple(t for t in self.transitions if (t.stage0, t.stage1) in pairs)

    def summary_rows(self) -> list[dict[str, Any]]:
        """:meth:`StageTransition.summary` of every transition."""
        return [t.summary() for t in self.transitions]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary: options, and per transition its summary and full result."""
        return {"stages": list(self.stages), "synapses": self.synapses, "weighted": self.weighted,
                "degree": self.degree,
                "transitions": [t.summary() | {"result": t.result.to_dict()} for t in self.transitions]}

    def plot_summary(self, *, path: str | os.PathLike | None = None, title: str | None = None):
        """Omega slopes (fitted through the origin, and eq. 5's prediction), r^2 and Spearman of
        each transition between consecutive stages (first -> last is in the table only: its
        slope is on another scale).

        Returns
        -------
        matplotlib.figure.Figure
        """
        from matplotlib.figure import Figure

        rows = [t.summary() for t in self.consecutive]
        x = list(range(len(rows)))
        fig = Figure(figsize=(9.0, 3.8), layout="constrained")
        ax1, ax2 = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
        for kind, color in (("gains", "tab:green"), ("losses", "tab:red")):
            ax1.plot(x, [r[f"{kind}_origin_slope"] for r in rows], "o-", color=color, label=f"{kind}: fitted")
            ax1.plot(x, [r[f"{kind}_predicted_slope"] for r in rows], "s:", color=color, alpha=0.6,
                     label=f"{kind}: eq. 5 (2G/D)")
            ax2.plot(x, [r[f"{kind}_origin_r2"] for r in rows], "o-", color=color, label=f"{kind}: through origin")
            ax2.plot(x, [r[f"{kind}_spearman"] for r in rows], "^--", color=color, alpha=0.6,
                     label=f"{kind}: Spearman")
        for ax in (ax1, ax2):
            ax.set_xticks(x, [r["transition"] for r in rows])
            ax.set_xlabel("datasets (transition)")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7, loc="best", framealpha=0.6)
        ax1.set_ylabel("slope of \u03a9(d)")
        ax2.set_ylabel("r\u00b2 / Spearman of \u03a9(d)")
        lowest = min(0.0, *(r[f"{k}_origin_r2"] or 0.0 for r in rows for k in ("gains", "losses")))
        ax2.set_ylim(lowest - 0.05 * (1.02 - lowest), 1.05)
        return finish_figure(fig, path=path, title=title, dpi=110)


def check_stages(stages: Iterable[int]) -> tuple[int, ...]:
    """Return the Witvliet datasets as a tuple after checking them (1-8, increasing, two or more).

    Examples
    --------
    >>> check_stages(range(6, 9))
    (6, 7, 8)
    >>> check_stages([3, 2])
    Traceback (most recent call last):
    ...
    analysis.development.DevelopmentError: stages=(3, 2) must be in developmental order (strictly increasing)
    """
    values = tuple(stages)
    if len(values) < 2:
        raise DevelopmentError(f"stages={values!r}: give at least two of the Witvliet datasets 1-8")
    for s in values:
        if s not in WITVLIET_STAGES:
            raise DevelopmentError(f"stage {s!r} is not a Witvliet dataset: expected integers 1-8")
    if any(b <= a for a, b in zip(values, values[1:])):
        raise DevelopmentError(f"stages={values!r} must be in developmental order (strictly increasing)")
    return values


def development_attachment(
    stages: Iterable[int] = range(1, 9),
    *,
    synapses: Literal["chemical", "electrical"] = "chemical",
    weighted: bool = True,
    bins: str = "log",
    n_bins: int = 8,
    degree: Literal["total", "out-in"] = "total",
    overall: bool = True,
) -> DevelopmentResult:
    """Internal preferential attachment between consecutive Witvliet stages.

    Parameters
    ----------
    stages : iterable of int, default 1..8
        Witvliet datasets in developmental order (1-4 L1, 5 L2, 6 L3, 7-8 adult).
    synapses : {"chemical", "electrical"}, default "chemical"
        Connections of :func:`analysis.load_connectome` (neurons only).  ``"both"`` is refused:
        its gap junctions are pairs of opposite edges, which the pair sums of
        :func:`analysis.attachment_general` would count twice.
    weighted : bool, default True
        Count synapses (the ``weight`` of an edge, like a multiplicity); False counts connected
        pairs (one per edge).
    bins, n_bins : default "log", 8
        Degree bins of Delta and Omega (:func:`analysis.bin_degrees`).
    degree : {"total", "out-in"}, default "total"
        Pair degrees of Delta (:func:`analysis.attachment_general`).
    overall : bool, default True
        Add the transition first -> last stage (when more than two stages).

    Returns
    -------
    DevelopmentResult

    Raises
    ------
    DevelopmentError
        Fewer than two stages, an unknown stage, stages out of order, or ``synapses`` not
        ``"chemical"`` or ``"electrical"``.

    Examples
    --------
    >>> r = development_attachment([1, 2])
    >>> t = r.transitions[0]
    >>> t.label, t.result.only_in_g1, t.result.n_gained, t.result.n_lost
    ('1-2', ('AVL',), 789.0, 255.0)
    >>> round(t.result.omega_gains.origin_r2, 3)
    0.974
    """
    values = check_stages(stages)
    if synapses not in ("chemical", "electrical"):
        raise DevelopmentError(f"synapses={synapses!r}: expected 'chemical' or 'electrical' (analyse the two kinds "
                               "separately; in 'both' a gap junction is two opposite edges and would count twice)")
    graphs = {s: load_connectome(f"witvliet2020-{s}", synapses=synapses) for s in values}
    pairs = list(zip(values, values[1:]))
    if overall and len(values) > 2:
        pairs.append((values[0], values[-1]))
    transitions = tuple(
        StageTransition(a, b, attachment_general(graphs[a], graphs[b], bins=bins, n_bins=n_bins, match="name",
                                                 degree=degree, weight="weight" if weighted else None))
        for a, b in pairs
    )
    return DevelopmentResult(stages=values, synapses=synapses, weighted=weighted, degree=degree,
                             transitions=transitions)
