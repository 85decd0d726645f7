"""Three-step magnitude pruning (Han et al. 2015) with explicit masks.

:func:`prune_layers` removes, in each named layer separately, exactly
``round(s * n)`` of the ``n`` eligible connections with the smallest ``|w|`` (Python's
``round``: halves go to the even number); ties in ``|w|`` are broken by the flat index
(lower index removed first), so the result is deterministic.  Only weights are pruned,
never biases.  The masks are installed with :func:`torch.nn.utils.prune.custom_from_mask`:
the module keeps ``weight_orig`` (a parameter) and ``weight_mask`` (a buffer) and computes
``weight = weight_orig * weight_mask`` before each forward, so pruned connections are
exactly zero in every forward and get zero gradients during retraining (optimizers see
zero gradients at those entries, so momentum cannot bring them back).

By default the eligible connections of a layer are those still alive (all of them the
first time).  PackNet-style continual learning passes ``eligible`` to prune only among the
connections that are trainable for the current task, and freezes the others through
:func:`experiments.training.train`'s ``frozen`` argument.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn.utils import prune

from experiments.models import weighted_layers
from nn2graph.exceptions import NN2GraphError

__all__ = [
    "LayerSparsity",
    "PruningError",
    "SparsityReport",
    "apply_masks",
    "current_masks",
    "make_pruning_permanent",
    "prune_layers",
    "sparsity_report",
]


class PruningError(NN2GraphError, ValueError):
    """A layer to prune does not exist, is not prunable, or a fraction/mask is invalid."""


def _layer(model: nn.Module, name: str) -> nn.Module:
    layers = weighted_layers(model)
    if name not in layers:
        modules = dict(model.named_modules())
        if name in modules:
            raise PruningError(f"layer {name!r} is a {type(modules[name]).__name__}, which has no handler in "
                               "nn2graph.handlers (register one with nn2graph.handlers.register); the weighted "
                               f"layers that can be pruned are: {', '.join(layers)}")
        raise PruningError(f"model has no layer {name!r}; its weighted layers are "
                           f"{', '.join(layers)}")
    module = layers[name]
    if not isinstance(getattr(module, "weight", None), torch.Tensor) and not hasattr(module, "weight_orig"):
        raise PruningError(f"layer {name!r} ({type(module).__name__}) has no 'weight' tensor to prune")
    return module


def current_masks(model: nn.Module) -> dict[str, torch.Tensor]:
    """Return the boolean mask (True = connection kept) of every weighted layer.

    Layers that were never pruned get an all-True mask.

    Examples
    --------
    >>> m = nn.Sequential(nn.Linear(3, 2))
    >>> {k: v.all().item() for k, v in current_masks(m).items()}
    {'0': True}
    """
    return {name: _mask_of(module) for name, module in weighted_layers(model).items()}


def _mask_of(module: nn.Module) -> torch.Tensor:
    if prune.is_pruned(module) and hasattr(module, "weight_mask"):
        return module.weight_mask.detach().bool().clone()
    return torch.ones_like(module.weight, dtype=torch.bool)


def apply_masks(model: nn.Module, masks: Mapping[str, torch.Tensor]) -> nn.Module:
    """Install ``masks`` (layer -> boolean tensor shaped like its weight) on ``model``.

    A layer that is already pruned ends up with the product of its old and new masks.

    Examples
    --------
    >>> m = nn.Sequential(nn.Linear(2, 1))
    >>> _ = apply_masks(m, {"0": torch.tensor([[True, False]])})
    >>> m[0].weight[0, 1].item() == 0
    True
    """
    for name, mask in masks.items():
        module = _layer(model, name)
        if tuple(mask.shape) != tuple(module.weight.shape):
            raise PruningError(f"mask for layer {name!r} has shape {tuple(mask.shape)}, its "
                               f"weight has shape {tuple(module.weight.shape)}")
        prune.custom_from_mask(module, "weight", mask.to(module.weight.device, torch.float32))
    return model


def prune_layers(model: nn.Module, fractions: Mapping[str, float], *,
                 eligible: Mapping[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
    """Remove the fraction ``s`` of smallest-magnitude connections in each layer.

    Parameters
    ----------
    model : torch.nn.Module
        Pruned in place (``torch.nn.utils.prune`` masks).
    fractions : mapping of str to float
        Layer (module path) -> fraction ``s`` in ``[0, 1]`` of its eligible connections to
        remove, e.g. :func:`experiments.models.pruning_fractions`.  Layers not named are
        left alone (the output layer is never in the default fractions).
    eligible : mapping of str to bool tensor, optional
        Per layer, the connections that may be removed (and that ``s`` is a fraction of).
        Default: those not pruned yet.  Must be a subset of them.

    Returns
    -------
    dict of str to torch.Tensor
        The new boolean mask of each pruned layer (True = kept).

    Examples
    --------
    >>> m = nn.Sequential(nn.Linear(4, 1))
    >>> with torch.no_grad():
    ...     _ = m[0].weight.copy_(torch.tensor([[0.3, -0.1, 0.2, -0.4]]))
    >>> prune_layers(m, {"0": 0.5})["0"].tolist()
    [[True, False, False, True]]
    """
    new_masks = {}
    for name, s in fractions.items():
        module = _layer(model, name)
        if not 0.0 <= float(s) <= 1.0:
            raise PruningError(f"pruning fraction of layer {name!r} must be in [0, 1], not {s}")
        alive = _mask_of(module)
        allowed = alive if eligible is None or name not in eligible else eligible[name].bool()
        if tuple(allowed.shape) != tuple(alive.shape):
            raise PruningError(f"eligible mask for layer {name!r} has shape "
                               f"{tuple(allowed.shape)}, its weight has {tuple(alive.shape)}")
        allowed = allowed.to(alive.device)
        if bool((allowed & ~alive).any()):
            raise PruningError(f"eligible mask for layer {name!r} includes connections that are "
                               "already pruned")
        n_remove = round(float(s) * int(allowed.sum()))
        scores = module.weight.detach().abs().flatten()
        scores[~allowed.flatten()] = float("inf")
        mask = alive.flatten().clone()
        if n_remove > 0:
            # O(n): everything below the n_remove-th smallest score goes, then the
            # lowest-index ties at that score until exactly n_remove are gone
            threshold = scores.kthvalue(n_remove).values
            below = scores < threshold
            ties = torch.nonzero(scores == threshold).flatten()
            mask[below] = False
            mask[ties[:n_remove - int(below.sum())]] = False
        mask = mask.view_as(alive)
        apply_masks(model, {name: mask})
        new_masks[name] = mask
    return new_masks


def make_pruning_permanent(model: nn.Module) -> nn.Module:
    """Fold every prune mask into its weight (``weight`` becomes a plain parameter with zeros).

    The state dict then has the model's usual keys, so it loads into a fresh
    :func:`experiments.models.build_model`.

    Examples
    --------
    >>> m = nn.Sequential(nn.Linear(2, 1))
    >>> _ = apply_masks(m, {"0": torch.tensor([[True, False]])})
    >>> sorted(make_pruning_permanent(m).state_dict())
    ['0.bias', '0.weight']
    """
    for module in weighted_layers(model).values():
        if prune.is_pruned(module) and hasattr(module, "weight_mask"):
            prune.remove(module, "weight")
    return model


@dataclass(frozen=True)
class LayerSparsity:
    """Weights and non-zero weights of one layer."""

    layer: str
    type: str
    weights: int
    nonzero: int

    @property
    def sparsity(self) -> float:
        """Share of the weights that are zero."""
        return 1.0 - self.nonzero / self.weights if self.weights else 0.0


@dataclass(frozen=True)
class SparsityReport:
    """Per-layer sparsity of a model (see :func:`sparsity_report`)."""

    rows: tuple[LayerSparsity, ...]

    def to_dict(self) -> list[dict]:
        """Return one JSON-ready dict per layer (layer, type, weights, nonzero, sparsity)."""
        return [{**asdict(row), "sparsity": row.sparsity} for row in self.rows]

    def to_json(self) -> str:
        """Return :meth:`to_dict` as a JSON string."""
        return json.dumps(self.to_dict(), indent=2)

    def to_table(self) -> str:
        """Return an aligned text table with a total row."""
        lines = [f"{'layer':<16} {'type':<8} {'weights':>12} {'nonzero':>12} {'sparsity':>9}"]
        for row in self.rows:
            lines.append(f"{row.layer:<16} {row.type:<8} {row.weights:>12,} {row.nonzero:>12,} "
                         f"{row.sparsity:>9.2%}")
        total = sum(r.weights for r in self.rows)
        nonzero = sum(r.nonzero for r in self.rows)
        lines.append(f"{'total':<16} {'':<8} {total:>12,} {nonzero:>12,} "
                     f"{(1 - nonzero / total if total else 0.0):>9.2%}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_table()


def sparsity_report(model: nn.Module) -> SparsityReport:
    """Count the weights and non-zero weights of every weighted layer (not biases).

    Examples
    --------
    >>> m = nn.Sequential(nn.Linear(4, 1))
    >>> _ = prune_layers(m, {"0": 0.75})
    >>> print(sparsity_report(m))  # doctest: +NORMALIZE_WHITESPACE
    layer            type          weights      nonzero  sparsity
    0                Linear              4            1    75.00%
    total                                4            1    75.00%
    """
    rows = []
    for name, module in weighted_layers(model).items():
        weight = module.weight.detach()
        if prune.is_pruned(module) and hasattr(module, "weight_mask"):
            weight = module.weight_orig.detach() * module.weight_mask
        rows.append(LayerSparsity(name, type(module).__name__, weight.numel(),
                                  int(torch.count_nonzero(weight))))
    return SparsityReport(tuple(rows))
