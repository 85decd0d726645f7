"""``nn2graph reproduce celegans-development``: internal preferential attachment in a real
developing brain.

:func:`reproduce_celegans_development` measures Delta and Omega (the paper's eqs. 5-10 in the
general form of :func:`analysis.attachment_general`) between consecutive Witvliet stages,
counting connections both as synapses and as connected pairs, analyses every stage's degree
distribution with :func:`analysis.analyse_degrees` (the analysis of every command), and writes
into the output folder:

- ``metrics.json`` (rewritten after every phase), ``report.md``;
- ``transitions-{unit}.csv`` (one row per transition), ``delta-{unit}.csv``, ``omega-{unit}.csv``,
  ``attachment-{unit}.json`` with ``unit`` = ``synapses`` or ``pairs``;
- ``stage-degrees.csv`` / ``.md``, and ``analyses/`` (the finished bootstraps, keyed by the
  degrees and options: reused when rerun, they are the slow part);
- ``figures/delta-{unit}-{a}-{b}.png``, ``figures/omega-{unit}-{a}-{b}.png``,
  ``figures/summary-{unit}.png``, ``figures/stage-ccdf.png``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import numpy as np

from analysis.attachment_plots import plot_delta, plot_omega
from analysis.compare import ComparisonEntry, DegreeSet, markdown_table, plot_degree_ccdfs
from analysis.connectomes import connectome_degrees, load_connectome
from analysis.degree_analysis import analyse_degrees
from analysis.development import WITVLIET_STAGES, DevelopmentResult, check_stages, development_attachment
from nn2graph.run_folder import RunFolder, content_key, open_run

__all__ = ["UNITS", "reproduce_celegans_development"]

#: How connections are counted: synapses (edge ``weight``) or connected pairs.
UNITS: dict[str, bool] = {"synapses": True, "pairs": False}


def _attachment_phase(dev: DevelopmentResult, unit: str, run: RunFolder) -> list[dict[str, Any]]:
    for t in dev.transitions:
        what = f"Witvliet datasets {t.stage0} \u2192 {t.stage1} ({dev.synapses}, {unit})"
        plot_delta(t.result, path=run.file(f"figures/delta-{unit}-{t.label}.png"), title=f"\u0394(d1, d2): {what}")
        plot_omega(t.result, path=run.file(f"figures/omega-{unit}-{t.label}.png"), title=f"\u03a9(d): {what}")
    dev.plot_summary(path=run.file(f"figures/summary-{unit}.png"),
                     title=f"\u03a9(d) between consecutive datasets, {dev.synapses} connections counted as {unit}")
    rows = dev.summary_rows()
    run.write_csv(f"transitions-{unit}.csv", rows)
    run.write_csv(f"delta-{unit}.csv",
                  [{"transition": t.label} | r for t in dev.transitions for r in t.result.delta_rows()])
    run.write_csv(f"omega-{unit}.csv",
                  [{"transition": t.label} | r for t in dev.transitions for r in t.result.omega_rows()])
    run.write_json(f"attachment-{unit}.json", dev.to_dict())
    return rows


def _stage_phase(sets: list[DegreeSet], names: list[str], synapses: str, n_boot: int, seed: int,
                 n_jobs: int | None, progress: bool, run: RunFolder) -> list[dict[str, Any]]:
    rows = []
    for name, s in zip(names, sets):
        analysis = analyse_degrees(s.degrees, n_boot=n_boot, seed=seed, n_jobs=n_jobs, tail_verdict=True,
                                   cache=run.folder("analyses"), progress=progress)
        rows.append(ComparisonEntry(name, "total", analysis).row())
    run.write_csv("stage-degrees.csv", rows)
    run.write_text("stage-degrees.md", markdown_table(rows) + "\n")
    plot_degree_ccdfs(sets, path=run.file("figures/stage-ccdf.png"),
                      title=f"Witvliet datasets: total degree ({synapses}), divided by its mean")
    return rows


def _connectomes_key(values: tuple[int, ...], synapses: str) -> str:
    """The content of the stages' connectomes (neurons, connections, synapse counts)."""
    graphs = [load_connectome(f"witvliet2020-{s}", synapses=synapses) for s in values]
    return content_key([[g.vs["name"], np.array(g.get_edgelist(), dtype=np.int64).reshape(-1, 2),
                         np.asarray(g.es["weight"], dtype=np.int64)] for g in graphs])


def _fmt(value: Any, spec: str = ".3g") -> str:
    return "n/a" if value is None else format(value, spec)


