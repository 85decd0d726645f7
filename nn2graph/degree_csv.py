"""The degree CSV: one file format for the degrees of every command, its writer and its reader.

Every command that writes degrees (``nn2graph convert --degrees``, ``nn2graph reproduce``,
``nn2graph demo``, ``nn2graph reproduce continual``, ``nn2graph connectomes NAME --degrees``)
writes the same three columns, one row per node::

    layer,unit,degree
    input,0,12
    input,1,0
    fc1,0,31

``layer`` names the degree set (a layer of a network, or a degree kind of a connectome such as
``in`` or ``total_weighted``), ``unit`` the node within it (its index for a network, the
neuron's name for a connectome) and ``degree`` is a non-negative integer.  Layers keep the
order in which they first appear.

Every command that reads degrees (``nn2graph fit``, ``nn2graph compare``) reads that format and,
for files written by earlier versions, also

- a file with a ``degree`` column and no ``layer`` column (``unit,degree``, one file per layer):
  one layer, named after the file (``degrees-fc1.csv`` gives ``fc1``);
- a wide file with a ``name`` column and one column per degree kind
  (``name,in,out,total,in_weighted,...``): one degree set per kind.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from nn2graph.exceptions import NN2GraphError
from nn2graph.result_files import ResultFileError, atomic_open

__all__ = ["DEGREE_COLUMNS", "DegreeFileError", "layer_name_from_file", "read_degree_csv", "write_degree_csv"]

#: The columns of the degree CSV, in order.
DEGREE_COLUMNS = ("layer", "unit", "degree")
_PREFIX = "degrees-"


class DegreeFileError(NN2GraphError, ValueError):
    """A degree CSV that cannot be read or written."""


def write_degree_csv(
    path: str | os.PathLike,
    degrees: Mapping[str, ArrayLike],
    *,
    units: Mapping[str, Sequence] | None = None,
) -> Path:
    """Write ``{layer: degrees}`` as the degree CSV (columns ``layer,unit,degree``), atomically.

    Parameters
    ----------
    path : str or path-like
        The file to write (replaced; a reader never sees half a file).
    degrees : mapping of str to array_like of int
        Degrees per layer, in the order the rows are written.
    units : mapping of str to sequence, optional
        Names of the units of a layer (e.g. neuron names); default their indices 0, 1, ...

    Returns
    -------
    pathlib.Path

    Raises
    ------
    DegreeFileError
        Degrees that are not non-negative integers, units of the wrong length, or a file that
        cannot be written.

    Examples
    --------
    >>> import tempfile
    >>> out = write_degree_csv(Path(tempfile.mkdtemp()) / "d.csv", {"fc1": [3, 0], "in": [1]},
    ...                        units={"in": ["AVAL"]})
    >>> out.read_text().splitlines()
    ['layer,unit,degree', 'fc1,0,3', 'fc1,1,0', 'in,AVAL,1']
    """
    path = Path(path)
    checked = {}
    for layer, values in degrees.items():
        arr = np.asarray(values)
        if arr.ndim != 1 or (arr.size and (arr.dtype.kind not in "iu" and not _integral(arr))):
            raise DegreeFileError(f"degrees of layer {layer!r}: expected a one-dimensional array of "
                                  f"non-negative integers, got dtype {arr.dtype} and shape {arr.shape}")
        arr = arr.astype(np.int64)
        if arr.size and arr.min() < 0:
            raise DegreeFileError(f"degrees of layer {layer!r}: {int(arr.min())} is negative")
        names = None if units is None else units.get(layer)
        if names is not None and len(names) != arr.size:
            raise DegreeFileError(f"layer {layer!r}: {len(names)} unit names for {arr.size} degrees")
        checked[layer] = (arr, names)
    if not path.parent.is_dir():
        raise DegreeFileError(f"cannot write the degree CSV {path}: the folder {path.parent} does not exist")
    try:
        with atomic_open(path, newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(DEGREE_COLUMNS)
            for layer, (arr, names) in checked.items():
                unit_names: Iterable = range(arr.size) if names is None else names
                writer.writerows(zip((layer,) * arr.size, unit_names, arr.tolist()))
    except ResultFileError as error:
        raise DegreeFileError(str(error)) from None
    except OSError as error:
        raise DegreeFileError(f"cannot write the degree CSV {path}: {error.strerror or error}") from error
    return path


def _integral(arr: np.ndarray) -> bool:
    return arr.dtype.kind == "f" and bool(np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)))


def layer_name_from_file(path: str | os.PathLike) -> str:
    """The layer a one-layer degree file stands for: its stem without ``degrees-``.

    Examples
    --------
    >>> layer_name_from_file("run/degrees-fc1.csv"), layer_name_from_file("fc2.csv")
    ('fc1', 'fc2')
    """
    stem = Path(path).stem
    return stem[len(_PREFIX):] if stem.startswith(_PREFIX) and len(stem) > len(_PREFIX) else stem


def read_degree_csv(
    path: str | os.PathLike,
    *,
    column: str = "degree",
    layer_column: str = "layer",
) -> dict[str, np.ndarray]:
    """Read a degree CSV into ``{layer: degrees}`` (int64 arrays, layers in file order).

    Reads the format of :func:`write_degree_csv` and the older ones (see the module's
    description): a ``degree`` column without a ``layer`` column is one layer named after the
    file; a ``name`` column with one column per degree kind gives one set per kind.

    Parameters
    ----------
    path : str or path-like
        The CSV file (with a header).
    column : str, default "degree"
        The column holding the degrees.  A file without it is read as the wide format (one
        set per column other than ``name``) when ``column`` is ``"degree"``.
    layer_column : str, default "layer"
        The column naming each row's layer; without it the file is one layer, named after
        the file (after ``column`` when ``column`` is not ``"degree"``).

    Returns
    -------
    dict of str to numpy.ndarray

    Raises
    ------
    DegreeFileError
        A missing, empty, binary or malformed file, or a value that is not a non-negative
        integer (the message names the file, the line and the value).

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "a.csv").write_text("layer,unit,degree\\nfc1,0,3\\nfc1,1,0\\nfc2,0,5\\n")
    >>> {k: v.tolist() for k, v in read_degree_csv(folder / "a.csv").items()}
    {'fc1': [3, 0], 'fc2': [5]}
    >>> _ = (folder / "degrees-fc1.csv").write_text("unit,degree\\n0,3\\n1,0\\n")
    >>> {k: v.tolist() for k, v in read_degree_csv(folder / "degrees-fc1.csv").items()}
    {'fc1': [3, 0]}
    >>> _ = (folder / "worm.csv").write_text("name,in,out,total\\nAVAL,2,1,3\\nAVAR,0,4,4\\n")
    >>> {k: v.tolist() for k, v in read_degree_csv(folder / "worm.csv").items()}
    {'in': [2, 0], 'out': [1, 4], 'total': [3, 4]}
    """
    path = Path(path)
    if not path.is_file():
        raise DegreeFileError(f"{path}: no such file" + (" (it is a folder)" if path.is_dir() else ""))
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            header = [c.strip() for c in next(reader, [])]
            if not header:
                raise DegreeFileError(f"{path}: the file is empty; expected a header {','.join(DEGREE_COLUMNS)}")
            if column in header:
                value_cols = {(layer_name_from_file(path) if column == "degree" else column): header.index(column)}
                layer_index = header.index(layer_column) if layer_column in header else None
            elif column == "degree" and "name" in header and len(header) > 1:
                value_cols = {c: i for i, c in enumerate(header) if c != "name"}
                layer_index = None
            else:
                raise DegreeFileError(
                    f"{path}: no column {column!r} (columns: {', '.join(header)}); expected a degree CSV with "
                    f"the columns {','.join(DEGREE_COLUMNS)}" + ("" if column != "degree" else
                                                                " (or choose the column with --column)"))
            by_layer: dict[str, list[int]] = {}
            for line, row in enumerate(reader, start=2):
                if not row:
                    continue
                for name, index in value_cols.items():
                    text = row[index].strip() if index < len(row) else ""
                    layer = name if layer_index is None else (row[layer_index] if layer_index < len(row) else "")
                    by_layer.setdefault(layer, []).append(_degree(text, path, line, header[index]))
    except UnicodeDecodeError:
        raise DegreeFileError(f"{path}: not a text CSV (it is not UTF-8); expected a degree CSV with the "
                              f"columns {','.join(DEGREE_COLUMNS)}") from None
    except csv.Error as error:
        raise DegreeFileError(f"{path}: not a readable CSV: {error}") from None
    if not by_layer:
        raise DegreeFileError(f"{path}: no rows below the header")
    return {layer: np.asarray(values, dtype=np.int64) for layer, values in by_layer.items()}


def _degree(text: str, path: Path, line: int, column: str) -> int:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value != round(value) or value < 0 or abs(value) > 2.0**53:
        raise DegreeFileError(f"{path}, line {line}: {column} {text!r} is not a non-negative integer")
    return int(value)
