"""``nn2graph sweep SOURCES... --out DIR``: every layer of many checkpoints fitted, tested and judged.

SOURCES are checkpoints (a .safetensors file, a *.safetensors.index.json or its folder, a
state-dict file) and degree CSV files (columns layer, unit, degree, as ``nn2graph degrees`` and
``nn2graph convert --degrees`` write).  For every degree set (a checkpoint layer's in- and
out-degrees) the sweep fits a discrete truncated power law, tests its goodness of fit and gives a
verdict with its reasons (supported, inconclusive, rejected; as analysis.assess_power_law); sets with constant degrees (dense, per-row or N:M pruned layers) are reported, not
fitted.  DIR gets sweep.csv (one row per source and degree set), figures/ (one CCDF figure per
source) and the caches that make a second run with the same DIR resume where the first stopped.

Tasks run on local worker processes by default (Dask, nothing to set up); ``--scheduler
tcp://HOST:8786`` uses an existing Dask scheduler, ``--scheduler synchronous`` this process only.
The numbers do not depend on where tasks run.  See docs/checkpoints.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from nn2graph.cli.options import add_bootstrap_arguments, add_out_argument, add_restart_argument


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "sweep", help="fits, p-values and verdicts for every layer of many checkpoints or degree files (Dask)",
        description=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("sources", nargs="+", type=Path, metavar="SOURCE", help="checkpoints and degree CSV files")
    add_out_argument(p, "sweep folder (created; resumable)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="address of a Dask scheduler, or 'synchronous' (default: local worker processes)")
    p.add_argument("--workers", type=int, default=None, help="local worker processes (default: every core)")
    p.add_argument("--method", choices=("widest", "paper"), default="widest",
                   help="how the fitted window is chosen (default: widest; see docs/fits.md)")
    add_bootstrap_arguments(p, skip=False, seed_default=None, seed_help="the sweep's seed (default: drawn and saved in DIR)")
    p.add_argument("--p-threshold", type=float, default=0.1, help="verdict threshold on p (default: 0.1)")
    p.add_argument("--pattern", default=None, help="only checkpoint tensors matching this shell pattern")
    p.add_argument("--conv", action="append", default=[], metavar="PATTERN=GEOMETRY",
                   help="input size of the kernels matching PATTERN, e.g. 'conv1.weight=28x28,padding=2'")
    add_restart_argument(p)
    p.add_argument("--no-figures", action="store_true", help="do not draw the per-source figures")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from analysis.sweep import sweep
    from nn2graph.cli.degrees import parse_conv

    table = sweep(args.sources, out=args.out, scheduler=args.scheduler, n_workers=args.workers,
                  pattern=args.pattern, conv=parse_conv(args.conv) or None, method=args.method, n_boot=args.n_boot, seed=args.seed,
                  p_threshold=args.p_threshold, figures=not args.no_figures, restart=args.restart)
    shown = table[["source", "layer", "n", "pattern", "alpha", "xmin", "xmax", "pvalue", "summary"]].copy()
    for col, fmt in (("alpha", "{:.3f}"), ("pvalue", "{:.3f}")):
        shown[col] = [fmt.format(v) if v is not None and v == v else "-" for v in shown[col]]
    print(shown.fillna("-").to_string(index=False))
    print(f"wrote {args.out / 'sweep.csv'} ({len(table)} rows: {table.attrs['computed']} computed, "
          f"{table.attrs['reused']} from earlier runs)")
    return 0
