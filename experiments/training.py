"""Training with resumable checkpoints, best-validation selection and frozen weights.

Two profiles (:func:`get_profile`):

* ``paper`` (docs/method.md §1): MNIST — SGD with Nesterov momentum 0.9, learning rate 0.01,
  batch 500, 200 epochs (dense and retraining); CIFAR-10 — RMSprop (Keras defaults:
  lr 1e-4, rho 0.9, eps 1e-7) with Keras' time decay ``lr / (1 + 1e-6 * step)``, batch 32,
  100 epochs.
* ``quick`` for a CPU: the same models, Adam with a one-cycle learning-rate schedule
  (batch 128), a few epochs (see :data:`PROFILES`).

Every run keeps the model of the best validation accuracy.  The data order and the
dropout noise of epoch ``e`` are functions of ``(seed, e)`` alone, and the checkpoint
written after every epoch holds the model, optimizer and scheduler states, the history
and the best state; so a run resumed from a checkpoint ends with the same weights, bit for
bit, as an uninterrupted run of the same seed.  Checkpoints hold plain data only (the
optimizer state keyed by parameter name, so a model whose parameters come in another order,
e.g. after pruning was made permanent, resumes correctly) and are read with
``torch.load(weights_only=True)``: a checkpoint cannot run code.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import TensorDataset

from experiments.data import DataSplits
from nn2graph.exceptions import NN2GraphError
from nn2graph.result_files import ResultFileError, load_torch, save_torch
from nn2graph.run_folder import content_key, differences

__all__ = [
    "PROFILES",
    "EpochRecord",
    "PAPER_PATIENCE",
    "TrainingError",
    "TrainingProfile",
    "TrainResult",
    "evaluate",
    "get_profile",
    "resolve_device",
    "set_threads",
    "train",
]


class TrainingError(NN2GraphError, ValueError):
    """Unknown profile or optimizer, or a checkpoint that does not belong to this run."""


@dataclass(frozen=True)
class TrainingProfile:
    """Hyperparameters of one training run (dense training and retraining after pruning).

    Attributes
    ----------
    name : str
        ``"paper"`` or ``"quick"`` (free text for custom profiles).
    optimizer : str
        ``"sgd"``, ``"rmsprop"`` or ``"adam"``.
    lr, retrain_lr : float
        (Peak) learning rate of dense training and of retraining.
    batch_size : int
        Mini-batch size; the last, smaller batch of an epoch is used too.
    epochs, retrain_epochs : int
        Epochs of dense training and of retraining.
    momentum, nesterov : float, bool
        SGD momentum.
    weight_decay : float
        L2 penalty (coupled, as torch's optimizers do it).
    lr_decay : float
        Keras time decay: ``lr / (1 + lr_decay * step)``, ``step`` counting mini-batches.
    schedule : str
        ``"constant"`` (with ``lr_decay``) or ``"onecycle"`` (torch's OneCycleLR over the run).
    patience : int or None
        Early stopping: end a phase after this many epochs without a new best validation
        accuracy (the best-validation weights are kept either way). ``None`` runs every epoch.
    """

    name: str
    optimizer: str
    lr: float
    retrain_lr: float
    batch_size: int
    epochs: int
    retrain_epochs: int
    momentum: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0
    lr_decay: float = 0.0
    schedule: str = "constant"
    patience: int | None = None

    def with_epochs(self, epochs: int | None = None, retrain_epochs: int | None = None) -> TrainingProfile:
        """Return a copy with other epoch counts (``None`` keeps the current one).

        Examples
        --------
        >>> get_profile("quick", "mnist").with_epochs(1, 2).retrain_epochs
        2
        """
        for value in (epochs, retrain_epochs):
            if value is not None and value < 1:
                raise TrainingError(f"epochs must be at least 1, not {value}")
        return replace(self, epochs=self.epochs if epochs is None else epochs,
                       retrain_epochs=self.retrain_epochs if retrain_epochs is None else retrain_epochs)

    def describe(self) -> str:
        """One line naming the profile and every hyperparameter that matters, for reports.

        Examples
        --------
        >>> print(get_profile("paper", "mnist").describe())
        profile 'paper': SGD with Nesterov momentum 0.9, lr 0.01, batch 500, constant learning rate, up to 200 dense + 200 retraining epochs, early stopping after 15 epochs without a better validation accuracy (best-validation weights kept)
        >>> print(get_profile("quick", "mnist").describe())
        profile 'quick': Adam, lr 0.002 (retraining 0.001), batch 128, one-cycle schedule, 10 dense + 5 retraining epochs (best-validation weights kept)
        """
        names = {"sgd": "SGD", "adam": "Adam", "rmsprop": "RMSprop"}
        optimizer = names.get(self.optimizer, self.optimizer)
        if self.optimizer == "sgd" and self.momentum:
            optimizer += f" with {'Nesterov ' if self.nesterov else ''}momentum {self.momentum:g}"
        lr = f"lr {self.lr:g}" + ("" if self.retrain_lr == self.lr else f" (retraining {self.retrain_lr:g})")
        schedule = "one-cycle schedule" if self.schedule == "onecycle" else (
            f"time decay {self.lr_decay:g} per step" if self.lr_decay else "constant learning rate")
        parts = [optimizer, lr, f"batch {self.batch_size}", schedule]
        if self.weight_decay:
            parts.append(f"weight decay {self.weight_decay:g}")
        epochs = f"{self.epochs} dense + {self.retrain_epochs} retraining epochs"
        parts.append(epochs if self.patience is None else f"up to {epochs}, early stopping after {self.patience} "
                     "epochs without a better validation accuracy")
        return f"profile {self.name!r}: {', '.join(parts)} (best-validation weights kept)"


#: Epochs without a new best validation accuracy after which the paper profile ends a phase.
#: The paper trains "up to" 200 epochs and keeps the best validation model; the rule that
#: ends a phase earlier is ours (docs/method.md, "Training").
PAPER_PATIENCE = 15

#: The built-in profiles by (profile name, dataset).
PROFILES: dict[tuple[str, str], TrainingProfile] = {
    ("paper", "mnist"): TrainingProfile("paper", "sgd", lr=0.01, retrain_lr=0.01, batch_size=500,
                                        epochs=200, retrain_epochs=200, momentum=0.9, nesterov=True,
                                        patience=PAPER_PATIENCE),
    ("paper", "cifar10"): TrainingProfile("paper", "rmsprop", lr=1e-4, retrain_lr=1e-4,
                                          batch_size=32, epochs=100, retrain_epochs=100,
                                          lr_decay=1e-6),
    ("quick", "mnist"): TrainingProfile("quick", "adam", lr=2e-3, retrain_lr=1e-3, batch_size=128,
                                        epochs=10, retrain_epochs=5, schedule="onecycle"),
    ("quick", "cifar10"): TrainingProfile("quick", "adam", lr=2e-3, retrain_lr=1e-3,
                                          batch_size=128, epochs=15, retrain_epochs=5,
                                          schedule="onecycle"),
}


def get_profile(name: str, dataset: str) -> TrainingProfile:
    """Return the built-in profile ``name`` (``"paper"`` or ``"quick"``) for ``dataset``.

    Examples
    --------
    >>> p = get_profile("paper", "mnist")
    >>> p.optimizer, p.lr, p.batch_size, p.epochs, p.nesterov
    ('sgd', 0.01, 500, 200, True)
    >>> get_profile("slow", "mnist")
    Traceback (most recent call last):
    ...
    experiments.training.TrainingError: no training profile 'slow' for dataset 'mnist': known are paper/mnist, paper/cifar10, quick/mnist, quick/cifar10
    """
    if (name, dataset) not in PROFILES:
        known = ", ".join(f"{p}/{d}" for p, d in PROFILES)
        raise TrainingError(f"no training profile {name!r} for dataset {dataset!r}: known are {known}")
    return PROFILES[(name, dataset)]


@dataclass(frozen=True)
class EpochRecord:
    """What one epoch did."""

    epoch: int
    train_loss: float
    train_accuracy: float
    val_accuracy: float
    lr: float
    seconds: float


@dataclass(frozen=True)
class TrainResult:
    """Outcome of :func:`train`; the model holds the best-validation weights."""

    best_val_accuracy: float
    best_epoch: int
    history: tuple[EpochRecord, ...]
    seconds: float
    resumed_from_epoch: int

    @property
    def epochs_run(self) -> int:
        """Epochs this phase ran (fewer than the profile's when early stopping ended it)."""
        return len(self.history)

    def to_dict(self) -> dict:
        """Return a JSON-ready dict."""
        return {"best_val_accuracy": self.best_val_accuracy, "best_epoch": self.best_epoch,
                "epochs_run": self.epochs_run, "seconds": self.seconds, "resumed_from_epoch": self.resumed_from_epoch,
                "history": [asdict(r) for r in self.history]}


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Return ``cuda`` when available for ``"auto"``, otherwise the given device.

    Raises
    ------
    TrainingError
        A device name torch does not know, or CUDA asked for where torch sees no GPU.

    Examples
    --------
    >>> resolve_device("cpu")
    device(type='cpu')
    >>> resolve_device("gpu")
    Traceback (most recent call last):
    ...
    experiments.training.TrainingError: unknown device 'gpu': use 'auto' (CUDA when present), 'cpu', 'cuda' or 'cuda:N'
    """
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise TrainingError(f"unknown device {str(device)!r}: use 'auto' (CUDA when present), 'cpu', 'cuda' or "
                            "'cuda:N'") from None
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise TrainingError(f"device {str(device)!r} asked for, but torch finds no CUDA GPU here: use "
                                "--device cpu (or auto)")
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise TrainingError(f"device {str(device)!r} asked for, but torch finds {torch.cuda.device_count()} "
                                "CUDA GPU(s) (numbered from 0)")
    elif resolved.type != "cpu":
        raise TrainingError(f"device {str(device)!r} is not supported: use 'auto', 'cpu' or 'cuda'")
    return resolved


def set_threads(threads: int | None) -> None:
    """Set torch's CPU threads (``None``: leave torch's choice).

    Examples
    --------
    >>> set_threads(0)
    Traceback (most recent call last):
    ...
    experiments.training.TrainingError: --threads must be a positive number of CPU threads, not 0
    """
    if threads is None:
        return
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise TrainingError(f"--threads must be a positive number of CPU threads, not {threads!r}")
    torch.set_num_threads(threads)


@torch.no_grad()
def evaluate(model: nn.Module, dataset: TensorDataset, *, batch_size: int = 1000,
             device: str | torch.device = "auto") -> float:
    """Return the accuracy (share of correct top-1 predictions) of ``model`` on ``dataset``.

    The model is put in evaluation mode (dropout off) and left there.

    Examples
    --------
    >>> m = nn.Linear(2, 2)
    >>> with torch.no_grad():
    ...     _ = m.weight.copy_(torch.eye(2)); _ = m.bias.zero_()
    >>> evaluate(m, TensorDataset(torch.tensor([[1., 0.], [0., 1.]]), torch.tensor([0, 0])), device="cpu")
    0.5
    """
    device = resolve_device(device)
    model.to(device).eval()
    images, labels = dataset.tensors
    correct = 0
    for start in range(0, len(labels), batch_size):
        x = images[start:start + batch_size].to(device)
        y = labels[start:start + batch_size].to(device)
        correct += int((model(x).argmax(1) == y).sum())
    return correct / len(labels) if len(labels) else 0.0


def _epoch_seed(seed: int, epoch: int, stream: int) -> int:
    state = np.random.SeedSequence([seed, epoch, stream]).generate_state(2, np.uint64)
    return int(state[0] >> np.uint64(1))


def _make_optimizer(model: nn.Module, profile: TrainingProfile, lr: float,
                    total_steps: int) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    params = [p for p in model.parameters() if p.requires_grad]
    if profile.optimizer == "sgd":
        optimizer: torch.optim.Optimizer = torch.optim.SGD(
            params, lr=lr, momentum=profile.momentum, nesterov=profile.nesterov,
            weight_decay=profile.weight_decay)
    elif profile.optimizer == "rmsprop":
        optimizer = torch.optim.RMSprop(params, lr=lr, alpha=0.9, eps=1e-7,
                                        weight_decay=profile.weight_decay)
    elif profile.optimizer == "adam":
        optimizer = torch.optim.Adam(params, lr=lr, weight_decay=profile.weight_decay)
    else:
        raise TrainingError(f"unknown optimizer {profile.optimizer!r} in profile "
                            f"{profile.name!r}: use 'sgd', 'rmsprop' or 'adam'")
    if profile.schedule == "onecycle":
        scheduler: torch.optim.lr_scheduler.LRScheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=lr, total_steps=max(total_steps, 2))
    elif profile.schedule == "constant":
        decay = profile.lr_decay
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0 / (1.0 + decay * step))
    else:
        raise TrainingError(f"unknown schedule {profile.schedule!r} in profile {profile.name!r}: "
                            "use 'constant' or 'onecycle'")
    return optimizer, scheduler


def _cpu_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def _optimizer_state(optimizer: torch.optim.Optimizer, model: nn.Module) -> dict:
    """``optimizer.state_dict()`` with parameters named as in ``model.named_parameters()``."""
    names = {id(p): name for name, p in model.named_parameters()}
    order = [names[id(p)] for group in optimizer.param_groups for p in group["params"]]
    state = optimizer.state_dict()
    return {"state": {order[i]: value for i, value in state["state"].items()},
            "param_groups": [{**group, "params": sorted(order[i] for i in group["params"])}
                             for group in state["param_groups"]]}


def _load_optimizer_state(optimizer: torch.optim.Optimizer, model: nn.Module, saved: Mapping,
                          checkpoint: Path) -> None:
    """Load :func:`_optimizer_state`'s output, matching parameters by name, not by position."""
    names = {id(p): name for name, p in model.named_parameters()}
    flat = [names[id(p)] for group in optimizer.param_groups for p in group["params"]]
    index = {name: i for i, name in enumerate(flat)}
    groups, start = [], 0
    saved_groups = list(saved.get("param_groups", []))
    problem = None
    if len(saved_groups) != len(optimizer.param_groups):
        problem = f"{len(saved_groups)} parameter groups, the optimizer has {len(optimizer.param_groups)}"
    for current, old in zip(optimizer.param_groups, saved_groups):
        mine = [names[id(p)] for p in current["params"]]
        if problem is None and sorted(old["params"]) != sorted(mine):
            problem = f"the parameters {sorted(old['params'])}, the model trains {sorted(mine)}"
        groups.append({**old, "params": list(range(start, start + len(mine)))})
        start += len(mine)
    if problem is None and not set(saved.get("state", {})) <= set(index):
        problem = f"state for {sorted(set(saved['state']) - set(index))}, which the model lacks"
    if problem is not None:
        raise TrainingError(f"checkpoint {checkpoint} holds optimizer state for {problem}; delete it or start "
                            "without resuming")
    optimizer.load_state_dict({"state": {index[name]: value for name, value in saved["state"].items()},
                               "param_groups": groups})


def train(model: nn.Module, splits: DataSplits, profile: TrainingProfile, *, retrain: bool = False,
          seed: int = 0, checkpoint: str | Path | None = None, resume: bool = False,
          device: str | torch.device = "auto", frozen: Mapping[str, torch.Tensor] | None = None,
          progress: bool = True,
          callback: Callable[[EpochRecord], None] | None = None) -> TrainResult:
    """Train ``model`` on ``splits.train``, keep the weights of the best validation accuracy.

    Parameters
    ----------
    model : torch.nn.Module
        Trained in place; on return it holds the best-validation weights (in eval mode).
        A pruned model (``torch.nn.utils.prune`` masks) keeps its pruned weights at zero.
    splits : DataSplits
        ``train`` is shuffled every epoch, ``val`` chooses the best epoch.
    profile : TrainingProfile
        Hyperparameters; ``retrain`` picks ``retrain_epochs`` and ``retrain_lr``.
    retrain : bool
        Use the retraining epochs and learning rate (after pruning).
    seed : int
        The data order and the dropout noise of epoch ``e`` depend on ``(seed, e)`` only.
    checkpoint : str or Path, optional
        File rewritten after every epoch with everything needed to resume.
    resume : bool
        Continue from ``checkpoint`` if it exists (it must come from the same profile, phase
        and seed); the result equals, bit for bit, an uninterrupted run.
    device : str or torch.device
        ``"auto"`` uses CUDA when present.
    frozen : mapping of str to bool tensor, optional
        Parameter name (as in ``model.named_parameters()``; ``"<layer>.weight_orig"`` for a
        pruned layer) -> mask of the entries that must not change: they get zero gradients
        and are restored after every optimizer step, so they stay bit-identical.
    progress : bool
        Show each epoch's progress with the running loss and accuracy (a bar on a terminal,
        plain lines in a log: :func:`nn2graph.progress.progress`).
    callback : callable, optional
        Called with each epoch's :class:`EpochRecord` after its checkpoint is written.

    Returns
    -------
    TrainResult

    Examples
    --------
    >>> g = torch.Generator().manual_seed(0)
    >>> x = torch.randn(60, 2, generator=g); y = (x[:, 0] > 0).long()
    >>> data = DataSplits(TensorDataset(x, y), TensorDataset(x, y), TensorDataset(x, y), "toy", "")
    >>> profile = TrainingProfile("toy", "adam", lr=0.1, retrain_lr=0.1, batch_size=20,
    ...                           epochs=5, retrain_epochs=1)
    >>> result = train(nn.Linear(2, 2), data, profile, device="cpu", progress=False)
    >>> result.best_val_accuracy > 0.9, len(result.history)
    (True, 5)
    """
    from nn2graph.progress import progress as progress_bar, write

    device = resolve_device(device)
    model.to(device)
    epochs = profile.retrain_epochs if retrain else profile.epochs
    lr = profile.retrain_lr if retrain else profile.lr
    phase = "retrain" if retrain else "train"
    images, labels = (t.to(device) for t in splits.train.tensors)
    n = len(labels)
    if n == 0:
        raise TrainingError("the training set is empty")
    steps_per_epoch = math.ceil(n / profile.batch_size)
    optimizer, scheduler = _make_optimizer(model, profile, lr, epochs * steps_per_epoch)
    named = dict(model.named_parameters())
    frozen_params = {}
    for name, mask in (frozen or {}).items():
        if name not in named:
            raise TrainingError(f"frozen names parameter {name!r}, which the model lacks; its "
                                f"parameters are {', '.join(named)}")
        mask = mask.to(device=device, dtype=torch.bool)
        if mask.shape != named[name].shape:
            raise TrainingError(f"frozen mask of {name!r} has shape {tuple(mask.shape)}, the "
                                f"parameter has {tuple(named[name].shape)}")
        frozen_params[name] = (named[name], mask, named[name].detach()[mask].clone())
    checkpoint = Path(checkpoint) if checkpoint is not None else None
    identity = {"profile": asdict(profile), "retrain": retrain, "seed": seed, "n_train": n}
    if checkpoint is not None:
        identity["data"] = content_key(splits.train.tensors)

    start_epoch, best_val, best_epoch, best_state, history = 0, -1.0, -1, None, []
    if resume and checkpoint is not None and checkpoint.is_file():
        try:
            state = load_torch(checkpoint, what="training checkpoint",
                               fix="delete it, or start the run over without resuming (--restart)")
        except ResultFileError as error:
            raise TrainingError(str(error)) from None
        if not isinstance(state, dict) or not {"identity", "model", "optimizer", "scheduler", "epoch"} <= set(state):
            raise TrainingError(f"refused {checkpoint}: it is not a training checkpoint written by nn2graph; "
                                "delete it or start without resuming")
        if state["identity"] != identity:
            changed = "; ".join(differences(state["identity"], identity)) or "other settings"
            raise TrainingError(f"checkpoint {checkpoint} belongs to another run ({changed}); delete it or "
                                "drop --resume")
        model.load_state_dict({k: v.to(device) for k, v in state["model"].items()})
        _load_optimizer_state(optimizer, model, state["optimizer"], checkpoint)
        scheduler.load_state_dict(state["scheduler"])
        start_epoch, best_val, best_epoch = state["epoch"] + 1, state["best_val"], state["best_epoch"]
        best_state = state["best_state"]
        history = [EpochRecord(**r) for r in state["history"]]
    loss_fn = nn.CrossEntropyLoss()
    began = time.perf_counter()
    for epoch in range(start_epoch, epochs):
        if profile.patience is not None and best_epoch >= 0 and epoch - best_epoch > profile.patience:
            break
        t0 = time.perf_counter()
        order = torch.randperm(n, generator=torch.Generator().manual_seed(_epoch_seed(seed, epoch, 0)))
        torch.manual_seed(_epoch_seed(seed, epoch, 1))
        model.train()
        total_loss, correct = 0.0, 0
        bar = progress_bar(range(steps_per_epoch), desc=f"{phase} epoch {epoch + 1}/{epochs}", unit="batch",
                           enabled=progress)
        for step in bar:
            idx = order[step * profile.batch_size:(step + 1) * profile.batch_size].to(device)
            x, y = images[idx], labels[idx]
            optimizer.zero_grad(set_to_none=True)
            logits = model(x)
            loss = loss_fn(logits, y)
            loss.backward()
            for param, mask, _ in frozen_params.values():
                if param.grad is not None:
                    param.grad.masked_fill_(mask, 0.0)
            optimizer.step()
            scheduler.step()
            with torch.no_grad():
                for param, mask, values in frozen_params.values():
                    param[mask] = values
            total_loss += loss.item() * len(y)
            correct += int((logits.argmax(1) == y).sum())
            seen = min((step + 1) * profile.batch_size, n)
            bar.set_postfix(loss=f"{total_loss / seen:.4f}", acc=f"{correct / seen:.4f}")
        bar.close()
        val = evaluate(model, splits.val, device=device)
        record = EpochRecord(epoch, total_loss / n, correct / n, val,
                             float(optimizer.param_groups[0]["lr"]), time.perf_counter() - t0)
        history.append(record)
        if val > best_val:
            best_val, best_epoch, best_state = val, epoch, _cpu_state(model)
        if progress:
            write(f"{phase} epoch {epoch + 1}/{epochs}: loss {record.train_loss:.4f} train acc "
                       f"{record.train_accuracy:.4f} val acc {val:.4f} ({record.seconds:.1f} s)")
        if checkpoint is not None:
            save_torch(checkpoint, {"identity": identity, "epoch": epoch, "model": _cpu_state(model),
                                    "optimizer": _optimizer_state(optimizer, model),
                                    "scheduler": scheduler.state_dict(), "best_val": best_val,
                                    "best_epoch": best_epoch, "best_state": best_state,
                                    "history": [asdict(r) for r in history]})
        if callback is not None:
            callback(record)
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    if progress and len(history) < epochs:
        write(f"{phase}: stopped after epoch {len(history)} of {epochs}: no better validation accuracy "
              f"in {profile.patience} epochs (best {best_val:.4f} at epoch {best_epoch + 1})")
    return TrainResult(best_val, best_epoch, tuple(history), time.perf_counter() - began, start_epoch)
