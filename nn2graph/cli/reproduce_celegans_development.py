"""``nn2graph reproduce celegans-development``: preferential attachment across Witvliet's stages."""

from __future__ import annotations

import argparse
from pathlib import Path

from nn2graph.cli.options import add_jobs_argument, positive_int


def _stages(text: str) -> tuple[int, ...]:
    """Parse ``1-8`` or ``1,2,5`` into dataset numbers."""
    try:
        if "-" in text:
            first, last = (int(v) for v in text.split("-", 1))
            if last < first:
                raise argparse.ArgumentTypeError(f"{text!r}: the range runs backwards; give e.g. {last}-{first}")
            return tuple(range(first, last + 1))
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a range such as 1-8 or a list such as 1,2,5") from None


def add_target(subparsers) -> None:
    """Register the ``celegans-development`` target."""
    p = subparsers.add_parser(
        "celegans-development",
        help="internal preferential attachment across the Witvliet C. elegans stages",
        description="Take Witvliet et al.'s eight C. elegans brains (datasets 1-8, birth to adult) as snapshots "
        "of one network (neurons matched by name) and measure Delta and Omega of every transition, gains and "
        "losses separately, counting synapses and connected pairs; fit each stage's degree distribution. Writes "
        "metrics.json, CSVs, figures/ and report.md into --out (stage fits are reused on a rerun).",
    )
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder")
    p.add_argument("--stages", type=_stages, default=tuple(range(1, 9)),
                   help="datasets in order: a range 1-8 (default) or a list 1,4,8")
    p.add_argument("--synapses", default="chemical", choices=["chemical", "electrical"],
                   help="connections analysed (default chemical)")
    p.add_argument("--bins", default="log", choices=["exact", "log", "quantile"], help="degree bins (default log)")
    p.add_argument("--n-bins", type=positive_int, default=8, metavar="N", help="number of log or quantile bins (default 8)")
    p.add_argument("--degree", default="total", choices=["total", "out-in"],
                   help="pair degrees of Delta (default total)")
    p.add_argument("--n-boot", type=int, default=2500, metavar="N", help="bootstrap sets per stage p-value (default 2500)")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="bootstrap seed (default 0)")
    add_jobs_argument(p)
    p.add_argument("--restart", action="store_true", help="delete the files of the run in --out and start over")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run the analysis; returns the exit code."""
    from experiments.celegans_development import reproduce_celegans_development

    metrics = reproduce_celegans_development(args.out, stages=args.stages, synapses=args.synapses, bins=args.bins,
                                             n_bins=args.n_bins, degree=args.degree, n_boot=args.n_boot,
                                             seed=args.seed, n_jobs=args.jobs, restart=args.restart,
                                             progress=True)
    for row in metrics["attachment"]["synapses"]:
        print(f"{row['transition']}: gained {row['gained']:.0f}, lost {row['lost']:.0f} synapses; Omega gains slope "
              f"{row['gains_origin_slope']:.3g} (eq. 5: {row['gains_predicted_slope']:.3g}), r2 {row['gains_origin_r2']:.3f}")
    print(f"wrote {args.out}/report.md, metrics.json, CSVs and figures/")
    return 0
