"""``nn2graph degrees CHECKPOINT``: in- and out-degrees of every weight matrix of a checkpoint.

Reads a safetensors file, a sharded checkpoint (``*.safetensors.index.json`` and its shards,
or the folder holding them) or a PyTorch state-dict file, tensor by tensor in chunks, without
building the model.  Prints one line per weight matrix (shape, density, sparsity pattern, degree
ranges, sides whose degrees are constant and so not to be fitted) and writes the degree CSV
(columns layer, unit, degree; layers named ``<module>:in_degree`` and ``<module>:out_degree``),
which ``nn2graph fit`` and ``nn2graph sweep`` read.  Convolution kernels count one connection per
non-zero weight unless ``--conv`` gives their input size (then real connections, as
``nn2graph convert`` counts them).  See docs/checkpoints.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from nn2graph.exceptions import NN2GraphError


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "degrees", help="degrees of every weight matrix of a checkpoint (safetensors, sharded, state dict)",
        description=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", type=Path, metavar="CHECKPOINT",
                   help="a .safetensors file, a *.safetensors.index.json (or its folder), or a state-dict file")
    p.add_argument("--out", type=Path, default=None, metavar="F.csv",
                   help="degree CSV to write (default: <checkpoint name>.degrees.csv in this folder)")
    p.add_argument("--pattern", default=None,
                   help="only tensors whose name matches this shell pattern, e.g. 'model.layers.*.mlp.*'")
    p.add_argument("--conv", action="append", default=[], metavar="PATTERN=GEOMETRY",
                   help="input size and options of the kernels matching PATTERN, e.g. "
                   "'features.0.weight=32x32,padding=1' (repeatable; see docs/checkpoints.md)")
    p.add_argument("--json", type=Path, default=None, metavar="F", help="also write the per-layer report as JSON")
    p.add_argument("--chunk-mb", type=float, default=64.0, help="MiB of a tensor read at once (default: 64)")
    p.set_defaults(run=run)


def parse_conv(items: list[str]) -> dict:
    """``["PATTERN=GEOMETRY", ...]`` as ``{pattern: ConvInput}``."""
    from nn2graph.checkpoint import ConvInput

    out = {}
    for item in items:
        pattern, sep, geometry = item.partition("=")
        if not sep or not pattern or not geometry:
            raise NN2GraphError(f"--conv {item!r}: expected PATTERN=GEOMETRY, e.g. 'conv1.weight=28x28,padding=2'")
        out[pattern] = ConvInput.parse(geometry)
    return out


def default_name(path: Path) -> str:
    """A short name for a checkpoint: the folder's name for an index or a folder, else the file's stem.

    Examples
    --------
    >>> default_name(Path("llama/model.safetensors.index.json")), default_name(Path("run/ep3.pt"))
    ('llama', 'ep3')
    """
    if path.name.endswith(".safetensors.index.json") or path.is_dir():
        folder = path if path.is_dir() else path.parent
        return folder.resolve().name or "checkpoint"
    return path.name.split(".")[0] or path.name


def run(args: argparse.Namespace) -> int:
    import sys

    from nn2graph.checkpoint import checkpoint_degrees
    from nn2graph.degree_csv import write_degree_csv
    from nn2graph.result_files import write_json

    if args.chunk_mb <= 0:
        raise NN2GraphError(f"--chunk-mb {args.chunk_mb}: expected a positive size in MiB")
    result = checkpoint_degrees(args.checkpoint, pattern=args.pattern, conv=parse_conv(args.conv),
                                chunk_bytes=max(1, int(args.chunk_mb * (1 << 20))), progress=sys.stderr.isatty())
    print(result.summary())
    out = args.out or Path(f"{default_name(args.checkpoint)}.degrees.csv")
    write_degree_csv(out, result.degree_sets())
    print(f"wrote {out} ({len(result)} weight matrices, in- and out-degrees)")
    if args.json is not None:
        write_json(args.json, {"checkpoint": str(args.checkpoint), "format": result.format,
                               "layers": [e.to_dict() for e in result],
                               "skipped": [{"tensor": n, "reason": r} for n, r in result.skipped]})
    return 0
