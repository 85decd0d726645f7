"""Sweeps: every layer of many checkpoints or degree files fitted, tested and judged, on Dask.

``sweep(sources)`` reads the degrees of every source (a checkpoint, through
:func:`nn2graph.checkpoint_degrees`, or a degree CSV with columns layer, unit, degree), then
judges every degree set with :func:`analysis.assess_power_law` (a discrete truncated power-law
fit, its goodness-of-fit p-value, a verdict and its reasons) and returns one tidy table: one row per source and degree set (a checkpoint's layer
gives two: ``<layer>:in_degree`` and ``<layer>:out_degree``).  Sets whose degrees are constant
(a dense layer, per-row or N:M pruning) are reported with the reason and not fitted.

Execution: one task per source (its degrees) and one per degree set (fit, bootstrap, verdict),
on Dask.  By default an embedded ``distributed.LocalCluster`` of worker processes (no set-up);
``scheduler="tcp://host:8786"`` uses an existing ``distributed`` scheduler (its workers must be
able to import nn2graph and read the sources' paths); ``scheduler="synchronous"`` runs every
task in this process, without Dask.  The random stream of a degree set's bootstrap is derived
from the sweep's seed and the names of its source and layer, never from a worker, so the table
is the same bit for bit whatever the scheduler and the number of workers.

With ``out`` the sweep lives in a run folder (:mod:`nn2graph.run_folder`: locked while the
sweep runs, ``run.json`` holding its options, every file written atomically): ``sources.json``
(the sources' names and paths), ``degrees/`` (each source's degrees, read once), ``rows/`` (one
JSON file per finished row), ``sweep.csv`` (the table) and ``figures/`` (one CCDF figure per
source).  Run it again with the same folder and it resumes: finished rows are read back, not
recomputed.
"""

from __future__ import annotations

import hashlib
import math
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from analysis.sweep_tasks import (
    SWEEP_COLUMNS,
    SweepError,
    _Dask,
    _DegreeSet,
    _labels,
    _row,
    _Source,
    _source_degrees,
    _Synchronous,
)

__all__ = ["SWEEP_COLUMNS", "SweepError", "sweep"]

_FORMAT = 1  # version of the folder layout


# --------------------------------------------------------------------------------------------
# the sweep folder


def _file_name(label: str) -> str:
    return label.replace("/", "__")


class _Folder:
    """The sweep's run folder (:mod:`nn2graph.run_folder`: lock, identity, atomic files) and its caches."""

    def __init__(self, out: Path, options: dict[str, Any], restart: bool = False) -> None:
        from nn2graph.run_folder import IDENTITY_FILE, open_run
        from nn2graph.result_files import read_json

        if options["entropy"] is None and not restart:  # resume with the seed drawn by the first run
            saved = read_json(out / IDENTITY_FILE, what="run identity file") if (out / IDENTITY_FILE).is_file() else None
            entropy = (saved or {}).get("identity", {}).get("entropy") if isinstance(saved, dict) else None
            options = options | {"entropy": int(entropy) if entropy is not None else None}
        if options["entropy"] is None:
            options = options | {"entropy": int(np.random.SeedSequence().entropy)}
        self.run = open_run(out, {"sweep_format": _FORMAT, **options}, command="nn2graph sweep", restart=restart)
        self.out = out
        self.entropy = int(options["entropy"])
        self.sources: dict[str, str] = self.run.read_json("sources.json", what="sweep sources") or {}

    def register(self, sources: Sequence[_Source]) -> None:
        for s in sources:
            known = self.sources.get(s.label)
            if known is not None and known != s.path:
                raise SweepError(f"source name {s.label!r} stands for {known} in {self.out}, not {s.path}: "
                                 "rename the file or use another folder")
            self.sources[s.label] = s.path
        self.run.write_json("sources.json", self.sources)

    @staticmethod
    def _row_name(label: str, layer: str) -> str:
        key = hashlib.sha256(f"{label}\0{layer}".encode()).hexdigest()[:24]
        return f"rows/{key}.json"

    def read_row(self, label: str, layer: str) -> dict[str, Any] | None:
        row = self.run.read_json(self._row_name(label, layer), what="sweep row")
        if not isinstance(row, dict) or (row.get("source"), row.get("layer")) != (label, layer):
            return None
        return {k: float(v) if v in ("inf", "-inf", "nan") else v for k, v in row.items()}

    def write_row(self, row: dict[str, Any]) -> None:
        self.run.write_json(self._row_name(row["source"], row["layer"]), row)

    def read_degrees(self, label: str) -> list[_DegreeSet] | None:
        from nn2graph.degree_csv import read_degree_csv

        info = self.run.read_json(f"degrees/{_file_name(label)}.json", what="sweep degree sets")
        csv_path = self.out / "degrees" / f"{_file_name(label)}.csv"
        if not isinstance(info, dict) or not csv_path.is_file():
            return None
        values = read_degree_csv(csv_path)
        return [_DegreeSet(s["layer"], values.get(s["layer"], np.zeros(0, np.int64)), s["pattern"], s["not_fitted"])
                for s in info["sets"]]

    def write_degrees(self, label: str, sets: list[_DegreeSet]) -> None:
        from nn2graph.degree_csv import write_degree_csv

        write_degree_csv(self.run.file(f"degrees/{_file_name(label)}.csv"), {s.layer: s.degrees for s in sets})
        self.run.write_json(f"degrees/{_file_name(label)}.json",
                            {"sets": [{"layer": s.layer, "pattern": s.pattern, "not_fitted": s.not_fitted}
                                      for s in sets]})

    def close(self) -> None:
        self.run.close()


