"""The tensors of a checkpoint file: formats, listing, selection and reading rows in chunks.

Used by :mod:`nn2graph.checkpoint`: a safetensors file, a sharded checkpoint (an
``*.safetensors.index.json`` and its shards) or a PyTorch state dict loaded with
``torch.load(weights_only=True)``; tensors listed in natural name order (see
docs/checkpoints.md) and read a block of rows at a time.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nn2graph.exceptions import NN2GraphError

__all__ = ["CheckpointError", "list_tensors", "select_weights"]

#: A safetensors file is re-opened after this many chunks (releases the mapped pages).
_CHUNKS_PER_OPEN = 4
_READ_AHEAD_STEP = 1 << 20  # bytes per read-ahead request

# integer view, magnitude mask (sign dropped: -0.0 is zero) and first non-finite magnitude
BITS = {
    "float16": ("int16", np.uint16, 0x7FFF, 0x7C00),
    "bfloat16": ("int16", np.uint16, 0x7FFF, 0x7F80),
    "float32": ("int32", np.uint32, 0x7FFFFFFF, 0x7F800000),
    "float64": ("int64", np.uint64, 0x7FFFFFFFFFFFFFFF, 0x7FF0000000000000),
    "float8_e4m3fn": ("uint8", np.uint8, 0x7F, 0x7F),
    "float8_e5m2": ("uint8", np.uint8, 0x7F, 0x7C),
}
_SAFETENSORS_DTYPES = {"F16": "float16", "BF16": "bfloat16", "F32": "float32", "F64": "float64",
                       "F8_E4M3": "float8_e4m3fn", "F8_E5M2": "float8_e5m2"}


class CheckpointError(NN2GraphError, ValueError):
    """A checkpoint that cannot be read, or options that do not fit it."""


# --------------------------------------------------------------------------------------------
# the tensors of a checkpoint


@dataclass(frozen=True)
class Entry:
    layer: str
    parts: tuple[str, ...]  # tensor names multiplied together (weight, or weight_orig and weight_mask)
    file: Path
    shape: tuple[int, ...]
    dtype: str


def _safe_open() -> Any:
    try:
        from safetensors import safe_open
    except ImportError:
        raise CheckpointError("reading safetensors needs the 'safetensors' package: "
                              "pip install 'nn2graph[checkpoints]'") from None
    return safe_open


def _natural_key(name: str) -> list[Any]:
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)]


class _SafetensorsReader:
    """Rows of tensors of safetensors files through ``safe_open``/``get_slice``.

    The file is re-opened every few chunks, which releases the pages of its memory map already
    read.  The kernel is asked to read ahead (``posix_fadvise(WILLNEED)``) the bytes of the chunk
    being read, and a thread reads those of the next one into the page cache while this one is
    counted (a memory map alone reads a cold file a few pages at a time).
    """

    def __init__(self) -> None:
        self._file: Path | None = None
        self._handle: Any = None
        self._context: Any = None
        self._reads = 0
        self._fd: int | None = None
        self._offsets: dict[str, tuple[int, int]] = {}
        self._pool: Any = None
        self._pending: list[Any] = []

    def _open(self, file: Path) -> Any:
        safe_open = _safe_open()
        if self._file != file or self._reads >= _CHUNKS_PER_OPEN:
            new_file = self._file != file
            self._release(keep_fd=not new_file)
            try:
                self._context = safe_open(str(file), framework="pt")
                self._handle = self._context.__enter__()
                if new_file:
                    self._fd, self._offsets = os.open(file, os.O_RDONLY), _data_offsets(file)
            except Exception as error:  # SafetensorError, OSError
                raise CheckpointError(f"{file}: not a readable safetensors file: {error}") from None
            self._file, self._reads = file, 0
        self._reads += 1
        return self._handle

    def _read_ahead(self, entry: Entry, part: str, start: int, stop: int) -> None:
        if part not in self._offsets or not hasattr(os, "posix_fadvise"):
            return
        begin, end = self._offsets[part]
        row = (end - begin) // entry.shape[0]
        first, middle = begin + start * row, begin + stop * row
        last = min(end, begin + (2 * stop - start) * row)
        for offset in range(first, middle, _READ_AHEAD_STEP):  # the kernel caps one call at its window
            os.posix_fadvise(self._fd, offset, min(_READ_AHEAD_STEP, middle - offset), os.POSIX_FADV_WILLNEED)
        if last > middle:  # the next chunk: read by a thread while this one is counted
            self._pending = [f for f in self._pending if not f.done()]
            if len(self._pending) < 2:
                if self._pool is None:
                    from concurrent.futures import ThreadPoolExecutor

                    self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nn2graph-read-ahead")
                self._pending.append(self._pool.submit(_warm_pages, self._fd, middle, last))

    def rows(self, entry: Entry, part: str, start: int, stop: int) -> Any:
        try:
            handle = self._open(entry.file)
            self._read_ahead(entry, part, start, stop)
            return handle.get_slice(part)[start:stop]
        except CheckpointError:
            raise
        except Exception as error:
            raise CheckpointError(f"{entry.file}: cannot read rows {start}:{stop} of tensor '{part}': {error}") from None

    def close(self) -> None:
        self._release(keep_fd=False)
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def _release(self, keep_fd: bool) -> None:
        if self._context is not None:
            self._context.__exit__(None, None, None)
        self._context = self._handle = None
        if not keep_fd:
            for future in self._pending:  # the thread reads through this descriptor
                future.cancel() or future.exception()
            self._pending = []
            if self._fd is not None:
                os.close(self._fd)
            self._fd, self._file, self._offsets = None, None, {}


def _warm_pages(fd: int, first: int, last: int) -> None:
    """Read bytes first:last of a file and drop them: they are then in the page cache."""
    buf = bytearray(_READ_AHEAD_STEP)
    view = memoryview(buf)
    while first < last:
        got = os.preadv(fd, [view[: min(_READ_AHEAD_STEP, last - first)]], first)
        if got <= 0:
            return
        first += got


def _data_offsets(file: Path) -> dict[str, tuple[int, int]]:
    """Absolute byte range of every tensor of a safetensors file (8-byte header size, JSON header)."""
    with open(file, "rb") as fh:
        size = int.from_bytes(fh.read(8), "little")
        header = json.loads(fh.read(size))
    base = 8 + size
    return {name: (base + info["data_offsets"][0], base + info["data_offsets"][1])
            for name, info in header.items() if name != "__metadata__"}


class _TorchReader:
    """Rows of the tensors of a state dict loaded with ``weights_only=True`` (memory-mapped when possible)."""

    def __init__(self, tensors: Mapping[str, Any]) -> None:
        self.tensors = tensors

    def rows(self, entry: Entry, part: str, start: int, stop: int) -> Any:
        return self.tensors[part][start:stop]

    def close(self) -> None:
        pass


def _safetensors_header(file: Path) -> dict[str, tuple[tuple[int, ...], str]]:
    """``{name: (shape, safetensors dtype)}`` in header order, through ``safe_open``."""
    safe_open = _safe_open()
    if not file.is_file():
        raise CheckpointError(f"{file}: no such file")
    try:
        with safe_open(str(file), framework="pt") as handle:
            return {name: (tuple(handle.get_slice(name).get_shape()), handle.get_slice(name).get_dtype())
                    for name in handle.keys()}
    except Exception as error:
        raise CheckpointError(f"{file}: not a readable safetensors file: {error}") from None


def _is_safetensors(file: Path) -> bool:
    with open(file, "rb") as fh:
        head = fh.read(9)
    return len(head) == 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < (1 << 30)


def _sharded(index: Path) -> list[tuple[str, Path, tuple[int, ...], str]]:
    try:
        weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
        if not isinstance(weight_map, dict):
            raise TypeError("weight_map is not an object")
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise CheckpointError(f"{index}: not a sharded-checkpoint index (a JSON object with a 'weight_map' "
                              f"of tensor name -> shard file): {error}") from None
    headers: dict[str, dict] = {}
    found = []
    for name, shard in weight_map.items():
        file = index.parent / shard
        if shard not in headers:
            if not file.is_file():
                raise CheckpointError(f"{index}: shard '{shard}' of tensor '{name}' does not exist in {index.parent}")
            headers[shard] = _safetensors_header(file)
        if name not in headers[shard]:
            raise CheckpointError(f"{index}: tensor '{name}' is mapped to shard '{shard}', which does not hold it")
        found.append((name, file, *headers[shard][name]))
    return found


def _torch_tensors(file: Path) -> dict[str, Any]:
    import pickle

    import torch

    def load(mmap: bool) -> Any:
        return torch.load(file, map_location="cpu", weights_only=True, mmap=mmap)

    try:
        try:
            obj = load(mmap=zipfile.is_zipfile(file))
        except RuntimeError as error:
            if "mmap" not in str(error):
                raise
            obj = load(mmap=False)  # the legacy format cannot be mapped: read whole
    except pickle.UnpicklingError as error:
        raise CheckpointError(
            f"{file}: not a plain state dict: torch.load(weights_only=True) refused it ({str(error).splitlines()[0]}). "
            "nn2graph reads only tensors from checkpoints (no code is run): save model.state_dict() "
            "or convert the file to safetensors") from None
    except Exception as error:
        raise CheckpointError(f"{file}: not a safetensors or PyTorch file: {error}") from None
    flat: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, torch.Tensor):
            flat[prefix] = value
        elif isinstance(value, Mapping):
            for key, sub in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), sub)

    walk("", obj)
    if not flat:
        raise CheckpointError(f"{file}: holds no tensors (a {type(obj).__name__}); expected a state dict")
    return flat


def list_tensors(path: Path) -> tuple[str, list[tuple[str, Path, tuple[int, ...], str]], Any]:
    """(format, [(name, file, shape, dtype)], reader) for a path, in the order described above."""
    if path.is_dir():
        indexes = sorted(path.glob("*.safetensors.index.json"))
        singles = sorted(path.glob("*.safetensors"))
        if len(indexes) == 1:
            path = indexes[0]
        elif not indexes and len(singles) == 1:
            path = singles[0]
        else:
            found = [p.name for p in indexes or singles] or ["no *.safetensors(.index.json)"]
            raise CheckpointError(f"{path}: a checkpoint folder must hold one *.safetensors.index.json or one "
                                  f"*.safetensors file (found {', '.join(found)}); give the file itself")
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file or folder")
    if path.name.endswith(".json"):
        tensors = _sharded(path)
        tensors.sort(key=lambda t: _natural_key(t[0]))
        return "sharded safetensors", tensors, _SafetensorsReader()
    if _is_safetensors(path):
        header = _safetensors_header(path)
        tensors = sorted(((n, path, *v) for n, v in header.items()), key=lambda t: _natural_key(t[0]))
        return "safetensors", tensors, _SafetensorsReader()
    flat = _torch_tensors(path)
    tensors = [(n, path, tuple(t.shape), str(t.dtype).removeprefix("torch.")) for n, t in flat.items()]
    return "torch", tensors, _TorchReader(flat)


def select_weights(tensors: list, pattern: str | None) -> tuple[list[Entry], list[tuple[str, str]]]:
    names = {t[0] for t in tensors}
    entries, skipped = [], []
    for name, file, shape, dtype in tensors:
        parts: tuple[str, ...] = (name,)
        base = name
        if name.endswith("weight_orig") and name.removesuffix("_orig") + "_mask" in names:
            base = name.removesuffix("_orig")
            parts = (name, base + "_mask")
        if base.rsplit(".", 1)[-1] != "weight":
            continue  # biases, norms, pruning masks, ...
        if len(parts) == 2 and base in names:
            continue  # the effective weight is stored too: it is counted once, under its own name
        if pattern is not None and not fnmatch.fnmatchcase(name, pattern):
            continue
        dtype = _SAFETENSORS_DTYPES.get(dtype, dtype)
        layer = base.removesuffix(".weight") if base != "weight" else "weight"
        if len(shape) < 2:
            continue  # a norm's scale, not a matrix
        if dtype not in BITS:
            skipped.append((name, f"dtype {dtype} is not a float (quantised weights are not counted)"))
        elif len(shape) > 5:
            skipped.append((name, f"{len(shape)}-D tensor of shape {shape}: neither a matrix nor a kernel"))
        elif 0 in shape:
            skipped.append((name, f"empty tensor of shape {shape}"))
        else:
            entries.append(Entry(layer, parts, file, tuple(int(s) for s in shape), dtype))
    return entries, skipped
