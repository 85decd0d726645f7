"""``nn2graph connectomes``: list the C. elegans connectomes, summarise, export one."""

from __future__ import annotations

import argparse

from nn2graph.cli.options import output_file
from nn2graph.exceptions import NN2GraphError


def add_parser(subparsers) -> None:
    """Register the ``connectomes`` sub-command."""
    parser = subparsers.add_parser(
        "connectomes",
        help="list the C. elegans connectomes; summarise or export one",
        description="Without NAME, list the connectomes and their sources. With NAME, load it "
        "(offline, from cect), print its size and optionally write it for Gephi and its degrees as CSV.",
    )
    parser.add_argument("name", nargs="?", metavar="NAME", help="a connectome name, e.g. varshney2011")
    parser.add_argument("--synapses", choices=("chemical", "electrical", "both"), default="chemical",
                        help="chemical synapses (default), electrical gap junctions, or both")
    parser.add_argument("--all-cells", action="store_true", help="keep muscles and other cells, not only neurons")
    parser.add_argument("--self-loops", action="store_true", help="keep a cell's connections onto itself")
    parser.add_argument("--out", type=output_file("varshney2011.graphml"), metavar="FILE", help="write the graph here (.graphml or .gexf)")
    parser.add_argument(
        "--degrees", type=output_file("degrees.csv"), metavar="FILE.csv",
        help="write the degrees as CSV here (layer,unit,degree: layer in, out, total and their _weighted "
        "forms, unit the cell's name)"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """List, summarise or export a connectome."""
    from analysis.connectomes import connectome_degrees, list_connectomes, load_connectome

    if args.name is None:
        for row in list_connectomes():
            print(f"{row.name:16s} {row.citation} (doi {row.doi}) [{row.cect_reader}]")
        return 0
    if args.out is not None and args.out.suffix.lower() not in (".graphml", ".gexf"):
        raise NN2GraphError(f"--out {args.out}: expected a .graphml or .gexf file")
    graph = load_connectome(
        args.name, synapses=args.synapses, neurons_only=not args.all_cells, self_loops=args.self_loops
    )
    total = connectome_degrees(graph, kind="total")
    print(
        f"{args.name} ({args.synapses}): {graph.vcount()} cells, {graph.ecount()} "
        f"{'directed' if graph.is_directed() else 'undirected'} edges, weight {sum(graph.es['weight'])}, "
        f"mean total degree {total.mean():.2f}, {int((total == 0).sum())} without connections"
    )
    if args.out is not None:
        from nn2graph.gephi import write_gexf, write_graphml

        write = write_gexf if args.out.suffix.lower() == ".gexf" else write_graphml
        print(f"wrote {write(graph, args.out)}")
    if args.degrees is not None:
        from nn2graph.degree_csv import write_degree_csv

        kinds = {
            f"{kind}{suffix}": connectome_degrees(graph, kind=kind, weighted=weighted)
            for suffix, weighted in (("", False), ("_weighted", True))
            for kind in ("in", "out", "total")
        }
        names = list(graph.vs["name"])
        write_degree_csv(args.degrees, kinds, units=dict.fromkeys(kinds, names))
        print(f"wrote {args.degrees}")
    return 0
