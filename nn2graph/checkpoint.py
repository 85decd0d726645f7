"""Degrees of every weight matrix of a checkpoint, read tensor by tensor without building the model.

A checkpoint is a safetensors file, a sharded safetensors checkpoint (an
``*.safetensors.index.json`` whose ``weight_map`` names the shard of every tensor, the layout
``transformers`` writes) or a PyTorch state-dict file (``torch.save(model.state_dict())``,
read with ``torch.load(weights_only=True)``: tensors only, no code).

For a weight matrix ``W`` of shape (out, in), as :class:`torch.nn.Linear` stores it, the
**in-degree** of output unit ``j`` is the number of non-zero ``W[j, :]`` (its row) and the
**out-degree** of input ``i`` the number of non-zero ``W[:, i]`` (its column).  A convolution
kernel ``w`` (out, in / groups, *taps) counts, without its input size, one connection per
non-zero kernel weight; with its input size (:class:`ConvInput`) it counts the real
connections of the graph module (``docs/graph.md``): each non-zero tap times the number of
output positions at which it reads a real input pixel, computed by
:func:`nn2graph.handlers.conv_connections`.

Safetensors are opened with ``safe_open`` and read through ``get_slice``, a block of rows at a
time (``chunk_bytes``), so memory is bounded by a chunk and not by the model; the file is
re-opened every few chunks so that the pages of the memory map already read are released.
Layers come in the natural order of their names (``layers.2`` before ``layers.10``): writers
(``safetensors``, ``transformers``) sort the names of a header or an index as strings, so their
order is not the model's; natural order gives the model's blocks in sequence.  A torch file
keeps the order of its state dict (the model's registration order).
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from nn2graph.checkpoint_files import BITS, CheckpointError, Entry, list_tensors, select_weights
from nn2graph.sparsity import GroupCounter, SparsityPattern, sparsity_pattern

__all__ = ["CheckpointDegrees", "CheckpointError", "ConvInput", "MatrixDegrees", "checkpoint_degrees"]

#: Bytes of a tensor read at once by default.
CHUNK_BYTES = 64 << 20
@dataclass(frozen=True)
class ConvInput:
    """Geometry of a convolution, which a checkpoint does not store: its input size and options.

    Parameters
    ----------
    size : tuple of int
        Spatial size of the input the layer reads, e.g. ``(28, 28)`` (one value for Conv1d).
    stride, padding, dilation : int, tuple or str
        As :class:`torch.nn.Conv2d` takes them (``padding`` may be ``"same"`` or ``"valid"``).
    groups : int
        Groups of the convolution (the kernel stores ``in_channels / groups`` inputs).

    Examples
    --------
    >>> ConvInput.parse("28x28,padding=2")
    ConvInput(size=(28, 28), stride=1, padding=2, dilation=1, groups=1)
    """

    size: tuple[int, ...]
    stride: int | tuple[int, ...] = 1
    padding: int | tuple[int, ...] | str = 0
    dilation: int | tuple[int, ...] = 1
    groups: int = 1

    @classmethod
    def parse(cls, text: str) -> ConvInput:
        """Parse ``"HxW[,stride=S][,padding=P|same|valid][,dilation=D][,groups=G]"``.

        Tuples are written with ``x`` too (``padding=1x2``).
        """
        parts = [p.strip() for p in text.split(",")]
        try:
            options: dict[str, Any] = {"size": _ints(parts[0])}
            for part in parts[1:]:
                key, _, value = part.partition("=")
                if key not in ("stride", "padding", "dilation", "groups") or not value:
                    raise ValueError(f"unknown option {part!r}")
                if key == "padding" and value in ("same", "valid"):
                    options[key] = value
                else:
                    tup = _ints(value)
                    options[key] = tup[0] if len(tup) == 1 else tup
        except ValueError as error:
            raise CheckpointError(
                f"convolution geometry {text!r}: {error}; expected e.g. '28x28', '32x32,padding=1' or "
                "'56x56,stride=2,padding=same,dilation=1,groups=1'") from None
        return cls(**options)


def _ints(text: str) -> tuple[int, ...]:
    values = tuple(int(v) for v in text.lower().split("x"))
    if not values or min(values) < 0:
        raise ValueError(f"{text!r} is not a size")
    return values


@dataclass(frozen=True)
class MatrixDegrees:
    """In- and out-degrees of one weight matrix (or convolution kernel) of a checkpoint.

    Attributes
    ----------
    layer : str
        Module path (the tensor name without ``.weight``).
    tensor : str
        Name of the tensor in the file (``*.weight_orig`` times ``*.weight_mask`` for a
        ``torch.nn.utils.prune`` state dict: then the name of the ``weight_orig``).
    file : str
        File the tensor was read from.
    shape : tuple of int
        Shape of the tensor.
    dtype : str
        Its dtype (``float16``, ``bfloat16``, ...).
    kind : {"linear", "conv"}
        A 2-D matrix or a convolution kernel.
    counting : {"weights", "connections"}
        ``"weights"``: one connection per non-zero weight; ``"connections"``: a kernel counted
        with the graph module's rule (its :class:`ConvInput` was given).
    in_degree : numpy.ndarray of int64
        Per output unit (row, output channel).
    out_degree : numpy.ndarray of int64
        Per input (column, input channel).
    nonzero : int
        Non-zero weights.
    pattern : SparsityPattern
        Dense, N:M, per-row, per-column or unstructured (from the weights, not the degrees).
    """

    layer: str
    tensor: str
    file: str
    shape: tuple[int, ...]
    dtype: str
    kind: Literal["linear", "conv"]
    counting: Literal["weights", "connections"]
    in_degree: np.ndarray = field(repr=False, compare=False)
    out_degree: np.ndarray = field(repr=False, compare=False)
    nonzero: int
    pattern: SparsityPattern

    @property
    def density(self) -> float:
        """Share of non-zero weights."""
        return self.pattern.density

    def not_fitted(self, side: Literal["in", "out"]) -> str | None:
        """Why the ``side`` degrees are not to be fitted (constant or dense), or None.

        Examples
        --------
        >>> p = SparsityPattern("per-row", 0.5, None, 2, None)
        >>> m = MatrixDegrees("fc", "fc.weight", "f", (2, 4), "float32", "linear", "weights",
        ...                   np.array([2, 2]), np.array([1, 2, 0, 1]), 4, p)
        >>> m.not_fitted("in"), m.not_fitted("out") is None
        ('in-degree is 2 for every unit (per-row: every row keeps 2 non-zeros (density 0.500))', True)
        """
        values = self.in_degree if side == "in" else self.out_degree
        what = "in-degree" if side == "in" else "out-degree"
        if self.pattern.kind == "dense":
            return f"dense layer: every {what} is fixed by the shape"
        if values.size and np.all(values == values[0]):
            unit = "unit" if side == "in" else "input"
            return f"{what} is {int(values[0])} for every {unit} ({self.pattern.describe()})"
        return None

    def degree_sets(self) -> dict[str, np.ndarray]:
        """``{"<layer>:in_degree": ..., "<layer>:out_degree": ...}``, the names of the degree CSV."""
        return {f"{self.layer}:in_degree": self.in_degree, f"{self.layer}:out_degree": self.out_degree}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (without the degree arrays)."""
        return {"layer": self.layer, "tensor": self.tensor, "file": self.file, "shape": list(self.shape),
                "dtype": self.dtype, "kind": self.kind, "counting": self.counting, "nonzero": self.nonzero,
                "pattern": self.pattern.to_dict(),
                "not_fitted": {side: self.not_fitted(side) for side in ("in", "out")}}