def _transition_table(rows: list[dict[str, Any]]) -> str:
    lines = ["| transition | common neurons | gained | lost | gains: slope fitted (eq. 5) | gains: r\u00b2 (origin) "
             "| gains: Spearman | losses: slope fitted (eq. 5) | losses: r\u00b2 (origin) | losses: Spearman |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['transition']} | {r['n_common']} | {r['gained']:.0f} | {r['lost']:.0f} "
            f"| {_fmt(r['gains_origin_slope'])} ({_fmt(r['gains_predicted_slope'])}) | {_fmt(r['gains_origin_r2'], '.3f')} "
            f"| {_fmt(r['gains_spearman'], '.3f')} | {_fmt(r['losses_origin_slope'])} ({_fmt(r['losses_predicted_slope'])}) "
            f"| {_fmt(r['losses_origin_r2'], '.3f')} | {_fmt(r['losses_spearman'], '.3f')} |")
    return "\n".join(lines)


def _findings(unit: str, rows: list[dict[str, Any]]) -> str:
    """Sentences computed from the rows of consecutive transitions."""
    steps = [r for r in rows if r["stage1"] == r["stage0"] + 1] or rows
    n = len(steps)

    def count(pred) -> int:
        return sum(1 for r in steps if pred(r))

    def ratio(kind: str) -> str:
        values = [r[f"{kind}_origin_slope"] / r[f"{kind}_predicted_slope"] for r in steps
                  if r[f"{kind}_origin_slope"] is not None and r[f"{kind}_predicted_slope"]]
        return f"{min(values):.2f}-{max(values):.2f}" if values else "n/a"

    gained, lost = sum(r["gained"] for r in steps), sum(r["lost"] for r in steps)
    return (
        f"- Counting {unit}: over the {n} transitions between consecutive datasets the common neurons gained "
        f"{gained:.0f} and lost {lost:.0f} connections (gains {gained / max(gained + lost, 1):.0%} of all changes).\n"
        f"- Gains: \u03a9(d) rises with the stage-0 degree (Spearman > 0.5) in {count(lambda r: (r['gains_spearman'] or 0) > 0.5)} "
        f"of {n} transitions; a line through the origin explains it with r\u00b2 >= 0.9 in "
        f"{count(lambda r: (r['gains_origin_r2'] or -1) >= 0.9)} of {n}. Fitted slope / eq. 5's 2G/D: {ratio('gains')}.\n"
        f"- Losses: Spearman > 0.5 in {count(lambda r: (r['losses_spearman'] or 0) > 0.5)} of {n}; r\u00b2 (origin) >= 0.9 in "
        f"{count(lambda r: (r['losses_origin_r2'] or -1) >= 0.9)} of {n}. Fitted slope / 2L/D: {ratio('losses')}."
    )


def _report(metrics: dict[str, Any], stage_rows: list[dict[str, Any]]) -> str:
    o = metrics["options"]
    parts = [
        "# Internal preferential attachment in the developing C. elegans brain",
        "",
        f"Witvliet et al. (2021) datasets {', '.join(map(str, o['stages']))} (stages "
        f"{', '.join(WITVLIET_STAGES[s] for s in o['stages'])}) as snapshots of one network; neurons matched by "
        f"name; {o['synapses']} connections; degree bins {o['bins']} ({o['n_bins']}); pair degrees {o['degree']}. "
        "Delta and Omega follow analysis.attachment_general (eq. 5 of the paper over every pair of neurons), "
        "with gains and losses separately. Stage-0 degrees count the same unit as the changes.",
        "",
        "The paper (Hou & Kwok, eqs. 5-10) predicts for internal preferential attachment a Delta(d1, d2) growing "
        "like d1*d2 and an Omega(d) on a straight line through the origin with slope 2G/D (G connections gained, "
        "D the sum of the stage-0 degrees); the paper's own test is the sparse MLP in continual learning (its "
        "Figures 7-8), it has no connectome numbers. Below: fitted slope of Omega through the origin with the "
        "predicted slope in brackets, the r\u00b2 of that line and the Spearman correlation of Omega with d.",
        "",
    ]
    for unit in UNITS:
        rows = metrics["attachment"][unit]
        parts += [f"## Connections counted as {unit}", "", _transition_table(rows), "", _findings(unit, rows), "",
                  f"Figures: `figures/summary-{unit}.png`, `figures/delta-{unit}-A-B.png`, "
                  f"`figures/omega-{unit}-A-B.png`.", ""]
    parts += ["## Degree distributions of the stages (total degree, connected partners)", "",
              f"TPL window fit (minimum KS distance) with its bootstrap p ({o['n_boot']} sets), best law on that window, and the "
              "untruncated power-law tail (xmin over all values). Figure: `figures/stage-ccdf.png`.", "",
              markdown_table(stage_rows), ""]
    return "\n".join(parts)


