"""Writing results as files a person can use: CSV rows and strict JSON.

One implementation for every command that writes numbers, so that all of them write JSON the
same way (atomically, so an interrupted run never leaves half a file; non-finite floats as the
strings ``"inf"``, ``"-inf"``, ``"nan"``; numpy scalars as plain numbers) and CSV the same way.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["json_ready", "write_csv_rows", "write_json"]


def json_ready(value: Any) -> Any:
    """``value`` as plain JSON data: numpy scalars and arrays converted, non-finite floats as strings.

    Examples
    --------
    >>> json_ready({"a": np.int64(3), "b": [float("inf"), np.float32(0.5)], "c": np.arange(2)})
    {'a': 3, 'b': ['inf', 0.5], 'c': [0, 1]}
    """
    if isinstance(value, Mapping):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return json_ready(value.tolist())
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def write_json(path: str | os.PathLike, payload: Any) -> Path:
    """Write ``payload`` as indented, strict JSON (see :func:`json_ready`), atomically.

    Examples
    --------
    >>> import tempfile
    >>> out = write_json(Path(tempfile.mkdtemp()) / "m.json", {"alpha": np.float64(2.5)})
    >>> json.loads(out.read_text())
    {'alpha': 2.5}
    """
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(json_ready(payload), indent=2, allow_nan=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def write_csv_rows(path: str | os.PathLike, rows: Sequence[Mapping[str, Any]]) -> Path:
    """Write dictionaries with the same keys as CSV, header from the first row (no rows: empty file).

    Examples
    --------
    >>> import tempfile
    >>> out = write_csv_rows(Path(tempfile.mkdtemp()) / "r.csv", [{"layer": "fc1", "n": 3}])
    >>> out.read_text().splitlines()
    ['layer,n', 'fc1,3']
    """
    path = Path(path)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        if rows:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    return path