@dataclass(frozen=True)
class CheckpointDegrees:
    """Degrees of every selected weight matrix of one checkpoint, in the model's layer order.

    Attributes
    ----------
    source : str
        The path given.
    format : {"safetensors", "sharded safetensors", "torch"}
    layers : tuple of MatrixDegrees
    skipped : tuple of (str, str)
        Tensors named ``*weight`` that were not counted, with the reason (e.g. integer dtype).
    """

    source: str
    format: str
    layers: tuple[MatrixDegrees, ...]
    skipped: tuple[tuple[str, str], ...] = ()

    def __iter__(self) -> Iterator[MatrixDegrees]:
        return iter(self.layers)

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, layer: str) -> MatrixDegrees:
        for entry in self.layers:
            if entry.layer == layer:
                return entry
        raise KeyError(f"{layer!r} is not a layer of {self.source} (layers: {', '.join(self.names[:5])}, ...)")

    @property
    def names(self) -> list[str]:
        """Layer names in order."""
        return [entry.layer for entry in self.layers]

    def degree_sets(self) -> dict[str, np.ndarray]:
        """Every layer's in- then out-degrees, named as in the degree CSV (``layer:in_degree``)."""
        return {name: values for entry in self.layers for name, values in entry.degree_sets().items()}

    def summary(self) -> str:
        """A table: layer, shape, density, sparsity pattern, degree ranges, sides not fitted."""
        head = ["layer", "shape", "density", "pattern", "in-degree", "out-degree", "not fitted"]
        rows = []
        for e in self.layers:
            constant = [s for s in ("in", "out") if e.not_fitted(s)]
            rows.append([e.layer, "x".join(map(str, e.shape)), f"{e.density:.3f}",
                         f"{e.pattern.n_m[0]}:{e.pattern.n_m[1]}" if e.pattern.n_m else e.pattern.kind,
                         _span(e.in_degree), _span(e.out_degree), ",".join(constant) or "-"])
        widths = [max(len(head[i]), *(len(r[i]) for r in rows)) if rows else len(head[i]) for i in range(len(head))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [head, *rows]]
        lines += [f"skipped {name}: {why}" for name, why in self.skipped]
        return "\n".join(lines)


