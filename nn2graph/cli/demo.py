"""``nn2graph demo``: the MNIST CNN of METHOD.md, pruned, as a layered graph (interim demo)."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="convert a small built-in model and print its per-layer degree summary",
        description="Build the MNIST CNN of the paper (input-32C5-MP2-32C5-MP2-256FC-10) with random "
        "weights, prune 70%% of each layer but the output by magnitude, and print the per-layer "
        "degree summary of its layered graph.",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the random weights (default 0)")
    parser.set_defaults(run=run)


def demo_model(seed: int = 0):
    """The MNIST CNN with seeded random weights, 70% of each hidden layer pruned by |w|."""
    import torch
    from torch import nn
    from torch.nn.utils import prune

    generator = torch.Generator().manual_seed(seed)
    model = nn.Sequential(
        nn.Conv2d(1, 32, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 32, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 10),
    )  # fmt: skip
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(torch.rand(parameter.shape, generator=generator) * 2 - 1)
    for layer in (model[0], model[3], model[7]):
        prune.l1_unstructured(layer, "weight", amount=0.7)
    return model


def run(args: argparse.Namespace) -> int:
    from nn2graph.graph import to_graph
    from nn2graph.summary import degree_summary, format_summary

    print("MNIST CNN (32C5-MP2-32C5-MP2-256FC-10), random weights, 70% pruned by magnitude:")
    print(format_summary(degree_summary(to_graph(demo_model(args.seed), (1, 28, 28)))))
    return 0
