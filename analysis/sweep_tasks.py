"""The tasks of a sweep (:func:`analysis.sweep.sweep`) and where they run.

A task reads one source's degrees (:func:`_source_degrees`) or judges one degree set
(:func:`_row`); both are plain functions of picklable arguments, so that they run the same in
this process (:class:`_Synchronous`) and on Dask workers (:class:`_Dask`).  A row's random
stream comes from the sweep's entropy and the names of its source and layer
(:func:`_task_seed`), never from where it runs.
"""

from __future__ import annotations

import hashlib
import logging
import os
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nn2graph.exceptions import NN2GraphError

__all__ = ["SWEEP_COLUMNS", "SweepError"]

#: Columns of the sweep table, in order.
SWEEP_COLUMNS: tuple[str, ...] = (
    "source", "layer", "n", "n_zero", "min_degree", "max_degree", "pattern", "fitted", "not_fitted",
    "xmin", "xmax", "alpha", "ks_distance", "n_tail", "tail_fraction", "decades", "pvalue", "pvalue_std_error",
    "n_boot", "verdict", "summary", "reasons",
)

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
        from threadpoolctl import threadpool_limits
    except ImportError:
        raise SweepError("sweeps need 'threadpoolctl' (pip install 'nn2graph[sweep]'): every task runs its "
                         "linear algebra on one thread, so that the numbers do not depend on where it runs") from None
    try:
        with threadpool_limits(limits=1):  # as on Dask's workers: sums in the same order everywhere
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
