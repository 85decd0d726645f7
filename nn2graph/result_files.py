"""Writing result files atomically, and reading torch files back safely.

One implementation for every file the project writes -- JSON, CSV, markdown, figures,
GraphML/GEXF, torch checkpoints -- so that all of them are written the same way: into a
temporary file with a unique name in the destination folder, flushed, synced to disk and
renamed over the destination.  A reader therefore sees the old file or the new one, never
half a file, whatever happens to the writer (a kill, a full disk, a crash); two writers never
share a temporary file.  JSON is strict (non-finite floats as the strings ``"inf"``,
``"-inf"``, ``"nan"``; numpy scalars as plain numbers).

Torch files hold plain data only (tensors, numbers, strings, booleans, ``None``, and lists,
tuples and dicts of them), so that :func:`load_torch` reads them with
``torch.load(weights_only=True)``, which never runs code from the file; anything else is
refused with a :class:`ResultFileError` naming the file.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
import csv
import json
import math
import os
import tempfile
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np

from nn2graph.exceptions import NN2GraphError

__all__ = [
    "PARTIAL_SUFFIX",
    "ResultFileError",
    "atomic_open",
    "atomic_path",
    "check_plain",
    "json_ready",
    "load_torch",
    "read_json",
    "save_figure",
    "save_torch",
    "write_csv_rows",
    "write_json",
    "write_text",
]

#: Suffix of the temporary files :func:`atomic_open` writes before renaming them; a file with
#: it is a write that never finished (its writer was killed) and may be deleted.
PARTIAL_SUFFIX = ".nn2graph-partial"


class ResultFileError(NN2GraphError, ValueError):
    """A result file that cannot be written, or a file that cannot be read back safely."""


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


def _commit(handle: IO, tmp: str, path: Path) -> None:
    """Flush and sync ``handle`` (open on ``tmp``), close it and rename ``tmp`` to ``path``."""
    handle.flush()
    os.fsync(handle.fileno())
    handle.close()
    os.replace(tmp, path)
    with contextlib.suppress(OSError):  # make the rename itself durable
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _temporary(path: Path) -> tuple[int, str]:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=PARTIAL_SUFFIX)
    except OSError as error:
        raise ResultFileError(f"cannot write {path}: {error.strerror or error} (choose a folder you "
                              "can write to)") from error


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", *, encoding: str | None = "utf-8",
                newline: str | None = None) -> Iterator[IO]:
    """Open a temporary file beside ``path``; on success it replaces ``path`` atomically.

    The temporary file has a unique name (``.<name>.<random>.nn2graph-partial``) in the same
    folder; when the block ends it is flushed, synced and renamed to ``path``.  If the block
    raises, the temporary file is deleted and ``path`` is left as it was.

    Examples
    --------
    >>> folder = Path(tempfile.mkdtemp())
    >>> with atomic_open(folder / "notes.txt") as fh:
    ...     _ = fh.write("hello")
    >>> (folder / "notes.txt").read_text(), sorted(p.name for p in folder.iterdir())
    ('hello', ['notes.txt'])
    """
    path = Path(path)
    fd, tmp = _temporary(path)
    binary = "b" in mode
    try:
        handle = os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": encoding,
                                                                                 "newline": newline}))
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    try:
        yield handle
        _commit(handle, tmp, path)
    except BaseException:
        handle.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` for a writer that wants a file name; on success
    it replaces ``path`` atomically (see :func:`atomic_open`).

    Examples
    --------
    >>> folder = Path(tempfile.mkdtemp())
    >>> with atomic_path(folder / "a.txt") as tmp:
    ...     _ = tmp.write_text("x")
    >>> (folder / "a.txt").read_text()
    'x'
    """
    path = Path(path)
    fd, tmp = _temporary(path)
    os.close(fd)
    try:
        yield Path(tmp)
        _commit(open(tmp, "rb+"), tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically.

    Examples
    --------
    >>> out = write_text(Path(tempfile.mkdtemp()) / "report.md", "# Report\\n")
    >>> out.read_text()
    '# Report\\n'
    """
    path = Path(path)
    with atomic_open(path) as handle:
        handle.write(text)
    return path


def write_json(path: str | os.PathLike, payload: Any) -> Path:
    """Write ``payload`` as indented, strict JSON (see :func:`json_ready`), atomically.

    Examples
    --------
    >>> out = write_json(Path(tempfile.mkdtemp()) / "m.json", {"alpha": np.float64(2.5)})
    >>> json.loads(out.read_text())
    {'alpha': 2.5}
    """
    return write_text(path, json.dumps(json_ready(payload), indent=2, allow_nan=False) + "\n")


def write_csv_rows(path: str | os.PathLike, rows: Sequence[Mapping[str, Any]]) -> Path:
    """Write dictionaries with the same keys as CSV, header from the first row (no rows: empty
    file), atomically.

    Examples
    --------
    >>> out = write_csv_rows(Path(tempfile.mkdtemp()) / "r.csv", [{"layer": "fc1", "n": 3}])
    >>> out.read_text().splitlines()
    ['layer,n', 'fc1,3']
    """
    path = Path(path)
    with atomic_open(path, newline="") as handle:
        if rows:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    return path


def save_figure(fig: Any, path: str | os.PathLike, **options: Any) -> Path:
    """Save a matplotlib figure atomically; the format follows the suffix (``.png``, ``.pdf``...).

    ``options`` go to ``Figure.savefig`` (e.g. ``dpi=120``).

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> fig, ax = plt.subplots()
    >>> out = save_figure(fig, Path(tempfile.mkdtemp()) / "f.png", dpi=50)
    >>> out.read_bytes()[:4]
    b'\\x89PNG'
    >>> plt.close(fig)
    """
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower() or None
    with atomic_open(path, "wb") as handle:
        fig.savefig(handle, format=fmt, **options)
    return path


_PLAIN = (bool, int, float, str, type(None))


def check_plain(obj: Any, where: str = "the object") -> None:
    """Raise :class:`ResultFileError` unless ``obj`` is plain data that
    ``torch.load(weights_only=True)`` reads: tensors, numbers, strings, booleans, ``None``,
    and lists, tuples and dicts (with string or integer keys) of them.

    Examples
    --------
    >>> import torch
    >>> check_plain({"state": {"w": torch.zeros(2)}, "epoch": 3, "history": [{"loss": 0.5}]})
    >>> check_plain({"x": np.zeros(2)}, "checkpoint.pt")
    Traceback (most recent call last):
    ...
    nn2graph.result_files.ResultFileError: checkpoint.pt holds a numpy.ndarray at ['x']: only tensors, numbers, strings, booleans, None, lists, tuples and dicts can be saved
    """
    import torch

    def walk(value: Any, at: str) -> None:
        if isinstance(value, torch.Tensor) or type(value) in _PLAIN:
            return
        if isinstance(value, (list, tuple)) and type(value) in (list, tuple):
            for i, item in enumerate(value):
                walk(item, f"{at}[{i}]")
            return
        if type(value) in (dict, OrderedDict):
            for key, item in value.items():
                if type(key) not in (str, int):
                    raise ResultFileError(f"{where} has a key of type {type(key).__name__} at {at or 'the top'}: "
                                          "only string and integer keys can be saved")
                walk(item, f"{at}[{key!r}]")
            return
        kind = f"{type(value).__module__}.{type(value).__qualname__}".replace("builtins.", "")
        raise ResultFileError(f"{where} holds a {kind} at {at or 'the top'}: only tensors, numbers, "
                              "strings, booleans, None, lists, tuples and dicts can be saved")

    walk(obj, "")


def save_torch(path: str | os.PathLike, obj: Any) -> Path:
    """Save plain data (:func:`check_plain`) with ``torch.save``, atomically.

    Examples
    --------
    >>> import torch
    >>> out = save_torch(Path(tempfile.mkdtemp()) / "state.pt", {"w": torch.ones(2), "epoch": 1})
    >>> load_torch(out)["epoch"]
    1
    """
    import torch

    path = Path(path)
    check_plain(obj, str(path))
    with atomic_open(path, "wb") as handle:
        torch.save(obj, handle)
    return path


def load_torch(path: str | os.PathLike, *, what: str = "file", fix: str = "") -> Any:
    """Read a torch file with ``torch.load(weights_only=True)``: plain data only, no code run.

    Parameters
    ----------
    path : path
        The file.
    what : str
        What the file should be (for the message), e.g. ``"training checkpoint"``.
    fix : str
        How to get past a refused file, appended to the message (e.g. ``"delete it or pass
        --restart"``).

    Raises
    ------
    ResultFileError
        The file is missing, truncated, not a torch file, or holds anything but plain data
        (e.g. a pickled object, whose loading could run code): the message names the file.

    Examples
    --------
    >>> import pickle
    >>> bad = Path(tempfile.mkdtemp()) / "ckpt.pt"
    >>> _ = bad.write_bytes(pickle.dumps(Path("x")))
    >>> load_torch(bad, what="training checkpoint")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    nn2graph.result_files.ResultFileError: refused .../ckpt.pt: not a training checkpoint that loads as plain data ...
    """
    import pickle

    import torch

    path = Path(path)
    tail = f"; {fix}" if fix else ""
    try:
        with warnings.catch_warnings():  # a pickle protocol note about foreign files: the error says it
            warnings.simplefilter("ignore", UserWarning)
            return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ResultFileError(f"{what} {path} does not exist{tail}") from None
    except IsADirectoryError:
        raise ResultFileError(f"{what} {path} is a folder, not a file{tail}") from None
    except pickle.UnpicklingError as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ResultFileError(
            f"refused {path}: not a {what} that loads as plain data (tensors, numbers, strings, lists, "
            f"dicts); loading it would need to unpickle objects, which can run code ({reason[:160]}){tail}"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError, AttributeError, ImportError, KeyError,
            IndexError, TypeError, MemoryError, UnicodeDecodeError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ResultFileError(f"cannot read {what} {path}: it is truncated or not a torch file "
                              f"({reason[:160]}){tail}") from None


def read_json(path: str | os.PathLike, *, what: str = "JSON file", fix: str = "") -> Any:
    """Read strict JSON written by :func:`write_json` (``"inf"``-style strings stay strings).

    Raises
    ------
    ResultFileError
        The file is missing, unreadable or not valid UTF-8 JSON; the message names it.

    Examples
    --------
    >>> out = write_json(Path(tempfile.mkdtemp()) / "m.json", {"a": 1})
    >>> read_json(out)
    {'a': 1}
    """
    path = Path(path)
    tail = f"; {fix}" if fix else ""
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise ResultFileError(f"{what} {path} does not exist{tail}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ResultFileError(f"refused {path}: it is not a {what} (not UTF-8 JSON: {error}){tail}") from None
    except OSError as error:
        raise ResultFileError(f"cannot read {what} {path}: {error.strerror or error}{tail}") from None
