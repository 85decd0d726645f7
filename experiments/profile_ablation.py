"""What the training recipe does to the topology: finished runs of several profiles side by side.

:func:`profile_ablation` reads finished run folders of ``nn2graph reproduce mlp-mnist``,
``cnn-mnist`` (and ``cnn-cifar10``) and ``nn2graph reproduce continual`` -- typically the same
seeds under the ``quick`` and the ``paper`` profile -- and writes into its output folder:

==============================  ===============================================================
``ablation.csv``                one row per run and layer (:data:`COLUMNS`): model, profile,
                                seed, test accuracies, epochs run, the layer's degree range,
                                TPL window, alpha, p-value and verdict; for continual runs also
                                Figure 7's elasticity (the layer as the lower one of its pair)
                                and Figure 8's Omega lines
``ablation.md``                 per model, profile and layer: mean ± sd over the seeds, the
                                number of seeds and the verdict counts
``figure-ablation-ccdf.png``    per model and layer one log-log panel overlaying the profiles'
                                degree CCDFs, one line per seed, one colour per profile
==============================  ===============================================================

The profile and the seed of a run are read from its ``run.json`` (checked against its
``metrics.json``), never from the folder's name.  Static runs give the sparse network's
degrees (the paper's Figures 1-3), continual runs the degrees at t = 1 (Figure 9) and the
attachment measures between t = 0 and t = 1 (Figures 7 and 8).

Examples
--------
>>> rows = [{"model": "mlp-mnist", "profile": "paper", "seed": s, "layer": "fc1", "alpha": a,
...          "verdict": v} for s, a, v in ((1, 2.0, "supported"), (2, 3.0, "rejected"))]
>>> group = summarise(rows)[0]
>>> group["n_seeds"], group["alpha"], group["verdicts"]
(2, '2.5 ± 0.707', 'rejected 1, supported 1')
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from experiments.errors import ReproduceError
from nn2graph.degree_csv import read_degree_csv
from nn2graph.result_files import ResultFileError, read_json
from nn2graph.run_folder import IDENTITY_FILE, open_run

__all__ = ["COLUMNS", "AblationRun", "AblationResult", "plot_ablation_ccdfs", "profile_ablation", "read_run",
           "summarise"]

#: The columns of ``ablation.csv``, in order (accuracies in %, empty where a kind of run has none).
COLUMNS: tuple[str, ...] = (
    "model", "profile", "seed", "layer",
    "test_dense", "test_sparse", "test_a_dense", "test_a_sparse", "test_b_dense", "test_b_sparse", "epochs_run",
    "degree_min", "degree_max", "xmin", "xmax", "alpha", "p_value", "verdict",
    "delta_pair", "elasticity", "omega_slope", "omega_r2", "omega_origin_slope", "omega_origin_r2", "run",
)
#: Columns averaged over the seeds in ``ablation.md``.
_NUMERIC = ("test_dense", "test_sparse", "test_a_dense", "test_a_sparse", "test_b_dense", "test_b_sparse",
            "degree_min", "degree_max", "xmin", "xmax", "alpha", "p_value", "elasticity", "omega_slope",
            "omega_r2", "omega_origin_slope", "omega_origin_r2")
_ACCURACIES = _NUMERIC[:6]


@dataclass(frozen=True)
class AblationRun:
    """One finished run as the ablation sees it (:func:`read_run`).

    Attributes
    ----------
    path : Path
        The run folder.
    model : str
        The static target (``"mlp-mnist"``, ``"cnn-mnist"``...) or ``"continual-P<P>"``.
    profile, seed
        From the folder's ``run.json``.
    rows : tuple of dict
        Its rows of ``ablation.csv`` (:data:`COLUMNS`), one per analysed layer.
    degrees : dict of str to numpy.ndarray
        The analysed degrees per layer (sparse network; continual: t = 1).
    """

    path: Path
    model: str
    profile: str
    seed: int
    rows: tuple[dict, ...] = field(repr=False)
    degrees: dict[str, np.ndarray] = field(repr=False)

    @property
    def verdicts(self) -> dict[str, str]:
        """The power-law verdict of each layer."""
        return {row["layer"]: row["verdict"] for row in self.rows}


@dataclass(frozen=True)
class AblationResult:
    """What :func:`profile_ablation` wrote: the runs read, the rows, the summary and the files."""

    out: Path
    runs: tuple[AblationRun, ...] = field(repr=False)
    rows: tuple[dict, ...] = field(repr=False)
    summary: tuple[dict, ...] = field(repr=False)
    skipped: tuple[str, ...] = ()
    files: tuple[Path, ...] = ()


# --------------------------------------------------------------------------------------------
# reading runs


def _json(path: Path, what: str) -> Any:
    try:
        return read_json(path, what=what, fix="give the folder of a finished nn2graph reproduce run")
    except ResultFileError as error:
        raise ReproduceError(str(error)) from None


def _number(value: Any) -> float | None:
    """A finite float, or None ("inf", None and NaN become None)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _layer_row(layer: str, analysis: Mapping[str, Any]) -> dict[str, Any]:
    fit = analysis.get("fit") or {}
    return {"layer": layer, "degree_min": analysis.get("min_degree"), "degree_max": analysis.get("max_degree"),
            "xmin": fit.get("xmin"), "xmax": fit.get("xmax"), "alpha": fit.get("alpha"),
            "p_value": (analysis.get("pvalue") or {}).get("p_value"), "verdict": analysis.get("verdict")}


