"""``nn2graph convert``: a saved model to a layered graph, its degrees and a summary."""

from __future__ import annotations

import argparse

from nn2graph.exceptions import NN2GraphError


def parse_shape(text: str) -> tuple[int, ...]:
    """Parse ``"C,H,W"`` (or ``"N"``) into a tuple of positive ints.

    Examples
    --------
    >>> parse_shape("1,28,28")
    (1, 28, 28)
    """
    try:
        shape = tuple(int(part) for part in text.split(","))
    except ValueError:
        shape = ()
    if not shape or min(shape) < 1:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a shape: give positive integers separated by commas, without the batch "
            "dimension, e.g. 1,28,28 or 784"
        )
    return shape


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "convert",
        help="convert a saved model into a layered graph",
        description="Convert a TorchScript model file into a layered graph; print its per-layer degree "
        "summary and optionally write GraphML, GEXF and a degree CSV. TorchScript models must be "
        "nn.Sequential containers or modules whose forward is a chain of submodule calls and simple "
        "functions (see docs/graph.md); anything else: a pickled module with --trust-pickle.",
    )
    parser.add_argument("model", help="TorchScript file (torch.jit.save), or a pickled module with --trust-pickle")
    parser.add_argument("--input-shape", required=True, type=parse_shape, metavar="C,H,W",
                        help="shape of one input without the batch dimension, e.g. 1,28,28 or 784")
    parser.add_argument("--graphml", metavar="FILE", help="write the graph as GraphML")
    parser.add_argument("--gexf", metavar="FILE", help="write the graph as GEXF (for Gephi)")
    parser.add_argument("--degrees", metavar="FILE.csv", help="write the degrees as CSV (layer, unit, degree)")
    parser.add_argument("--trust-pickle", action="store_true",
                        help="also accept a whole pickled nn.Module (torch.save(model)); unpickling runs "
                        "arbitrary code from the file, so use it only for files you trust")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from nn2graph.graph import to_graph
    from nn2graph.summary import degree_summary, format_summary
    from nn2graph.torchscript import load_model

    model = load_model(args.model, trust_pickle=args.trust_pickle)
    layered = to_graph(model, args.input_shape)
    print(format_summary(degree_summary(layered)))
    for path, write in ((args.graphml, layered.write_graphml), (args.gexf, layered.write_gexf)):
        if path:
            try:
                write(path)
            except OSError as error:
                raise NN2GraphError(f"cannot write '{path}': {error.strerror}") from error
    if args.degrees:
        from nn2graph.degree_csv import write_degree_csv

        write_degree_csv(args.degrees, layered.degrees())
    return 0