# --------------------------------------------------------------------------------------------
# progress


class _Progress:
    """The project's progress report (:mod:`nn2graph.progress`: a bar on a terminal, plain lines
    otherwise) over rows whose number grows as the sources' degrees arrive, and one line per
    finished source."""

    def __init__(self, enabled: bool) -> None:
        from nn2graph.progress import progress

        self.enabled = enabled
        self.bar = progress(total=0, desc="sweep", unit="row", enabled=enabled)

    def add(self, n: int) -> None:
        if self.enabled:
            self.bar.total = (self.bar.total or 0) + n
            if hasattr(self.bar, "refresh"):
                self.bar.refresh()

    def done(self, n: int = 1) -> None:
        self.bar.update(n)

    def say(self, text: str) -> None:
        if self.enabled:
            from nn2graph.progress import write

            write(text, file=sys.stderr)

    def close(self) -> None:
        self.bar.close()


# --------------------------------------------------------------------------------------------
# figures


def _figures(folder: _Folder, label: str, sets: list[_DegreeSet], rows: Mapping[str, dict[str, Any]]) -> list[Path]:
    """CCDF panels of a source's fitted degree sets, 32 panels a figure."""
    from analysis.plotting import plot_layer_fits
    from analysis.tpl import TPLFit
    from nn2graph.result_files import save_figure

    fitted = [s for s in sets if rows[s.layer]["fitted"]]
    paths = []
    pages = [fitted[i: i + 32] for i in range(0, len(fitted), 32)]
    for page_no, page in enumerate(pages, start=1):
        fits, pvalues, verdicts = {}, {}, {}
        for s in page:
            r = rows[s.layer]
            fits[s.layer] = TPLFit(alpha=r["alpha"], xmin=int(r["xmin"]),
                                   xmax=math.inf if r["xmax"] in ("inf", math.inf) else int(r["xmax"]),
                                   ks_distance=r["ks_distance"], n=r["n"], n_tail=r["n_tail"],
                                   n_zero_dropped=r["n_zero"], loglikelihood=math.nan, n_candidates=0)
            pvalues[s.layer] = r["pvalue"]
            verdicts[s.layer] = r["summary"]
        suffix = "" if len(pages) == 1 else f"-{page_no}"
        path = folder.run.file(f"figures/{_file_name(label)}{suffix}.png")
        fig = plot_layer_fits({s.layer: s.degrees for s in page}, fits, pvalues=pvalues, verdicts=verdicts,
                              title=label)
        paths.append(save_figure(fig, path, dpi=110))
    return paths


