"""``nn2graph compare SOURCE...``: degree distributions of networks and connectomes side by side."""

from __future__ import annotations

import argparse

from nn2graph.cli.options import add_bootstrap_arguments, add_jobs_argument, add_out_argument, add_restart_argument

#: The files ``--out`` gets.
FILES = ("compare.csv", "compare.md", "compare.json", "ccdf.png")


def add_parser(subparsers) -> None:
    """Register the ``compare`` command."""
    p = subparsers.add_parser(
        "compare",
        help="degree distributions of network layers and connectomes side by side (TPL fits, p, verdicts, CCDFs)",
        description=(
            "Analyse the degree distribution of every layer of one or more networks and of C. elegans "
            "connectomes with the same analysis as 'nn2graph fit' and 'nn2graph reproduce' (TPL window fit, "
            "bootstrap p-value, alternative laws, the untruncated power-law tail with its own bootstrap p-value, the two verdicts (widest window, tail) and their reasons; layers with fewer "
            "than 10 nodes or 3 distinct degrees are reported, not fitted) and print the table. With --out DIR "
            "also write compare.csv, compare.md, compare.json and ccdf.png (degree / mean degree, log-log) "
            "into DIR, a run folder: locked while the command runs, its settings in DIR/run.json (another "
            "comparison is refused, naming what differs; --restart starts over), finished bootstraps kept in "
            "DIR/analyses, and a rerun of a finished folder prints the table without computing it again. "
            "A SOURCE is [LABEL=]SPEC with SPEC one of: celegans:NAME[:KIND[:SYNAPSES]] (NAME from 'nn2graph "
            "connectomes', KIND in|out|total, default all three); a degree CSV (layer,unit,degree, as every "
            "command writes it); a graph file (GraphML, GEXF, edge-list CSV). Append :LAYER to a file to keep "
            "one layer."
        ),
    )
    p.add_argument("sources", nargs="+", metavar="SOURCE", help="degree CSV, graph file or celegans:NAME[:KIND]")
    add_out_argument(p, "run folder for the table, JSON and figure (created; without it nothing is written)",
                     required=False)
    add_bootstrap_arguments(p)
    add_jobs_argument(p)
    add_restart_argument(p)
    p.add_argument("--synapses", default="chemical", choices=["chemical", "electrical", "both"],
                   help="connectome connections (default chemical)")
    p.add_argument("--weighted", action="store_true",
                   help="connectomes and non-layered graphs: degrees are synapse counts, not partner counts")
    p.add_argument("--output-layer", action="store_true",
                   help="layered graphs: analyse the output (softmax) layer too (the paper does not)")
    p.add_argument("--title", metavar="TEXT", help="title of the CCDF figure (with --out)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Analyse the sources, print the table and, with --out, write its files; returns the exit code."""
    from analysis.compare import compare_networks, resolve_source
    from nn2graph.run_folder import content_key, open_run

    sets = [s for spec in args.sources
            for s in resolve_source(spec, synapses=args.synapses, weighted=args.weighted,
                                    include_output=args.output_layer)]
    options = {"n_boot": args.n_boot, "seed": args.seed, "n_jobs": args.jobs, "progress": True}
    if args.out is None:
        print(compare_networks(sets, **options).to_markdown())
        print(f"(nothing written: pass --out DIR for {', '.join(FILES)})")
        return 0
    identity = {"command": "compare", "n_boot": args.n_boot, "seed": args.seed, "synapses": args.synapses,
                "weighted": args.weighted, "output_layer": args.output_layer,
                "degree_sets": [[s.source, s.layer, content_key(s.degrees)] for s in sets]}
    with open_run(args.out, identity, restart=args.restart) as folder:
        def compare() -> str:
            comparison = compare_networks(sets, **options, cache=folder.folder("analyses"))
            comparison.to_csv(folder.file("compare.csv"))
            comparison.to_json(folder.file("compare.json"))
            markdown = comparison.to_markdown()
            folder.write_text("compare.md", markdown + "\n")
            comparison.plot(path=folder.file("ccdf.png"), title=args.title)
            return markdown

        markdown = folder.stage("compare", {**identity, "title": args.title, "tail_verdict": True}, compare)
    print(markdown)
    print(f"wrote {args.out}/{', '.join(FILES)}")
    return 0
