"""Task B of the continual-learning experiment: the central P x P square permuted."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from experiments.data import DataSplits
from experiments.tasks import TaskError, central_permutation, load_continual_tasks, permuted_task
from tests.test_data import write_mnist


def _images(n=5, seed=0):
    return torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("size", [1, 2, 8, 13, 26, 28])
def test_outside_untouched_inside_permuted_exactly(size):
    perm = central_permutation(size, seed=5)
    x = _images()
    y = perm.apply(x)
    lo = (28 - size) // 2
    inside = torch.zeros(28, 28, dtype=torch.bool)
    inside[lo:lo + size, lo:lo + size] = True
    assert torch.equal(y[..., ~inside], x[..., ~inside])
    # pixel k of the new square (row-major) is pixel order[k] of the old one: a plain loop
    for k, src in enumerate(perm.order.tolist()):
        r, c = divmod(k, size)
        rs, cs = divmod(src, size)
        assert torch.equal(y[:, 0, lo + r, lo + c], x[:, 0, lo + rs, lo + cs])
    assert torch.equal(x, _images())  # the input is not modified


def test_permutation_is_a_bijection_and_moves_pixels():
    perm = central_permutation(26, seed=0)
    assert sorted(perm.order.tolist()) == list(range(26 * 26))
    x = torch.arange(784, dtype=torch.float32).reshape(1, 28, 28)
    y = perm.apply(x)
    assert sorted(y.flatten().tolist()) == list(range(784))  # every pixel value once
    assert (perm.order != np.arange(26 * 26)).mean() > 0.9


def test_layouts_agree():
    perm = central_permutation(8, seed=2)
    x = _images()
    y = perm.apply(x)
    assert torch.equal(perm.apply(x.reshape(5, 784)), y.reshape(5, 784))
    assert torch.equal(perm.apply(x[:, 0]), y[:, 0])
    with pytest.raises(TaskError, match=r"shape \(5, 1, 27, 27\) are not 28 x 28"):
        perm.apply(x[..., :27, :27])


def test_same_seed_same_permutation():
    assert np.array_equal(central_permutation(8, seed=3).order, central_permutation(8, seed=3).order)
    assert not np.array_equal(central_permutation(8, seed=3).order, central_permutation(8, seed=4).order)
    assert central_permutation(8, seed=3).offset == 10 and central_permutation(26).offset == 1


@pytest.mark.parametrize("bad", [0, -1, 29, 8.5, True, "8"])
def test_size_validated(bad):
    with pytest.raises(TaskError, match=r"P must be an integer in 1\.\.28 .*not"):
        central_permutation(bad)


def test_permuted_task_permutes_every_split_and_keeps_labels():
    x = _images(6)
    y = torch.arange(6)
    splits = DataSplits(TensorDataset(x, y), TensorDataset(x[:2], y[:2]), TensorDataset(x[2:], y[2:]),
                        "memory", "Toy.")
    perm = central_permutation(26, seed=1)
    b = permuted_task(splits, perm)
    for name in ("train", "val", "test"):
        xs, ys = getattr(splits, name).tensors
        xb, yb = getattr(b, name).tensors
        assert torch.equal(xb, perm.apply(xs)) and torch.equal(yb, ys)
    assert "26 x 26" in b.note and b.source == "memory"


def test_load_continual_tasks(tmp_path):
    write_mnist(tmp_path, n_train=30, n_test=6)
    a, b = load_continual_tasks(tmp_path, 8, seed=1, limit_train=12)
    assert a.sizes() == b.sizes() == {"train": 12, "val": 5, "test": 6}
    assert torch.equal(b.test.tensors[0], central_permutation(8, seed=1).apply(a.test.tensors[0]))
