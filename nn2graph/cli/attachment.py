"""``nn2graph attachment G0 G1``: internal preferential attachment between two graph files."""

from __future__ import annotations

import argparse

from nn2graph.cli.options import add_out_argument, add_restart_argument, input_file, positive_int

#: The files ``--out`` gets.
FILES = ("attachment.json", "delta.csv", "omega.csv", "omega-summary.csv", "delta.png", "omega.png")


def add_parser(subparsers) -> None:
    """Register the ``attachment`` command."""
    p = subparsers.add_parser(
        "attachment",
        help="Delta and Omega (paper Figures 7-8) between two snapshots of a network",
        description=(
            "Measure internal preferential attachment between two snapshots of a network stored as "
            "graph files (GraphML, GEXF or an edge-list CSV; e.g. from LayeredGraph.write_graphml). "
            "Layered snapshots (vertex attribute 'layer') are compared with analysis.preferential_attachment; "
            "--general uses analysis.attachment_general (any node pairs, gains and losses). Writes "
            f"{', '.join(FILES)} into --out, a run folder: locked while the command runs, its settings and the "
            "two files' content in DIR/run.json (another analysis is refused, naming what differs; --restart "
            "starts over); a rerun of a finished folder prints the fits without computing them again."
        ),
    )
    p.add_argument("g0", type=input_file, metavar="G0", help="the earlier snapshot (t = 0)")
    p.add_argument("g1", type=input_file, metavar="G1", help="the later snapshot (t = 1)")
    add_out_argument(p, "run folder (created)")
    add_restart_argument(p)
    p.add_argument("--bins", default="log", choices=["exact", "log", "quantile"], help="degree bins (default log)")
    p.add_argument("--n-bins", type=positive_int, default=10, metavar="N", help="number of log or quantile bins (default 10)")
    p.add_argument("--omega-bins", choices=["exact", "log", "quantile"], help="degree bins for Omega (default --bins)")
    p.add_argument("--output-edges", action="store_true",
                   help="layered: analyse the output layer and its edges too (the paper does not)")
    p.add_argument("--general", action="store_true", help="non-layered form of eq. 5 over all node pairs")
    p.add_argument("--match", default="name", choices=["name", "index"], help="--general: match vertices by (default name)")
    p.add_argument("--degree", default="total", choices=["total", "out-in"], help="--general: pair degrees (default total)")
    p.add_argument("--weight", default="multiplicity", metavar="ATTRIBUTE",
                   help="--general: edge attribute counting connections, 'none' for 1 per edge (default multiplicity)")
    p.set_defaults(run=run)


def _attachment(args: argparse.Namespace, folder) -> list[str]:
    """Read the graphs, measure, write the files into ``folder``; the summary lines."""
    from analysis.attachment import preferential_attachment
    from analysis.attachment_plots import plot_delta, plot_omega
    from analysis.general_attachment import attachment_general
    from analysis.graph_files import read_graph_file

    g0, g1 = read_graph_file(args.g0), read_graph_file(args.g1)
    if args.general:
        result = attachment_general(g0, g1, bins=args.bins, n_bins=args.n_bins, match=args.match, degree=args.degree,
                                    weight=None if args.weight == "none" else args.weight)
    else:
        result = preferential_attachment(g0, g1, bins=args.bins, n_bins=args.n_bins, omega_bins=args.omega_bins,
                                         output_edges=args.output_edges)
    result.to_json(folder.file("attachment.json"))
    folder.write_csv("delta.csv", result.delta_rows())
    folder.write_csv("omega.csv", result.omega_rows())
    folder.write_csv("omega-summary.csv", result.omega_summary())
    plot_delta(result, path=folder.file("delta.png"))
    plot_omega(result, path=folder.file("omega.png"))
    return [f"{row.get('kind', row['layer'])}: slope {row['slope']}, r2 {row['r2']}, origin slope "
            f"{row['origin_slope']}, origin r2 {row['origin_r2']}, eq. 10 slope {row['predicted_slope']}"
            for row in result.omega_summary()]


def run(args: argparse.Namespace) -> int:
    """Run the analysis and write its files; returns the exit code."""
    from nn2graph.run_folder import file_key, open_run

    identity = {"command": "attachment", "g0": file_key(args.g0, what="graph file"),
                "g1": file_key(args.g1, what="graph file"),
                **{key: getattr(args, key) for key in ("bins", "n_bins", "omega_bins", "output_edges", "general")}}
    if args.general:
        identity |= {key: getattr(args, key) for key in ("match", "degree", "weight")}
    with open_run(args.out, identity, restart=args.restart) as folder:
        summary = folder.stage("attachment", identity, lambda: _attachment(args, folder))
    print("\n".join(["Omega(d) fits:", *summary, f"wrote {args.out}/{', '.join(FILES)}"]))
    return 0
