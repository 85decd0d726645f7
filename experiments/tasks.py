"""Continual-learning tasks on MNIST (docs/method.md §4, the paper's §4.2).

Task A is MNIST itself.  Task B is the same images with the pixels of the central
``P x P`` square permuted by one fixed permutation drawn from a seed (P = 8 and 26 in the
paper, after Kirkpatrick et al. 2017 and Srivastava et al. 2013).  The square starts at row
and column ``(28 - P) // 2``; pixels outside it are left untouched.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import TensorDataset

from experiments.data import DataSplits, load_mnist
from nn2graph._rng import SeedLike, as_generator
from nn2graph.exceptions import NN2GraphError

__all__ = ["CentralPermutation", "TaskError", "central_permutation", "load_continual_tasks", "permuted_task"]

#: Side of an MNIST image.
IMAGE_SIDE = 28


class TaskError(NN2GraphError, ValueError):
    """An invalid square size or images that do not fit the permutation."""


@dataclass(frozen=True, eq=False)
class CentralPermutation:
    """A fixed permutation of the pixels of the central ``size x size`` square.

    Attributes
    ----------
    size : int
        P, the side of the square.
    offset : int
        Row and column of the square's top-left pixel, ``(28 - P) // 2``.
    order : numpy.ndarray of int64, shape (P * P,)
        Pixel ``k`` of the permuted square (row-major) is pixel ``order[k]`` of the original.
    """

    size: int
    offset: int
    order: np.ndarray

    def apply(self, images: torch.Tensor) -> torch.Tensor:
        """Return a copy of ``images`` (``(N, 28, 28)``, ``(N, C, 28, 28)`` or ``(N, 784)``)
        with the central square permuted.

        Examples
        --------
        >>> perm = central_permutation(2, seed=0)
        >>> x = torch.arange(784.).reshape(1, 28, 28)
        >>> y = perm.apply(x)
        >>> bool((y[0, :13] == x[0, :13]).all()), sorted(y[0, 13:15, 13:15].flatten().tolist())
        (True, [377.0, 378.0, 405.0, 406.0])
        """
        flat = images.shape[-1] == IMAGE_SIDE * IMAGE_SIDE and images.shape[-2:] != (IMAGE_SIDE, IMAGE_SIDE)
        square = images.reshape(*images.shape[:-1], IMAGE_SIDE, IMAGE_SIDE) if flat else images
        if tuple(square.shape[-2:]) != (IMAGE_SIDE, IMAGE_SIDE):
            raise TaskError(f"images of shape {tuple(images.shape)} are not 28 x 28 MNIST images "
                            "(expected (N, 28, 28), (N, C, 28, 28) or (N, 784))")
        out = square.clone()
        lo, hi = self.offset, self.offset + self.size
        patch = square[..., lo:hi, lo:hi].reshape(*square.shape[:-2], self.size * self.size)
        out[..., lo:hi, lo:hi] = patch[..., torch.from_numpy(self.order)].reshape(
            *square.shape[:-2], self.size, self.size)
        return out.reshape(images.shape)


def central_permutation(size: int, *, seed: SeedLike = 0) -> CentralPermutation:
    """Draw the fixed permutation of the central ``size x size`` square of a 28 x 28 image.

    Parameters
    ----------
    size : int
        P, between 1 and 28.
    seed : int, Generator, SeedSequence or None
        The same seed gives the same permutation.

    Returns
    -------
    CentralPermutation

    Examples
    --------
    >>> p = central_permutation(8, seed=1)
    >>> p.offset, sorted(p.order.tolist()) == list(range(64))
    (10, True)
    >>> central_permutation(30)
    Traceback (most recent call last):
    ...
    experiments.tasks.TaskError: the permuted square side P must be an integer in 1..28 (MNIST images are 28 x 28), not 30
    """
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not 1 <= size <= IMAGE_SIDE:
        raise TaskError(f"the permuted square side P must be an integer in 1..{IMAGE_SIDE} "
                        f"(MNIST images are {IMAGE_SIDE} x {IMAGE_SIDE}), not {size!r}")
    order = as_generator(seed).permutation(int(size) * int(size)).astype(np.int64)
    return CentralPermutation(int(size), (IMAGE_SIDE - int(size)) // 2, order)


def permuted_task(splits: DataSplits, permutation: CentralPermutation) -> DataSplits:
    """Return task B: ``splits`` with every image's central square permuted (labels unchanged).

    Examples
    --------
    >>> x, y = torch.rand(3, 1, 28, 28), torch.zeros(3, dtype=torch.int64)
    >>> s = DataSplits(*(TensorDataset(x, y),) * 3, "memory", "toy.")
    >>> b = permuted_task(s, central_permutation(26, seed=0))
    >>> b.sizes(), bool((b.test.tensors[0][:, :, 0] == x[:, :, 0]).all())
    ({'train': 3, 'val': 3, 'test': 3}, True)
    """
    def permute(dataset: TensorDataset) -> TensorDataset:
        images, labels = dataset.tensors
        return TensorDataset(permutation.apply(images), labels)

    note = (f"{splits.note} Task B: central {permutation.size} x {permutation.size} square "
            "permuted by one fixed permutation.")
    return DataSplits(permute(splits.train), permute(splits.val), permute(splits.test), splits.source, note)


def load_continual_tasks(data_dir: str | Path | None, size: int, *, seed: int = 0,
                         limit_train: int | None = None) -> tuple[DataSplits, DataSplits]:
    """Return tasks A (MNIST from ``data_dir``, see :func:`experiments.data.load_mnist`) and B
    (its central ``size x size`` square permuted by ``central_permutation(size, seed=seed)``).

    ``limit_train`` keeps the first N training examples of both tasks.
    """
    permutation = central_permutation(size, seed=seed)  # validates size before any loading
    splits = load_mnist(data_dir, seed=seed)
    if limit_train is not None:
        splits = splits.limit_train(limit_train)
    return splits, permuted_task(splits, permutation)
