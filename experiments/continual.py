"""PackNet-style continual learning of two tasks on METHOD.md's MLP (the paper's §4.2).

:func:`train_continual` runs the four phases of the paper's Figure 6:

1. ``a-dense``: train the dense MLP on task A (head ``out_a``);
2. ``a-sparse``: prune ``s1`` (0.9) of each hidden layer's connections by magnitude
   (``fc1``, ``fc2``; the heads are never pruned), retrain the rest on A; A's connections,
   the hidden biases and head A are then frozen;
3. ``b-dense``: re-initialise the pruned connections (Glorot uniform, as the originals) and
   a fresh head ``out_b``, train them on task B with A's frozen (zero gradients, restored
   after every step, so A's weights stay bit-identical);
4. ``b-sparse``: prune ``s2`` (0.8) of B's connections per layer (never A's), retrain B's.

Task A is evaluated with A's connections and head A, task B with A's and B's connections
and head B.  Like PackNet (Mallya & Lazebnik 2018), the hidden layers' biases are trained on
the first task only and frozen afterwards, so task A's network is exactly the one it had
after phase 2 and its accuracy cannot change.

With an output folder every phase writes ``<phase>-checkpoint.pt`` after each epoch and
``<phase>.pt`` (state dict, masks, accuracies, training history) when it ends, atomically and
as plain data (read back with ``torch.load(weights_only=True)`` only); a rerun with the same
folder reuses the finished phases and resumes the interrupted one, bit for bit (the
optimizer state is matched by parameter name, so the b-dense phase resumes although its
model's parameters come in another order after a-sparse's file is loaded).  The two task-A
phases do not depend on task B, so their files can be copied to the folder of a run with
another P.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

from experiments.data import DataSplits
from experiments.models import build_model
from experiments.pruning import current_masks, make_pruning_permanent, prune_layers
from experiments.training import TrainingProfile, evaluate, train
from nn2graph.exceptions import NN2GraphError
from nn2graph.run_folder import RunFolder, differences, use_run

__all__ = [
    "HIDDEN_LAYERS",
    "PHASES",
    "ContinualError",
    "ContinualResult",
    "PackNetMLP",
    "PhaseRecord",
    "snapshot_model",
    "task_model",
    "train_continual",
]

#: The pruned (shared) layers; the heads ``out_a`` and ``out_b`` are never pruned.
HIDDEN_LAYERS: tuple[str, ...] = ("fc1", "fc2")
#: The four phases, in order (the four networks of the paper's Figure 6).
PHASES: tuple[str, ...] = ("a-dense", "a-sparse", "b-dense", "b-sparse")
TASKS: tuple[str, ...] = ("a", "b")


class ContinualError(NN2GraphError, ValueError):
    """Invalid pruning fractions or task, or a phase file from another run."""


class PackNetMLP(nn.Module):
    """METHOD.md's MLP (784-1024-1024) with one 10-way head per task, ``out_a`` and ``out_b``.

    The module paths of the shared part are those of :func:`experiments.models.build_model`
    ``("mlp")`` (``fc1``, ``fc2``, dropout 0.2 on the input and 0.5 after each hidden layer);
    :attr:`task` selects the head used by :meth:`forward`.

    Examples
    --------
    >>> m = PackNetMLP()
    >>> m.task = "b"
    >>> tuple(m(torch.zeros(2, 1, 28, 28)).shape)
    (2, 10)
    """

    def __init__(self) -> None:
        super().__init__()
        base = build_model("mlp")  # Glorot-uniform weights, zero biases
        for name in ("flatten", "drop_in", "fc1", "relu1", "drop1", "fc2", "relu2", "drop2"):
            setattr(self, name, getattr(base, name))
        self.out_a = base.out
        self.out_b = copy.deepcopy(base.out)
        _glorot_(self.out_b)
        self._task = "a"

    @property
    def task(self) -> str:
        """``"a"`` or ``"b"``: the head :meth:`forward` uses."""
        return self._task

    @task.setter
    def task(self, value: str) -> None:
        if value not in TASKS:
            raise ContinualError(f"task must be one of {', '.join(TASKS)}, not {value!r}")
        self._task = value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.drop_in(self.flatten(x))
        x = self.drop1(self.relu1(self.fc1(x)))
        x = self.drop2(self.relu2(self.fc2(x)))
        return getattr(self, f"out_{self._task}")(x)


def _glorot_(module: nn.Linear) -> None:
    nn.init.xavier_uniform_(module.weight)
    nn.init.zeros_(module.bias)


def task_model(model: PackNetMLP, masks: Mapping[str, torch.Tensor], task: str) -> PackNetMLP:
    """Return a copy of ``model`` whose hidden layers keep only the connections in ``masks``
    and whose forward uses the head of ``task`` (in eval mode).

    Examples
    --------
    >>> m = PackNetMLP()
    >>> keep = {name: torch.zeros(getattr(m, name).weight.shape, dtype=torch.bool) for name in HIDDEN_LAYERS}
    >>> int(task_model(m, keep, "a").fc1.weight.count_nonzero())
    0
    """
    copy_ = copy.deepcopy(model)
    copy_.task = task
    with torch.no_grad():
        for name, mask in masks.items():
            weight = getattr(copy_, name).weight
            weight.mul_(mask.to(weight.device, weight.dtype))
    return copy_.eval()


def snapshot_model(model: PackNetMLP, masks: Mapping[str, torch.Tensor]) -> nn.Module:
    """Return :func:`experiments.models.build_model` ``("mlp")`` holding the connections in
    ``masks`` and head A as its output layer ``out`` — the graph snapshot of a time step.

    Both snapshots (t = 0: A's connections, t = 1: A's and B's) use head A, so their graphs
    have the same vertices (``input``, ``fc1``, ``fc2``, ``out``) as
    :func:`analysis.preferential_attachment` requires; the output layer is not analysed
    (METHOD.md §2), so the choice of head does not change any result.

    Examples
    --------
    >>> m = PackNetMLP()
    >>> keep = {name: torch.ones(getattr(m, name).weight.shape, dtype=torch.bool) for name in HIDDEN_LAYERS}
    >>> sorted(snapshot_model(m, keep).state_dict())[:2]
    ['fc1.bias', 'fc1.weight']
    """
    masked = task_model(model, masks, "a")
    state = {key: value for key, value in masked.state_dict().items() if not key.startswith("out_b.")}
    state = {key.replace("out_a.", "out.", 1): value for key, value in state.items()}
    return build_model("mlp", weights=state).eval()


@dataclass(frozen=True)
class PhaseRecord:
    """Accuracies and training history of one phase.

    ``pruned_*`` are the accuracies right after pruning, before retraining (sparse phases).
    """

    phase: str
    task: str
    val_accuracy: float
    test_accuracy: float
    training: dict
    pruned_val_accuracy: float | None = None
    pruned_test_accuracy: float | None = None
    nonzero: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True, eq=False)
class ContinualResult:
    """The final model, the connections of each task and the four phases' records.

    Attributes
    ----------
    model : PackNetMLP
        Plain weights after phase 4: A's and B's connections, zero elsewhere.
    masks_a, masks_b : dict of str to bool tensor
        Per hidden layer, the connections of task A and of task B (disjoint).
    phases : dict of str to PhaseRecord
        By phase name (:data:`PHASES`).
    a_test_after_b : float
        Task A's test accuracy with A's connections after task B was learned (equals the
        ``a-sparse`` one: A's weights are frozen).
    """

    model: PackNetMLP
    masks_a: dict[str, torch.Tensor]
    masks_b: dict[str, torch.Tensor]
    phases: dict[str, PhaseRecord]
    a_test_after_b: float

    def table1(self) -> dict[str, float]:
        """The paper's Table 1 row: test accuracy (%) of A dense, A sparse, B dense, B sparse."""
        return {name.replace("-", "_"): 100.0 * self.phases[name].test_accuracy for name in PHASES}

    def snapshot(self, t: int) -> nn.Module:
        """The MLP of time step ``t``: 0 = A's connections, 1 = A's and B's (:func:`snapshot_model`)."""
        if t not in (0, 1):
            raise ContinualError(f"snapshot time must be 0 (task A) or 1 (tasks A and B), not {t!r}")
        masks = self.masks_a if t == 0 else {k: self.masks_a[k] | self.masks_b[k] for k in self.masks_a}
        return snapshot_model(self.model, masks)

    def to_dict(self) -> dict:
        """JSON-ready dict: phases, Table 1, connection counts per task and layer."""
        return {"table1": self.table1(), "a_test_after_b": self.a_test_after_b,
                "connections": {layer: {"a": int(self.masks_a[layer].sum()), "b": int(self.masks_b[layer].sum()),
                                        "weights": int(self.masks_a[layer].numel())}
                                for layer in self.masks_a},
                "phases": {name: record.to_dict() for name, record in self.phases.items()}}


def _digest(splits: DataSplits) -> str:
    images, labels = splits.train.tensors
    digest = hashlib.sha1(images.contiguous().numpy().tobytes())
    digest.update(labels.contiguous().numpy().tobytes())
    return f"{len(labels)} examples, sha1 {digest.hexdigest()}"


def _nonzero(model: nn.Module) -> dict[str, int]:
    return {name: int(getattr(model, name).weight.count_nonzero()) for name in HIDDEN_LAYERS}


def _check_fraction(name: str, value: float) -> float:
    if not 0.0 < float(value) < 1.0:
        raise ContinualError(f"{name} is the fraction of each layer's connections to prune and must "
                             f"be in (0, 1), not {value}")
    return float(value)


def train_continual(splits_a: DataSplits, splits_b: DataSplits, profile: TrainingProfile, *,
                    s1: float = 0.9, s2: float = 0.8, out: str | Path | RunFolder | None = None, seed: int = 0,
                    device: str | torch.device = "auto", progress: bool = True) -> ContinualResult:
    """Learn task A, then task B in the connections A does not use (PackNet; paper §4.2).

    Parameters
    ----------
    splits_a, splits_b : DataSplits
        Task A (MNIST) and task B (:func:`experiments.tasks.permuted_task`).
    profile : TrainingProfile
        Dense phases use ``epochs``/``lr``, sparse phases ``retrain_epochs``/``retrain_lr``.
    s1, s2 : float
        Fraction of each hidden layer pruned after task A (of all its connections) and after
        task B (of B's connections only).
    out : str, Path or RunFolder, optional
        Folder for the phase files and checkpoints; a rerun with the same folder reuses the
        finished phases and resumes the interrupted one.  A path is opened with
        :func:`nn2graph.run_folder.open_run` (locked, identity: the settings and both tasks'
        training data); an open :class:`~nn2graph.run_folder.RunFolder` is used as it is.
    seed : int
        Seeds the initial weights (torch's global generator is seeded with ``seed`` before
        task A's model is built, and with ``seed + 1`` before task B's new connections and head
        are drawn), the data order and dropout.
    device, progress
        As for :func:`experiments.training.train`.

    Returns
    -------
    ContinualResult

    Raises
    ------
    ContinualError
        Fractions outside (0, 1); a phase file in ``out`` made with other settings.

    Examples
    --------
    >>> from torch.utils.data import TensorDataset
    >>> g = torch.Generator().manual_seed(0)
    >>> x = torch.rand(40, 784, generator=g); y = (x[:, 0] > 0.5).long()
    >>> data = DataSplits(*(TensorDataset(x, y),) * 3, "toy", "")
    >>> tiny = TrainingProfile("toy", "adam", lr=1e-3, retrain_lr=1e-3, batch_size=20, epochs=1,
    ...                        retrain_epochs=1)
    >>> r = train_continual(data, data, tiny, device="cpu", progress=False)
    >>> int(r.masks_a["fc1"].sum()), int(r.masks_b["fc1"].sum())
    (80282, 144507)
    """
    s1, s2 = _check_fraction("s1", s1), _check_fraction("s2", s2)
    if out is None:
        return _phases(splits_a, splits_b, profile, s1, s2, None, seed, device, progress)
    identity = {"run": "train_continual", "profile": asdict(profile), "seed": seed, "s1": s1, "s2": s2,
                "task_a": _digest(splits_a), "task_b": _digest(splits_b)}
    with use_run(out, identity) as run:
        return _phases(splits_a, splits_b, profile, s1, s2, run, seed, device, progress)


def _phases(splits_a: DataSplits, splits_b: DataSplits, profile: TrainingProfile, s1: float, s2: float,
            run: RunFolder | None, seed: int, device, progress: bool) -> ContinualResult:
    base_identity = {"profile": asdict(profile), "seed": seed, "s1": s1}

    def ckpt(phase: str) -> Path | None:
        return run.file(f"{phase}-checkpoint.pt") if run is not None else None

    def identity(phase: str, splits: DataSplits) -> dict:
        ident = base_identity | {"phase": phase, "train_data": _digest(splits)}
        if phase.startswith("b"):
            ident |= {"s2": s2}
        return ident

    def load(phase: str, splits: DataSplits) -> dict | None:
        saved = run.load_torch(f"{phase}.pt", what="phase file") if run is not None else None
        if saved is None:
            return None
        path = run.path / f"{phase}.pt"
        if not isinstance(saved, dict) or not {"identity", "state", "record", "masks"} <= set(saved):
            raise ContinualError(f"refused {path}: it is not a phase file written by nn2graph; delete it or "
                                 "start the run over (--restart)")
        if saved["identity"] != identity(phase, splits):
            changed = "; ".join(differences(saved["identity"], identity(phase, splits)))
            raise ContinualError(f"{path} comes from another run ({changed}); use another output folder or "
                                 "delete the phase files")
        return saved

    def save(phase: str, splits: DataSplits, model: nn.Module, record: PhaseRecord,
             masks: dict[str, dict[str, torch.Tensor]]) -> None:
        if run is None:
            return
        state = {key: value.detach().cpu() for key, value in model.state_dict().items()}
        masks = {task: {layer: mask.cpu() for layer, mask in by_layer.items()} for task, by_layer in masks.items()}
        run.save_torch(f"{phase}.pt", {"identity": identity(phase, splits), "state": state,
                                       "record": record.to_dict(), "masks": masks})

    def accuracies(model: nn.Module, splits: DataSplits) -> tuple[float, float]:
        return evaluate(model, splits.val, device=device), evaluate(model, splits.test, device=device)

    records: dict[str, PhaseRecord] = {}

    # phase 1: dense on A
    torch.manual_seed(seed)
    model = PackNetMLP()
    saved = load("a-dense", splits_a)
    if saved is None:
        result = train(model, splits_a, profile, seed=seed, checkpoint=ckpt("a-dense"), resume=True,
                       device=device, progress=progress)
        val, test = accuracies(model, splits_a)
        records["a-dense"] = PhaseRecord("a-dense", "a", val, test, result.to_dict(), nonzero=_nonzero(model))
        save("a-dense", splits_a, model, records["a-dense"], {})
    else:
        model.load_state_dict(saved["state"])
        records["a-dense"] = PhaseRecord(**saved["record"])

    # phase 2: prune s1 of every hidden layer, retrain on A
    saved = load("a-sparse", splits_a)
    if saved is None:
        prune_layers(model, {name: s1 for name in HIDDEN_LAYERS})
        pruned = accuracies(model, splits_a)
        result = train(model, splits_a, profile, retrain=True, seed=seed, checkpoint=ckpt("a-sparse"),
                       resume=True, device=device, progress=progress)
        masks_a = {name: mask for name, mask in current_masks(model).items() if name in HIDDEN_LAYERS}
        make_pruning_permanent(model)
        val, test = accuracies(model, splits_a)
        records["a-sparse"] = PhaseRecord("a-sparse", "a", val, test, result.to_dict(), *pruned,
                                          nonzero=_nonzero(model))
        save("a-sparse", splits_a, model, records["a-sparse"], {"a": masks_a})
    else:
        model.load_state_dict(saved["state"])
        masks_a = saved["masks"]["a"]
        records["a-sparse"] = PhaseRecord(**saved["record"])

    # frozen from now on: A's connections, the hidden biases, head A
    def frozen(weight_key: str) -> dict[str, torch.Tensor]:
        named = dict(model.named_parameters())
        masks = {f"{name}.{weight_key}": masks_a[name] for name in HIDDEN_LAYERS}
        for name in (*(f"{layer}.bias" for layer in HIDDEN_LAYERS), "out_a.weight", "out_a.bias"):
            masks[name] = torch.ones_like(named[name], dtype=torch.bool)
        return masks

    # phase 3: re-initialise the free connections and head B, train them on B
    model.task = "b"
    saved = load("b-dense", splits_b)
    if saved is None:
        torch.manual_seed(seed + 1)
        with torch.no_grad():
            for name in HIDDEN_LAYERS:
                weight = getattr(model, name).weight
                fresh = nn.init.xavier_uniform_(torch.empty_like(weight))
                weight.copy_(torch.where(masks_a[name].to(weight.device), weight, fresh))
            _glorot_(model.out_b)
        result = train(model, splits_b, profile, seed=seed, checkpoint=ckpt("b-dense"), resume=True,
                       device=device, frozen=frozen("weight"), progress=progress)
        val, test = accuracies(model, splits_b)
        records["b-dense"] = PhaseRecord("b-dense", "b", val, test, result.to_dict(), nonzero=_nonzero(model))
        save("b-dense", splits_b, model, records["b-dense"], {"a": masks_a})
    else:
        model.load_state_dict(saved["state"])
        records["b-dense"] = PhaseRecord(**saved["record"])

    # phase 4: prune s2 of B's connections (never A's), retrain B's
    saved = load("b-sparse", splits_b)
    if saved is None:
        prune_layers(model, {name: s2 for name in HIDDEN_LAYERS},
                     eligible={name: ~masks_a[name] for name in HIDDEN_LAYERS})
        pruned = accuracies(model, splits_b)
        result = train(model, splits_b, profile, retrain=True, seed=seed, checkpoint=ckpt("b-sparse"),
                       resume=True, device=device, frozen=frozen("weight_orig"), progress=progress)
        masks_b = {name: current_masks(model)[name] & ~masks_a[name] for name in HIDDEN_LAYERS}
        make_pruning_permanent(model)
        val, test = accuracies(model, splits_b)
        records["b-sparse"] = PhaseRecord("b-sparse", "b", val, test, result.to_dict(), *pruned,
                                          nonzero=_nonzero(model))
        save("b-sparse", splits_b, model, records["b-sparse"], {"a": masks_a, "b": masks_b})
    else:
        model.load_state_dict(saved["state"])
        masks_b = saved["masks"]["b"]
        records["b-sparse"] = PhaseRecord(**saved["record"])

    model.cpu().eval()
    a_after_b = evaluate(task_model(model, masks_a, "a"), splits_a.test, device=device)
    masks_a = {k: v.cpu() for k, v in masks_a.items()}
    masks_b = {k: v.cpu() for k, v in masks_b.items()}
    return ContinualResult(model.cpu().eval(), masks_a, masks_b, records, a_after_b)