def _epochs_run(metrics: Mapping[str, Any]) -> str:
    phases = (metrics.get("training") or {}).get("phases", {})
    return "; ".join(f"{name} {p['epochs_run']}/{p['max_epochs']}" + (" early stop" if p["stopped_early"] else "")
                     for name, p in phases.items())


def read_run(folder: str | Path) -> AblationRun:
    """Read one finished static or continual run folder.

    Raises
    ------
    ReproduceError
        The folder holds no nn2graph run, an unfinished one, one without training (AlexNet,
        VGG-16), or files that disagree about its seed or profile.
    """
    path = Path(folder)
    if not path.is_dir():
        raise ReproduceError(f"run folder {path} is not a folder: give the --out folders of finished "
                             "nn2graph reproduce runs")
    saved = _json(path / IDENTITY_FILE, "run identity file")
    identity = saved.get("identity") if isinstance(saved, dict) else None
    metrics = _json(path / "metrics.json", "metrics file")
    if not isinstance(identity, dict) or not isinstance(metrics, dict):
        raise ReproduceError(f"refused {path}: its run.json or metrics.json is not what nn2graph writes")
    profile = identity.get("profile")
    if not isinstance(profile, dict) or "name" not in profile or "seed" not in identity:
        raise ReproduceError(f"{path} holds a run without a training profile ({identity.get('target', 'unknown')}); "
                             "the ablation compares trained runs: static mlp-mnist/cnn-mnist/cnn-cifar10 and "
                             "continual runs")
    seed = identity["seed"]
    if metrics.get("seed") != seed:
        raise ReproduceError(f"{path}: run.json says seed {seed}, metrics.json {metrics.get('seed')}; the folder "
                             "mixes two runs, rerun it")
    command = saved.get("command", "its command")
    unfinished = f"{path} holds an unfinished run: finish it ({command}) or leave it out"
    if identity.get("experiment") == "continual":
        if "fits_t1" not in metrics or not (path / "report.md").is_file():
            raise ReproduceError(unfinished)
        model, rows, degrees = f"continual-P{identity['P']}", *_continual_rows(path, metrics)
    else:
        if metrics.get("phase") != "done":
            raise ReproduceError(unfinished)
        model, rows, degrees = identity["target"], *_static_rows(path, metrics)
    common = {"model": model, "profile": profile["name"], "seed": seed, "epochs_run": _epochs_run(metrics),
              "run": str(path)}
    return AblationRun(path, model, profile["name"], seed,
                       tuple({c: {**common, **row}.get(c) for c in COLUMNS} for row in rows), degrees)