def _span(values: np.ndarray) -> str:
    return f"{int(values.min())}-{int(values.max())}" if values.size else "-"


# --------------------------------------------------------------------------------------------
# counting


class _Scratch:
    """Buffers reused from chunk to chunk (a fresh array per chunk costs its page faults every time)."""

    def __init__(self) -> None:
        self._buffers: dict[str, np.ndarray] = {}

    def array(self, key: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        size = math.prod(shape) * np.dtype(dtype).itemsize
        buf = self._buffers.get(key)
        if buf is None or buf.size < size:
            buf = self._buffers[key] = np.empty(size, dtype=np.uint8)
        return buf[:size].view(dtype).reshape(shape)


def _mask(entry: Entry, reader: Any, start: int, stop: int, scratch: _Scratch) -> np.ndarray:
    """Boolean non-zero mask of rows start:stop, flattened per row; NaN/inf are an error.

    The mask lives in ``scratch``: it is valid until the next call.
    """
    import torch

    view, unsigned, magnitude, nonfinite = BITS[entry.dtype]
    chunk = reader.rows(entry, entry.parts[0], start, stop)
    if len(entry.parts) == 2:  # torch.nn.utils.prune: weight_orig * weight_mask
        chunk = (chunk * reader.rows(entry, entry.parts[1], start, stop)).to(chunk.dtype)
    raw = chunk.contiguous().view(getattr(torch, view)).numpy().view(unsigned).reshape(stop - start, -1)
    bits = np.bitwise_and(raw, unsigned(magnitude), out=scratch.array("bits", raw.shape, unsigned))  # -0.0 is 0
    if bits.size and bits.max() >= nonfinite:
        bad = int(np.count_nonzero(bits >= nonfinite))
        raise CheckpointError(f"{entry.file}: tensor '{entry.parts[0]}' has {bad} NaN or infinite weight(s) in "
                              f"rows {start}:{stop}: degrees need finite weights (check the file)")
    return np.not_equal(bits, 0, out=scratch.array("mask", bits.shape, bool))


def _row_counts(mask: np.ndarray) -> np.ndarray:
    """Non-zeros of each row of a boolean mask (popcounts of 8 mask bytes at a time when rows allow)."""
    if mask.shape[1] % 8 == 0:
        return np.add.reduce(np.bitwise_count(mask.view(np.uint64)), axis=1, dtype=np.int64)
    return np.add.reduce(mask.view(np.uint8), axis=1, dtype=np.int64)


def _column_counts(mask: np.ndarray, out: np.ndarray) -> None:
    """Add the non-zeros of each column of a boolean mask to ``out`` (uint8 sums of <= 255 rows)."""
    u8 = mask.view(np.uint8)
    for s in range(0, u8.shape[0], 255):
        out += np.add.reduce(u8[s: s + 255], axis=0, dtype=np.uint8)


def _chunks(n_rows: int, row_bytes: int, chunk_bytes: int, multiple: int = 1) -> Iterator[tuple[int, int]]:
    """Row ranges of about chunk_bytes each (at least one row; a multiple of ``multiple`` rows)."""
    step = max(1, chunk_bytes // max(row_bytes, 1))
    step = max(multiple, step - step % multiple)
    for start in range(0, n_rows, step):
        yield start, min(n_rows, start + step)


def _count_linear(entry: Entry, reader: Any, chunk_bytes: int, bar: Any, scratch: _Scratch) -> MatrixDegrees:
    n_out, n_in = entry.shape
    row_bytes = n_in * np.dtype(BITS[entry.dtype][1]).itemsize * len(entry.parts)
    rows = np.empty(n_out, dtype=np.int64)
    columns = np.zeros(n_in, dtype=np.int64)
    counter = GroupCounter(n_in)
    for start, stop in _chunks(n_out, row_bytes, chunk_bytes):
        mask = _mask(entry, reader, start, stop, scratch)
        rows[start:stop] = _row_counts(mask)
        _column_counts(mask, columns)
        counter.add(mask)
        if bar is not None:
            bar.update((stop - start) * row_bytes)
    pattern = sparsity_pattern(rows, columns, n_out * n_in, counter)
    return MatrixDegrees(layer=entry.layer, tensor=entry.parts[0], file=str(entry.file), shape=entry.shape,
                         dtype=entry.dtype, kind="linear", counting="weights", in_degree=rows,
                         out_degree=columns, nonzero=int(rows.sum()), pattern=pattern)


def _conv_geometry(entry: Entry, geometry: ConvInput) -> tuple[Any, tuple[int, ...], tuple[int, ...]]:
    """(meta-device module, input shape, output shape) of a kernel read with ``geometry``."""
    import torch
    from torch import nn

    dims = len(entry.shape) - 2
    name = entry.parts[0]
    if len(geometry.size) != dims:
        raise CheckpointError(f"tensor '{name}' is a {dims}-D kernel {entry.shape} but its input size "
                              f"{geometry.size} has {len(geometry.size)} dimension(s)")
    n_out, per_group = entry.shape[:2]
    if geometry.groups < 1 or n_out % geometry.groups:
        raise CheckpointError(f"tensor '{name}' has {n_out} output channels, not a multiple of "
                              f"groups={geometry.groups}")
    in_shape = (1, per_group * geometry.groups, *geometry.size)
    try:
        module = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}[dims](
            in_shape[1], n_out, entry.shape[2:], stride=geometry.stride, padding=geometry.padding,
            dilation=geometry.dilation, groups=geometry.groups, bias=False, device="meta")
        out_shape = tuple(module(torch.empty(in_shape, device="meta")).shape)
    except (KeyError, RuntimeError, ValueError, TypeError) as error:
        raise CheckpointError(f"tensor '{name}' (kernel {entry.shape}) cannot read an input of size "
                              f"{geometry.size} with {geometry}: {error}") from None
    return module, in_shape, out_shape


def _count_conv(entry: Entry, reader: Any, geometry: ConvInput | None, chunk_bytes: int,
                bar: Any, scratch: _Scratch) -> MatrixDegrees:
    import torch

    from nn2graph.handlers import conv_connections

    n_out, per_group = entry.shape[:2]
    taps = math.prod(entry.shape[2:])
    groups = 1
    if geometry is not None:
        module, in_shape, out_shape = _conv_geometry(entry, geometry)
        groups = geometry.groups
        channels = np.arange(in_shape[1], dtype=np.int64)  # every input channel is its own source
    out_per_group = n_out // groups
    row_bytes = per_group * taps * np.dtype(BITS[entry.dtype][1]).itemsize * len(entry.parts)
    rows = np.empty(n_out, dtype=np.int64)
    weights_out = np.zeros(per_group * groups, dtype=np.int64)  # non-zero weights per input channel
    in_degree = np.zeros(n_out, dtype=np.int64)
    out_degree = np.zeros(per_group * groups, dtype=np.int64)
    counter = GroupCounter(per_group)
    for start, stop in _chunks(n_out, row_bytes, chunk_bytes, 1 if groups == 1 else out_per_group):
        mask = _mask(entry, reader, start, stop, scratch)
        rows[start:stop] = _row_counts(mask)
        by_channel = np.add.reduce(mask.reshape(stop - start, per_group, taps).view(np.uint8), axis=2,
                                   dtype=np.int64)
        n_groups = (stop - start) // out_per_group if groups > 1 else 1  # groups of the chunk
        first = start // out_per_group * per_group if groups > 1 else 0  # its first input channel
        last = first + n_groups * per_group
        weights_out[first:last] += by_channel.reshape(n_groups, -1, per_group).sum(axis=1).ravel()
        counter.add(np.ascontiguousarray(mask.reshape(stop - start, per_group, taps).transpose(0, 2, 1)))
        if geometry is not None:  # the graph module's count, on the chunk's output channels
            kernel = torch.from_numpy(mask.reshape(stop - start, *entry.shape[1:])).to(torch.float64)
            part = _conv_part(module, n_groups, stop - start)
            for block in conv_connections(part, kernel, channels[first:last], channels.size,
                                          (1, last - first, *in_shape[2:]), (1, stop - start, *out_shape[2:])):
                in_degree[start:stop] += np.bincount(block.target, weights=block.multiplicity,
                                                     minlength=stop - start).astype(np.int64)
                out_degree += np.bincount(block.source, weights=block.multiplicity,
                                          minlength=out_degree.size).astype(np.int64)
        if bar is not None:
            bar.update((stop - start) * row_bytes)
    pattern = sparsity_pattern(rows, weights_out, n_out * per_group * taps, counter)
    if geometry is None:
        in_degree, out_degree = rows, weights_out
    return MatrixDegrees(layer=entry.layer, tensor=entry.parts[0], file=str(entry.file), shape=entry.shape,
                         dtype=entry.dtype, kind="conv", counting="weights" if geometry is None else "connections",
                         in_degree=in_degree, out_degree=out_degree, nonzero=int(rows.sum()), pattern=pattern)


def _conv_part(module: Any, n_groups: int, n_out: int) -> Any:
    """The same convolution restricted to ``n_groups`` of its groups (``n_out`` output channels)."""
    return type(module)(module.in_channels // module.groups * n_groups, n_out, module.kernel_size,
                        stride=module.stride, padding=module.padding, dilation=module.dilation,
                        groups=n_groups, bias=False, device="meta")


# --------------------------------------------------------------------------------------------
# the public entry point


def checkpoint_degrees(
    path: str | Path,
    *,
    pattern: str | None = None,
    conv: Mapping[str, ConvInput] | None = None,
    chunk_bytes: int = CHUNK_BYTES,
    progress: bool = False,
) -> CheckpointDegrees:
    """In- and out-degrees of every weight matrix and kernel of a checkpoint, tensor by tensor.

    Parameters
    ----------
    path : str or Path
        A ``.safetensors`` file, a ``*.safetensors.index.json`` with its shards, a folder holding
        one of those, or a PyTorch state-dict file.
    pattern : str, optional
        Shell-style pattern on tensor names (``"model.layers.*.mlp.*"``); by default every tensor
        whose name ends in ``weight`` with at least two dimensions.
    conv : mapping of str to ConvInput, optional
        Input size and options of convolution kernels, by tensor-name pattern (the first that
        matches); those kernels are counted with the graph module's rule, the others one
        connection per non-zero weight.
    chunk_bytes : int
        Bytes of a tensor read at once (at least one row).
    progress : bool
        Show a progress bar (bytes) on stderr.

    Returns
    -------
    CheckpointDegrees

    Raises
    ------
    CheckpointError
        A missing or unreadable file or shard, a tensor missing from its shard, a pickled object
        that is not a plain state dict, NaN/inf weights, a pattern that matches nothing, a
        ``conv`` entry that matches no kernel or does not fit it.

    Examples
    --------
    >>> import tempfile, torch
    >>> from safetensors.torch import save_file
    >>> w = torch.tensor([[1., 0., 2.], [0., 0., 3.]])
    >>> file = Path(tempfile.mkdtemp()) / "model.safetensors"
    >>> save_file({"fc.weight": w, "fc.bias": torch.zeros(2)}, file)
    >>> result = checkpoint_degrees(file)
    >>> fc = result["fc"]
    >>> fc.in_degree.tolist(), fc.out_degree.tolist(), fc.pattern.kind
    ([2, 1], [1, 0, 2], 'unstructured')
    """
    path = Path(path)
    if int(chunk_bytes) != chunk_bytes or chunk_bytes < 1:
        raise CheckpointError(f"chunk_bytes={chunk_bytes!r}: expected a positive number of bytes")
    for key, value in (conv or {}).items():
        if not isinstance(value, ConvInput):
            raise CheckpointError(f"conv[{key!r}] is a {type(value).__name__}: expected a ConvInput "
                                  "(e.g. ConvInput((28, 28), padding=2))")
    fmt, tensors, reader = list_tensors(path)
    entries, skipped = select_weights(tensors, pattern)
    if not entries:
        sample = ", ".join(t[0] for t in tensors[:5])
        what = f"matches none of its weights (pattern {pattern!r})" if pattern else "has no weight matrix"
        raise CheckpointError(f"{path} {what}; tensors: {sample}{', ...' if len(tensors) > 5 else ''}")
    geometry: dict[str, ConvInput] = {}
    for key, value in (conv or {}).items():
        hits = [e for e in entries if fnmatch.fnmatchcase(e.parts[0], key)]
        if not hits:
            raise CheckpointError(f"conv pattern {key!r} matches no selected tensor of {path}")
        for e in hits:
            if len(e.shape) == 2:
                raise CheckpointError(f"conv pattern {key!r} matches '{e.parts[0]}', a 2-D matrix, not a kernel")
            geometry.setdefault(e.layer, value)
    from tqdm.auto import tqdm

    total = sum(math.prod(e.shape) * np.dtype(BITS[e.dtype][1]).itemsize * len(e.parts) for e in entries)
    layers = []
    scratch = _Scratch()
    try:
        with tqdm(total=total, unit="B", unit_scale=True, desc="degrees", disable=not progress, leave=False) as bar:
            for entry in entries:
                if len(entry.shape) == 2:
                    layers.append(_count_linear(entry, reader, int(chunk_bytes), bar, scratch))
                else:
                    layers.append(_count_conv(entry, reader, geometry.get(entry.layer), int(chunk_bytes), bar,
                                              scratch))
    finally:
        reader.close()
    return CheckpointDegrees(source=str(path), format=fmt, layers=tuple(layers), skipped=tuple(skipped))