# --------------------------------------------------------------------------------------------
# the public entry point


def sweep(
    sources: Sequence[str | os.PathLike],
    *,
    out: str | os.PathLike | None = None,
    scheduler: str | None = None,
    n_workers: int | None = None,
    pattern: str | None = None,
    conv: Mapping[str, Any] | None = None,
    method: str = "widest",
    n_boot: int = 2500,
    seed: int | None = None,
    p_threshold: float = 0.1,
    progress: bool = True,
    figures: bool = True,
    restart: bool = False,
) -> Any:
    """Fit, p-value and verdict of every layer of many checkpoints or degree files, as one table.

    Parameters
    ----------
    sources : sequence of paths
        Checkpoints (anything :func:`nn2graph.checkpoint_degrees` reads) and degree CSV files
        (``.csv`` with columns layer, unit, degree).
    out : path, optional
        Sweep folder (created): options, caches, ``sweep.csv``, ``figures/``; resumable.
    scheduler : str, optional
        None: local worker processes (an embedded ``distributed.LocalCluster``); an address
        (``"tcp://host:8786"``): an existing ``distributed`` scheduler; ``"synchronous"``: this
        process, without Dask.
    n_workers : int, optional
        Local worker processes (default: every core); ignored with an address.
    pattern, conv
        Passed to :func:`nn2graph.checkpoint_degrees` for checkpoint sources.
    method : {"widest", "paper"}
        How :func:`analysis.assess_power_law` chooses the window (docs/fits.md).
    n_boot : int
        Bootstrap sets per degree set.
    seed : int, optional
        The sweep's seed; each row's stream is derived from it and the row's source and layer
        names.  None draws one (saved in the folder, so that a resumed sweep keeps it).
    p_threshold : float
        Verdict threshold on the bootstrap p-value.
    progress : bool
        A progress bar on a terminal, one line per finished source otherwise (stderr).
    figures : bool
        Write one CCDF figure per source into ``out/figures/`` (with ``out``).
    restart : bool
        Delete the files of the sweep that ``out`` holds and start over (other options are
        otherwise refused).

    Returns
    -------
    pandas.DataFrame
        One row per source and degree set, columns :data:`SWEEP_COLUMNS`;
        ``df.attrs["computed"]`` and ``df.attrs["reused"]`` count the rows computed by this
        call and those read back from the folder.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from pathlib import Path
    >>> folder = Path(tempfile.mkdtemp())
    >>> rows = ["layer,unit,degree"] + [f"fc1,{i},{d}" for i, d in enumerate(np.random.default_rng(0).zipf(2, 200))]
    >>> _ = (folder / "net.csv").write_text("\\n".join(rows))
    >>> table = sweep([folder / "net.csv"], scheduler="synchronous", n_boot=20, seed=1, progress=False)
    >>> row = table.iloc[0]
    >>> row["source"], row["layer"], bool(row["fitted"]), table.attrs["computed"]
    ('net', 'fc1', True, 1)
    """
    import pandas as pd

    paths = [str(p) for p in sources]
    if not paths:
        raise SweepError("no sources: give checkpoints or degree CSV files")
    if int(n_boot) != n_boot or n_boot < 1:
        raise SweepError(f"n_boot={n_boot!r}: expected a positive number of bootstrap sets")
    if not 0 < float(p_threshold) < 1:
        raise SweepError(f"p_threshold={p_threshold!r}: expected a number between 0 and 1")
    if seed is not None and (int(seed) != seed or seed < 0):
        raise SweepError(f"seed={seed!r}: expected a non-negative integer or None")
    if n_workers is not None and (int(n_workers) != n_workers or n_workers < 1):
        raise SweepError(f"n_workers={n_workers!r}: expected a positive integer")
    for p in paths:
        if not Path(p).exists():
            raise SweepError(f"source {p}: no such file or folder")
    items = [_Source(label, p, "degrees" if p.endswith(".csv") else "checkpoint")
             for label, p in zip(_labels(paths), paths)]
    entropy = int(seed) if seed is not None else None
    if method not in ("widest", "paper"):
        raise SweepError(f"method={method!r}: expected 'widest' or 'paper'")
    options = {"method": method, "n_boot": int(n_boot), "p_threshold": float(p_threshold), "pattern": pattern,
               "conv": {k: repr(v) for k, v in (conv or {}).items()}, "entropy": entropy}
    folder = _Folder(Path(out), options, restart) if out is not None else None
    try:
        if folder is not None:
            folder.register(items)
            entropy = folder.entropy
        elif entropy is None:
            entropy = int(np.random.SeedSequence().entropy)
        rows, computed, reused = _run(items, folder, scheduler, n_workers, pattern, conv, method, int(n_boot), entropy,
                                      float(p_threshold), progress, figures)
        table = pd.DataFrame([rows[(s.label, layer)] for s in items for layer in rows["order"][s.label]],
                             columns=list(SWEEP_COLUMNS))
        if folder is not None:
            folder.run.write_csv("sweep.csv", table.to_dict("records"))
    finally:
        if folder is not None:
            folder.close()
    table.attrs.update(computed=computed, reused=reused)
    return table