def reproduce_celegans_development(
    out: str | os.PathLike,
    *,
    stages: Iterable[int] = range(1, 9),
    synapses: str = "chemical",
    bins: str = "log",
    n_bins: int = 8,
    degree: str = "total",
    n_boot: int = 2500,
    seed: int = 0,
    n_jobs: int | None = None,
    restart: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Run the developmental attachment analysis and write its artefacts into ``out``.

    Parameters
    ----------
    out : path
        Output folder (created).  Finished bootstraps in ``out/analyses`` are reused for the same
        degrees and options.
    stages : iterable of int, default 1..8
        Witvliet datasets in developmental order.
    synapses, bins, n_bins, degree
        As in :func:`analysis.development.development_attachment`.
    n_boot : int, default 2500
        Bootstrap sets of each stage's p-value (0: none).
    seed : int, default 0
        Seed of every stage's bootstrap (as in every command: the same degrees and seed give the
        same p-value).
    n_jobs : int or None, default None
        Bootstrap worker processes (None: every core).
    restart : bool, default False
        Delete the files of the run in ``out`` first.  ``out`` is locked while the run lives,
        and a folder holding a run with other options (``run.json``) is refused, naming them.
    progress : bool, default True
        Show bootstrap progress bars.

    Returns
    -------
    dict
        The content of ``metrics.json``.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> with tempfile.TemporaryDirectory() as d:
    ...     m = reproduce_celegans_development(d, stages=[7, 8], n_boot=0, progress=False)
    ...     sorted(p.name for p in Path(d).iterdir() if not p.name.startswith("."))[:4]
    ['analyses', 'attachment-pairs.json', 'attachment-synapses.json', 'delta-pairs.csv']
    >>> [r["transition"] for r in m["attachment"]["synapses"]]
    ['7-8']
    """
    values = check_stages(stages)
    options = {"stages": list(values), "synapses": synapses, "bins": bins, "n_bins": n_bins, "degree": degree,
               "n_boot": n_boot, "seed": seed}
    with open_run(out, {"target": "celegans-development", **options}, restart=restart) as run:
        return _development_run(run, values, synapses=synapses, bins=bins, n_bins=n_bins, degree=degree,
                                n_boot=n_boot, seed=seed, n_jobs=n_jobs, progress=progress)


def _development_run(run: RunFolder, values: tuple[int, ...], *, synapses: str, bins: str, n_bins: int, degree: str,
                     n_boot: int, seed: int, n_jobs: int | None, progress: bool) -> dict[str, Any]:
    metrics: dict[str, Any] = {
        "target": "celegans-development",
        "options": {"stages": list(values), "synapses": synapses, "bins": bins, "n_bins": n_bins,
                    "degree": degree, "n_boot": n_boot, "seed": seed},
        "attachment": {},
    }
    data = _connectomes_key(values, synapses)
    for unit, weighted in UNITS.items():
        def attachment(unit: str = unit, weighted: bool = weighted) -> list[dict[str, Any]]:
            dev = development_attachment(values, synapses=synapses, weighted=weighted, bins=bins, n_bins=n_bins,
                                         degree=degree)
            return _attachment_phase(dev, unit, run)

        metrics["attachment"][unit] = run.stage(f"attachment-{unit}", {"connectomes": data, **metrics["options"],
                                                                       "weighted": weighted}, attachment)
        run.write_json("metrics.json", metrics)
    names = [f"witvliet2020-{s}" for s in values]
    sets = [DegreeSet(f"{s} ({WITVLIET_STAGES[s]})", "total",
                      connectome_degrees(load_connectome(name, synapses=synapses), kind="total"))
            for s, name in zip(values, names)]
    stage_rows = run.stage("stage-degrees", {"degrees": [s.degrees for s in sets], "names": names,
                                              "synapses": synapses, "n_boot": n_boot, "seed": seed,
                                              "tail_verdict": True},
                           lambda: _stage_phase(sets, names, synapses, n_boot, seed, n_jobs, progress, run))
    metrics["stage_degrees"] = stage_rows
    run.write_json("metrics.json", metrics)
    run.write_text("report.md", _report(metrics, stage_rows))
    return metrics
