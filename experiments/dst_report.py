"""Dynamic sparse training as a growth process, end to end: train, measure, fit, report.

:func:`reproduce_dst` trains the MLP (or the MNIST CNN) with SET or RigL
(:func:`experiments.dst.train_dst`), turns the topology of every rewiring step into a layered
graph, measures each transition t -> t + 1 with :func:`analysis.attachment_series.transition_rows`
(gains and losses separately), fits the degree distributions of chosen steps (start, middle,
end) with the discrete TPL and its verdict, and writes into the run folder:

=========================  ===============================================================
``history.json``           per rewiring step: connections per layer, added, removed, accuracies
``connections.csv``        the same, one row per step and layer
``attachment-delta.csv``   per transition, kind (gains/losses) and layer pair: Delta's
                           elasticity in d1 d2, Spearman correlations, pa constant
``attachment-omega.csv``   per transition, kind and layer: Omega's least-squares line, line
                           through the origin, their r^2, eq. 10's slope
``degrees-step-N.csv``     degree of every node at each fitted step (the degree CSV, ``layer,unit,degree``)
``fits.csv``               power-law verdict (:func:`analysis.assess_power_law`) per fitted step and layer
``attachment.png``         attachment strength over the steps (elasticity, Omega fits)
``degree-ccdf.png``        degree CCDFs at the start, middle and end with the TPL fits
``accuracy.png``           test (and validation) accuracy over the steps
``model.pt``               the final weights (a state dict, ``weights_only``-loadable)
``metrics.json``           settings, final accuracy, densities, fits; ``report.md``
=========================  ===============================================================

Every stage resumes: training from its checkpoint, the transitions and fits from
``analysis-cache.json`` (keyed by their settings).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from experiments.dst import (
    data_digest,
    DSTError,
    DSTResult,
    default_config,
    load_topology,
    snapshot_model,
    train_dst,
)
from experiments.dst_plots import plot_accuracy, plot_attachment_strength, plot_step_ccdfs
from experiments.models import model_spec
from experiments.training import resolve_device
from nn2graph.degree_csv import write_degree_csv
from nn2graph.result_files import json_ready
from nn2graph.run_folder import open_run

__all__ = ["EVIDENCE_COLUMNS", "DSTReport", "choose_fit_steps", "evidence_row", "reproduce_dst"]

_METHOD_LABEL = {"set": "SET", "rigl": "RigL"}
_CACHE_FORMAT = "dst analysis cache, version 1"
#: What a finished run holds that ``compare`` reads.
_RUN_FILES = ("metrics.json", "history.json", "attachment-delta.csv", "attachment-omega.csv")


@dataclass(frozen=True, eq=False)
class DSTReport:
    """What :func:`reproduce_dst` computed (all of it is also in ``out``).

    Attributes
    ----------
    out : Path
    training : DSTResult
    delta_rows, omega_rows : list of dict
        The transition rows (``attachment-delta.csv``, ``attachment-omega.csv``).
    fits : list of dict
        One row per fitted step and layer (``fits.csv``): the power-law verdict and its numbers.
    """

    out: Path
    training: DSTResult
    delta_rows: list[dict]
    omega_rows: list[dict]
    fits: list[dict]


def choose_fit_steps(steps: Sequence[int]) -> list[int]:
    """The first, middle and last of the saved steps (fewer when they coincide).

    Examples
    --------
    >>> choose_fit_steps([0, 10, 20, 30, 40]), choose_fit_steps([0])
    ([0, 20, 40], [0])
    """
    steps = list(steps)
    if not steps:
        raise DSTError("no saved topology: the run folder has no rewiring steps")
    picked = [steps[0], steps[len(steps) // 2], steps[-1]]
    return sorted(set(picked))


#: The columns of ``fits.csv`` taken from the verdict (:func:`evidence_row`).
EVIDENCE_COLUMNS = ("verdict", "summary", "alpha", "alpha_std_error", "xmin", "xmax", "n_tail", "tail_share",
                    "decades", "decades_lower", "pvalue", "pvalue_std_error", "reasons")


def evidence_row(degrees: np.ndarray, *, n_boot: int, seed: int, n_jobs: int | None = 1) -> tuple[dict, dict]:
    """The power-law verdict of one layer's degrees (:func:`analysis.assess_power_law`, method
    "widest") as a flat row of :data:`EVIDENCE_COLUMNS`, and the full verdict as a dict.

    Degrees that cannot be fitted give the verdict "not fitted", the error as ``summary``
    and empty numbers.

    Examples
    --------
    >>> row, full = evidence_row(np.random.default_rng(0).zipf(2.2, 400), n_boot=20, seed=0)
    >>> row["verdict"] in ("supported", "inconclusive", "rejected"), full["method"]
    (True, 'widest')
    >>> evidence_row(np.array([3, 3, 3]), n_boot=20, seed=0)[0]["verdict"]
    'not fitted'
    """
    from analysis import FitError, assess_power_law

    try:
        evidence = assess_power_law(degrees, method="widest", n_boot=n_boot, seed=seed, n_jobs=n_jobs)
    except FitError as error:
        return dict.fromkeys(EVIDENCE_COLUMNS) | {"verdict": "not fitted", "summary": str(error)}, {}
    full = evidence.to_dict()
    row = {"verdict": evidence.verdict, "summary": evidence.summary(), "alpha": evidence.fit.alpha,
           "alpha_std_error": evidence.alpha_std_error, "xmin": evidence.fit.xmin, "xmax": evidence.fit.xmax,
           "n_tail": evidence.fit.n_tail, "tail_share": evidence.tail_share, "decades": evidence.decades,
           "decades_lower": evidence.decades_lower, "pvalue": evidence.pvalue.p_value,
           "pvalue_std_error": evidence.pvalue.std_error, "reasons": " ".join(evidence.reasons)}
    return row, full


def _graph(model_name: str, masks: Mapping[str, np.ndarray]):
    import nn2graph

    return nn2graph.to_graph(snapshot_model(model_name, masks), model_spec(model_name).input_shape)


def reproduce_dst(
    out: str | os.PathLike,
    *,
    method: str,
    model: str = "mlp",
    data_dir: str | os.PathLike | None = None,
    limit_train: int | None = None,
    settings: Mapping[str, object] | None = None,
    bins: str = "log",
    n_bins: int = 10,
    n_boot: int = 2500,
    fit_steps: Sequence[int] | None = None,
    compare: str | os.PathLike | None = None,
    n_jobs: int | None = 1,
    device: str = "cpu",
    progress: bool = True,
    restart: bool = False,
) -> DSTReport:
    """Train with SET or RigL and analyse every rewiring step as a growth process.

    Parameters
    ----------
    out : str or path-like
        Run folder (created and locked, :func:`nn2graph.run_folder.open_run`); rerun with the
        same folder and settings to resume.
    method : {"set", "rigl"}
    model : {"mlp", "cnn-mnist"}
    data_dir : str or path-like, optional
        MNIST IDX folder (:func:`experiments.data.load_mnist`; without it the 5,000 bundled images).
    limit_train : int, optional
        Train on the first N training images only.
    settings : mapping, optional
        Overrides of :func:`experiments.dst.default_config` (``epochs``, ``max_steps``,
        ``delta_t``, ``density``, ``seed``, ...).
    bins, n_bins
        Degree bins of Delta and Omega (:func:`analysis.preferential_attachment`).
    n_boot : int
        Bootstrap sets per fitted layer and step.
    fit_steps : sequence of int, optional
        Steps whose degree distributions are fitted; default :func:`choose_fit_steps`.
    compare : str or path-like, optional
        The folder of a run of the other method: its attachment strength is drawn beside this one's.
    n_jobs : int or None
        Worker processes of each bootstrap.
    device : str
        Training device ("cpu", "cuda", "auto").
    progress : bool
        Plain progress lines.
    restart : bool
        Delete the files of the run the folder holds and start over.

    Returns
    -------
    DSTReport
    """
    from experiments.data import load_mnist

    if n_boot < 1:
        raise DSTError(f"n_boot must be a positive number of bootstrap sets, not {n_boot}")
    if compare is not None:
        missing = [name for name in _RUN_FILES if not (Path(compare) / name).is_file()]
        if missing:
            raise DSTError(f"--compare {compare}: {', '.join(missing)} missing; give the folder of a finished "
                           f"'nn2graph reproduce dst' run")
    began = time.perf_counter()
    settings = dict(settings or {})
    config = default_config(method, model=model, **settings)
    splits = load_mnist(data_dir, seed=config.seed)
    if limit_train is not None:
        splits = splits.limit_train(limit_train)
    identity = {"target": "dst", "config": config.to_dict(), "train_data": data_digest(splits),
                "device": resolve_device(device).type}
    with open_run(out, identity, restart=restart) as run:
        return _reproduce(run, config, splits, bins=bins, n_bins=n_bins, n_boot=n_boot, fit_steps=fit_steps,
                          compare=compare, n_jobs=n_jobs, device=device, progress=progress, began=began)


def _reproduce(run, config, splits, *, bins, n_bins, n_boot, fit_steps, compare, n_jobs, device, progress,
               began) -> DSTReport:
    from analysis import fit_tpl
    from analysis.attachment_series import transition_rows

    out, method, model = run.path, config.method, config.model

    # stage 1: training, the topology of every rewiring step
    training = train_dst(splits, config, out=run, device=device, progress=progress)
    run.save_torch("model.pt", {k: v.detach().cpu() for k, v in training.model.state_dict().items()})
    layers = list(training.masks)
    run.write_csv("connections.csv", [
        {"step": row["step"], "epoch": row["epoch"], "layer": layer, "active": row[f"{layer}_active"],
         "added": row[f"{layer}_added"], "removed": row[f"{layer}_removed"], "drop_fraction": row["drop_fraction"]}
        for row in training.history for layer in layers])
    steps = [row["step"] for row in training.history]
    metrics: dict = {"experiment": f"dynamic sparse training ({_METHOD_LABEL[method]})", "config": config.to_dict(),
                     "data": {"note": splits.note, **splits.sizes()}, "densities": training.densities,
                     "final": training.final, "resumed_from_epoch": training.resumed_from_epoch,
                     "rewiring_steps": len(steps) - 1}
    run.write_json("metrics.json", metrics)

    # stage 2: every transition, gains and losses
    cache = run.read_json("analysis-cache.json", what="analysis cache") or {}
    key = json.loads(json.dumps({"format": _CACHE_FORMAT, "bins": bins, "n_bins": n_bins,
                                 "history": json_ready(training.history)}))
    if cache.get("key") != key:
        cache = {"key": key, "transitions": {}, "fits": {}}
    topology = {s: out / "topology" / f"step-{s:08d}.pt" for s in steps}
    previous = None
    for k in range(1, len(steps)):
        name = str(steps[k])
        if name in cache["transitions"]:
            previous = None
            continue
        g0 = previous if previous is not None else _graph(model, load_topology(topology[steps[k - 1]])).graph
        g1 = _graph(model, load_topology(topology[steps[k]])).graph
        d, o = transition_rows(g0, g1, step=steps[k], bins=bins, n_bins=n_bins)
        cache["transitions"][name] = {"delta": d, "omega": o}
        run.write_json("analysis-cache.json", cache)
        previous = g1
        if progress:
            print(f"transition {k}/{len(steps) - 1} (step {steps[k]}) measured", flush=True)
    delta_rows = [r for s in steps[1:] for r in cache["transitions"][str(s)]["delta"]]
    omega_rows = [r for s in steps[1:] for r in cache["transitions"][str(s)]["omega"]]
    run.write_csv("attachment-delta.csv", delta_rows)
    run.write_csv("attachment-omega.csv", omega_rows)

    # stage 3: degree distributions, TPL fits and verdicts at chosen steps
    chosen = sorted(set(fit_steps)) if fit_steps is not None else choose_fit_steps(steps)
    unknown = [s for s in chosen if s not in topology]
    if unknown:
        raise DSTError(f"fit steps {unknown} are not rewiring steps of this run; saved steps are {steps}")
    degrees_at: dict[int, dict[str, np.ndarray]] = {}
    fits, fitted, verdicts = [], {}, []
    for s in chosen:
        degrees_at[s] = _graph(model, load_topology(topology[s])).degrees()
        for layer, degrees in degrees_at[s].items():
            name = f"{s}/{layer}/{n_boot}"
            if name not in cache["fits"]:
                row, full = evidence_row(degrees, n_boot=n_boot, seed=config.seed, n_jobs=n_jobs)
                cache["fits"][name] = {"row": row, "evidence": full}
                run.write_json("analysis-cache.json", cache)
            row = cache["fits"][name]["row"]
            fits.append({"step": s, "layer": layer, "n_nodes": int(len(degrees)),
                         "mean_degree": float(np.mean(degrees))} | row)
            verdicts.append({"step": s, "layer": layer} | cache["fits"][name]["evidence"])
            # the fitted law of the verdict's window, for the figure (the maximum-likelihood alpha
            # of fixed bounds is deterministic)
            fitted[(s, layer)] = (None if row["xmin"] is None else
                                  fit_tpl(degrees, xmin=int(row["xmin"]), xmax=float(row["xmax"])), row["verdict"])
    run.write_csv("fits.csv", fits)
    for s in chosen:
        write_degree_csv(run.file(f"degrees-step-{s:08d}.csv"), degrees_at[s])

    # stage 4: figures, metrics, report
    label = _METHOD_LABEL[method]
    runs = {label: delta_rows}
    omega_runs = {label: omega_rows}
    histories = {label: training.history}
    if compare is not None:
        other = Path(compare)
        other_metrics = _read_run(other, "metrics.json")
        other_label = other_metrics.get("experiment", str(other)).split("(")[-1].rstrip(")")
        if other_label == label:
            other_label = f"{label} ({other.name})"
        runs[other_label] = _read_csv(other / "attachment-delta.csv")
        omega_runs[other_label] = _read_csv(other / "attachment-omega.csv")
        histories[other_label] = _read_run(other, "history.json")["history"]
    plot_attachment_strength(runs, omega_runs, path=run.file("attachment.png"),
                             title=f"Attachment strength over the rewiring steps ({model})")
    plot_step_ccdfs(degrees_at, fitted, path=run.file("degree-ccdf.png"),
                    title=f"{label}: degree distributions at the start, middle and end ({model})")
    plot_accuracy(histories, path=run.file("accuracy.png"), title="Accuracy over the rewiring steps")
    metrics["fits"] = verdicts
    metrics["attachment"] = {"bins": bins, "n_bins": n_bins, "summary": _summary(delta_rows, omega_rows)}
    metrics["seconds_this_run"] = time.perf_counter() - began
    run.write_json("metrics.json", metrics)
    run.write_text("report.md", _report(label, config, metrics, training, fits))
    return DSTReport(out=out, training=training, delta_rows=delta_rows, omega_rows=omega_rows, fits=fits)


def _read_run(folder: Path, name: str) -> dict:
    return json.loads((folder / name).read_text())


def _read_csv(path: Path) -> list[dict]:
    """Rows of a CSV written by :func:`reproduce_dst`, numbers as floats and empty cells as None."""
    import csv

    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        for k, v in row.items():
            try:
                row[k] = float(v) if v not in ("", "None") else None
            except ValueError:
                pass
    return rows


def _summary(delta_rows: list[dict], omega_rows: list[dict]) -> list[dict]:
    """Median over the transitions of the elasticity and of the Omega fits, per kind and layer."""
    def median(values):
        values = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
        return float(np.median(values)) if values else None

    out = []
    for kind in ("gains", "losses"):
        for lower in dict.fromkeys(r["lower"] for r in delta_rows):
            rows = [r for r in delta_rows if r["kind"] == kind and r["lower"] == lower]
            out.append({"kind": kind, "what": "delta", "layer": lower, "transitions": len(rows),
                        "median_elasticity": median(r["elasticity"] for r in rows)})
        for layer in dict.fromkeys(r["layer"] for r in omega_rows):
            rows = [r for r in omega_rows if r["kind"] == kind and r["layer"] == layer]
            ratio = [r["origin_slope"] / r["predicted_slope"] if r["origin_slope"] is not None and r["predicted_slope"]
                     else None for r in rows]
            out.append({"kind": kind, "what": "omega", "layer": layer, "transitions": len(rows),
                        "median_r2": median(r["r2"] for r in rows),
                        "median_origin_r2": median(r["origin_r2"] for r in rows),
                        "median_origin_over_eq10": median(ratio)})
    return out


def _fmt(value, spec: str = ".3g") -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def _report(label: str, config, metrics: dict, training: DSTResult, fits: list[dict]) -> str:
    c = metrics["config"]
    lines = [f"# {label}: dynamic sparse training as a growth process ({c['model']})", "",
             f"Data: {metrics['data']['note']}",
             f"Training: SGD lr {c['lr']}, momentum {c['momentum']}, weight decay {c['weight_decay']}, batch "
             f"{c['batch_size']}, {c['epochs']} epochs" + (f" (at most {c['max_steps']} steps)" if c['max_steps'] else "")
             + f", {metrics['final']['steps']} steps; seed {c['seed']}. Method and sources: docs/dst.md.",
             "", "| layer | density | connections |", "|---|---|---|"]
    for layer, d in training.densities.items():
        lines.append(f"| {layer} | {d:.4f} | {training.history[0].get(f'{layer}_active', 'all (trained densely)')} |")
    lines += ["", f"Rewiring steps: {metrics['rewiring_steps']}; final test accuracy "
              f"{100 * metrics['final']['test_accuracy']:.2f} % (validation {100 * metrics['final']['val_accuracy']:.2f} %).",
              "", "## Attachment over the steps (attachment.png)", "",
              "Per transition, Delta's elasticity in d1 d2 is 1 under internal preferential attachment (eq. 6) and 0 "
              "for uniformly random changes; medians over the transitions:", "",
              "| kind | what | layer | transitions | median elasticity | median r^2 | median origin r^2 | "
              "median origin slope / eq. 10 |", "|---|---|---|---|---|---|---|---|"]
    for r in metrics["attachment"]["summary"]:
        lines.append(f"| {r['kind']} | {r['what']} | {r['layer']} | {r['transitions']} | "
                     f"{_fmt(r.get('median_elasticity'))} | {_fmt(r.get('median_r2'))} | "
                     f"{_fmt(r.get('median_origin_r2'))} | {_fmt(r.get('median_origin_over_eq10'))} |")
    lines += ["", "Baselines. Gains: new connections drawn uniformly among the free positions (SET's growth, by "
              "construction) give an elasticity of 0 up to noise (the free positions are nearly all pairs at a low "
              "density), so a SET run measures the noise of the estimate, and RigL's gains are preferential to the "
              "extent that their elasticity exceeds SET's. Losses: Delta counts all pairs of a cell, and a pair can "
              "only lose a connection it has, which it has with probability proportional to d1 d2; removing "
              "connections blind to degree (a random share of them, or the smallest weights when weights do not "
              "depend on degree) gives an elasticity of 1, so for losses 1 is the neutral value and a larger one "
              "means well-connected pairs lose more than their share."]
    lines += ["", "## Degree distributions (degree-ccdf.png, fits.csv)", "",
              "Verdict of analysis.assess_power_law (method 'widest': the widest window whose goodness of fit "
              "passes; supported / inconclusive / rejected with the criterion that decided):", "",
              "| step | layer | mean degree | verdict | alpha | window | decades | tail share | p |",
              "|---|---|---|---|---|---|---|---|---|"]
    for r in fits:
        window = "n/a" if r["xmin"] is None else f"[{r['xmin']}, {_fmt(r['xmax'], 'g')}]"
        lines.append(f"| {r['step']} | {r['layer']} | {r['mean_degree']:.1f} | {r['summary']} | {_fmt(r['alpha'])} | "
                     f"{window} | {_fmt(r['decades'], '.2f')} | {_fmt(r['tail_share'], '.2f')} | "
                     f"{_fmt(r['pvalue'], '.3f')} |")
    lines += ["", "Files: history.json, connections.csv, attachment-delta.csv, attachment-omega.csv, degrees-step-N.csv, "
              "fits.csv, attachment.png, degree-ccdf.png, accuracy.png, model.pt, metrics.json, topology/ "
              "(one file per rewiring step).", ""]
    return "\n".join(lines)
