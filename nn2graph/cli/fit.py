"""``nn2graph fit DEGREES.csv``: discrete truncated power-law fits of degree columns.

The CSV is the degree CSV every command writes (columns layer, unit, degree; see
docs/fits.md); files of earlier versions (unit,degree per layer; name,in,out,...) are read
too, and ``--column`` picks another column of any CSV with a header.  Each layer is fitted on
its own, in the order the layers first appear, with the same analysis as ``nn2graph compare``
and ``nn2graph reproduce`` (the same degrees and seed give the same numbers).  With
``--pvalue`` each layer also gets the power-law verdict (supported, inconclusive or rejected)
and its reasons (docs/fits.md).  Layers with
fewer than 10 nodes of positive degree or fewer than 3 distinct positive degrees are reported,
not fitted.  Prints a table; ``--json`` and ``--plot`` write the results and the figure.
"""

from __future__ import annotations

import argparse
import math

from nn2graph.cli.options import add_jobs_argument, input_file, output_file
from nn2graph.exceptions import NN2GraphError
from nn2graph.result_files import write_json


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "fit", help="fit discrete truncated power laws to degrees in a CSV file",
        description=__doc__.split("\n\n", 1)[1].replace("``", "'"), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("csv", type=input_file, metavar="DEGREES.csv", help="CSV file with a header")
    p.add_argument("--column", default="degree", metavar="NAME", help="column holding the degrees (default: degree)")
    p.add_argument("--layer-column", default="layer", metavar="NAME",
                   help="column naming each row's layer; fit layers separately when present (default: layer)")
    p.add_argument("--xmin", type=int, default=None, metavar="N", help="fix xmin (default: searched)")
    p.add_argument("--xmax", type=_xmax, default=None, metavar="N|inf", help="fix xmax, or 'inf' for the untruncated law")
    p.add_argument("--search-fraction", type=float, default=None, metavar="F",
                   help="share of smallest/largest degrees giving xmin/xmax candidates (default: 0.3; every "
                   "distinct value with --xmax inf)")
    p.add_argument("--ks", choices=("integers", "data"), default="integers", help="KS convention (default: integers)")
    p.add_argument("--pvalue", action="store_true",
                   help="bootstrap p-value of each fit and the power-law verdict with its reasons")
    p.add_argument("--method", choices=("widest", "paper"), default="widest",
                   help="window of the verdict: the widest that fits (default) or the paper's minimum-D fit")
    p.add_argument("--n-boot", type=int, default=2500, metavar="N", help="synthetic sets for --pvalue (default: 2500)")
    add_jobs_argument(p)
    p.add_argument("--seed", type=int, default=0, metavar="S", help="random seed of the bootstrap (default: 0)")
    p.add_argument("--json", type=output_file("fits.json"), default=None, metavar="FILE", help="write the results as JSON")
    p.add_argument("--plot", type=output_file("fits.png"), default=None, metavar="FILE", help="write the CCDF panels (e.g. fits.png)")
    p.set_defaults(run=run)


def _xmax(text: str) -> float:
    if text.strip().lower() in ("inf", "infinity"):
        return math.inf
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer or 'inf', got {text!r}") from None


def run(args: argparse.Namespace) -> int:
    from analysis import FitError, analyse_degrees, plot_analyses
    from nn2graph.degree_csv import read_degree_csv

    by_layer = read_degree_csv(args.csv, column=args.column, layer_column=args.layer_column)
    options = {"xmin": args.xmin, "xmax": args.xmax, "search_fraction": args.search_fraction, "ks": args.ks}
    analyses = {}
    for layer, degrees in by_layer.items():
        try:
            analyses[layer] = analyse_degrees(degrees, n_boot=args.n_boot if args.pvalue else 0, seed=args.seed,
                                              n_jobs=args.jobs, method=args.method, progress=True, **options)
        except FitError as error:
            raise NN2GraphError(f"{args.csv}: layer {layer!r}: {error}") from None
    print(format_table(analyses, with_p=args.pvalue))
    if args.pvalue:
        print(format_reasons(analyses))
    if args.json is not None:
        write_json(args.json, {"file": str(args.csv), "column": args.column,
                               "options": options | {"method": args.method},
                               "layers": {layer: a.to_dict() for layer, a in analyses.items()}})
    if args.plot is not None:
        plot_analyses(analyses, path=args.plot, title=args.csv.name)
    return 1 if any(not a.fitted for a in analyses.values()) else 0


def format_table(analyses: dict, *, with_p: bool) -> str:
    """The fits as an aligned text table, one row per layer; degenerate layers say why."""
    head = ["layer", "n", "zeros", "xmin", "xmax", "alpha", "D", "tail", "edge"] + (["p", "±"] if with_p else []) \
        + ["best law", "verdict"]
    rows = []
    for layer, a in analyses.items():
        if not a.fitted:
            rows.append([layer, str(a.n), str(a.n_zero), "not fitted: " + a.not_fitted])
            continue
        f = a.fit
        xmax = "inf" if math.isinf(f.xmax) else str(f.xmax)
        row = [layer, str(f.n), str(f.n_zero_dropped), str(f.xmin), xmax, f"{f.alpha:.4f}", f"{f.ks_distance:.4f}",
               f"{f.n_tail} ({100 * f.tail_fraction:.0f}%)", ",".join(f.on_search_edge) or "-"]
        if with_p:
            row += [f"{a.pvalue.p_value:.3f}", f"{a.pvalue.std_error:.3f}"]
        rows.append(row + [a.best, a.verdict if a.evidence is not None else "- (with --pvalue)"])
    widths = [max([len(head[i]), *(len(r[i]) for r in rows if len(r) == len(head))]) for i in range(len(head))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths)).rstrip()]
    for r in rows:
        lines.append(("  ".join(c.ljust(w) for c, w in zip(r, widths)) if len(r) == len(head)
                      else "  ".join(c.ljust(w) for c, w in zip(r[:3], widths)) + "  " + r[3]).rstrip())
    return "\n".join(lines)


def format_reasons(analyses: dict) -> str:
    """The verdict of each fitted layer with its window and one line per reason."""
    lines = []
    for layer, a in analyses.items():
        if a.evidence is None:
            continue
        f = a.evidence.fit
        xmax = "inf" if math.isinf(f.xmax) else str(f.xmax)
        lines.append(f"{layer}: {a.summary()} (method {a.evidence.method}, window [{f.xmin}, {xmax}], "
                     f"alpha {f.alpha:.3f})")
        lines += [f"  - {reason}" for reason in a.evidence.reasons]
    return "\n".join(lines)
