"""``nn2graph compare SOURCE...``: degree distributions of networks and connectomes side by side."""

from __future__ import annotations

import argparse
from pathlib import Path

from nn2graph.cli.options import add_jobs_argument


def add_parser(subparsers) -> None:
    """Register the ``compare`` command."""
    p = subparsers.add_parser(
        "compare",
        help="degree distributions of network layers and connectomes side by side (TPL fits, p, CCDFs)",
        description=(
            "Analyse the degree distribution of every layer of one or more networks and of C. elegans "
            "connectomes with the same analysis as 'nn2graph fit' and 'nn2graph reproduce' (TPL window fit, "
            "bootstrap p-value, alternative laws, power-law tail; layers with fewer than 10 nodes or 3 distinct "
            "degrees are reported, not fitted) and write compare.csv, compare.md, compare.json and ccdf.png "
            "(degree / mean degree, log-log) into --out; finished bootstraps are kept in --out/analyses. A "
            "SOURCE is [LABEL=]SPEC with SPEC one of: celegans:NAME[:KIND[:SYNAPSES]] (NAME from 'nn2graph "
            "connectomes', KIND in|out|total, default all three); a degree CSV (layer,unit,degree, as every "
            "command writes it); a graph file (GraphML, GEXF, edge-list CSV). Append :LAYER to a file to keep "
            "one layer."
        ),
    )
    p.add_argument("sources", nargs="+", metavar="SOURCE", help="degree CSV, graph file or celegans:NAME[:KIND]")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder (created if missing)")
    p.add_argument("--n-boot", type=int, default=2500, metavar="N",
                   help="bootstrap sets per p-value (default 2500; 0 skips p-values)")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="seed of the bootstraps (default 0)")
    add_jobs_argument(p)
    p.add_argument("--synapses", default="chemical", choices=["chemical", "electrical", "both"],
                   help="connectome connections (default chemical)")
    p.add_argument("--weighted", action="store_true",
                   help="connectomes and non-layered graphs: degrees are synapse counts, not partner counts")
    p.add_argument("--output-layer", action="store_true",
                   help="layered graphs: analyse the output (softmax) layer too (the paper does not)")
    p.add_argument("--title", metavar="TEXT", help="title of the CCDF figure")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Analyse the sources and write the table and figure; returns the exit code."""
    from analysis.compare import compare_networks
    from nn2graph.result_files import write_text

    comparison = compare_networks(args.sources, n_boot=args.n_boot, seed=args.seed, n_jobs=args.jobs,
                                  synapses=args.synapses, weighted=args.weighted,
                                  include_output=args.output_layer, cache=args.out / "analyses", progress=True)
    args.out.mkdir(parents=True, exist_ok=True)
    comparison.to_csv(args.out / "compare.csv")
    comparison.to_json(args.out / "compare.json")
    markdown = comparison.to_markdown()
    write_text(args.out / "compare.md", markdown + "\n")
    comparison.plot(path=args.out / "ccdf.png", title=args.title)
    print(markdown)
    print(f"wrote {args.out}/compare.csv, compare.md, compare.json, ccdf.png")
    return 0
