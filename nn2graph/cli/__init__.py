"""Command-line interface: ``nn2graph <command> ...``.

Each command lives in a module of its own that defines ``add_parser(subparsers)``;
the parser it adds sets ``run`` (a function taking the parsed arguments and returning
an exit code).  Heavy imports (torch, matplotlib) stay inside the ``run`` functions so
that ``nn2graph --help`` answers at once.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from nn2graph.exceptions import NN2GraphError

#: Modules that contribute a sub-command, in the order ``--help`` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "nn2graph.cli.demo",
    "nn2graph.cli.reproduce",
    "nn2graph.cli.train",
    "nn2graph.cli.convert",
    "nn2graph.cli.degrees",
    "nn2graph.cli.fit",
    "nn2graph.cli.sweep",
    "nn2graph.cli.attachment",
    "nn2graph.cli.compare",
    "nn2graph.cli.connectomes",
)


def build_parser() -> argparse.ArgumentParser:
    """Return the top-level parser with every sub-command registered."""
    parser = argparse.ArgumentParser(
        prog="nn2graph",
        description="Deep networks as graphs: degrees, truncated power laws, preferential attachment.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except NN2GraphError as error:
        print(f"nn2graph {args.command}: error: {error}", file=sys.stderr)
        return 2
