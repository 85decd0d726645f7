"""Benchmark: the quick profile on the full MNIST, and magnitude pruning.

Run from the repository root (takes ~10 minutes on one CPU core):

    python -m benchmarks.bench_training [--data-dir ../shared/data/mnist] [--threads 1] [--only-pruning]

Prints, for the MLP and the MNIST CNN, the dense and sparse test accuracy of a full quick run
(dense training + pruning + retraining) and its wall time, with the ratio of that time to
the baseline ``one epoch of the paper profile`` (SGD, batch 500) measured in the same run;
and the time of :func:`experiments.pruning.prune_layers` on the MLP against the baseline
``torch.nn.utils.prune.l1_unstructured`` on the same layers.
"""

from __future__ import annotations

import argparse
import copy
import time

import torch
from torch.nn.utils import prune

from experiments.data import load_mnist
from experiments.models import build_model, pruning_fractions, weighted_layers
from experiments.pipeline import train_prune_retrain
from experiments.pruning import prune_layers
from experiments.training import get_profile, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="../shared/data/mnist")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--only-pruning", action="store_true", help="skip the training runs")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    torch.manual_seed(0)
    model = build_model("mlp")
    ours, reference = [], []
    for _ in range(5):  # best of 5 of each
        copied = copy.deepcopy(model)
        t0 = time.perf_counter()
        prune_layers(copied, pruning_fractions("mlp"))
        ours.append(time.perf_counter() - t0)
        baseline = copy.deepcopy(model)
        t0 = time.perf_counter()
        for name in pruning_fractions("mlp"):
            prune.l1_unstructured(weighted_layers(baseline)[name], "weight", amount=0.9)
        reference.append(time.perf_counter() - t0)
    print(f"prune_layers on the MLP (best of 5): {min(ours):.3f} s; baseline l1_unstructured "
          f"{min(reference):.3f} s; ratio {min(ours) / min(reference):.2f}")
    if args.only_pruning:
        return
    splits = load_mnist(args.data_dir)
    for name in ("mlp", "cnn-mnist"):
        paper = get_profile("paper", "mnist").with_epochs(1)
        torch.manual_seed(0)
        t0 = time.perf_counter()
        train(build_model(name), splits, paper, progress=False)
        paper_epoch = time.perf_counter() - t0
        quick = get_profile("quick", "mnist")
        t0 = time.perf_counter()
        result = train_prune_retrain(lambda: build_model(name), splits, quick, pruning_fractions(name),
                                     progress=False)
        seconds = time.perf_counter() - t0
        print(f"{name}: quick run {seconds:.0f} s ({quick.epochs}+{quick.retrain_epochs} epochs), "
              f"dense test {result.dense_test_accuracy:.4f}, sparse test {result.sparse_test_accuracy:.4f}; "
              f"baseline one paper-profile epoch {paper_epoch:.1f} s; ratio {seconds / paper_epoch:.1f}")


if __name__ == "__main__":
    main()