def _run(items: list[_Source], folder: _Folder | None, scheduler: str | None, n_workers: int | None,
         pattern: str | None, conv: Mapping[str, Any] | None, method: str, n_boot: int, entropy: int,
         p_threshold: float,
         progress: bool, figures: bool) -> tuple[dict, int, int]:
    rows: dict[Any, Any] = {"order": {}}
    sets_of: dict[str, list[_DegreeSet]] = {}
    waiting: dict[str, int] = {}
    computed = reused = 0
    bar = _Progress(progress)
    runner: Any = _Synchronous() if scheduler == "synchronous" else None

    def finish_source(label: str) -> None:
        if folder is not None and figures:
            _figures(folder, label, sets_of[label], {l: rows[(label, l)] for l in rows["order"][label]})
        done = [rows[(label, l)] for l in rows["order"][label]]
        fitted = sum(r["fitted"] for r in done)
        bar.say(f"sweep: {label}: {len(done)} degree sets, {fitted} fitted, "
                f"{sum(r['verdict'] == 'supported' for r in done)} supported as power laws")

    def have_degrees(label: str, sets: list[_DegreeSet]) -> None:
        nonlocal reused
        sets_of[label] = sets
        rows["order"][label] = [s.layer for s in sets]
        todo = []
        for s in sets:
            cached = folder.read_row(label, s.layer) if folder is not None else None
            if cached is not None:
                rows[(label, s.layer)] = cached
                reused += 1
            else:
                todo.append(s)
        bar.add(len(sets))
        bar.done(len(sets) - len(todo))
        waiting[label] = len(todo)
        for s in todo:
            get_runner().submit(("row", label), _row, label, s, method, n_boot, entropy, p_threshold)
        if not todo:
            finish_source(label)

    def get_runner() -> Any:
        nonlocal runner
        if runner is None:
            runner = _Dask(scheduler, n_workers)
        return runner

    try:
        for item in items:
            cached = folder.read_degrees(item.label) if folder is not None else None
            if cached is not None:
                have_degrees(item.label, cached)
            else:
                get_runner().submit(("degrees", item.label), _source_degrees, item, pattern, conv)
        while runner is not None:
            progressed = False
            for (what, label), result in runner.results():
                progressed = True
                if what == "degrees":
                    if folder is not None:
                        folder.write_degrees(label, result)
                    have_degrees(label, result)
                else:
                    rows[(label, result["layer"])] = result
                    computed += 1
                    if folder is not None:
                        folder.write_row(result)
                    bar.done()
                    waiting[label] -= 1
                    if waiting[label] == 0:
                        finish_source(label)
            if not progressed:
                break
    finally:
        bar.close()
        if runner is not None:
            runner.close()
    return rows, computed, reused
