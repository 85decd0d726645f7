"""``nn2graph convert``: a saved model to a layered graph, its degrees and a summary."""

from __future__ import annotations

import argparse

from nn2graph.cli.options import input_file, output_file
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
        description="Convert a saved model into a layered graph; print its per-layer degree summary and "
        "optionally write GraphML, GEXF and a degree CSV. MODEL is a TorchScript file (torch.jit.script "
        "or torch.jit.trace, then torch.jit.save), or with --model NAME the state dict of a built-in "
        "model (torch.save(model.state_dict()), e.g. the sparse.pt that nn2graph demo, train and "
        "reproduce write), read safely. TorchScript models must be nn.Sequential containers or modules "
        "whose forward is a chain of submodule calls and simple functions (see docs/graph.md); anything "
        "else: a pickled module with --trust-pickle.",
    )
    parser.add_argument("model", type=input_file, metavar="MODEL",
                        help="TorchScript file, a state dict with --model, or a pickled module with --trust-pickle")
    parser.add_argument("--model", dest="model_name", metavar="NAME",
                        help="MODEL is the state dict of this built-in model: mlp, cnn-mnist, cnn-cifar10, "
                        "alexnet or vgg16 (as nn2graph train names them); --input-shape defaults to its own")
    parser.add_argument("--input-shape", type=parse_shape, metavar="C,H,W",
                        help="shape of one input without the batch dimension, e.g. 1,28,28 or 784 "
                        "(required unless --model is given)")
    parser.add_argument("--graphml", type=output_file("net.graphml"), metavar="FILE", help="write the graph as GraphML")
    parser.add_argument("--gexf", type=output_file("net.gexf"), metavar="FILE", help="write the graph as GEXF (for Gephi)")
    parser.add_argument("--layers", type=lambda text: [t for t in text.split(",") if t], metavar="L1,L2,...",
                        help="write only these layers (and the edges among them) to --graphml/--gexf, "
                        "e.g. input,fc1: for graphs too large for Gephi")
    parser.add_argument("--min-multiplicity", type=int, metavar="M",
                        help="write only the edges of multiplicity >= M to --graphml/--gexf")
    parser.add_argument("--degrees", type=output_file("degrees.csv"), metavar="FILE.csv",
                        help="write the degrees as CSV (layer, unit, degree)")
    parser.add_argument("--trust-pickle", action="store_true",
                        help="also accept a whole pickled nn.Module (torch.save(model)); unpickling runs "
                        "arbitrary code from the file, so use it only for files you trust")
    parser.set_defaults(run=run)


def load(args: argparse.Namespace):
    """The model and the input shape that ``args`` name."""
    from nn2graph.torchscript import load_model, load_state_dict

    if args.model_name is not None:
        from experiments.models import build_model, model_spec

        if args.trust_pickle:
            raise NN2GraphError("--model reads a state dict, which needs no --trust-pickle: drop one of them")
        shape = args.input_shape or model_spec(args.model_name).input_shape  # an unknown name lists the known ones
        return build_model(args.model_name, weights=load_state_dict(args.model)).eval(), shape
    if args.input_shape is None:
        raise NN2GraphError("--input-shape is required (e.g. --input-shape 1,28,28), unless MODEL is the state "
                            "dict of a built-in model given with --model NAME")
    return load_model(args.model, trust_pickle=args.trust_pickle, input_shape=args.input_shape), args.input_shape


def run(args: argparse.Namespace) -> int:
    from nn2graph.graph import to_graph
    from nn2graph.summary import degree_summary, format_summary

    if (args.layers or args.min_multiplicity is not None) and not (args.graphml or args.gexf):
        raise NN2GraphError("--layers and --min-multiplicity choose what --graphml or --gexf write: give one of them")
    model, shape = load(args)
    layered = to_graph(model, shape)
    print(format_summary(degree_summary(layered)))
    part = {"layers": args.layers or None, "min_multiplicity": args.min_multiplicity}
    for path, write in ((args.graphml, layered.write_graphml), (args.gexf, layered.write_gexf)):
        if path:
            write(path, **part)
    if args.degrees:
        from nn2graph.degree_csv import write_degree_csv

        write_degree_csv(args.degrees, layered.degrees())
    return 0
