"""The paper's continual-learning experiment end to end: Table 1 and Figures 7-9 (§4.2).

:func:`reproduce_continual` trains the two tasks (:func:`experiments.continual.train_continual`),
builds the graph snapshots t = 0 (A's connections) and t = 1 (A's and B's), measures internal
preferential attachment between them (:func:`analysis.preferential_attachment`), fits the t = 1
degree distributions with the discrete TPL and its bootstrap p-value, and writes into the
output folder:

=======================  =======================================================================================
``table1.csv/md``        test accuracies (%) of the four networks, the paper's beside ours
``figure-7.png``         Delta_0(d1, d2) per adjacent layer pair (:func:`~analysis.attachment_plots.plot_delta`)
``figure-8.png``         Omega_0(d) per layer with its lines (:func:`~analysis.attachment_plots.plot_omega`)
``figure-9.png``         t = 1 CCDF per layer with its TPL fit and p-value (:func:`analysis.plot_layer_fits`)
``delta.csv``            every Delta cell; ``omega.csv`` every Omega bin; ``omega-summary.csv`` per layer
``degrees-t0.csv``       degrees at t = 0, the degree CSV of every command (``layer,unit,degree``)
``degrees-t1.csv``       degrees at t = 1, the same format
``new-connections.csv``  t = 0 and t = 1 degree and new connections of every node
``fits.csv``             the analysis (:func:`analysis.analyse_degrees`) of each layer at t = 1
``attachment.json``      the full attachment result; ``analyses/`` the finished bootstraps
``metrics.json``         everything above as numbers, the settings and the training histories
``report.md``            the paper's numbers and statements beside ours
=======================  =======================================================================================

Every stage is resumable: the training phases (see :mod:`experiments.continual`) and each
layer's bootstrap (``analyses/``, keyed by the degrees and options) are reused when the command
is rerun with the same folder and settings; ``metrics.json`` is rewritten after every stage.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from scipy import stats

from analysis.attachment_series import delta_trend
from experiments.continual import PHASES, ContinualResult, train_continual
from experiments.errors import ReproduceError
from experiments.tasks import load_continual_tasks
from experiments.training import get_profile, resolve_device
from experiments.training_summary import PhaseEpochs, phase_epochs, phases_table, training_summary
from nn2graph.degree_csv import read_degree_csv, write_degree_csv
from nn2graph.result_files import json_ready
from nn2graph.run_folder import RunFolder, content_key, open_run

if TYPE_CHECKING:
    from analysis import AttachmentResult, DegreeAnalysis

__all__ = ["PAPER_FIGURES", "PAPER_TABLE1", "ContinualReport", "ReproduceError", "delta_trend", "fmt", "node_growth",
           "reproduce_continual"]

#: The paper's Table 1 (test accuracy %), by P.
PAPER_TABLE1: dict[int, dict[str, float]] = {
    8: {"a_dense": 98.09, "a_sparse": 98.21, "b_dense": 98.17, "b_sparse": 98.09},
    26: {"a_dense": 98.09, "a_sparse": 98.21, "b_dense": 98.04, "b_sparse": 98.16},
}
#: What the paper says about its figures (§4.2.1-4.2.3).
PAPER_FIGURES: dict[str, str] = {
    "figure-7": "Delta_0(d1, d2) increases with d1 and d2 (P = 8 and 26): internal preferential "
                "attachment exists.",
    "figure-8-8": "P = 8: Omega_0(d) is roughly linear in d for all layers, as eq. 10 predicts.",
    "figure-8-26": "P = 26: no linear relationship for the input layer; fc1 linear but noisier than "
                   "for P = 8; fc2 still linear.",
    "figure-9": "The t = 1 degree distributions follow the TPL; the p-values of the first (input) "
                "layer are relatively low.",
}
_COLUMNS = {"a_dense": "task A dense", "a_sparse": "task A sparse", "b_dense": "task B dense",
            "b_sparse": "task B sparse"}




def node_growth(layer: str, degrees: np.ndarray, new: np.ndarray) -> dict:
    """Node-level view of Omega: Spearman's correlation of each node's t = 0 degree with the
    new connections it made (no binning), and the nodes of t = 0 degree 0 (eq. 10 gives them
    no new connections) with their mean number of new connections.

    Examples
    --------
    >>> g = node_growth("fc1", np.array([0, 1, 2, 3]), np.array([5, 2, 4, 6]))
    >>> round(g["spearman"], 3), g["zero_degree_nodes"], g["zero_degree_mean_new"]
    (0.4, 1, 5.0)
    """
    degrees, new = np.asarray(degrees), np.asarray(new)
    zero = degrees == 0
    varied = len(degrees) > 1 and np.ptp(degrees) > 0 and np.ptp(new) > 0
    return {"layer": layer, "n_nodes": int(len(degrees)),
            "spearman": float(stats.spearmanr(degrees, new).statistic) if varied else None,
            "zero_degree_nodes": int(zero.sum()),
            "zero_degree_mean_new": float(new[zero].mean()) if zero.any() else None,
            "mean_new": float(new.mean()) if len(new) else None}


@dataclass(frozen=True, eq=False)
class ContinualReport:
    """What :func:`reproduce_continual` computed (all of it is also in ``out``).

    Attributes
    ----------
    out : Path
        The output folder.
    size : int
        P.
    continual : ContinualResult
        Models, task connections and the four phases.
    attachment_options : dict
        The degree bins of Delta and Omega (``bins``, ``n_bins``, ``omega_bins``).
    attachment_summary : dict
        The numbers of Delta and Omega (``metrics.json``'s ``attachment``: ``omega`` holds each
        layer's lines, ``delta_trend`` each layer pair's trend, ``nodes`` the node-level view).
    degrees_t1 : dict of str to numpy.ndarray
        t = 1 degree of every node per analysed layer.
    analyses : dict of str to analysis.DegreeAnalysis
        The analysis of each layer's degrees at t = 1 (fit, p-value, alternatives).
    """

    out: Path
    size: int
    continual: ContinualResult
    attachment_options: dict
    attachment_summary: dict
    degrees_t1: dict[str, np.ndarray]
    analyses: dict[str, DegreeAnalysis]

    @cached_property
    def attachment(self) -> AttachmentResult:
        """Delta and Omega between t = 0 and t = 1 (:func:`analysis.preferential_attachment`),
        computed from the snapshots when first asked for (its numbers are in ``metrics.json``
        and ``attachment.json``, which a rerun of a finished folder reuses)."""
        return _snapshot_attachment(self.continual, self.attachment_options)[0]

    @property
    def fits(self) -> dict:
        """TPL fit of each layer at t = 1 (None where a layer was not fitted)."""
        return {layer: a.fit for layer, a in self.analyses.items()}

    def table1(self) -> dict[str, float]:
        """Our Table 1 row (test accuracy %)."""
        return self.continual.table1()


def fmt(value: float | None, spec: str = ".3g") -> str:
    """Format a number for the report; ``None`` and NaN become ``"n/a"``.

    Examples
    --------
    >>> fmt(0.123456), fmt(None), fmt(float("nan")), fmt(2.0, ".2f")
    ('0.123', 'n/a', 'n/a', '2.00')
    """
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def reproduce_continual(out: str | Path, *, size: int, data_dir: str | Path | None = None,
                        profile: str = "quick", epochs: int | None = None, retrain_epochs: int | None = None,
                        limit_train: int | None = None, n_boot: int = 2500, seed: int = 0,
                        bins: str = "log", n_bins: int = 10, omega_bins: str | None = None,
                        n_jobs: int | None = None, device: str = "auto", restart: bool = False,
                        progress: bool = True) -> ContinualReport:
    """Run the paper's continual-learning experiment for one P and write its artefacts.

    Parameters
    ----------
    out : str or Path
        Output folder (created); rerunning with the same folder reuses finished stages.
    size : int
        P, the side of task B's permuted central square (8 or 26 in the paper).
    data_dir : str or Path, optional
        MNIST IDX folder (:func:`experiments.data.load_mnist`; without it the 5,000 bundled images).
    profile : {"quick", "paper"}
        Training profile (:func:`experiments.training.get_profile`); ``epochs`` and
        ``retrain_epochs`` override its epoch counts.
    limit_train : int, optional
        Train on the first N training examples only.
    n_boot : int
        Bootstrap sets per layer for the TPL p-values (2500 give p to about +-0.01).
    seed : int
        Seeds the weights, the data order, task B's permutation and the bootstraps.
    bins, n_bins, omega_bins
        Degree bins of Delta and Omega (:func:`analysis.preferential_attachment`).
    n_jobs : int or None
        Worker processes of each bootstrap (None: every core).
    restart : bool
        Delete the files of the run in ``out`` first.  ``out`` is locked while the run lives,
        and a folder holding a run with other settings (``run.json``) is refused, naming them.
    device, progress
        As for :func:`experiments.training.train`.

    Returns
    -------
    ContinualReport
    """
    if n_boot < 1:
        raise ReproduceError(f"n_boot must be a positive number of bootstrap sets, not {n_boot}")
    began = time.perf_counter()
    resolve_device(device)
    task_a, task_b = load_continual_tasks(data_dir, size, seed=seed, limit_train=limit_train)
    train_profile = get_profile(profile, "mnist").with_epochs(epochs, retrain_epochs)
    identity = {"experiment": "continual", "P": size, "seed": seed, "profile": asdict(train_profile),
                "limit_train": limit_train, "n_boot": n_boot, "bins": bins, "n_bins": n_bins,
                "omega_bins": omega_bins,
                "data": content_key([t.tensors for s in (task_a, task_b) for t in (s.train, s.val, s.test)])}
    with open_run(out, identity, restart=restart) as run:
        return _continual_run(run, size=size, task_a=task_a, task_b=task_b, train_profile=train_profile,
                              n_boot=n_boot, seed=seed, bins=bins, n_bins=n_bins, omega_bins=omega_bins,
                              n_jobs=n_jobs, device=device, progress=progress, began=began)


def _continual_run(run: RunFolder, *, size: int, task_a, task_b, train_profile, n_boot: int, seed: int, bins: str,
                   n_bins: int, omega_bins: str | None, n_jobs: int | None, device: str, progress: bool,
                   began: float) -> ContinualReport:
    from analysis import analyse_degrees, plot_analyses

    out = run.path
    metrics: dict = {"experiment": "continual learning (paper §4.2)", "P": size, "seed": seed,
                     "profile": train_profile.name, "hyperparameters": asdict(train_profile),
                     "data": {"source": task_a.source, "note": task_b.note, **task_a.sizes()}}

    # stage 1: the four networks (Table 1)
    result = train_continual(task_a, task_b, train_profile, out=run, seed=seed, device=device,
                             progress=progress)
    table = result.table1()
    paper = PAPER_TABLE1.get(size)
    rows = [{"P": size, "source": "ours", **{k: round(v, 2) for k, v in table.items()}}]
    if paper is not None:
        rows.insert(0, {"P": size, "source": "paper", **paper})
    run.write_csv("table1.csv", rows)
    header = "| P | source | " + " | ".join(_COLUMNS.values()) + " |"
    md = [header, "|" + "---|" * (len(_COLUMNS) + 2)]
    md += ["| " + " | ".join(str(r[k]) if k in ("P", "source") else f"{r[k]:.2f}" for k in r) + " |" for r in rows]
    run.write_text("table1.md", "\n".join(md) + "\n")
    metrics["continual"] = result.to_dict()
    metrics["training"] = training_summary(train_profile, [
        phase_epochs(result.phases[name].training, train_profile, retrain=name.endswith("sparse"), phase=name)
        for name in PHASES])
    run.write_json("metrics.json", metrics)

    # stage 2: snapshots and internal preferential attachment (Figures 7, 8), a stage of the run
    # folder keyed by the snapshots' weights: a rerun of a finished folder computes nothing again
    options = {"bins": bins, "n_bins": n_bins, "omega_bins": omega_bins}
    snapshots = [result.snapshot(t).state_dict() for t in (0, 1)]
    metrics["attachment"] = run.stage("attachment", {"snapshots": snapshots, "P": size, **options},
                                      lambda: _attachment_stage(run, result, size, options))
    trends = metrics["attachment"]["delta_trend"]
    degrees_t1 = read_degree_csv(run.path / "degrees-t1.csv")
    run.write_json("metrics.json", metrics)

    # stage 3: the analysis of every layer's degrees at t = 1 (Figure 9); finished bootstraps in analyses/
    analyses = {layer: analyse_degrees(degrees, n_boot=n_boot, seed=seed, n_jobs=n_jobs, cache=run.folder("analyses"),
                                       progress=progress)
                for layer, degrees in degrees_t1.items()}
    fits = [{"layer": layer, **a.to_dict()} for layer, a in analyses.items()]

    def figure_9() -> None:
        plot_analyses(analyses, path=run.file("figure-9.png"),
                      title=f"Figure 9: degree CCDFs and TPL fits at t = 1 (P = {size}, {n_boot} bootstrap sets)")
        run.write_csv("fits.csv", [{"layer": layer, **a.row()} for layer, a in analyses.items()])

    run.stage("figure-9", {"fits": json_ready(fits), "P": size, "n_boot": n_boot}, figure_9)
    metrics["fits_t1"] = fits
    metrics["seconds_total_this_run"] = time.perf_counter() - began
    run.write_json("metrics.json", metrics)

    report = ContinualReport(out, size, result, options, metrics["attachment"], degrees_t1, analyses)
    run.write_text("report.md", _report_markdown(report, metrics, trends, n_boot))
    return report


def _snapshot_attachment(result: ContinualResult, options: dict):
    """Delta and Omega between the graphs of the snapshots t = 0 and t = 1, and the t = 1 graph."""
    import nn2graph
    from analysis import preferential_attachment

    g0 = nn2graph.to_graph(result.snapshot(0), (784,))
    g1 = nn2graph.to_graph(result.snapshot(1), (784,))
    return preferential_attachment(g0.graph, g1.graph, **options), g1


def _attachment_stage(run: RunFolder, result: ContinualResult, size: int, options: dict) -> dict:
    """Graphs of the snapshots, Delta and Omega between them, their files and figures 7-8;
    returns the attachment numbers of ``metrics.json``."""
    from analysis.attachment_plots import plot_delta, plot_omega

    attachment, g1 = _snapshot_attachment(result, options)
    attachment.to_json(run.file("attachment.json"))
    run.write_csv("delta.csv", attachment.delta_rows())
    run.write_csv("omega.csv", attachment.omega_rows())
    run.write_csv("omega-summary.csv", attachment.omega_summary())
    plot_delta(attachment, path=run.file("figure-7.png"),
               title=f"Figure 7: new connections per node pair vs t = 0 degrees (P = {size})")
    plot_omega(attachment, path=run.file("figure-8.png"),
               title=f"Figure 8: new connections per node vs t = 0 degree (P = {size})")
    degrees_t1 = g1.degrees()
    write_degree_csv(run.file("degrees-t0.csv"), {layer: attachment.degrees[layer] for layer in attachment.layers})
    write_degree_csv(run.file("degrees-t1.csv"), {layer: degrees_t1[layer] for layer in attachment.layers})
    node_rows = [{"layer": layer, "unit": unit, "degree_t0": int(attachment.degrees[layer][unit]),
                  "degree_t1": int(degrees_t1[layer][unit]),
                  "new_connections": int(attachment.new_connections[layer][unit])}
                 for layer in attachment.layers for unit in range(len(degrees_t1[layer]))]
    run.write_csv("new-connections.csv", node_rows)
    return {"bins": options["bins"], "n_bins": options["n_bins"], "omega_bins": options["omega_bins"] or options["bins"],
            "n_new": attachment.n_new, "omega": attachment.omega_summary(),
            "delta_trend": [delta_trend(t) for t in attachment.deltas],
            "nodes": [node_growth(layer, attachment.degrees[layer], attachment.new_connections[layer])
                      for layer in attachment.layers]}


def _report_markdown(report: ContinualReport, metrics: dict, trends: list[dict], n_boot: int) -> str:
    size, result = report.size, report.continual
    lines = [f"# Continual learning, P = {size} (paper §4.2, Table 1, Figures 7-9)", "",
             f"Data: {metrics['data']['note']} Split sizes train/val/test: {metrics['data']['train']}/"
             f"{metrics['data']['val']}/{metrics['data']['test']}.",
             "", "## Training", "",
             f"Trained with the {metrics['training']['description']}; seed {metrics['seed']} (docs/experiments.md). "
             "Dense phases train on a task; sparse phases retrain what pruning left:", "",
             phases_table([PhaseEpochs(**p) for p in metrics["training"]["phases"].values()]), "",
             "## Table 1: test accuracy (%)", "", (report.out / "table1.md").read_text(),
             f"Task A's accuracy with A's connections after task B was learned: {100 * result.a_test_after_b:.2f} "
             "(A's weights are frozen, so it equals 'task A sparse').", "",
             "| layer | weights | task A connections | task B connections |", "|---|---|---|---|"]
    for layer, c in metrics["continual"]["connections"].items():
        lines.append(f"| {layer} | {c['weights']} | {c['a']} ({100 * c['a'] / c['weights']:.1f} %) | "
                     f"{c['b']} ({100 * c['b'] / c['weights']:.1f} %) |")
    lines += ["", "## Figure 7: Delta_0(d1, d2)", "", f"Paper: {PAPER_FIGURES['figure-7']}", "",
              "Ours (cells of the binned table; elasticity = slope of log Delta vs log d1 d2, 1 under eq. 6, "
              "0 for uniformly random new connections):", "",
              "| layer pair | cells | Spearman(Delta, d1) | Spearman(Delta, d2) | Spearman(Delta, d1 d2) | elasticity |",
              "|---|---|---|---|---|---|"]
    for t in trends:
        lines.append(f"| {t['lower']} -> {t['upper']} | {t['cells']} | {fmt(t['spearman_d1'])} | "
                     f"{fmt(t['spearman_d2'])} | {fmt(t['spearman_d1d2'])} | {fmt(t['elasticity'])} |")
    paper8 = PAPER_FIGURES["figure-8-8"] if size == 8 else PAPER_FIGURES["figure-8-26"] if size == 26 else \
        PAPER_FIGURES["figure-8-8"] + " " + PAPER_FIGURES["figure-8-26"]
    lines += ["", "## Figure 8: Omega_0(d)", "", f"Paper: {paper8}", "",
              "Ours (lines fitted to the binned points with equal weight; eq. 10 predicts a line through "
              "the origin with the slope (G^{l-1} + G^l) / D^l computed from the snapshots):", "",
              "| layer | nodes | slope | intercept | r^2 | origin slope | origin r^2 | eq. 10 slope | "
              "origin / eq. 10 | Pearson | Spearman | Spearman (nodes) | degree-0 nodes: count, mean new |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for o, nodes in zip(metrics["attachment"]["omega"], metrics["attachment"]["nodes"]):
        ratio = (o["origin_slope"] / o["predicted_slope"]
                 if o["origin_slope"] is not None and o["predicted_slope"] else None)
        lines.append(f"| {o['layer']} | {o['n_nodes']} | {fmt(o['slope'])} | {fmt(o['intercept'])} | "
                     f"{fmt(o['r2'], '.3f')} | {fmt(o['origin_slope'])} | {fmt(o['origin_r2'], '.3f')} | "
                     f"{fmt(o['predicted_slope'])} | {fmt(ratio, '.2f')} | {fmt(o['pearson'], '.3f')} | "
                     f"{fmt(o['spearman'], '.3f')} | {fmt(nodes['spearman'], '.3f')} | "
                     f"{nodes['zero_degree_nodes']}, {fmt(nodes['zero_degree_mean_new'], '.1f')} |")
    lines += ["", "Eq. 10's slope is (G^{l-1} + G^l) / D^l. With the same s1 and s2 in every layer, B adds "
              "(1 - s2) s1 / (1 - s1) times A's connections to every layer pair, so the predicted slope is that "
              "ratio in every layer (1.8 for s1 = 0.9, s2 = 0.8): the prediction pins the mean, and the test "
              "is whether Omega is proportional to d (r^2 of the lines, the correlations).", "",
              "## Figure 9: degree distributions at t = 1", "", f"Paper: {PAPER_FIGURES['figure-9']}", "",
              f"Ours (discrete TPL, window of minimum KS distance, docs/method.md; p-values from {n_boot} "
              "bootstrap sets; the analysis of every command, analysis.analyse_degrees):", "",
              "| layer | n | alpha | xmin | xmax | n_tail (share) | KS D | p | verdict (widest window) |",
              "|---|---|---|---|---|---|---|---|---|"]
    for layer, a in report.analyses.items():
        fit = a.fit
        if fit is None:
            lines.append(f"| {layer} | {a.n} | | | | | | | not fitted: {a.not_fitted} |")
            continue
        lines.append(f"| {layer} | {fit.n} | {fit.alpha:.3f} | {fit.xmin} | {fmt(fit.xmax)} | {fit.n_tail} "
                     f"({100 * fit.n_tail / fit.n:.0f} %) | {fit.ks_distance:.4f} | "
                     f"{fmt(a.p_value, '.3f')} ± {fmt(a.pvalue.std_error, '.3f')} | {a.summary()} |")
    lines += ["", "Files: table1.csv/md, figure-7.png, figure-8.png, figure-9.png, delta.csv, omega.csv, "
              "omega-summary.csv, degrees-t0.csv, degrees-t1.csv, new-connections.csv, fits.csv, attachment.json, "
              "metrics.json, analyses/ (the finished bootstraps); "
              f"phase files {', '.join(f'{p}.pt' for p in PHASES)}.", ""]
    return "\n".join(lines)