def _static_rows(path: Path, metrics: Mapping[str, Any]) -> tuple[list[dict], dict[str, np.ndarray]]:
    acc = metrics.get("accuracy", {})
    pct = {"test_dense": acc.get("dense_test"), "test_sparse": acc.get("sparse_test")}
    pct = {k: None if v is None else 100.0 * v for k, v in pct.items()}
    rows, degrees = [], {}
    for label, analysis in metrics["layers"].items():
        rows.append({**pct, **_layer_row(label, analysis)})
        degrees[label] = _read_degrees(path / f"degrees-{label}.csv")[label]
    return rows, degrees


def _continual_rows(path: Path, metrics: Mapping[str, Any]) -> tuple[list[dict], dict[str, np.ndarray]]:
    table = metrics["continual"]["table1"]
    acc = {f"test_{key}": value for key, value in table.items()}
    attachment = metrics["attachment"]
    omega = {o["layer"]: o for o in attachment["omega"]}
    trend = {t["lower"]: t for t in attachment["delta_trend"]}
    degrees = _read_degrees(path / "degrees-t1.csv")
    rows = []
    for analysis in metrics["fits_t1"]:
        layer = analysis["layer"]
        o, t = omega.get(layer, {}), trend.get(layer)
        rows.append({**acc, **_layer_row(layer, analysis),
                     "delta_pair": None if t is None else f"{t['lower']}->{t['upper']}",
                     "elasticity": None if t is None else t["elasticity"],
                     "omega_slope": o.get("slope"), "omega_r2": o.get("r2"),
                     "omega_origin_slope": o.get("origin_slope"), "omega_origin_r2": o.get("origin_r2")})
        if layer not in degrees:
            raise ReproduceError(f"{path / 'degrees-t1.csv'} has no layer {layer!r}, which metrics.json fits; "
                                 "the folder mixes two runs, rerun it")
    return rows, degrees


def _read_degrees(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise ReproduceError(f"{path} is missing: the run folder is incomplete, rerun its command")
    return read_degree_csv(path)


# --------------------------------------------------------------------------------------------
# the summary


def _mean_sd(values: Sequence[float], n: int, spec: str = ".3g") -> str:
    if not values:
        return ""
    mean = format(float(np.mean(values)), spec)
    text = mean if len(values) == 1 else f"{mean} ± {format(float(np.std(values, ddof=1)), spec)}"
    return text if len(values) == n else f"{text} [{len(values)} of {n}]"


def summarise(rows: Iterable[Mapping[str, Any]]) -> list[dict]:
    """Group rows by model, profile and layer: mean ± sd (``ddof=1``) of every numeric column
    over the seeds (``[k of n]`` where only k seeds have a value), ``n_seeds``, the seeds and
    the verdict counts; groups in the order the rows first show them.

    Examples
    --------
    >>> summarise([{"model": "m", "profile": "p", "seed": 0, "layer": "fc1", "alpha": 2.0, "verdict": "rejected"}])
    [{'model': 'm', 'profile': 'p', 'layer': 'fc1', 'n_seeds': 1, 'seeds': '0', 'alpha': '2', 'verdicts': 'rejected 1'}]
    """
    groups: dict[tuple, list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["model"], row["profile"], row["layer"]), []).append(row)
    out = []
    for (model, profile, layer), members in groups.items():
        n = len(members)
        entry: dict[str, Any] = {"model": model, "profile": profile, "layer": layer, "n_seeds": n,
                                 "seeds": ", ".join(str(r["seed"]) for r in sorted(members, key=lambda r: r["seed"]))}
        for column in _NUMERIC:
            if any(r.get(column) is not None for r in members):
                entry[column] = _mean_sd([v for r in members if (v := _number(r.get(column))) is not None], n,
                                         ".2f" if column in _ACCURACIES else ".3g")
        counts: dict[str, int] = {}
        for r in members:
            counts[str(r.get("verdict"))] = counts.get(str(r.get("verdict")), 0) + 1
        entry["verdicts"] = ", ".join(f"{v} {c}" for v, c in sorted(counts.items()))
        out.append(entry)
    return out


