"""Dynamic sparse training of the paper's MNIST networks: SET and RigL at a fixed density.

The hidden weighted layers of the MLP (``fc1``, ``fc2``) or of the MNIST CNN (``conv1``,
``conv2``, ``fc3``) are kept sparse by a boolean mask per layer; the output layer ``out`` stays
dense (as in SET's reference implementation, and as the output layer is not analysed).  Each
sparse layer keeps its number of connections from the first step to the last.

* **SET** (Mocanu et al. 2018): an Erdos-Renyi mask, layer density
  ``epsilon (n_in + n_out) / (n_in n_out)`` (every connection independently); after every
  epoch but the last, remove the fraction ``zeta`` of the non-negative weights closest to zero
  and the fraction ``zeta`` of the negative weights closest to zero, and add as many
  connections uniformly at random among all positions free after the removal
  (:func:`experiments.rewiring.set_rewire`).
* **RigL** (Evci et al. 2020): an Erdos-Renyi-Kernel (or uniform) mask with exactly the target
  number of connections; every ``delta_t`` steps until ``t_end`` of training, drop the
  fraction ``alpha (1 + cos(pi t / t_end)) / 2`` of the active connections of smallest
  magnitude and grow as many where the magnitude of the dense gradient of that step's
  mini-batch is largest (:func:`experiments.rewiring.rigl_rewire`).

New connections start at weight zero in both methods, and the momentum of every connection that
is removed or added is reset, so that the two methods differ only in where they grow.  Every
hyperparameter, its source and the choices the papers leave open are in ``docs/dst.md``.

:func:`train_dst` writes into its output folder the mask of every sparse layer at every
rewiring step (``topology/step-NNNNNNNN.pt``: bit-packed, loadable with
``torch.load(..., weights_only=True)``; step 0 is the initial topology), ``history.json``
(one row per rewiring step: connections added and removed per layer, accuracies) and
``checkpoint.pt`` after every epoch; a rerun with the same folder resumes and ends bit for bit
as an uninterrupted run.
"""

from __future__ import annotations

import hashlib
import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
from torch import nn

from experiments.data import DataSplits
from experiments.models import build_model
from experiments.rewiring import Rewiring, drop_fraction, init_masks, layer_densities, rigl_rewire, set_rewire
from experiments.training import evaluate, resolve_device
from nn2graph.exceptions import NN2GraphError
from nn2graph.result_files import ResultFileError, load_torch, save_torch
from nn2graph.run_folder import RunFolder, use_run

__all__ = [
    "METHODS",
    "SPARSE_LAYERS",
    "DSTConfig",
    "DSTError",
    "DSTResult",
    "data_digest",
    "default_config",
    "load_topology",
    "save_topology",
    "snapshot_model",
    "topology_steps",
    "train_dst",
]

#: The two rewiring methods.
METHODS = ("set", "rigl")
#: The layers of each model that are made sparse (the output layer ``out`` stays dense, and so
#: does a layer whose density comes out as 1).
SPARSE_LAYERS: dict[str, tuple[str, ...]] = {"mlp": ("fc1", "fc2"), "cnn-mnist": ("conv1", "conv2", "fc3")}
_FORMAT = "nn2graph dynamic sparse training topology, version 1"


class DSTError(NN2GraphError, ValueError):
    """Invalid dynamic-sparse-training settings, or files in the output folder from another run."""


