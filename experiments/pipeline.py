"""Han et al.'s three steps in one call: train dense, prune layer-wise, retrain.

:func:`train_prune_retrain` is what ``nn2graph train`` runs; ``nn2graph reproduce`` builds on
it.  With an output folder (a path or an open :class:`nn2graph.run_folder.RunFolder`) it
writes ``dense.pt`` and ``sparse.pt`` (plain state dicts; the sparse one has its pruned
weights folded in as zeros, so both load with :func:`experiments.models.build_model` and with
``torch.load(weights_only=True)``) and per-phase checkpoints for ``resume``, all atomically.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from experiments.data import DataSplits
from experiments.pruning import SparsityReport, make_pruning_permanent, prune_layers, sparsity_report
from experiments.training import TrainingProfile, TrainResult, evaluate, train
from nn2graph.run_folder import RunFolder, content_key, use_run

__all__ = ["PipelineResult", "train_prune_retrain"]


@dataclass(frozen=True)
class PipelineResult:
    """Models and accuracies of a dense -> pruned -> retrained run.

    ``pruned_*`` are the accuracies right after pruning, before retraining.  Without
    pruning (empty fractions) the sparse fields are ``None``.
    """

    dense_model: nn.Module
    dense_training: TrainResult
    dense_val_accuracy: float
    dense_test_accuracy: float
    dense_sparsity: SparsityReport
    sparse_model: nn.Module | None = None
    retraining: TrainResult | None = None
    pruned_val_accuracy: float | None = None
    pruned_test_accuracy: float | None = None
    sparse_val_accuracy: float | None = None
    sparse_test_accuracy: float | None = None
    sparse_sparsity: SparsityReport | None = None
    fractions: Mapping[str, float] | None = None

    def to_dict(self) -> dict:
        """Return the numbers (not the models) as a JSON-ready dict."""
        result = {"dense": {"val_accuracy": self.dense_val_accuracy,
                            "test_accuracy": self.dense_test_accuracy,
                            "sparsity": self.dense_sparsity.to_dict(),
                            "training": self.dense_training.to_dict()}}
        if self.sparse_model is not None:
            result["sparse"] = {"fractions": dict(self.fractions or {}),
                                "pruned_val_accuracy": self.pruned_val_accuracy,
                                "pruned_test_accuracy": self.pruned_test_accuracy,
                                "val_accuracy": self.sparse_val_accuracy,
                                "test_accuracy": self.sparse_test_accuracy,
                                "sparsity": self.sparse_sparsity.to_dict(),
                                "training": self.retraining.to_dict()}
        return result

    def summary(self) -> str:
        """Return a few human lines: accuracies and the sparse model's sparsity table."""
        lines = [f"dense:  val {self.dense_val_accuracy:.4f}  test {self.dense_test_accuracy:.4f}"
                 f"  ({self.dense_training.seconds:.0f} s)"]
        if self.sparse_model is not None:
            lines.append(f"pruned: val {self.pruned_val_accuracy:.4f}  test "
                         f"{self.pruned_test_accuracy:.4f}  (before retraining)")
            lines.append(f"sparse: val {self.sparse_val_accuracy:.4f}  test "
                         f"{self.sparse_test_accuracy:.4f}  ({self.retraining.seconds:.0f} s)")
            lines.append(self.sparse_sparsity.to_table())
        return "\n".join(lines)