def _markdown(summary: Sequence[Mapping[str, Any]], runs: Sequence[AblationRun], skipped: Sequence[str]) -> str:
    lines = ["# Training profiles side by side", "",
             f"{len(runs)} finished runs; per model, profile and layer the mean ± sd over the seeds "
             "(sample sd; [k of n]: only k of the n seeds have a value, e.g. a layer too small to fit). "
             "Accuracies are test accuracies in %; degrees are those of the sparse network (continual: at t = 1); "
             "the TPL window [xmin, xmax] and alpha are the fit of minimum KS distance, the verdict the "
             "power-law verdict of the widest window that fits (docs/fits.md). Every run and layer: ablation.csv.",
             ""]
    models = list(dict.fromkeys(s["model"] for s in summary))
    for model in models:
        groups = [s for s in summary if s["model"] == model]
        acc_columns = [c for c in _ACCURACIES if any(g.get(c) for g in groups)]
        lines += [f"## {model}", "", "| profile | seeds | " + " | ".join(c.removeprefix("test_") for c in acc_columns)
                  + " |", "|---|---|" + "---|" * len(acc_columns)]
        seen = set()
        for g in groups:
            if g["profile"] not in seen:
                seen.add(g["profile"])
                lines.append(f"| {g['profile']} | {g['seeds']} | " + " | ".join(g.get(c, "") for c in acc_columns)
                             + " |")
        layer_columns = ["degree_min", "degree_max", "xmin", "xmax", "alpha", "p_value"]
        if model.startswith("continual"):
            layer_columns += ["elasticity", "omega_slope", "omega_r2", "omega_origin_slope", "omega_origin_r2"]
        lines += ["", "| layer | profile | n seeds | " + " | ".join(layer_columns) + " | verdicts |",
                  "|---|---|---|" + "---|" * (len(layer_columns) + 1)]
        for layer in dict.fromkeys(g["layer"] for g in groups):
            for g in (g for g in groups if g["layer"] == layer):
                lines.append(f"| {layer} | {g['profile']} | {g['n_seeds']} | "
                             + " | ".join(g.get(c, "") for c in layer_columns) + f" | {g['verdicts']} |")
        if model.startswith("continual"):
            lines += ["", "elasticity: Figure 7's slope of log Delta against log d1 d2 for the layer pair whose "
                      "lower layer is the row's (1 under preferential attachment, 0 for uniformly random new "
                      "connections); omega: Figure 8's least-squares line of Omega against the t = 0 degree and "
                      "the line through the origin (eq. 10's form), with their r^2."]
        lines.append("")
    lines += ["![degree CCDFs of the profiles](figure-ablation-ccdf.png)", "", "## Runs", "",
              "| model | profile | seed | folder | epochs run |", "|---|---|---|---|---|"]
    lines += [f"| {r.model} | {r.profile} | {r.seed} | {r.path} | {r.rows[0]['epochs_run'] or 'n/a'} |" for r in runs]
    if skipped:
        lines += ["", "Left out (unfinished): " + "; ".join(skipped) + "."]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# the figure