@dataclass(frozen=True)
class DSTConfig:
    """Settings of one dynamic-sparse-training run (sources of the defaults: ``docs/dst.md``).

    Attributes
    ----------
    method : {"set", "rigl"}
    model : {"mlp", "cnn-mnist"}
    distribution : {"erdos-renyi", "uniform"}
        How the connections are spread over the sparse layers: Erdos-Renyi (SET's epsilon rule;
        RigL's ERK, whose kernel form ``sum(shape) / prod(shape)`` it is for convolutions) or
        the same density in every layer.
    epsilon : float
        SET's sparsity parameter; used when ``density`` is None.
    density : float or None
        Share of the sparse layers' weights that are connections, over all of them together;
        None: the share ``epsilon`` gives.
    zeta : float
        SET: fraction of the non-negative and of the negative weights removed per rewiring.
    alpha, delta_t, t_end : float, int, float
        RigL: initial drop fraction, steps between rewirings, and the share of training after
        which the topology is frozen.
    epochs, batch_size, lr, momentum, weight_decay : int, int, float, float, float
        SGD with momentum (the same for both methods).
    max_steps : int or None
        Stop after this many mini-batch steps (for tiny runs); RigL's schedule uses the
        shorter length.
    seed : int
        Seeds the weights, the masks, the data order, dropout and SET's regrowth.
    """

    method: str
    model: str = "mlp"
    distribution: str = "erdos-renyi"
    epsilon: float = 20.0
    density: float | None = None
    zeta: float = 0.3
    alpha: float = 0.3
    delta_t: int = 100
    t_end: float = 0.75
    epochs: int = 200
    batch_size: int = 100
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 0.0
    max_steps: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        problems = []
        if self.method not in METHODS:
            problems.append(f"method must be one of {', '.join(METHODS)}, not {self.method!r}")
        if self.model not in SPARSE_LAYERS:
            problems.append(f"model must be one of {', '.join(SPARSE_LAYERS)}, not {self.model!r}")
        if self.distribution not in ("erdos-renyi", "uniform"):
            problems.append(f"distribution must be 'erdos-renyi' or 'uniform', not {self.distribution!r}")
        if self.density is None and not self.epsilon > 0:
            problems.append(f"epsilon must be positive, not {self.epsilon}")
        if self.density is not None and not 0 < self.density < 1:
            problems.append(f"density must be in (0, 1), not {self.density}")
        if self.density is None and self.distribution == "uniform":
            problems.append("distribution='uniform' needs a density (epsilon defines Erdos-Renyi densities)")
        for name in ("zeta", "alpha"):
            if not 0 < getattr(self, name) < 1:
                problems.append(f"{name} must be in (0, 1), not {getattr(self, name)}")
        if not 0 < self.t_end <= 1:
            problems.append(f"t_end is a share of the training steps and must be in (0, 1], not {self.t_end}")
        for name in ("delta_t", "epochs", "batch_size"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be at least 1, not {getattr(self, name)}")
        if self.max_steps is not None and self.max_steps < 1:
            problems.append(f"max_steps must be at least 1, not {self.max_steps}")
        if not self.lr > 0:
            problems.append(f"lr must be positive, not {self.lr}")
        if not 0 <= self.momentum < 1:
            problems.append(f"momentum must be in [0, 1), not {self.momentum}")
        if self.weight_decay < 0:
            problems.append(f"weight_decay must be non-negative, not {self.weight_decay}")
        if problems:
            raise DSTError("invalid dynamic sparse training settings: " + "; ".join(problems))

    def to_dict(self) -> dict:
        """JSON-ready dict of every setting."""
        return asdict(self)


def default_config(method: str, **overrides) -> DSTConfig:
    """The published settings of ``method`` (``docs/dst.md``), with ``overrides``.

    Examples
    --------
    >>> c = default_config("rigl", epochs=3)
    >>> c.method, c.alpha, c.delta_t, c.epochs
    ('rigl', 0.3, 100, 3)
    >>> default_config("set", steps=3)
    Traceback (most recent call last):
    ...
    experiments.dst.DSTError: unknown settings steps; known are method, model, distribution, epsilon, density, zeta, alpha, delta_t, t_end, epochs, batch_size, lr, momentum, weight_decay, max_steps, seed
    """
    known = [f.name for f in fields(DSTConfig)]
    unknown = sorted(set(overrides) - set(known))
    if unknown:
        raise DSTError(f"unknown settings {', '.join(unknown)}; known are {', '.join(known)}")
    return DSTConfig(method=method, **{k: v for k, v in overrides.items() if v is not None})


# --------------------------------------------------------------------------------------------
# Topology files
# --------------------------------------------------------------------------------------------


def save_topology(path: str | os.PathLike, masks: Mapping[str, np.ndarray], *, step: int, epoch: int) -> Path:
    """Write the masks of one step, bit-packed, atomically (loadable with ``weights_only=True``).

    Examples
    --------
    >>> import tempfile
    >>> p = save_topology(Path(tempfile.mkdtemp()) / "s.pt", {"fc": np.eye(3, dtype=bool)}, step=5, epoch=0)
    >>> load_topology(p)["fc"].astype(int).tolist()
    [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
    """
    payload = {"format": _FORMAT, "step": int(step), "epoch": int(epoch),
               "layers": {name: {"shape": list(m.shape), "bits": torch.from_numpy(np.packbits(m.ravel()))}
                          for name, m in masks.items()}}
    return save_torch(path, payload)


def load_topology(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The boolean masks of a file written by :func:`save_topology`, by layer."""
    path = Path(path)
    try:
        payload = load_torch(path, what="topology file")
    except ResultFileError as error:
        raise DSTError(str(error)) from None
    if not isinstance(payload, dict) or payload.get("format") != _FORMAT:
        raise DSTError(f"{path} is not a topology file of nn2graph's dynamic sparse training")
    masks = {}
    for name, layer in payload["layers"].items():
        shape = tuple(layer["shape"])
        masks[name] = np.unpackbits(layer["bits"].numpy(), count=int(np.prod(shape))).astype(bool).reshape(shape)
    return masks


def topology_steps(out: str | os.PathLike) -> list[int]:
    """The steps whose topology is saved in the run folder ``out``, in order."""
    folder = Path(out) / "topology"
    if not folder.is_dir():
        return []
    return sorted(int(p.stem.split("-")[1]) for p in folder.glob("step-*.pt"))


def _topology_name(step: int) -> str:
    return f"topology/step-{step:08d}.pt"


def snapshot_model(model_name: str, masks: Mapping[str, np.ndarray]) -> nn.Module:
    """The model whose weights are 1 at the connections of ``masks`` (and dense elsewhere).

    Its graph (``nn2graph.to_graph``) is the topology of the masks: every connection is an
    edge, whatever its trained weight (a new connection's weight is exactly zero).

    Examples
    --------
    >>> m = snapshot_model("mlp", {"fc1": np.zeros((1024, 784), bool), "fc2": np.ones((1024, 1024), bool)})
    >>> int(m.fc1.weight.count_nonzero()), int(m.fc2.weight.count_nonzero()), int(m.out.weight.count_nonzero())
    (0, 1048576, 10240)
    """
    model = build_model(model_name)
    with torch.no_grad():
        for name, module in model.named_modules():
            if isinstance(module, (nn.Linear, nn.Conv2d)):
                mask = masks.get(name)
                module.weight.copy_(torch.ones_like(module.weight) if mask is None else torch.from_numpy(mask).float())
    return model.eval()


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class DSTResult:
    """Outcome of :func:`train_dst`.

    Attributes
    ----------
    model : torch.nn.Module
        The trained model (its pruned weights are zero), in eval mode.
    masks : dict of str to numpy.ndarray
        The final mask of each sparse layer.
    history : tuple of dict
        One row per rewiring step (and step 0): ``step``, ``epoch``, ``drop_fraction`` and per
        layer ``<layer>_active``, ``<layer>_added``, ``<layer>_removed``, then
        ``val_accuracy`` and ``test_accuracy`` of the network right after the rewiring.
    final : dict
        ``steps``, ``val_accuracy``, ``test_accuracy`` at the end of training.
    densities : dict of str to float
        Density of each candidate layer (:data:`SPARSE_LAYERS`); one of 1.0 is trained densely
        and has no mask.
    resumed_from_epoch : int
    seconds : float
    """

    model: nn.Module
    masks: dict[str, np.ndarray]
    history: tuple[dict, ...]
    final: dict
    densities: dict[str, float]
    resumed_from_epoch: int
    seconds: float


def data_digest(splits: DataSplits) -> str:
    """The size and SHA-1 of the training images and labels (part of a run's identity)."""
    images, labels = splits.train.tensors
    digest = hashlib.sha1(images.contiguous().numpy().tobytes())
    digest.update(labels.contiguous().numpy().tobytes())
    return f"{len(labels)} examples, sha1 {digest.hexdigest()}"


def _stream_seed(seed: int, *keys: int) -> int:
    state = np.random.SeedSequence([seed, *keys]).generate_state(2, np.uint64)
    return int(state[0] >> np.uint64(1))


def _apply(model: nn.Module, optimizer: torch.optim.Optimizer, masks: Mapping[str, np.ndarray],
           kept: Mapping[str, np.ndarray] | None = None) -> dict[str, torch.Tensor]:
    """Zero the weights outside ``kept`` (default ``masks``) and their momentum; return the masks as tensors."""
    layers = dict(model.named_modules())
    tensors = {}
    with torch.no_grad():
        for name, mask in masks.items():
            weight = layers[name].weight
            tensors[name] = torch.from_numpy(mask).to(weight.device)
            keep = torch.from_numpy((kept or masks)[name]).to(weight.device)
            weight.mul_(keep)
            buffer = optimizer.state.get(weight, {}).get("momentum_buffer")
            if buffer is not None:
                buffer.mul_(keep)
    return tensors


def train_dst(splits: DataSplits, config: DSTConfig, *, out: str | os.PathLike | RunFolder, device: str | torch.device = "cpu",
              progress: bool = True, callback: Callable[[dict], None] | None = None) -> DSTResult:
    """Train with SET or RigL, saving the topology at every rewiring step.

    Parameters
    ----------
    splits : DataSplits
        MNIST (``experiments.data.load_mnist``); ``val`` and ``test`` are evaluated after every
        rewiring.
    config : DSTConfig
        Method and hyperparameters (:func:`default_config`).
    out : str, path-like or nn2graph.run_folder.RunFolder
        Run folder: ``topology/``, ``history.json``, ``checkpoint.pt``.  A path is opened (and
        locked) with the settings and the training data as the run's identity; a rerun with the
        same folder and settings resumes from the last finished epoch.
    device : str or torch.device
        ``"auto"`` uses CUDA when present; bit-identical resumption holds on one device.
    progress : bool
        Plain progress lines per epoch.
    callback : callable, optional
        Called with each new history row.

    Returns
    -------
    DSTResult

    Raises
    ------
    nn2graph.run_folder.RunFolderError
        ``out`` is in use by another run, or holds a run with other settings or data.

    Examples
    --------
    >>> import tempfile
    >>> from torch.utils.data import TensorDataset
    >>> g = torch.Generator().manual_seed(0)
    >>> x = torch.rand(64, 1, 28, 28, generator=g); y = (x.flatten(1)[:, 0] > 0.5).long()
    >>> data = DataSplits(*(TensorDataset(x, y),) * 3, "toy", "")
    >>> config = default_config("rigl", epochs=2, batch_size=16, delta_t=2)
    >>> r = train_dst(data, config, out=tempfile.mkdtemp(), progress=False)
    >>> [row["step"] for row in r.history], r.final["steps"]
    ([0, 2, 4], 8)
    >>> {k: int(v.sum()) for k, v in r.masks.items()} == {k: r.history[0][f"{k}_active"] for k in r.masks}
    True
    """
    device = resolve_device(device)
    began = time.perf_counter()
    images, labels = (t.to(device) for t in splits.train.tensors)
    n = len(labels)
    if n == 0:
        raise DSTError("the training set is empty")
    steps_per_epoch = math.ceil(n / config.batch_size)
    total_steps = config.epochs * steps_per_epoch
    if config.max_steps is not None:
        total_steps = min(total_steps, config.max_steps)
    t_end = max(1, int(config.t_end * total_steps))

    torch.manual_seed(config.seed)
    model = build_model(config.model).to(device)
    layers = dict(model.named_modules())
    names = SPARSE_LAYERS[config.model]
    shapes = {name: tuple(layers[name].weight.shape) for name in names}
    densities = layer_densities(shapes, distribution=config.distribution, epsilon=config.epsilon,
                                density=config.density)
    # a layer the densities make dense (e.g. the CNN's conv1 under epsilon = 20) is trained densely
    names = tuple(name for name in names if densities[name] < 1.0)
    if not names:
        raise DSTError(f"every candidate layer of {config.model} is dense at these settings ({densities}); "
                       f"lower epsilon or density")
    shapes = {name: shapes[name] for name in names}
    masks = init_masks(shapes, {name: densities[name] for name in names}, method=config.method,
                       seed=np.random.SeedSequence([config.seed, 0]))
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                                weight_decay=config.weight_decay)
    identity = {"config": config.to_dict(), "train_data": data_digest(splits), "device": device.type}

    with use_run(out, identity) as run:
        def evaluate_now() -> dict:
            return {"val_accuracy": evaluate(model, splits.val, device=device),
                    "test_accuracy": evaluate(model, splits.test, device=device)}

        def record(step: int, epoch: int, fraction: float, rewired: Mapping[str, Rewiring] | None) -> dict:
            row = {"step": step, "epoch": epoch, "drop_fraction": fraction}
            for name in names:
                row[f"{name}_active"] = int(masks[name].sum())
                row[f"{name}_added"] = int(len(rewired[name].added)) if rewired else 0
                row[f"{name}_removed"] = int(len(rewired[name].lost)) if rewired else 0
            row |= evaluate_now()
            save_topology(run.file(_topology_name(step)), masks, step=step, epoch=epoch)
            history.append(row)
            run.write_json("history.json", {"identity": identity, "history": history})
            if callback is not None:
                callback(row)
            return row

        history: list[dict] = []
        start_epoch, step = 0, 0
        state = run.load_torch("checkpoint.pt", what="training checkpoint")
        if state is not None:
            if state.get("identity") != identity:
                raise DSTError(f"checkpoint {run.path / 'checkpoint.pt'} belongs to another run "
                               f"({state.get('identity')}), not to {identity}; use another output folder or "
                               f"pass --restart")
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            masks = {name: np.unpackbits(state["masks"][name].numpy(), count=int(np.prod(shapes[name])))
                     .astype(bool).reshape(shapes[name]) for name in names}
            history = list(state["history"])
            start_epoch, step = int(state["epoch"]) + 1, int(state["step"])
            mask_tensors = _apply(model, optimizer, masks)
        else:
            mask_tensors = _apply(model, optimizer, masks)
            record(0, 0, 0.0, None)

        loss_fn = nn.CrossEntropyLoss()
        resumed_from = start_epoch
        for epoch in range(start_epoch, config.epochs):
            if step >= total_steps:
                break
            t0 = time.perf_counter()
            order = torch.randperm(n, generator=torch.Generator().manual_seed(_stream_seed(config.seed, epoch, 0)))
            torch.manual_seed(_stream_seed(config.seed, epoch, 1))
            model.train()
            total_loss, seen = 0.0, 0
            for batch in range(steps_per_epoch):
                if step >= total_steps:
                    break
                idx = order[batch * config.batch_size:(batch + 1) * config.batch_size].to(device)
                x, y = images[idx], labels[idx]
                optimizer.zero_grad(set_to_none=True)
                loss = loss_fn(model(x), y)
                loss.backward()
                total_loss += loss.item() * len(y)
                seen += len(y)
                if config.method == "rigl" and step > 0 and step % config.delta_t == 0 and step < t_end:
                    fraction = drop_fraction(step, alpha=config.alpha, t_end=t_end)
                    rewired = {name: rigl_rewire(layers[name].weight.detach().cpu().numpy(), masks[name],
                                                 layers[name].weight.grad.detach().cpu().numpy(), fraction=fraction)
                               for name in names}
                    masks = {name: r.mask for name, r in rewired.items()}
                    mask_tensors = _apply(model, optimizer, masks, {name: r.kept for name, r in rewired.items()})
                    record(step, epoch, fraction, rewired)
                    step += 1
                    model.train()
                    continue
                with torch.no_grad():
                    for name in names:
                        layers[name].weight.grad.mul_(mask_tensors[name])
                optimizer.step()
                with torch.no_grad():
                    for name in names:
                        layers[name].weight.mul_(mask_tensors[name])
                step += 1
            last_epoch = epoch == config.epochs - 1 or step >= total_steps
            if config.method == "set" and not last_epoch:
                rewired = {name: set_rewire(layers[name].weight.detach().cpu().numpy(), masks[name], zeta=config.zeta,
                                            seed=np.random.SeedSequence([config.seed, step, 1]))
                           for name in names}
                masks = {name: r.mask for name, r in rewired.items()}
                mask_tensors = _apply(model, optimizer, masks, {name: r.kept for name, r in rewired.items()})
                record(step, epoch, config.zeta, rewired)
            run.save_torch("checkpoint.pt", {
                "identity": identity, "epoch": epoch, "step": step, "model": model.state_dict(),
                "optimizer": optimizer.state_dict(), "history": history,
                "masks": {name: torch.from_numpy(np.packbits(m.ravel())) for name, m in masks.items()}})
            if progress:
                print(f"{config.method} epoch {epoch + 1}/{config.epochs}: step {step}, loss "
                      f"{total_loss / max(seen, 1):.4f}, test acc {history[-1]['test_accuracy']:.4f} at step "
                      f"{history[-1]['step']} ({time.perf_counter() - t0:.1f} s)", flush=True)
        final = {"steps": step} | evaluate_now()
        run.write_json("history.json", {"identity": identity, "history": history, "final": final})
        return DSTResult(model=model.eval(), masks=masks, history=tuple(history), final=final, densities=densities,
                         resumed_from_epoch=resumed_from, seconds=time.perf_counter() - began)
