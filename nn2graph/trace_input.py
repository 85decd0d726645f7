"""The input of a trace: the zero tensor the model runs on, its nodes, and the errors of a wrong shape.

:func:`input_tensor` makes the batch of one the model is called with;
:func:`input_features` says which graph nodes its features are, for each way of counting
them; :func:`shape_error` turns the exception of a model that does not accept the input into
an :class:`InputShapeError` naming the layer or operation that refused it and what it expects.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from nn2graph.exceptions import NN2GraphError
from nn2graph.features import Sources, Tracked, compact

__all__ = ["InputShapeError", "expected_input", "input_features", "input_tensor", "shape_error"]


class InputShapeError(NN2GraphError, ValueError):
    """The input shape does not fit the model."""


def input_tensor(input_shape: tuple[int, ...], dtype: torch.dtype | None) -> torch.Tensor:
    """A zero batch of one input of ``input_shape``, float32 unless ``dtype`` says otherwise.

    Examples
    --------
    >>> x = input_tensor((3, 4), None)
    >>> tuple(x.shape), x.dtype, input_tensor((5,), torch.long).dtype
    ((1, 3, 4), torch.float32, torch.int64)
    """
    if dtype is not None and not dtype.is_floating_point:
        return torch.zeros(1, *input_shape, dtype=dtype)
    return torch.zeros(1, *input_shape, dtype=dtype or torch.float32)


def input_features(x: torch.Tensor, mode: str) -> tuple[int, Tracked]:
    """The number of input nodes and the traced features of the input ``x``.

    Parameters
    ----------
    x : torch.Tensor
        The input batch of one.
    mode : {"channels", "elements", "features", "tokens"}
        The nodes are the channels (dimension 1), every element of one input, the last
        dimension's features, or (token ids) the vocabulary of the embedding that reads
        them: 0 nodes until that embedding is reached.

    Examples
    --------
    >>> x = torch.zeros(1, 2, 3)
    >>> n, tracked = input_features(x, "channels")
    >>> n, tracked.codes.tolist()
    (2, [[[1], [2]]])
    >>> n, tracked = input_features(x, "elements")
    >>> n, tracked.codes.tolist()
    (6, [[[1, 2, 3], [4, 5, 6]]])
    """
    if mode == "tokens":
        n_input, tracked = 0, Tracked(np.ones((1,) * x.ndim, dtype=np.int64), Sources.identity(np.array([0])), tokens=True)
    elif mode == "channels":
        n_input = x.shape[1]
        codes = np.arange(1, n_input + 1).reshape((1, -1) + (1,) * (x.ndim - 2))
        tracked = Tracked(codes, Sources.identity(np.arange(n_input)))
    elif mode == "features":
        n_input = x.shape[-1]
        tracked = Tracked(np.arange(1, n_input + 1).reshape((1,) * (x.ndim - 1) + (-1,)), Sources.identity(np.arange(n_input)))
    else:
        n_input = x[0].numel()
        tracked = Tracked(compact(np.arange(1, n_input + 1).reshape(x.shape)), Sources.identity(np.arange(n_input)))
    return n_input, tracked


def shape_error(model: nn.Module, x: torch.Tensor, failure: tuple | None, error: Exception) -> InputShapeError:
    """The error to raise when ``model`` fails on the input ``x`` with ``error``.

    Parameters
    ----------
    model : torch.nn.Module
    x : torch.Tensor
        The input batch of one.
    failure : tuple or None
        The first operation that raised, as the recorder kept it: its name, its input
        shapes, where it ran and the module stack (the last entry, a module with its input
        shapes, is the layer that refused the input); None when no operation raised.
    error : Exception
        What the model raised.

    Examples
    --------
    >>> net = nn.Linear(4, 2)
    >>> failure = ("linear", [(1, 3)], "module '' (Linear)", [("fc", net, ((1, 3),))])
    >>> print(shape_error(net, torch.zeros(1, 3), failure, RuntimeError("mat1 and mat2 shapes cannot be multiplied")))
    layer 'fc' (Linear) got input of shape (1, 3) but expects (..., 4) features (input_shape=(3,) excludes the batch dimension): mat1 and mat2 shapes cannot be multiplied
    """
    shape = tuple(x.shape[1:])
    if failure is None:
        return InputShapeError(f"input_shape {shape} does not fit {type(model).__name__}: {type(error).__name__}: {error}")
    name, shapes, where, stack = failure
    if stack and stack[-1][2]:
        path, module, inputs = stack[-1]
        got = inputs[0]
        return InputShapeError(
            f"layer '{path}' ({type(module).__name__}) got input of shape {got} but expects {expected_input(module)} "
            f"(input_shape={shape} excludes the batch dimension): {error}"
        )
    return InputShapeError(
        f"operation '{name}' in {where} failed on inputs of shapes {shapes} "
        f"(input_shape={shape} excludes the batch dimension): {error}"
    )


def expected_input(module: nn.Module) -> str:
    """What input ``module`` expects, in words, for the error of a wrong input shape.

    Examples
    --------
    >>> expected_input(nn.Conv2d(3, 8, 5))
    '(batch, 3, H, W) with enough pixels for the kernel'
    """
    if isinstance(module, nn.Linear):
        return f"(..., {module.in_features}) features"
    if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        dims = {nn.Conv1d: "L", nn.Conv2d: "H, W", nn.Conv3d: "D, H, W"}[type(module)] if type(module) in (nn.Conv1d, nn.Conv2d, nn.Conv3d) else "..."
        return f"(batch, {module.in_channels}, {dims}) with enough pixels for the kernel"
    if isinstance(module, nn.Embedding):
        return (f"token ids below {module.num_embeddings} (integers: call with dtype=torch.long, "
                "e.g. layer_degrees(model, (tokens,), dtype=torch.long))")
    return "a shape this module accepts"