def train_prune_retrain(model_factory: Callable[[], nn.Module], splits: DataSplits,
                        profile: TrainingProfile, fractions: Mapping[str, float], *,
                        out: str | Path | RunFolder | None = None, seed: int = 0, resume: bool = False,
                        device: str | torch.device = "auto", progress: bool = True) -> PipelineResult:
    """Train a fresh model, prune ``fractions`` of each layer, retrain the survivors.

    Parameters
    ----------
    model_factory : callable
        Returns a fresh model, e.g. ``lambda: build_model("mlp")``.  Its initial weights are
        drawn from torch's global generator, which is seeded with ``seed`` first.
    splits, profile, seed, device, progress
        As for :func:`experiments.training.train`.
    fractions : mapping of str to float
        Layer -> pruned fraction (:func:`experiments.models.pruning_fractions`); empty: no
        pruning and no retraining.
    out : str, Path or RunFolder, optional
        Folder for ``dense.pt``, ``sparse.pt``, ``dense-checkpoint.pt`` and
        ``sparse-checkpoint.pt``.  A path is opened with
        :func:`nn2graph.run_folder.open_run` (locked; its identity is the profile, fractions,
        seed, training data and initial weights); a :class:`~nn2graph.run_folder.RunFolder`
        is used as it is (the caller holds it).
    resume : bool
        Continue from the checkpoints in ``out`` (finished phases are not redone); without
        it a folder that already holds this run is refused.

    Returns
    -------
    PipelineResult

    Examples
    --------
    >>> from torch.utils.data import TensorDataset
    >>> g = torch.Generator().manual_seed(0)
    >>> x = torch.randn(64, 4, generator=g); y = (x[:, 0] > 0).long()
    >>> data = DataSplits(*(TensorDataset(x, y),) * 3, "toy", "")
    >>> profile = TrainingProfile("toy", "adam", lr=0.05, retrain_lr=0.05, batch_size=16,
    ...                           epochs=3, retrain_epochs=2)
    >>> r = train_prune_retrain(lambda: nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)),
    ...                         data, profile, {"0": 0.5}, device="cpu", progress=False)
    >>> r.sparse_sparsity.rows[0].nonzero
    16
    """
    torch.manual_seed(seed)
    dense = model_factory()
    if out is None:
        return _run(dense, splits, profile, fractions, None, seed, resume, device, progress)
    identity = {"run": "train_prune_retrain", "profile": asdict(profile), "fractions": dict(fractions),
                "seed": seed, "data": content_key([t.tensors for t in (splits.train, splits.val, splits.test)]),
                "initial_weights": content_key(dict(dense.state_dict()))}
    with use_run(out, identity, resume=resume) as run:
        return _run(dense, splits, profile, fractions, run, seed, resume, device, progress)


def _run(dense: nn.Module, splits: DataSplits, profile: TrainingProfile, fractions: Mapping[str, float],
         run: RunFolder | None, seed: int, resume: bool, device, progress: bool) -> PipelineResult:
    def path(name: str) -> Path | None:
        return run.file(name) if run is not None else None

    dense_training = train(dense, splits, profile, seed=seed, checkpoint=path("dense-checkpoint.pt"),
                           resume=resume, device=device, progress=progress)
    if run is not None:
        run.save_torch("dense.pt", _cpu(dense))
    fields = {"dense_model": dense, "dense_training": dense_training,
              "dense_val_accuracy": evaluate(dense, splits.val, device=device),
              "dense_test_accuracy": evaluate(dense, splits.test, device=device),
              "dense_sparsity": sparsity_report(dense)}
    if not fractions:
        return PipelineResult(**fields)
    sparse = copy.deepcopy(dense)
    prune_layers(sparse, fractions)
    pruned_val = evaluate(sparse, splits.val, device=device)
    pruned_test = evaluate(sparse, splits.test, device=device)
    retraining = train(sparse, splits, profile, retrain=True, seed=seed,
                       checkpoint=path("sparse-checkpoint.pt"), resume=resume, device=device,
                       progress=progress)
    make_pruning_permanent(sparse)
    if run is not None:
        run.save_torch("sparse.pt", _cpu(sparse))
    return PipelineResult(**fields, sparse_model=sparse, retraining=retraining,
                          pruned_val_accuracy=pruned_val, pruned_test_accuracy=pruned_test,
                          sparse_val_accuracy=evaluate(sparse, splits.val, device=device),
                          sparse_test_accuracy=evaluate(sparse, splits.test, device=device),
                          sparse_sparsity=sparsity_report(sparse), fractions=dict(fractions))


def _cpu(model: nn.Module) -> dict[str, torch.Tensor]:
    return {key: value.detach().cpu() for key, value in model.state_dict().items()}
