"""``nn2graph reproduce TARGET``: rerun one of the paper's experiments end to end.

Each target lives in a module of its own that defines ``add_target(subparsers)``; the
parser it adds sets ``run`` like a top-level command.  Register a target by adding its
module to :data:`TARGET_MODULES`.
"""

from __future__ import annotations

import importlib

#: Modules that contribute a reproduction target, in the order ``--help`` lists them.
TARGET_MODULES: tuple[str, ...] = (
    "nn2graph.cli.reproduce_static",
    "nn2graph.cli.reproduce_continual",
    "nn2graph.cli.reproduce_celegans_development",
    "nn2graph.cli.reproduce_dst",
    "nn2graph.cli.reproduce_ablation",
)


def add_parser(subparsers) -> None:
    """Register the ``reproduce`` command and its targets."""
    parser = subparsers.add_parser(
        "reproduce",
        help="rerun one of the paper's experiments: train, prune, convert, fit, report",
        description="Rerun one of the paper's experiments and write its metrics.json, degree CSVs, "
        "figures, GraphML and report.md (the paper's numbers beside ours) into --out.",
    )
    targets = parser.add_subparsers(dest="target", metavar="TARGET", required=True)
    for name in TARGET_MODULES:
        importlib.import_module(name).add_target(targets)

