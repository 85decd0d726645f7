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

With ``out`` the sweep lives in a folder: ``sweep.json`` (its options), ``degrees/`` (each
source's degrees, read once), ``rows/`` (one JSON file per finished row, written atomically),
``sweep.csv`` (the table) and ``figures/`` (one CCDF figure per source).  Run it again with the
same folder and it resumes: finished rows are read back, not recomputed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import sys
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nn2graph.exceptions import NN2GraphError

__all__ = ["SWEEP_COLUMNS", "SweepError", "sweep"]

#: Columns of the sweep table, in order.
SWEEP_COLUMNS: tuple[str, ...] = (
    "source", "layer", "n", "n_zero", "min_degree", "max_degree", "pattern", "fitted", "not_fitted",
    "xmin", "xmax", "alpha", "ks_distance", "n_tail", "tail_fraction", "decades", "pvalue", "pvalue_std_error",
    "n_boot", "verdict", "summary", "reasons",
)
_FORMAT = 1  # version of the folder layout


class SweepError(NN2GraphError, ValueError):
    """Sources, options or a sweep folder that cannot be used."""


@dataclass(frozen=True)
class _Source:
    label: str  # unique short name: the table's ``source`` column, part of every seed
    path: str
    kind: str  # "checkpoint" or "degrees"


@dataclass(frozen=True)
class _DegreeSet:
    layer: str
    degrees: np.ndarray
    pattern: str  # the sparsity pattern of its matrix, "" for a degree file
    not_fitted: str | None  # why it is not fitted (constant degrees), or None


# --------------------------------------------------------------------------------------------
# sources and their degrees (run on workers)


def _labels(paths: Sequence[str]) -> list[str]:
    """Unique short names: the checkpoint's name, with parent folders added until they differ.

    Examples
    --------
    >>> _labels(["a/run1/ep3.pt", "b/run2/ep3.pt", "deg.csv"])
    ['run1/ep3', 'run2/ep3', 'deg']
    """
    from nn2graph.cli.degrees import default_name

    def name(text: str, depth: int) -> str:
        path = Path(text)
        base = path.stem if path.suffix == ".csv" else default_name(path)
        named = path.parent if path.name.endswith(".safetensors.index.json") or path.is_dir() else path
        parents = named.resolve().parent.parts[1:][-depth:] if depth else ()
        return "/".join([*parents, base])

    labels = [name(p, 0) for p in paths]
    for depth in range(1, 33):
        if len(set(labels)) == len(labels):
            break
        labels = [name(p, depth) if labels.count(lab) > 1 else lab for p, lab in zip(paths, labels)]
    if len(set(labels)) < len(labels):
        raise SweepError(f"sources given twice: {sorted({lab for lab in labels if labels.count(lab) > 1})}")
    return labels


def _constant(values: np.ndarray) -> str | None:
    if values.size and np.all(values == values[0]):
        return f"every degree is {int(values[0])}"
    return None


def _source_degrees(source: _Source, pattern: str | None, conv: Mapping[str, Any] | None) -> list[_DegreeSet]:
    """The degree sets of one source, in its layer order."""
    if source.kind == "degrees":
        from nn2graph.degree_csv import read_degree_csv

        return [_DegreeSet(layer, arr, "", _constant(arr)) for layer, arr in read_degree_csv(source.path).items()]
    from nn2graph.checkpoint import checkpoint_degrees

    result = checkpoint_degrees(source.path, pattern=pattern, conv=conv)
    sets = []
    for entry in result:
        kind = f"{entry.pattern.n_m[0]}:{entry.pattern.n_m[1]}" if entry.pattern.n_m else entry.pattern.kind
        for side, (layer, values) in zip(("in", "out"), entry.degree_sets().items()):
            sets.append(_DegreeSet(layer, values, kind, entry.not_fitted(side)))
    return sets


# --------------------------------------------------------------------------------------------
# one row (run on workers)


def _task_seed(entropy: int, label: str, layer: str) -> np.random.SeedSequence:
    """The random stream of one row: the sweep's entropy and the names of its source and layer."""
    digest = hashlib.sha256(f"{label}\0{layer}".encode()).digest()
    return np.random.SeedSequence(entropy, spawn_key=tuple(int.from_bytes(digest[i: i + 4], "little")
                                                           for i in range(0, 16, 4)))


def _assess(degrees: np.ndarray, *, method: str, n_boot: int, seed: np.random.SeedSequence,
            p_threshold: float) -> dict[str, Any]:
    """Fit, p-value and verdict of one degree set: :func:`analysis.assess_power_law` in one process."""
    from analysis.evidence import assess_power_law

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # edge-of-search notes: the reasons say what matters
        ev = assess_power_law(degrees, method=method, n_boot=n_boot, seed=seed, n_jobs=1, p_threshold=p_threshold)
    fit = ev.fit
    return {"xmin": fit.xmin, "xmax": fit.xmax, "alpha": fit.alpha, "ks_distance": fit.ks_distance,
            "n_tail": fit.n_tail, "tail_fraction": fit.tail_fraction, "decades": ev.decades,
            "pvalue": ev.pvalue.p_value, "pvalue_std_error": ev.pvalue.std_error, "n_boot": ev.pvalue.n_boot,
            "verdict": ev.verdict, "summary": ev.summary(), "reasons": " ".join(ev.reasons)}


def _row(label: str, ds: _DegreeSet, method: str, n_boot: int, entropy: int, p_threshold: float) -> dict[str, Any]:
    """One row of the table (see :data:`SWEEP_COLUMNS`)."""
    from analysis.tpl import FitError

    d = ds.degrees
    row: dict[str, Any] = {c: None for c in SWEEP_COLUMNS}
    row.update(source=label, layer=ds.layer, n=int(d.size), n_zero=int(np.sum(d == 0)),
               min_degree=int(d.min()) if d.size else None, max_degree=int(d.max()) if d.size else None,
               pattern=ds.pattern, fitted=False, not_fitted=ds.not_fitted or "")
    from analysis.degree_analysis import degenerate_reason

    reason = ds.not_fitted or degenerate_reason(d)
    if reason:
        row.update(not_fitted=reason, verdict="not fitted", summary=f"not fitted: {reason}", reasons=reason)
        return row
    try:
        row.update(_assess(d, method=method, n_boot=n_boot, seed=_task_seed(entropy, label, ds.layer),
                           p_threshold=p_threshold))
        row["fitted"] = True
    except FitError as error:
        row.update(not_fitted=str(error), verdict="not fitted", summary=f"not fitted: {error}", reasons=str(error))
    return row


# --------------------------------------------------------------------------------------------
# where tasks run


class _Synchronous:
    """Every task in this process, one at a time, each result handed back before the next task runs."""

    def __init__(self) -> None:
        self._queue: list[tuple[Any, Callable, tuple]] = []

    def submit(self, tag: Any, fn: Callable, *args: Any) -> None:
        self._queue.append((tag, fn, args))

    def results(self) -> Iterator[tuple[Any, Any]]:
        while self._queue:
            tag, fn, args = self._queue.pop(0)
            yield tag, fn(*args)

    def close(self) -> None:
        pass


class _Dask:
    """Tasks on a ``distributed`` client, results as they complete."""

    def __init__(self, scheduler: str | None, n_workers: int | None) -> None:
        try:
            from distributed import Client, LocalCluster, as_completed
        except ImportError:
            raise SweepError("sweeps on Dask need 'dask' and 'distributed': pip install 'nn2graph[sweep]' "
                             "(or pass scheduler='synchronous' to run in this process)") from None
        self._cluster = None
        if scheduler is None:
            self._cluster = LocalCluster(n_workers=n_workers or os.cpu_count() or 1, threads_per_worker=1,
                                         processes=True, dashboard_address=None, silence_logs=logging.ERROR)
            self.client = Client(self._cluster)
        else:
            try:
                self.client = Client(scheduler, timeout="20s")
            except (OSError, TimeoutError) as error:
                raise SweepError(f"cannot reach the Dask scheduler at {scheduler!r}: {error}; start one with "
                                 "'dask scheduler' (and workers with 'dask worker ADDRESS') or omit the "
                                 "address for local processes") from None
        self._pending = as_completed()
        self._tags: dict[str, Any] = {}

    def submit(self, tag: Any, fn: Callable, *args: Any) -> None:
        future = self.client.submit(fn, *args, pure=False)
        self._tags[future.key] = tag
        self._pending.add(future)

    def results(self) -> Iterator[tuple[Any, Any]]:
        for future in self._pending:
            tag = self._tags.pop(future.key)
            try:
                yield tag, future.result()
            finally:
                future.release()

    def close(self) -> None:
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()


# --------------------------------------------------------------------------------------------
# the sweep folder


def _file_name(label: str) -> str:
    return label.replace("/", "__")


def _write_atomic(path: Path, write: Callable[[Path], Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


class _Folder:
    """INTERIM sweep folder (options, lock, caches) until the project's run-folder object is available."""

    def __init__(self, out: Path, options: dict[str, Any]) -> None:
        self.out = out
        for sub in ("degrees", "rows", "figures"):
            (out / sub).mkdir(parents=True, exist_ok=True)
        self._lock = out / ".lock"
        try:
            fd = os.open(self._lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            pid = self._lock.read_text().strip()
            if pid.isdigit() and _alive(int(pid)):
                raise SweepError(f"{out} is in use by process {pid}: wait for it, or use another folder") from None
            self._lock.unlink()  # left by a process that is gone
            fd = os.open(self._lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        meta = out / "sweep.json"
        self.sources: dict[str, str] = {}
        if meta.exists():
            saved = json.loads(meta.read_text())
            entropy = saved["options"].get("entropy")
            wanted = options | ({"entropy": entropy} if options["entropy"] is None else {})
            if saved.get("format") != _FORMAT or saved["options"] != wanted:
                self.close()
                raise SweepError(f"{out} holds a sweep with other options ({saved['options']}, not {wanted}); "
                                 "use the same options to resume it, or another folder")
            self.sources = saved["sources"]
            options = wanted
        elif options["entropy"] is None:
            options = options | {"entropy": int(np.random.SeedSequence().entropy)}
        self.entropy = int(options["entropy"])
        self._options = options

    def register(self, sources: Sequence[_Source]) -> None:
        from nn2graph.result_files import write_json

        for s in sources:
            known = self.sources.get(s.label)
            if known is not None and known != s.path:
                raise SweepError(f"source name {s.label!r} stands for {known} in {self.out}, not {s.path}: "
                                 "rename the file or use another folder")
            self.sources[s.label] = s.path
        write_json(self.out / "sweep.json", {"format": _FORMAT, "options": self._options, "sources": self.sources})

    def row_path(self, label: str, layer: str) -> Path:
        key = hashlib.sha256(f"{label}\0{layer}".encode()).hexdigest()[:24]
        return self.out / "rows" / f"{key}.json"

    def read_row(self, label: str, layer: str) -> dict[str, Any] | None:
        path = self.row_path(label, layer)
        if not path.exists():
            return None
        row = {k: float(v) if v in ("inf", "-inf", "nan") else v for k, v in json.loads(path.read_text()).items()}
        return row if (row.get("source"), row.get("layer")) == (label, layer) else None

    def write_row(self, row: dict[str, Any]) -> None:
        from nn2graph.result_files import write_json

        write_json(self.row_path(row["source"], row["layer"]), row)

    def read_degrees(self, label: str) -> list[_DegreeSet] | None:
        meta = self.out / "degrees" / f"{_file_name(label)}.json"
        if not meta.exists():
            return None
        from nn2graph.degree_csv import read_degree_csv

        info = json.loads(meta.read_text())
        values = read_degree_csv(self.out / "degrees" / f"{_file_name(label)}.csv")
        return [_DegreeSet(s["layer"], np.asarray(values.get(s["layer"], []), dtype=np.int64), s["pattern"],
                           s["not_fitted"]) for s in info["sets"]]

    def write_degrees(self, label: str, sets: list[_DegreeSet]) -> None:
        from nn2graph.degree_csv import write_degree_csv
        from nn2graph.result_files import write_json

        base = self.out / "degrees" / _file_name(label)
        write_degree_csv(base.with_suffix(".csv"), {s.layer: s.degrees for s in sets})
        write_json(base.with_suffix(".json"), {"sets": [{"layer": s.layer, "pattern": s.pattern,
                                                         "not_fitted": s.not_fitted} for s in sets]})

    def close(self) -> None:
        if self._lock.exists() and self._lock.read_text().strip() == str(os.getpid()):
            self._lock.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --------------------------------------------------------------------------------------------
# progress


class _Progress:
    """A bar on a terminal, plain lines otherwise (one per finished source)."""

    def __init__(self, enabled: bool) -> None:
        from tqdm.auto import tqdm

        self.enabled = enabled
        self.tty = enabled and sys.stderr.isatty()
        self.bar = tqdm(total=0, desc="sweep", unit="row", disable=not self.tty)

    def add(self, n: int) -> None:
        self.bar.total += n
        self.bar.refresh()

    def done(self, n: int = 1) -> None:
        self.bar.update(n)

    def say(self, text: str) -> None:
        if self.tty:
            self.bar.write(text, file=sys.stderr)
        elif self.enabled:
            print(text, file=sys.stderr, flush=True)

    def close(self) -> None:
        self.bar.close()


# --------------------------------------------------------------------------------------------
# figures


def _figures(folder: Path, label: str, sets: list[_DegreeSet], rows: Mapping[str, dict[str, Any]]) -> list[Path]:
    """CCDF panels of a source's fitted degree sets, 32 panels a figure."""
    from analysis.plotting import plot_layer_fits
    from analysis.tpl import TPLFit

    fitted = [s for s in sets if rows[s.layer]["fitted"]]
    paths = []
    pages = [fitted[i: i + 32] for i in range(0, len(fitted), 32)]
    for page_no, page in enumerate(pages, start=1):
        fits, pvalues = {}, {}
        for s in page:
            r = rows[s.layer]
            fits[s.layer] = TPLFit(alpha=r["alpha"], xmin=int(r["xmin"]),
                                   xmax=math.inf if r["xmax"] in ("inf", math.inf) else int(r["xmax"]),
                                   ks_distance=r["ks_distance"], n=r["n"], n_tail=r["n_tail"],
                                   n_zero_dropped=r["n_zero"], loglikelihood=math.nan, n_candidates=0)
            pvalues[s.layer] = r["pvalue"]
        suffix = "" if len(pages) == 1 else f"-{page_no}"
        path = folder / f"{_file_name(label)}{suffix}.png"
        fig = plot_layer_fits({s.layer: s.degrees for s in page}, fits, pvalues=pvalues, title=label)
        _write_atomic(path, lambda p: fig.savefig(p, dpi=110, format="png"))
        paths.append(path)
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
    folder = _Folder(Path(out), options) if out is not None else None
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
            from nn2graph.result_files import write_csv_rows

            _write_atomic(folder.out / "sweep.csv", lambda p: write_csv_rows(p, table.to_dict("records")))
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
            _figures(folder.out / "figures", label, sets_of[label], {l: rows[(label, l)] for l in rows["order"][label]})
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
