"""``nn2graph fit DEGREES.csv``: discrete truncated power-law fits of degree columns.

The CSV needs a header.  The degrees are in column ``degree`` (``--column``); when the file
has a ``layer`` column (``--layer-column``), as ``nn2graph convert --degrees`` writes
(columns layer, unit, degree), each layer is fitted on its own, in the order the layers
first appear.  Prints a table; ``--json`` and ``--plot`` write the results and the figure.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
import warnings
from pathlib import Path

from nn2graph.cli.options import input_file, output_file
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
    p.add_argument("--search-fraction", type=float, default=0.3, metavar="F",
                   help="share of smallest/largest degrees giving xmin/xmax candidates (default: 0.3)")
    p.add_argument("--ks", choices=("integers", "data"), default="integers", help="KS convention (default: integers)")
    p.add_argument("--pvalue", action="store_true", help="bootstrap p-value of each fit")
    p.add_argument("--n-boot", type=int, default=2500, metavar="N", help="synthetic sets for --pvalue (default: 2500)")
    p.add_argument("--n-jobs", type=int, default=None, help="processes for --pvalue (default: every core)")
    p.add_argument("--seed", type=int, default=None, metavar="S", help="random seed for --pvalue")
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


def read_degree_columns(path: Path, column: str, layer_column: str) -> dict[str, list[float]]:
    """Degrees by layer (one entry named after the column when there is no layer column)."""
    if not path.is_file():
        raise NN2GraphError(f"{path}: no such file")
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        fields = reader.fieldnames or []
        if column not in fields:
            raise NN2GraphError(f"{path}: no column {column!r} (columns: {', '.join(fields) or 'none'}); "
                                "choose one with --column")
        by_layer: dict[str, list[float]] = {}
        for line, row in enumerate(reader, start=2):
            text = (row.get(column) or "").strip()
            try:
                value = float(text)
            except ValueError:
                raise NN2GraphError(f"{path}, line {line}: {column}={text!r} is not a number") from None
            layer = row[layer_column] if layer_column in fields else column
            by_layer.setdefault(layer, []).append(value)
    if not by_layer:
        raise NN2GraphError(f"{path}: no rows below the header")
    return by_layer


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from analysis import FitError, fit_tpl, plot_layer_fits, tpl_pvalue

    by_layer = read_degree_columns(args.csv, args.column, args.layer_column)
    options = {"xmin": args.xmin, "xmax": args.xmax, "search_fraction": args.search_fraction, "ks": args.ks}
    degrees, fits, pvalues, results, failed = {}, {}, {}, {}, 0
    for layer, values in by_layer.items():
        deg = np.asarray(values)
        degrees[layer] = deg
        try:
            with warnings.catch_warnings(record=True):
                warnings.simplefilter("always")
                fit = fit_tpl(deg, **options)
            entry = {"fit": fit.to_dict()}
            if args.pvalue:
                res = tpl_pvalue(deg, fit=fit, n_boot=args.n_boot, seed=args.seed, n_jobs=args.n_jobs,
                                 xmin=args.xmin, xmax=args.xmax, search_fraction=args.search_fraction,
                                 ks=args.ks, progress=True)
                pvalues[layer] = res.p_value
                entry["pvalue"] = res.to_dict()
        except FitError as error:
            if len(by_layer) == 1:
                raise NN2GraphError(f"{args.csv}: {error}") from None
            failed += 1
            fits[layer] = None
            results[layer] = {"error": str(error)}
            continue
        fits[layer] = fit
        results[layer] = entry
    _print_table(results, args.pvalue)
    if args.json is not None:
        write_json(args.json, {"file": str(args.csv), "column": args.column, "options": options, "layers": results})
    if args.plot is not None:
        plot_layer_fits(degrees, fits, pvalues=pvalues or None, path=args.plot, title=args.csv.name)
    return 1 if failed else 0


def _print_table(results: dict, with_p: bool) -> None:
    head = ["layer", "n", "zeros", "xmin", "xmax", "alpha", "D", "tail", "edge"] + (["p", "±"] if with_p else [])
    rows = []
    for layer, entry in results.items():
        if "error" in entry:
            rows.append([layer, "not fitted: " + entry["error"]])
            continue
        f = entry["fit"]
        row = [layer, str(f["n"]), str(f["n_zero_dropped"]), str(f["xmin"]), str(f["xmax"]), f"{f['alpha']:.4f}",
               f"{f['ks_distance']:.4f}", f"{f['n_tail']} ({100 * f['tail_fraction']:.0f}%)",
               ",".join(f["on_search_edge"]) or "-"]
        if with_p:
            row += [f"{entry['pvalue']['p_value']:.3f}", f"{entry['pvalue']['std_error']:.3f}"]
        rows.append(row)
    widths = [max(len(head[i]), *(len(r[i]) for r in rows if len(r) == len(head))) for i in range(len(head))]
    print("  ".join(h.ljust(w) for h, w in zip(head, widths)))
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)) if len(r) == len(head) else "  ".join(r))
