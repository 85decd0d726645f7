"""``nn2graph reproduce ablation RUN...``: finished runs of several training profiles side by side.

The work is :func:`experiments.profile_ablation.profile_ablation`; this module only parses options.
"""

from __future__ import annotations

import argparse


def add_target(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``ablation`` target of ``nn2graph reproduce``."""
    parser = subparsers.add_parser(
        "ablation", help="compare finished runs of the training profiles (accuracies, degrees, fits, attachment)",
        description="Read finished run folders of 'nn2graph reproduce mlp-mnist|cnn-mnist|cnn-cifar10' and "
                    "'nn2graph reproduce continual' (any profiles and seeds; each folder's profile and seed come "
                    "from its run.json) and write ablation.csv (one row per run and layer: test accuracies, "
                    "epochs run, degree range, TPL window, alpha, p, verdict; continual runs also Figure 7's "
                    "elasticity and Figure 8's Omega lines), ablation.md (mean ± sd over the seeds per model, "
                    "profile and layer, verdict counts) and figure-ablation-ccdf.png (the profiles' degree CCDFs "
                    "overlaid per layer) into --out.")
    parser.add_argument("runs", nargs="+", metavar="RUN", help="a finished run folder (the --out of a reproduce run)")
    parser.add_argument("--out", default="runs/ablation", metavar="DIR", help="output folder (default runs/ablation)")
    parser.add_argument("--skip-unfinished", action="store_true",
                        help="leave out runs that have not finished (listed in ablation.md) instead of refusing")
    parser.add_argument("--restart", action="store_true",
                        help="replace the ablation of other run folders that --out holds")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run ``nn2graph reproduce ablation`` and print the summary's location and the runs read."""
    from experiments.profile_ablation import profile_ablation

    result = profile_ablation(args.runs, out=args.out, skip_unfinished=args.skip_unfinished, restart=args.restart)
    for run_ in result.runs:
        print(f"{run_.model} profile {run_.profile} seed {run_.seed}: {run_.path}")
    for folder in result.skipped:
        print(f"left out (unfinished): {folder}")
    print(f"wrote {', '.join(p.name for p in result.files)} into {result.out}/")
    return 0