def plot_ablation_ccdfs(runs: Sequence[AblationRun], *, path: str | Path | None = None,
                        title: str | None = None) -> Any:
    """Per model and layer one log-log panel of the degree CCDFs: one line per seed, one colour
    per profile, the legend naming each profile with its seeds' verdicts.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    from analysis.plotting import ccdf_points, finish_figure, label_ccdf_axes

    if not runs:
        raise ReproduceError("no runs to plot: give at least one finished run folder")
    models = list(dict.fromkeys(r.model for r in runs))
    layers = {m: list(dict.fromkeys(layer for r in runs if r.model == m for layer in r.degrees)) for m in models}
    profiles = list(dict.fromkeys(r.profile for r in runs))
    colours = {p: f"C{i}" for i, p in enumerate(profiles)}
    ncols = max(len(v) for v in layers.values())
    fig = Figure(figsize=(3.8 * ncols, 3.2 * len(models)), layout="constrained")
    axes = fig.subplots(len(models), ncols, squeeze=False)
    for i, model in enumerate(models):
        for j in range(ncols):
            ax = axes[i, j]
            if j >= len(layers[model]):
                ax.set_visible(False)
                continue
            layer = layers[model][j]
            shown: list[np.ndarray] = []
            for profile in profiles:
                members = sorted((r for r in runs if r.model == model and r.profile == profile and layer in r.degrees),
                                 key=lambda r: r.seed)
                label = f"{profile}: " + ", ".join(f"s{r.seed} {r.verdicts.get(layer)}" for r in members)
                for run in members:
                    x, share = ccdf_points(run.degrees[layer])
                    if x.size:
                        # a layer whose nodes all have one degree (the CNN's single input channel) is one point
                        ax.loglog(x, share, "-", drawstyle="steps-post", color=colours[profile], lw=1.1, alpha=0.8,
                                  marker="o" if x.size == 1 else None, label=label)
                        shown.append(run.degrees[layer])
                        label = None  # one legend entry per profile
            ax.set_title(f"{model}: {layer}", fontsize=9)
            if shown:
                label_ccdf_axes(ax, np.concatenate(shown), legend_size=6)
            else:
                ax.text(0.5, 0.5, "no positive degrees", transform=ax.transAxes, ha="center", va="center")
    return finish_figure(fig, path=path,
                         title=title or "Degree CCDFs per layer: one line per seed, one colour per training profile")


# --------------------------------------------------------------------------------------------
# the command


def profile_ablation(folders: Sequence[str | Path], *, out: str | Path, skip_unfinished: bool = False,
                     restart: bool = False) -> AblationResult:
    """Compare finished runs of several training profiles; write ablation.csv/md and the figure.

    Parameters
    ----------
    folders : sequence of str or Path
        Finished run folders of ``nn2graph reproduce mlp-mnist|cnn-mnist|cnn-cifar10|continual``,
        any profiles and seeds (each (model, profile, seed) once).
    out : str or Path
        Output folder, locked while the command runs; its identity is the list of run folders,
        so another list is refused there unless ``restart``.
    skip_unfinished : bool
        Leave out unfinished runs (with a warning, listed in ablation.md) instead of refusing.
    restart : bool
        Delete the files of the ablation ``out`` holds and write this one.

    Returns
    -------
    AblationResult

    Raises
    ------
    ReproduceError
        No folders; a folder that is not a finished trained run (see :func:`read_run`); the
        same model, profile and seed twice.
    """
    if not folders:
        raise ReproduceError("give at least one run folder (the --out of a finished nn2graph reproduce run)")
    runs, skipped = [], []
    for folder in folders:
        try:
            runs.append(read_run(folder))
        except ReproduceError as error:
            if not (skip_unfinished and "holds an unfinished run" in str(error)):
                raise
            warnings.warn(f"left out: {error}", UserWarning, stacklevel=2)
            skipped.append(str(folder))
    if not runs:
        raise ReproduceError("none of the run folders holds a finished run")
    seen: dict[tuple, Path] = {}
    for run in runs:
        key = (run.model, run.profile, run.seed)
        if key in seen:
            raise ReproduceError(f"{seen[key]} and {run.path} are both {run.model}, profile {run.profile!r}, seed "
                                 f"{run.seed}: give each run once")
        seen[key] = run.path
    rows = tuple(row for run in runs for row in run.rows)
    summary = tuple(summarise(rows))
    identity = {"experiment": "profile-ablation", "runs": [str(Path(f).resolve()) for f in folders]}
    with open_run(out, identity, restart=restart) as folder:
        figure = folder.file("figure-ablation-ccdf.png")
        plot_ablation_ccdfs(runs, path=figure)
        files = (folder.write_csv("ablation.csv", list(rows)),
                 folder.write_text("ablation.md", _markdown(summary, runs, skipped)), figure)
    return AblationResult(Path(out), tuple(runs), rows, summary, tuple(skipped), files)
